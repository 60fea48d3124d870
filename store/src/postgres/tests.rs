//! PostgreSQL against the store contract (`crate::conformance`), on a
//! throw-away cluster, and what only a shared server has: migrations raced
//! by processes starting together, an alert log appended by concurrent
//! writers, and `troop store migrate`.

use super::*;
use crate::testing::PgCluster;
use serde_json::json;
use std::sync::Arc;
use troop_core::store::StoreHandle;

/// A fresh database on a cluster of its own (each test is its own process
/// under nextest; the cluster goes with the guard).
fn fresh_pg() -> (Box<dyn std::any::Any>, StoreHandle) {
    let cluster = PgCluster::start().expect("a throw-away PostgreSQL cluster");
    let url = cluster.fresh_db().unwrap();
    let store = PgStore::open(&url, None).unwrap_or_else(|e| panic!("{e}"));
    (Box::new(cluster), Arc::new(store))
}

crate::conformance::suite!(fresh_pg);

#[test]
fn processes_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    let cluster = PgCluster::start().unwrap();
    let url = cluster.fresh_db().unwrap();
    let opened: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgStore::open(&url, None).map(|_| ()).map_err(|e| e.to_string()))
        })
        .collect();
    for o in opened {
        o.join().unwrap().unwrap();
    }
    let version = cluster.psql("SELECT 1").unwrap();
    assert_eq!(version.trim(), "1");
    let s = PgStore::open(&url, None).unwrap();
    let client = s.client().unwrap();
    let n: i64 = s.block(client.query_one("SELECT COUNT(*) FROM troop_schema", &[])).unwrap().get(0);
    assert_eq!(n, 1, "one version row");
    s.block(client.execute("UPDATE troop_schema SET version = 99", &[])).unwrap();
    drop(client);
    drop(s);
    assert!(matches!(PgStore::open(&url, None), Err(OpenError::TooNew { found: 99, .. })));
}

#[test]
fn a_wrong_password_or_host_is_a_clear_error_without_the_password() {
    let cluster = PgCluster::start().unwrap();
    let url = format!("postgres://nobody:hunter2@127.0.0.1:{}/postgres?sslmode=disable", cluster.port());
    let e = PgStore::open(&url, None).err().expect("refused").to_string();
    assert!(e.contains("nobody") && !e.contains("hunter2"), "{e}");
    let e = PgStore::open("postgres://troop@127.0.0.1:1/x?sslmode=disable", None).err().unwrap().to_string();
    assert!(e.contains("127.0.0.1:1") || e.contains("connect"), "{e}");
}

/// Writers commit out of the order their events were numbered in; a reader
/// following the log with a cursor (as the gateway does) still sees every
/// event exactly once.
#[test]
fn the_alert_log_never_skips_an_event_under_concurrent_writers() {
    let (_g, store) = fresh_pg();
    let writers = 6;
    let passes = 15;
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut handles = Vec::new();
    for w in 0..writers {
        let (store, done) = (store.clone(), done.clone());
        handles.push(std::thread::spawn(move || {
            for p in 0..passes {
                let shard = format!("security/{w:03}");
                let at = OffsetDateTime::from_unix_timestamp(1_700_000_000 + p).unwrap();
                let lease = store.begin_pass(&shard, "test", at, at, &|_| false, None).unwrap();
                let meta = PassMeta { monkey: "security".into(), started_at: at, round: at, finished_at: at, lease };
                let account = format!("{w:03}");
                // a new finding each pass: one `opened` event each
                let finding = troop_core::Finding {
                    monkey: "security".into(),
                    kind: "sg-open-ingress".into(),
                    severity: troop_core::Severity::Critical,
                    account: account.clone(),
                    region: "r1".into(),
                    resource: format!("sg-{p}"),
                    title: "open".into(),
                    details: json!({}),
                    labels: Default::default(),
                    scope: "ec2:security-group".into(),
                };
                let report = Report { findings: vec![finding], ..Default::default() };
                store.commit_pass(&meta, &report).unwrap();
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
    }
    // the reader: read after the cursor, advance it, until every writer is done and the log is drained
    let mut cursor = 0;
    let mut seen = std::collections::HashSet::new();
    loop {
        let finished = done.load(std::sync::atomic::Ordering::SeqCst) == writers;
        let events = store.alert_events(cursor, 7).unwrap();
        for (seq, e) in &events {
            assert!(*seq > cursor);
            assert!(seen.insert(e.finding.fingerprint.clone()), "event seen twice");
            cursor = *seq;
        }
        if finished && events.is_empty() {
            break;
        }
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(seen.len(), writers * passes as usize, "every event reached the reader");
}

/// A Unix-domain socket (`?host=DIR`) connects without TLS, as libpq does.
#[test]
fn a_unix_socket_host_connects_without_tls() {
    let cluster = PgCluster::start().unwrap();
    let tcp = cluster.fresh_db().unwrap();
    let db = tcp.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let url = format!("postgres://troop@/{db}?host={}&port={}", cluster.dir().display(), cluster.port());
    let s = PgStore::open(&url, None).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.pass_counts().unwrap().is_empty());
}
