//! The `Store` trait: durable findings, item revisions and pass records.
//!
//! Methods are synchronous; the engine calls them from a blocking thread.
//! Invariants every implementation keeps:
//! - `commit_pass` is atomic. A reader never sees half of a pass, and a
//!   process killed mid-commit leaves the store as it was before the pass.
//! - Passes of one shard commit in order. A pass begins with
//!   [`Store::begin_pass`], which leases the shard to one process at a time
//!   and hands the pass a new epoch (a fencing token); `commit_pass` checks,
//!   inside its transaction, that the epoch is still the shard's current one
//!   and that the pass's view is not older than the committed one, and
//!   refuses with [`StoreError::Superseded`] otherwise. Two passes of a
//!   shard never overlap, and one whose lease lapsed (a process stalled past
//!   it) never writes its stale view over a newer one.

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
    /// The pass's lease was superseded (it lapsed and another pass of the
    /// shard began) or its view is older than the one committed: nothing
    /// was written.
    #[error("pass of {shard} not applied: {reason}")]
    Superseded { shard: String, reason: String },
    /// Another process holds the shard's pass lease (it is running a pass).
    #[error("another troop process ({owner}) has been running a pass of {shard} since {since}")]
    LeaseHeld { shard: String, owner: String, since: String },
    /// The shard was read recently enough (by another replica): not due.
    #[error("{shard} was read at {at}: not due yet")]
    NotDue { shard: String, at: String },
}

/// A pass's hold on its shard, from [`Store::begin_pass`]: the shard's key
/// ([`crate::monkey::Shard::key`]: `monkey`, `monkey/account` or
/// `monkey/account/region`) and the epoch, a fencing token that grows by one
/// each time a pass of the shard begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassLease {
    pub shard: String,
    pub epoch: i64,
    /// The replica whose live-looking lease this one took over (it expired,
    /// or its process is gone), if any: a takeover.
    pub took_over_from: Option<String>,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "host".into())
}

/// This process as leases, pass records and `troop status` name it (a
/// replica): `host:pid:random`, the same for the process's life (the random
/// part tells a restarted process from its predecessor with a reused pid).
pub fn lease_owner() -> String {
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWNER.get_or_init(|| format!("{}:{}:{:08x}", host(), std::process::id(), fastrand::u32(..))).clone()
}

/// This host's name (`/proc/sys/kernel/hostname`).
pub fn host_name() -> String {
    host()
}

/// Whether a lease owner ([`lease_owner`]) is a process of this host that no
/// longer exists (its lease can be taken before it expires).
pub fn owner_gone(owner: &str) -> bool {
    let mut parts = owner.split(':');
    match (parts.next(), parts.next().and_then(|p| p.parse::<u32>().ok())) {
        (Some(h), Some(pid)) if h == host() => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        _ => false,
    }
}

/// What a store holds of a shard's pass lease (`pass_lease`): the epoch,
/// its holder, when the holder began (ms), and the view last committed
/// (when the committed pass began, ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLease {
    pub epoch: i64,
    pub owner: String,
    pub started_at: i64,
    pub committed_view: Option<i64>,
}

/// The fence of a shard's commit, decided inside its transaction: `Ok`
/// when `pass` still holds the shard's current epoch and its view (when it
/// began) is not older than the committed one; otherwise
/// [`StoreError::Superseded`] saying why. Every backend applies this one rule.
pub fn fence(pass: &PassMeta, held: Option<&HeldLease>) -> Result<(), StoreError> {
    let shard = &pass.lease.shard;
    let refuse = |reason: String| Err(StoreError::Superseded { shard: shard.clone(), reason });
    let Some(held) = held else {
        return refuse("the pass holds no lease on its shard (it did not begin with begin_pass)".into());
    };
    let view = crate::alerting::millis(pass.started_at);
    if held.epoch != pass.lease.epoch {
        return refuse(format!(
            "its lease lapsed and a newer pass (epoch {}, {}, begun {}) took the shard over from this one (epoch {}); its view is older",
            held.epoch,
            held.owner,
            crate::clock::rfc3339_ms(held.started_at),
            pass.lease.epoch
        ));
    }
    if let Some(c) = held.committed_view.filter(|c| *c > view) {
        return refuse(format!(
            "its view (begun {}) is older than the committed one (begun {})",
            crate::clock::rfc3339_ms(view),
            crate::clock::rfc3339_ms(c)
        ));
    }
    Ok(())
}

