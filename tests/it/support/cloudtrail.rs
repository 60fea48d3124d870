//! A small, faithful fake of CloudTrail's LookupEvents (AWS JSON 1.1:
//! `POST /`, `X-Amz-Target: CloudTrail_20131101.LookupEvents`, epoch-second
//! times, `NextToken` pagination), since the emulator does not serve it.
//! Events are filtered by one lookup attribute (`ResourceName`, or `ReadOnly`
//! over every resource) and the `StartTime`..`EndTime` window.

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

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
    /// (what was asked: a resource name or `ReadOnly=false`, region from the
    /// signature scope) of every LookupEvents request, pages included.
    lookups: Vec<(String, String)>,
}

pub struct FakeCloudTrail {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    _server: super::json_fake::JsonFake,
}

/// Events per page, small so pagination is exercised.
const PAGE: usize = 2;

impl FakeCloudTrail {
    pub async fn start() -> FakeCloudTrail {
        let state: Arc<Mutex<State>> = Arc::default();
        let st = state.clone();
        let server =
            super::json_fake::JsonFake::start(Arc::new(move |r: &super::json_fake::Request| handle(r, &st))).await;
        FakeCloudTrail { endpoint: server.endpoint.clone(), state, _server: server }
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

fn handle(req: &super::json_fake::Request, state: &Mutex<State>) -> (u16, Value) {
    if req.operation != "LookupEvents" {
        return (400, json!({"__type": "UnknownOperationException", "message": "only LookupEvents is faked"}));
    }
    let mut st = state.lock().unwrap();
    if st.deny {
        let msg = "User is not authorized to perform: cloudtrail:LookupEvents";
        return (400, json!({"__type": "AccessDeniedException", "message": msg}));
    }
    let input = &req.body;
    let key = input["LookupAttributes"][0]["AttributeKey"].as_str().unwrap_or_default().to_string();
    let value = input["LookupAttributes"][0]["AttributeValue"].as_str().unwrap_or_default().to_string();
    // credential=key/date/region/cloudtrail/aws4_request
    let region = req.head.split("credential=").nth(1).and_then(|c| c.split('/').nth(2)).unwrap_or_default().to_string();
    let asked = if key == "ResourceName" { value.clone() } else { format!("{key}={value}") };
    st.lookups.push((asked, region));
    let start = input["StartTime"].as_f64().unwrap_or(0.0) as i64;
    let end = input["EndTime"].as_f64().unwrap_or(i64::MAX as f64) as i64;
    let mut matching: Vec<&TrailEvent> = st
        .events
        .iter()
        .filter(|e| match key.as_str() {
            "ResourceName" => e.resource == value,
            "ReadOnly" => read_only(&e.event_name) == (value == "true"),
            _ => true,
        })
        .filter(|e| e.time >= start && e.time <= end)
        .collect();
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
                "ReadOnly": read_only(&e.event_name).to_string(),
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
    (200, out)
}

fn read_only(event_name: &str) -> bool {
    ["Describe", "Get", "List"].iter().any(|p| event_name.starts_with(p))
}
