//! The pass engine: run one monkey pass and commit its report atomically. The
//! commit also appends the pass's finding events to the alert log in the same
//! transaction; the gateway (troop-alerts) routes and delivers from there, so a
//! crash after the commit loses no alert.

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::monkey::{Monkey, MonkeyError, PassContext, Progress, Shard};
use crate::shutdown::Shutdown;
use crate::store::{CommitOutcome, PassLease, PassMeta, Store, StoreError, blocking};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Changes are attributed for this long after they are recorded (audit logs
/// such as CloudTrail deliver events minutes late).
pub const ATTRIBUTION_WINDOW: time::Duration = time::Duration::minutes(30);
/// How long a shard's lease lasts unless renewed, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How recent a read makes a shard not due for a scheduled pass: 90% of the
/// shortest gap between two passes (`interval × (1 − jitter)`), so the next
/// pass of any replica finds it due again.
pub fn fresh_for(schedule: &crate::scheduler::Schedule) -> Duration {
    schedule.interval.mul_f64((1.0 - schedule.jitter.clamp(0.0, 0.5)) * 0.9)
}

/// Longest a monkey may take to attribute one pass's changes.
pub const ATTRIBUTION_TIMEOUT: Duration = Duration::from_secs(30);

/// How a pass of a monkey ended, from its shards' ends
/// ([`PassStatus::of_shards`]); a shard that committed stays committed
/// whatever the pass's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassStatus {
    Ok,
    /// Listing the shards failed, a shard failed, or nothing could be read.
    Failed(String),
    /// Every shard ran out of the pass's time.
    TimedOut(Duration),
    /// Another pass of the same monkey was still running.
    Skipped,
    /// Shutdown came and the grace period ran out; the shards not committed
    /// by then wrote nothing.
    Abandoned,
    /// A shard's lease lapsed and a newer pass of it took over before it
    /// committed: its older view was refused, nothing was written from it
    /// (see [`StoreError::Superseded`]).
    Superseded(String),
    /// Another process is running a pass of a shard of this monkey on the
    /// same store (it holds the lease): this one did not read that shard.
    Busy(String),
}

impl PassStatus {
    pub fn is_ok(&self) -> bool {
        matches!(self, PassStatus::Ok)
    }
}

#[derive(Debug, Clone)]
pub struct PassSummary {
    pub monkey: String,
    pub status: PassStatus,
    pub duration: Duration,
    pub items_seen: usize,
    pub revisions_written: usize,
    /// Open findings of the monkey after its last shard committed.
    pub open_findings: usize,
    /// Finding events other than "still open" (opened, escalated,
    /// de-escalated, resolved) the pass's commits logged.
    pub changes: usize,
    pub counters: BTreeMap<String, u64>,
    /// Each shard, by key.
    pub shards: Vec<ShardOutcome>,
}

/// The observation kind under which each pass keeps its gauges
/// (`{"monkey": …, "gauges": [Gauge…]}`).
pub const GAUGES: &str = "gauges";

pub struct Engine {
    store: Arc<dyn Store>,
    /// Woken after every committed pass (the gateway listens).
    committed: Arc<tokio::sync::Notify>,
    /// Labels every finding of an account gets (`[[aws.accounts]]` name and
    /// labels), keyed by account id; a finding's own labels win.
    account_labels: Arc<AccountLabels>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    progress: Arc<dyn Progress>,
    running: Mutex<HashSet<String>>,
    /// This process, as pass leases name it (`host:pid:random`).
    owner: String,
    /// How long a shard's lease lasts unless renewed (`[agent] lease`).
    lease: Duration,
    /// How often a held lease is renewed (`[agent] lease_renewal`).
    renewal: Duration,
    /// Shards of any pass between the end of their read and the end of
    /// their commit: more than zero when a read ends means the store is the
    /// slower side ([`ReadAhead`]).
    committing: std::sync::atomic::AtomicUsize,
}

/// The labels every finding of an account gets (its name, its
/// `[[aws.accounts]]` labels, its organization tags), by account id. Shared:
/// whoever discovers accounts (an organization read again) replaces them
/// while passes run; a finding's own labels win.
#[derive(Debug, Default)]
pub struct AccountLabels(std::sync::RwLock<BTreeMap<String, BTreeMap<String, String>>>);

impl AccountLabels {
    /// Replace the labels of every account.
    pub fn set(&self, labels: BTreeMap<String, BTreeMap<String, String>>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = labels;
    }

    /// The labels of `account`, if it has any.
    pub fn of(&self, account: &str) -> Option<BTreeMap<String, String>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).get(account).cloned()
    }
}

