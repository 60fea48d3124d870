//! Who made a change: CloudTrail LookupEvents by resource name, within the
//! window between the previous revision and this one. Read-only calls are
//! ignored. Any failure degrades to `unknown`; never to a failed pass.

use crate::aws::{AccountTarget, AwsContext, AwsError, CallCounter, ErrorKind, classify};
use aws_smithy_types::DateTime;
use serde_json::{Value, json};
use std::sync::Arc;
use troop_core::clock::rfc3339;
use troop_core::monkey::{Attribution, Written};
use troop_core::security::{iam, s3, sg};

/// Events fetched per revision at most (newest first from CloudTrail).
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

/// The name CloudTrail files the resource under, and the region its events are in.
fn lookup_key(w: &Written) -> (String, String) {
    let name = w.item.rsplit('/').next().unwrap_or(&w.name).to_string();
    let region = match w.technology.as_str() {
        iam::ROLE | iam::USER | iam::GROUP | iam::POLICY => "us-east-1".to_string(),
        sg::TECHNOLOGY | s3::TECHNOLOGY => w.region.clone(),
        _ => w.region.clone(),
    };
    (name, region)
}

async fn lookup(
    aws: &AwsContext,
    t: &AccountTarget,
    w: &Written,
    calls: &Arc<CallCounter>,
) -> Result<Vec<Event>, AwsError> {
    let (name, region) = lookup_key(w);
    let client = aws.cloudtrail(t, &region, calls);
    // The change happened after the previous pass started (strictly: an event in
    // that same second may predate its listing) and before this pass finished.
    // Clocks are assumed NTP-synced with AWS.
    let start = w.previous_at.unwrap_or(w.at - DEFAULT_LOOKBACK);
    let end = w.at;
    let attr = aws_sdk_cloudtrail::types::LookupAttribute::builder()
        .attribute_key(aws_sdk_cloudtrail::types::LookupAttributeKey::ResourceName)
        .attribute_value(&name)
        .build()
        .map_err(|e| AwsError { kind: ErrorKind::Other, message: e.to_string() })?;
    let mut pages = client
        .lookup_events()
        .lookup_attributes(attr)
        .start_time(DateTime::from_secs(start.unix_timestamp()))
        .end_time(DateTime::from_secs(end.unix_timestamp()))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("cloudtrail:LookupEvents", aws.endpoint_for("cloudtrail"), e))?;
        for e in page.events() {
            let event_name = e.event_name().unwrap_or_default();
            let secs = e.event_time().map(|d| d.secs()).unwrap_or(0);
            if is_read_only(event_name) || secs <= start.unix_timestamp() {
                continue;
            }
            let when = e
                .event_time()
                .and_then(|d| time::OffsetDateTime::from_unix_timestamp(d.secs()).ok())
                .map(rfc3339)
                .unwrap_or_default();
            out.push(parse_event(event_name, e.username(), when, e.cloud_trail_event()));
        }
        if out.len() >= MAX_EVENTS {
            out.truncate(MAX_EVENTS);
            break;
        }
    }
    out.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(out)
}

pub(crate) async fn attribute(
    aws: &AwsContext,
    accounts: &[AccountTarget],
    written: &[Written],
    calls: &Arc<CallCounter>,
) -> Vec<Attribution> {
    let mut out = Vec::new();
    // After a hard failure (no access, unreachable, not served) the rest of
    // this batch would fail the same way: say so without asking again.
    let mut gave_up: Option<String> = None;
    for w in written {
        let who = match (accounts.iter().find(|t| t.id == w.account), &gave_up) {
            (None, _) => json!({"status": "unknown", "reason": "account is no longer configured"}),
            (Some(_), Some(reason)) => json!({"status": "unknown", "reason": reason}),
            (Some(t), None) => match lookup(aws, t, w, calls).await {
                Ok(events) => who(&events),
                Err(e) => {
                    if e.kind != ErrorKind::Throttled {
                        gave_up = Some(e.message.clone());
                    }
                    json!({"status": "unknown", "reason": e.message})
                }
            },
        };
        out.push(Attribution { item: w.item.clone(), revision: w.revision, who });
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
}
