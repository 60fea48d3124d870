//! Alerts posted by any process (`POST /api/v2/alerts`), as findings.
//!
//! The body is Alertmanager's API v2 `postableAlerts`
//! (<https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml>):
//! an array of `{labels, annotations, startsAt, endsAt, generatorURL}`, so
//! Prometheus, Grafana and `amtool alert add` post to troop unchanged. The
//! rules follow Alertmanager's handler:
//! - `startsAt` unset: `endsAt` if that is set, else now; `endsAt` unset:
//!   now + the resolve timeout (the alert must be posted again to stay
//!   firing, as Prometheus does every minute);
//! - an alert whose `endsAt` is at or before now is resolved, else firing;
//! - `endsAt` before `startsAt`, no labels, or a label value that is not a
//!   string is an error. Unlike Alertmanager, one bad alert refuses the whole
//!   body (400 naming its field), so nothing is partly stored.
//!
//! A posted alert is a finding of monkey `source` (`external` unless
//! configured) with kind = `alertname`, severity from the `severity` label
//! (which is not part of its identity: a rise is an escalation), `account`
//! and `region` from those labels, and every other label as its resource and
//! routing labels.

use crate::finding::{Finding, Severity, StoredFinding};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The monkey name of posted alerts unless a source is configured.
pub const EXTERNAL: &str = "external";

/// The scope of posted findings: they are resolved only when their source
/// says so (or their `endsAt` passes), never by a pass's coverage.
pub const SCOPE: &str = "posted";

/// What one body says: findings that fire, and the fingerprints of those
/// that ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Posted {
    pub firing: Vec<Finding>,
    pub resolved: Vec<String>,
}

/// A field of the body that is wrong: where (`[2].labels.alertname`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct FieldError {
    pub field: String,
    pub why: String,
}

fn bad(field: impl Into<String>, why: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), why: why.into() }
}

/// An RFC 3339 time; Go's zero time (`0001-01-01T00:00:00Z`, what an
/// unset `time.Time` marshals to) and `null` are unset.
fn time_field(alert: &Map<String, Value>, key: &str, at: &str) -> Result<Option<OffsetDateTime>, FieldError> {
    match alert.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let t = OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|e| bad(format!("{at}.{key}"), format!("`{s}` is not an RFC 3339 time ({e})")))?;
            Ok((t.year() > 1).then_some(t))
        }
        Some(_) => Err(bad(format!("{at}.{key}"), "must be an RFC 3339 time string")),
    }
}

fn string_map(alert: &Map<String, Value>, key: &str, at: &str) -> Result<BTreeMap<String, String>, FieldError> {
    let mut out = BTreeMap::new();
    match alert.get(key) {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    // an empty value is no label (Prometheus's rule)
                    Value::String(s) if s.is_empty() => {}
                    Value::String(s) => {
                        out.insert(k.clone(), s.clone());
                    }
                    _ => return Err(bad(format!("{at}.{key}.{k}"), "must be a string")),
                }
                if k.is_empty() {
                    return Err(bad(format!("{at}.{key}"), "a name is empty"));
                }
            }
        }
        Some(_) => return Err(bad(format!("{at}.{key}"), "must be an object of strings")),
    }
    Ok(out)
}

/// The severity a `severity` label names. Prometheus rules use free words:
/// `critical`, `page`, `error`, `high` are critical; `warning`, `warn`,
/// `medium` warning; `info`, `informational`, `low`, `none` info; anything
/// else, and no label, warning.
pub fn severity_of(label: Option<&str>) -> Severity {
    match label.map(str::to_ascii_lowercase).as_deref() {
        Some("critical" | "page" | "error" | "high" | "fatal" | "emergency") => Severity::Critical,
        Some("info" | "informational" | "low" | "none" | "notice") => Severity::Info,
        _ => Severity::Warning,
    }
}

/// Parse and judge a `POST /api/v2/alerts` body at `now`. `resolve_timeout`
/// is how long an alert without `endsAt` fires (Alertmanager's
/// `resolve_timeout`, default 5m). Errors: the first field that is wrong.
pub fn parse(
    body: &[u8],
    source: &str,
    now: OffsetDateTime,
    resolve_timeout: time::Duration,
) -> Result<Posted, FieldError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| bad("body", format!("not JSON: {e}")))?;
    let Value::Array(alerts) = value else {
        return Err(bad("body", "must be a JSON array of alerts"));
    };
    let mut out = Posted::default();
    for (i, alert) in alerts.iter().enumerate() {
        let at = format!("[{i}]");
        let Value::Object(alert) = alert else { return Err(bad(at, "must be an object")) };
        let labels = string_map(alert, "labels", &at)?;
        if labels.is_empty() {
            return Err(bad(format!("{at}.labels"), "at least one label is required"));
        }
        let Some(alertname) = labels.get("alertname").cloned() else {
            return Err(bad(format!("{at}.labels.alertname"), "is required (it is the finding's kind)"));
        };
        let annotations = string_map(alert, "annotations", &at)?;
        let starts = time_field(alert, "startsAt", &at)?;
        let ends = time_field(alert, "endsAt", &at)?;
        let generator = match alert.get("generatorURL") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.is_empty()),
            Some(_) => return Err(bad(format!("{at}.generatorURL"), "must be a string")),
        };
        let starts_at = starts.or(ends).unwrap_or(now);
        let ends_at = ends.unwrap_or(now + resolve_timeout);
        if ends_at < starts_at {
            return Err(bad(format!("{at}.endsAt"), "is before startsAt"));
        }
        let finding = finding(source, &alertname, labels, annotations, starts_at, ends_at, generator);
        if ends_at <= now {
            out.resolved.push(finding.fingerprint());
        } else {
            out.firing.push(finding);
        }
    }
    Ok(out)
}

