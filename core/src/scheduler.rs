//! Runs every monkey on its own interval with jitter. One task per monkey, so
//! two passes of the same monkey never overlap; a pass longer than the interval
//! delays the next one instead of stacking up.

use crate::engine::Engine;
use crate::monkey::Monkey;
use crate::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub interval: Duration,
    /// Fraction of the interval, in [0, 0.5]: each gap is drawn uniformly from
    /// `interval * [1 - jitter, 1 + jitter]`, the first pass from `[0, interval * jitter]`.
    pub jitter: f64,
    pub timeout: Duration,
}

/// Delay before the first pass, for a uniform draw `r` in [0, 1).
pub fn initial_delay(s: &Schedule, r: f64) -> Duration {
    s.interval.mul_f64(s.jitter.clamp(0.0, 0.5) * r.clamp(0.0, 1.0))
}

/// Delay between the starts of two passes, for a uniform draw `r` in [0, 1).
pub fn next_delay(s: &Schedule, r: f64) -> Duration {
    let j = s.jitter.clamp(0.0, 0.5);
    s.interval.mul_f64(1.0 - j + 2.0 * j * r.clamp(0.0, 1.0))
}

/// When each monkey's last pass started, kept across scheduler runs (a
/// configuration reload starts a new one).
pub type Starts = Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>>;

/// Run until `shutdown` fires; then stop scheduling, give running passes
/// `grace` to finish (or abandon them unwritten) and return.
pub async fn run(engine: Arc<Engine>, monkeys: Vec<(Arc<dyn Monkey>, Schedule)>, shutdown: Shutdown, grace: Duration) {
    run_keeping(engine, monkeys, shutdown, grace, Starts::default()).await
}

