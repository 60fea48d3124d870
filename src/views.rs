//! The read-only verbs: findings, changes, history, diff. Each reads the
//! store and prints a table or JSON; the logic lives in troop-core.

use crate::cli::{ChangesArgs, DiffArgs, FindingsArgs, Format, HistoryArgs, StateArg, TimelineArgs};
use crate::output;
use crate::{Fail, runtime, usage};
use anyhow::anyhow;
use serde_json::json;
use troop_core::FindingState;
use troop_core::history;
use troop_core::store::{Revision, Store};

/// Findings; an open finding an active silence matches shows `silenced`.
pub fn findings(
    store: &dyn Store,
    alerts: &dyn troop_core::store::AlertStore,
    args: &FindingsArgs,
    posted_source: &str,
    format: Format,
) -> Result<(), Fail> {
    let state = match args.state {
        StateArg::Open => Some(FindingState::Open),
        StateArg::Silenced => Some(FindingState::Silenced),
        StateArg::Resolved => Some(FindingState::Resolved),
        StateArg::All => None,
    };
    if let Some(m) = &args.monkey {
        troop_core::known_name("monkey", m, &troop_core::finding_sources(posted_source))
            .map_err(|e| usage(anyhow!("--monkey: {e}")))?;
    }
    let now = troop_core::alerting::millis(time::OffsetDateTime::now_utc());
    let filter = troop_core::store::FindingFilter {
        state,
        monkey: args.monkey.clone(),
        min_severity: args.severity.map(troop_core::Severity::from),
        item: None,
    };
    let view = troop_core::alerting::silence::findings_view(store, alerts, filter, now).map_err(runtime)?;
    if format == Format::Json {
        let rows: Vec<serde_json::Value> =
            view.iter().map(|(f, by)| troop_core::alerting::silence::finding_json(f, by.as_deref())).collect();
        return output::print_json(&rows).map_err(Fail::Runtime);
    }
    let rows: Vec<Vec<String>> = view
        .iter()
        .map(|(f, _)| {
            vec![
                f.severity.to_string(),
                f.state.as_str().to_string(),
                f.monkey.clone(),
                f.kind.clone(),
                format!("{}/{}", f.account, f.region),
                f.resource.clone(),
                f.title.clone(),
            ]
        })
        .collect();
    print!("{}", output::table(&["SEVERITY", "STATE", "MONKEY", "KIND", "ACCOUNT/REGION", "RESOURCE", "TITLE"], &rows));
    if rows.is_empty() {
        eprintln!("no findings");
    }
    Ok(())
}

fn since(s: &str) -> Result<time::OffsetDateTime, Fail> {
    history::parse_since(s, time::OffsetDateTime::now_utc()).map_err(|e| usage(anyhow!("--since: {e}")))
}

pub fn changes(store: &dyn Store, args: &ChangesArgs, format: Format) -> Result<(), Fail> {
    let from = since(&args.since)?;
    let filter = troop_core::history::ChangeFilter::new(args.technology.clone(), args.account.clone())
        .map_err(|e| usage(anyhow!(e)))?;
    let mut revs = store.revisions_since(from).map_err(runtime)?;
    revs.retain(|r| filter.keeps(r));
    if format == Format::Json {
        return output::print_json(&revs).map_err(Fail::Runtime);
    }
    let rows: Vec<Vec<String>> = revs
        .iter()
        .map(|r| {
            vec![
                r.at.clone(),
                r.item.clone(),
                r.name.clone(),
                r.revision.to_string(),
                r.change.clone(),
                troop_core::history::who_text(r.who.as_ref()),
                r.summary.join("; "),
            ]
        })
        .collect();
    print!("{}", output::table(&["AT", "ITEM", "NAME", "REV", "CHANGE", "WHO", "SUMMARY"], &rows));
    if rows.is_empty() {
        eprintln!("no changes since {}", troop_core::clock::rfc3339(from));
    }
    Ok(())
}

