use crate::support::{Moto, Workspace, await_stderr_line, free_port, http_get, wait_for};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig} failed");
}

fn sigterm(child: &Child) {
    signal(child, "-TERM");
}

/// Wait for exit; the time it took.
fn wait_exit(child: &mut Child, limit: Duration) -> (Duration, i32) {
    let start = Instant::now();
    let code = wait_for(limit, || child.try_wait().unwrap()).map(|s| s.code().unwrap_or(-1));
    match code {
        Some(c) => (start.elapsed(), c),
        None => {
            let _ = child.kill();
            panic!("troop run did not exit within {limit:?} of SIGTERM");
        }
    }
}

/// A `troop run` child that is killed when the test ends, however it ends
/// (a failed assertion must not leave a daemon behind).
struct Daemon(Child);

impl std::ops::Deref for Daemon {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `troop run` in `ws`, once it answers `/healthz` on `addr`.
fn started(ws: &Workspace, addr: &str) -> Daemon {
    let child = Daemon(ws.cmd(&["run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let health = wait_for(Duration::from_secs(30), || http_get(addr, "/healthz").ok().filter(|(s, _)| *s == 200));
    assert!(health.is_some(), "/healthz never answered 200");
    child
}

fn daemon_config(endpoint: &str, port: u16) -> String {
    format!("[agent]\nlisten = \"127.0.0.1:{port}\"\n")
        + &Workspace::for_emulator(endpoint, "[monkeys.security]\ninterval = \"1h\"\njitter = 0\n").config_tail()
}

impl Workspace {
    /// The emulator config minus its [agent] table (for tests that set their own).
    fn config_tail(&self) -> String {
        let text = std::fs::read_to_string(self.file("troop.toml")).unwrap();
        text.replace("[agent]\nstore = \"sqlite://troop.db\"\n", "")
    }
}

#[tokio::test]
async fn run_serves_health_and_metrics_and_stops_within_5s_of_sigterm() {
    let moto = Moto::start();
    // an item with a name no other has (each region has its group "default")
    let ec2 = moto.ec2("us-east-1").await;
    ec2.create_security_group().group_name("web").description("web").send().await.unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let ws = Workspace::new(&daemon_config(&moto.endpoint, port));
    let mut child = started(&ws, &addr);
    let metrics = wait_for(Duration::from_secs(30), || {
        http_get(&addr, "/metrics")
            .ok()
            .filter(|(_, body)| body.contains("troop_passes_total{monkey=\"security\",result=\"ok\"} 1"))
    });
    let (status, body) = metrics.expect("the first security pass never showed in /metrics");
    assert_eq!(status, 200);
    for family in ["troop_pass_duration_seconds", "troop_pass_errors_total", "troop_monkey_operations_total"] {
        assert!(body.contains(family), "{family} missing:\n{body}");
    }
    // with samples of every family a pass makes
    promtool_check(&body);
    let (status, findings) = http_get(&addr, "/api/v1/findings").unwrap();
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<serde_json::Value>(&findings).unwrap().is_array());

    let (status, changes) = http_get(&addr, "/api/v1/changes?since=1h").unwrap();
    assert_eq!(status, 200);
    let changes: serde_json::Value = serde_json::from_str(&changes).unwrap();
    let first = &changes.as_array().unwrap()[0];
    assert_eq!(first["change"], "created");
    let item = first["item"].as_str().unwrap().replace('/', "%2F");
    let (status, diff) = http_get(&addr, &format!("/api/v1/items/{item}/diff")).unwrap();
    assert_eq!(status, 200, "{diff}");
    let diff: serde_json::Value = serde_json::from_str(&diff).unwrap();
    // SPEC: an array of one object per revision pair, revision numbers in from/to
    let diff = &diff.as_array().expect("an array")[0];
    assert_eq!(diff["item"], first["item"]);
    assert_eq!((diff["from"].clone(), diff["to"].clone()), (serde_json::Value::Null, serde_json::json!(1)));
    assert!(diff["summary"][0].as_str().unwrap().ends_with("created"));
    // the API takes what the CLI takes: the item's name (one no other item has)
    let names: Vec<&str> = changes.as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    let name = *names.iter().find(|n| names.iter().filter(|m| m == n).count() == 1).expect("a unique name");
    let (status, by_name) = http_get(&addr, &format!("/api/v1/items/{name}/diff")).unwrap();
    assert_eq!(status, 200, "{by_name}");
    assert_eq!(http_get(&addr, "/api/v1/items/nope/diff").unwrap().0, 404);
    let (status, page) = http_get(&addr, "/").unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("Changes in the last hour: ") && page.contains("created"), "{page}");
    assert_eq!(http_get(&addr, "/api/v1/changes?since=yesterday").unwrap().0, 400);
    for (query, some) in [("technology=ec2", true), ("technology=iam,s3", false), ("account=111111111111", false)] {
        let (status, body) = http_get(&addr, &format!("/api/v1/changes?since=1h&{query}")).unwrap();
        assert_eq!(status, 200, "{body}");
        let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(!rows.as_array().unwrap().is_empty(), some, "{query}: {rows:#}");
    }
    assert_eq!(http_get(&addr, "/api/v1/findings?state=sleeping").unwrap().0, 400);
    assert_eq!(http_get(&addr, "/api/v1/findings?severity=urgent").unwrap().0, 400);
    // the thresholds the CLI takes, no others
    assert_eq!(http_get(&addr, "/api/v1/findings?severity=info").unwrap().0, 400);
    let (status, body) = http_get(&addr, "/api/v1/findings?state=all&severity=critical").unwrap();
    assert_eq!(status, 200, "{body}");
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(rows.as_array().unwrap().iter().all(|f| f["severity"] == "critical"), "{rows:#}");

    sigterm(&child);
    let (took, code) = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test]
async fn sigterm_during_a_pass_abandons_it_unwritten_within_5s() {
    let moto = Moto::start();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let ws = Workspace::new(&daemon_config(&moto.endpoint, port));
    // The pass holds its commit open for a minute: SIGTERM lands mid-pass.
    let mut child = Daemon(
        ws.cmd(&["run"])
            .env("TROOP_FAULT_COMMIT_DELAY_MS", "60000")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    await_stderr_line(&mut child, "fault injection", Duration::from_secs(60), "the pass never reached its commit");
    assert!(http_get(&addr, "/healthz").is_ok());
    sigterm(&child);
    let (took, code) = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let db = ws.db();
    assert_eq!(db.integrity_check().unwrap(), "ok");
    assert!(!troop_core::Store::pass_counts(&db).unwrap().contains_key("ok"), "the interrupted pass was committed");
}

/// `/api/v1/certs` and `/api/v1/limits` answer what `troop certs` and
/// `troop limits` print with `--format json`.
#[tokio::test]
async fn the_api_serves_certs_and_limits_as_the_cli_prints_them() {
    use crate::support::tls;
    let moto = Moto::start();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let n = tls::now();
    let cert = tls::self_signed(&["files.example.test"], n - tls::DAY, n + 30 * tls::DAY + time::Duration::hours(1));
    let ws = Workspace::new(&format!(
        "[agent]\nstore = \"sqlite://troop.db\"\nlisten = \"{addr}\"\n[aws]\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n\
         [monkeys.security]\nenabled = false\n[monkeys.certs]\nsources = [\"files\"]\nfiles = [\"cert.pem\"]\n\
         [monkeys.limits]\nservices = [\"vpc\"]\nservice_quotas = false\n",
        moto.endpoint
    ));
    std::fs::write(ws.file("cert.pem"), &cert.cert_pem).unwrap();
    ws.run(&["scan"]).assert_code(0);
    let mut child = started(&ws, &addr);
    for (path, verb) in [("/api/v1/certs", "certs"), ("/api/v1/limits", "limits")] {
        let (status, body) = http_get(&addr, path).unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        let api: serde_json::Value = serde_json::from_str(&body).unwrap();
        let cli = ws.run(&[verb, "--format", "json"]).json();
        assert!(!api.as_array().unwrap().is_empty(), "{path} is empty");
        assert_eq!(api, cli, "{path}");
    }
    let (_, certs) = http_get(&addr, "/api/v1/certs").unwrap();
    let certs: serde_json::Value = serde_json::from_str(&certs).unwrap();
    assert_eq!((certs[0]["host"].as_str(), certs[0]["days_left"].as_i64()), (Some("files.example.test"), Some(30)));
    sigterm(&child);
    let (_, code) = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(code, 0);
}

/// SIGHUP reloads the configuration: a broken file is refused (the daemon
/// keeps running the old one and says why), a monkey turned on starts, and a
/// change only a restart can make is refused.
#[tokio::test]
async fn sighup_reloads_the_configuration_and_refuses_what_it_cannot_take() {
    let moto = Moto::start();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let ws = Workspace::new(&daemon_config(&moto.endpoint, port));
    let config = std::fs::read_to_string(ws.file("troop.toml")).unwrap();
    let log = std::fs::File::create(ws.file("stderr.log")).unwrap();
    let mut child = Daemon(ws.cmd(&["run"]).stdout(Stdio::null()).stderr(log).spawn().unwrap());
    let metrics_with = |want: &[&str]| {
        wait_for(Duration::from_secs(30), || {
            http_get(&addr, "/metrics").ok().map(|(_, b)| b).filter(|b| want.iter().all(|w| b.contains(w)))
        })
    };
    let first = metrics_with(&["troop_passes_total{monkey=\"security\",result=\"ok\"} 1"]);
    assert!(first.expect("no first pass").contains("troop_config_last_reload_successful 1"));

    ws.write_config(&format!("{config}[monkeys.bogus]\n"));
    signal(&child, "-HUP");
    assert!(metrics_with(&["troop_config_last_reload_successful 0"]).is_some(), "a broken file was taken");
    assert_eq!(http_get(&addr, "/healthz").unwrap().0, 200, "still serving");

    let limits_on = config.replace(
        "[monkeys.limits]\nenabled = false\n",
        "[monkeys.limits]\nservices = [\"vpc\"]\nservice_quotas = false\njitter = 0\n",
    );
    assert_ne!(limits_on, config);
    ws.write_config(&limits_on);
    signal(&child, "-HUP");
    let reloaded = metrics_with(&[
        "troop_config_last_reload_successful 1",
        "troop_passes_total{monkey=\"limits\",result=\"ok\"} 1",
    ]);
    let stderr = || std::fs::read_to_string(ws.file("stderr.log")).unwrap();
    assert!(reloaded.is_some(), "the limits monkey never ran after the reload: {}", stderr());

    let moved = limits_on.replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{}", free_port()));
    ws.write_config(&moved);
    signal(&child, "-HUP");
    assert!(metrics_with(&["troop_config_last_reload_successful 0"]).is_some(), "a new listen address was taken");

    sigterm(&child);
    let (_, code) = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(code, 0);
    let stderr = stderr();
    assert!(stderr.contains("bogus"), "the broken file's error is shown: {stderr}");
    assert_eq!(stderr.matches("reload refused").count(), 2, "{stderr}");
    assert!(stderr.contains("[agent] store, listen and [agent.http] change only with a restart"), "{stderr}");
    assert!(stderr.contains("configuration reloaded; running 2 monkey(s)"), "{stderr}");
}

/// `/metrics` of a restarted daemon tells what the store knows before any
/// pass of its own, and passes `promtool check metrics`.
#[tokio::test]
async fn metrics_are_honest_from_the_first_scrape_and_pass_promtool() {
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    crate::support::world_open_group(&ec2, "10.7.0.0/16", "ssh", 22).await;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let tail = Workspace::for_emulator(&moto.endpoint, "").config_tail();
    // the passes of an earlier process: security, and limits (VPC only, for its gauges)
    let scan_cfg = format!(
        "[agent]\nlisten = \"127.0.0.1:{port}\"\n{}",
        tail.replace(
            "[monkeys.limits]\nenabled = false\n",
            "[monkeys.limits]\nservices = [\"vpc\"]\nservice_quotas = false\n"
        )
    );
    let ws = Workspace::new(&scan_cfg);
    ws.run(&["scan"]).assert_code(0);
    // A daemon whose monkeys do not run: everything it exports comes from the store.
    let idle = format!(
        "[agent]\nlisten = \"127.0.0.1:{port}\"\n{}",
        tail.replace("[monkeys.security]\n", "[monkeys.security]\nenabled = false\n")
    );
    ws.write_config(&idle);
    let mut child = started(&ws, &addr);
    let (status, body) = http_get(&addr, "/metrics").unwrap();
    sigterm(&child);
    wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status, 200);
    for want in [
        "troop_open_findings{monkey=\"security\"} 1",
        "troop_last_success_timestamp_seconds{monkey=\"security\"}",
        "troop_quota_usage{",
        "troop_build_info{version=\"",
        "# TYPE troop_pass_duration_seconds histogram",
    ] {
        assert!(body.contains(want), "missing {want} in\n{body}");
    }
    promtool_check(&body);
}

/// `promtool check metrics` (Prometheus's own linter) accepts `body`.
fn promtool_check(body: &str) {
    let promtool = std::env::var("TROOP_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let mut check = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{promtool} (Debian prometheus; deploy/test.sh installs it): {e}"));
    use std::io::Write;
    check.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Open descriptors of a process (Linux).
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Whether the server closed `s` within `limit` (EOF or reset), reading and
/// discarding whatever it sent first.
fn closed_within(s: &std::net::TcpStream, limit: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(limit)).unwrap();
    let mut s = s;
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) if start.elapsed() < limit => continue,
            Ok(_) => return false,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Slowloris under a low descriptor limit: silent, slow-header and idle
/// keep-alive clients are closed on their timeouts, the connection cap keeps
/// the excess in the kernel's queue (no descriptor of troop's), passes keep
/// their AWS connections, and /healthz answers again once the flood drains.
#[tokio::test]
async fn slow_and_silent_clients_cannot_starve_passes_or_hold_the_listener() {
    const LIMIT: usize = 128;
    const FLOOD: usize = 150;
    let moto = Moto::start();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let config = daemon_config(&moto.endpoint, port).replace("interval = \"1h\"", "interval = \"2s\"").replace(
        &format!("listen = \"{addr}\"\n"),
        &format!("listen = \"{addr}\"\n[agent.http]\nread_header_timeout = \"1s\"\nidle_timeout = \"2s\"\n"),
    );
    let ws = Workspace::new(&config);
    let mut c = std::process::Command::new("sh");
    c.args(["-c", &format!("ulimit -n {LIMIT} && exec \"$0\" run"), crate::support::troop_bin()])
        .current_dir(ws.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(ws.file("run.log")).unwrap());
    crate::support::clean_env(&mut c, ws.path());
    let mut child = Daemon(c.spawn().unwrap());
    let up = wait_for(Duration::from_secs(30), || http_get(&addr, "/healthz").ok().filter(|(s, _)| *s == 200));
    assert!(up.is_some(), "/healthz never answered: {}", std::fs::read_to_string(ws.file("run.log")).unwrap());

    // An idle keep-alive client is closed: hyper's header timer runs while
    // the connection waits for its next request (1s here).
    let mut idle = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(&mut idle, format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    let t = Instant::now();
    assert!(closed_within(&idle, Duration::from_secs(8)), "an idle keep-alive connection stayed open");
    assert!(t.elapsed() >= Duration::from_millis(800), "closed before its timeout: {:?}", t.elapsed());

    // The flood: silent connections and ones that dribble a header.
    let flood_start = time::OffsetDateTime::now_utc();
    let mut flood: Vec<std::net::TcpStream> =
        (0..FLOOD).map(|_| std::net::TcpStream::connect(&addr).unwrap()).collect();
    for s in flood.iter_mut().step_by(3) {
        let _ = std::io::Write::write_all(s, b"GET /metrics HTTP/1.1\r\nX-Slow: ");
    }
    let mut most = 0;
    let drained = wait_for(Duration::from_secs(60), || {
        most = most.max(open_fds(child.id()));
        http_get(&addr, "/healthz").ok().filter(|(s, _)| *s == 200)
    });
    assert!(
        drained.is_some(),
        "/healthz never answered again: {}",
        std::fs::read_to_string(ws.file("run.log")).unwrap()
    );
    assert!(most < LIMIT - 16, "troop held {most} descriptors of its {LIMIT}");
    // every flooding client was closed by troop (a header timeout), none kept
    let still_open = flood.iter().filter(|s| !closed_within(s, Duration::from_millis(1500))).count();
    assert_eq!(still_open, 0, "connections troop never closed");

    // Passes ran during the flood, with their AWS connections.
    let ok_since = wait_for(Duration::from_secs(20), || {
        let passes = troop_core::Store::pass_counts(&ws.db()).unwrap();
        let last = troop_core::Store::last_successes(&ws.db()).unwrap().get("security").copied();
        last.filter(|t| *t > flood_start).map(|_| passes)
    });
    let passes = ok_since.expect("no pass succeeded during the flood");
    let log = std::fs::read_to_string(ws.file("run.log")).unwrap();
    assert_eq!(passes.get("failed"), None, "a pass failed: {log}");
    assert!(!log.contains("Too many open files") || !log.contains("pass failed"), "{log}");
    sigterm(&child);
    let (_, code) = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(code, 0);
}
