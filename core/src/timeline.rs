//! The change log any process can post to, and the timeline: "what happened
//! in the last hour?" in one time-ordered answer (Netflix's Chronos).
//!
//! A change event (`POST /api/v1/events`) says that something changed:
//! `source` (who says so: `ci`, `spinnaker`), `type` (`deployment`,
//! `config`, `ab-test`, `security`, …), `summary`, optionally `resource`,
//! `account`, `labels`, `at` (default: when received) and `id`, the key that
//! makes a retry idempotent per source. CloudEvents 1.0 in structured mode
//! (<https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md>) is
//! taken too: `source`, `type`, `id`, `time` → `at`, `subject` → `resource`,
//! `data.summary` (or `data` when it is a string) → `summary`, and the
//! extension attributes `account` and `labels`.
//!
//! The timeline merges three kinds ([`Entry`]): security revisions (with who
//! made them), posted events, and alert transitions (opened, escalated,
//! de-escalated, resolved: the alert log's events but `still_open`, which
//! the store keeps after the gateway consumed the log), oldest first.

use crate::alerting::posted::FieldError;
use crate::finding::{EventKind, FindingEvent};
use crate::store::Revision;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A change event as stored. `at` is when it happened (RFC 3339).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeEvent {
    pub source: String,
    /// Idempotency key per source; `None`: every post is a new event.
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub summary: String,
    pub resource: Option<String>,
    pub account: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub at: String,
}

/// The longest a field may be (bytes): `source`, `type`, `id`, `resource`,
/// `account`, a label name or value; `summary`.
pub const MAX_FIELD: usize = 256;
pub const MAX_SUMMARY: usize = 4096;

fn bad(field: impl Into<String>, why: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), why: why.into() }
}

fn opt_text(v: &Value, key: &str, field: &str) -> Result<Option<String>, FieldError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > MAX_FIELD => Err(bad(field, format!("is longer than {MAX_FIELD} bytes"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(field, "must be a string")),
    }
}

fn text(v: &Value, key: &str, field: &str) -> Result<String, FieldError> {
    opt_text(v, key, field)?.ok_or_else(|| bad(field, "is required"))
}

/// Parse a `POST /api/v1/events` body received at `now`; CloudEvents
/// structured mode when `cloudevents` (content type
/// `application/cloudevents+json`) or the body has `specversion`. Errors
/// name the field.
pub fn parse_event(body: &[u8], cloudevents: bool, now: OffsetDateTime) -> Result<ChangeEvent, FieldError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| bad("body", format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(bad("body", "must be a JSON object (one event)"));
    }
    let cloud = cloudevents || v.get("specversion").is_some();
    let (at_key, resource_key) = if cloud { ("time", "subject") } else { ("at", "resource") };
    if cloud {
        match v.get("specversion").and_then(Value::as_str) {
            Some(s) if s.starts_with("1.") => {}
            _ => return Err(bad("specversion", "must be \"1.0\" (CloudEvents 1.x)")),
        }
    }
    let source = text(&v, "source", "source")?;
    let kind = text(&v, "type", "type")?;
    let id = opt_text(&v, "id", "id")?;
    let summary = if cloud {
        match v.get("data") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(d @ Value::Object(_)) => opt_summary(d, "data.summary")?,
            _ => None,
        }
        .ok_or_else(|| bad("data.summary", "is required (or `data` as a string)"))?
    } else {
        opt_summary(&v, "summary")?.ok_or_else(|| bad("summary", "is required"))?
    };
    let at = match v.get(at_key) {
        None | Some(Value::Null) => now,
        Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|e| bad(at_key, format!("`{s}` is not an RFC 3339 time ({e})")))?,
        Some(_) => return Err(bad(at_key, "must be an RFC 3339 time string")),
    };
    let mut labels = BTreeMap::new();
    match v.get("labels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, val) in m {
                let Value::String(s) = val else { return Err(bad(format!("labels.{k}"), "must be a string")) };
                if k.is_empty() || k.len() > MAX_FIELD || s.len() > MAX_FIELD {
                    return Err(bad(format!("labels.{k}"), format!("names and values are 1 to {MAX_FIELD} bytes")));
                }
                labels.insert(k.clone(), s.clone());
            }
        }
        Some(_) => return Err(bad("labels", "must be an object of strings")),
    }
    Ok(ChangeEvent {
        source,
        id,
        kind,
        summary,
        resource: opt_text(&v, resource_key, resource_key)?,
        account: opt_text(&v, "account", "account")?,
        labels,
        at: crate::clock::rfc3339(at),
    })
}

