//! `type = "jsonl"`: an append-only file, one JSON event per line. The file is
//! opened for each batch (so log rotation just works) and each batch is one
//! `write` of whole lines.

use async_trait::async_trait;
use std::io::Write;
use std::path::{Path, PathBuf};
use troop_core::{FindingEvent, Sink, SinkError};

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

    async fn send(&self, events: &[FindingEvent]) -> Result<(), SinkError> {
        let mut buf = Vec::new();
        for ev in events {
            serde_json::to_writer(&mut buf, &crate::event_json(&self.name, ev))
                .map_err(|e| SinkError::Permanent(e.to_string()))?;
            buf.push(b'\n');
        }
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || open(&path).and_then(|mut f| f.write_all(&buf)))
            .await
            .map_err(|e| SinkError::Transient(e.to_string()))?
            .map_err(|e| SinkError::Transient(format!("{}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests;
