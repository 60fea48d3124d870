use crate::sinks;
use std::sync::Arc;
use troop_config::{Alerts, SinkKind};
use troop_core::Sink;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("sink `{name}`: type `{kind}` is not available in this build yet")]
    NotAvailable { name: String, kind: &'static str },
    #[error("sink `{name}`: {reason}")]
    Invalid { name: String, reason: String },
}

/// Build every configured sink, in configuration order. With
/// `stdout_is_data` (the command prints JSON on stdout), `stdout` sinks write
/// to stderr instead so they never corrupt that output.
pub fn build(cfg: &Alerts, stdout_is_data: bool) -> Result<Vec<Arc<dyn Sink>>, BuildError> {
    let mut out: Vec<Arc<dyn Sink>> = Vec::new();
    for s in &cfg.sinks {
        let sink: Arc<dyn Sink> = match &s.kind {
            SinkKind::Stdout => Arc::new(sinks::stdout::StdoutSink::build(&s.name, stdout_is_data)),
            SinkKind::Jsonl { path } => Arc::new(
                sinks::jsonl::JsonlSink::build(&s.name, path)
                    .map_err(|reason| BuildError::Invalid { name: s.name.clone(), reason })?,
            ),
            other => return Err(BuildError::NotAvailable { name: s.name.clone(), kind: other.type_name() }),
        };
        out.push(sink);
    }
    Ok(out)
}