fn opt_summary(v: &Value, field: &str) -> Result<Option<String>, FieldError> {
    match v.get("summary") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > MAX_SUMMARY => {
            Err(bad(field, format!("is longer than {MAX_SUMMARY} bytes")))
        }
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(field, "must be a string")),
    }
}

/// One line of the timeline (`troop timeline --format json`,
/// `/api/v1/timeline`): SPEC's fields, then those of what it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub at: String,
    /// `revision`, `event` or `alert`.
    pub kind: &'static str,
    /// The monkey (revisions, alerts) or the posting source (events).
    pub source: String,
    pub summary: String,
    pub resource: Option<String>,
    pub account: Option<String>,
    #[serde(flatten)]
    pub what: What,
}

/// The fields of what an [`Entry`] is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum What {
    Revision {
        item: String,
        revision: i64,
        technology: String,
        change: String,
        who: Option<Value>,
    },
    Event {
        #[serde(rename = "type")]
        kind: String,
        id: Option<String>,
        labels: BTreeMap<String, String>,
    },
    Alert {
        fingerprint: String,
        transition: &'static str,
        severity: crate::finding::Severity,
    },
}

/// What a timeline keeps besides its window: `source` (every kind), and
/// `type` (events of that type only).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub source: Option<String>,
    pub kind: Option<String>,
}

/// The word of an alert transition; `None` for `still_open`, which is not one.
pub fn transition_word(e: EventKind) -> Option<&'static str> {
    match e {
        EventKind::Opened => Some("opened"),
        EventKind::SeverityUp => Some("escalated"),
        EventKind::SeverityDown => Some("de-escalated"),
        EventKind::Resolved => Some("resolved"),
        EventKind::StillOpen => None,
    }
}

/// Unix seconds of an RFC 3339 time (how stores keep them); 0 when it
/// does not parse.
pub fn unix_seconds(at: &str) -> i64 {
    OffsetDateTime::parse(at, &Rfc3339).map(OffsetDateTime::unix_timestamp).unwrap_or(0)
}

