//! Silences: matchers with a time window, an author and a reason. A finding
//! an active silence matches is shown `silenced` and notifies nobody; when
//! the silence ends while the finding still fires, it is notified again.

use super::Millis;
use super::matcher::{Matcher, all_match};
use crate::finding::{FindingState, StoredFinding};
use crate::store::{AlertStore, FindingFilter, SilenceRecord, Store, StoreError};
use std::collections::BTreeMap;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub author: String,
    pub reason: String,
}

impl Silence {
    pub fn active(&self, now: Millis) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    pub fn silences(&self, labels: &BTreeMap<String, String>, now: Millis) -> bool {
        self.active(now) && all_match(&self.matchers, labels)
    }
}

/// The first active silence matching `labels`.
pub fn silenced_by<'a>(silences: &'a [Silence], labels: &BTreeMap<String, String>, now: Millis) -> Option<&'a Silence> {
    silences.iter().find(|s| s.silences(labels, now))
}

fn parse_time(s: &str) -> Option<Millis> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(super::millis)
}

/// Silences as stored, ready to match; a record that no longer parses is
/// skipped with a warning rather than silencing everything or nothing.
pub fn from_records(records: &[SilenceRecord]) -> Vec<Silence> {
    records
        .iter()
        .filter_map(|r| {
            let matchers: Result<Vec<Matcher>, String> = r.matchers.iter().map(|m| Matcher::parse(m)).collect();
            match (matchers, parse_time(&r.starts_at), parse_time(&r.ends_at)) {
                (Ok(matchers), Some(starts_at), Some(ends_at)) => Some(Silence {
                    id: r.id.clone(),
                    matchers,
                    starts_at,
                    ends_at,
                    author: r.author.clone(),
                    reason: r.reason.clone(),
                }),
                _ => {
                    tracing::warn!(silence = %r.id, "stored silence does not parse; ignored");
                    None
                }
            }
        })
        .collect()
}

/// Findings as users see them: an open finding an active silence matches is
/// `silenced` (with the silence's id). `state` filters on that view.
pub fn findings_view(
    store: &dyn Store,
    alerts: &dyn AlertStore,
    filter: FindingFilter,
    now: Millis,
) -> Result<Vec<(StoredFinding, Option<String>)>, StoreError> {
    let state = filter.state;
    let stored = match state {
        Some(FindingState::Open | FindingState::Silenced) => Some(FindingState::Open),
        other => other,
    };
    let silences = from_records(&alerts.silences()?);
    let mut out = Vec::new();
    for mut f in store.findings(&FindingFilter { state: stored, ..filter })? {
        let mut by = None;
        if f.state == FindingState::Open
            && let Some(s) = silenced_by(&silences, &f.routing_labels(), now)
        {
            f.state = FindingState::Silenced;
            by = Some(s.id.clone());
        }
        if state.is_none_or(|want| want == f.state) {
            out.push((f, by));
        }
    }
    Ok(out)
}

/// A finding's JSON (`troop findings`, `/api/v1/findings`), with
/// `silenced_by` when a silence mutes it.
pub fn finding_json(f: &StoredFinding, silenced_by: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::to_value(f).unwrap_or_default();
    if let (Some(id), Some(o)) = (silenced_by, v.as_object_mut()) {
        o.insert("silenced_by".into(), serde_json::Value::String(id.to_string()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_matchers() {
        let s = Silence {
            id: "s1".into(),
            matchers: vec![Matcher::parse("monkey=certs").unwrap(), Matcher::parse("owner=~shop.*").unwrap()],
            starts_at: 100,
            ends_at: 200,
            author: "ana".into(),
            reason: "renewal booked".into(),
        };
        let l: BTreeMap<String, String> =
            [("monkey", "certs"), ("owner", "shop-team")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut other = l.clone();
        other.insert("owner".into(), "payments".into());
        for (labels, now, want) in
            [(&l, 99, false), (&l, 100, true), (&l, 199, true), (&l, 200, false), (&other, 150, false)]
        {
            assert_eq!(s.silences(labels, now), want, "{labels:?} at {now}");
        }
        assert_eq!(silenced_by(std::slice::from_ref(&s), &l, 150).map(|s| s.id.as_str()), Some("s1"));
    }
}
