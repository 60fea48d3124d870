//! `type = "command"`: runs a program (no shell) with the notification JSON
//! on stdin: the remediation hook. Exit 0 is delivered; another exit status
//! is a permanent failure (recorded with its stderr); no exit within
//! `timeout` kills it and is retried.

use async_trait::async_trait;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use troop_core::alerting::Notification;
use troop_core::{Sink, SinkError};

pub struct CommandSink {
    name: String,
    argv: Vec<String>,
    timeout: Duration,
}

impl CommandSink {
    pub fn build(name: &str, argv: &[String], timeout: Duration) -> Result<Self, String> {
        if argv.is_empty() {
            return Err("no command".into());
        }
        Ok(CommandSink { name: name.into(), argv: argv.to_vec(), timeout })
    }
}

#[async_trait]
impl Sink for CommandSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "command"
    }

    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        let input =
            serde_json::to_vec(&crate::notification_json(n)).map_err(|e| SinkError::Permanent(e.to_string()))?;
        let mut child = tokio::process::Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SinkError::transient(format!("cannot run {}: {e}", self.argv[0])))?;
        let mut stdin = child.stdin.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let run = async {
            // a program that does not read its input is fine
            let _ = stdin.write_all(&input).await;
            drop(stdin);
            let mut err = Vec::new();
            let _ = stderr.read_to_end(&mut err).await;
            (child.wait().await, err)
        };
        match tokio::time::timeout(self.timeout, run).await {
            Err(_) => {
                Err(SinkError::transient(format!("{} did not finish within {:?}; killed", self.argv[0], self.timeout)))
            }
            Ok((Err(e), _)) => Err(SinkError::transient(format!("{}: {e}", self.argv[0]))),
            Ok((Ok(status), _)) if status.success() => Ok(()),
            Ok((Ok(status), err)) => {
                let err = String::from_utf8_lossy(&err);
                let err: String = err.trim().chars().take(500).collect();
                Err(SinkError::Permanent(format!("{} exited with {status}: {err}", self.argv[0])))
            }
        }
    }
}

#[cfg(test)]
mod tests;