/// How many shards a pass reads at once: as many as the store keeps up
/// with, at most the monkey's [`Monkey::parallel_shards`]. Memory is the
/// reports read and not yet committed, so reading ahead of a store that
/// commits one at a time ([`Store::serializes_commits`]: SQLite) slower
/// than the reads end only holds reports longer. A store whose commits run
/// side by side (PostgreSQL) is read at `max` ([`ReadAhead::fixed`]):
/// another commit under way there is no backlog.
///
/// The rule (additive increase, additive decrease, as the gradient limits
/// of Netflix's concurrency-limits): it starts at `max`; a read that ends
/// while another shard is committing lowers the limit by one, down to one;
/// a read that ends while the store is idle raises it by one, up to `max`.
/// Reads against AWS take longer than commits, so the limit stays at `max`;
/// reads that end faster than the store commits settle at one or two. It
/// never starts low: a shard whose read hangs must not hold back the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAhead {
    limit: usize,
    max: usize,
    /// Whether the limit follows the store; not when its commits run side
    /// by side ([`Store::serializes_commits`]): then it stays at `max`.
    adaptive: bool,
}

impl ReadAhead {
    /// Start at `max` shards (at least one), following the store.
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        ReadAhead { limit: max, max, adaptive: true }
    }

    /// Always `max` shards (at least one): for a store whose commits run
    /// side by side, where another commit under way is no backlog.
    pub fn fixed(max: usize) -> Self {
        ReadAhead { adaptive: false, ..Self::new(max) }
    }

    /// Shards that may be in flight now.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A shard's read ended; `store_busy`: another shard was committing.
    pub fn read_ended(&mut self, store_busy: bool) {
        if !self.adaptive {
            return;
        }
        self.limit = if store_busy { self.limit.saturating_sub(1).max(1) } else { (self.limit + 1).min(self.max) };
    }
}