/// Who may take the gateway lease: given what the store holds (`owner`,
/// `until` ms, `epoch`), the epoch `owner` gets at `now`, or `None` while
/// another live owner holds it. A renewal of a live lease keeps its epoch;
/// every new tenure (a free, expired or stale lease, or the owner's own
/// lapsed one) raises it.
pub fn alert_lease_epoch(
    held: Option<(&str, i64, i64)>,
    owner: &str,
    now: i64,
    stale: &dyn Fn(&str) -> bool,
) -> Option<i64> {
    match held {
        None => Some(1),
        Some((o, u, e)) if o == owner && u >= now => Some(e),
        Some((o, u, e)) if o == owner || u < now || stale(o) => Some(e + 1),
        Some(_) => None,
    }
}

/// Whose lease a begin takes over, given the lease as held (`holder`,
/// since, until ms): another owner's that was never given back (until not
/// 0: it lapsed, or its process died). A lease given back is no takeover.
pub fn took_over(held: Option<(&str, i64, i64)>, owner: &str) -> Option<String> {
    held.filter(|(holder, _, until)| *holder != owner && *until > 0).map(|(holder, _, _)| holder.to_string())
}

/// Whether a shard is due: not when the pass that last committed it began
/// (its round, ms; [`PassMeta::round`]) at or after `fresh_after` (ms);
/// then [`StoreError::NotDue`]. By the round, not the read: a shard read
/// late in one round is due early in the next.
pub fn due(shard: &str, committed_round: Option<i64>, fresh_after: Option<i64>) -> Result<(), StoreError> {
    match (committed_round, fresh_after) {
        (Some(view), Some(after)) if view >= after => {
            Err(StoreError::NotDue { shard: shard.to_string(), at: crate::clock::rfc3339_ms(view) })
        }
        _ => Ok(()),
    }
}

/// Whether `owner` may begin a pass of `shard` at `now` given its lease as
/// held (`holder`, since ms, until ms): when free, expired, `owner`'s, or
/// held by an owner `stale` says is gone; otherwise
/// [`StoreError::LeaseHeld`].
pub fn may_begin(
    shard: &str,
    held: Option<(&str, i64, i64)>,
    owner: &str,
    now: i64,
    stale: &dyn Fn(&str) -> bool,
) -> Result<(), StoreError> {
    match held {
        Some((holder, since, until)) if holder != owner && until >= now && !stale(holder) => {
            Err(StoreError::LeaseHeld {
                shard: shard.to_string(),
                owner: holder.to_string(),
                since: crate::clock::rfc3339_ms(since),
            })
        }
        _ => Ok(()),
    }
}

/// The `monkey/account` of a shard with an account (`monkey/account`,
/// `monkey/account/region`); `None` for a whole-monkey shard (`certs`).
pub fn account_of(shard: &str) -> Option<String> {
    let s = crate::monkey::Shard::from_key(shard);
    s.account.is_some().then(|| s.account_shard().key())
}

/// Whether `owner` may begin a shard given the leases of the other shards
/// of its monkey and account (`siblings`: shard, holder, since ms, until ms;
/// see [`account_of`]): not while another live replica holds one of them
/// ([`StoreError::LeaseHeld`] naming it).
///
/// The rule: **one replica reads a (monkey, account) at a time.** A
/// replica's request budgets are token buckets per (service, account,
/// region) in its own process; an account's shards of one monkey share
/// buckets (its account shard asks EC2 in the home region, as its regional
/// shard there does), so they must not be read by two replicas at once, or
/// the account would see twice the configured rate. A monkey's shards of
/// different accounts never share a bucket. Different monkeys are not kept
/// apart (each reads on its own schedule, and a replica holding one
/// monkey's shard will not read another's): where AWS counts their calls
/// together (EC2's describe calls of an account and region), replicas
/// reading one account for different monkeys at once add their rates.
pub fn may_begin_in_account(
    siblings: &[(String, String, i64, i64)],
    owner: &str,
    now: i64,
    stale: &dyn Fn(&str) -> bool,
) -> Result<(), StoreError> {
    for (shard, holder, since, until) in siblings {
        may_begin(shard, Some((holder, *since, *until)), owner, now, stale)?;
    }
    Ok(())
}