fn finding(
    source: &str,
    alertname: &str,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
    generator: Option<String>,
) -> Finding {
    let severity = severity_of(labels.get("severity").map(String::as_str));
    // identity: every label but severity, in name order
    let identity: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() != "severity")
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default()))
        .collect();
    let shown: Vec<String> = labels
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "severity"))
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    let title = annotations.get("summary").or_else(|| annotations.get("description")).cloned().unwrap_or_else(|| {
        if shown.is_empty() { alertname.to_string() } else { format!("{alertname} {{{}}}", shown.join(", ")) }
    });
    let rfc = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let mut details = serde_json::json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc(starts_at),
        "endsAt": rfc(ends_at),
    });
    if let Some(g) = generator {
        details["generatorURL"] = g.into();
    }
    Finding {
        monkey: source.to_string(),
        kind: alertname.to_string(),
        severity,
        account: labels.get("account").cloned().unwrap_or_default(),
        region: labels.get("region").cloned().unwrap_or_default(),
        resource: identity.join(","),
        title,
        details,
        labels,
        scope: SCOPE.to_string(),
    }
}

/// The open or silenced posted findings whose `endsAt` is at or before
/// `now`: nobody posted them again, so they resolve (as Alertmanager
/// resolves an alert whose `endsAt` passed).
pub fn expired(findings: &[StoredFinding], now: OffsetDateTime) -> impl Iterator<Item = &StoredFinding> {
    findings
        .iter()
        .filter(move |f| f.state != crate::finding::FindingState::Resolved && ends_at(f).is_some_and(|end| end <= now))
}

