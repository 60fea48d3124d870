//! Who made a change: CloudTrail LookupEvents, within the window between the
//! previous revision and this one. Read-only calls are ignored. Any failure
//! degrades to `unknown`; never to a failed pass.
//!
//! LookupEvents answers 50 events a page at 2 requests a second. A region
//! with one pending change asks by its resource name. A region with `n > 1`
//! reads the write events of the whole window once (`ReadOnly=false`,
//! newest first) for at most `n` pages, so it never costs more than `n`
//! lookups before falling back: a change whose window those pages covered is
//! answered from them; the rest are looked up by name.

use crate::aws::{AccountTarget, AwsContext, AwsError, Counters, ErrorKind, classify};
use aws_smithy_types::DateTime;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use troop_core::clock::rfc3339;
use troop_core::monkey::{Attribution, Written};

/// Events kept per revision at most (the newest).
const MAX_EVENTS: usize = 50;
/// Without a previous revision (should not happen for modified/deleted), look back this far.
const DEFAULT_LOOKBACK: time::Duration = time::Duration::hours(1);

/// One CloudTrail event as troop records it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub event: String,
    pub principal: String,
    pub time: String,
    pub source_ip: Option<String>,
}

/// Calls that change nothing never explain a change.
pub(crate) fn is_read_only(event_name: &str) -> bool {
    ["Describe", "Get", "List", "Head", "Lookup"].iter().any(|p| event_name.starts_with(p))
}

/// The principal and source IP from the event's JSON document.
pub(crate) fn parse_event(name: &str, username: Option<&str>, time: String, document: Option<&str>) -> Event {
    let doc: Value = document.and_then(|d| serde_json::from_str(d).ok()).unwrap_or(Value::Null);
    let principal = doc["userIdentity"]["arn"]
        .as_str()
        .or(username)
        .or(doc["userIdentity"]["principalId"].as_str())
        .unwrap_or("unknown")
        .to_string();
    Event { event: name.to_string(), principal, time, source_ip: doc["sourceIPAddress"].as_str().map(str::to_string) }
}

pub(crate) fn who(events: &[Event]) -> Value {
    if events.is_empty() {
        return json!({"status": "pending"});
    }
    json!({
        "status": "found",
        "events": events.iter().map(|e| json!({
            "principal": e.principal, "event": e.event, "time": e.time, "source_ip": e.source_ip,
        })).collect::<Vec<_>>(),
    })
}

/// The name CloudTrail files the resource under, and the region its events
/// are in (the technology's source says: global services file theirs in one).
fn lookup_key(w: &Written) -> (String, String) {
    let name = w.item.rsplit('/').next().unwrap_or(&w.name).to_string();
    let region = match super::sources::source_of(&w.technology, &w.region) {
        Some(source) => source.events_region(&w.technology, &w.region),
        None => w.region.clone(),
    };
    (name, region)
}

/// The window a change happened in: after the previous pass started
/// (strictly: an event in that same second may predate its listing), up to
/// when this pass finished. Clocks are assumed NTP-synced with AWS.
fn window(w: &Written) -> (i64, i64) {
    (w.previous_at.unwrap_or(w.at - DEFAULT_LOOKBACK).unix_timestamp(), w.at.unix_timestamp())
}

/// One write event, with the names of the resources it touched.
struct Raw {
    secs: i64,
    resources: Vec<String>,
    event: Event,
}