/// The pass of one shard being committed or recorded (its shard is
/// `lease.shard`).
#[derive(Debug, Clone)]
pub struct PassMeta {
    pub monkey: String,
    /// When the pass began reading this shard: the age of its view.
    pub started_at: OffsetDateTime,
    /// When the pass (of all its shards) began: the round the read belongs
    /// to. A scheduled pass finds a shard due by its last round, not by
    /// when within that round it was read ([`due`]).
    pub round: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    /// The lease `begin_pass` gave the pass; `commit_pass` is fenced by it.
    pub lease: PassLease,
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
    /// Only findings at or above this severity.
    pub min_severity: Option<crate::finding::Severity>,
    /// Only findings about this item (`details.item`, an item id): an item
    /// page's findings, read without reading every finding.
    pub item: Option<String>,
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
    /// Begin a pass of `shard` for `owner` (`host:pid:random`), leased until
    /// `until`: granted when the shard's lease is free, expired, `owner`'s,
    /// or held by an owner `stale` says is gone — then with a new epoch (the
    /// fencing token `commit_pass` checks). Otherwise
    /// [`StoreError::LeaseHeld`]: another process is running a pass of the
    /// shard, and this one must not start (its view would race that one).
    ///
    /// With `fresh_after`, a shard whose last committed read began at or
    /// after it is not due ([`StoreError::NotDue`]): another replica read it
    /// this round.
    fn begin_pass(
        &self,
        shard: &str,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        stale: &dyn Fn(&str) -> bool,
        fresh_after: Option<OffsetDateTime>,
    ) -> Result<PassLease, StoreError>;
    /// Extend a pass's lease to `until` while it reads: true when `lease`
    /// is still the shard's current epoch (extended), false when another
    /// pass took the shard over (the reader must stop: it cannot commit).
    fn renew_pass(&self, lease: &PassLease, until: OffsetDateTime) -> Result<bool, StoreError>;
    /// Give up a pass's lease without committing (the pass failed, timed
    /// out or was abandoned); a lease no longer held is left alone.
    fn end_pass(&self, lease: &PassLease) -> Result<(), StoreError>;
    /// Apply a shard's read: new revisions, deletions inside covered
    /// scopes, finding lifecycle ([`crate::lifecycle::plan`]), the shard's
    /// observations (replaced whole), the alert log's events and the pass
    /// record (`failed` with `report.error` when the shard was unreadable).
    /// One transaction, refused with [`StoreError::Superseded`] (nothing
    /// written) when `pass.lease` is no longer the shard's current epoch or
    /// `pass.started_at` is older than the view last committed for the shard.
    fn commit_pass(&self, pass: &PassMeta, report: &Report) -> Result<CommitOutcome, StoreError>;
    /// Drop the observations of `monkey`'s shards not in `shards` (keys):
    /// shards a pass no longer lists (an account left the configuration).
    /// Their leases go too once free, so `troop status` stops listing them.
    fn keep_shards(&self, monkey: &str, shards: &[String], now: OffsetDateTime) -> Result<(), StoreError>;
    /// Every shard with a lease (each pass of a shard begins with one): its
    /// live holder at `now`, its last success and whose pass that was.
    fn shard_records(&self, now: OffsetDateTime) -> Result<Vec<crate::status::ShardRecord>, StoreError>;
    /// Record a replica's heartbeat (`troop run`, every
    /// [`crate::status::HEARTBEAT`]).
    fn heartbeat(&self, replica: &crate::status::Replica) -> Result<(), StoreError>;
    /// Whether this store's commits run one at a time (SQLite: one
    /// writer). A pass then reads ahead only as far as the commits keep up
    /// ([`crate::engine::ReadAhead`]); a store whose commits run side by side
    /// (PostgreSQL) gets every read the monkey allows at once. Default: no.
    fn serializes_commits(&self) -> bool {
        false
    }
    /// The replicas seen at or after `since` (ms), by id.
    fn replicas(&self, since: i64) -> Result<Vec<crate::status::Replica>, StoreError>;
    /// Record a pass that failed and give its lease back (as `end_pass`);
    /// changes nothing else.
    fn record_failed_pass(&self, pass: &PassMeta, error: &str) -> Result<(), StoreError>;
    fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>, StoreError>;
    /// Record a change event (`POST /api/v1/events`, see
    /// [`crate::timeline`]) received at `received_at`: true when stored,
    /// false when its source already has an event with its `id` (a retry;
    /// nothing changes, the first one stands).
    fn record_event(
        &self,
        event: &crate::timeline::ChangeEvent,
        received_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Change events that happened at or after `since`, oldest first.
    fn events_since(&self, since: OffsetDateTime) -> Result<Vec<crate::timeline::ChangeEvent>, StoreError>;
    /// Alert transitions (the alert log's events but `still_open`: opened,
    /// escalated, de-escalated, resolved) at or after `since`, oldest first.
    fn transitions_since(&self, since: OffsetDateTime) -> Result<Vec<crate::FindingEvent>, StoreError>;
    /// Revisions recorded at or after `since`, oldest first.
    fn revisions_since(&self, since: OffsetDateTime) -> Result<Vec<Revision>, StoreError>;
    /// How many revisions were recorded at or after `since`, and the newest
    /// `limit` of them, newest first (a page's "the last hour: N changes"
    /// without reading them all).
    fn revisions_latest(&self, since: OffsetDateTime, limit: usize) -> Result<(u64, Vec<Revision>), StoreError>;
    /// Every revision of one item, oldest first (content included).
    fn history(&self, item: &str) -> Result<Vec<Revision>, StoreError>;
    /// The item as it was at `at`: its latest revision recorded at or before
    /// then (content included; `None` content = deleted). `None` if it did not
    /// exist yet.
    fn state_at(&self, item: &str, at: OffsetDateTime) -> Result<Option<Revision>, StoreError>;
    /// Item ids matching what a user typed: the exact id; else every item
    /// whose id ends with `/query` or whose name equals it; else every item
    /// whose id, or whose id's last part, starts with it (`sg-0abc` for
    /// `…/sg-0abc123…`).
    fn find_items(&self, query: &str) -> Result<Vec<String>, StoreError>;
    /// When troop first recorded anything of `technology` in `account` (the
    /// first pass that read that scope), if ever: before then, "it did not
    /// exist" is unknowable.
    fn first_observed(&self, technology: &str, account: &str) -> Result<Option<OffsetDateTime>, StoreError>;
    /// How many passes are recorded, per status (`ok`, `failed`).
    fn pass_counts(&self) -> Result<std::collections::BTreeMap<String, i64>, StoreError>;
    /// When each monkey's last successful pass finished.
    fn last_successes(&self) -> Result<std::collections::BTreeMap<String, OffsetDateTime>, StoreError>;
    /// The current observations of `kind` (data as the monkey reported it).
    fn observations(&self, kind: &str) -> Result<Vec<serde_json::Value>, StoreError>;
    /// Record who made changes (a separate, small transaction after the pass).
    fn attach_who(&self, attributions: &[Attribution]) -> Result<(), StoreError>;
    /// Modified or deleted revisions written since `since` by passes of
    /// `shard` (its key) or of the shards under it (`shard/…`: an account's
    /// regions), whose author is still `pending` or was never asked.
    fn pending_attribution(&self, shard: &str, since: OffsetDateTime) -> Result<Vec<Written>, StoreError>;
}

/// A notification waiting in (or delivered from) a sink's outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: i64,
    pub sink: String,
    pub notification: crate::alerting::Notification,
    pub attempts: u32,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Delivered,
    /// Try again at this time (ms since the epoch).
    Retry {
        at: i64,
        error: String,
    },
    /// Permanent failure: kept, visible, not retried.
    Failed {
        error: String,
    },
}

