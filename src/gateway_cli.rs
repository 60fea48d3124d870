//! The alert-gateway verbs: `silence add|list|remove`, `alerts test|status`.

use crate::cli::{AlertsCommand, Format, SilenceAddArgs, SilenceCommand};
use crate::{Fail, output, runtime, usage};
use anyhow::anyhow;
use std::sync::Arc;
use time::OffsetDateTime;
use troop_core::alerting::{Matcher, Notification, Reason};
use troop_core::clock::rfc3339;
use troop_core::store::{AlertStore, SilenceRecord};
use troop_core::{FindingState, Severity, StoredFinding};

/// `findings` is the store's view of findings (for the label keys a
/// matcher may name).
pub fn silence(
    store: &dyn AlertStore,
    findings: &dyn troop_core::Store,
    cmd: &SilenceCommand,
    format: Format,
) -> Result<(), Fail> {
    match cmd {
        SilenceCommand::Add(a) => add(store, findings, a, format),
        SilenceCommand::List { all } => list(store, *all, format),
        SilenceCommand::Remove { id } => {
            if store.end_silence(id, &rfc3339(OffsetDateTime::now_utc())).map_err(runtime)? {
                eprintln!("silence {id} ended");
                Ok(())
            } else {
                Err(usage(anyhow!("no active silence with id {id} (see `troop silence list`)")))
            }
        }
    }
}

fn add(
    store: &dyn AlertStore,
    findings: &dyn troop_core::Store,
    a: &SilenceAddArgs,
    format: Format,
) -> Result<(), Fail> {
    let mut parsed = Vec::new();
    for m in &a.matchers {
        parsed.push(Matcher::parse(m).map_err(|e| usage(anyhow!("--match {m}: {e}")))?);
    }
    // A matcher on a key no finding carries silences nothing: say so, unless --force.
    if !a.force {
        let mut known: std::collections::BTreeSet<String> =
            troop_core::finding::ROUTING_LABELS.iter().map(|k| k.to_string()).collect();
        let all = troop_core::store::FindingFilter::default();
        for f in findings.findings(&all).map_err(runtime)? {
            known.extend(f.labels.keys().cloned());
        }
        if let Some(m) = parsed.iter().find(|m| !known.contains(&m.label)) {
            let list: Vec<&str> = known.iter().map(String::as_str).collect();
            return Err(usage(anyhow!(
                "--match {m}: no finding carries the label `{}`, so this silence would mute nothing \
                 (known label keys: {}); use --force to add it anyway",
                m.label,
                list.join(", ")
            )));
        }
    }
    let d = humantime::parse_duration(a.duration.trim())
        .map_err(|e| usage(anyhow!("--for {}: {e} (like 2h, 7d)", a.duration)))?;
    let now = OffsetDateTime::now_utc();
    let author = a.author.clone().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "unknown".into());
    if let Some(why) = troop_core::alerting::silence::too_broad(&parsed) {
        return Err(usage(anyhow!("--match: {why}")));
    }
    let rec = troop_core::alerting::silence::record(&parsed, d, &author, &a.reason, now)
        .map_err(|e| usage(anyhow!("--for {}: {e}", a.duration)))?;
    let id = rec.id.clone();
    store.add_silence(&rec).map_err(runtime)?;
    match format {
        Format::Json => output::print_json(&[rec]).map_err(Fail::Runtime)?,
        Format::Table => println!("{id}"),
    }
    Ok(())
}

fn list(store: &dyn AlertStore, all: bool, format: Format) -> Result<(), Fail> {
    let now = rfc3339(OffsetDateTime::now_utc());
    let rows: Vec<SilenceRecord> =
        store.silences().map_err(runtime)?.into_iter().filter(|s| all || s.ends_at > now).collect();
    output::list(
        format,
        &rows,
        &["ID", "STATE", "ENDS", "AUTHOR", "MATCHERS", "REASON"],
        |s| {
            vec![
                s.id.clone(),
                if s.ends_at > now { "active".into() } else { "expired".into() },
                s.ends_at.clone(),
                s.author.clone(),
                s.matchers.join(", "),
                s.reason.clone(),
            ]
        },
        "no silences",
    )
    .map_err(Fail::Runtime)
}

