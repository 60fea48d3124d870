//! SQLite against the store contract (`crate::conformance`), and what only
//! SQLite has (its schema version, `PRAGMA integrity_check`).

use super::*;
use serde_json::json;
use troop_core::monkey::{Report, Snapshot};
use troop_core::store::StoreHandle;

fn fresh_sqlite() -> (Box<dyn std::any::Any>, StoreHandle) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).unwrap();
    (Box::new(dir), std::sync::Arc::new(s))
}

crate::conformance::suite!(fresh_sqlite);

fn pass(s: &SqliteStore, t: i64) -> PassMeta {
    let at = OffsetDateTime::from_unix_timestamp(1_700_000_000 + t).unwrap();
    let lease = s.begin_pass("security", "test", at, at, &|_| false, None).unwrap();
    PassMeta { monkey: "security".into(), started_at: at, round: at, finished_at: at, lease }
}

fn snap(name: &str, region: &str, content: serde_json::Value) -> Snapshot {
    Snapshot::new("ec2:security-group", "111", region, name, &content)
}

#[test]
fn reopening_keeps_data_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.db");
    let p = p.to_str().unwrap();
    {
        let s = SqliteStore::open(p).unwrap();
        s.commit_pass(&pass(&s, 0), &Report { snapshots: vec![snap("a", "r1", json!({}))], ..Default::default() })
            .unwrap();
    }
    let s = SqliteStore::open(p).unwrap();
    assert_eq!(s.history("ec2:security-group/111/r1/a").unwrap().len(), 1);
    assert_eq!(s.integrity_check().unwrap(), "ok");
    s.lock().pragma_update(None, "user_version", 99).unwrap();
    drop(s);
    assert!(matches!(SqliteStore::open(p), Err(OpenError::TooNew { found: 99, .. })));
    assert!(matches!(crate::open("mysql://x", None), Err(OpenError::Unsupported(_))));
}
