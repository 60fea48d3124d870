//! A real Prometheus Alertmanager on loopback (Debian's
//! `prometheus-alertmanager`, installed by deploy/test.sh), clustering off.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Alertmanager {
    child: Child,
    _dir: tempfile::TempDir,
    pub url: String,
    pub addr: String,
}

impl Alertmanager {
    pub fn start() -> Alertmanager {
        let bin = std::env::var("TROOP_ALERTMANAGER").unwrap_or_else(|_| "/usr/bin/prometheus-alertmanager".into());
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("alertmanager.yml");
        std::fs::write(&cfg, "route:\n  receiver: none\nreceivers:\n  - name: none\n").unwrap();
        let port = super::free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin} ({e}): run deploy/test.sh, which installs it"));
        let am = Alertmanager { child, _dir: dir, url: format!("http://{addr}"), addr };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok((200, _)) = super::http_get(&am.addr, "/-/ready") {
                return am;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("alertmanager did not become ready on {}", am.addr);
    }

    /// `GET /api/v2/alerts` (active alerts).
    pub fn alerts(&self) -> serde_json::Value {
        let (status, body) = super::http_get(&self.addr, "/api/v2/alerts").unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
