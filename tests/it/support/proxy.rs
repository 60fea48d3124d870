//! A loopback HTTP proxy in front of the emulator that can answer chosen
//! requests with AWS error responses (throttling, access denied), to show that
//! a failed listing never turns into deletions.
//!
//! One request per connection (`Connection: close`); requests are matched on
//! a substring of their request line, headers or body. Matching requests can
//! also be held (not forwarded) until the test releases them, to force an
//! interleaving of two processes.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug)]
pub struct Fault {
    /// Every one of these must occur in the raw request (line, headers, body).
    pub matches: Vec<String>,
    pub status: u16,
    pub body: String,
}

impl Fault {
    /// EC2 query-protocol error (`<Response><Errors><Error>`).
    pub fn ec2(matches: &[&str], status: u16, code: &str) -> Fault {
        Fault {
            matches: matches.iter().map(|s| s.to_string()).collect(),
            status,
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>test</RequestID></Response>"
            ),
        }
    }

    /// IAM/STS query-protocol error (`<ErrorResponse><Error>`).
    pub fn query(matches: &[&str], status: u16, code: &str) -> Fault {
        Fault {
            matches: matches.iter().map(|s| s.to_string()).collect(),
            status,
            body: format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected by the test proxy</Message></Error><RequestId>test</RequestId></ErrorResponse>"
            ),
        }
    }

    /// S3 REST-XML error (`<Error>`).
    pub fn s3(matches: &[&str], status: u16, code: &str) -> Fault {
        Fault {
            matches: matches.iter().map(|s| s.to_string()).collect(),
            status,
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected by the test proxy</Message><RequestId>test</RequestId></Error>"
            ),
        }
    }
}

pub struct FaultProxy {
    pub endpoint: String,
    faults: Arc<Mutex<Vec<Fault>>>,
    /// How many requests each fault answered.
    pub hits: Arc<Mutex<usize>>,
    /// When each request arrived, with its text (head and body).
    pub arrivals: Arc<Mutex<Vec<(std::time::Instant, String)>>>,
    /// Requests containing every one of these wait for `release`.
    hold: Arc<Mutex<Vec<String>>>,
    released: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let faults: Arc<Mutex<Vec<Fault>>> = Arc::default();
        let hits: Arc<Mutex<usize>> = Arc::default();
        let arrivals: Arc<Mutex<Vec<(std::time::Instant, String)>>> = Arc::default();
        let upstream = upstream.to_string();
        let hold: Arc<Mutex<Vec<String>>> = Arc::default();
        let (released, gate) = tokio::sync::watch::channel(false);
        let (f, h, a, held) = (faults.clone(), hits.clone(), arrivals.clone(), hold.clone());
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (f, h, a, up) = (f.clone(), h.clone(), a.clone(), upstream.clone());
                let (held, mut gate) = (held.clone(), gate.clone());
                tokio::spawn(async move {
                    let _ = serve(conn, &up, &f, &h, &a, &held, &mut gate).await;
                });
            }
        });
        FaultProxy { endpoint, faults, hits, arrivals, hold, released, task }
    }

    /// Hold requests containing every one of `matches` until [`release`](Self::release).
    pub fn hold(&self, matches: &[&str]) {
        *self.hold.lock().unwrap() = matches.iter().map(|s| s.to_string()).collect();
    }

    /// Forward the held requests (and stop holding).
    pub fn release(&self) {
        self.hold.lock().unwrap().clear();
        let _ = self.released.send(true);
    }

    /// How many requests arrived whose text contains `needle`.
    pub fn arrived(&self, needle: &str) -> usize {
        self.arrivals.lock().unwrap().iter().filter(|(_, t)| t.contains(needle)).count()
    }

    pub fn set(&self, faults: Vec<Fault>) {
        *self.faults.lock().unwrap() = faults;
        *self.hits.lock().unwrap() = 0;
    }

    pub fn hits(&self) -> usize {
        *self.hits.lock().unwrap()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Read one HTTP/1.1 request: head and Content-Length body.
pub async fn read_request(conn: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = conn.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(buf);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn serve(
    mut conn: TcpStream,
    upstream: &str,
    faults: &Mutex<Vec<Fault>>,
    hits: &Mutex<usize>,
    arrivals: &Mutex<Vec<(std::time::Instant, String)>>,
    hold: &Mutex<Vec<String>>,
    gate: &mut tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let req = read_request(&mut conn).await?;
    if req.is_empty() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&req).to_string();
    arrivals.lock().unwrap().push((std::time::Instant::now(), text.clone()));
    let held = {
        let hold = hold.lock().unwrap();
        !hold.is_empty() && hold.iter().all(|m| text.contains(m.as_str()))
    };
    if held {
        // bounded: a test that never releases still ends
        let _ = tokio::time::timeout(std::time::Duration::from_secs(120), gate.wait_for(|r| *r)).await;
    }
    let fault = faults.lock().unwrap().iter().find(|f| f.matches.iter().all(|m| text.contains(m.as_str()))).cloned();
    if let Some(f) = fault {
        *hits.lock().unwrap() += 1;
        let resp = format!(
            "HTTP/1.1 {} Injected\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            f.status,
            f.body.len(),
            f.body
        );
        conn.write_all(resp.as_bytes()).await?;
        return conn.shutdown().await;
    }
    // Forward with `Connection: close` so the upstream ends the response by closing.
    let end = find(&req, b"\r\n\r\n").unwrap_or(req.len());
    let head = String::from_utf8_lossy(&req[..end]);
    let mut out = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        let l = line.to_lowercase();
        if i > 0 && (l.starts_with("connection:") || l.starts_with("keep-alive:")) {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let addr = upstream.trim_start_matches("http://");
    let mut up = TcpStream::connect(addr).await?;
    up.write_all(out.as_bytes()).await?;
    up.write_all(&req[(end + 4).min(req.len())..]).await?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp).await?;
    // Tell the client, too, that this connection ends here.
    let end = find(&resp, b"\r\n\r\n").unwrap_or(resp.len());
    let head = String::from_utf8_lossy(&resp[..end]).to_string();
    let mut out = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        if i > 0 && line.to_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    conn.write_all(out.as_bytes()).await?;
    conn.write_all(&resp[(end + 4).min(resp.len())..]).await?;
    conn.shutdown().await
}
