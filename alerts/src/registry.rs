use crate::http::Http;
use crate::sinks;
use std::time::Duration;

/// How long an HTTP sink waits for its receiver's answer.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
use std::sync::Arc;
use troop_config::{Alerts, SinkKind};
use troop_core::Sink;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("sink `{name}`: {reason}")]
    Invalid { name: String, reason: String },
}

/// Build every configured sink, in configuration order. With
/// `stdout_is_data` (the command prints JSON on stdout), `stdout` sinks write
/// to stderr instead so they never corrupt that output.
pub fn build(cfg: &Alerts, stdout_is_data: bool) -> Result<Vec<Arc<dyn Sink>>, BuildError> {
    let mut out: Vec<Arc<dyn Sink>> = Vec::new();
    // One HTTPS client (one pool, one read of the system's roots) for every HTTP sink.
    let mut shared: Option<Http> = None;
    for s in &cfg.sinks {
        let invalid = |reason: String| BuildError::Invalid { name: s.name.clone(), reason };
        let mut http = || -> Result<Http, BuildError> {
            if shared.is_none() {
                shared = Some(Http::new(HTTP_TIMEOUT).map_err(invalid)?);
            }
            Ok(shared.clone().expect("just set"))
        };
        let sink: Arc<dyn Sink> = match &s.kind {
            SinkKind::Stdout => Arc::new(sinks::stdout::StdoutSink::build(&s.name, stdout_is_data)),
            SinkKind::Jsonl { path } => Arc::new(sinks::jsonl::JsonlSink::build(&s.name, path).map_err(invalid)?),
            SinkKind::Webhook { url, secret } => {
                let url = url.resolve().map_err(|e| invalid(format!("url: {e}")))?;
                let key =
                    secret.as_ref().map(|k| k.resolve()).transpose().map_err(|e| invalid(format!("secret: {e}")))?;
                Arc::new(sinks::webhook::WebhookSink::build(&s.name, url, key, http()?))
            }
            SinkKind::Slack { url, template } => {
                let url = url.resolve().map_err(|e| invalid(format!("url: {e}")))?;
                Arc::new(sinks::slack::SlackSink::build(&s.name, url, template.as_deref(), http()?).map_err(invalid)?)
            }
            SinkKind::Pagerduty { routing_key, url } => {
                let key = routing_key.resolve().map_err(|e| invalid(format!("routing_key: {e}")))?;
                Arc::new(sinks::pagerduty::PagerDutySink::build(&s.name, url, key, http()?))
            }
            SinkKind::Alertmanager { url, resend_interval } => {
                Arc::new(sinks::alertmanager::AlertmanagerSink::build(&s.name, url, *resend_interval, http()?))
            }
            SinkKind::Smtp {
                server,
                security,
                ca_file,
                from,
                to,
                to_owners,
                fallback,
                username,
                password,
                subject_template,
                text_template,
                html_template,
            } => {
                let credentials = match (username, password) {
                    (Some(u), Some(p)) => {
                        Some((u.clone(), p.resolve().map_err(|e| invalid(format!("password: {e}")))?))
                    }
                    (Some(_), None) | (None, Some(_)) => {
                        return Err(invalid("`username` and `password` go together".into()));
                    }
                    (None, None) => None,
                };
                let settings = sinks::smtp::SmtpSettings {
                    server,
                    security: *security,
                    ca_file: ca_file.as_deref(),
                    from,
                    to,
                    to_owners: *to_owners,
                    fallback: fallback.as_deref(),
                    credentials,
                    subject_template: subject_template.as_deref(),
                    text_template: text_template.as_deref(),
                    html_template: html_template.as_deref(),
                };
                Arc::new(sinks::smtp::SmtpSink::build(&s.name, settings).map_err(invalid)?)
            }
            SinkKind::Command { command, timeout } => {
                Arc::new(sinks::command::CommandSink::build(&s.name, command, *timeout).map_err(invalid)?)
            }
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
    let repeat_caps = cfg
        .sinks
        .iter()
        .filter_map(|s| match &s.kind {
            troop_config::SinkKind::Alertmanager { resend_interval, .. } => Some((s.name.clone(), *resend_interval)),
            _ => None,
        })
        .collect();
    RouteTree {
        routes,
        default: Route::new("default", vec![], default_sinks, false, cfg.group_by.clone(), timing(None)),
        repeat_caps,
    }
}
