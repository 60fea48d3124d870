//! The gateway against a real SQLite store, on tokio's paused clock.

use super::*;
use async_trait::async_trait;
use std::sync::atomic::{AtomicUsize, Ordering};
use troop_core::alerting::{Notification, Reason, RouteTree, Timing};
use troop_core::clock::TokioClock;
use troop_core::finding::{Finding, Severity};
use troop_core::monkey::{Coverage, Report};
use troop_core::shutdown;
use troop_core::store::{PassMeta, Store};
use troop_store::SqliteStore;

/// Records what it receives; fails transiently for its first `down` attempts,
/// and permanently for notifications whose firing titles contain "poison".
struct Recorder {
    name: String,
    down: AtomicUsize,
    /// While down, answer like a 429 with this Retry-After.
    retry_after: Option<Duration>,
    attempts: AtomicUsize,
    got: Mutex<Vec<Notification>>,
}

impl Recorder {
    fn new(name: &str, down: usize) -> Arc<Recorder> {
        Arc::new(Recorder {
            name: name.into(),
            down: AtomicUsize::new(down),
            retry_after: None,
            attempts: AtomicUsize::new(0),
            got: Mutex::new(vec![]),
        })
    }
    /// (reason, firing resources then `-` and resolved ones, each sorted)
    fn reasons(&self) -> Vec<(Reason, Vec<String>)> {
        let sorted = |fs: &[Arc<troop_core::StoredFinding>]| {
            let mut v: Vec<String> = fs.iter().map(|f| f.resource.clone()).collect();
            v.sort();
            v
        };
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|n| {
                let mut r = sorted(&n.firing);
                if !n.resolved.is_empty() {
                    r.push("-".into());
                    r.extend(sorted(&n.resolved));
                }
                (n.reason, r)
            })
            .collect()
    }
}

#[async_trait]
impl Sink for Recorder {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "test"
    }
    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) > 0 {
            self.down.fetch_sub(1, Ordering::SeqCst);
            return Err(match self.retry_after {
                Some(r) => SinkError::Transient { message: "HTTP 429: slow down".into(), retry_after: Some(r) },
                None => SinkError::transient("connection refused"),
            });
        }
        if n.firing.iter().any(|f| f.title.contains("poison")) {
            return Err(SinkError::Permanent("HTTP 400: bad payload".into()));
        }
        self.got.lock().unwrap().push(n.clone());
        Ok(())
    }
}

fn finding(resource: &str, severity: Severity, title: &str) -> Finding {
    Finding {
        monkey: "certs".into(),
        kind: "certificate".into(),
        severity,
        account: "111".into(),
        region: "global".into(),
        resource: resource.into(),
        title: title.into(),
        details: serde_json::json!({}),
        labels: [("owner".to_string(), "shop".to_string())].into(),
        scope: "certs".into(),
    }
}

fn pass(store: &SqliteStore, findings: Vec<Finding>) {
    let now = time::OffsetDateTime::now_utc();
    let report = Report {
        findings,
        coverage: vec![Coverage { scope: "certs".into(), account: "111".into(), region: "global".into() }],
        ..Default::default()
    };
    let lease = store.begin_pass("certs", "test", now, now, &|_| false, None).unwrap();
    store
        .commit_pass(
            &PassMeta { monkey: "certs".into(), started_at: now, round: now, finished_at: now, lease },
            &report,
        )
        .unwrap();
}

fn timing(repeat: Duration) -> Timing {
    Timing { group_wait: Duration::ZERO, group_interval: Duration::ZERO, repeat_interval: repeat, send_resolved: true }
}

