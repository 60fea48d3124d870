//! The Central Alert Gateway at run time. A round consumes the alert log
//! (events every committed pass appended), applies silences, routes, groups
//! and dedups (`troop_core::alerting`), and queues notifications in each
//! sink's outbox: one transaction per round. Each sink then delivers its
//! outbox on its own, each group's notifications in order and groups side by
//! side: retries with backoff and jitter, Retry-After honoured, permanent
//! failures recorded and skipped. A restart resumes from
//! the store: nothing delivered is sent again, nothing pending is lost.

use crate::retry::RetryPolicy;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use troop_core::alerting::{self, Groups, Input, Millis, RouteTree, Silence};
use troop_core::finding::EventKind;
use troop_core::metrics::Metrics;
use troop_core::monkey::Gauge;
use troop_core::shutdown::Shutdown;
use troop_core::store::{AlertBatch, AlertStore, Delivery, OutboxEntry, StoreError};
use troop_core::{Clock, Sink, SinkError};

/// Events read from the log per store query.
const CHUNK: usize = 10_000;

/// Delivered and failed outbox entries are kept this long (the notification
/// log `troop alerts status` counts), then forgotten.
const OUTBOX_RETENTION: Millis = 30 * 24 * 3600 * 1000;

pub struct Gateway {
    store: Arc<dyn AlertStore>,
    clock: Arc<dyn Clock>,
    /// This process, as the lease names it (`host:pid:random`).
    owner: String,
    leader: std::sync::atomic::AtomicBool,
    /// The epoch of this process's tenure of the lease (fencing token).
    epoch: std::sync::atomic::AtomicI64,
    tree: RouteTree,
    sinks: Vec<Arc<dyn Sink>>,
    retry: RetryPolicy,
    state: Mutex<State>,
    metrics: Option<Arc<Metrics>>,
    /// When the last scan for expired posted alerts ran (ms).
    expiry_scanned: std::sync::atomic::AtomicI64,
    /// The earliest `endsAt` (ms) of the posted alerts this gateway knows
    /// unresolved: the last scan's, lowered by each round's events.
    /// `Millis::MIN` = not known (scan first).
    next_expiry: std::sync::atomic::AtomicI64,
}

struct State {
    cursor: i64,
    groups: Groups,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Round {
    pub events: usize,
    pub queued: usize,
}

/// What one delivery run of one sink did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delivered {
    pub delivered: usize,
    pub failed: usize,
    /// The sink's head entry failed transiently and waits until then.
    pub retry_at: Option<Millis>,
    pub last_error: Option<String>,
}

/// Why an outbox entry of a sink the configuration dropped never went out.
const NOT_CONFIGURED: &str = "sink no longer configured";

/// Groups of one sink delivered at once ([`Gateway::deliver`]).
pub const PARALLEL_GROUPS: usize = 8;

/// How long the daemon's lease lasts without renewal.
const LEASE: Duration = Duration::from_secs(15);

/// How often the leader looks for posted alerts past their `endsAt`: a scan
/// reads every unresolved posted finding, so it runs at most this often,
/// not on every round (a busy gateway runs one per post).
const EXPIRY_SCAN: Millis = 1000;

impl Gateway {
    /// A gateway over `store`. It reads its state from the store when it
    /// takes the lease (`lease`), before its first round.
    pub fn new(
        store: Arc<dyn AlertStore>,
        tree: RouteTree,
        sinks: Vec<Arc<dyn Sink>>,
        retry: RetryPolicy,
        clock: Arc<dyn Clock>,
    ) -> Gateway {
        Gateway {
            store,
            clock,
            owner: troop_core::store::lease_owner(),
            leader: std::sync::atomic::AtomicBool::new(false),
            epoch: std::sync::atomic::AtomicI64::new(0),
            tree,
            sinks,
            retry,
            state: Mutex::new(State { cursor: 0, groups: Groups::default() }),
            metrics: None,
            expiry_scanned: std::sync::atomic::AtomicI64::new(Millis::MIN),
            next_expiry: std::sync::atomic::AtomicI64::new(Millis::MIN),
        }
    }

