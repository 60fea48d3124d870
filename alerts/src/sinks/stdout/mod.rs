//! `type = "stdout"`: one human line per event.

use async_trait::async_trait;
use std::io::Write;
use troop_core::{FindingEvent, Sink, SinkError};

pub struct StdoutSink {
    name: String,
    to_stderr: bool,
}

impl StdoutSink {
    pub fn build(name: &str, to_stderr: bool) -> Self {
        StdoutSink { name: name.to_string(), to_stderr }
    }
}

/// `[critical] opened  security/sg-open-ingress 111/us-east-1 sg-1: title`
pub fn line(ev: &FindingEvent) -> String {
    let f = &ev.finding;
    format!(
        "[{}] {:<13} {}/{} {}/{} {}: {}",
        f.severity,
        ev.event.as_str(),
        f.monkey,
        f.kind,
        f.account,
        f.region,
        f.resource,
        f.title
    )
}

#[async_trait]
impl Sink for StdoutSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, events: &[FindingEvent]) -> Result<(), SinkError> {
        let mut text = String::new();
        for ev in events {
            text.push_str(&line(ev));
            text.push('\n');
        }
        let res = if self.to_stderr {
            let mut out = std::io::stderr().lock();
            out.write_all(text.as_bytes()).and_then(|_| out.flush())
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|_| out.flush())
        };
        res.map_err(|e| SinkError::Transient(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
