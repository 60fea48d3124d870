use crate::support::Workspace;

const THREE_MISTAKES: &str = r#"[agent]
listen = "localhost"

[monkeys.security]
interval = "15 minutes please"

[[alerts.sinks]]
name = "hook"
type = "stdout"

[[alerts.routes]]
sinks = ["pager"]
"#;

#[test]
fn three_mistakes_give_three_located_errors_and_exit_2() {
    let ws = Workspace::new(THREE_MISTAKES);
    let r = ws.run(&["config", "check"]);
    r.assert_code(2);
    let lines = r.stderr_lines();
    assert_eq!(lines.len(), 4, "three diagnostics and a count:\n{}", r.stderr);
    assert!(lines[0].starts_with("troop.toml:2:10: error[invalid-value]:"), "{}", lines[0]);
    assert!(lines[1].starts_with("troop.toml:5:12: error[invalid-duration]:"), "{}", lines[1]);
    assert!(lines[2].starts_with("troop.toml:12:10: error[unknown-sink]:"), "{}", lines[2]);
    assert!(lines[3].contains("3 error(s)"), "{}", lines[3]);

    // the same errors stop every verb that loads the config
    let r = ws.run(&["scan"]);
    r.assert_code(2);
    assert_eq!(r.stderr_lines().len(), 4, "{}", r.stderr);
}

#[test]
fn config_check_json_lists_diagnostics() {
    let ws = Workspace::new(THREE_MISTAKES);
    let r = ws.run(&["config", "check", "--format", "json"]);
    r.assert_code(2);
    let diags = r.json();
    let got: Vec<(u64, u64, &str)> = diags
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["line"].as_u64().unwrap(), d["column"].as_u64().unwrap(), d["code"].as_str().unwrap()))
        .collect();
    assert_eq!(got, vec![(2, 10, "invalid-value"), (5, 12, "invalid-duration"), (12, 10, "unknown-sink")]);
}

#[test]
fn the_printed_example_passes_config_check() {
    let ws = Workspace::new("");
    let r = ws.run(&["config", "example"]);
    r.assert_code(0);
    assert!(r.stdout.contains("[monkeys.security]") && r.stdout.contains("# "), "commented example expected");
    std::fs::write(ws.file("example.toml"), &r.stdout).unwrap();
    let r = ws.run(&["config", "check", "example.toml"]);
    r.assert_code(0);
    assert_eq!(r.stdout.trim(), "example.toml: ok");
}

