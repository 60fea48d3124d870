//! `type = "pagerduty"`: Events API v2. A group that fires triggers (and
//! re-triggers, which PagerDuty dedups) with the group's id as `dedup_key`; a
//! group whose findings all resolved resolves that same key.

use crate::http::{Http, outcome};
use crate::template::{SUMMARY, Template};
use async_trait::async_trait;
use troop_core::alerting::Notification;
use troop_core::{Severity, Sink, SinkError};

pub struct PagerDutySink {
    name: String,
    url: String,
    routing_key: String,
    http: Http,
}

impl PagerDutySink {
    pub fn build(name: &str, url: &str, routing_key: String, http: Http) -> Self {
        PagerDutySink { name: name.into(), url: url.into(), routing_key, http }
    }
}

/// The Events API v2 body of one notification.
pub fn event(n: &Notification, routing_key: &str) -> Result<serde_json::Value, String> {
    if n.firing.is_empty() {
        return Ok(serde_json::json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": n.group_id}));
    }
    let worst = n.firing.iter().map(|f| f.severity).max().unwrap_or(Severity::Info);
    static TEMPLATE: std::sync::LazyLock<Template> =
        std::sync::LazyLock::new(|| Template::default_named("summary", SUMMARY));
    let summary: String = TEMPLATE.render(&crate::notification_json(n))?.chars().take(1024).collect();
    let first = &n.firing[0];
    Ok(serde_json::json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": n.group_id,
        "payload": {
            "summary": summary,
            "source": format!("{}/{}", first.account, first.region),
            "severity": worst.as_str(),
            "timestamp": crate::at(n),
            "component": first.resource,
            "group": first.monkey,
            "class": first.kind,
            "custom_details": {
                "reason": n.reason.as_str(),
                "group_labels": n.group_labels,
                "findings": n.firing.iter().map(|f| serde_json::json!({
                    "title": f.title, "severity": f.severity, "account": f.account, "region": f.region,
                    "resource": f.resource, "fingerprint": f.fingerprint, "details": f.details,
                })).collect::<Vec<_>>(),
            },
        },
    }))
}

#[async_trait]
impl Sink for PagerDutySink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "pagerduty"
    }

    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        let body = serde_json::to_vec(&event(n, &self.routing_key).map_err(SinkError::Permanent)?)
            .map_err(|e| SinkError::Permanent(e.to_string()))?;
        outcome(&self.http.post(&self.url, &[("content-type", "application/json".into())], body).await?)
    }
}

#[cfg(test)]
mod tests;
