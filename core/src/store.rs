//! The `Store` trait: durable findings, item revisions and pass records.
//!
//! Methods are synchronous; the engine calls them from a blocking thread.
//! Invariant every implementation keeps: `commit_pass` is atomic. A reader
//! never sees half of a pass, and a process killed mid-commit leaves the
//! store as it was before the pass.

use crate::finding::{FindingEvent, FindingState, StoredFinding};
use crate::monkey::{Attribution, Report, Written};
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Backend(String),
    #[error("{0}")]
    NotFound(String),
}

/// The pass being committed or recorded.
#[derive(Debug, Clone)]
pub struct PassMeta {
    pub monkey: String,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitOutcome {
    pub pass_id: i64,
    pub events: Vec<FindingEvent>,
    pub revisions_written: usize,
    pub items_seen: usize,
    pub open_findings: usize,
}

#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    /// `None` = every state.
    pub state: Option<FindingState>,
    pub monkey: Option<String>,
}

/// One stored revision of an item (the JSON shape of `troop changes`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Revision {
    pub item: String,
    pub technology: String,
    pub account: String,
    pub region: String,
    pub name: String,
    pub revision: i64,
    pub change: String,
    pub at: String,
    pub summary: Vec<String>,
    /// The item's canonical content at this revision (`None` once deleted).
    /// Loaded by `history` and `state_at`; `revisions_since` leaves it out.
    #[serde(skip)]
    pub content: Option<serde_json::Value>,
    /// Who made the change (see [`Attribution`]); `null` until asked.
    pub who: Option<serde_json::Value>,
}

pub trait Store: Send + Sync {
    /// Apply a successful pass: new revisions, deletions inside covered scopes,
    /// finding lifecycle. One transaction.
    fn commit_pass(&self, pass: &PassMeta, report: &Report) -> Result<CommitOutcome, StoreError>;
    /// Record a pass that failed; changes nothing else.
    fn record_failed_pass(&self, pass: &PassMeta, error: &str) -> Result<(), StoreError>;
    fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>, StoreError>;
    /// Revisions recorded at or after `since`, oldest first.
    fn revisions_since(&self, since: OffsetDateTime) -> Result<Vec<Revision>, StoreError>;
    /// Every revision of one item, oldest first (content included).
    fn history(&self, item: &str) -> Result<Vec<Revision>, StoreError>;
    /// The item as it was at `at`: its latest revision recorded at or before
    /// then (content included; `None` content = deleted). `None` if it did not
    /// exist yet.
    fn state_at(&self, item: &str, at: OffsetDateTime) -> Result<Option<Revision>, StoreError>;
    /// Item ids matching what a user typed: the exact id, else every item whose
    /// id ends with `/query` or whose name equals it.
    fn find_items(&self, query: &str) -> Result<Vec<String>, StoreError>;
    /// The current observations of `kind` (data as the monkey reported it).
    fn observations(&self, kind: &str) -> Result<Vec<serde_json::Value>, StoreError>;
    /// Record who made changes (a separate, small transaction after the pass).
    fn attach_who(&self, attributions: &[Attribution]) -> Result<(), StoreError>;
    /// Modified or deleted revisions of `monkey` recorded since `since` whose
    /// author is still `pending` or was never asked.
    fn pending_attribution(&self, monkey: &str, since: OffsetDateTime) -> Result<Vec<Written>, StoreError>;
}
