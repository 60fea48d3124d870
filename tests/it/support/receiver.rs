//! An HTTP receiver on loopback for the alert sinks: records every request
//! (path, headers, body) and answers with a status the test sets (503 = down).

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

pub struct Receiver {
    pub url: String,
    status: Arc<AtomicU16>,
    retry_after: Arc<Mutex<Option<String>>>,
    log: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let status = Arc::new(AtomicU16::new(200));
        let retry_after: Arc<Mutex<Option<String>>> = Arc::default();
        let log: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (s, l, ra) = (status.clone(), log.clone(), retry_after.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (s, l, ra) = (s.clone(), l.clone(), ra.clone());
                tokio::spawn(async move {
                    let Ok(req) = super::proxy::read_request(&mut conn).await else { return };
                    let end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(req.len());
                    let head = String::from_utf8_lossy(&req[..end]).to_string();
                    let mut lines = head.split("\r\n");
                    let path = lines.next().unwrap_or("").split(' ').nth(1).unwrap_or("").to_string();
                    let headers = lines
                        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
                        .collect();
                    let status = s.load(Ordering::SeqCst);
                    l.lock().unwrap().push(Received {
                        path,
                        headers,
                        body: req[(end + 4).min(req.len())..].to_vec(),
                        status,
                    });
                    let body = if status < 300 { "ok" } else { "unavailable" };
                    let retry =
                        ra.lock().unwrap().as_ref().map(|v| format!("Retry-After: {v}\r\n")).unwrap_or_default();
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(resp.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Receiver { url, status, retry_after, log, task }
    }

    /// Send `Retry-After: value` with every answer from now on.
    pub fn retry_after(&self, value: &str) {
        *self.retry_after.lock().unwrap() = Some(value.to_string());
    }

    /// Answer every request from now on with `status`.
    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// Requests answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.status < 300).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