/// One gateway round, applied atomically: events consumed up to `cursor`,
/// groups and members changed or removed, notifications queued. Only what
/// changed is written: a group's members are rows of their own.
#[derive(Debug, Clone, Default)]
pub struct AlertBatch {
    pub cursor: i64,
    /// Groups made or changed, as their [`crate::alerting::Group::header`]
    /// (members empty; those that changed are in `members`).
    pub upsert: Vec<crate::alerting::Group>,
    /// Keys of the groups gone, with every member row they had.
    pub remove: Vec<String>,
    /// Members joined or changed: (group key, member); the member's
    /// fingerprint is its finding's.
    pub members: Vec<(String, crate::alerting::Member)>,
    /// Members gone from a group that stays: (group key, fingerprint).
    pub left: Vec<(String, String)>,
    pub outbox: Vec<crate::alerting::Notification>,
    /// Forget delivered and failed outbox entries finished before this time.
    pub prune_before: Option<i64>,
}

/// Per sink: what waits, what failed for good, what was delivered.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutboxStats {
    pub sink: String,
    pub pending: u64,
    pub failed: u64,
    pub delivered: u64,
    /// Attempts that failed, transient or not, over the outbox's life.
    pub failed_attempts: u64,
    pub last_error: Option<String>,
    /// Times the sink's delivery task died (a panic) and was restarted.
    pub task_restarts: u64,
    /// Why it last died.
    pub task_error: Option<String>,
}