/// `troop timeline`: security revisions, posted events and alert
/// transitions since `--since`, oldest first ([`troop_core::timeline`]).
pub fn timeline(store: &dyn Store, args: &TimelineArgs, format: Format) -> Result<(), Fail> {
    let from = since(&args.since)?;
    let filter = troop_core::timeline::Filter { source: args.source.clone(), kind: args.kind.clone() };
    let entries = troop_core::timeline::read(store, from, &filter).map_err(runtime)?;
    if format == Format::Json {
        return output::print_json(&entries).map_err(Fail::Runtime);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let by = match &e.what {
                troop_core::timeline::What::Revision { who: w, .. } => troop_core::history::who_text(w.as_ref()),
                _ => String::new(),
            };
            vec![
                e.at.clone(),
                e.kind.to_string(),
                e.source.clone(),
                e.resource.clone().unwrap_or_default(),
                by,
                e.summary.clone(),
            ]
        })
        .collect();
    print!("{}", output::table(&["AT", "KIND", "SOURCE", "RESOURCE", "WHO", "SUMMARY"], &rows));
    if rows.is_empty() {
        eprintln!("nothing happened since {}", troop_core::clock::rfc3339(from));
    }
    Ok(())
}

/// The one item id a user's words name.
pub fn resolve_item(store: &dyn Store, query: &str) -> Result<String, Fail> {
    let found = store.find_items(query).map_err(runtime)?;
    history::resolve_item(query, found).map_err(|e| usage(anyhow!(e)))
}

fn revision_json(r: &Revision) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["content"] = r.content.clone().unwrap_or(serde_json::Value::Null);
    v
}

pub fn history(store: &dyn Store, args: &HistoryArgs, format: Format) -> Result<(), Fail> {
    let item = resolve_item(store, &args.item)?;
    if let Some(at) = &args.at {
        let at_time = since(at)?;
        let state = store.state_at(&item, at_time).map_err(runtime)?;
        if format == Format::Json {
            let rows: Vec<serde_json::Value> = state.iter().map(revision_json).collect();
            return output::print_json(&rows).map_err(Fail::Runtime);
        }
        let when = troop_core::clock::rfc3339(at_time);
        match state {
            None => {
                // Before troop first read this technology in this account, it cannot know.
                let (technology, account) = troop_core::monkey::Snapshot::item_scope(&item);
                let first = store.first_observed(technology, account).map_err(runtime)?;
                match first {
                    Some(f) if f > at_time => println!(
                        "{item}: not observed before {}: troop first read {technology} in account {account} then, \
                         so what existed at {when} is unknown",
                        troop_core::clock::rfc3339(f)
                    ),
                    _ => println!("{item} did not exist at {when}"),
                }
            }
            Some(r) if r.content.is_none() => {
                println!("{item} at {when}: deleted (revision {}, {})", r.revision, r.at)
            }
            Some(r) => {
                println!("{item} at {when}: revision {} ({}, {})", r.revision, r.change, r.at);
                print!("{}", troop_core::canonical::to_pretty(r.content.as_ref().unwrap_or(&json!(null))));
            }
        }
        return Ok(());
    }
    let revs = store.history(&item).map_err(runtime)?;
    if format == Format::Json {
        let rows: Vec<serde_json::Value> = revs.iter().map(revision_json).collect();
        return output::print_json(&rows).map_err(Fail::Runtime);
    }
    let rows: Vec<Vec<String>> = revs
        .iter()
        .map(|r| vec![r.revision.to_string(), r.at.clone(), r.change.clone(), r.summary.join("; ")])
        .collect();
    println!("{item}");
    print!("{}", output::table(&["REV", "AT", "CHANGE", "SUMMARY"], &rows));
    Ok(())
}

pub fn diff(store: &dyn Store, args: &DiffArgs, format: Format) -> Result<(), Fail> {
    let item = resolve_item(store, &args.item)?;
    let revs = store.history(&item).map_err(runtime)?;
    let view = history::diff_view(&revs, args.from, args.to).map_err(|e| usage(anyhow!(e)))?;
    if format == Format::Json {
        return output::print_json(&view.rows()).map_err(Fail::Runtime);
    }
    let from = match &view.from {
        Some(f) => format!("revision {} ({})", f.revision, f.at),
        None => "nothing".into(),
    };
    println!("{} ({})", view.item, view.name);
    println!("{from} → revision {} ({}, {})", view.to.revision, view.to.change, view.to.at);
    for s in &view.summary {
        println!("  • {s}");
    }
    if !view.diff.is_empty() {
        println!();
        for line in view.diff.lines() {
            println!("{}", output::diff_line(line));
        }
    }
    Ok(())
}