struct Rig {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    committed: Arc<tokio::sync::Notify>,
    trigger: Option<shutdown::ShutdownTrigger>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Rig {
    fn start(sinks: Vec<Arc<dyn Sink>>, repeat: Duration) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).unwrap());
        Rig::on(dir, store, sinks, repeat)
    }

    /// Stop, and start again on the same store with another configuration.
    async fn restart(mut self, sinks: Vec<Arc<dyn Sink>>, repeat: Duration) -> Rig {
        self.trigger.take().unwrap().trigger();
        self.task.take().unwrap().await.unwrap();
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        Rig::on(dir, self.store.clone(), sinks, repeat)
    }

    fn on(dir: tempfile::TempDir, store: Arc<SqliteStore>, sinks: Vec<Arc<dyn Sink>>, repeat: Duration) -> Rig {
        let names: Vec<String> = sinks.iter().map(|s| s.name().to_string()).collect();
        let tree = RouteTree::everything_to(&names, timing(repeat));
        let retry = RetryPolicy { initial: Duration::from_secs(1), max: Duration::from_secs(8) };
        let gw = Arc::new(Gateway::new(store.clone(), tree, sinks, retry, Arc::new(TokioClock::new())));
        let committed = Arc::new(tokio::sync::Notify::new());
        let (trigger, sd) = shutdown::channel();
        let task = tokio::spawn(gw.run(committed.clone(), Duration::from_secs(5), sd));
        Rig { _dir: dir, store, committed, trigger: Some(trigger), task: Some(task) }
    }

    fn pass(&self, findings: Vec<Finding>) {
        pass(&self.store, findings);
        self.committed.notify_one();
    }

    async fn stop(mut self) {
        self.trigger.take().unwrap().trigger();
        self.task.take().unwrap().await.unwrap();
    }
}

/// Let the gateway's tasks (and their blocking store calls) run while the
/// paused clock moves `d` ahead, half a second at a time.
async fn settle(d: Duration) {
    let mut left = d;
    loop {
        for _ in 0..4 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if left.is_zero() {
            return;
        }
        let step = left.min(Duration::from_millis(500));
        tokio::time::advance(step).await;
        left -= step;
    }
}

