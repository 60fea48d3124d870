//! Ordinary mistakes never read as all-clear (issue: nothing a user does by
//! mistake reads as all-clear): each test makes the mistake and checks the
//! clear error or the right result.

use crate::support::{Moto, Workspace};

const READS: &[&[&str]] = &[
    &["findings"],
    &["changes"],
    &["history", "sg-1"],
    &["diff", "sg-1"],
    &["certs"],
    &["limits"],
    &["alerts", "status"],
    &["silence", "list"],
];

#[test]
fn reads_never_create_a_store_and_relative_paths_follow_the_config_file() {
    let ws = Workspace::new("[agent]\nstore = \"sqlite://troop.db\"\n");
    for verb in READS {
        let r = ws.run(verb);
        r.assert_code(2);
        assert!(r.stderr.contains("no store at") && r.stderr.contains("troop.db"), "{verb:?}: {}", r.stderr);
        assert!(r.stderr.contains("troop scan"), "{verb:?} says what to do: {}", r.stderr);
        assert!(!ws.file("troop.db").exists(), "{verb:?} created a store");
    }

    // A config elsewhere: its relative store path is relative to the config file.
    std::fs::create_dir_all(ws.file("etc")).unwrap();
    std::fs::create_dir_all(ws.file("elsewhere")).unwrap();
    std::fs::write(ws.file("etc/troop.toml"), "[agent]\nstore = \"sqlite://troop.db\"\n").unwrap();
    let add = ["-c", "etc/troop.toml", "silence", "add", "--match", "monkey=certs", "--for", "1h", "--reason", "r"];
    ws.run(&add).assert_code(0);
    assert!(ws.file("etc/troop.db").exists(), "the store sits beside its config");
    assert!(!ws.file("troop.db").exists(), "not in the working directory");

    // TROOP_CONFIG names the config like -c, from any directory.
    let out = ws
        .cmd(&["silence", "list", "--format", "json"])
        .current_dir(ws.file("elsewhere"))
        .env("TROOP_CONFIG", "../etc/troop.toml")
        .output()
        .unwrap();
    let r = crate::support::Run::from(out);
    r.assert_code(0);
    assert_eq!(r.json().as_array().unwrap().len(), 1, "{}", r.stdout);
}