/// `run`, where a monkey whose last pass is in `starts` keeps its rhythm:
/// its next pass is an interval after that one (at once if that is past),
/// not a fresh start.
pub async fn run_keeping(
    engine: Arc<Engine>,
    monkeys: Vec<(Arc<dyn Monkey>, Schedule)>,
    shutdown: Shutdown,
    grace: Duration,
    starts: Starts,
) {
    let mut tasks = JoinSet::new();
    for (monkey, schedule) in monkeys {
        let engine = engine.clone();
        let mut sd = shutdown.clone();
        let starts = starts.clone();
        tasks.spawn(async move {
            let last = starts.lock().unwrap_or_else(|e| e.into_inner()).get(monkey.name()).copied();
            let mut next = match last {
                Some(at) => (at + next_delay(&schedule, fastrand::f64())).max(Instant::now()),
                None => Instant::now() + initial_delay(&schedule, fastrand::f64()),
            };
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = sd.recv() => break,
                }
                let start = Instant::now();
                let s = engine.run_scheduled_pass(monkey.clone(), &schedule, sd.clone(), grace).await;
                // a pass cut short by the stop did not happen: the next run makes it up
                if s.status != crate::engine::PassStatus::Abandoned {
                    starts.lock().unwrap_or_else(|e| e.into_inner()).insert(monkey.name().to_string(), start);
                }
                tracing::info!(monkey = %s.monkey, status = ?s.status, secs = s.duration.as_secs_f64(), "pass finished");
                if sd.is_triggered() {
                    break;
                }
                next = (start + next_delay(&schedule, fastrand::f64())).max(Instant::now());
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::engine::PassStatus;
    use crate::finding::StoredFinding;
    use crate::metrics::Metrics;
    use crate::monkey::{MonkeyError, NoProgress, PassContext, Report};
    use crate::shutdown;
    use crate::store::{CommitOutcome, FindingFilter, PassMeta, Revision, Store, StoreError};
    use async_trait::async_trait;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use time::OffsetDateTime;

    #[test]
    fn delay_bounds_table() {
        let s = |secs: u64, jitter: f64| Schedule {
            interval: Duration::from_secs(secs),
            jitter,
            timeout: Duration::from_secs(1),
        };
        // (schedule, r, initial, next)
        let cases = [
            (s(100, 0.0), 0.7, 0, 100_000),
            (s(100, 0.1), 0.0, 0, 90_000),
            (s(100, 0.1), 0.5, 5_000, 100_000),
            (s(100, 0.1), 1.0, 10_000, 110_000),
            (s(100, 0.9), 1.0, 50_000, 150_000), // jitter capped at 0.5
            (s(60, 0.2), 0.25, 3_000, 54_000),
        ];
        for (sch, r, init_ms, next_ms) in cases {
            assert_eq!(initial_delay(&sch, r).as_millis(), init_ms as u128, "{sch:?} r={r}");
            assert_eq!(next_delay(&sch, r).as_millis(), next_ms as u128, "{sch:?} r={r}");
        }
    }

    #[derive(Default)]
    struct CountingStore {
        commits: AtomicUsize,
        failures: Mutex<Vec<String>>,
        renewals: AtomicUsize,
        /// Renewals answer "another pass took the shard over".
        refuse_renewal: std::sync::atomic::AtomicBool,
        /// Each lease granted takes over this replica's.
        takeover_from: Mutex<Option<String>>,
        /// Each commit takes this many ms (a store slower than the reads).
        commit_ms: std::sync::atomic::AtomicU64,
        /// Reports read and not yet committed, now and at most.
        reports_held: AtomicUsize,
        max_held: AtomicUsize,
    }

    impl Store for CountingStore {
        fn begin_pass(
            &self,
            shard: &str,
            _: &str,
            _: OffsetDateTime,
            _: OffsetDateTime,
            _: &dyn Fn(&str) -> bool,
            _: Option<OffsetDateTime>,
        ) -> Result<crate::store::PassLease, StoreError> {
            let took_over_from = self.takeover_from.lock().unwrap().clone();
            Ok(crate::store::PassLease { shard: shard.into(), epoch: 1, took_over_from })
        }
        fn renew_pass(&self, _: &crate::store::PassLease, _: OffsetDateTime) -> Result<bool, StoreError> {
            self.renewals.fetch_add(1, Ordering::SeqCst);
            Ok(!self.refuse_renewal.load(Ordering::SeqCst))
        }
        fn end_pass(&self, _: &crate::store::PassLease) -> Result<(), StoreError> {
            Ok(())
        }
        fn serializes_commits(&self) -> bool {
            true
        }
        fn record_event(&self, _: &crate::timeline::ChangeEvent, _: OffsetDateTime) -> Result<bool, StoreError> {
            unimplemented!()
        }
        fn events_since(&self, _: OffsetDateTime) -> Result<Vec<crate::timeline::ChangeEvent>, StoreError> {
            unimplemented!()
        }
        fn transitions_since(&self, _: OffsetDateTime) -> Result<Vec<crate::FindingEvent>, StoreError> {
            unimplemented!()
        }
        fn commit_pass(&self, _: &PassMeta, _: &Report) -> Result<CommitOutcome, StoreError> {
            std::thread::sleep(Duration::from_millis(self.commit_ms.load(Ordering::SeqCst)));
            self.commits.fetch_add(1, Ordering::SeqCst);
            let _ = self.reports_held.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            Ok(CommitOutcome::default())
        }
        fn record_failed_pass(&self, _: &PassMeta, e: &str) -> Result<(), StoreError> {
            self.failures.lock().unwrap().push(e.to_string());
            Ok(())
        }
        fn keep_shards(&self, _: &str, _: &[String], _: OffsetDateTime) -> Result<(), StoreError> {
            Ok(())
        }
        fn shard_records(&self, _: OffsetDateTime) -> Result<Vec<crate::status::ShardRecord>, StoreError> {
            Ok(vec![])
        }
        fn heartbeat(&self, _: &crate::status::Replica) -> Result<(), StoreError> {
            Ok(())
        }
        fn replicas(&self, _: i64) -> Result<Vec<crate::status::Replica>, StoreError> {
            Ok(vec![])
        }
        fn findings(&self, _: &FindingFilter) -> Result<Vec<StoredFinding>, StoreError> {
            Ok(vec![])
        }
        fn pass_counts(&self) -> Result<std::collections::BTreeMap<String, i64>, StoreError> {
            Ok(Default::default())
        }
        fn revisions_since(&self, _: OffsetDateTime) -> Result<Vec<Revision>, StoreError> {
            Ok(vec![])
        }
        fn revisions_latest(&self, _: OffsetDateTime, _: usize) -> Result<(u64, Vec<Revision>), StoreError> {
            Ok((0, vec![]))
        }
        fn history(&self, _: &str) -> Result<Vec<Revision>, StoreError> {
            Ok(vec![])
        }
        fn state_at(&self, _: &str, _: OffsetDateTime) -> Result<Option<Revision>, StoreError> {
            Ok(None)
        }
        fn find_items(&self, _: &str) -> Result<Vec<String>, StoreError> {
            Ok(vec![])
        }
        fn first_observed(&self, _: &str, _: &str) -> Result<Option<OffsetDateTime>, StoreError> {
            Ok(None)
        }
        fn last_successes(&self) -> Result<std::collections::BTreeMap<String, OffsetDateTime>, StoreError> {
            Ok(Default::default())
        }
        fn observations(&self, _: &str) -> Result<Vec<serde_json::Value>, StoreError> {
            Ok(vec![])
        }
        fn attach_who(&self, _: &[crate::monkey::Attribution]) -> Result<(), StoreError> {
            Ok(())
        }
        fn pending_attribution(&self, _: &str, _: OffsetDateTime) -> Result<Vec<crate::monkey::Written>, StoreError> {
            Ok(vec![])
        }
    }

    /// A monkey that takes `work` of (paused) time per pass and records when
    /// each pass started and how many passes ran at once.
    struct TimedMonkey {
        work: Duration,
        starts: Mutex<Vec<Instant>>,
        active: AtomicUsize,
        max_active: AtomicUsize,
    }

    impl TimedMonkey {
        fn new(work: Duration) -> Arc<Self> {
            Arc::new(TimedMonkey {
                work,
                starts: Mutex::new(vec![]),
                active: AtomicUsize::new(0),
                max_active: AtomicUsize::new(0),
            })
        }
    }

    #[async_trait]
    impl Monkey for TimedMonkey {
        fn name(&self) -> &'static str {
            "timed"
        }
        async fn run(&self, _: &PassContext, _: &crate::monkey::Shard) -> Result<Report, MonkeyError> {
            self.starts.lock().unwrap().push(Instant::now());
            let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_active.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.work).await;
            self.active.fetch_sub(1, Ordering::SeqCst);
            Ok(Report::default())
        }
    }

    fn engine(store: Arc<CountingStore>) -> Arc<Engine> {
        Arc::new(Engine::new(store, Arc::new(Metrics::default()), Arc::new(SystemClock), Arc::new(NoProgress)))
    }

    async fn run_for(
        monkey: Arc<TimedMonkey>,
        schedule: Schedule,
        total: Duration,
        store: Arc<CountingStore>,
    ) -> Vec<Duration> {
        let (trigger, sd) = shutdown::channel();
        let t0 = Instant::now();
        let handle = tokio::spawn(run(
            engine(store),
            vec![(monkey.clone() as Arc<dyn Monkey>, schedule)],
            sd,
            Duration::from_secs(1),
        ));
        tokio::time::sleep(total).await;
        trigger.trigger();
        handle.await.unwrap();
        monkey.starts.lock().unwrap().iter().map(|s| *s - t0).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn passes_follow_the_interval_within_jitter() {
        let store = Arc::new(CountingStore::default());
        let m = TimedMonkey::new(Duration::from_secs(1));
        let sch = Schedule { interval: Duration::from_secs(60), jitter: 0.1, timeout: Duration::from_secs(30) };
        let starts = run_for(m.clone(), sch, Duration::from_secs(60 * 20), store.clone()).await;
        assert!(starts.len() >= 18 && starts.len() <= 23, "{} passes", starts.len());
        assert!(starts[0] <= Duration::from_secs(6), "first pass at {:?}", starts[0]);
        for w in starts.windows(2) {
            let gap = w[1] - w[0];
            assert!(gap >= Duration::from_secs(54) && gap <= Duration::from_secs(66), "gap {gap:?}");
        }
        assert_eq!(store.commits.load(Ordering::SeqCst), starts.len());
    }

    #[tokio::test(start_paused = true)]
    async fn zero_jitter_is_exact() {
        let store = Arc::new(CountingStore::default());
        let m = TimedMonkey::new(Duration::from_millis(10));
        let sch = Schedule { interval: Duration::from_secs(30), jitter: 0.0, timeout: Duration::from_secs(5) };
        let starts = run_for(m, sch, Duration::from_secs(100), store).await;
        let secs: Vec<u64> = starts.iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, vec![0, 30, 60, 90]);
    }

    /// Runs one after another (reloads), each stopped after its time, all
    /// sharing one `Starts`; the seconds at which passes started.
    async fn runs_in_a_row(m: &Arc<TimedMonkey>, sch: Schedule, stops: &[u64], store: Arc<CountingStore>) -> Vec<u64> {
        let starts = Starts::default();
        let t0 = Instant::now();
        let e = engine(store);
        for stop_after in stops {
            let (trigger, sd) = shutdown::channel();
            let one = vec![(m.clone() as Arc<dyn Monkey>, sch)];
            let handle = tokio::spawn(run_keeping(e.clone(), one, sd, Duration::from_secs(1), starts.clone()));
            tokio::time::sleep(Duration::from_secs(*stop_after)).await;
            trigger.trigger();
            handle.await.unwrap();
        }
        m.starts.lock().unwrap().iter().map(|s| (*s - t0).as_secs()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_run_keeps_the_rhythm_of_the_last() {
        let m = TimedMonkey::new(Duration::from_millis(10));
        let sch = Schedule { interval: Duration::from_secs(100), jitter: 0.0, timeout: Duration::from_secs(5) };
        let secs = runs_in_a_row(&m, sch, &[30, 150], Arc::default()).await;
        assert_eq!(secs, vec![0, 100], "the second run waited for the interval, it did not start afresh");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pass_abandoned_by_the_stop_is_made_up_by_the_next_run() {
        let store = Arc::new(CountingStore::default());
        let m = TimedMonkey::new(Duration::from_secs(20));
        let sch = Schedule { interval: Duration::from_secs(100), jitter: 0.0, timeout: Duration::from_secs(60) };
        // stopped 5 s into its first pass (1 s grace): abandoned; the next run starts it at once
        let secs = runs_in_a_row(&m, sch, &[5, 30], store.clone()).await;
        assert_eq!(secs, vec![0, 6]);
        assert_eq!(store.commits.load(Ordering::SeqCst), 1, "only the made-up pass committed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_pass_never_overlaps_the_next() {
        let store = Arc::new(CountingStore::default());
        let m = TimedMonkey::new(Duration::from_secs(25));
        let sch = Schedule { interval: Duration::from_secs(10), jitter: 0.0, timeout: Duration::from_secs(60) };
        let starts = run_for(m.clone(), sch, Duration::from_secs(100), store).await;
        assert_eq!(m.max_active.load(Ordering::SeqCst), 1);
        // back to back: each pass starts when the previous one ends
        for w in starts.windows(2) {
            assert_eq!((w[1] - w[0]).as_secs(), 25);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pass_over_its_timeout_fails_and_writes_nothing() {
        let store = Arc::new(CountingStore::default());
        let m = TimedMonkey::new(Duration::from_secs(50));
        let sch = Schedule { interval: Duration::from_secs(60), jitter: 0.0, timeout: Duration::from_secs(20) };
        let starts = run_for(m, sch, Duration::from_secs(150), store.clone()).await;
        // passes at 0, 60 (each cut at 20s) and 120
        assert_eq!(starts.len(), 3);
        assert_eq!(store.commits.load(Ordering::SeqCst), 0);
        let failures = store.failures.lock().unwrap().clone();
        assert!(failures.len() >= 2 && failures.iter().all(|f| f.contains("timed out after 20s")), "{failures:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_engine_refuses_a_second_concurrent_pass() {
        let store = Arc::new(CountingStore::default());
        let e = engine(store);
        let m: Arc<dyn Monkey> = TimedMonkey::new(Duration::from_secs(5));
        let (a, b) = tokio::join!(
            e.run_pass(m.clone(), Duration::from_secs(10), Shutdown::never(), Duration::ZERO),
            e.run_pass(m.clone(), Duration::from_secs(10), Shutdown::never(), Duration::ZERO)
        );
        let mut statuses = vec![a.status, b.status];
        statuses.sort_by_key(|s| format!("{s:?}"));
        assert_eq!(statuses, vec![PassStatus::Ok, PassStatus::Skipped]);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_abandons_a_pass_past_the_grace_period() {
        let store = Arc::new(CountingStore::default());
        let e = engine(store.clone());
        let m: Arc<dyn Monkey> = TimedMonkey::new(Duration::from_secs(30));
        let (trigger, sd) = shutdown::channel();
        let pass = tokio::spawn({
            let e = e.clone();
            async move { e.run_pass(m, Duration::from_secs(60), sd, Duration::from_secs(2)).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = Instant::now();
        trigger.trigger();
        let s = pass.await.unwrap();
        assert_eq!(s.status, PassStatus::Abandoned);
        assert_eq!(t.elapsed(), Duration::from_secs(2));
        assert_eq!(store.commits.load(Ordering::SeqCst), 0);
    }

    struct GaugeMonkey;

    #[async_trait]
    impl Monkey for GaugeMonkey {
        fn name(&self) -> &'static str {
            "certs"
        }
        async fn run(&self, _: &PassContext, _: &crate::monkey::Shard) -> Result<Report, MonkeyError> {
            let mut labels = std::collections::BTreeMap::new();
            labels.insert("host".to_string(), "a.test".to_string());
            Ok(Report {
                gauges: vec![crate::monkey::Gauge {
                    name: "troop_cert_not_after_timestamp_seconds".into(),
                    labels,
                    value: 1800000000.0,
                }],
                ..Default::default()
            })
        }
    }

    #[tokio::test]
    async fn a_passes_gauges_reach_the_metrics() {
        let e = engine(Arc::new(CountingStore::default()));
        let s = e.run_pass(Arc::new(GaugeMonkey), Duration::from_secs(5), Shutdown::never(), Duration::ZERO).await;
        assert_eq!(s.status, PassStatus::Ok);
        let text = e.metrics().render();
        assert!(text.contains("troop_cert_not_after_timestamp_seconds{host=\"a.test\"} 1800000000"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_lets_a_short_pass_finish() {
        let store = Arc::new(CountingStore::default());
        let e = engine(store.clone());
        let m: Arc<dyn Monkey> = TimedMonkey::new(Duration::from_secs(3));
        let (trigger, sd) = shutdown::channel();
        let pass = tokio::spawn({
            let e = e.clone();
            async move { e.run_pass(m, Duration::from_secs(60), sd, Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        trigger.trigger();
        assert_eq!(pass.await.unwrap().status, PassStatus::Ok);
        assert_eq!(store.commits.load(Ordering::SeqCst), 1);
    }

    /// A monkey of `shards` account shards; shard `i` takes `i` seconds of
    /// (paused) time, the ones in `fail` fail, the ones in `unreadable`
    /// could read nothing.
    struct ShardedMonkey {
        shards: usize,
        parallel: usize,
        fail: Vec<usize>,
        unreadable: Vec<usize>,
        active: AtomicUsize,
        max_active: AtomicUsize,
    }

    impl ShardedMonkey {
        fn new(shards: usize, parallel: usize, fail: &[usize], unreadable: &[usize]) -> Arc<Self> {
            Arc::new(ShardedMonkey {
                shards,
                parallel,
                fail: fail.to_vec(),
                unreadable: unreadable.to_vec(),
                active: AtomicUsize::new(0),
                max_active: AtomicUsize::new(0),
            })
        }
    }

    #[async_trait]
    impl Monkey for ShardedMonkey {
        fn name(&self) -> &'static str {
            "sharded"
        }
        async fn shards(&self, _: &PassContext) -> Result<Vec<crate::monkey::Shard>, MonkeyError> {
            Ok((0..self.shards).map(|i| crate::monkey::Shard::account("sharded", &format!("{i:03}"))).collect())
        }
        fn parallel_shards(&self) -> usize {
            self.parallel
        }
        async fn run(&self, ctx: &PassContext, shard: &crate::monkey::Shard) -> Result<Report, MonkeyError> {
            let i: usize = shard.account.as_deref().unwrap().parse().unwrap();
            let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_active.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(i as u64)).await;
            self.active.fetch_sub(1, Ordering::SeqCst);
            ctx.counters.add("aws_api_calls", 2);
            if self.fail.contains(&i) {
                return Err(MonkeyError::Failed(format!("account {i} refused")));
            }
            let error = self.unreadable.contains(&i).then(|| format!("account {i} unreadable"));
            Ok(Report { error, ..Default::default() })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_shard_commits_on_its_own_and_a_failing_one_fails_only_itself() {
        let store = Arc::new(CountingStore::default());
        let e = engine(store.clone());
        let m = ShardedMonkey::new(6, 2, &[3], &[4]);
        let s = e.run_pass(m.clone(), Duration::from_secs(60), Shutdown::never(), Duration::ZERO).await;
        assert_eq!(store.commits.load(Ordering::SeqCst), 5, "every shard but the failed one committed");
        assert_eq!(*store.failures.lock().unwrap(), vec!["account 3 refused".to_string()]);
        assert_eq!(m.max_active.load(Ordering::SeqCst), 2, "at most parallel_shards at once");
        let statuses: Vec<_> = s.shards.iter().map(|o| (o.shard.as_str(), o.status.word().0)).collect();
        assert_eq!(
            statuses,
            [
                ("sharded/000", "ok"),
                ("sharded/001", "ok"),
                ("sharded/002", "ok"),
                ("sharded/003", "failed"),
                ("sharded/004", "unreadable"),
                ("sharded/005", "ok")
            ]
        );
        let PassStatus::Failed(msg) = &s.status else { panic!("{:?}", s.status) };
        assert!(msg.starts_with("1 of 6 shards failed") && msg.contains("sharded/003: account 3 refused"), "{msg}");
        assert_eq!(s.counters.get("aws_api_calls"), Some(&12), "each shard's reads counted once");
    }

    /// Reads that end at once, into a store that commits one at a time.
    struct InstantMonkey {
        store: Arc<CountingStore>,
        shards: usize,
    }

    #[async_trait]
    impl Monkey for InstantMonkey {
        fn name(&self) -> &'static str {
            "instant"
        }
        async fn shards(&self, _: &PassContext) -> Result<Vec<crate::monkey::Shard>, MonkeyError> {
            Ok((0..self.shards).map(|i| crate::monkey::Shard::account("instant", &format!("{i:03}"))).collect())
        }
        fn parallel_shards(&self) -> usize {
            8
        }
        async fn run(&self, _: &PassContext, _: &crate::monkey::Shard) -> Result<Report, MonkeyError> {
            let held = self.store.reports_held.fetch_add(1, Ordering::SeqCst) + 1;
            // after the first round: the steady state
            if self.store.commits.load(Ordering::SeqCst) >= 8 {
                self.store.max_held.fetch_max(held, Ordering::SeqCst);
            }
            Ok(Report::default())
        }
    }

    #[tokio::test]
    async fn a_pass_reads_no_further_ahead_than_the_store_commits() {
        let store = Arc::new(CountingStore::default());
        store.commit_ms.store(5, Ordering::SeqCst);
        let e = engine(store.clone());
        let m = Arc::new(InstantMonkey { store: store.clone(), shards: 40 });
        let s = e.run_pass(m, Duration::from_secs(60), Shutdown::never(), Duration::ZERO).await;
        assert!(s.status.is_ok(), "{:?}", s.status);
        assert_eq!(store.commits.load(Ordering::SeqCst), 40);
        // 8 may be read at once, but reads that end faster than the store
        // commits are not read ahead: at most two reports wait
        let held = store.max_held.load(Ordering::SeqCst);
        assert!((1..=2).contains(&held), "{held} reports held at once after the first round");
    }

    #[tokio::test(start_paused = true)]
    async fn the_pass_timeout_fails_only_the_shards_it_cut() {
        let store = Arc::new(CountingStore::default());
        let e = engine(store.clone());
        // shards of 0..5 s, two at a time: 0+2+4 and 1+3 done by 6 s; 5 is cut at 7 s
        let m = ShardedMonkey::new(6, 2, &[], &[]);
        let s = e.run_pass(m, Duration::from_secs(7), Shutdown::never(), Duration::ZERO).await;
        assert_eq!(store.commits.load(Ordering::SeqCst), 5);
        assert_eq!(s.shards.last().map(|o| o.status.clone()), Some(crate::engine::ShardStatus::TimedOut));
        assert!(matches!(&s.status, PassStatus::Failed(m) if m.starts_with("1 of 6")), "{:?}", s.status);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_starts_no_new_shard_and_keeps_what_committed() {
        let store = Arc::new(CountingStore::default());
        let e = engine(store.clone());
        let m = ShardedMonkey::new(10, 1, &[], &[]);
        let (trigger, sd) = shutdown::channel();
        let pass = tokio::spawn({
            let e = e.clone();
            async move { e.run_pass(m, Duration::from_secs(600), sd, Duration::from_secs(1)).await }
        });
        // shards 0, 1, 2 done by 3 s; shard 3 (3 s long) is running at 4 s and cut after 1 s of grace
        tokio::time::sleep(Duration::from_secs(4)).await;
        trigger.trigger();
        let s = pass.await.unwrap();
        assert_eq!(s.status, PassStatus::Abandoned);
        assert_eq!(store.commits.load(Ordering::SeqCst), 3);
        assert_eq!(s.shards.iter().filter(|o| o.status == crate::engine::ShardStatus::Abandoned).count(), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_read_renews_its_lease_and_stops_when_it_was_taken_over() {
        let store = Arc::new(CountingStore::default());
        let e = Arc::new(
            Engine::new(store.clone(), Arc::new(Metrics::default()), Arc::new(SystemClock), Arc::new(NoProgress))
                .with_lease(Duration::from_secs(30)),
        );
        // 45 s of reading with a 30 s lease: renewed at 10, 20, 30, 40 s
        let s = e
            .run_pass(
                TimedMonkey::new(Duration::from_secs(45)),
                Duration::from_secs(600),
                Shutdown::never(),
                Duration::ZERO,
            )
            .await;
        assert_eq!(s.status, PassStatus::Ok);
        assert_eq!(store.renewals.load(Ordering::SeqCst), 4);
        assert_eq!(store.commits.load(Ordering::SeqCst), 1);

        // `[agent] lease_renewal` = 4 s: renewed at 4, 8, ... 44 s
        let other = Arc::new(CountingStore::default());
        let every4 =
            Engine::new(other.clone(), Arc::new(Metrics::default()), Arc::new(SystemClock), Arc::new(NoProgress))
                .with_lease(Duration::from_secs(30))
                .with_renewal(Duration::from_secs(4));
        let read_45s = || TimedMonkey::new(Duration::from_secs(45));
        let s = every4.run_pass(read_45s(), Duration::from_secs(600), Shutdown::never(), Duration::ZERO).await;
        assert_eq!(s.status, PassStatus::Ok);
        assert_eq!(other.renewals.load(Ordering::SeqCst), 11);

        // another replica took the shard over while this one read: it stops, writes nothing
        store.refuse_renewal.store(true, Ordering::SeqCst);
        let t = Instant::now();
        let s = e
            .run_pass(
                TimedMonkey::new(Duration::from_secs(50)),
                Duration::from_secs(600),
                Shutdown::never(),
                Duration::ZERO,
            )
            .await;
        assert!(matches!(s.status, PassStatus::Superseded(ref why) if why.contains("taken over")), "{:?}", s.status);
        assert_eq!(t.elapsed(), Duration::from_secs(10), "stopped at the first renewal");
        assert_eq!(store.commits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn fresh_for_leaves_room_for_the_next_pass() {
        let s = |secs: u64, jitter: f64| Schedule {
            interval: Duration::from_secs(secs),
            jitter,
            timeout: Duration::from_secs(1),
        };
        assert_eq!(crate::engine::fresh_for(&s(600, 0.0)), Duration::from_secs(540));
        assert_eq!(crate::engine::fresh_for(&s(600, 0.1)), Duration::from_secs(486));
        // the soonest next pass (interval × (1 − jitter)) always finds the shard due
        for (secs, jitter) in [(60, 0.0), (60, 0.5), (3600, 0.2)] {
            let sch = s(secs, jitter);
            assert!(crate::engine::fresh_for(&sch) < next_delay(&sch, 0.0));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn takeovers_and_leases_held_are_exported() {
        let store = Arc::new(CountingStore::default());
        *store.takeover_from.lock().unwrap() = Some("other:1:dead".into());
        let e = engine(store.clone());
        let m = ShardedMonkey::new(3, 3, &[], &[]);
        let pass = {
            let (e, m) = (e.clone(), m.clone());
            tokio::spawn(async move { e.run_pass(m, Duration::from_secs(60), Shutdown::never(), Duration::ZERO).await })
        };
        // shards of 0, 1 and 2 s, read at once: at 0.5 s two are held
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            e.metrics().render().contains("troop_shard_leases_held{monkey=\"sharded\"} 2"),
            "{}",
            e.metrics().render()
        );
        assert!(pass.await.unwrap().status.is_ok());
        let text = e.metrics().render();
        assert!(text.contains("troop_shard_takeovers_total{monkey=\"sharded\"} 3"), "{text}");
        assert!(text.contains("troop_shard_leases_held{monkey=\"sharded\"} 0"), "{text}");
    }
}
