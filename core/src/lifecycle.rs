//! The rules of committing a pass, written once: a pure planner. Given what
//! the store holds (read through [`Held`], inside the backend's commit
//! transaction) and what the pass saw (its [`Report`]), [`plan`] returns the
//! writes ([`Plan`]); a backend only reads and persists them.
//!
//! The rules:
//! - an item gets a revision only when its canonical hash changes; a
//!   revision is `created` (new, or back after a deletion), `modified` or
//!   `deleted`, numbered 1, 2, 3… per item without gaps;
//! - an item is deleted only inside a scope the pass listed completely
//!   ([`Coverage`]) and never when the pass could not read it (`untouched`);
//! - every revision carries its reviewer sentences (`security::summarize` of
//!   the previous and new content);
//! - a finding reported is opened, reopened (after a resolution: a new
//!   `first_seen`), escalated, de-escalated or still open; one not reported
//!   is resolved only inside a covered scope and when its item was read;
//! - findings carry their item's current revision and its sentences;
//! - each of those finding changes is one [`FindingEvent`] for the alert log.

use crate::clock::rfc3339_unix;
use crate::finding::{EventKind, FindingEvent, FindingState, Severity, StoredFinding};
use crate::monkey::Report;
use crate::store::StoreError;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What the store holds of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldItem {
    pub revision: i64,
    /// `None` once deleted.
    pub hash: Option<String>,
    pub deleted: bool,
}

/// A live (not deleted) item of a scope: a candidate for deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveItem {
    /// The item id ([`crate::monkey::Snapshot::item_id`]: it names the
    /// account and region).
    pub item: String,
    pub revision: i64,
    pub name: String,
}

/// A finding as stored: the columns a backend persists. Times are Unix
/// seconds (the storage unit); [`FindingRow::stored`] gives the boundary
/// shape with RFC 3339 times.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRow {
    pub fingerprint: String,
    pub monkey: String,
    pub kind: String,
    pub severity: Severity,
    pub state: FindingState,
    pub account: String,
    pub region: String,
    pub resource: String,
    pub scope: String,
    pub title: String,
    pub details: serde_json::Value,
    pub labels: BTreeMap<String, String>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub resolved_at: Option<i64>,
    /// The item the finding is about (`details.item`), if any.
    pub item: Option<String>,
}

impl FindingRow {
    /// The finding as the CLI, the API and the alert log show it.
    pub fn stored(&self) -> StoredFinding {
        StoredFinding {
            fingerprint: self.fingerprint.clone(),
            monkey: self.monkey.clone(),
            kind: self.kind.clone(),
            severity: self.severity,
            state: self.state,
            account: self.account.clone(),
            region: self.region.clone(),
            resource: self.resource.clone(),
            title: self.title.clone(),
            details: self.details.clone(),
            labels: self.labels.clone(),
            scope: self.scope.clone(),
            first_seen: rfc3339_unix(self.first_seen),
            last_seen: rfc3339_unix(self.last_seen),
            resolved_at: self.resolved_at.map(rfc3339_unix),
        }
    }
}

/// What the planner reads of the store, inside the commit transaction.
/// Errors are the backend's.
pub trait Held {
    fn item(&self, item: &str) -> Result<Option<HeldItem>, StoreError>;
    /// Live items of `technology` in `account` and `region` (`*`: every region).
    fn live_items(&self, technology: &str, account: &str, region: &str) -> Result<Vec<LiveItem>, StoreError>;
    /// The canonical content of an item at a revision (`None` if deleted or unknown).
    fn content(&self, item: &str, revision: i64) -> Result<Option<serde_json::Value>, StoreError>;
    /// The item's current revision and its reviewer sentences.
    fn current(&self, item: &str) -> Result<Option<(i64, Vec<String>)>, StoreError>;
    fn finding(&self, fingerprint: &str) -> Result<Option<FindingRow>, StoreError>;
    /// The findings of `monkey` in `account` that are open or silenced.
    fn unresolved(&self, monkey: &str, account: &str) -> Result<Vec<FindingRow>, StoreError>;
}