/// A silence as stored: matchers in their text form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SilenceRecord {
    pub id: String,
    pub matchers: Vec<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub author: String,
    pub reason: String,
    pub created_at: String,
}

/// The alert gateway's durable state: the event log every committed pass
/// appends to (in the pass's own transaction), the groups (what each receiver
/// was told), the per-sink outboxes, and silences.
pub trait AlertStore: Send + Sync {
    /// Apply what an outside source posted (`POST /api/v2/alerts`, see
    /// [`crate::alerting::posted`]) as findings of monkey `source`:
    /// `report.findings` opened, escalated or still open, `report.resolved`
    /// resolved, by [`crate::lifecycle::plan`] (a report without coverage
    /// resolves nothing else), with their alert-log events. One
    /// transaction, at `at`. No lease (a post is not a read of a shard; any
    /// replica takes posts) and no pass record: the findings' `pass_id` is
    /// 0. Returns the events logged.
    fn ingest(&self, source: &str, report: &Report, at: OffsetDateTime) -> Result<Vec<FindingEvent>, StoreError>;
    /// Posted findings (scope [`crate::alerting::posted::SCOPE`]) that are
    /// open or silenced: those whose `endsAt` may pass.
    fn posted_unresolved(&self) -> Result<Vec<crate::finding::StoredFinding>, StoreError>;
    /// The last event consumed and every group.
    fn alert_state(&self) -> Result<(i64, Vec<crate::alerting::Group>), StoreError>;
    /// The findings open now (the gateway aligns its groups with the routes
    /// for them when it takes over: `Groups::reconcile`).
    fn open_findings(&self) -> Result<Vec<crate::finding::StoredFinding>, StoreError>;
    /// Events after `cursor`, oldest first, at most `limit`.
    fn alert_events(&self, after: i64, limit: usize) -> Result<Vec<(i64, FindingEvent)>, StoreError>;
    /// One transaction: cursor, groups, outbox; consumed events are dropped.
    fn alert_apply(&self, batch: &AlertBatch) -> Result<(), StoreError>;
    /// Pending entries of one sink that are due, oldest first, at most
    /// `limit`. Each group's notifications go out in order: an entry not yet
    /// due (waiting for a retry) holds back the later ones of its group
    /// (`Notification::group_id`), and no other group's.
    fn outbox_due(&self, sink: &str, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;
    /// When the sink's next pending entry is due, if any: the earliest of
    /// each group's first pending entry.
    fn outbox_next(&self, sink: &str) -> Result<Option<i64>, StoreError>;
    fn outbox_mark(&self, id: i64, outcome: &Delivery, now: i64) -> Result<(), StoreError>;
    /// Per sink with an outbox entry or a recorded task restart, by name.
    fn outbox_stats(&self) -> Result<Vec<OutboxStats>, StoreError>;
    /// The sink's delivery task died with `error` at `at` (ms) and is being
    /// restarted: counted, and shown by `troop alerts status`.
    fn record_task_restart(&self, sink: &str, error: &str, at: i64) -> Result<(), StoreError>;
    /// Mark failed, with `error`, every pending entry of a sink not in
    /// `keep` (sinks the configuration no longer has: nothing would ever
    /// drain them). Returns how many entries that was.
    fn outbox_abandon(&self, keep: &[&str], error: &str, now: i64) -> Result<usize, StoreError>;
    fn silences(&self) -> Result<Vec<SilenceRecord>, StoreError>;
    /// Take or renew the gateway lease until `until` (ms): granted when it is
    /// free, expired, already `owner`'s, or held by an owner `stale` says is
    /// gone. One process at a time routes and delivers for a store. Returns
    /// the lease's epoch when granted (`None` when another holds it): a
    /// renewal of a live lease keeps it, every new tenure raises it.
    fn alert_lease(
        &self,
        owner: &str,
        now: i64,
        until: i64,
        stale: &dyn Fn(&str) -> bool,
    ) -> Result<Option<i64>, StoreError>;
    /// Whether `owner` still holds the gateway lease with `epoch` at `now`
    /// (checked before each send: a process whose lease lapsed stops).
    fn alert_lease_holds(&self, owner: &str, epoch: i64, now: i64) -> Result<bool, StoreError>;
    /// Give the lease up (if `owner` holds it).
    fn alert_release(&self, owner: &str) -> Result<(), StoreError>;
    fn add_silence(&self, s: &SilenceRecord) -> Result<(), StoreError>;
    /// End a silence now; false if there is no such active silence.
    fn end_silence(&self, id: &str, at: &str) -> Result<bool, StoreError>;
}

/// Every store backend: the pass store and the alert store behind one
/// handle. The traits are synchronous on purpose: a commit interleaves the
/// planner's reads and decisions inside one transaction, and SQLite (the
/// embedded backend) is synchronous. Callers run them on blocking threads
/// (`tokio::task::spawn_blocking`), never on a runtime worker; a backend
/// over an async driver bridges with `Handle::block_on` on those threads.
pub trait Backend: Store + AlertStore {}

impl<T: Store + AlertStore + ?Sized> Backend for T {}

/// Run one store call on a blocking thread, as every async caller must (the
/// traits are synchronous: see [`Backend`]). A call that panicked is a
/// [`StoreError::Backend`].
pub async fn blocking<S, T>(
    store: &std::sync::Arc<S>,
    f: impl FnOnce(&S) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError>
where
    S: ?Sized + Send + Sync + 'static,
    T: Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&*store))
        .await
        .map_err(|e| StoreError::Backend(format!("store call failed: {e}")))?
}

