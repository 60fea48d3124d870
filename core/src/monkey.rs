//! The `Monkey` trait and what one pass of a monkey produces.

use crate::clock::Clock;
use crate::finding::Finding;
use crate::shutdown::Shutdown;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One configuration item observed by a monkey (a security group, a role...).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Stable id, `technology/account/region/name`; what `troop history` takes.
    pub item: String,
    pub technology: String,
    pub account: String,
    pub region: String,
    pub name: String,
    /// Canonicalisable content; a revision is written only when its hash changes.
    pub content: serde_json::Value,
}

impl Snapshot {
    pub fn item_id(technology: &str, account: &str, region: &str, name: &str) -> String {
        format!("{technology}/{account}/{region}/{name}")
    }
}

/// A (technology or finding scope, account, region) that this pass listed
/// completely. Only covered scopes may have items deleted or findings resolved:
/// a listing that failed leaves what it would have covered untouched.
/// `region == "*"` covers every region of that account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Coverage {
    pub scope: String,
    pub account: String,
    pub region: String,
}

impl Coverage {
    pub fn covers(&self, scope: &str, account: &str, region: &str) -> bool {
        self.scope == scope && self.account == account && (self.region == "*" || self.region == region)
    }
}

/// Everything one successful pass produced. Committed in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub snapshots: Vec<Snapshot>,
    pub findings: Vec<Finding>,
    pub coverage: Vec<Coverage>,
    /// Items inside a covered scope that exist but could not be read this
    /// pass: neither deleted nor revised, and their findings stay as they are.
    pub untouched: Vec<String>,
    /// Counters worth exporting (e.g. `aws_api_calls`).
    pub counters: BTreeMap<String, u64>,
}

/// Receives human progress from a long pass (shown on an interactive terminal).
pub trait Progress: Send + Sync {
    fn update(&self, monkey: &str, message: &str);
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl Progress for NoProgress {
    fn update(&self, _: &str, _: &str) {}
}

/// What a monkey gets for one pass. AWS clients, accounts and regions are not
/// here (core knows nothing of AWS): a monkey is built with them by its crate.
#[derive(Clone)]
pub struct PassContext {
    pub clock: Arc<dyn Clock>,
    pub shutdown: Shutdown,
    pub progress: Arc<dyn Progress>,
}

#[derive(Debug, thiserror::Error)]
pub enum MonkeyError {
    /// The pass could not produce a trustworthy report at all.
    #[error("{0}")]
    Failed(String),
    #[error("cancelled")]
    Cancelled,
}

/// A revision the store wrote, for monkeys that can say who made the change.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub item: String,
    pub technology: String,
    pub account: String,
    pub region: String,
    pub name: String,
    pub revision: i64,
    pub change: String,
    /// When the pass that wrote this revision finished: the change happened before.
    pub at: time::OffsetDateTime,
    /// When the pass that wrote the previous revision started: the change
    /// happened after that pass listed the item, so after this time.
    pub previous_at: Option<time::OffsetDateTime>,
}

/// Who made the change recorded as `item` revision `revision`: a JSON object
/// with `status` = `found` (and `events`), `pending` (nothing found yet; asked
/// again on later passes) or `unknown` (and `reason`).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    pub item: String,
    pub revision: i64,
    pub who: serde_json::Value,
}

#[async_trait]
pub trait Monkey: Send + Sync {
    fn name(&self) -> &'static str;
    /// One pass. Returning `Err` means nothing from this pass is stored and no
    /// finding is resolved.
    async fn run(&self, ctx: &PassContext) -> Result<Report, MonkeyError>;
    /// After a pass is committed: who made these changes, if the monkey can
    /// tell. Must not fail: what it cannot find out it reports as `unknown`.
    async fn attribute(&self, written: &[Written]) -> Vec<Attribution> {
        let _ = written;
        Vec::new()
    }
}
