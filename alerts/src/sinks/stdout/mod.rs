//! `type = "stdout"`: one human line per finding in a notification.

use async_trait::async_trait;
use std::io::Write;
use troop_core::alerting::{Notification, Reason};
use troop_core::{Sink, SinkError, StoredFinding};

pub struct StdoutSink {
    name: String,
    to_stderr: bool,
}

impl StdoutSink {
    pub fn build(name: &str, to_stderr: bool) -> Self {
        StdoutSink { name: name.to_string(), to_stderr }
    }
}

/// `[critical] first     security/sg-open-ingress 111/us-east-1 sg-1: title`
pub fn line(what: &str, f: &StoredFinding) -> String {
    format!(
        "[{}] {:<9} {}/{} {}/{} {}: {}",
        f.severity, what, f.monkey, f.kind, f.account, f.region, f.resource, f.title
    )
}

/// The lines of one notification: what it is about (the findings new to the
/// group or escalated, under its reason; every firing one for a repeat),
/// then what resolved. Findings the reader was already told about are not
/// repeated.
pub fn lines(n: &Notification) -> String {
    let mut text = String::new();
    for f in n.firing.iter().filter(|f| n.reason == Reason::Repeat || n.changed.contains(&f.fingerprint)) {
        text.push_str(&line(n.reason.as_str(), f));
        text.push('\n');
    }
    for f in &n.resolved {
        text.push_str(&line("resolved", f));
        text.push('\n');
    }
    text
}

#[async_trait]
impl Sink for StdoutSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "stdout"
    }

    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        let text = lines(n);
        let res = if self.to_stderr {
            let mut out = std::io::stderr().lock();
            out.write_all(text.as_bytes()).and_then(|_| out.flush())
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|_| out.flush())
        };
        res.map_err(|e| SinkError::transient(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