#[test]
fn filters_that_match_nothing_are_refused() {
    let ws = Workspace::new("[agent]\nstore = \"sqlite://troop.db\"\n");
    ws.run(&["silence", "add", "--match", "monkey=certs", "--for", "1h", "--reason", "r"]).assert_code(0);

    let r = ws.run(&["findings", "--monkey", "securty"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("unknown monkey `securty`") && r.stderr.contains("did you mean `security`?"),
        "{}",
        r.stderr
    );
    let r = ws.run(&["changes", "--technology", "iam:rol"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("unknown technology `iam:rol`") && r.stderr.contains("did you mean `iam:role`?"),
        "{}",
        r.stderr
    );
    let r = ws.run(&["changes", "--account", "12345"]);
    r.assert_code(2);
    assert!(r.stderr.contains("not an AWS account id"), "{}", r.stderr);
    ws.run(&["findings", "--state", "sleeping"]).assert_code(2);
    // the right names still work
    ws.run(&["findings", "--monkey", "security"]).assert_code(0);
    ws.run(&["changes", "--technology", "iam", "--technology", "s3:bucket"]).assert_code(0);

    // A silence on a label no finding carries would mute nothing.
    let r = ws.run(&["silence", "add", "--match", "team=payments", "--for", "1h", "--reason", "r"]);
    r.assert_code(2);
    assert!(r.stderr.contains("no finding carries the label `team`"), "{}", r.stderr);
    assert!(r.stderr.contains("known label keys: account, kind, monkey, region, resource, severity"), "{}", r.stderr);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    ws.run(&["silence", "add", "--match", "team=payments", "--for", "1h", "--reason", "r", "--force"]).assert_code(0);
}

#[tokio::test]
async fn fail_on_lets_a_reviewed_and_silenced_finding_pass() {
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    let g = crate::support::world_open_group(&ec2, "10.9.0.0/16", "ssh", 22).await;
    let ws = Workspace::for_emulator(&moto.endpoint, "");
    let r = ws.run(&["scan", "--fail-on", "critical"]);
    r.assert_code(3);
    let reason = "bastion, reviewed in SEC-42";
    let silence = ["silence", "add", "--match", &format!("resource={g}"), "--for", "1h", "--reason", reason];
    ws.run(&silence).assert_code(0);
    let r = ws.run(&["scan", "--fail-on", "critical"]);
    r.assert_code(0);
    // still visible, as silenced
    let f = ws.run(&["findings", "--state", "silenced", "--format", "json"]);
    assert_eq!(f.json().as_array().unwrap().len(), 1, "{}", f.stdout);
}

#[tokio::test]
async fn history_tells_unknown_from_absent_and_items_are_found_by_prefix() {
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    let vpc = ec2.create_vpc().cidr_block("10.8.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let create = |name: &'static str| {
        let (ec2, vpc) = (ec2.clone(), vpc.clone());
        async move {
            let g = ec2.create_security_group().group_name(name).description(name).vpc_id(vpc).send().await.unwrap();
            g.group_id.unwrap()
        }
    };
    create("first").await;
    let ws = Workspace::for_emulator(&moto.endpoint, "");
    let ws = {
        // one region keeps the test short
        let cfg = std::fs::read_to_string(ws.file("troop.toml")).unwrap();
        ws.write_config(&cfg.replace("\"us-east-1\", \"eu-west-1\"", "\"us-east-1\""));
        ws
    };
    ws.run(&["scan"]).assert_code(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let between = troop_core::clock::rfc3339(time::OffsetDateTime::now_utc());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let later = create("later").await;
    ws.run(&["scan"]).assert_code(0);

    // troop was watching then, and the group was not there
    let r = ws.run(&["history", &later, "--at", &between]);
    r.assert_code(0);
    assert!(r.stdout.contains("did not exist"), "{}", r.stdout);
    // before troop's first pass over the account, it cannot say
    let r = ws.run(&["history", &later, "--at", "2001-01-01T00:00:00Z"]);
    assert!(r.stdout.contains("not observed before") && r.stdout.contains("unknown"), "{}", r.stdout);

    // a unique prefix of the id's last part names the item
    let prefix = &later[..later.len() - 4];
    let r = ws.run(&["history", prefix]);
    r.assert_code(0);
    assert!(r.stdout.contains(&later), "{}", r.stdout);
    // `sg-` matches every group: ambiguous, and the error lists them
    let r = ws.run(&["history", "sg-"]);
    r.assert_code(2);
    assert!(r.stderr.contains("matches") && r.stderr.contains(&later), "{}", r.stderr);

    // diff --format json: SPEC's array, revision numbers in from/to
    let r = ws.run(&["diff", prefix, "--format", "json"]);
    r.assert_code(0);
    let rows = r.json();
    let row = &rows.as_array().expect("an array")[0];
    assert_eq!(row["from"], serde_json::Value::Null);
    assert_eq!(row["to"], 1);
    assert_eq!(row["change"], "created");
}

#[tokio::test]
async fn tables_fit_the_terminal_colour_is_opt_in_off_a_terminal_and_logs_can_be_json() {
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    let g = crate::support::world_open_group(&ec2, "10.6.0.0/16", "ssh", 22).await;
    let ws = Workspace::for_emulator(&moto.endpoint, "");
    // JSON logs for log shippers: every stderr line an object
    let r = ws.run(&["scan", "-v", "--log-format", "json"]);
    r.assert_code(0);
    let logs: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!logs.is_empty(), "{}", r.stderr);
    for l in &logs {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{l}");
    }
    // piped (not a terminal): no escape codes, in logs or tables
    let r = ws.run(&["findings", "-v"]);
    assert!(!r.stdout.contains('\x1b') && !r.stderr.contains('\x1b'), "{r:?}", r = (&r.stdout, &r.stderr));
    // COLUMNS: the table fits, the widest column cut with an ellipsis; --wide shows everything
    let out = ws.cmd(&["findings"]).env("COLUMNS", "90").output().unwrap();
    let narrow = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(narrow.lines().all(|l| l.chars().count() <= 90), "{narrow}");
    assert!(narrow.contains('…'), "{narrow}");
    let out = ws.cmd(&["findings", "--wide"]).env("COLUMNS", "90").output().unwrap();
    let wide = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(wide.contains(&g) && wide.lines().any(|l| l.chars().count() > 90), "{wide}");
    // colour when asked, never with --color never; NO_COLOR keeps auto off
    let r = ws.run(&["findings", "--color", "always"]);
    assert!(r.stdout.contains("\x1b[") && r.stdout.contains("critical"), "{}", r.stdout);
    let r = ws.run(&["findings", "--color", "never"]);
    assert!(!r.stdout.contains('\x1b'));
    let out = ws.cmd(&["findings"]).env("NO_COLOR", "1").output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));
}

