//! The HTTP surface fit for a network (issue "an HTTP surface with TLS and
//! authentication"): credentials and scopes, 401/403/413/429 counted on
//! /metrics, TLS with client certificates, and a listen reachable from the
//! network refused without a credential.

use crate::support::{Workspace, free_port, tls, wait_for};
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// A `troop run` killed when dropped.
pub struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTP answer: status, head (lower-cased) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = format!("{}:", name.to_lowercase());
        self.head.lines().find_map(|l| l.strip_prefix(&name)).map(str::trim)
    }
}

/// One HTTP/1.1 request on a new connection (TLS with `tls`), `Connection:
/// close`; `headers` are sent as given.
pub fn request(
    addr: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Answer> {
    let tcp = std::net::TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    if !body.is_empty() || method != "GET" {
        head += &format!("Content-Length: {}\r\n", body.len());
    }
    head += "\r\n";
    let mut raw = Vec::new();
    let mut exchange = |s: &mut dyn ReadWrite| -> std::io::Result<()> {
        s.write_all(head.as_bytes())?;
        // the server may answer (413) before the whole body is sent
        let _ = s.write_all(body);
        let _ = s.flush();
        match s.read_to_end(&mut raw) {
            Ok(_) => Ok(()),
            // a close without close_notify after the answer
            Err(_) if !raw.is_empty() => Ok(()),
            Err(e) => Err(e),
        }
    };
    match tls {
        None => exchange(&mut { tcp })?,
        Some(cfg) => {
            let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let conn = rustls::ClientConnection::new(cfg.clone(), name).map_err(std::io::Error::other)?;
            exchange(&mut rustls::StreamOwned::new(conn, tcp))?
        }
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok(Answer { status, head: head.to_lowercase(), body: body.to_string() })
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// `htpasswd -nbB -C 4 prometheus pr0m-pass` (cost 4: fast tests).
pub const PROMETHEUS_HASH: &str = "$2y$04$vP5umTDAu2X.GzYjqzHzY..LsOws.F7HmmpGyaOnNoYfPHdl8gohm";

/// A workspace whose `troop run` serves `http` ([agent.http] keys) on
/// `127.0.0.1:port`, with every monkey off (only the HTTP surface runs).
fn workspace(port: u16, http: &str) -> Workspace {
    Workspace::new(&format!(
        "[agent]\nstore = \"sqlite://troop.db\"\nlisten = \"127.0.0.1:{port}\"\n{http}\n\
         [monkeys.security]\nenabled = false\n[monkeys.certs]\nenabled = false\n[monkeys.limits]\nenabled = false\n"
    ))
}

/// Spawn `run` (a `troop run`) and wait until its `/healthz` answers 200
/// (over TLS with `tls`).
pub fn start(mut run: std::process::Command, addr: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Daemon {
    let d = Daemon(run.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let up = wait_for(Duration::from_secs(30), || {
        request(addr, tls, "GET", "/healthz", &[], b"").ok().filter(|a| a.status == 200)
    });
    assert!(up.is_some(), "/healthz never answered 200 (it needs no credential)");
    d
}

/// The value of `troop_http_requests_rejected_total{reason}` in a scrape.
fn rejected(metrics: &str, reason: &str) -> u64 {
    let prefix = format!("troop_http_requests_rejected_total{{reason=\"{reason}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok()).unwrap_or(u64::MAX)
}

#[test]
fn credentials_scopes_and_limits_decide_every_request_and_each_refusal_is_counted() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let ws = workspace(
        port,
        &format!(
            "[agent.http]\nmax_body_bytes = 1048576\nrate_limit = 0.5\nrate_burst = 40\n\
             [agent.http.basic_auth_users]\nprometheus = \"{PROMETHEUS_HASH}\"\n\
             [agent.http.user_scopes]\nprometheus = [\"read\", \"alerts:write\"]\n\
             [[agent.http.tokens]]\nname = \"dashboard\"\ntoken = {{ env = \"TROOP_TEST_READ_TOKEN\" }}\nscopes = [\"read\"]\n"
        ),
    );
    let mut run = ws.cmd(&["run"]);
    run.env("TROOP_TEST_READ_TOKEN", "read-only-token");
    let _d = start(run, &addr, None);
    let get = |path: &str, auth: Option<&str>| {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        request(&addr, None, "GET", path, &headers, b"").unwrap()
    };
    let reader = "Bearer read-only-token";
    let prometheus = basic("prometheus", "pr0m-pass");
    let (wrong_password, unknown_user) = (basic("prometheus", "wrong"), basic("grafana", "pr0m-pass"));

    // (path, Authorization, status)
    let cases = [
        ("/api/v1/findings", None, 401),
        ("/metrics", None, 401),
        ("/", None, 401),
        ("/api/v1/findings", Some("Bearer wrong-token"), 401),
        ("/api/v1/findings", Some(wrong_password.as_str()), 401),
        ("/api/v1/findings", Some(unknown_user.as_str()), 401),
        ("/api/v1/findings", Some(reader), 200),
        ("/api/v1/findings", Some(prometheus.as_str()), 200),
        ("/", Some(reader), 200),
    ];
    for (path, auth, want) in cases {
        let a = get(path, auth);
        assert_eq!(a.status, want, "GET {path} with {auth:?}: {}", a.body);
        if want == 401 {
            assert!(a.header("www-authenticate").is_some_and(|v| v.contains("basic")), "{}", a.head);
        }
    }
    // a read-only token on a write: 403, naming the scope
    let post = |path: &str, auth: &str, body: &[u8]| {
        request(&addr, None, "POST", path, &[("Authorization", auth), ("Content-Type", "application/json")], body)
            .unwrap()
    };
    let a = post("/api/v2/alerts", reader, b"[]");
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("`dashboard` does not have the `alerts:write` scope"), "{}", a.body);
    let a = post("/api/v2/silences", &prometheus, b"{}");
    assert_eq!(a.status, 403, "{}", a.body);
    // a body over max_body_bytes: 413 before it is read
    let big = vec![b' '; 20 << 20];
    let a = post("/api/v2/alerts", &prometheus, &big);
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(a.body.contains("max_body_bytes"), "{}", a.body);
    // chunked, so no length is declared: refused once it passes the limit
    let chunked = {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "POST /api/v2/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: {prometheus}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let chunk = vec![b' '; 64 << 10];
        for _ in 0..32 {
            if write!(s, "{:x}\r\n", chunk.len())
                .and_then(|_| s.write_all(&chunk))
                .and_then(|_| s.write_all(b"\r\n"))
                .is_err()
            {
                break;
            }
        }
        let _ = s.write_all(b"0\r\n\r\n");
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).to_string()
    };
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");

    // every refusal so far is on /metrics
    let m = get("/metrics", Some(reader));
    assert_eq!(m.status, 200);
    assert_eq!(rejected(&m.body, "unauthorized"), 6, "{}", m.body);
    assert_eq!(rejected(&m.body, "forbidden"), 2);
    assert_eq!(rejected(&m.body, "payload_too_large"), 2);
    assert_eq!(rejected(&m.body, "rate_limited"), 0);

    // a burst over the rate: 429 with Retry-After, /healthz still open
    let limited = (0..60).map(|_| get("/api/v1/findings", Some(reader))).find(|a| a.status == 429);
    let limited = limited.expect("60 requests at once are over a burst of 40");
    let retry: u64 = limited.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(get("/healthz", None).status, 200);
    std::thread::sleep(Duration::from_secs(retry));
    let m = get("/metrics", Some(reader));
    assert_eq!(m.status, 200, "after Retry-After the client is served again");
    assert!(rejected(&m.body, "rate_limited") >= 1, "{}", m.body);
}

/// A test CA, and in `ws` what `tls_server_config` names: `server.pem` and
/// `server.key` (a certificate the CA signed for 127.0.0.1) and `ca.pem`
/// (the CA); valid from a day ago for thirty days.
pub fn server_certificates(ws: &Workspace) -> tls::Ca {
    let (nb, na) = (tls::now() - tls::DAY, tls::now() + tls::DAY * 30);
    let ca = tls::root("troop test CA", nb, na);
    let server = tls::leaf(&ca, &["127.0.0.1"], nb, na);
    std::fs::write(ws.file("server.pem"), &server.cert_pem).unwrap();
    std::fs::write(ws.file("server.key"), &server.key_pem).unwrap();
    std::fs::write(ws.file("ca.pem"), ca.pem()).unwrap();
    ca
}

/// A client configuration that trusts `ca`, presenting `cert` when given.
pub fn client(ca: &tls::Ca, cert: Option<&tls::Leaf>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match cert {
        Some(c) => builder.with_client_auth_cert(vec![c.der.clone()], c.key.clone_key()).unwrap(),
        None => builder.with_no_client_auth(),
    })
}

#[test]
fn tls_with_client_certificates_serves_only_clients_the_ca_signed() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let ws = workspace(
        port,
        "[agent.http.tls_server_config]\ncert_file = \"server.pem\"\nkey_file = \"server.key\"\nclient_ca_file = \"ca.pem\"\n\
         [[agent.http.tokens]]\nname = \"poster\"\ntoken = \"post-token\"\nscopes = [\"alerts:write\"]\n",
    );
    let ca = server_certificates(&ws);
    let (nb, na) = (tls::now() - tls::DAY, tls::now() + tls::DAY * 30);
    let anonymous = client(&ca, None);
    let client = client(&ca, Some(&tls::leaf(&ca, &["client"], nb, na)));
    let checked = ws.run(&["config", "check"]);
    checked.assert_code(0);
    let _d = start(ws.cmd(&["run"]), &addr, Some(&client));

    // a client certificate the CA signed reads (mTLS authenticates it)
    let a = request(&addr, Some(&client), "GET", "/api/v1/findings", &[], b"").unwrap();
    assert_eq!((a.status, a.body.trim()), (200, "[]"));
    // but a write still needs a credential with its scope
    let a = request(&addr, Some(&client), "POST", "/api/v1/events", &[("Authorization", "Bearer post-token")], b"{}")
        .unwrap();
    assert_eq!(a.status, 403, "{}", a.body);
    // no client certificate, plain HTTP, a certificate of another CA: no handshake
    assert!(request(&addr, Some(&anonymous), "GET", "/api/v1/findings", &[], b"").map(|a| a.status).unwrap_or(0) == 0);
    let plain = request(&addr, None, "GET", "/api/v1/findings", &[], b"");
    assert!(plain.map(|a| a.status).unwrap_or(0) != 200, "plain HTTP is not served on the TLS port");
    let other = tls::root("another CA", nb, na);
    let stranger = self::client(&ca, Some(&tls::leaf(&other, &["client"], nb, na)));
    assert!(request(&addr, Some(&stranger), "GET", "/api/v1/findings", &[], b"").map(|a| a.status).unwrap_or(0) == 0);
    let m = request(&addr, Some(&client), "GET", "/metrics", &[], b"").unwrap();
    assert!(rejected(&m.body, "tls_handshake") >= 2, "{}", m.body);
}

#[test]
fn a_listen_reachable_from_the_network_needs_a_credential_or_an_explicit_opt_out() {
    let ws = Workspace::new("[agent]\nstore = \"sqlite://troop.db\"\nlisten = \"0.0.0.0:0\"\n");
    let checked = ws.run(&["config", "check"]);
    checked.assert_code(2);
    assert!(checked.stderr.contains("troop.toml:3:"), "{}", checked.stderr);
    assert!(checked.stderr.contains("allow_anonymous_reads = true"), "{}", checked.stderr);
    let run = ws.run(&["run"]);
    run.assert_code(2);
    assert!(run.stderr.contains("reachable from the network"), "{}", run.stderr);
    // a TLS key that does not match its certificate: refused by `config check` as by `run`
    let ws = Workspace::new(
        "[agent]\nstore = \"sqlite://troop.db\"\n[agent.http.tls_server_config]\ncert_file = \"a.pem\"\nkey_file = \"b.key\"\n",
    );
    let one = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let two = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    std::fs::write(ws.file("a.pem"), one.cert.pem()).unwrap();
    std::fs::write(ws.file("b.key"), two.signing_key.serialize_pem()).unwrap();
    let checked = ws.run(&["config", "check"]);
    checked.assert_code(2);
    assert!(
        checked.stderr.contains("invalid-tls") || checked.stderr.contains("do not make a TLS server"),
        "{}",
        checked.stderr
    );
}