/// LookupEvents pages for one attribute over `start..=end`, newest first,
/// read-only events dropped. Stops after `max_pages` pages or `max_events`
/// events; the bool says whether the window was read to its end.
async fn read(
    client: &aws_sdk_cloudtrail::Client,
    aws: &AwsContext,
    attr: (aws_sdk_cloudtrail::types::LookupAttributeKey, &str),
    (start, end): (i64, i64),
    (max_pages, max_events): (usize, usize),
) -> Result<(Vec<Raw>, bool), AwsError> {
    let attr = aws_sdk_cloudtrail::types::LookupAttribute::builder()
        .attribute_key(attr.0)
        .attribute_value(attr.1)
        .build()
        .map_err(|e| AwsError { kind: ErrorKind::Other, message: e.to_string() })?;
    let mut pages = client
        .lookup_events()
        .lookup_attributes(attr)
        .start_time(DateTime::from_secs(start))
        .end_time(DateTime::from_secs(end))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    for _ in 0..max_pages {
        let Some(page) = pages.next().await else { return Ok((out, true)) };
        let page = page.map_err(|e| classify("cloudtrail:LookupEvents", aws.endpoint_for("cloudtrail"), e))?;
        for e in page.events() {
            let event_name = e.event_name().unwrap_or_default();
            if is_read_only(event_name) {
                continue;
            }
            let secs = e.event_time().map(|d| d.secs()).unwrap_or(0);
            let when = time::OffsetDateTime::from_unix_timestamp(secs).map(rfc3339).unwrap_or_default();
            out.push(Raw {
                secs,
                resources: e.resources().iter().filter_map(|r| r.resource_name().map(str::to_string)).collect(),
                event: parse_event(event_name, e.username(), when, e.cloud_trail_event()),
            });
        }
        if page.next_token().is_none() {
            return Ok((out, true));
        }
        if out.len() >= max_events {
            break;
        }
    }
    Ok((out, false))
}

/// The events of one change, oldest first, at most `MAX_EVENTS` (the newest).
fn events_of<'a>(raws: impl Iterator<Item = &'a Raw>, (start, end): (i64, i64)) -> Vec<Event> {
    let mut out: Vec<&Raw> = raws.filter(|r| r.secs > start && r.secs <= end).collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.secs));
    out.truncate(MAX_EVENTS);
    let mut out: Vec<Event> = out.into_iter().map(|r| r.event.clone()).collect();
    out.sort_by(|a, b| a.time.cmp(&b.time));
    out
}

/// One change, looked up by its resource name.
async fn lookup(client: &aws_sdk_cloudtrail::Client, aws: &AwsContext, w: &Written) -> Result<Vec<Event>, AwsError> {
    use aws_sdk_cloudtrail::types::LookupAttributeKey;
    let (name, _) = lookup_key(w);
    let limits = (usize::MAX, MAX_EVENTS);
    let (raws, _) = read(client, aws, (LookupAttributeKey::ResourceName, &name), window(w), limits).await?;
    Ok(events_of(raws.iter(), window(w)))
}

/// Several changes in one region: one read of the window's write events,
/// then by name for the changes those pages did not cover.
async fn lookup_region(
    client: &aws_sdk_cloudtrail::Client,
    aws: &AwsContext,
    changes: &[&Written],
) -> Vec<Result<Vec<Event>, AwsError>> {
    use aws_sdk_cloudtrail::types::LookupAttributeKey;
    let start = changes.iter().map(|w| window(w).0).min().unwrap_or(0);
    let end = changes.iter().map(|w| window(w).1).max().unwrap_or(0);
    let limits = (changes.len(), usize::MAX);
    let (raws, complete) = match read(client, aws, (LookupAttributeKey::ReadOnly, "false"), (start, end), limits).await
    {
        Ok(r) => r,
        Err(e) => return changes.iter().map(|_| Err(e.clone())).collect(),
    };
    // newest first: every event after the oldest one read has been read
    let covered_from = if complete { i64::MIN } else { raws.last().map_or(i64::MAX, |r| r.secs) };
    let mut by_name: HashMap<&str, Vec<&Raw>> = HashMap::new();
    for r in &raws {
        for name in &r.resources {
            by_name.entry(name.as_str()).or_default().push(r);
        }
    }
    let mut out = Vec::with_capacity(changes.len());
    let mut failed: Option<AwsError> = None;
    for w in changes {
        let (name, _) = lookup_key(w);
        if window(w).0 >= covered_from {
            let found = by_name.get(name.as_str()).map(|v| v.as_slice()).unwrap_or_default();
            out.push(Ok(events_of(found.iter().copied(), window(w))));
        } else if let Some(e) = &failed {
            out.push(Err(e.clone()));
        } else {
            let r = lookup(client, aws, w).await;
            if let Err(e) = &r
                && e.kind != ErrorKind::Throttled
            {
                failed = Some(e.clone());
            }
            out.push(r);
        }
    }
    out
}