/// Removes the monkey from the running set however the pass ends.
struct RunningGuard<'a> {
    set: &'a Mutex<HashSet<String>>,
    name: String,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.name);
    }
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        progress: Arc<dyn Progress>,
    ) -> Self {
        Engine {
            store,
            committed: Arc::new(tokio::sync::Notify::new()),
            account_labels: Arc::default(),
            metrics,
            clock,
            progress,
            running: Mutex::new(HashSet::new()),
            owner: crate::store::lease_owner(),
            lease: DEFAULT_LEASE,
            renewal: DEFAULT_LEASE / 3,
            committing: Default::default(),
        }
    }

    /// Leases of `lease` (`[agent] lease`), renewed every third of it.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_secs(1));
        self.renewal = self.lease / 3;
        self
    }

    /// Renew a held lease every `renewal` (`[agent] lease_renewal`), kept
    /// shorter than the lease.
    pub fn with_renewal(mut self, renewal: Duration) -> Self {
        self.renewal = renewal.clamp(Duration::from_millis(100), self.lease.mul_f64(0.9));
        self
    }

    pub fn with_account_labels(mut self, labels: Arc<AccountLabels>) -> Self {
        self.account_labels = labels;
        self
    }

    /// Notified after every committed pass.
    pub fn committed(&self) -> Arc<tokio::sync::Notify> {
        self.committed.clone()
    }

    /// Notify `committed` after every committed pass instead of a signal of
    /// its own: a reload's new engine keeps the one the gateway and the
    /// HTTP server (posted alerts) already wake.
    pub fn with_committed(mut self, committed: Arc<tokio::sync::Notify>) -> Self {
        self.committed = committed;
        self
    }

    /// This process as leases, pass records and `troop status` name it
    /// (`host:pid:random`).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// One pass of `monkey`: list its shards, then read and commit each
    /// shard on its own (at most [`Monkey::parallel_shards`] at once), each
    /// under its own lease and in its own transaction. Never panics and
    /// never writes part of a shard: a shard that fails, times out or is
    /// abandoned changes nothing but the pass log; the shards that
    /// committed stay committed. The status is [`PassStatus::of_shards`].
    pub async fn run_pass(
        &self,
        monkey: Arc<dyn Monkey>,
        timeout: Duration,
        shutdown: Shutdown,
        grace: Duration,
    ) -> PassSummary {
        self.pass(monkey, timeout, shutdown, grace, None).await
    }

    /// A pass the scheduler runs on `schedule`: as [`Self::run_pass`], but a
    /// shard another replica (or this one) read within the last
    /// [`fresh_for`] of the schedule is not due and is left alone
    /// ([`ShardStatus::NotDue`]), so replicas sharing a store read each
    /// shard about once per interval.
    pub async fn run_scheduled_pass(
        &self,
        monkey: Arc<dyn Monkey>,
        schedule: &crate::scheduler::Schedule,
        shutdown: Shutdown,
        grace: Duration,
    ) -> PassSummary {
        self.pass(monkey, schedule.timeout, shutdown, grace, Some(fresh_for(schedule))).await
    }

    async fn pass(
        &self,
        monkey: Arc<dyn Monkey>,
        timeout: Duration,
        shutdown: Shutdown,
        grace: Duration,
        fresh_for: Option<Duration>,
    ) -> PassSummary {
        let name = monkey.name().to_string();
        let mut summary = PassSummary {
            monkey: name.clone(),
            status: PassStatus::Skipped,
            duration: Duration::ZERO,
            items_seen: 0,
            revisions_written: 0,
            open_findings: 0,
            changes: 0,
            counters: BTreeMap::new(),
            shards: Vec::new(),
        };
        if !self.running.lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone()) {
            tracing::warn!(monkey = %name, "previous pass still running; skipping this one");
            return summary;
        }
        let _guard = RunningGuard { set: &self.running, name: name.clone() };
        let t0 = Instant::now();
        let deadline = t0 + timeout;
        let began = self.clock.now();
        let fresh_after = fresh_for.and_then(|f| time::Duration::try_from(f).ok()).map(|f| began - f);
        let ctx = PassContext {
            clock: self.clock.clone(),
            shutdown: shutdown.clone(),
            progress: self.progress.clone(),
            counters: Arc::default(),
        };
        let listed = guarded(monkey.shards(&ctx), shutdown.clone(), grace, deadline).await;
        add_counters(&mut summary.counters, &ctx.counters.snapshot());
        let shards = match listed {
            Guarded::Done(Ok(shards)) => shards,
            Guarded::Abandoned => {
                summary.status = PassStatus::Abandoned;
                summary.duration = t0.elapsed();
                return summary;
            }
            other => {
                let msg = match other {
                    Guarded::Done(Err(e)) => monkey_error(e),
                    _ => format!("timed out after {}s listing what to read", timeout.as_secs()),
                };
                let lease = PassLease { shard: name.clone(), epoch: 0, took_over_from: None };
                let meta =
                    PassMeta { monkey: name.clone(), started_at: began, round: began, finished_at: began, lease };
                self.record_failure(&meta, &msg).await;
                summary.status = PassStatus::Failed(msg);
                summary.duration = t0.elapsed();
                self.finish_metrics(&summary, began);
                return summary;
            }
        };
        // who made the changes is asked per account (an audit log such as
        // CloudTrail is read per account and region): what is held is one
        // account's changes, and an account's regions share their reads
        let bounds = Bounds { deadline, timeout, shutdown: shutdown.clone(), grace, fresh_after, began };
        let total = shards.len();
        // one allocation for the pass's record of its shards, made before
        // any report is read: growing it between reports would leave holes
        // the allocator keeps
        summary.shards.reserve_exact(total);
        let parallel = monkey.parallel_shards();
        let ahead = Mutex::new(if self.store.serializes_commits() {
            ReadAhead::new(parallel)
        } else {
            ReadAhead::fixed(parallel)
        });
        let mut pending = shards.into_iter();
        let mut outcomes = futures::stream::FuturesUnordered::new();
        // Only counts are kept of each committed shard: memory is bounded by
        // the shards in flight, not by the pass.
        let mut last_pass_id = i64::MIN;
        let mut done = 0;
        loop {
            let limit = ahead.lock().unwrap_or_else(|e| e.into_inner()).limit();
            while outcomes.len() < limit {
                let Some(shard) = pending.next() else { break };
                outcomes.push(self.run_shard(&monkey, &ctx, shard, &bounds, &ahead));
            }
            let Some((outcome, committed)) = outcomes.next().await else { break };
            done += 1;
            if total > 1 {
                self.progress.update(&name, &format!("{done}/{total} shards done"));
            }
            add_counters(&mut summary.counters, &outcome.counters);
            if let Some(c) = committed {
                summary.items_seen += c.items_seen;
                summary.revisions_written += c.revisions_written;
                summary.changes += c.events.iter().filter(|e| e.event != crate::finding::EventKind::StillOpen).count();
                if c.pass_id > last_pass_id {
                    last_pass_id = c.pass_id;
                    summary.open_findings = c.open_findings;
                }
            }
            summary.shards.push(outcome);
        }
        drop(outcomes);
        let to_attribute: BTreeSet<String> = summary
            .shards
            .iter()
            .filter(|o| o.status.committed())
            .map(|o| Shard::from_key(&o.shard).account_shard().key())
            .collect();
        for account in &to_attribute {
            let asked = self.attribute(&monkey, &ctx.fresh(), account).await;
            add_counters(&mut summary.counters, &asked);
        }
        summary.shards.sort_by(|a, b| a.shard.cmp(&b.shard));
        summary.status = PassStatus::of_shards(&summary.shards, timeout, fresh_after.is_some());
        if summary.shards.iter().any(|s| s.status.committed()) {
            self.committed.notify_one();
        }
        if matches!(summary.status, PassStatus::Ok | PassStatus::Failed(_) | PassStatus::TimedOut(_)) {
            // every listed shard has its outcome: their keys are the shards read
            let keys: Vec<String> = summary.shards.iter().map(|o| o.shard.clone()).collect();
            // Observations of shards no longer listed (an account removed
            // from the configuration) go; a shard that failed keeps its own.
            self.metrics.keep_shards(&name, &keys);
            let (monkey_name, now) = (name.clone(), self.clock.now());
            if let Err(e) = blocking(&self.store, move |s| s.keep_shards(&monkey_name, &keys, now)).await {
                tracing::warn!(error = %e, "could not drop the observations of shards no longer read");
            }
        }
        summary.duration = t0.elapsed();
        self.finish_metrics(&summary, self.clock.now());
        summary
    }

    /// Read and commit one shard: lease, read (bounded by the pass's
    /// deadline and the shutdown grace), commit or record the failure.
    /// Returns how it ended and, when committed, what the commit wrote.
    async fn run_shard(
        &self,
        monkey: &Arc<dyn Monkey>,
        pass: &PassContext,
        shard: Shard,
        bounds: &Bounds,
        ahead: &Mutex<ReadAhead>,
    ) -> (ShardOutcome, Option<CommitOutcome>) {
        let Bounds { deadline, timeout, shutdown, grace, fresh_after, began } = bounds.clone();
        let key = shard.key();
        let name = monkey.name().to_string();
        let ctx = pass.fresh();
        let mut outcome =
            ShardOutcome { shard: key.clone(), status: ShardStatus::Abandoned, counters: BTreeMap::new() };
        if shutdown.is_triggered() {
            return (outcome, None);
        }
        let started_at = self.clock.now();
        let left = deadline.saturating_duration_since(Instant::now());
        // One process at a time reads a shard of a store, and a read whose
        // lease lapsed cannot commit.
        let lease = match self.begin(&key, started_at, left.min(self.lease), fresh_after).await {
            Ok(lease) => {
                if let Some(from) = &lease.took_over_from {
                    tracing::info!(shard = %key, %from, "took the shard over from a lapsed lease");
                    self.metrics.record_takeover(&name);
                }
                lease
            }
            Err(busy @ StoreError::LeaseHeld { .. }) => {
                tracing::info!(shard = %key, %busy, "shard not read");
                outcome.status = ShardStatus::Busy(busy.to_string());
                return (outcome, None);
            }
            Err(StoreError::NotDue { at, .. }) => {
                tracing::debug!(shard = %key, %at, "shard read recently; not due");
                outcome.status = ShardStatus::NotDue;
                return (outcome, None);
            }
            Err(e) => {
                let msg = format!("could not begin the pass in the store: {e}");
                let lease = PassLease { shard: key.clone(), epoch: 0, took_over_from: None };
                let meta = PassMeta { monkey: name, started_at, round: began, finished_at: self.clock.now(), lease };
                self.record_failure(&meta, &msg).await;
                outcome.status = ShardStatus::Failed(msg);
                return (outcome, None);
            }
        };
        let _held = LeaseHeld::new(&self.metrics, &name);
        // The lease is renewed while the shard is read; if another replica
        // took it over (this one stalled past it), the read stops: it could
        // not commit.
        let read = async {
            tokio::select! {
                r = monkey.run(&ctx, &shard) => Some(r),
                _ = self.keep_leased(&lease) => None,
            }
        };
        let read = guarded(read, shutdown, grace, deadline).await;
        // From here until this function returns the shard counts as
        // committing (a failed read records its failure in the store too).
        let _committing = Committing::new(&self.committing, ahead);
        outcome.counters = ctx.counters.snapshot();
        let meta = PassMeta { monkey: name.clone(), started_at, round: began, finished_at: self.clock.now(), lease };
        let read = match read {
            Guarded::Done(None) => {
                let why = "its lease was taken over by another pass while it read (this process stalled past it)";
                tracing::warn!(shard = %key, why, "shard's read stopped");
                self.metrics.record_refused(&name);
                outcome.status = ShardStatus::Superseded(why.into());
                return (outcome, None);
            }
            Guarded::Done(Some(r)) => Guarded::Done(r),
            Guarded::TimedOut => Guarded::TimedOut,
            Guarded::Abandoned => Guarded::Abandoned,
        };
        let mut report = match read {
            Guarded::Abandoned => {
                tracing::warn!(shard = %key, "shutdown: abandoning the shard, nothing of it written");
                self.end(&meta.lease).await;
                return (outcome, None);
            }
            Guarded::TimedOut => {
                outcome.status = ShardStatus::TimedOut;
                self.record_failure(&meta, &format!("timed out after {}s", timeout.as_secs())).await;
                return (outcome, None);
            }
            Guarded::Done(Err(e)) => {
                let msg = monkey_error(e);
                self.record_failure(&meta, &msg).await;
                outcome.status = ShardStatus::Failed(msg);
                return (outcome, None);
            }
            Guarded::Done(Ok(report)) => report,
        };
        for f in &mut report.findings {
            if let Some(extra) = self.account_labels.of(&f.account) {
                for (k, v) in extra {
                    f.labels.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        let gauges = std::mem::take(&mut report.gauges);
        // Kept with the shard, so a restarted process exports them at once
        // (a shard without gauges keeps nothing: its commit clears its old).
        if !gauges.is_empty() {
            report.observations.push(crate::monkey::Observed {
                kind: GAUGES.into(),
                key: key.clone(),
                data: serde_json::json!({"monkey": name, "shard": key, "gauges": gauges}),
            });
        }
        // what the read counted, and any counter the monkey reported itself
        add_counters(&mut outcome.counters, &report.counters);
        report.counters = outcome.counters.clone();
        let unreadable = report.error.clone();
        let meta2 = meta.clone();
        match blocking(&self.store, move |s| s.commit_pass(&meta2, &report)).await {
            Ok(c) => {
                self.metrics.set_gauges(&key, gauges);
                if unreadable.is_none() {
                    self.metrics.shard_succeeded(&key, meta.finished_at.unix_timestamp());
                }
                outcome.status = match unreadable {
                    Some(why) => ShardStatus::Unreadable(why),
                    None => ShardStatus::Committed,
                };
                (outcome, Some(c))
            }
            Err(StoreError::Superseded { reason, .. }) => {
                tracing::warn!(shard = %key, %reason, "shard's pass not applied");
                self.metrics.record_refused(&name);
                outcome.status = ShardStatus::Superseded(reason);
                (outcome, None)
            }
            Err(e) => {
                self.end(&meta.lease).await;
                outcome.status = ShardStatus::Failed(format!("could not store the pass: {e}"));
                (outcome, None)
            }
        }
    }

    /// Take the monkey's pass lease (a new epoch), held for the pass's
    /// timeout; [`StoreError::LeaseHeld`] when another process holds it.
    async fn begin(
        &self,
        shard: &str,
        now: time::OffsetDateTime,
        hold: Duration,
        fresh_after: Option<time::OffsetDateTime>,
    ) -> Result<PassLease, StoreError> {
        let (shard, owner) = (shard.to_string(), self.owner.clone());
        let until = now.checked_add(time::Duration::try_from(hold).unwrap_or(time::Duration::DAY)).unwrap_or(now);
        blocking(&self.store, move |s| s.begin_pass(&shard, &owner, now, until, &crate::store::owner_gone, fresh_after))
            .await
    }

    /// Renew `lease` every `renewal` (a third of the lease by default);
    /// returns only when the store says another pass took the shard over.
    async fn keep_leased(&self, lease: &PassLease) {
        let period = time::Duration::try_from(self.lease).unwrap_or(time::Duration::MINUTE);
        loop {
            tokio::time::sleep(self.renewal).await;
            let (held, until) = (lease.clone(), self.clock.now() + period);
            match blocking(&self.store, move |s| s.renew_pass(&held, until)).await {
                Ok(true) => {}
                Ok(false) => return,
                // the store unreachable for a moment: the lease lasts a while yet
                Err(e) => tracing::warn!(shard = %lease.shard, error = %e, "could not renew the shard's lease"),
            }
        }
    }

    /// Give the lease back after a pass that will not commit.
    async fn end(&self, lease: &PassLease) {
        let lease = lease.clone();
        if let Err(e) = blocking(&self.store, move |s| s.end_pass(&lease)).await {
            tracing::warn!(error = %e, "could not give the pass lease back");
        }
    }

    /// Ask the monkey who made the changes of an account's shards (`account`:
    /// its shard key, `monkey/account`; and earlier ones still pending),
    /// bounded in time; the answers go to the store. Never fails
    /// the pass. Returns the counters of the asking.
    async fn attribute(&self, monkey: &Arc<dyn Monkey>, ctx: &PassContext, account: &str) -> BTreeMap<String, u64> {
        let (key, since) = (account.to_string(), self.clock.now() - ATTRIBUTION_WINDOW);
        let pending = match blocking(&self.store, move |s| s.pending_attribution(&key, since)).await {
            Ok(p) if !p.is_empty() => p,
            Ok(_) => return BTreeMap::new(),
            Err(e) => {
                tracing::warn!(error = %e, "could not list revisions to attribute");
                return BTreeMap::new();
            }
        };
        let Ok(found) = tokio::time::timeout(ATTRIBUTION_TIMEOUT, monkey.attribute(ctx, &pending)).await else {
            tracing::warn!(%account, "attribution timed out; will ask again next pass");
            return ctx.counters.snapshot();
        };
        if !found.is_empty()
            && let Err(e) = blocking(&self.store, move |s| s.attach_who(&found)).await
        {
            tracing::warn!(error = %e, "could not record who made the changes");
        }
        ctx.counters.snapshot()
    }

    /// Log and record a failed pass (the store gives its lease back too).
    async fn record_failure(&self, meta: &PassMeta, msg: &str) {
        tracing::warn!(monkey = %meta.monkey, error = %msg, "pass failed");
        let (meta, msg) = (meta.clone(), msg.to_string());
        if let Err(e) = blocking(&self.store, move |s| s.record_failed_pass(&meta, &msg)).await {
            tracing::error!(error = %e, "could not record the failed pass");
        }
    }

    fn finish_metrics(&self, s: &PassSummary, finished_at: time::OffsetDateTime) {
        let ok = s.status.is_ok();
        self.metrics.record_pass(
            &s.monkey,
            ok,
            s.duration,
            finished_at.unix_timestamp(),
            ok.then_some(s.open_findings),
            &s.counters,
        );
    }
}

/// Counts a shard lease as held (`troop_shard_leases_held`) for its life.
struct LeaseHeld<'a> {
    metrics: &'a Metrics,
    monkey: &'a str,
}

impl<'a> LeaseHeld<'a> {
    fn new(metrics: &'a Metrics, monkey: &'a str) -> Self {
        metrics.lease_held(monkey, true);
        LeaseHeld { metrics, monkey }
    }
}

/// A shard between the end of its read and the end of its commit.
struct Committing<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Committing<'a> {
    fn new(count: &'a std::sync::atomic::AtomicUsize, ahead: &Mutex<ReadAhead>) -> Self {
        let busy = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0;
        ahead.lock().unwrap_or_else(|e| e.into_inner()).read_ended(busy);
        Committing(count)
    }
}

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for LeaseHeld<'_> {
    fn drop(&mut self) {
        self.metrics.lease_held(self.monkey, false);
    }
}

