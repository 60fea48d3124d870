//! `type = "jsonl"`: an append-only file, one JSON notification per line. The
//! file is opened for each notification (so log rotation just works) and each
//! line is one `write`.

use async_trait::async_trait;
use std::io::Write;
use std::path::{Path, PathBuf};
use troop_core::alerting::Notification;
use troop_core::{Sink, SinkError};

pub struct JsonlSink {
    name: String,
    path: PathBuf,
}

impl JsonlSink {
    /// Fails when the file cannot be opened for appending.
    pub fn build(name: &str, path: &Path) -> Result<Self, String> {
        open(path).map_err(|e| format!("cannot append to {}: {e}", path.display()))?;
        Ok(JsonlSink { name: name.to_string(), path: path.to_path_buf() })
    }
}

fn open(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}

#[async_trait]
impl Sink for JsonlSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "jsonl"
    }

    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        let mut buf =
            serde_json::to_vec(&crate::notification_json(n)).map_err(|e| SinkError::Permanent(e.to_string()))?;
        buf.push(b'\n');
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || open(&path).and_then(|mut f| f.write_all(&buf)))
            .await
            .map_err(|e| SinkError::transient(e.to_string()))?
            .map_err(|e| SinkError::transient(format!("{}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests;