#[tokio::test(start_paused = true)]
async fn unchanged_scans_notify_once_escalation_repeat_and_resolution_each_once() {
    let rec = Recorder::new("mail", 0);
    let rig = Rig::start(vec![rec.clone()], Duration::from_secs(4 * 3600));
    for _ in 0..3 {
        rig.pass(vec![finding("a:443", Severity::Warning, "a expires in 20 days")]);
        settle(Duration::from_secs(60)).await;
    }
    assert_eq!(rec.reasons(), [(Reason::First, vec!["a:443".to_string()])]);
    rig.pass(vec![finding("a:443", Severity::Critical, "a expires in 5 days")]);
    settle(Duration::from_secs(60)).await;
    assert_eq!(rec.reasons().last().unwrap().0, Reason::Escalated);
    // nothing for almost four hours, then one repeat
    settle(Duration::from_secs(4 * 3600 - 300)).await;
    assert_eq!(rec.reasons().len(), 2, "{:?}", rec.reasons());
    settle(Duration::from_secs(600)).await;
    assert_eq!(rec.reasons().len(), 3, "{:?}", rec.reasons());
    assert_eq!(rec.reasons()[2].0, Reason::Repeat);
    rig.pass(vec![]);
    settle(Duration::from_secs(60)).await;
    rig.pass(vec![]);
    settle(Duration::from_secs(8 * 3600)).await;
    let reasons: Vec<Reason> = rec.reasons().iter().map(|r| r.0).collect();
    assert_eq!(reasons, [Reason::First, Reason::Escalated, Reason::Repeat, Reason::Resolved]);
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_sink_down_for_its_first_attempts_gets_everything_in_order_once() {
    let flaky = Recorder::new("flaky", 4);
    let steady = Recorder::new("steady", 0);
    let rig = Rig::start(vec![flaky.clone(), steady.clone()], Duration::from_secs(24 * 3600));
    rig.pass(vec![finding("a:443", Severity::Warning, "a")]);
    settle(Duration::from_secs(1)).await;
    // the dead sink delays no other
    assert_eq!(steady.reasons().len(), 1);
    assert!(flaky.reasons().is_empty());
    rig.pass(vec![finding("a:443", Severity::Warning, "a"), finding("b:443", Severity::Warning, "b")]);
    settle(Duration::from_secs(1)).await;
    rig.pass(vec![finding("b:443", Severity::Warning, "b")]);
    settle(Duration::from_secs(120)).await;
    let want = vec![
        (Reason::First, vec!["a:443".to_string()]),
        (Reason::New, vec!["a:443".to_string(), "b:443".to_string()]),
        (Reason::Resolved, vec!["b:443".to_string(), "-".to_string(), "a:443".to_string()]),
    ];
    assert_eq!(steady.reasons(), want);
    assert_eq!(flaky.reasons(), want, "every notification, in order, once");
    assert_eq!(flaky.attempts.load(Ordering::SeqCst), 4 + 3);
    let stats = rig.store.outbox_stats().unwrap();
    let f = stats.iter().find(|s| s.sink == "flaky").unwrap();
    assert_eq!((f.pending, f.delivered, f.failed, f.failed_attempts), (0, 3, 0, 4));
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_recorded_not_retried_and_blocks_nothing() {
    let rec = Recorder::new("hook", 0);
    let rig = Rig::start(vec![rec.clone()], Duration::from_secs(24 * 3600));
    rig.pass(vec![finding("p:443", Severity::Warning, "poison")]);
    settle(Duration::from_secs(5)).await;
    rig.pass(vec![finding("p:443", Severity::Critical, "fine now")]);
    settle(Duration::from_secs(600)).await;
    assert_eq!(rec.reasons(), [(Reason::Escalated, vec!["p:443".to_string()])]);
    assert_eq!(rec.attempts.load(Ordering::SeqCst), 2, "the rejected one was tried once");
    let s = rig.store.outbox_stats().unwrap().remove(0);
    assert_eq!((s.pending, s.failed, s.delivered), (0, 1, 1));
    assert!(s.last_error.unwrap().contains("HTTP 400"));
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let limited = Arc::new(Recorder {
        retry_after: Some(Duration::from_secs(30)),
        ..Arc::into_inner(Recorder::new("limited", 1)).unwrap()
    });
    let rig = Rig::start(vec![limited.clone()], Duration::from_secs(24 * 3600));
    rig.pass(vec![finding("a:443", Severity::Warning, "a")]);
    settle(Duration::from_secs(25)).await;
    // backoff alone would have retried after about a second
    assert_eq!(limited.attempts.load(Ordering::SeqCst), 1);
    assert!(limited.reasons().is_empty());
    settle(Duration::from_secs(10)).await;
    assert_eq!(limited.attempts.load(Ordering::SeqCst), 2);
    assert_eq!(limited.reasons().len(), 1);
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_sink_dropped_from_the_configuration_leaves_failed_entries_not_pending_ones() {
    let old = Recorder::new("old", usize::MAX);
    let rig = Rig::start(vec![old.clone()], Duration::from_secs(24 * 3600));
    rig.pass(vec![finding("a:443", Severity::Warning, "a")]);
    settle(Duration::from_secs(5)).await;
    assert!(old.attempts.load(Ordering::SeqCst) >= 1);
    assert_eq!(rig.store.outbox_stats().unwrap()[0].pending, 1);

    let new = Recorder::new("new", 0);
    let rig = rig.restart(vec![new.clone()], Duration::from_secs(24 * 3600)).await;
    settle(Duration::from_secs(1)).await;
    let stats = rig.store.outbox_stats().unwrap();
    let o = stats.iter().find(|s| s.sink == "old").unwrap();
    assert_eq!((o.pending, o.failed), (0, 1), "{stats:?}");
    assert_eq!(o.last_error.as_deref(), Some(NOT_CONFIGURED));
    // the finding still fires: the next pass tells the sink that replaced it
    rig.pass(vec![finding("a:443", Severity::Warning, "a")]);
    settle(Duration::from_secs(5)).await;
    assert_eq!(new.reasons(), [(Reason::First, vec!["a:443".to_string()])]);
    rig.stop().await;
}

/// A sink that, during its first send, lets another process take the alert
/// lease (as if this one had stalled past its lease and been judged gone).
struct Usurped {
    store: Arc<SqliteStore>,
    got: AtomicUsize,
}

#[async_trait]
impl Sink for Usurped {
    fn name(&self) -> &str {
        "hook"
    }
    fn kind(&self) -> &'static str {
        "test"
    }
    async fn send(&self, _: &Notification) -> Result<(), SinkError> {
        if self.got.fetch_add(1, Ordering::SeqCst) == 0 {
            let now = alerting::millis(time::OffsetDateTime::now_utc());
            let taken = self.store.alert_lease("other:1:0", now, now + 60_000, &|_| true).unwrap();
            assert!(taken.is_some());
        }
        Ok(())
    }
}

#[tokio::test]
async fn delivery_stops_at_the_send_after_the_lease_passed_to_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).unwrap());
    let sink = Arc::new(Usurped { store: store.clone(), got: AtomicUsize::new(0) });
    let tree = RouteTree::everything_to(&["hook".to_string()], timing(Duration::from_secs(3600)));
    let retry = RetryPolicy { initial: Duration::from_secs(1), max: Duration::from_secs(8) };
    let gw = Gateway::new(store.clone(), tree, vec![sink.clone()], retry, Arc::new(troop_core::clock::SystemClock));
    assert!(gw.lease(Duration::from_secs(60)).unwrap());
    // three notifications waiting, in order
    pass(&store, vec![finding("a:443", Severity::Warning, "a")]);
    gw.round(gw.now(), true).unwrap();
    pass(&store, vec![finding("a:443", Severity::Warning, "a"), finding("b:443", Severity::Warning, "b")]);
    gw.round(gw.now(), true).unwrap();
    pass(&store, vec![finding("b:443", Severity::Warning, "b")]);
    gw.round(gw.now(), true).unwrap();
    assert_eq!(store.outbox_stats().unwrap()[0].pending, 3);

    let stopped = gw.deliver(&*sink).await;
    assert!(matches!(stopped, Err(StoreError::Superseded { .. })), "{stopped:?}");
    assert_eq!(sink.got.load(Ordering::SeqCst), 1, "nothing sent once the lease was gone");
    let s = store.outbox_stats().unwrap().remove(0);
    assert_eq!((s.delivered, s.pending), (1, 2), "the rest waits for the lease holder");
    // the old holder cannot simply renew: the lease is the other's now
    assert!(!gw.lease(Duration::from_secs(60)).unwrap());
}