/// What bounds every read of a pass: its deadline (from its timeout), and
/// the shutdown with its grace period.
#[derive(Clone)]
struct Bounds {
    deadline: Instant,
    timeout: Duration,
    shutdown: Shutdown,
    grace: Duration,
    /// A shard read by anyone since this time is not due (scheduled passes).
    fresh_after: Option<time::OffsetDateTime>,
    /// When the pass began: the round of each shard it commits.
    began: time::OffsetDateTime,
}

/// How a bounded read ended.
enum Guarded<T> {
    Done(T),
    /// The pass's deadline passed first.
    TimedOut,
    /// Shutdown came and the grace period ran out.
    Abandoned,
}

/// Run `fut` until `deadline`; when shutdown comes first, give it `grace`
/// more (never past the deadline) before abandoning it.
async fn guarded<F: std::future::Future>(
    fut: F,
    mut shutdown: Shutdown,
    grace: Duration,
    deadline: Instant,
) -> Guarded<F::Output> {
    let run = tokio::time::timeout_at(deadline, fut);
    tokio::pin!(run);
    let early = tokio::select! {
        r = &mut run => Some(r),
        _ = shutdown.recv() => None,
    };
    let r = match early {
        Some(r) => r,
        None => match tokio::time::timeout(grace, &mut run).await {
            Ok(r) => r,
            Err(_) => return Guarded::Abandoned,
        },
    };
    match r {
        Ok(v) => Guarded::Done(v),
        Err(_) => Guarded::TimedOut,
    }
}

