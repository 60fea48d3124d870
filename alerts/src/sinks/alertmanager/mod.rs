//! `type = "alertmanager"`: POST /api/v2/alerts to a Prometheus Alertmanager.
//! One alert per finding: labels (alertname = the finding's kind, monkey,
//! severity, account, region, resource, fingerprint, and the finding's own
//! labels), annotations (summary, details), `startsAt` (first seen). Firing
//! alerts carry `endsAt` four resend intervals ahead and the gateway re-posts
//! them every interval while they fire; resolved ones carry `endsAt` = now.

use crate::http::{Http, outcome};
use async_trait::async_trait;
use std::time::Duration;
use troop_core::alerting::Notification;
use troop_core::{Sink, SinkError, StoredFinding};

pub struct AlertmanagerSink {
    name: String,
    url: String,
    resend: Duration,
    http: Http,
}

impl AlertmanagerSink {
    pub fn build(name: &str, base: &str, resend: Duration, http: Http) -> Self {
        AlertmanagerSink { name: name.into(), url: format!("{base}/api/v2/alerts"), resend, http }
    }
}

fn alert(f: &StoredFinding, ends_at: &str) -> serde_json::Value {
    let mut labels: serde_json::Map<String, serde_json::Value> =
        f.labels.iter().map(|(k, v)| (sanitize(k), serde_json::Value::String(v.clone()))).collect();
    for (k, v) in [
        ("alertname", f.kind.as_str()),
        ("monkey", &f.monkey),
        ("severity", f.severity.as_str()),
        ("account", &f.account),
        ("region", &f.region),
        ("resource", &f.resource),
        ("fingerprint", &f.fingerprint),
    ] {
        labels.insert(k.into(), serde_json::Value::String(v.to_string()));
    }
    serde_json::json!({
        "labels": labels,
        "annotations": {
            "summary": f.title,
            "details": f.details.to_string(),
        },
        "startsAt": f.first_seen,
        "endsAt": ends_at,
        "generatorURL": "",
    })
}

/// Alertmanager label names are `[a-zA-Z_][a-zA-Z0-9_]*`.
fn sanitize(k: &str) -> String {
    let mut s: String = k.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) || s.is_empty() {
        s.insert(0, '_');
    }
    s
}

/// The alerts of one notification (`Notification::at` is "now").
pub fn alerts(n: &Notification, resend: Duration) -> serde_json::Value {
    let firing_until = crate::rfc3339_ms(n.at + 4 * resend.as_millis() as i64);
    let now = crate::at(n);
    let mut out: Vec<serde_json::Value> = n.firing.iter().map(|f| alert(f, &firing_until)).collect();
    out.extend(n.resolved.iter().map(|f| alert(f, &now)));
    serde_json::Value::Array(out)
}

#[async_trait]
impl Sink for AlertmanagerSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "alertmanager"
    }

    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        let body = serde_json::to_vec(&alerts(n, self.resend)).map_err(|e| SinkError::Permanent(e.to_string()))?;
        outcome(&self.http.post(&self.url, &[("content-type", "application/json".into())], body).await?)
    }
}

#[cfg(test)]
mod tests;
