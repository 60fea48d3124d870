//! A loopback server for AWS JSON 1.1 services (`POST /`, `X-Amz-Target:
//! Prefix.Operation`, JSON bodies), for the APIs the emulator does not serve.
//! The handler gets the operation name, the request's headers and its JSON
//! body, and answers a status and a JSON body (`{"__type": ..., "message": ...}` for errors).

use serde_json::Value;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub struct Request {
    /// `LookupEvents`, `ListServiceQuotas`, ...
    pub operation: String,
    /// The raw request head, lower-cased.
    pub head: String,
    pub body: Value,
}

pub type Handler = dyn Fn(&Request) -> (u16, Value) + Send + Sync;

pub struct JsonFake {
    pub endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JsonFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read(conn: &mut tokio::net::TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

impl JsonFake {
    pub async fn start(handler: Arc<Handler>) -> JsonFake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let handler = handler.clone();
                tokio::spawn(async move {
                    let Ok(req) = read(&mut conn).await else { return };
                    let (head, body) = req.split_once("\r\n\r\n").unwrap_or((&req, ""));
                    // `X-Amz-Target: Prefix.Operation` (the operation's case kept)
                    let operation = head
                        .lines()
                        .find(|l| l.to_lowercase().starts_with("x-amz-target:"))
                        .and_then(|l| l.split_once(':'))
                        .and_then(|(_, t)| t.trim().rsplit('.').next())
                        .unwrap_or_default()
                        .to_string();
                    let head = head.to_lowercase();
                    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                    let (status, out) = handler(&Request { operation, head, body });
                    let out = out.to_string();
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: fake\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
                        out.len()
                    );
                    let _ = conn.write_all(resp.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        JsonFake { endpoint, task }
    }
}