fn monkey_error(e: MonkeyError) -> String {
    match e {
        MonkeyError::Failed(m) => m,
        MonkeyError::Cancelled => "cancelled".to_string(),
    }
}

fn add_counters(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

/// How one shard's part of a pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardStatus {
    /// Read and committed.
    Committed,
    /// Nothing of it could be read (why): its `read-error` findings were
    /// committed, nothing else.
    Unreadable(String),
    /// The read or the commit failed: nothing of the shard was written.
    Failed(String),
    /// The pass's timeout came first: nothing of the shard was written.
    TimedOut,
    /// Shutdown came (before it began, or past the grace period): nothing
    /// of the shard was written.
    Abandoned,
    /// Its lease lapsed and another pass of the shard took over before it
    /// committed: its older view was refused.
    Superseded(String),
    /// Another process holds the shard's lease: not read.
    Busy(String),
    /// Read recently (by another replica): not due, left alone.
    NotDue,
}

impl ShardStatus {
    /// Whether the shard's commit went through (its findings are stored).
    pub fn committed(&self) -> bool {
        matches!(self, ShardStatus::Committed | ShardStatus::Unreadable(_))
    }

    /// The word `troop scan --format json` shows (`ok`, `unreadable`,
    /// `failed`, `timed_out`, `abandoned`, `superseded`, `busy`) and the
    /// message, if any.
    pub fn word(&self) -> (&'static str, Option<&str>) {
        match self {
            ShardStatus::Committed => ("ok", None),
            ShardStatus::Unreadable(m) => ("unreadable", Some(m)),
            ShardStatus::Failed(m) => ("failed", Some(m)),
            ShardStatus::TimedOut => ("timed_out", None),
            ShardStatus::Abandoned => ("abandoned", None),
            ShardStatus::Superseded(m) => ("superseded", Some(m)),
            ShardStatus::Busy(m) => ("busy", Some(m)),
            ShardStatus::NotDue => ("not_due", None),
        }
    }
}