/// What the binary, the server and the gateway hold: a backend opened from
/// the `[agent] store` URL, never a concrete type.
pub type StoreHandle = std::sync::Arc<dyn Backend>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A lease as held: (owner, since or until, until or epoch).
    type Held<'a> = Option<(&'a str, i64, i64)>;

    #[test]
    fn lease_rules_table() {
        let stale = |o: &str| o == "dead";
        // gateway lease: (held owner, until, epoch), who asks, now -> epoch granted
        let cases: &[(Held, &str, i64, Option<i64>)] = &[
            (None, "a", 10, Some(1)),
            (Some(("a", 20, 4)), "a", 10, Some(4)), // renewal keeps the epoch
            (Some(("a", 5, 4)), "a", 10, Some(5)),  // own lapsed lease: a new tenure
            (Some(("b", 20, 4)), "a", 10, None),    // another live owner
            (Some(("b", 5, 4)), "a", 10, Some(5)),  // expired
            (Some(("dead", 20, 4)), "a", 10, Some(5)),
        ];
        for (held, owner, now, want) in cases {
            assert_eq!(alert_lease_epoch(*held, owner, *now, &stale), *want, "{held:?} {owner}");
        }
        // pass lease: (holder, since, until) -> may `a` begin at 10
        let begins: &[(Held, bool)] = &[
            (None, true),
            (Some(("a", 1, 20)), true),
            (Some(("b", 1, 20)), false),
            (Some(("b", 1, 9)), true),
            (Some(("b", 1, 10)), false), // until is inclusive
            (Some(("dead", 1, 20)), true),
        ];
        assert_eq!(took_over(Some(("b", 1, 9)), "a"), Some("b".to_string()), "lapsed");
        assert_eq!(took_over(Some(("b", 1, 0)), "a"), None, "given back");
        assert_eq!(took_over(Some(("a", 1, 9)), "a"), None, "its own");
        assert_eq!(took_over(None, "a"), None);
        for (held, ok) in begins {
            let r = may_begin("security/1", *held, "a", 10, &stale);
            assert_eq!(r.is_ok(), *ok, "{held:?}: {r:?}");
            if let Err(e) = r {
                assert!(matches!(e, StoreError::LeaseHeld { ref owner, .. } if owner == "b"), "{e}");
            }
        }
    }

    #[test]
    fn one_replica_reads_a_monkeys_account_at_a_time() {
        // (shard, its account's key)
        let accounts =
            [("security/111", Some("security/111")), ("security/111/eu-west-1", Some("security/111")), ("certs", None)];
        for (shard, want) in accounts {
            assert_eq!(account_of(shard).as_deref(), want, "{shard}");
        }
        let stale = |o: &str| o == "dead";
        let lease = |shard: &str, holder: &str, until: i64| (shard.to_string(), holder.to_string(), 1, until);
        // (the other shards' leases, may `a` begin at 10)
        let cases = [
            (vec![], true),
            (vec![lease("security/111/r1", "a", 20)], true),  // its own
            (vec![lease("security/111/r1", "b", 20)], false), // another replica reads the account
            (vec![lease("security/111/r1", "b", 9)], true),   // lapsed
            (vec![lease("security/111/r1", "b", 0)], true),   // given back
            (vec![lease("security/111/r1", "dead", 20)], true),
            (vec![lease("security/111/r1", "a", 20), lease("security/111", "b", 20)], false),
        ];
        for (siblings, ok) in cases {
            let r = may_begin_in_account(&siblings, "a", 10, &stale);
            assert_eq!(r.is_ok(), ok, "{siblings:?}: {r:?}");
            if let Err(e) = r {
                assert!(matches!(e, StoreError::LeaseHeld { ref owner, .. } if owner == "b"), "{e}");
            }
        }
    }

    #[test]
    fn due_table() {
        // (committed view, fresh after, due)
        let cases = [
            (None, None, true),
            (None, Some(100), true),
            (Some(50), None, true),
            (Some(50), Some(100), true),
            (Some(100), Some(100), false),
            (Some(150), Some(100), false),
        ];
        for (view, after, want) in cases {
            let r = due("certs", view, after);
            assert_eq!(r.is_ok(), want, "{view:?} {after:?}: {r:?}");
        }
    }

    #[test]
    fn fence_table() {
        let at = |ms: i64| OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap();
        let pass = |epoch: i64, began: i64| PassMeta {
            monkey: "security".into(),
            started_at: at(began),
            round: at(began),
            finished_at: at(began + 5),
            lease: PassLease { shard: "security/1".into(), epoch, took_over_from: None },
        };
        let held = |epoch: i64, view: Option<i64>| HeldLease {
            epoch,
            owner: "b".into(),
            started_at: 1_000,
            committed_view: view,
        };
        // (pass epoch, began ms, held, refused because)
        let cases: Vec<(i64, i64, Option<HeldLease>, Option<&str>)> = vec![
            (3, 2_000, Some(held(3, None)), None),
            (3, 2_000, Some(held(3, Some(1_500))), None),
            (3, 2_000, Some(held(3, Some(2_000))), None), // the same view again
            (3, 2_000, Some(held(3, Some(2_500))), Some("older than the committed one")),
            (3, 2_000, Some(held(4, None)), Some("a newer pass (epoch 4")),
            (3, 2_000, None, Some("holds no lease")),
        ];
        for (epoch, began, held, refused) in cases {
            let r = fence(&pass(epoch, began), held.as_ref());
            match (refused, r) {
                (None, Ok(())) => {}
                (Some(why), Err(StoreError::Superseded { shard, reason })) => {
                    assert_eq!(shard, "security/1");
                    assert!(reason.contains(why), "{reason}");
                }
                (want, got) => panic!("{held:?}: wanted {want:?}, got {got:?}"),
            }
        }
    }
}
