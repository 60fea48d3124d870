//! A real Prometheus Alertmanager on loopback (Debian's
//! `prometheus-alertmanager`, installed by deploy/test.sh), clustering off.

use std::process::Command;

pub struct Alertmanager {
    _server: super::Server,
    pub url: String,
    pub addr: String,
}

impl Alertmanager {
    pub fn start() -> Alertmanager {
        let bin = std::env::var("TROOP_ALERTMANAGER").unwrap_or_else(|_| "/usr/bin/prometheus-alertmanager".into());
        let server = super::Server::spawn(
            &bin,
            |addr, dir| {
                let cfg = dir.join("alertmanager.yml");
                std::fs::write(&cfg, "route:\n  receiver: none\nreceivers:\n  - name: none\n").unwrap();
                let mut c = Command::new(&bin);
                c.arg(format!("--config.file={}", cfg.display()))
                    .arg(format!("--storage.path={}", dir.join("data").display()))
                    .arg(format!("--web.listen-address={addr}"))
                    .arg("--cluster.listen-address=");
                c
            },
            |addr| matches!(super::http_get(addr, "/-/ready"), Ok((200, _))),
        );
        let addr = server.addr.clone();
        Alertmanager { _server: server, url: format!("http://{addr}"), addr }
    }

    /// `GET /api/v2/alerts` (active alerts).
    pub fn alerts(&self) -> serde_json::Value {
        let (status, body) = super::http_get(&self.addr, "/api/v2/alerts").unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}
