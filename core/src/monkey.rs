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

/// Everything one shard's read produced. Committed in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Set when nothing of the shard could be read (why): the report holds
    /// only the `read-error` findings that say so. They are committed (so
    /// they are raised and later resolved), and the shard's pass is
    /// recorded failed: it read nothing.
    pub error: Option<String>,
    pub snapshots: Vec<Snapshot>,
    pub findings: Vec<Finding>,
    pub coverage: Vec<Coverage>,
    /// Items inside a covered scope that exist but could not be read this
    /// pass: neither deleted nor revised, and their findings stay as they are.
    pub untouched: Vec<String>,
    /// What the monkey currently sees of the shard (certificates, quotas),
    /// keyed per kind: replaces the shard's previous observations as a whole.
    pub observations: Vec<Observed>,
    pub gauges: Vec<Gauge>,
    /// Counters worth exporting (e.g. `aws_api_calls`): the engine fills
    /// them from [`PassContext::counters`] before the commit.
    pub counters: BTreeMap<String, u64>,
    /// Fingerprints of findings the source says have ended (a posted alert
    /// whose `endsAt` passed, see [`crate::alerting::posted`]): resolved
    /// whatever the coverage. A monkey's read leaves it empty: what it no
    /// longer reports inside its coverage resolves.
    pub resolved: Vec<String>,
}

/// Counts what a shard's read cost, by name (`aws_api_calls`,
/// `aws_api_calls:<service:operation>`, `cert_probes`…). The engine gives
/// each shard's read its own, so reads running at once are counted apart.
#[derive(Debug, Default)]
pub struct Counters {
    by_name: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    /// Add `n` to the counter `name`.
    pub fn add(&self, name: &str, n: u64) {
        let mut m = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        match m.get_mut(name) {
            Some(v) => *v += n,
            None => {
                m.insert(name.to_string(), n);
            }
        }
    }

    /// Every counter now.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.by_name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// One counter now (0 if never added to).
    pub fn get(&self, name: &str) -> u64 {
        self.by_name.lock().unwrap_or_else(|e| e.into_inner()).get(name).copied().unwrap_or(0)
    }
}

/// A unit of a monkey's work that is read and committed on its own, in its
/// own transaction under its own lease (see [`crate::store::Store::begin_pass`]):
/// `(monkey, account)`, or `(monkey, account, region)` for regional work.
/// Account-wide technologies (IAM, S3) belong to the account's shard. A
/// monkey whose judgements compare across accounts (certs: one name served
/// from several places) is one shard, the monkey itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shard {
    pub monkey: String,
    /// `None`: the whole monkey.
    pub account: Option<String>,
    /// `None`: account-wide (or the whole monkey).
    pub region: Option<String>,
}

impl Shard {
    /// The whole monkey as one shard.
    pub fn whole(monkey: &str) -> Shard {
        Shard { monkey: monkey.into(), account: None, region: None }
    }

    /// An account's shard (its account-wide work).
    pub fn account(monkey: &str, account: &str) -> Shard {
        Shard { monkey: monkey.into(), account: Some(account.into()), region: None }
    }

    /// One region of an account.
    pub fn region(monkey: &str, account: &str, region: &str) -> Shard {
        Shard { monkey: monkey.into(), account: Some(account.into()), region: Some(region.into()) }
    }

    /// The shard a key names: the inverse of [`Shard::key`] (no part of a
    /// key holds a `/`: monkey names, account ids and region names don't).
    pub fn from_key(key: &str) -> Shard {
        let mut parts = key.splitn(3, '/');
        Shard {
            monkey: parts.next().unwrap_or_default().to_string(),
            account: parts.next().map(str::to_string),
            region: parts.next().map(str::to_string),
        }
    }

    /// The monkey a shard key belongs to (its first part).
    pub fn monkey_of(key: &str) -> &str {
        key.split('/').next().unwrap_or_default()
    }

    /// The shard of this one's account: itself when account-wide (or the
    /// whole monkey), its account's shard when regional.
    pub fn account_shard(&self) -> Shard {
        Shard { region: None, ..self.clone() }
    }

    /// The stable id leases, pass records and observations use:
    /// `monkey`, `monkey/account` or `monkey/account/region`.
    pub fn key(&self) -> String {
        let mut k = self.monkey.clone();
        for part in [&self.account, &self.region].into_iter().flatten() {
            k.push('/');
            k.push_str(part);
        }
        k
    }
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

/// What a monkey gets for one read (listing its shards, reading one shard,
/// attributing). AWS clients, accounts and regions are not here (core knows
/// nothing of AWS): a monkey is built with them by its crate.
#[derive(Clone)]
pub struct PassContext {
    pub clock: Arc<dyn Clock>,
    pub shutdown: Shutdown,
    pub progress: Arc<dyn Progress>,
    /// What this read cost; its own for each read (see [`Counters`]).
    pub counters: Arc<Counters>,
}

impl PassContext {
    /// The same context with fresh counters (one per read).
    pub fn fresh(&self) -> PassContext {
        PassContext { counters: Arc::default(), ..self.clone() }
    }
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
    /// The shards of this pass (accounts and regions as configured or
    /// discovered now). An `Err` fails the pass before any shard is read.
    /// Default: the whole monkey is one shard.
    async fn shards(&self, ctx: &PassContext) -> Result<Vec<Shard>, MonkeyError> {
        let _ = ctx;
        Ok(vec![Shard::whole(self.name())])
    }
    /// How many shards may be read at once (each one's report is held until
    /// it commits: memory is this many shards). Default 1.
    fn parallel_shards(&self) -> usize {
        1
    }
    /// Read one shard. Returning `Err` means nothing of this shard is
    /// stored and none of its findings is resolved; other shards commit.
    async fn run(&self, ctx: &PassContext, shard: &Shard) -> Result<Report, MonkeyError>;
    /// After a pass is committed: who made these changes, if the monkey can
    /// tell (what asking cost goes to `ctx.counters`). Must not fail: what
    /// it cannot find out it reports as `unknown`.
    async fn attribute(&self, ctx: &PassContext, written: &[Written]) -> Vec<Attribution> {
        let _ = (ctx, written);
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn shard_keys_table() {
        // (shard, key, account's shard key)
        let cases = [
            (Shard::whole("certs"), "certs", "certs"),
            (Shard::account("security", "111"), "security/111", "security/111"),
            (Shard::region("security", "111", "eu-west-1"), "security/111/eu-west-1", "security/111"),
        ];
        for (shard, key, account) in cases {
            assert_eq!(shard.key(), key);
            assert_eq!(Shard::from_key(key), shard, "{key}");
            assert_eq!(shard.account_shard().key(), account);
            assert_eq!(Shard::monkey_of(key), shard.monkey);
        }
    }
}