pub fn certs(store: &dyn Store, format: Format) -> Result<(), Fail> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let rows = troop_core::certs::rows_as_of(store.observations("cert").map_err(runtime)?, now)
        .map_err(|e| Fail::Runtime(anyhow::anyhow!("a stored certificate row is unreadable: {e}")))?;
    if format == Format::Json {
        return output::print_json(&rows).map_err(Fail::Runtime);
    }
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                or_dash(r.days_left.map(|d| d.to_string())),
                or_dash(r.not_after.clone()),
                r.host.clone(),
                or_dash(r.place()),
                r.source.clone(),
                if r.problems.is_empty() { "-".into() } else { r.problems.join(",") },
                or_dash(r.error.clone().or_else(|| r.subject.clone())),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(&["DAYS", "NOT AFTER", "HOST", "WHERE", "SOURCE", "PROBLEMS", "SUBJECT / ERROR"], &table)
    );
    if rows.is_empty() {
        eprintln!(
            "no certificates observed yet: configure [monkeys.certs] endpoints and run `troop scan --monkey certs`"
        );
    }
    Ok(())
}

/// A 20-character usage bar: `[#######.............]`.
fn bar(ratio: f64) -> String {
    let filled = ((ratio.clamp(0.0, 1.0)) * 20.0).round() as usize;
    format!("[{}{}]", "#".repeat(filled), ".".repeat(20 - filled))
}

pub fn limits(store: &dyn Store, format: Format) -> Result<(), Fail> {
    let rows = troop_core::limits::rows(store.observations("quota").map_err(runtime)?)
        .map_err(|e| Fail::Runtime(anyhow::anyhow!("a stored quota row is unreadable: {e}")))?;
    if format == Format::Json {
        return output::print_json(&rows).map_err(Fail::Runtime);
    }
    let num = |v: Option<f64>| match v {
        Some(n) => troop_core::limits::fmt_num(n),
        None => "?".into(),
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let usage = match r.ratio {
                Some(ratio) => format!("{} {:>3.0}%", bar(ratio), ratio * 100.0),
                None => format!("unknown: {}", r.unknown_reason.as_deref().unwrap_or("?")),
            };
            vec![
                usage,
                format!("{}/{}", num(r.usage), num(r.limit)),
                r.limit_source.map(|s| s.as_str().to_string()).unwrap_or_else(|| "-".into()),
                format!("{}/{}", r.key.account, r.key.region),
                r.key.id(),
                r.key.resource.clone().unwrap_or_else(|| "-".into()),
                r.key.quota_name.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(&["USAGE", "USED/LIMIT", "SOURCE", "ACCOUNT/REGION", "QUOTA", "RESOURCE", "NAME"], &table)
    );
    if rows.is_empty() {
        eprintln!("no quotas evaluated yet: run `troop scan --monkey limits`");
    }
    Ok(())
}

/// `troop status`: the replicas alive, then each shard with its holder, last
/// success and lag (JSON: the shard rows, as `/api/v1/status`).
pub fn status(store: &dyn troop_core::store::Backend, format: Format) -> Result<(), Fail> {
    let now = time::OffsetDateTime::now_utc();
    let records = store.shard_records(now).map_err(runtime)?;
    let rows = troop_core::status::rows(&records, now.unix_timestamp());
    if format == Format::Json {
        return output::print_json(&rows).map_err(Fail::Runtime);
    }
    let since = troop_core::alerting::millis(now - troop_core::status::REPLICA_TIMEOUT);
    let replicas: Vec<troop_core::status::ReplicaRow> =
        store.replicas(since).map_err(runtime)?.iter().map(Into::into).collect();
    let table: Vec<Vec<String>> = replicas
        .iter()
        .map(|r| vec![r.replica.clone(), r.host.clone(), r.version.clone(), r.started_at.clone(), r.seen_at.clone()])
        .collect();
    println!("REPLICAS ALIVE: {}", replicas.len());
    if !table.is_empty() {
        print!("{}", output::table(&["REPLICA", "HOST", "VERSION", "STARTED", "LAST SEEN"], &table));
    }
    println!();
    let dash = || "-".to_string();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.shard.clone(),
                r.holder.clone().unwrap_or_else(dash),
                r.last_success.clone().unwrap_or_else(|| "never".into()),
                r.lag_seconds
                    .map(|s| humantime::format_duration(std::time::Duration::from_secs(s as u64)).to_string())
                    .unwrap_or_else(dash),
                r.last_holder.clone().unwrap_or_else(dash),
            ]
        })
        .collect();
    print!("{}", output::table(&["SHARD", "HOLDER", "LAST SUCCESS", "LAG", "LAST HOLDER"], &table));
    if rows.is_empty() {
        eprintln!("no shard has been read yet: run `troop scan` (or `troop run`)");
    }
    Ok(())
}
