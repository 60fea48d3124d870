//! The `Monkey` trait and what one pass of a monkey produces.

use crate::clock::Clock;
use crate::finding::Finding;
use crate::shutdown::Shutdown;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One configuration item observed by a monkey (a security group, a role...).
/// Holds its content already canonical (text and hash), so a pass over a
/// large estate keeps one compact string per item rather than a JSON tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Stable id, `technology/account/region/name`; what `troop history` takes.
    pub item: String,
    pub technology: String,
    pub account: String,
    pub region: String,
    pub name: String,
    /// Canonical JSON (see [`crate::canonical`]).
    pub content: String,
    /// Hex SHA-256 of `content`; a revision is written only when it changes.
    pub hash: String,
}

impl Snapshot {
    /// `technology/account/region/name`.
    pub fn item_id(technology: &str, account: &str, region: &str, name: &str) -> String {
        format!("{technology}/{account}/{region}/{name}")
    }

    /// The technology and account of an [`Self::item_id`].
    pub fn item_scope(item: &str) -> (&str, &str) {
        let (technology, account, _) = Self::item_parts(item);
        (technology, account)
    }

    /// The technology, account and region of an [`Self::item_id`] (none of
    /// the three contains a `/`; a name may).
    pub fn item_parts(item: &str) -> (&str, &str, &str) {
        let mut parts = item.splitn(4, '/');
        (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default())
    }

    /// A snapshot of `content` under the item id built from the other parts.
    pub fn new(technology: &str, account: &str, region: &str, name: &str, content: &serde_json::Value) -> Snapshot {
        Snapshot::with_id(
            Snapshot::item_id(technology, account, region, name),
            technology,
            account,
            region,
            name,
            content,
        )
    }

    /// As [`Snapshot::new`], when the id's last part is not the display name
    /// (a security group's id vs its name).
    pub fn with_id(
        item: String,
        technology: &str,
        account: &str,
        region: &str,
        name: &str,
        content: &serde_json::Value,
    ) -> Snapshot {
        let mut content = crate::canonical::to_string(content);
        // A pass holds one of these per item: no growth slack.
        content.shrink_to_fit();
        let hash = crate::canonical::hash_str(&content);
        Snapshot {
            item,
            technology: technology.into(),
            account: account.into(),
            region: region.into(),
            name: name.into(),
            content,
            hash,
        }
    }

    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.content).unwrap_or(serde_json::Value::Null)
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
    /// What the monkey currently sees (certificates, quotas), keyed per kind:
    /// replaces the monkey's previous observations as a whole.
    pub observations: Vec<Observed>,
    pub gauges: Vec<Gauge>,
    /// Counters worth exporting (e.g. `aws_api_calls`).
    pub counters: BTreeMap<String, u64>,
}

/// A value to export as a Prometheus gauge; a monkey's gauges are replaced
/// by each of its successful passes (and kept in the store, so a restarted
/// process exports them from its first scrape).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Gauge {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One current observation (`troop certs`, `troop limits` list these).
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub kind: String,
    pub key: String,
    pub data: serde_json::Value,
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

/// What `attribute` found, and what asking cost (counters added to the
/// pass's own, e.g. `aws_api_calls`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributed {
    pub found: Vec<Attribution>,
    pub counters: BTreeMap<String, u64>,
}

#[async_trait]
pub trait Monkey: Send + Sync {
    fn name(&self) -> &'static str;
    /// One pass. Returning `Err` means nothing from this pass is stored and no
    /// finding is resolved.
    async fn run(&self, ctx: &PassContext) -> Result<Report, MonkeyError>;
    /// After a pass is committed: who made these changes, if the monkey can
    /// tell. Must not fail: what it cannot find out it reports as `unknown`.
    async fn attribute(&self, written: &[Written]) -> Attributed {
        let _ = written;
        Attributed::default()
    }
}
