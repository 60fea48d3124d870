//! The sink trait: where finding events leave troop.

use crate::finding::FindingEvent;
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying later (receiver down, 5xx, 429).
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help (bad request, rejected credentials).
    #[error("{0}")]
    Permanent(String),
}

#[async_trait]
pub trait Sink: Send + Sync {
    fn name(&self) -> &str;
    /// Deliver a batch of events, in order.
    async fn send(&self, events: &[FindingEvent]) -> Result<(), SinkError>;
}
