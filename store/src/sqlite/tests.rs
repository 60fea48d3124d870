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

#[test]
fn an_older_troops_groups_and_outbox_move_to_member_rows_named_groups_and_payload_rows() {
    use troop_core::store::AlertStore;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.db");
    let p = p.to_str().unwrap();
    let finding = |fp: &str| {
        json!({"fingerprint": fp, "monkey": "certs", "kind": "certificate", "severity": "warning", "state": "open",
               "account": "111", "region": "global", "resource": fp, "title": "t", "details": {}, "labels": {},
               "scope": "certs", "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z",
               "resolved_at": null})
    };
    let whole = json!({"key": "log|x", "route": "default", "sink": "log", "labels": {}, "created_at": 1,
        "last_notified": 2, "due": null, "sent": 1, "id": "abc",
        "members": {"a": {"finding": finding("a"), "firing": true, "told": "warning"},
                    "b": {"finding": finding("b"), "firing": false, "told": null}}});
    {
        let s = SqliteStore::open(p).unwrap();
        let conn = s.lock();
        // as schema 12 had it: the group in one row, members inside
        conn.execute_batch(
            "DROP TABLE outbox_payloads; ALTER TABLE outbox ADD COLUMN payload TEXT NOT NULL DEFAULT '';
             DROP TABLE alert_group_members; DROP INDEX outbox_sink_group; ALTER TABLE outbox DROP COLUMN group_id;
             PRAGMA user_version = 12;",
        )
        .unwrap();
        conn.execute("INSERT INTO alert_groups (key, data) VALUES ('log|x', ?1)", [whole.to_string()]).unwrap();
        let note = json!({"id": "n1", "group_id": "abc", "sink": "log", "route": "default", "group_labels": {},
            "reason": "first", "status": "firing", "at": 5, "firing": [], "resolved": []});
        conn.execute(
            "INSERT INTO outbox (notification_id, sink, payload, status, next_attempt_at, created_at)
             VALUES ('n1', 'log', ?1, 'pending', 5, 5)",
            [note.to_string()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO outbox (notification_id, sink, payload, status, next_attempt_at, created_at, done_at)
             VALUES ('n0', 'log', ?1, 'delivered', 4, 4, 4)",
            [note.to_string()],
        )
        .unwrap();
    }
    let s = SqliteStore::open(p).unwrap();
    let (_, groups) = s.alert_state().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].members.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(groups[0].members["a"].told, Some(troop_core::Severity::Warning));
    assert!(!groups[0].members["b"].firing);
    let header: String = s.lock().query_row("SELECT data FROM alert_groups", [], |r| r.get(0)).unwrap();
    assert!(!header.contains("members"), "{header}");
    // the pending entry names its group
    let group: String =
        s.lock().query_row("SELECT group_id FROM outbox WHERE status = 'pending'", [], |r| r.get(0)).unwrap();
    assert_eq!(group, "abc");
    let due = s.outbox_due("log", 10, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].notification.id, "n1");
    // its payload moved to a table of its own; a delivered entry's is not kept
    let kept: i64 = s.lock().query_row("SELECT COUNT(*) FROM outbox_payloads", [], |r| r.get(0)).unwrap();
    assert_eq!(kept, 1);
    s.outbox_mark(due[0].id, &troop_core::store::Delivery::Delivered, 11).unwrap();
    let kept: i64 = s.lock().query_row("SELECT COUNT(*) FROM outbox_payloads", [], |r| r.get(0)).unwrap();
    assert_eq!(kept, 0);
}

#[test]
fn a_change_event_with_corrupt_labels_is_an_error_not_an_event_without_labels() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).unwrap();
    s.lock()
        .execute(
            "INSERT INTO change_events (source, id, type, summary, labels, at, received_at)
             VALUES ('ci', '1', 'deploy', 'shipped', 'not json', 100, 100)",
            [],
        )
        .unwrap();
    let since = OffsetDateTime::from_unix_timestamp(0).unwrap();
    assert!(matches!(s.events_since(since), Err(StoreError::Backend(_))), "{:?}", s.events_since(since));
}