/// One shard of a pass: its key ([`Shard::key`]), how it ended, what its
/// read cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardOutcome {
    pub shard: String,
    pub status: ShardStatus,
    pub counters: BTreeMap<String, u64>,
}

impl PassStatus {
    /// A pass's status from its shards' (sorted by key), the pass's
    /// `timeout` for [`PassStatus::TimedOut`]. In order:
    /// - a shard that failed or timed out fails the pass (the others are
    ///   stored; the message says how many and the first one's error);
    /// - every shard unreadable fails it (nothing at all could be read);
    /// - a shard abandoned by shutdown makes it abandoned;
    /// - a shard superseded makes it superseded;
    /// - a shard busy (another process is reading it) makes it busy,
    ///   unless the pass is `shared`: a scheduled pass of replicas that
    ///   share the shards, where another replica reading a shard is how the
    ///   work is split (as a shard not due is);
    /// - otherwise it is ok (shards unreadable are in the findings).
    pub fn of_shards(shards: &[ShardOutcome], timeout: Duration, shared: bool) -> PassStatus {
        let total = shards.len();
        let failed: Vec<&ShardOutcome> =
            shards.iter().filter(|s| matches!(s.status, ShardStatus::Failed(_) | ShardStatus::TimedOut)).collect();
        if let Some(first) = failed.first() {
            if failed.iter().all(|s| s.status == ShardStatus::TimedOut) && failed.len() == total {
                return PassStatus::TimedOut(timeout);
            }
            let msg = match &first.status {
                ShardStatus::Failed(m) => m.clone(),
                _ => format!("timed out after {}s", timeout.as_secs()),
            };
            return PassStatus::Failed(if total == 1 {
                msg
            } else {
                format!(
                    "{} of {total} shards failed, nothing of them was stored (the others were): {}: {msg}",
                    failed.len(),
                    first.shard
                )
            });
        }
        if total > 0 && shards.iter().all(|s| matches!(s.status, ShardStatus::Unreadable(_))) {
            let ShardStatus::Unreadable(m) = &shards[0].status else { unreachable!() };
            return PassStatus::Failed(m.clone());
        }
        if shards.iter().any(|s| s.status == ShardStatus::Abandoned) {
            return PassStatus::Abandoned;
        }
        if let Some(ShardStatus::Superseded(m)) =
            shards.iter().map(|s| &s.status).find(|s| matches!(s, ShardStatus::Superseded(_)))
        {
            return PassStatus::Superseded(m.clone());
        }
        let busy: Vec<&ShardOutcome> =
            shards.iter().filter(|s| !shared && matches!(s.status, ShardStatus::Busy(_))).collect();
        if let Some(ShardOutcome { shard, status: ShardStatus::Busy(m), .. }) = busy.first() {
            return PassStatus::Busy(if total == 1 {
                m.clone()
            } else {
                format!("{} of {total} shards were not read (the others were stored): {shard}: {m}", busy.len())
            });
        }
        PassStatus::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(shard: &str, status: ShardStatus) -> ShardOutcome {
        ShardOutcome { shard: shard.into(), status, counters: BTreeMap::new() }
    }

    #[test]
    fn reads_ahead_only_as_far_as_the_store_keeps_up() {
        // (max, the ends of reads: was the store busy?, the limit after each)
        let cases: Vec<(usize, Vec<bool>, Vec<usize>)> = vec![
            // reads slower than commits (AWS): the limit stays at max
            (8, vec![false, false, false], vec![8, 8, 8]),
            // reads faster than the store: down by one per busy end, to one
            (3, vec![true, true, true, true], vec![2, 1, 1, 1]),
            // and back up once the store is idle when reads end
            (3, vec![true, true, false, false, false], vec![2, 1, 2, 3, 3]),
            // a mix settles between
            (8, vec![true, false, true, true, false], vec![7, 8, 7, 6, 7]),
            // one shard at a time stays one; zero means one
            (1, vec![true, false], vec![1, 1]),
            (0, vec![false, true], vec![1, 1]),
        ];
        for (max, ends, want) in cases {
            let mut ahead = ReadAhead::new(max);
            assert_eq!(ahead.limit(), max.max(1), "starts at max");
            let got: Vec<usize> = ends
                .iter()
                .map(|&busy| {
                    ahead.read_ended(busy);
                    ahead.limit()
                })
                .collect();
            assert_eq!(got, want, "max {max}, ends {ends:?}");
        }
        // a store whose commits run side by side: always max
        let mut fixed = ReadAhead::fixed(8);
        for busy in [true, true, true, false] {
            fixed.read_ended(busy);
            assert_eq!(fixed.limit(), 8);
        }
    }

    #[test]
    fn a_pass_status_follows_from_its_shards() {
        use ShardStatus::*;
        let t = Duration::from_secs(30);
        let failed = |m: &str| Failed(m.into());
        let busy = || Busy("held by b".into());
        // (shards' statuses, the pass's)
        let cases: Vec<(Vec<ShardStatus>, PassStatus)> = vec![
            (vec![], PassStatus::Ok),
            (vec![Committed, Committed], PassStatus::Ok),
            (vec![Committed, Unreadable("denied".into())], PassStatus::Ok),
            (vec![Unreadable("denied".into())], PassStatus::Failed("denied".into())),
            (vec![Unreadable("denied".into()), Unreadable("gone".into())], PassStatus::Failed("denied".into())),
            (vec![failed("boom")], PassStatus::Failed("boom".into())),
            (
                vec![Committed, failed("boom"), TimedOut],
                PassStatus::Failed(
                    "2 of 3 shards failed, nothing of them was stored (the others were): s1: boom".into(),
                ),
            ),
            (vec![TimedOut], PassStatus::TimedOut(t)),
            (vec![TimedOut, TimedOut], PassStatus::TimedOut(t)),
            (
                vec![Committed, TimedOut],
                PassStatus::Failed(
                    "1 of 2 shards failed, nothing of them was stored (the others were): s1: timed out after 30s"
                        .into(),
                ),
            ),
            (vec![Committed, Abandoned], PassStatus::Abandoned),
            (
                vec![failed("boom"), Abandoned],
                PassStatus::Failed(
                    "1 of 2 shards failed, nothing of them was stored (the others were): s0: boom".into(),
                ),
            ),
            (vec![Committed, Superseded("older".into())], PassStatus::Superseded("older".into())),
            (vec![busy()], PassStatus::Busy("held by b".into())),
            (
                vec![busy(), busy()],
                PassStatus::Busy("2 of 2 shards were not read (the others were stored): s0: held by b".into()),
            ),
            (
                vec![Committed, busy()],
                PassStatus::Busy("1 of 2 shards were not read (the others were stored): s1: held by b".into()),
            ),
            (vec![Abandoned, Superseded("older".into())], PassStatus::Abandoned),
        ];
        for (statuses, want) in cases {
            let shards: Vec<ShardOutcome> =
                statuses.iter().enumerate().map(|(i, s)| outcome(&format!("s{i}"), s.clone())).collect();
            assert_eq!(PassStatus::of_shards(&shards, t, false), want, "{statuses:?}");
        }
        // a scheduled pass shared by replicas: a shard another one reads is
        // its share of the work, not a pass that could not run
        let shared: Vec<(Vec<ShardStatus>, PassStatus)> = vec![
            (vec![Committed, busy()], PassStatus::Ok),
            (vec![busy(), NotDue], PassStatus::Ok),
            (
                vec![busy(), failed("boom")],
                PassStatus::Failed(
                    "1 of 2 shards failed, nothing of them was stored (the others were): s1: boom".into(),
                ),
            ),
        ];
        for (statuses, want) in shared {
            let shards: Vec<ShardOutcome> =
                statuses.iter().enumerate().map(|(i, s)| outcome(&format!("s{i}"), s.clone())).collect();
            assert_eq!(PassStatus::of_shards(&shards, t, true), want, "shared {statuses:?}");
        }
    }
}