/// A notification that says it is a test, through the sink's real path.
fn test_notification(sink: &str) -> Notification {
    let now = OffsetDateTime::now_utc();
    let at = troop_core::alerting::millis(now);
    let finding = StoredFinding {
        fingerprint: "troop-test".into(),
        monkey: "troop".into(),
        kind: "test".into(),
        severity: Severity::Info,
        state: FindingState::Open,
        account: "-".into(),
        region: "-".into(),
        resource: "troop alerts test".into(),
        title: format!("Test notification from troop to sink {sink}: if you read this, delivery works."),
        details: serde_json::json!({"test": true}),
        labels: Default::default(),
        scope: "test".into(),
        first_seen: rfc3339(now),
        last_seen: rfc3339(now),
        resolved_at: None,
    };
    Notification {
        id: format!("test-{at}"),
        group_id: format!("test-{sink}"),
        sink: sink.to_string(),
        route: "test".into(),
        group_labels: [("monkey".to_string(), "troop".to_string())].into(),
        reason: Reason::First,
        status: "firing".into(),
        at,
        firing: vec![Arc::new(finding)],
        resolved: vec![],
        changed: vec!["troop-test".into()],
    }
}

pub async fn alerts(
    cfg: &troop_config::Config,
    store: troop_core::store::StoreHandle,
    cmd: &AlertsCommand,
    format: Format,
) -> Result<(), Fail> {
    match cmd {
        AlertsCommand::Test { sink } => {
            let sinks = troop_alerts::registry::build(&cfg.alerts, format == Format::Json).map_err(usage)?;
            let Some(s) = sinks.iter().find(|s| s.name() == sink) else {
                let known: Vec<&str> = sinks.iter().map(|s| s.name()).collect();
                return Err(usage(anyhow!("no sink named {sink} (configured: {})", known.join(", "))));
            };
            match s.send(&test_notification(sink)).await {
                Ok(()) => {
                    eprintln!("troop: test notification delivered to {sink} ({})", s.kind());
                    Ok(())
                }
                Err(e) => Err(Fail::Runtime(anyhow!("test notification to {sink} ({}) failed: {e}", s.kind()))),
            }
        }
        AlertsCommand::Status => {
            #[derive(serde::Serialize)]
            struct Row {
                #[serde(flatten)]
                stats: troop_core::store::OutboxStats,
                /// False for a sink the configuration dropped: its pending
                /// entries were marked failed when the gateway last started.
                configured: bool,
            }
            let stats = tokio::task::block_in_place(|| store.outbox_stats()).map_err(runtime)?;
            let mut rows: Vec<Row> = cfg
                .alerts
                .sinks
                .iter()
                .map(|s| Row {
                    stats: stats.iter().find(|x| x.sink == s.name).cloned().unwrap_or_else(|| {
                        troop_core::store::OutboxStats { sink: s.name.clone(), ..Default::default() }
                    }),
                    configured: true,
                })
                .collect();
            for st in stats {
                if !cfg.alerts.sinks.iter().any(|s| s.name == st.sink) {
                    rows.push(Row { stats: st, configured: false });
                }
            }
            output::list(
                format,
                &rows,
                &["SINK", "PENDING", "FAILED", "DELIVERED", "FAILED ATTEMPTS", "TASK RESTARTS", "LAST ERROR"],
                |Row { stats: s, configured }| {
                    vec![
                        if *configured { s.sink.clone() } else { format!("{} (not configured)", s.sink) },
                        s.pending.to_string(),
                        s.failed.to_string(),
                        s.delivered.to_string(),
                        s.failed_attempts.to_string(),
                        s.task_restarts.to_string(),
                        match (&s.last_error, &s.task_error) {
                            (Some(e), _) => e.clone(),
                            (None, Some(e)) => format!("delivery task died: {e}"),
                            (None, None) => String::new(),
                        },
                    ]
                },
                "",
            )
            .map_err(Fail::Runtime)
        }
    }
}