/// A posted finding's `endsAt` (its `details.endsAt`, RFC 3339); `None` for
/// a finding of a monkey, or a posted one without it.
pub fn ends_at(f: &StoredFinding) -> Option<OffsetDateTime> {
    if f.scope != SCOPE {
        return None;
    }
    f.details.get("endsAt").and_then(Value::as_str).and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 10:00 UTC);
    const TIMEOUT: time::Duration = time::Duration::minutes(5);

    fn one(body: &str) -> Result<Posted, FieldError> {
        parse(body.as_bytes(), EXTERNAL, NOW, TIMEOUT)
    }

    #[test]
    fn bodies_that_are_refused_name_their_field() {
        // (body, field named)
        let cases = [
            ("{", "body"),
            ("{}", "body"),
            ("[1]", "[0]"),
            ("[{}]", "[0].labels"),
            (r#"[{"labels": {}}]"#, "[0].labels"),
            (r#"[{"labels": {"alertname": "A"}}, {"labels": {"job": "x"}}]"#, "[1].labels.alertname"),
            (r#"[{"labels": {"alertname": 3}}]"#, "[0].labels.alertname"),
            (r#"[{"labels": "alertname=A"}]"#, "[0].labels"),
            (r#"[{"labels": {"alertname": "A"}, "annotations": {"summary": ["x"]}}]"#, "[0].annotations.summary"),
            (r#"[{"labels": {"alertname": "A"}, "startsAt": "yesterday"}]"#, "[0].startsAt"),
            (r#"[{"labels": {"alertname": "A"}, "endsAt": 5}]"#, "[0].endsAt"),
            (
                r#"[{"labels": {"alertname": "A"}, "startsAt": "2026-11-30T10:00:00Z", "endsAt": "2026-11-30T09:00:00Z"}]"#,
                "[0].endsAt",
            ),
            (r#"[{"labels": {"alertname": "A"}, "generatorURL": {}}]"#, "[0].generatorURL"),
        ];
        for (body, field) in cases {
            let e = one(body).expect_err(body);
            assert_eq!(e.field, field, "{body}: {e}");
        }
    }

    #[test]
    fn firing_and_resolved_follow_alertmanagers_rules() {
        // (startsAt, endsAt, firing?, endsAt stored)
        let cases = [
            ("null", "null", true, "2026-11-30T10:05:00Z"),
            (r#""0001-01-01T00:00:00Z""#, r#""0001-01-01T00:00:00Z""#, true, "2026-11-30T10:05:00Z"),
            (r#""2026-11-30T09:00:00Z""#, r#""2026-11-30T10:04:00Z""#, true, "2026-11-30T10:04:00Z"),
            (r#""2026-11-30T09:00:00Z""#, r#""2026-11-30T10:00:00Z""#, false, ""),
            ("null", r#""2026-11-30T09:59:59Z""#, false, ""),
            (r#""2026-11-30T11:00:00+01:00""#, "null", true, "2026-11-30T10:05:00Z"),
        ];
        for (starts, ends, firing, stored) in cases {
            let body = format!(r#"[{{"labels": {{"alertname": "A"}}, "startsAt": {starts}, "endsAt": {ends}}}]"#);
            let p = one(&body).unwrap();
            assert_eq!((p.firing.len(), p.resolved.len()), if firing { (1, 0) } else { (0, 1) }, "{body}");
            if firing {
                assert_eq!(p.firing[0].details["endsAt"], stored, "{body}");
            }
        }
    }

    #[test]
    fn an_alert_is_a_finding_whose_identity_leaves_severity_out() {
        let body = r#"[{"labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "page",
            "account": "123456789012", "region": "eu-west-1", "empty": ""},
            "annotations": {"summary": "disk 97% full on db-1"}, "generatorURL": "http://prom/graph"}]"#;
        let f = &one(body).unwrap().firing[0];
        assert_eq!((f.monkey.as_str(), f.kind.as_str(), f.severity), (EXTERNAL, "DiskFull", Severity::Critical));
        assert_eq!((f.account.as_str(), f.region.as_str()), ("123456789012", "eu-west-1"));
        assert_eq!(f.title, "disk 97% full on db-1");
        assert_eq!(f.scope, SCOPE);
        assert_eq!(f.details["generatorURL"], "http://prom/graph");
        assert!(!f.labels.contains_key("empty"), "an empty label value is no label");
        assert_eq!(
            f.resource,
            r#"account="123456789012",alertname="DiskFull",instance="db-1:9100",region="eu-west-1""#
        );
        let warning = body.replace(r#""severity": "page""#, r#""severity": "warning""#);
        let g = &one(&warning).unwrap().firing[0];
        assert_eq!(g.severity, Severity::Warning);
        assert_eq!(f.fingerprint(), g.fingerprint(), "a severity change is the same alert");
        let other = body.replace("db-1:9100", "db-2:9100");
        assert_ne!(f.fingerprint(), one(&other).unwrap().firing[0].fingerprint());
        // the same alert resolved names the same fingerprint
        let resolved = body.replace(r#""generatorURL""#, r#""endsAt": "2026-11-30T09:00:00Z", "generatorURL""#);
        assert_eq!(one(&resolved).unwrap().resolved, vec![f.fingerprint()]);
        // with no summary the title shows the labels
        let bare = one(r#"[{"labels": {"alertname": "Up", "job": "node"}}]"#).unwrap();
        assert_eq!(bare.firing[0].title, r#"Up {job="node"}"#);
    }

    #[test]
    fn severity_words() {
        for (word, want) in [
            (Some("critical"), Severity::Critical),
            (Some("Page"), Severity::Critical),
            (Some("error"), Severity::Critical),
            (Some("warning"), Severity::Warning),
            (Some("P3"), Severity::Warning),
            (None, Severity::Warning),
            (Some("info"), Severity::Info),
            (Some("none"), Severity::Info),
        ] {
            assert_eq!(severity_of(word), want, "{word:?}");
        }
    }

    #[test]
    fn only_posted_findings_past_their_end_expire() {
        let p = one(
            r#"[{"labels": {"alertname": "A"}}, {"labels": {"alertname": "B"}, "endsAt": "2026-11-30T10:30:00Z"}]"#,
        )
        .unwrap();
        let stored: Vec<StoredFinding> = p
            .firing
            .iter()
            .map(|f| {
                crate::lifecycle::FindingRow {
                    fingerprint: f.fingerprint(),
                    monkey: f.monkey.clone(),
                    kind: f.kind.clone(),
                    severity: f.severity,
                    state: crate::finding::FindingState::Open,
                    account: f.account.clone(),
                    region: f.region.clone(),
                    resource: f.resource.clone(),
                    scope: f.scope.clone(),
                    title: f.title.clone(),
                    details: f.details.clone(),
                    labels: f.labels.clone(),
                    first_seen: 0,
                    last_seen: 0,
                    resolved_at: None,
                    item: None,
                }
                .stored()
            })
            .collect();
        let fingerprints = |findings: &[StoredFinding], at| -> Vec<String> {
            expired(findings, at).map(|f| f.fingerprint.clone()).collect()
        };
        assert!(fingerprints(&stored, NOW + time::Duration::minutes(4)).is_empty());
        assert_eq!(fingerprints(&stored, NOW + time::Duration::minutes(5)), vec![stored[0].fingerprint.clone()]);
        assert_eq!(fingerprints(&stored, NOW + time::Duration::minutes(30)).len(), 2);
        let mut pass_finding = stored[0].clone();
        pass_finding.scope = "ec2:security-group".into();
        assert!(fingerprints(&[pass_finding], NOW + time::Duration::hours(1)).is_empty());
    }
}
