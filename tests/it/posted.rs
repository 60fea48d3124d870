//! Alerts from anyone: `POST /api/v2/alerts` as Alertmanager takes it, from a
//! real Prometheus (basic auth over TLS) and from plain HTTP clients, through
//! troop's routes, grouping and dedup to a webhook.

use crate::http_access::{Answer, Daemon, PROMETHEUS_HASH, request};
use crate::support::receiver::Receiver;
use crate::support::{Server, Workspace, free_port, wait_for};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A workspace whose `troop run` (every monkey off) takes posts on
/// `127.0.0.1:port` and routes findings of monkey `external` to `hook`.
fn workspace(port: u16, hook: &str, http: &str, alerts: &str) -> Workspace {
    Workspace::new(&format!(
        "[agent]\nstore = \"sqlite://troop.db\"\nlisten = \"127.0.0.1:{port}\"\n{http}\n\
         [monkeys.security]\nenabled = false\n[monkeys.certs]\nenabled = false\n[monkeys.limits]\nenabled = false\n\
         [alerts]\ngroup_wait = \"0s\"\ngroup_interval = \"1s\"\nretry_initial = \"100ms\"\nretry_max = \"400ms\"\n{alerts}\n\
         [[alerts.sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook}\"\n\
         [[alerts.routes]]\nmatch = {{ monkey = \"external\" }}\nsinks = [\"hook\"]\n"
    ))
}