fn unix_ms(at: &str) -> i128 {
    OffsetDateTime::parse(at, &Rfc3339).map(|t| t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// The timeline of `revisions` (as `revisions_since` gives them, the
/// security monkey's), `events` and `transitions`, oldest first; at the same
/// time revisions come before events and events before alerts (a change,
/// then what was said about it, then what it set off). `security` is the
/// monkey revisions belong to.
pub fn merge(
    revisions: &[Revision],
    events: &[ChangeEvent],
    transitions: &[FindingEvent],
    filter: &Filter,
) -> Vec<Entry> {
    let mut out: Vec<(i128, u8, Entry)> = Vec::new();
    let keep = |source: &str| filter.source.as_deref().is_none_or(|s| s == source);
    if filter.kind.is_none() {
        for r in revisions.iter().filter(|_| keep(crate::security::MONKEY)) {
            // the reviewer's sentences, named by the item unless they name it
            let summary = match r.summary.join("; ") {
                s if s.is_empty() => format!("{} {}", r.name, r.change),
                s if s.contains(&r.name) => s,
                s => format!("{}: {s}", r.name),
            };
            out.push((
                unix_ms(&r.at),
                0,
                Entry {
                    at: r.at.clone(),
                    kind: "revision",
                    source: crate::security::MONKEY.to_string(),
                    summary,
                    resource: Some(r.name.clone()),
                    account: Some(r.account.clone()),
                    what: What::Revision {
                        item: r.item.clone(),
                        revision: r.revision,
                        technology: r.technology.clone(),
                        change: r.change.clone(),
                        who: r.who.clone(),
                    },
                },
            ));
        }
        for t in transitions.iter().filter(|t| keep(&t.finding.monkey)) {
            let Some(word) = transition_word(t.event) else { continue };
            let f = &t.finding;
            out.push((
                unix_ms(&t.at),
                2,
                Entry {
                    at: t.at.clone(),
                    kind: "alert",
                    source: f.monkey.clone(),
                    summary: format!("{word} ({}): {}", f.severity.as_str(), f.title),
                    resource: Some(f.resource.clone()).filter(|r| !r.is_empty()),
                    account: Some(f.account.clone()).filter(|a| !a.is_empty()),
                    what: What::Alert { fingerprint: f.fingerprint.clone(), transition: word, severity: f.severity },
                },
            ));
        }
    }
    for e in events.iter().filter(|e| keep(&e.source) && filter.kind.as_deref().is_none_or(|k| k == e.kind)) {
        out.push((
            unix_ms(&e.at),
            1,
            Entry {
                at: e.at.clone(),
                kind: "event",
                source: e.source.clone(),
                summary: e.summary.clone(),
                resource: e.resource.clone(),
                account: e.account.clone(),
                what: What::Event { kind: e.kind.clone(), id: e.id.clone(), labels: e.labels.clone() },
            },
        ));
    }
    // stable: within one kind and time, the order given (the store's)
    out.sort_by_key(|(at, rank, _)| (*at, *rank));
    out.into_iter().map(|(_, _, e)| e).collect()
}

/// The timeline since `since` from `store`: what `troop timeline` and
/// `/api/v1/timeline` show (one query per kind, merged by [`merge`]).
pub fn read(store: &dyn crate::Store, since: OffsetDateTime, filter: &Filter) -> Result<Vec<Entry>, crate::StoreError> {
    let (revisions, transitions) = if filter.kind.is_some() {
        (Vec::new(), Vec::new())
    } else {
        (store.revisions_since(since)?, store.transitions_since(since)?)
    };
    Ok(merge(&revisions, &store.events_since(since)?, &transitions, filter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::StoredFinding;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 10:00 UTC);

    #[test]
    fn events_are_taken_plain_or_as_cloudevents() {
        let plain = parse_event(
            br#"{"source": "ci", "type": "deployment", "summary": "shop 1.4.2 to prod", "id": "run-981",
                 "resource": "shop", "account": "123456789012", "labels": {"env": "prod"}, "at": "2026-11-30T09:58:00+01:00"}"#,
            false,
            NOW,
        )
        .unwrap();
        assert_eq!(plain.at, "2026-11-30T08:58:00Z");
        assert_eq!((plain.id.as_deref(), plain.resource.as_deref()), (Some("run-981"), Some("shop")));
        assert_eq!(plain.labels["env"], "prod");
        let bare = parse_event(br#"{"source": "ci", "type": "config", "summary": "x"}"#, false, NOW).unwrap();
        assert_eq!((bare.at.as_str(), bare.id.clone()), ("2026-11-30T10:00:00Z", None));
        let cloud = parse_event(
            br#"{"specversion": "1.0", "id": "e-1", "source": "spinnaker", "type": "deployment",
                 "time": "2026-11-30T09:00:00Z", "subject": "shop", "account": "123456789012",
                 "data": {"summary": "shop canary at 10%"}}"#,
            true,
            NOW,
        )
        .unwrap();
        assert_eq!(
            (cloud.source.as_str(), cloud.summary.as_str(), cloud.resource.as_deref(), cloud.at.as_str()),
            ("spinnaker", "shop canary at 10%", Some("shop"), "2026-11-30T09:00:00Z")
        );
        let text = parse_event(
            br#"{"specversion": "1.0", "id": "e-2", "source": "s", "type": "t", "data": "flag on"}"#,
            false,
            NOW,
        )
        .unwrap();
        assert_eq!(text.summary, "flag on");
    }

    #[test]
    fn bad_events_name_their_field() {
        let long = "x".repeat(MAX_FIELD + 1);
        // (body, cloudevents, field)
        let cases: Vec<(String, bool, &str)> = vec![
            ("[]".into(), false, "body"),
            (r#"{"type": "t", "summary": "s"}"#.into(), false, "source"),
            (r#"{"source": "", "type": "t", "summary": "s"}"#.into(), false, "source"),
            (r#"{"source": "c", "summary": "s"}"#.into(), false, "type"),
            (r#"{"source": "c", "type": "t"}"#.into(), false, "summary"),
            (r#"{"source": "c", "type": "t", "summary": 3}"#.into(), false, "summary"),
            (r#"{"source": "c", "type": "t", "summary": "s", "at": "noon"}"#.into(), false, "at"),
            (r#"{"source": "c", "type": "t", "summary": "s", "labels": {"a": 1}}"#.into(), false, "labels.a"),
            (r#"{"source": "c", "type": "t", "summary": "s", "labels": []}"#.into(), false, "labels"),
            (format!(r#"{{"source": "{long}", "type": "t", "summary": "s"}}"#), false, "source"),
            (r#"{"source": "c", "type": "t", "summary": "s", "id": 5}"#.into(), false, "id"),
            (r#"{"specversion": "0.3", "source": "c", "type": "t", "data": "s"}"#.into(), false, "specversion"),
            (r#"{"id": "1", "source": "c", "type": "t"}"#.into(), true, "specversion"),
            (r#"{"specversion": "1.0", "source": "c", "type": "t", "data": {}}"#.into(), true, "data.summary"),
            (r#"{"specversion": "1.0", "source": "c", "type": "t", "data": "s", "time": 1}"#.into(), true, "time"),
        ];
        for (body, cloud, field) in cases {
            let e = parse_event(body.as_bytes(), cloud, NOW).expect_err(&body);
            assert_eq!(e.field, field, "{body}: {e}");
        }
    }

    fn finding(monkey: &str) -> StoredFinding {
        StoredFinding {
            fingerprint: "f1".into(),
            monkey: monkey.into(),
            kind: "sg-open-ingress".into(),
            severity: crate::finding::Severity::Critical,
            state: crate::finding::FindingState::Open,
            account: "111".into(),
            region: "us-east-1".into(),
            resource: "sg-1".into(),
            title: "sg-1 open to the world on tcp/22".into(),
            details: serde_json::json!({}),
            labels: BTreeMap::new(),
            scope: "ec2:security-group".into(),
            first_seen: "2026-11-30T09:10:00Z".into(),
            last_seen: "2026-11-30T09:10:00Z".into(),
            resolved_at: None,
        }
    }

    #[test]
    fn the_timeline_is_one_time_ordered_list_of_three_kinds() {
        let revision = Revision {
            item: "ec2:security-group/111/us-east-1/sg-1".into(),
            technology: "ec2:security-group".into(),
            account: "111".into(),
            region: "us-east-1".into(),
            name: "sg-1".into(),
            revision: 2,
            change: "modified".into(),
            at: "2026-11-30T09:10:00Z".into(),
            summary: vec!["ingress tcp/22 from 0.0.0.0/0 added".into()],
            content: None,
            who: Some(serde_json::json!({"user": "arn:aws:iam::111:user/ana"})),
        };
        let event = |at: &str, source: &str, kind: &str| ChangeEvent {
            source: source.into(),
            id: None,
            kind: kind.into(),
            summary: format!("{kind} by {source}"),
            resource: None,
            account: None,
            labels: BTreeMap::new(),
            at: at.into(),
        };
        let events = [
            event("2026-11-30T09:12:00Z", "ci", "deployment"),
            event("2026-11-30T09:05:00Z", "ci", "config"),
            event("2026-11-30T09:10:00Z", "spinnaker", "deployment"),
        ];
        let transitions = [
            FindingEvent { at: "2026-11-30T09:10:00Z".into(), event: EventKind::Opened, finding: finding("security") },
            FindingEvent {
                at: "2026-11-30T09:11:00Z".into(),
                event: EventKind::StillOpen,
                finding: finding("security"),
            },
            FindingEvent {
                at: "2026-11-30T09:20:00Z".into(),
                event: EventKind::Resolved,
                finding: finding("security"),
            },
        ];
        let all = merge(std::slice::from_ref(&revision), &events, &transitions, &Filter::default());
        let got: Vec<(&str, &str, &str)> = all.iter().map(|e| (e.at.as_str(), e.kind, e.source.as_str())).collect();
        assert_eq!(
            got,
            [
                ("2026-11-30T09:05:00Z", "event", "ci"),
                ("2026-11-30T09:10:00Z", "revision", "security"),
                ("2026-11-30T09:10:00Z", "event", "spinnaker"),
                ("2026-11-30T09:10:00Z", "alert", "security"),
                ("2026-11-30T09:12:00Z", "event", "ci"),
                ("2026-11-30T09:20:00Z", "alert", "security"),
            ]
        );
        assert_eq!(all[1].summary, "sg-1: ingress tcp/22 from 0.0.0.0/0 added");
        let json = serde_json::to_value(&all[1]).unwrap();
        assert_eq!(json["who"]["user"], "arn:aws:iam::111:user/ana");
        assert_eq!(json["item"], "ec2:security-group/111/us-east-1/sg-1");
        let alert = serde_json::to_value(&all[3]).unwrap();
        assert_eq!((alert["transition"].as_str(), alert["fingerprint"].as_str()), (Some("opened"), Some("f1")));
        assert_eq!(serde_json::to_value(&all[0]).unwrap()["type"], "config");
        // filters: a source keeps its own lines; a type keeps events of it
        let ci = merge(
            std::slice::from_ref(&revision),
            &events,
            &transitions,
            &Filter { source: Some("ci".into()), kind: None },
        );
        assert!(ci.iter().all(|e| e.source == "ci") && ci.len() == 2);
        let deploys =
            merge(&[revision], &events, &transitions, &Filter { source: None, kind: Some("deployment".into()) });
        assert_eq!(deploys.iter().map(|e| e.kind).collect::<Vec<_>>(), ["event", "event"]);
    }
}