#[tokio::test]
async fn a_region_that_is_not_one_is_named_with_the_closest_real_one() {
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    crate::support::world_open_group(&ec2, "10.5.0.0/16", "ssh", 22).await;
    let ws = Workspace::for_emulator(&moto.endpoint, "");
    let cfg = std::fs::read_to_string(ws.file("troop.toml")).unwrap();
    let typo = cfg.replace("\"us-east-1\", \"eu-west-1\"", "\"us-east-1\", \"eu-wset-1\"");
    ws.write_config(&typo);
    ws.run(&["scan"]).assert_code(0);
    let findings = ws.run(&["findings", "--format", "json"]).json();
    let bad: Vec<&serde_json::Value> =
        findings.as_array().unwrap().iter().filter(|f| f["region"] == "eu-wset-1").collect();
    assert_eq!(bad.len(), 1, "{findings:#}");
    assert_eq!(bad[0]["kind"], "read-error");
    let title = bad[0]["title"].as_str().unwrap();
    assert!(title.contains("not an AWS region") && title.contains("did you mean `eu-west-1`?"), "{title}");
    // the real region is still read
    assert!(findings.as_array().unwrap().iter().any(|f| f["kind"] == "sg-open-ingress"), "{findings:#}");
    // fixed: the read-error resolves
    ws.write_config(&cfg);
    ws.run(&["scan"]).assert_code(0);
    let open = ws.run(&["findings", "--format", "json"]).json();
    assert!(open.as_array().unwrap().iter().all(|f| f["region"] != "eu-wset-1"), "{open:#}");
}

/// A reader that goes away early (`| head`) ends troop quietly: never a
/// panic (exit 101) on a broken pipe.
#[test]
fn a_closed_pipe_ends_output_quietly() {
    let ws = crate::support::Workspace::new("");
    for args in [&["completions", "bash"][..], &["man"][..], &["config", "example"][..]] {
        let mut child =
            ws.cmd(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take()); // the reader is gone before troop writes
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(101), "{args:?} panicked: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// `troop run` on a port already taken says so once, and exits 2.
#[test]
fn a_busy_listen_port_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let ws = crate::support::Workspace::new(&format!(
        "[agent]\nlisten = \"{addr}\"\n[monkeys.security]\nenabled = false\n[monkeys.certs]\nenabled = false\n[monkeys.limits]\nenabled = false\n"
    ));
    let r = ws.run(&["run"]);
    r.assert_code(2);
    assert!(r.stderr.contains(&format!("cannot listen on {addr}")), "{}", r.stderr);
    assert_eq!(r.stderr.matches("in use").count(), 1, "{}", r.stderr);
}