/// Panics on its first send (a bug in a sink), then works.
struct Panicky {
    calls: AtomicUsize,
    got: AtomicUsize,
}

#[async_trait]
impl Sink for Panicky {
    fn name(&self) -> &str {
        "fragile"
    }
    fn kind(&self) -> &'static str {
        "test"
    }
    async fn send(&self, _: &Notification) -> Result<(), SinkError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("template index out of range");
        }
        self.got.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_delivery_task_that_dies_is_restarted_counted_and_delivers() {
    let fragile = Arc::new(Panicky { calls: AtomicUsize::new(0), got: AtomicUsize::new(0) });
    let steady = Recorder::new("steady", 0);
    let metrics = Arc::new(Metrics::default());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).unwrap());
    let sinks: Vec<Arc<dyn Sink>> = vec![fragile.clone(), steady.clone()];
    let names: Vec<String> = sinks.iter().map(|s| s.name().to_string()).collect();
    let tree = RouteTree::everything_to(&names, timing(Duration::from_secs(24 * 3600)));
    let retry = RetryPolicy { initial: Duration::from_secs(1), max: Duration::from_secs(8) };
    let gw = Arc::new(
        Gateway::new(store.clone(), tree, sinks, retry, Arc::new(TokioClock::new())).with_metrics(metrics.clone()),
    );
    let committed = Arc::new(tokio::sync::Notify::new());
    let (trigger, sd) = shutdown::channel();
    let task = tokio::spawn(gw.run(committed.clone(), Duration::from_secs(5), sd));
    pass(&store, vec![finding("a:443", Severity::Warning, "a")]);
    committed.notify_one();
    settle(Duration::from_secs(10)).await;
    assert_eq!(fragile.got.load(Ordering::SeqCst), 1, "restarted and delivered");
    assert_eq!(steady.reasons().len(), 1, "the other sink was never held up");
    let stats = store.outbox_stats().unwrap();
    let f = stats.iter().find(|s| s.sink == "fragile").unwrap();
    assert_eq!((f.task_restarts, f.pending, f.delivered), (1, 0, 1), "{f:?}");
    assert!(f.task_error.as_deref().unwrap().contains("template index out of range"), "{f:?}");
    let text = metrics.render();
    assert!(text.contains("troop_delivery_task_restarts{sink=\"fragile\"} 1"), "{text}");
    trigger.trigger();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn posted_alerts_past_their_end_resolve_with_at_most_one_scan_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).unwrap());
    let retry = RetryPolicy { initial: Duration::from_secs(1), max: Duration::from_secs(8) };
    let clock = Arc::new(TokioClock::new());
    let gw = Gateway::new(
        store.clone(),
        RouteTree::everything_to(&[], timing(Duration::from_secs(3600))),
        vec![],
        retry,
        clock.clone(),
    );
    // posted ten minutes ago, ending `ends` from now; the round sees it
    let post = |name: &str, ends: time::Duration| {
        let at = clock.now() - time::Duration::minutes(10);
        let ends = troop_core::clock::rfc3339(clock.now() + ends);
        let body = format!(r#"[{{"labels": {{"alertname": "{name}"}}, "endsAt": "{ends}"}}]"#);
        let p =
            troop_core::alerting::posted::parse(body.as_bytes(), "external", at, time::Duration::minutes(5)).unwrap();
        store
            .ingest("external", &Report { findings: p.firing, resolved: p.resolved, ..Default::default() }, at)
            .unwrap();
        gw.round(gw.now(), false).unwrap();
    };
    let ago = time::Duration::minutes(-1);
    // ended a minute ago: nobody posted it again
    post("A", ago);
    assert_eq!(gw.expire_posted().unwrap(), 1, "the first scan resolves it");
    post("B", ago);
    assert_eq!(gw.expire_posted().unwrap(), 0, "a second scan within the second waits");
    tokio::time::advance(Duration::from_millis(1000)).await;
    assert_eq!(gw.expire_posted().unwrap(), 1);
    assert!(store.posted_unresolved().unwrap().is_empty());
    // ending in ten minutes: no scan before then
    post("C", time::Duration::minutes(10));
    // endsAt as posted: whole seconds
    let end = (gw.now() + 10 * 60 * 1000) / 1000 * 1000;
    assert_eq!(gw.next_expiry_scan(), Some(end));
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(gw.expire_posted().unwrap(), 0);
    assert_eq!(gw.next_expiry_scan(), Some(end), "no scan ran");
    tokio::time::advance(Duration::from_secs(600)).await;
    assert_eq!(gw.expire_posted().unwrap(), 1, "the scan runs once C's endsAt passed");
    assert_eq!(gw.next_expiry_scan(), Some(Millis::MAX), "nothing left to expire");
}

