//! Bad input never panics: each case gives one clear line on stderr and the
//! documented exit code (2 usage/config, 1 a monkey failed).

use crate::support::{Moto, Workspace, free_port};

#[track_caller]
fn one_line(r: &crate::support::Run, code: i32, needle: &str) {
    r.assert_code(code);
    let lines = r.stderr_lines();
    assert_eq!(lines.len(), 1, "expected one stderr line, got:\n{}", r.stderr);
    assert!(lines[0].contains(needle), "`{needle}` not in: {}", lines[0]);
    assert!(!r.stderr.contains("panicked"));
}

#[test]
fn unreadable_config() {
    let ws = Workspace::new("");
    one_line(&ws.run(&["-c", "missing.toml", "scan"]), 2, "cannot read config file missing.toml");
    std::fs::create_dir(ws.file("dir.toml")).unwrap();
    one_line(&ws.run(&["-c", "dir.toml", "findings"]), 2, "cannot read config file dir.toml");
    std::fs::write(ws.file("binary.toml"), [0xff, 0xfe, 0x00, 0x41]).unwrap();
    one_line(&ws.run(&["-c", "binary.toml", "scan"]), 2, "cannot read config file binary.toml");
}

#[test]
fn unopenable_store() {
    let ws = Workspace::new("[agent]\nstore = \"sqlite:///nonexistent-dir/troop.db\"\n");
    one_line(&ws.run(&["findings"]), 2, "no store at /nonexistent-dir/troop.db");
    let add = ["silence", "add", "--match", "monkey=certs", "--for", "1h", "--reason", "r"];
    one_line(&ws.run(&add), 2, "cannot open store /nonexistent-dir/troop.db");
    let ws = Workspace::new("[agent]\nstore = \"postgres://troop@db/troop\"\n");
    one_line(&ws.run(&["findings"]), 2, "postgres");
}

#[test]
fn unreachable_endpoint() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let ws = Workspace::for_emulator(&dead, "");
    let r = ws.run(&["scan"]);
    one_line(&r, 1, &format!("security failed: cannot reach {dead}"));
}

#[test]
fn wrong_credentials() {
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let ws = Workspace::for_emulator(&moto.endpoint, "");
    let r = ws.cmd(&["scan"]).env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE").output().unwrap();
    one_line(&r.into(), 1, "AWS rejected the credentials");
}

#[test]
fn no_credentials_at_all() {
    let moto = Moto::start();
    let ws = Workspace::for_emulator(&moto.endpoint, "");
    let r = ws.cmd(&["scan"]).env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").output().unwrap();
    one_line(&r.into(), 1, "no usable AWS credentials");
}

#[test]
fn no_region_anywhere() {
    let moto = Moto::start();
    let ws = Workspace::new(&format!(
        "[aws]\nendpoint_url = \"{}\"\n[monkeys.certs]\nenabled = false\n[monkeys.limits]\nenabled = false\n",
        moto.endpoint
    ));
    one_line(&ws.run(&["scan"]), 1, "no AWS region");
}

#[test]
fn bad_flags_are_usage_errors() {
    let ws = Workspace::new("");
    let r = ws.run(&["findings", "--state", "sleeping"]);
    r.assert_code(2);
    assert!(!r.stderr.contains("panicked"));
}
