//! A small, faithful fake of Service Quotas (AWS JSON 1.1,
//! `ServiceQuotasV20190624.ListServiceQuotas` / `ListAWSDefaultServiceQuotas`,
//! `NextToken` pagination): the applied and default values a test sets.

use super::json_fake::{JsonFake, Request};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    /// (service, code) -> value
    applied: BTreeMap<(String, String), f64>,
    defaults: BTreeMap<(String, String), f64>,
}

pub struct FakeServiceQuotas {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    _server: JsonFake,
}

const PAGE: usize = 1;

fn handle(req: &Request, state: &Mutex<State>) -> (u16, Value) {
    let st = state.lock().unwrap();
    let table = match req.operation.as_str() {
        "ListServiceQuotas" => &st.applied,
        "ListAWSDefaultServiceQuotas" => &st.defaults,
        other => {
            return (400, json!({"__type": "UnknownOperationException", "message": format!("{other} is not faked")}));
        }
    };
    let service = req.body["ServiceCode"].as_str().unwrap_or_default();
    let all: Vec<Value> = table
        .iter()
        .filter(|((s, _), _)| s == service)
        .map(|((s, c), v)| {
            json!({
                "ServiceCode": s, "ServiceName": s, "QuotaCode": c, "QuotaName": c,
                "QuotaArn": format!("arn:aws:servicequotas:us-east-1:123456789012:{s}/{c}"),
                "Value": v, "Unit": "None", "Adjustable": true, "GlobalQuota": false,
            })
        })
        .collect();
    let from: usize = req.body["NextToken"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
    let mut out = json!({"Quotas": all.iter().skip(from).take(PAGE).cloned().collect::<Vec<_>>()});
    if from + PAGE < all.len() {
        out["NextToken"] = json!((from + PAGE).to_string());
    }
    (200, out)
}

impl FakeServiceQuotas {
    pub async fn start() -> FakeServiceQuotas {
        let state: Arc<Mutex<State>> = Arc::default();
        let st = state.clone();
        let server = JsonFake::start(Arc::new(move |r: &Request| handle(r, &st))).await;
        FakeServiceQuotas { endpoint: server.endpoint.clone(), state, _server: server }
    }

    pub fn applied(&self, service: &str, code: &str, value: f64) {
        self.state.lock().unwrap().applied.insert((service.into(), code.into()), value);
    }

    pub fn default(&self, service: &str, code: &str, value: f64) {
        self.state.lock().unwrap().defaults.insert((service.into(), code.into()), value);
    }
}