    /// The state as the store has it, aligned with this configuration's
    /// routes for the findings open now (`Groups::reconcile`: a sink added
    /// hears the open groups once, sinks already told hear nothing again).
    /// What the alignment changed is persisted with the next round.
    fn load(&self) -> Result<State, StoreError> {
        let (cursor, groups) = self.store.alert_state()?;
        let mut groups = Groups::from_groups(groups);
        let open = self.store.open_findings()?;
        let silences = alerting::silence::from_records(&self.store.silences()?);
        groups.reconcile(&self.tree, &open, &silences, self.now());
        Ok(State { cursor, groups })
    }

    /// Take or renew the lease for `ttl`: one process at a time routes and
    /// delivers for a store. Coming into it, reload what another process
    /// may have changed.
    pub fn lease(&self, ttl: Duration) -> Result<bool, StoreError> {
        let now = self.now();
        let until = now.saturating_add(Millis::try_from(ttl.as_millis()).unwrap_or(Millis::MAX));
        let epoch = self.store.alert_lease(&self.owner, now, until, &troop_core::store::owner_gone)?;
        let granted = epoch.is_some();
        let previous = self.epoch.swap(epoch.unwrap_or(0), std::sync::atomic::Ordering::SeqCst);
        // a new tenure (another process may have held the lease in between)
        // starts from the store's state
        let was = self.leader.swap(granted, std::sync::atomic::Ordering::SeqCst) && epoch == Some(previous);
        if granted && !was {
            *self.lock() = self.load()?;
            // another process may have taken posts meanwhile
            self.next_expiry.store(Millis::MIN, std::sync::atomic::Ordering::SeqCst);
            let keep: Vec<&str> = self.sinks.iter().map(|s| s.name()).collect();
            let dropped = self.store.outbox_abandon(&keep, NOT_CONFIGURED, now)?;
            if dropped > 0 {
                tracing::warn!(entries = dropped, "outbox entries of sinks no longer configured marked failed");
            }
        }
        Ok(granted)
    }

    /// Give the lease up (another process may take it at once).
    pub async fn release(&self) {
        self.leader.store(false, std::sync::atomic::Ordering::SeqCst);
        let owner = self.owner.clone();
        if let Err(e) = self.io(move |s| s.alert_release(&owner)).await {
            tracing::warn!(error = %e, "could not release the alert lease");
        }
    }

