//! `type = "slack"`: an incoming webhook with Block Kit: a header, a section
//! per finding (the message template, mrkdwn), and a context line. Every
//! string from a finding is escaped for Slack (`&`, `<`, `>`), so a resource
//! name cannot ping a channel or forge a link.

use crate::http::{Http, outcome};
use crate::template::{SLACK, Template};
use async_trait::async_trait;
use std::path::Path;
use troop_core::alerting::Notification;
use troop_core::{Sink, SinkError};

pub struct SlackSink {
    name: String,
    url: String,
    template: Template,
    http: Http,
}

impl SlackSink {
    pub fn build(name: &str, url: String, template: Option<&Path>, http: Http) -> Result<Self, String> {
        Ok(SlackSink { name: name.into(), url, template: Template::or_file(template, "slack", SLACK)?, http })
    }
}

/// Slack's three control characters.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn escape_all(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) => serde_json::Value::String(escape(s)),
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(escape_all).collect()),
        serde_json::Value::Object(o) => {
            serde_json::Value::Object(o.iter().map(|(k, v)| (k.clone(), escape_all(v))).collect())
        }
        other => other.clone(),
    }
}

/// The Block Kit message of one notification.
pub fn message(n: &Notification, template: &Template) -> Result<serde_json::Value, String> {
    let ctx = escape_all(&crate::notification_json(n));
    let body = template.render(&ctx)?;
    let head = format!(
        "{} {}: {} firing{}",
        if n.status == "firing" { ":rotating_light:" } else { ":white_check_mark:" },
        n.reason.as_str(),
        n.firing.len(),
        if n.resolved.is_empty() { String::new() } else { format!(", {} resolved", n.resolved.len()) }
    );
    let group: Vec<String> =
        n.group_labels.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", escape(v))).collect();
    // Slack caps a section's text at 3000 characters
    let text: String = body.chars().take(2900).collect();
    Ok(serde_json::json!({
        "text": format!("{head} {}", group.join(" ")),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": head.chars().take(150).collect::<String>()}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("troop · {} · {}", group.join(" "), crate::at(n))}]},
        ],
    }))
}

#[async_trait]
impl Sink for SlackSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "slack"
    }

    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        let msg = message(n, &self.template).map_err(SinkError::Permanent)?;
        let body = serde_json::to_vec(&msg).map_err(|e| SinkError::Permanent(e.to_string()))?;
        outcome(&self.http.post(&self.url, &[("content-type", "application/json".into())], body).await?)
    }
}

#[cfg(test)]
mod tests;