/// How an item changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Modified,
    Deleted,
}

impl Change {
    /// The stored and printed word (`created`, `modified`, `deleted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Modified => "modified",
            Change::Deleted => "deleted",
        }
    }
}

/// One new revision: the item row becomes `revision`/`hash` (`deleted`
/// when `change` is `Deleted`), and the revision is appended. The content
/// is borrowed from the report (a pass's snapshots are not copied).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemWrite<'r> {
    pub item: Cow<'r, str>,
    pub technology: Cow<'r, str>,
    pub account: Cow<'r, str>,
    pub region: Cow<'r, str>,
    pub name: Cow<'r, str>,
    pub revision: i64,
    pub change: Change,
    /// `None` when deleted.
    pub hash: Option<String>,
    /// Canonical JSON; `None` when deleted.
    pub content: Option<&'r str>,
    pub summary: Vec<String>,
}

/// The writes of one pass, in the order a backend applies them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan<'r> {
    pub items: Vec<ItemWrite<'r>>,
    /// Findings inserted or updated (whole rows).
    pub findings: Vec<FindingRow>,
    /// The alert log's events, in order.
    pub events: Vec<FindingEvent>,
    /// Distinct items the pass saw (read or untouched).
    pub items_seen: usize,
}

/// Plan the commit of `monkey`'s `report`, its pass finished at `finished_at`.
pub fn plan<'r>(
    held: &dyn Held,
    report: &'r Report,
    monkey: &str,
    finished_at: time::OffsetDateTime,
) -> Result<Plan<'r>, StoreError> {
    let now = finished_at.unix_timestamp();
    let at = crate::clock::rfc3339(finished_at);
    let mut out = Plan::default();
    let mut seen: HashSet<&str> = report.untouched.iter().map(String::as_str).collect();
    // item -> its write in this plan
    let mut written: HashMap<String, usize> = HashMap::new();
    for s in &report.snapshots {
        if !seen.insert(s.item.as_str()) {
            continue;
        }
        let (revision, change) = match held.item(&s.item)? {
            None => (1, Change::Created),
            Some(HeldItem { revision, deleted: true, .. }) => (revision + 1, Change::Created),
            Some(HeldItem { hash: Some(h), .. }) if h == s.hash => continue,
            Some(HeldItem { revision, .. }) => (revision + 1, Change::Modified),
        };
        let old = if change == Change::Modified { held.content(&s.item, revision - 1)? } else { None };
        let summary = crate::security::summarize(&s.technology, &s.name, old.as_ref(), Some(&s.value()));
        written.insert(s.item.clone(), out.items.len());
        out.items.push(ItemWrite {
            item: Cow::Borrowed(&s.item),
            technology: Cow::Borrowed(&s.technology),
            account: Cow::Borrowed(&s.account),
            region: Cow::Borrowed(&s.region),
            name: Cow::Borrowed(&s.name),
            revision,
            change,
            hash: Some(s.hash.clone()),
            content: Some(s.content.as_str()),
            summary,
        });
    }
    // Deletions, only inside scopes this pass listed completely.
    let mut scopes: Vec<_> = report.coverage.iter().collect();
    scopes.sort_by(|a, b| (&a.scope, &a.account, &a.region).cmp(&(&b.scope, &b.account, &b.region)));
    scopes.dedup();
    for c in scopes {
        for live in held.live_items(&c.scope, &c.account, &c.region)? {
            // read this pass, or deleted already under an overlapping scope
            if seen.contains(live.item.as_str()) || written.contains_key(&live.item) {
                continue;
            }
            let old = held.content(&live.item, live.revision)?;
            let summary = crate::security::summarize(&c.scope, &live.name, old.as_ref(), None);
            written.insert(live.item.clone(), out.items.len());
            let (_, account, region) = crate::monkey::Snapshot::item_parts(&live.item);
            let (account, region) = (account.to_string(), region.to_string());
            out.items.push(ItemWrite {
                item: Cow::Owned(live.item),
                technology: Cow::Borrowed(&c.scope),
                account: Cow::Owned(account),
                region: Cow::Owned(region),
                name: Cow::Owned(live.name),
                revision: live.revision + 1,
                change: Change::Deleted,
                hash: None,
                content: None,
                summary,
            });
        }
    }
    out.items_seen = seen.len();

    // Findings reported: opened, reopened, escalated, de-escalated, still open.
    let mut reported: HashSet<String> = HashSet::new();
    for f in &report.findings {
        let fp = f.fingerprint();
        if !reported.insert(fp.clone()) {
            continue;
        }
        let item = f.details.get("item").and_then(|i| i.as_str()).map(str::to_string);
        let mut details = f.details.clone();
        if let Some(item) = &item {
            let current = match written.get(item) {
                Some(&i) => Some((out.items[i].revision, out.items[i].summary.clone())),
                None => held.current(item)?,
            };
            if let (Some((revision, summary)), Some(obj)) = (current, details.as_object_mut()) {
                obj.insert("revision".into(), revision.into());
                obj.insert("summary".into(), summary.into());
            }
        }
        let prev = held.finding(&fp)?;
        let (event, first_seen, state) = match &prev {
            None => (EventKind::Opened, now, FindingState::Open),
            Some(p) if p.state == FindingState::Resolved => (EventKind::Opened, now, FindingState::Open),
            Some(p) => {
                let event = if f.severity > p.severity {
                    EventKind::SeverityUp
                } else if f.severity < p.severity {
                    EventKind::SeverityDown
                } else {
                    EventKind::StillOpen
                };
                (event, p.first_seen, p.state)
            }
        };
        let row = FindingRow {
            fingerprint: fp,
            monkey: f.monkey.clone(),
            kind: f.kind.clone(),
            severity: f.severity,
            state,
            account: f.account.clone(),
            region: f.region.clone(),
            resource: f.resource.clone(),
            scope: f.scope.clone(),
            title: f.title.clone(),
            details,
            labels: f.labels.clone(),
            first_seen,
            last_seen: now,
            resolved_at: None,
            item,
        };
        out.events.push(FindingEvent { event, at: at.clone(), finding: row.stored() });
        out.findings.push(row);
    }
    // Resolve what the source says ended.
    for fp in &report.resolved {
        if !reported.insert(fp.clone()) {
            continue;
        }
        if let Some(mut row) = held.finding(fp)?.filter(|r| r.state != FindingState::Resolved) {
            row.state = FindingState::Resolved;
            row.resolved_at = Some(now);
            out.events.push(FindingEvent { event: EventKind::Resolved, at: at.clone(), finding: row.stored() });
            out.findings.push(row);
        }
    }
    // Resolve what a complete listing no longer reports.
    let untouched: HashSet<&str> = report.untouched.iter().map(String::as_str).collect();
    // Only a covered scope resolves: the accounts the pass covered are
    // where to look (a shard's, not the estate's).
    let accounts: std::collections::BTreeSet<&str> = report.coverage.iter().map(|c| c.account.as_str()).collect();
    let mut unresolved = Vec::new();
    for account in accounts {
        unresolved.extend(held.unresolved(monkey, account)?);
    }
    for mut row in unresolved {
        if reported.contains(&row.fingerprint)
            || row.item.as_deref().is_some_and(|i| untouched.contains(i))
            || !report.coverage.iter().any(|c| c.covers(&row.scope, &row.account, &row.region))
        {
            continue;
        }
        row.state = FindingState::Resolved;
        row.resolved_at = Some(now);
        out.events.push(FindingEvent { event: EventKind::Resolved, at: at.clone(), finding: row.stored() });
        out.findings.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
