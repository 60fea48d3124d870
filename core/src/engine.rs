//! The pass engine: run one monkey pass and commit its report atomically. The
//! commit also appends the pass's finding events to the alert log in the same
//! transaction; the gateway (troop-alerts) routes and delivers from there, so a
//! crash after the commit loses no alert.

use crate::clock::Clock;
use crate::finding::FindingEvent;
use crate::metrics::Metrics;
use crate::monkey::{Attributed, Monkey, MonkeyError, PassContext, Progress, Report};
use crate::shutdown::Shutdown;
use crate::store::{CommitOutcome, PassLease, PassMeta, Store, StoreError, blocking};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Changes are attributed for this long after they are recorded (audit logs
/// such as CloudTrail deliver events minutes late).
pub const ATTRIBUTION_WINDOW: time::Duration = time::Duration::minutes(30);
/// Longest a monkey may take to attribute one pass's changes.
pub const ATTRIBUTION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassStatus {
    Ok,
    Failed(String),
    TimedOut(Duration),
    /// Another pass of the same monkey was still running.
    Skipped,
    /// Shutdown came and the grace period ran out; nothing was written.
    Abandoned,
    /// This pass's lease lapsed and a newer pass of the same monkey took
    /// over before it committed: its older view was refused, nothing was
    /// written from it (see [`StoreError::Superseded`]).
    Superseded(String),
    /// Another process is running a pass of this monkey on the same store
    /// (it holds the lease): this one did not start.
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
    pub open_findings: usize,
    pub events: Vec<FindingEvent>,
    pub counters: BTreeMap<String, u64>,
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
    account_labels: BTreeMap<String, BTreeMap<String, String>>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    progress: Arc<dyn Progress>,
    running: Mutex<HashSet<String>>,
    /// This process, as pass leases name it (`host:pid:random`).
    owner: String,
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
            account_labels: BTreeMap::new(),
            metrics,
            clock,
            progress,
            running: Mutex::new(HashSet::new()),
            owner: crate::store::lease_owner(),
        }
    }

    pub fn with_account_labels(mut self, labels: BTreeMap<String, BTreeMap<String, String>>) -> Self {
        self.account_labels = labels;
        self
    }

    /// Notified after every committed pass.
    pub fn committed(&self) -> Arc<tokio::sync::Notify> {
        self.committed.clone()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// One pass of `monkey`. Never panics and never writes a partial pass:
    /// a failed, timed-out or abandoned pass changes nothing but the pass log.
    pub async fn run_pass(
        &self,
        monkey: Arc<dyn Monkey>,
        timeout: Duration,
        mut shutdown: Shutdown,
        grace: Duration,
    ) -> PassSummary {
        let name = monkey.name().to_string();
        let mut summary = PassSummary {
            monkey: name.clone(),
            status: PassStatus::Skipped,
            duration: Duration::ZERO,
            items_seen: 0,
            revisions_written: 0,
            open_findings: 0,
            events: Vec::new(),
            counters: BTreeMap::new(),
        };
        if !self.running.lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone()) {
            tracing::warn!(monkey = %name, "previous pass still running; skipping this one");
            return summary;
        }
        let _guard = RunningGuard { set: &self.running, name: name.clone() };

        let started_at = self.clock.now();
        let t0 = Instant::now();
        // The pass's lease: one process at a time runs a pass of a monkey
        // on a store, and a pass whose lease lapsed cannot commit.
        let lease = match self.begin(&name, started_at, timeout).await {
            Ok(lease) => lease,
            Err(busy @ StoreError::LeaseHeld { .. }) => {
                tracing::info!(monkey = %name, %busy, "pass not started");
                summary.status = PassStatus::Busy(busy.to_string());
                return summary;
            }
            Err(e) => {
                let msg = format!("could not begin the pass in the store: {e}");
                summary.status = PassStatus::Failed(msg.clone());
                let lease = PassLease { shard: name.clone(), epoch: 0 };
                let meta = PassMeta { monkey: name.clone(), started_at, finished_at: self.clock.now(), lease };
                self.record_failure(&meta, &msg).await;
                self.finish_metrics(&summary, &meta);
                return summary;
            }
        };
        let ctx =
            PassContext { clock: self.clock.clone(), shutdown: shutdown.clone(), progress: self.progress.clone() };
        let run = tokio::time::timeout(timeout, monkey.run(&ctx));
        tokio::pin!(run);
        let outcome = tokio::select! {
            r = &mut run => Some(r),
            _ = shutdown.recv() => None,
        };
        let outcome = match outcome {
            Some(r) => r,
            None => match tokio::time::timeout(grace, &mut run).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!(monkey = %name, "shutdown: abandoning the pass, nothing written");
                    self.end(&lease).await;
                    summary.status = PassStatus::Abandoned;
                    summary.duration = t0.elapsed();
                    return summary;
                }
            },
        };
        let meta = PassMeta { monkey: name.clone(), started_at, finished_at: self.clock.now(), lease };
        summary.duration = t0.elapsed();
        let mut report: Report = match outcome {
            Err(_) => {
                summary.status = PassStatus::TimedOut(timeout);
                let msg = format!("timed out after {}s", timeout.as_secs());
                self.record_failure(&meta, &msg).await;
                self.finish_metrics(&summary, &meta);
                return summary;
            }
            Ok(Err(e)) => {
                let msg = match e {
                    MonkeyError::Failed(m) => m,
                    MonkeyError::Cancelled => "cancelled".to_string(),
                };
                summary.status = PassStatus::Failed(msg.clone());
                self.record_failure(&meta, &msg).await;
                self.finish_metrics(&summary, &meta);
                return summary;
            }
            Ok(Ok(report)) => report,
        };
        for f in &mut report.findings {
            if let Some(extra) = self.account_labels.get(&f.account) {
                for (k, v) in extra {
                    f.labels.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        let gauges = std::mem::take(&mut report.gauges);
        // Kept with the pass, so a restarted process exports them at once.
        report.observations.push(crate::monkey::Observed {
            kind: GAUGES.into(),
            key: name.clone(),
            data: serde_json::json!({"monkey": name, "gauges": gauges}),
        });
        summary.counters = report.counters.clone();
        let meta2 = meta.clone();
        match blocking(&self.store, move |s| s.commit_pass(&meta2, &report)).await {
            Ok(CommitOutcome { events, revisions_written, items_seen, open_findings, .. }) => {
                summary.status = PassStatus::Ok;
                summary.revisions_written = revisions_written;
                summary.items_seen = items_seen;
                summary.open_findings = open_findings;
                self.metrics.set_gauges(&name, gauges);
                self.committed.notify_one();
                for (k, v) in self.attribute(&monkey, &meta).await {
                    *summary.counters.entry(k).or_default() += v;
                }
                summary.events = events;
            }
            Err(StoreError::Superseded { reason, .. }) => {
                tracing::warn!(monkey = %name, %reason, "pass not applied");
                self.metrics.record_refused(&name);
                summary.status = PassStatus::Superseded(reason);
                summary.duration = t0.elapsed();
                return summary;
            }
            Err(e) => {
                self.end(&meta.lease).await;
                summary.status = PassStatus::Failed(format!("could not store the pass: {e}"));
            }
        }
        summary.duration = t0.elapsed();
        self.finish_metrics(&summary, &meta);
        summary
    }

    /// Take the monkey's pass lease (a new epoch), held for the pass's
    /// timeout; [`StoreError::LeaseHeld`] when another process holds it.
    async fn begin(&self, shard: &str, now: time::OffsetDateTime, timeout: Duration) -> Result<PassLease, StoreError> {
        let (shard, owner) = (shard.to_string(), self.owner.clone());
        let until = now.checked_add(time::Duration::try_from(timeout).unwrap_or(time::Duration::DAY)).unwrap_or(now);
        blocking(&self.store, move |s| s.begin_pass(&shard, &owner, now, until, &crate::store::owner_gone)).await
    }

    /// Give the lease back after a pass that will not commit.
    async fn end(&self, lease: &PassLease) {
        let lease = lease.clone();
        if let Err(e) = blocking(&self.store, move |s| s.end_pass(&lease)).await {
            tracing::warn!(error = %e, "could not give the pass lease back");
        }
    }

    /// Ask the monkey who made this pass's changes (and earlier ones still
    /// pending), bounded in time; the answers go to the store. Never fails
    /// the pass. Returns the counters of the asking.
    async fn attribute(&self, monkey: &Arc<dyn Monkey>, meta: &PassMeta) -> BTreeMap<String, u64> {
        let (name, since) = (meta.monkey.clone(), meta.finished_at - ATTRIBUTION_WINDOW);
        let pending = match blocking(&self.store, move |s| s.pending_attribution(&name, since)).await {
            Ok(p) if !p.is_empty() => p,
            Ok(_) => return BTreeMap::new(),
            Err(e) => {
                tracing::warn!(error = %e, "could not list revisions to attribute");
                return BTreeMap::new();
            }
        };
        let Ok(Attributed { found, counters }) =
            tokio::time::timeout(ATTRIBUTION_TIMEOUT, monkey.attribute(&pending)).await
        else {
            tracing::warn!(monkey = %meta.monkey, "attribution timed out; will ask again next pass");
            return BTreeMap::new();
        };
        if !found.is_empty()
            && let Err(e) = blocking(&self.store, move |s| s.attach_who(&found)).await
        {
            tracing::warn!(error = %e, "could not record who made the changes");
        }
        counters
    }

    /// Log and record a failed pass (the store gives its lease back too).
    async fn record_failure(&self, meta: &PassMeta, msg: &str) {
        tracing::warn!(monkey = %meta.monkey, error = %msg, "pass failed");
        let (meta, msg) = (meta.clone(), msg.to_string());
        if let Err(e) = blocking(&self.store, move |s| s.record_failed_pass(&meta, &msg)).await {
            tracing::error!(error = %e, "could not record the failed pass");
        }
    }

    fn finish_metrics(&self, s: &PassSummary, meta: &PassMeta) {
        let ok = s.status.is_ok();
        self.metrics.record_pass(
            &s.monkey,
            ok,
            s.duration,
            meta.finished_at.unix_timestamp(),
            ok.then_some(s.open_findings),
            &s.counters,
        );
    }
}