fn start(ws: &Workspace, addr: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Daemon {
    crate::http_access::start(ws.cmd(&["run"]), addr, tls)
}

/// The reasons of the notifications `hook` accepted, in order.
fn reasons(hook: &Receiver) -> Vec<String> {
    hook.accepted().iter().map(|x| x.json()["reason"].as_str().unwrap_or("?").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_alert_reaches_a_route_once_and_its_resolution_once() {
    let hook = Receiver::start().await;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let ws = workspace(
        port,
        &hook.url,
        &format!(
            "[agent.http.tls_server_config]\ncert_file = \"server.pem\"\nkey_file = \"server.key\"\n\
             [agent.http.basic_auth_users]\nprometheus = \"{PROMETHEUS_HASH}\"\n\
             [agent.http.user_scopes]\nprometheus = [\"alerts:write\"]\n"
        ),
        "",
    );
    let ca = crate::http_access::server_certificates(&ws);
    let client = crate::http_access::client(&ca, None);
    let _troop = start(&ws, &addr, Some(&client));

    // Prometheus: a rule that fires until `until`, evaluated every second,
    // its alerts sent again every second (troop must tell the hook once)
    let until = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 8;
    let ca_file = ws.file("ca.pem");
    let bin = std::env::var("TROOP_PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".into());
    let _prometheus = Server::spawn(
        "prometheus",
        |paddr, dir| {
            std::fs::write(
                dir.join("rules.yml"),
                format!(
                    "groups:\n  - name: troop\n    interval: 1s\n    rules:\n      - alert: BackupLate\n        \
                     expr: vector(time()) < {until}\n        labels:\n          severity: critical\n          \
                     team: storage\n        annotations:\n          summary: the nightly backup is late\n"
                ),
            )
            .unwrap();
            std::fs::write(
                dir.join("prometheus.yml"),
                format!(
                    "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    \
                     - scheme: https\n      api_version: v2\n      basic_auth:\n        username: prometheus\n        \
                     password: pr0m-pass\n      tls_config:\n        ca_file: {}\n      static_configs:\n        \
                     - targets: [\"{addr}\"]\n",
                    ca_file.display()
                ),
            )
            .unwrap();
            let mut c = Command::new(&bin);
            c.arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
                .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
                .arg(format!("--web.listen-address={paddr}"))
                .arg("--rules.alert.resend-delay=1s");
            c
        },
        |paddr| matches!(crate::support::http_get(paddr, "/-/ready"), Ok((200, _))),
    );

    let fired = wait_for(Duration::from_secs(30), || (!hook.accepted().is_empty()).then_some(()));
    assert!(fired.is_some(), "the firing alert never reached the hook");
    let first = &hook.accepted()[0].json();
    assert_eq!(first["reason"], "first", "{first}");
    let resolved = wait_for(Duration::from_secs(40), || reasons(&hook).contains(&"resolved".to_string()).then_some(()));
    assert!(resolved.is_some(), "the resolution never reached the hook: {:?}", reasons(&hook));
    // Prometheus goes on sending the resolved alert every second: nothing new to tell
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(reasons(&hook), ["first", "resolved"], "once each, though Prometheus sent them every second");
    let body = hook.accepted()[0].json();
    let text = body.to_string();
    assert!(text.contains("BackupLate") && text.contains("the nightly backup is late"), "{text}");
    let all = ws.run(&["findings", "--state", "all", "--format", "json"]);
    let found = all.json();
    let f = found.as_array().unwrap().iter().find(|f| f["kind"] == "BackupLate").expect("a finding");
    assert_eq!(
        (f["monkey"].as_str(), f["severity"].as_str(), f["state"].as_str()),
        (Some("external"), Some("critical"), Some("resolved"))
    );
}

/// A webhook receiver and a `troop run` on plain HTTP routing posted alerts
/// to it, with `http` and `alerts` config lines.
async fn plain_rig(http: &str, alerts: &str) -> (Receiver, String, Workspace, Daemon) {
    let hook = Receiver::start().await;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let ws = workspace(port, &hook.url, http, alerts);
    let troop = start(&ws, &addr, None);
    (hook, addr, ws, troop)
}

fn post(addr: &str, auth: &str, body: &str) -> Answer {
    request(
        addr,
        None,
        "POST",
        "/api/v2/alerts",
        &[("Authorization", auth), ("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_alerts_escalate_expire_and_a_bad_body_stores_nothing() {
    let (hook, addr, ws, _troop) = plain_rig(
        "[[agent.http.tokens]]\nname = \"poster\"\ntoken = \"post-token\"\nscopes = [\"alerts:write\", \"read\"]\n",
        "[alerts.posted]\nresolve_timeout = \"3s\"\n",
    )
    .await;
    let auth = "Bearer post-token";
    let alert = |severity: &str, host: &str| {
        format!(r#"{{"labels": {{"alertname": "DiskFull", "host": "{host}", "severity": "{severity}"}}}}"#)
    };

    // a body with one bad alert: 400 naming its field, and nothing stored
    let a = post(&addr, auth, &format!(r#"[{}, {{"labels": {{"host": "db-2"}}}}]"#, alert("warning", "db-1")));
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("[1].labels.alertname"), "{}", a.body);
    let a = post(&addr, auth, r#"[{"labels": {"alertname": "X"}, "startsAt": "yesterday"}]"#);
    assert_eq!(a.status, 400);
    assert!(a.body.contains("[0].startsAt"), "{}", a.body);
    let none = ws.run(&["findings", "--state", "all", "--format", "json"]);
    assert_eq!(none.json(), serde_json::json!([]), "nothing of a refused body is stored");

    // fire, post again (nothing new), escalate: two notifications
    assert_eq!(post(&addr, auth, &format!("[{}]", alert("warning", "db-1"))).status, 200);
    let told = wait_for(Duration::from_secs(10), || (reasons(&hook).len() == 1).then_some(()));
    assert!(told.is_some(), "{:?}", reasons(&hook));
    assert_eq!(post(&addr, auth, &format!("[{}]", alert("warning", "db-1"))).status, 200);
    assert_eq!(post(&addr, auth, &format!("[{}]", alert("critical", "db-1"))).status, 200);
    let told = wait_for(Duration::from_secs(10), || (reasons(&hook).len() == 2).then_some(()));
    assert!(told.is_some(), "{:?}", reasons(&hook));
    assert_eq!(reasons(&hook), ["first", "escalated"]);
    // not posted again: resolved once its resolve_timeout (3s) passes
    let told = wait_for(Duration::from_secs(20), || (reasons(&hook).len() == 3).then_some(()));
    assert!(told.is_some(), "never resolved by its endsAt: {:?}", reasons(&hook));
    assert_eq!(reasons(&hook)[2], "resolved");
    let all = ws.run(&["findings", "--state", "all", "--monkey", "external", "--format", "json"]);
    let found = all.json();
    assert_eq!(found.as_array().unwrap().len(), 1, "one alert, one finding: {found}");
    assert_eq!(found[0]["state"], "resolved");
    assert_eq!(found[0]["severity"], "critical");
}

/// `amtool` (Debian's prometheus-alertmanager) against troop, with a bearer
/// token from its HTTP config file.
fn amtool(ws: &Workspace, addr: &str, args: &[&str]) -> crate::support::Run {
    let bin = std::env::var("TROOP_AMTOOL").unwrap_or_else(|_| "/usr/bin/amtool".into());
    let http = ws.file("amtool-http.yml");
    std::fs::write(&http, "authorization:\n  credentials: ops-token\n").unwrap();
    let out = Command::new(bin)
        .arg(format!("--alertmanager.url=http://{addr}"))
        .arg(format!("--http.config.file={}", http.display()))
        .args(args)
        .output()
        .expect("amtool (deploy/test.sh installs prometheus-alertmanager)");
    crate::support::Run::from(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_silences_a_posted_alert_on_troop_and_troop_lists_the_silence() {
    let (hook, addr, ws, _troop) = plain_rig(
        "[[agent.http.tokens]]\nname = \"ops\"\ntoken = \"ops-token\"\nscopes = [\"read\", \"alerts:write\", \"silences:write\"]\n",
        "",
    )
    .await;
    let added = amtool(
        &ws,
        &addr,
        &[
            "silence",
            "add",
            "alertname=DiskFull",
            "host=~db-.*",
            "--comment=disk swap",
            "--author=ana",
            "--duration=1h",
        ],
    );
    added.assert_code(0);
    let id = added.stdout.trim().to_string();
    assert!(id.starts_with("s-"), "amtool prints the new silence's id: {id}");
    // troop's own verb lists what amtool added
    let listed = ws.run(&["silence", "list", "--format", "json"]);
    let listed = listed.json();
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed[0]["author"], "ana");
    // amtool reads it back, filtered by a matcher
    let queried = amtool(&ws, &addr, &["-o", "json", "silence", "query", "alertname=DiskFull"]);
    queried.assert_code(0);
    let q: serde_json::Value = serde_json::from_str(&queried.stdout).unwrap();
    assert_eq!(q[0]["id"], id.as_str());
    assert_eq!(q[0]["status"]["state"], "active");

    // a posted alert it matches: stored silenced, nobody told
    let alert = r#"[{"labels": {"alertname": "DiskFull", "host": "db-1", "severity": "critical"}}]"#;
    assert_eq!(post(&addr, "Bearer ops-token", alert).status, 200);
    let state = wait_for(Duration::from_secs(10), || {
        let f = ws.run(&["findings", "--format", "json", "--state", "all"]).json();
        (f[0]["state"] == "silenced").then(|| f[0]["silenced_by"].clone())
    });
    assert_eq!(state, Some(serde_json::Value::String(id.clone())), "the finding is silenced by amtool's silence");
    std::thread::sleep(Duration::from_secs(3));
    assert!(hook.accepted().is_empty(), "a silenced alert notifies nobody: {:?}", reasons(&hook));

    // amtool expires it while the alert still fires: now it is told
    amtool(&ws, &addr, &["silence", "expire", &id]).assert_code(0);
    let told = wait_for(Duration::from_secs(15), || (!hook.accepted().is_empty()).then_some(()));
    assert!(told.is_some(), "the alert was never told once its silence ended");
    assert!(amtool(&ws, &addr, &["silence", "expire", &id]).code != 0, "an ended silence cannot end again");
    let q = amtool(&ws, &addr, &["-o", "json", "silence", "query", "--expired"]);
    let q: serde_json::Value = serde_json::from_str(&q.stdout).unwrap();
    assert_eq!(q[0]["status"]["state"], "expired", "{q}");
}
