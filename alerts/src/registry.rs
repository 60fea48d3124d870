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
        let invalid = |reason: String| BuildError::Invalid { name: s.name.clone(), reason };
        let sink: Arc<dyn Sink> = match &s.kind {
            SinkKind::Stdout => Arc::new(sinks::stdout::StdoutSink::build(&s.name, stdout_is_data)),
            SinkKind::Jsonl { path } => Arc::new(sinks::jsonl::JsonlSink::build(&s.name, path).map_err(invalid)?),
            SinkKind::Webhook { url, secret } => {
                let url = url.resolve().map_err(|e| invalid(format!("url: {e}")))?;
                let key =
                    secret.as_ref().map(|k| k.resolve()).transpose().map_err(|e| invalid(format!("secret: {e}")))?;
                Arc::new(sinks::webhook::WebhookSink::build(&s.name, url, key).map_err(invalid)?)
            }
            other => return Err(BuildError::NotAvailable { name: s.name.clone(), kind: other.type_name() }),
        };
        out.push(sink);
    }
    Ok(out)
}

/// The routing tree the configuration describes.
pub fn route_tree(cfg: &Alerts) -> troop_core::alerting::RouteTree {
    use troop_core::alerting::{Route, RouteTree, Timing};
    let timing = |r: Option<&troop_config::RouteConfig>| Timing {
        group_wait: r.and_then(|r| r.group_wait).unwrap_or(cfg.timing.group_wait),
        group_interval: r.and_then(|r| r.group_interval).unwrap_or(cfg.timing.group_interval),
        repeat_interval: r.and_then(|r| r.repeat_interval).unwrap_or(cfg.timing.repeat_interval),
        send_resolved: r.and_then(|r| r.send_resolved).unwrap_or(cfg.timing.send_resolved),
    };
    let routes = cfg
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Route::new(
                &format!("routes[{i}]"),
                r.matchers.clone(),
                r.sinks.clone(),
                r.continue_,
                r.group_by.clone().unwrap_or_else(|| cfg.group_by.clone()),
                timing(Some(r)),
            )
        })
        .collect();
    let default_sinks = cfg.default_sinks.clone().unwrap_or_else(|| {
        if cfg.routes.is_empty() { cfg.sinks.iter().map(|s| s.name.clone()).collect() } else { vec![] }
    });
    RouteTree {
        routes,
        default: Route::new("default", vec![], default_sinks, false, cfg.group_by.clone(), timing(None)),
    }
}
