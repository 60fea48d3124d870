//! A small, faithful fake of CloudTrail's LookupEvents (AWS JSON 1.1:
//! `POST /`, `X-Amz-Target: CloudTrail_20131101.LookupEvents`, epoch-second
//! times, `NextToken` pagination), since the emulator does not serve it.
//! Events are filtered by `ResourceName` and the `StartTime`..`EndTime` window.

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub struct TrailEvent {
    pub resource: String,
    pub event_name: String,
    pub arn: String,
    pub source_ip: String,
    pub time: i64,
}

#[derive(Default)]
struct State {
    events: Vec<TrailEvent>,
    deny: bool,
    /// (resource name, region from the signature scope) of every lookup.
    lookups: Vec<(String, String)>,
}

pub struct FakeCloudTrail {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

/// Events per page, small so pagination is exercised.
const PAGE: usize = 2;

impl FakeCloudTrail {
    pub async fn start() -> FakeCloudTrail {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state: Arc<Mutex<State>> = Arc::default();
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let Ok(req) = read(&mut conn).await else { return };
                    let (status, body) = handle(&req, &st);
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: fake\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(resp.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        FakeCloudTrail { endpoint, state, task }
    }

    pub fn add(&self, e: TrailEvent) {
        self.state.lock().unwrap().events.push(e);
    }

    pub fn deny(&self, deny: bool) {
        self.state.lock().unwrap().deny = deny;
    }

    pub fn lookups(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().lookups.clone()
    }
}

impl Drop for FakeCloudTrail {
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

fn handle(req: &str, state: &Mutex<State>) -> (u16, String) {
    let (head, body) = req.split_once("\r\n\r\n").unwrap_or((req, ""));
    let lower = head.to_lowercase();
    if !lower.contains("x-amz-target: cloudtrail_20131101.lookupevents") {
        return (
            400,
            json!({"__type": "UnknownOperationException", "message": "only LookupEvents is faked"}).to_string(),
        );
    }
    let mut st = state.lock().unwrap();
    if st.deny {
        let msg = "User is not authorized to perform: cloudtrail:LookupEvents";
        return (400, json!({"__type": "AccessDeniedException", "message": msg}).to_string());
    }
    let input: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let resource = input["LookupAttributes"][0]["AttributeValue"].as_str().unwrap_or_default().to_string();
    // Credential=KEY/DATE/REGION/cloudtrail/aws4_request
    let region = head.split("Credential=").nth(1).and_then(|c| c.split('/').nth(2)).unwrap_or_default().to_string();
    st.lookups.push((resource.clone(), region));
    let start = input["StartTime"].as_f64().unwrap_or(0.0) as i64;
    let end = input["EndTime"].as_f64().unwrap_or(i64::MAX as f64) as i64;
    let mut matching: Vec<&TrailEvent> =
        st.events.iter().filter(|e| e.resource == resource && e.time >= start && e.time <= end).collect();
    matching.sort_by_key(|e| std::cmp::Reverse(e.time)); // newest first, as CloudTrail does
    let from: usize = input["NextToken"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = matching
        .iter()
        .skip(from)
        .take(PAGE)
        .enumerate()
        .map(|(i, e)| {
            let doc = json!({
                "eventVersion": "1.08",
                "userIdentity": {"type": "IAMUser", "arn": e.arn},
                "eventName": e.event_name,
                "sourceIPAddress": e.source_ip,
            });
            json!({
                "EventId": format!("ev-{}", from + i),
                "EventName": e.event_name,
                "ReadOnly": if e.event_name.starts_with("Describe") { "true" } else { "false" },
                "EventTime": e.time,
                "EventSource": "ec2.amazonaws.com",
                "Username": e.arn.rsplit('/').next().unwrap_or_default(),
                "Resources": [{"ResourceType": "AWS::EC2::SecurityGroup", "ResourceName": e.resource}],
                "CloudTrailEvent": doc.to_string(),
            })
        })
        .collect();
    let mut out = json!({"Events": page});
    if from + PAGE < matching.len() {
        out["NextToken"] = json!((from + PAGE).to_string());
    }
    (200, out.to_string())
}