pub(crate) async fn attribute(
    aws: &AwsContext,
    accounts: &[AccountTarget],
    written: &[Written],
    calls: &Arc<Counters>,
) -> Vec<Attribution> {
    // account and region → the changes whose events are filed there
    let mut regions: BTreeMap<(&str, String), Vec<&Written>> = BTreeMap::new();
    for w in written {
        regions.entry((w.account.as_str(), lookup_key(w).1)).or_default().push(w);
    }
    let mut out = Vec::with_capacity(written.len());
    // After a hard failure (no access, unreachable, not served) the rest of
    // this batch would fail the same way: say so without asking again.
    let mut gave_up: Option<String> = None;
    for ((account, region), changes) in regions {
        let target = accounts.iter().find(|t| t.id == account);
        let results: Vec<Result<Value, String>> = match (target, &gave_up) {
            (None, _) => changes.iter().map(|_| Err("account is no longer configured".to_string())).collect(),
            (Some(_), Some(reason)) => changes.iter().map(|_| Err(reason.clone())).collect(),
            (Some(t), None) => {
                let client = aws.cloudtrail(t, &region, calls);
                let found = match changes.as_slice() {
                    [one] => vec![lookup(&client, aws, one).await],
                    many => lookup_region(&client, aws, many).await,
                };
                found
                    .into_iter()
                    .map(|r| {
                        r.map(|events| who(&events)).map_err(|e| {
                            if e.kind != ErrorKind::Throttled {
                                gave_up = Some(e.message.clone());
                            }
                            e.message
                        })
                    })
                    .collect()
            }
        };
        for (w, r) in changes.iter().zip(results) {
            let who = r.unwrap_or_else(|reason| json!({"status": "unknown", "reason": reason}));
            out.push(Attribution { item: w.item.clone(), revision: w.revision, who });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_table() {
        for (name, ro) in [
            ("DescribeSecurityGroups", true),
            ("GetBucketAcl", true),
            ("ListRoles", true),
            ("AuthorizeSecurityGroupIngress", false),
            ("AttachRolePolicy", false),
            ("PutBucketAcl", false),
        ] {
            assert_eq!(is_read_only(name), ro, "{name}");
        }
    }

    #[test]
    fn principal_and_ip_come_from_the_event_document() {
        let doc = r#"{"userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/alice"}, "sourceIPAddress": "198.51.100.7"}"#;
        let e = parse_event("AttachRolePolicy", Some("alice"), "t".into(), Some(doc));
        assert_eq!(e.principal, "arn:aws:iam::1:user/alice");
        assert_eq!(e.source_ip.as_deref(), Some("198.51.100.7"));
        let e = parse_event("X", Some("bob"), "t".into(), None);
        assert_eq!((e.principal.as_str(), e.source_ip.as_deref()), ("bob", None));
        assert_eq!(who(&[])["status"], "pending");
        assert_eq!(who(&[e])["events"][0]["principal"], "bob");
    }

    #[test]
    fn a_change_keeps_the_newest_events_of_its_own_window() {
        let raw = |secs: i64| Raw {
            secs,
            resources: vec![],
            event: Event {
                event: format!("E{secs}"),
                principal: "p".into(),
                time: format!("{secs:04}"),
                source_ip: None,
            },
        };
        let names = |evs: Vec<Event>| evs.into_iter().map(|e| e.event).collect::<Vec<_>>();
        let raws: Vec<Raw> = [100, 101, 150, 200, 201].into_iter().map(raw).collect();
        // after the start (exclusive: that second may predate the listing), up to the end
        assert_eq!(names(events_of(raws.iter(), (100, 200))), ["E101", "E150", "E200"]);
        assert_eq!(names(events_of(raws.iter(), (201, 300))), Vec::<String>::new());
        let many: Vec<Raw> = (0..MAX_EVENTS as i64 + 5).map(raw).collect();
        let kept = events_of(many.iter(), (-1, 1000));
        assert_eq!(kept.len(), MAX_EVENTS);
        assert_eq!(kept[0].event, "E5", "the oldest go, oldest first");
    }
}
