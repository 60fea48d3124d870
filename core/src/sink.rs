//! The sink trait: where notifications leave troop.

use crate::alerting::Notification;
use async_trait::async_trait;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying later (receiver down, 5xx, 429); `retry_after` when the
    /// receiver said how long to wait.
    #[error("{message}")]
    Transient { message: String, retry_after: Option<Duration> },
    /// Retrying will not help (bad request, rejected credentials): recorded
    /// as failed and not retried.
    #[error("{0}")]
    Permanent(String),
}

impl SinkError {
    pub fn transient(message: impl Into<String>) -> SinkError {
        SinkError::Transient { message: message.into(), retry_after: None }
    }
}

#[async_trait]
pub trait Sink: Send + Sync {
    fn name(&self) -> &str;
    /// The sink's type (`stdout`, `webhook`, ...).
    fn kind(&self) -> &'static str;
    /// Deliver one notification. A group's notifications are sent in order,
    /// one at a time; notifications of different groups may be sent at once
    /// (up to the gateway's `PARALLEL_GROUPS`), so `send` takes `&self`.
    async fn send(&self, n: &Notification) -> Result<(), SinkError>;
}