    fn is_leader(&self) -> bool {
        self.leader.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The gateway's clock, in milliseconds since the epoch.
    pub fn now(&self) -> Millis {
        alerting::millis(self.clock.now())
    }

    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Gateway {
        self.metrics = Some(metrics);
        self
    }

    pub fn sinks(&self) -> &[Arc<dyn Sink>] {
        &self.sinks
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolve the posted alerts whose `endsAt` passed: nobody posted them
    /// again ([`alerting::posted::expired`]). The leader does it, before its
    /// round, so one process writes each resolution and the round routes it.
    /// A scan reads every unresolved posted alert, so it runs only once the
    /// earliest `endsAt` known ([`Gateway::next_expiry_scan`]) has passed,
    /// and at most once per [`EXPIRY_SCAN`]: an alert resolves within a
    /// second of its `endsAt`, or the next round after. Returns how many
    /// resolved.
    pub fn expire_posted(&self) -> Result<usize, StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.clock.now();
        let now_ms = alerting::millis(now);
        let last = self.expiry_scanned.load(SeqCst);
        if now_ms.saturating_sub(last) < EXPIRY_SCAN || now_ms < self.next_expiry.load(SeqCst) {
            return Ok(0);
        }
        self.expiry_scanned.store(now_ms, SeqCst);
        let unresolved = self.store.posted_unresolved()?;
        let mut by_source: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for f in alerting::posted::expired(&unresolved, now) {
            by_source.entry(f.monkey.as_str()).or_default().push(f.fingerprint.clone());
        }
        let later = unresolved
            .iter()
            .filter_map(alerting::posted::ends_at)
            .map(alerting::millis)
            .filter(|&end| end > now_ms)
            .min()
            .unwrap_or(Millis::MAX);
        self.next_expiry.store(later, SeqCst);
        let mut n = 0;
        for (source, resolved) in by_source {
            let report = troop_core::monkey::Report { resolved, ..Default::default() };
            n += self.store.ingest(source, &report, now)?.len();
        }
        Ok(n)
    }

    /// Consume the log and queue what is due at `now`. `immediate` sends
    /// pending group changes without waiting for group_wait/group_interval
    /// (one-shot scans). Blocking (store IO): call from a blocking thread.
    pub fn round(&self, now: Millis, immediate: bool) -> Result<Round, StoreError> {
        let silences = alerting::silence::from_records(&self.store.silences()?);
        let mut st = self.lock();
        let result = self.round_locked(&mut st, &silences, now, immediate);
        if result.is_err() {
            // the store did not take the round: forget what memory did
            *st = self.load()?;
        }
        result
    }

    fn round_locked(
        &self,
        st: &mut State,
        silences: &[Silence],
        now: Millis,
        immediate: bool,
    ) -> Result<Round, StoreError> {
        let mut round = Round::default();
        let mut cursor = st.cursor;
        loop {
            let events = self.store.alert_events(cursor, CHUNK)?;
            let Some((last, _)) = events.last() else { break };
            cursor = *last;
            round.events += events.len();
            for (_, ev) in &events {
                let firing = ev.event != EventKind::Resolved;
                if let Some(end) = firing.then(|| alerting::posted::ends_at(&ev.finding)).flatten() {
                    self.next_expiry.fetch_min(alerting::millis(end), std::sync::atomic::Ordering::SeqCst);
                }
                st.groups.ingest(&self.tree, silences, Input { finding: &ev.finding, firing }, now);
            }
        }
        let ended = st.groups.apply_silences(silences, now);
        if !ended.is_empty() {
            // what the ended silences muted and still fires is told now, not
            // at its next event (a posted alert may never be posted again)
            for f in self.store.open_findings()? {
                st.groups.ingest(&self.tree, silences, Input { finding: &f, firing: true }, now);
            }
        }
        let outbox = st.groups.flush(&self.tree, now, immediate);
        round.queued = outbox.len();
        let changed = st.groups.take_changed();
        let mut batch = AlertBatch { cursor, outbox, prune_before: Some(now - OUTBOX_RETENTION), ..Default::default() };
        for key in changed.groups {
            match st.groups.get(&key) {
                Some(g) => batch.upsert.push(g.header()),
                None => batch.remove.push(key),
            }
        }
        for (key, fp) in changed.members {
            // a group that went: `remove` takes its members' rows
            let Some(g) = st.groups.get(&key) else { continue };
            match g.members.get(&fp) {
                Some(m) => batch.members.push((key, m.clone())),
                None => batch.left.push((key, fp)),
            }
        }
        self.store.alert_apply(&batch)?;
        st.cursor = cursor;
        Ok(round)
    }

    /// When the next scan for expired posted alerts may run (ms): the
    /// earliest `endsAt` known, or `None` when it is not known (the next
    /// call of [`Gateway::expire_posted`] scans, throttle permitting).
    pub fn next_expiry_scan(&self) -> Option<Millis> {
        Some(self.next_expiry.load(std::sync::atomic::Ordering::SeqCst)).filter(|&t| t != Millis::MIN)
    }

    /// When the next group is due (group_wait, group_interval or repeat).
    pub fn next_due(&self) -> Option<Millis> {
        self.lock().groups.next_due(&self.tree)
    }

    /// Run a store call on a blocking thread (the store is synchronous: see
    /// `troop_core::store::Backend`); never on a runtime worker.
    async fn io<T: Send + 'static>(
        &self,
        f: impl FnOnce(&(dyn AlertStore + 'static)) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        troop_core::store::blocking(&self.store, f).await
    }

    /// Whether this process still holds the lease it was granted, asked of
    /// the store (another process may have taken it since the last round).
    async fn holds_lease(&self) -> Result<bool, StoreError> {
        if !self.is_leader() {
            return Ok(false);
        }
        let epoch = self.epoch.load(std::sync::atomic::Ordering::SeqCst);
        let (owner, now) = (self.owner.clone(), self.now());
        let holds = self.io(move |s| s.alert_lease_holds(&owner, epoch, now)).await?;
        if !holds {
            self.leader.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(holds)
    }

    /// Deliver the sink's due outbox entries: each group's in order, up to
    /// [`PARALLEL_GROUPS`] groups at once, so a group with a large or slow
    /// notification holds back no other. A transient failure stops its
    /// group (the entry waits for its retry, the group's later ones wait
    /// behind it; other groups go on); a permanent one is recorded and the
    /// group goes on. The lease is checked in the store before each send: a
    /// process whose lease lapsed or passed to another stops with
    /// [`StoreError::Superseded`], so two processes never deliver the same
    /// outbox.
    pub async fn deliver(&self, sink: &dyn Sink) -> Result<Delivered, StoreError> {
        use futures::StreamExt;
        let mut out = Delivered::default();
        loop {
            let (name, now) = (sink.name().to_string(), self.now());
            let due = self.io(move |s| s.outbox_due(&name, now, 100)).await?;
            if due.is_empty() {
                return Ok(out);
            }
            // each group's entries, in order; groups by their oldest entry
            let mut chains: Vec<Vec<OutboxEntry>> = Vec::new();
            let mut at: BTreeMap<String, usize> = BTreeMap::new();
            for entry in due {
                match at.get(&entry.notification.group_id) {
                    Some(&i) => chains[i].push(entry),
                    None => {
                        at.insert(entry.notification.group_id.clone(), chains.len());
                        chains.push(vec![entry]);
                    }
                }
            }
            let runs: Vec<Result<Delivered, StoreError>> = futures::stream::iter(chains)
                .map(|chain| self.deliver_group(sink, chain))
                .buffer_unordered(PARALLEL_GROUPS)
                .collect()
                .await;
            for run in runs {
                let run = run?;
                out.delivered += run.delivered;
                out.failed += run.failed;
                out.retry_at = match (out.retry_at, run.retry_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                out.last_error = run.last_error.or(out.last_error);
            }
        }
    }

    /// One group's due entries, in order (see [`Gateway::deliver`]).
    async fn deliver_group(&self, sink: &dyn Sink, chain: Vec<OutboxEntry>) -> Result<Delivered, StoreError> {
        let mut out = Delivered::default();
        for entry in chain {
            if !self.holds_lease().await? {
                return Err(StoreError::Superseded {
                    shard: "alerts".into(),
                    reason: "this process no longer holds the alert lease; delivery stopped".into(),
                });
            }
            let result = sink.send(&entry.notification).await;
            let now = self.now();
            match result {
                Ok(()) => {
                    self.io(move |s| s.outbox_mark(entry.id, &Delivery::Delivered, now)).await?;
                    out.delivered += 1;
                }
                Err(SinkError::Permanent(error)) => {
                    tracing::warn!(sink = %sink.name(), notification = %entry.notification.id, %error, "delivery failed for good");
                    let failed = Delivery::Failed { error: error.clone() };
                    self.io(move |s| s.outbox_mark(entry.id, &failed, now)).await?;
                    out.failed += 1;
                    out.last_error = Some(error);
                }
                Err(SinkError::Transient { message, retry_after }) => {
                    let wait = self.retry.delay(entry.attempts + 1, fastrand::f64(), retry_after);
                    let at = now.saturating_add(Millis::try_from(wait.as_millis()).unwrap_or(Millis::MAX));
                    tracing::info!(sink = %sink.name(), attempt = entry.attempts + 1, error = %message, retry_in = ?wait, "delivery failed; will retry");
                    let retry = Delivery::Retry { at, error: message.clone() };
                    self.io(move |s| s.outbox_mark(entry.id, &retry, now)).await?;
                    out.retry_at = Some(at);
                    out.last_error = Some(message);
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// Outbox depth and delivery failures per sink, for /metrics.
    pub async fn publish_metrics(&self) {
        let Some(metrics) = &self.metrics else { return };
        let Ok(stats) = self.io(|s| s.outbox_stats()).await else { return };
        let mut gauges = Vec::new();
        for sink in &self.sinks {
            let s = stats.iter().find(|s| s.sink == sink.name()).cloned().unwrap_or_default();
            let labels: BTreeMap<String, String> = [("sink".to_string(), sink.name().to_string())].into();
            for (name, value) in [
                ("troop_outbox_pending", s.pending),
                ("troop_outbox_failed", s.failed),
                ("troop_notifications_delivered", s.delivered),
                ("troop_delivery_failures", s.failed_attempts),
                ("troop_delivery_task_restarts", s.task_restarts),
            ] {
                gauges.push(Gauge { name: name.into(), labels: labels.clone(), value: value as f64 });
            }
        }
        metrics.set_gauges("alerts", gauges);
    }

    /// Keep one sink's delivery task alive: a task that dies (a panic in a
    /// sink or below) is logged, counted in the store (`troop alerts
    /// status`) and /metrics, and restarted after a backoff (1 s doubling to
    /// a minute). Returns at shutdown.
    async fn supervise(
        self: Arc<Self>,
        sink: Arc<dyn Sink>,
        wake: Arc<tokio::sync::Notify>,
        tick: Duration,
        mut shutdown: Shutdown,
    ) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let task = tokio::spawn(self.clone().deliver_loop(sink.clone(), wake.clone(), tick, shutdown.clone()));
            let error = match task.await {
                Ok(()) => return,
                Err(e) if e.is_panic() => {
                    let p = e.into_panic();
                    p.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "panic".into())
                }
                Err(e) => e.to_string(),
            };
            tracing::error!(sink = %sink.name(), %error, retry_in = ?backoff, "delivery task died; restarting it");
            let (name, now) = (sink.name().to_string(), self.now());
            if let Err(e) = self.io(move |s| s.record_task_restart(&name, &error, now)).await {
                tracing::warn!(error = %e, "could not record the delivery task's restart");
            }
            self.publish_metrics().await;
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.recv() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    }

    /// One sink's delivery task: deliver while this process holds the lease,
    /// then wait for a wake-up, the next due entry or `tick`.
    async fn deliver_loop(
        self: Arc<Self>,
        sink: Arc<dyn Sink>,
        wake: Arc<tokio::sync::Notify>,
        tick: Duration,
        mut sd: Shutdown,
    ) {
        loop {
            if !self.is_leader() {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(tick) => {}
                    _ = sd.recv() => return,
                }
                continue;
            }
            let next = match self.deliver(&*sink).await {
                Ok(d) => d.retry_at,
                Err(e @ StoreError::Superseded { .. }) => {
                    tracing::warn!(sink = %sink.name(), error = %e, "standing by");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(sink = %sink.name(), error = %e, "outbox unreadable; retrying");
                    Some(self.now() + 1000)
                }
            };
            self.publish_metrics().await;
            let name = sink.name().to_string();
            let next = match next {
                Some(at) => Some(at),
                None => self.io(move |s| s.outbox_next(&name)).await.ok().flatten(),
            };
            let wait = next.map(|at| Duration::from_millis((at - self.now()).max(0) as u64)).unwrap_or(tick);
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait.min(tick)) => {}
                _ = sd.recv() => return,
            }
        }
    }

    /// The daemon: a round after every committed pass and whenever a group
    /// is due (at least every `tick`, to see silences change), and one
    /// delivery task per sink so a dead sink delays no other.
    pub async fn run(self: Arc<Self>, committed: Arc<tokio::sync::Notify>, tick: Duration, mut shutdown: Shutdown) {
        let wakers: Vec<Arc<tokio::sync::Notify>> =
            self.sinks.iter().map(|_| Arc::new(tokio::sync::Notify::new())).collect();
        let mut workers = Vec::new();
        for (sink, wake) in self.sinks.iter().cloned().zip(wakers.iter().cloned()) {
            workers.push(tokio::spawn(self.clone().supervise(sink, wake, tick, shutdown.clone())));
        }
        loop {
            let gw = self.clone();
            let queued = tokio::task::spawn_blocking(move || {
                let was = gw.is_leader();
                if !gw.lease(LEASE.max(tick * 3))? {
                    if was {
                        tracing::warn!("another process took the alert lease; standing by");
                    }
                    return Ok(None);
                }
                if let Err(e) = gw.expire_posted() {
                    tracing::warn!(error = %e, "could not resolve posted alerts past their endsAt");
                }
                gw.round(gw.now(), false).map(|r| Some((r, !was)))
            })
            .await;
            match queued {
                Ok(Ok(Some((r, became)))) if r.queued > 0 || became => wakers.iter().for_each(|w| w.notify_one()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "alert round failed; retrying"),
                Err(e) => tracing::warn!(error = %e, "alert round panicked"),
            }
            let wait = self
                .next_due()
                .map(|at| Duration::from_millis((at - self.now()).max(0) as u64))
                .unwrap_or(tick)
                .min(tick);
            tokio::select! {
                _ = committed.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.recv() => break,
            }
        }
        for w in workers {
            let _ = w.await;
        }
        self.release().await;
    }
}

#[cfg(test)]
mod tests;