#[test]
fn missing_config_for_check_is_a_usage_error() {
    let ws = Workspace::new("");
    let r = ws.run(&["config", "check", "nope.toml"]);
    r.assert_code(2);
    assert_eq!(r.stderr_lines().len(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("cannot read config file nope.toml"), "{}", r.stderr);
}

const NEEDS: &str = r#"[agent]
store = "postgres://troop@db/troop?sslmode=sometimes"

[[alerts.sinks]]
name = "hook"
type = "webhook"
url = { env = "TROOP_TEST_HOOK_URL" }
secret = { file = "hook.key" }
"#;

#[test]
fn config_check_resolves_what_start_up_resolves() {
    let ws = Workspace::new(NEEDS);
    let r = ws.run(&["config", "check"]);
    r.assert_code(2);
    let lines = r.stderr_lines();
    assert_eq!(lines.len(), 4, "three diagnostics and a count:\n{}", r.stderr);
    assert!(lines[0].starts_with("troop.toml:2:9: error[unsupported-store]:"), "{}", lines[0]);
    assert!(lines[0].contains("sslmode=sometimes is not one of disable, allow, prefer, require"), "{}", lines[0]);
    assert!(
        lines[1].starts_with("troop.toml:7:15: error[unset-env]: environment variable TROOP_TEST_HOOK_URL"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("troop.toml:8:19: error[unreadable-file]: cannot read"), "{}", lines[2]);
    assert!(lines[2].contains("hook.key"), "{}", lines[2]);
    // what the check refuses, start-up refuses the same way (not a restart loop later)
    let r = ws.run(&["scan"]);
    r.assert_code(2);
    assert_eq!(r.stderr_lines().len(), 4, "{}", r.stderr);
    assert!(r.stderr.contains("error[unset-env]"), "{}", r.stderr);

    // Fixed: the variable set, the key file present (relative to the config), a SQLite store.
    let secret_value = "s3cr3t-never-printed";
    std::fs::write(ws.file("hook.key"), secret_value).unwrap();
    ws.write_config(&NEEDS.replace("postgres://troop@db/troop?sslmode=sometimes", "sqlite://troop.db"));
    let r = ws.cmd(&["config", "check"]).env("TROOP_TEST_HOOK_URL", "http://127.0.0.1:9/hook").output().unwrap();
    let r = crate::support::Run::from(r);
    r.assert_code(0);
    assert!(!r.stdout.contains(secret_value) && !r.stderr.contains(secret_value));
}

#[test]
fn version_completions_man_page_and_license() {
    let ws = Workspace::new("");
    let r = ws.run(&["--version"]);
    r.assert_code(0);
    // "troop 0.1.0 (<commit> <YYYY-MM-DD>)"
    let v = r.stdout.trim();
    let inner = v.strip_prefix(concat!("troop ", env!("CARGO_PKG_VERSION"), " (")).and_then(|s| s.strip_suffix(')'));
    let (commit, date) = inner.and_then(|s| s.rsplit_once(' ')).unwrap_or_else(|| panic!("{v}"));
    assert!(date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-', "{v}");
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert!(commit.starts_with(&head), "--version names {commit}, HEAD is {head}");
    }
    for (shell, needle) in [("bash", "_troop()"), ("zsh", "#compdef troop"), ("fish", "complete -c troop")] {
        let r = ws.run(&["completions", shell]);
        r.assert_code(0);
        assert!(r.stdout.contains(needle), "{shell}: {}", &r.stdout[..r.stdout.len().min(200)]);
    }
    let r = ws.run(&["man"]);
    r.assert_code(0);
    assert!(r.stdout.contains(".TH troop 1") && r.stdout.contains("scan"), "{}", &r.stdout[..200]);
    let license = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/LICENSE")).unwrap();
    assert!(license.contains("Apache License") && license.contains("Version 2.0"));
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    assert!(manifest.contains("license = \"Apache-2.0\""));
}

#[test]
fn config_check_never_shows_a_secret_url() {
    let token = "T0KEN-abc123";
    let ws = Workspace::new(&format!(
        "[[alerts.sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"https://example.com:99999/hooks/{token}\"\n"
    ));
    for args in [&["config", "check"][..], &["scan"][..]] {
        let r = ws.run(args);
        r.assert_code(2);
        assert!(r.stderr.contains("error[invalid-url]") && !r.stderr.contains(token), "{args:?}: {}", r.stderr);
    }
}

/// SMTP with `security = "none"` and a password would send AUTH in clear:
/// `config check` warns (exit 0), commands that start refuse (exit 2), unless
/// the server is loopback (as Go's net/smtp) or the file allows it.
#[test]
fn a_password_in_clear_is_a_warning_for_check_and_refused_at_start() {
    let cfg = |server: &str, extra: &str| {
        format!(
            "[monkeys.security]\nenabled = false\n[monkeys.certs]\nenabled = false\n[monkeys.limits]\nenabled = false\n\
             [[alerts.sinks]]\nname = \"mail\"\ntype = \"smtp\"\nserver = \"{server}\"\nfrom = \"troop@example.com\"\n\
             to = [\"ops@example.com\"]\nsecurity = \"none\"\nusername = \"troop\"\npassword = \"hunter2\"\n{extra}"
        )
    };
    let ws = Workspace::new(&cfg("mail.example.com:25", ""));
    let check = ws.run(&["config", "check"]);
    check.assert_code(0);
    assert!(check.stderr.contains("troop.toml:13:12: warning[plaintext-auth]"), "{}", check.stderr);
    assert!(check.stdout.contains("1 warning(s)"), "{}", check.stdout);
    assert!(!check.stderr.contains("hunter2"), "{}", check.stderr);
    let json = ws.run(&["config", "check", "--format", "json"]);
    json.assert_code(0);
    assert_eq!(json.json()[0]["code"], "plaintext-auth");
    assert_eq!(json.json()[0]["severity"], "warning");
    for args in [&["scan"][..], &["alerts", "test", "mail"][..]] {
        let r = ws.run(args);
        r.assert_code(2);
        assert!(
            r.stderr.contains("error[plaintext-auth]") && r.stderr.contains("allow_plaintext_auth"),
            "{}",
            r.stderr
        );
    }
    // explicitly allowed, or to a loopback relay: no warning
    for ws in [
        Workspace::new(&cfg("mail.example.com:25", "allow_plaintext_auth = true\n")),
        Workspace::new(&cfg("127.0.0.1:25", "")),
        Workspace::new(&cfg("localhost:25", "")),
    ] {
        let check = ws.run(&["config", "check"]);
        check.assert_code(0);
        assert!(!check.stderr.contains("warning"), "{}", check.stderr);
    }
}

/// What start-up refuses, `config check` refuses too, located: SMTP
/// credentials that do not go together, a store in a directory that does
/// not exist.
#[test]
fn config_check_refuses_what_start_refuses() {
    let smtp = "[[alerts.sinks]]\nname = \"mail\"\ntype = \"smtp\"\nserver = \"mail.example.com:587\"\nfrom = \"t@example.com\"\nusername = \"troop\"\n";
    let ws = Workspace::new(smtp);
    let r = ws.run(&["config", "check"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("troop.toml:6:12: error[missing-key]") && r.stderr.contains("go together"),
        "{}",
        r.stderr
    );
    let ws = Workspace::new("[agent]\nstore = \"sqlite://no/such/dir/troop.db\"\n");
    let r = ws.run(&["config", "check"]);
    r.assert_code(2);
    assert!(r.stderr.contains("troop.toml:2:9") && r.stderr.contains("does not exist"), "{}", r.stderr);
    assert_eq!(ws.run(&["scan"]).code, 2);
    let ws = Workspace::new("[[alerts.sinks]]\nname = \"log\"\ntype = \"jsonl\"\npath = \"no/such/dir/x.jsonl\"\n");
    let r = ws.run(&["config", "check"]);
    r.assert_code(2);
    assert!(r.stderr.contains("troop.toml:4:8") && r.stderr.contains("does not exist"), "{}", r.stderr);
    // a template that does not parse
    let ws = Workspace::new(
        "[[alerts.sinks]]\nname = \"chat\"\ntype = \"slack\"\nurl = \"https://hooks.example.com/x\"\ntemplate = \"bad.j2\"\n",
    );
    std::fs::write(ws.file("bad.j2"), "{{ broken").unwrap();
    let r = ws.run(&["config", "check"]);
    r.assert_code(2);
    assert!(r.stderr.contains("troop.toml:5:12: error[invalid-template]"), "{}", r.stderr);
    assert_eq!(ws.run(&["scan"]).code, 2);
    // addresses a message cannot go to
    let ws = Workspace::new(
        "[[alerts.sinks]]\nname = \"mail\"\ntype = \"smtp\"\nserver = \"mail.example.com:587\"\nfrom = \"not an address\"\nto = [\"ops@example.com\", \"bad address @@\"]\n",
    );
    let r = ws.run(&["config", "check"]);
    r.assert_code(2);
    assert!(r.stderr.contains("troop.toml:5:8: error[invalid-value]"), "{}", r.stderr);
    assert!(r.stderr.contains("troop.toml:6:26: error[invalid-value]"), "{}", r.stderr);
}

/// An empty file is no store: a read verb says so instead of answering from
/// tables it would create.
#[test]
fn an_empty_store_file_is_no_store() {
    let ws = Workspace::new("[agent]\nstore = \"sqlite://empty.db\"\n");
    std::fs::write(ws.file("empty.db"), "").unwrap();
    let r = ws.run(&["findings"]);
    r.assert_code(2);
    assert!(r.stderr.contains("nothing has been recorded there"), "{}", r.stderr);
    assert_eq!(std::fs::metadata(ws.file("empty.db")).unwrap().len(), 0, "nothing was created");
}