/// Holds back the notifications about `slow` until `release`; records the rest.
struct Gate {
    release: tokio::sync::Notify,
    got: Mutex<Vec<String>>,
}

#[async_trait]
impl Sink for Gate {
    fn name(&self) -> &str {
        "hook"
    }
    fn kind(&self) -> &'static str {
        "test"
    }
    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        let resource = n.firing[0].resource.clone();
        if resource == "slow" {
            self.release.notified().await;
        }
        self.got.lock().unwrap().push(resource);
        Ok(())
    }
}

#[tokio::test]
async fn a_slow_group_holds_back_no_other_group_of_its_sink() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).unwrap());
    let gate = Arc::new(Gate { release: tokio::sync::Notify::new(), got: Mutex::new(vec![]) });
    let mut tree = RouteTree::everything_to(&["hook".to_string()], timing(Duration::from_secs(3600)));
    tree.default.group_by = vec!["resource".into()];
    let retry = RetryPolicy { initial: Duration::from_secs(1), max: Duration::from_secs(8) };
    let gw = Arc::new(Gateway::new(store.clone(), tree, vec![gate.clone()], retry, Arc::new(TokioClock::new())));
    assert!(gw.lease(Duration::from_secs(60)).unwrap());
    // the slow group's notification is queued first
    pass(&store, vec![finding("slow", Severity::Warning, "big")]);
    gw.round(gw.now(), false).unwrap();
    pass(&store, vec![finding("slow", Severity::Warning, "big"), finding("fast", Severity::Warning, "small")]);
    assert_eq!(gw.round(gw.now(), false).unwrap().queued, 1);
    let delivery = tokio::spawn({
        let (gw, gate) = (gw.clone(), gate.clone());
        async move { gw.deliver(&*gate).await.unwrap() }
    });
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while gate.got.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the fast group was delivered while the slow one was still sending");
    assert_eq!(*gate.got.lock().unwrap(), ["fast"]);
    gate.release.notify_one();
    let done = delivery.await.unwrap();
    assert_eq!(done.delivered, 2);
    assert_eq!(*gate.got.lock().unwrap(), ["fast", "slow"]);
}
