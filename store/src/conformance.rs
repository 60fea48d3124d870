//! The store contract as tests: every case runs unchanged against every
//! backend (`suite!` instantiates them for one; SQLite in `sqlite/tests.rs`).
//! A case gets an opener that makes a fresh, empty store and a guard that
//! keeps it alive (a temporary directory, a throw-away database).

use serde_json::json;
use time::OffsetDateTime;
use troop_core::alerting::{Notification, Reason};
use troop_core::finding::{EventKind, Finding, FindingState, Severity};
use troop_core::monkey::{Attribution, Coverage, Report, Snapshot};
use troop_core::store::{
    AlertBatch, Backend, CommitOutcome, Delivery, FindingFilter, PassLease, PassMeta, StoreError, StoreHandle,
};

/// Makes a fresh, empty store; the first value keeps it alive.
pub(crate) type Open = dyn Fn() -> (Box<dyn std::any::Any>, StoreHandle);

/// `#[test]` functions running every case of the contract against the
/// stores `$open` makes.
macro_rules! suite {
    ($open:expr) => {
        $crate::conformance::suite!(@cases $open;
            revisions_follow_content_changes_and_complete_listings,
            finding_lifecycle,
            failed_pass_changes_nothing_but_the_log,
            revisions_carry_reviewer_summaries_and_findings_carry_the_revision,
            untouched_items_are_neither_deleted_nor_resolved,
            who_made_a_change_is_asked_until_found,
            observations_are_replaced_by_each_pass,
            passes_of_a_shard_commit_in_order,
            shards_commit_apart,
            replicas_are_seen_by_their_heartbeat,
            a_lease_is_renewed_while_held_and_a_fresh_shard_is_not_due,
            one_replica_reads_a_monkeys_account_at_a_time,
            entries_of_sinks_no_longer_configured_fail_with_the_reason,
            outbox_order_retry_hold_back_marks_and_pruning,
            one_lease_holder_at_a_time,
            posted_alerts_open_escalate_and_resolve_without_a_lease,
            change_events_are_stored_once_per_id_and_transitions_outlive_the_alert_log,
            groups_are_stored_a_member_at_a_time
        );
    };
    (@cases $open:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::$case(&$open);
            }
        )*
    };
}
pub(crate) use suite;

/// A pass of `security` begun (leased) and finished at `t`.
fn pass(s: &dyn Backend, t: i64) -> PassMeta {
    let at = OffsetDateTime::from_unix_timestamp(1_700_000_000 + t).unwrap();
    // leased until it begins: each pass of these cases comes after the last
    let lease = s.begin_pass("security", "test", at, at, &|_| false, None).unwrap();
    PassMeta { monkey: "security".into(), started_at: at, round: at, finished_at: at, lease }
}

fn snap(name: &str, region: &str, content: serde_json::Value) -> Snapshot {
    Snapshot::new("ec2:security-group", "111", region, name, &content)
}

fn cover(region: &str) -> Coverage {
    Coverage { scope: "ec2:security-group".into(), account: "111".into(), region: region.into() }
}

fn finding(resource: &str, severity: Severity) -> Finding {
    Finding {
        monkey: "security".into(),
        kind: "sg-open-ingress".into(),
        severity,
        account: "111".into(),
        region: "r1".into(),
        resource: resource.into(),
        title: format!("{resource} is open"),
        details: json!({"port": 22, "item": format!("ec2:security-group/111/r1/{resource}")}),
        labels: Default::default(),
        scope: "ec2:security-group".into(),
    }
}

pub(crate) fn revisions_follow_content_changes_and_complete_listings(fresh: &Open) {
    let (_g, s) = fresh();
    let s = &*s;
    // (snapshots, coverage, expected (item name, revision, change) written by this pass)
    type Step = (Vec<Snapshot>, Vec<Coverage>, Vec<(&'static str, i64, &'static str)>);
    let steps: Vec<Step> = vec![
        (
            vec![snap("a", "r1", json!({"x": 1, "y": [1, 2]})), snap("b", "r1", json!({})), snap("c", "r2", json!({}))],
            vec![cover("r1"), cover("r2")],
            vec![("a", 1, "created"), ("b", 1, "created"), ("c", 1, "created")],
        ),
        // same content, other key order: nothing
        (
            vec![snap("a", "r1", json!({"y": [1, 2], "x": 1})), snap("b", "r1", json!({})), snap("c", "r2", json!({}))],
            vec![cover("r1"), cover("r2")],
            vec![],
        ),
        // a modified; c missing but r2 was not listed completely: untouched
        (
            vec![snap("a", "r1", json!({"x": 2, "y": [1, 2]})), snap("b", "r1", json!({}))],
            vec![cover("r1")],
            vec![("a", 2, "modified")],
        ),
        // b missing from a complete r1 listing: deleted
        (
            vec![snap("a", "r1", json!({"x": 2, "y": [1, 2]}))],
            vec![cover("r1"), cover("r2")],
            vec![("b", 2, "deleted"), ("c", 2, "deleted")],
        ),
        // b comes back
        (
            vec![snap("a", "r1", json!({"x": 2, "y": [1, 2]})), snap("b", "r1", json!({}))],
            vec![cover("*")],
            vec![("b", 3, "created")],
        ),
    ];
    for (i, (snaps, coverage, want)) in steps.into_iter().enumerate() {
        let t = i as i64 * 100;
        let out = s.commit_pass(&pass(s, t), &Report { snapshots: snaps, coverage, ..Default::default() }).unwrap();
        let since = OffsetDateTime::from_unix_timestamp(1_700_000_000 + t).unwrap();
        let got: Vec<(String, i64, String)> =
            s.revisions_since(since).unwrap().into_iter().map(|r| (r.name, r.revision, r.change)).collect();
        let want: Vec<(String, i64, String)> =
            want.into_iter().map(|(n, r, c)| (n.to_string(), r, c.to_string())).collect();
        assert_eq!(got, want, "step {i}");
        assert_eq!(out.revisions_written, want.len(), "step {i}");
        // the count and the newest first, at most the limit
        let (n, latest) = s.revisions_latest(since, 1).unwrap();
        assert_eq!(n as usize, want.len(), "step {i}");
        let newest: Vec<(String, i64, String)> = latest.into_iter().map(|r| (r.name, r.revision, r.change)).collect();
        assert_eq!(newest, want.iter().rev().take(1).cloned().collect::<Vec<_>>(), "step {i}");
    }
    let h = s.history("ec2:security-group/111/r1/b").unwrap();
    assert_eq!(h.iter().map(|r| r.change.as_str()).collect::<Vec<_>>(), ["created", "deleted", "created"]);
    assert_eq!(h[1].content, None);
    assert!(matches!(s.history("nope"), Err(StoreError::NotFound(_))));
}

pub(crate) fn finding_lifecycle(fresh: &Open) {
    let (_g, s) = fresh();
    let s = &*s;
    let kinds = |out: CommitOutcome| -> Vec<(String, EventKind)> {
        out.events.into_iter().map(|e| (e.finding.resource, e.event)).collect()
    };
    let full = vec![cover("r1")];
    let r = |findings: Vec<Finding>, coverage: Vec<Coverage>| Report { findings, coverage, ..Default::default() };

    let out = s
        .commit_pass(
            &pass(s, 0),
            &r(vec![finding("sg-1", Severity::Warning), finding("sg-2", Severity::Warning)], full.clone()),
        )
        .unwrap();
    assert_eq!(out.open_findings, 2);
    assert_eq!(kinds(out), vec![("sg-1".into(), EventKind::Opened), ("sg-2".into(), EventKind::Opened)]);

    let out = s
        .commit_pass(
            &pass(s, 10),
            &r(vec![finding("sg-1", Severity::Critical), finding("sg-2", Severity::Warning)], full.clone()),
        )
        .unwrap();
    let at_least = |min| s.findings(&FindingFilter { min_severity: Some(min), ..Default::default() }).unwrap();
    assert_eq!(at_least(Severity::Critical).iter().map(|f| f.resource.as_str()).collect::<Vec<_>>(), ["sg-1"]);
    assert_eq!(at_least(Severity::Warning).len(), 2);
    assert_eq!(at_least(Severity::Info).len(), 2);
    assert_eq!(kinds(out), vec![("sg-1".into(), EventKind::SeverityUp), ("sg-2".into(), EventKind::StillOpen)]);

    // sg-2 gone, but the listing was not complete: stays open
    let out = s.commit_pass(&pass(s, 20), &r(vec![finding("sg-1", Severity::Warning)], vec![])).unwrap();
    assert_eq!(kinds(out), vec![("sg-1".into(), EventKind::SeverityDown)]);
    assert_eq!(
        s.findings(&FindingFilter { state: Some(FindingState::Open), monkey: None, ..Default::default() })
            .unwrap()
            .len(),
        2
    );

    // complete listing without sg-2: resolved
    let out = s.commit_pass(&pass(s, 30), &r(vec![finding("sg-1", Severity::Warning)], full.clone())).unwrap();
    assert_eq!(kinds(out), vec![("sg-1".into(), EventKind::StillOpen), ("sg-2".into(), EventKind::Resolved)]);
    let resolved = s
        .findings(&FindingFilter {
            state: Some(FindingState::Resolved),
            monkey: Some("security".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].resolved_at.as_deref(), Some("2023-11-14T22:13:50Z"));
    // an item's findings, whatever their state, without the others
    for (item, want) in [("ec2:security-group/111/r1/sg-2", vec!["sg-2"]), ("ec2:security-group/111/r1/sg-9", vec![])] {
        let on = s.findings(&FindingFilter { item: Some(item.into()), ..Default::default() }).unwrap();
        assert_eq!(on.iter().map(|f| f.resource.as_str()).collect::<Vec<_>>(), want, "{item}");
    }

    // it comes back: opened again, first_seen reset
    let out = s
        .commit_pass(
            &pass(s, 40),
            &r(vec![finding("sg-1", Severity::Warning), finding("sg-2", Severity::Warning)], full),
        )
        .unwrap();
    let ev = out.events.iter().find(|e| e.finding.resource == "sg-2").unwrap();
    assert_eq!(ev.event, EventKind::Opened);
    assert_eq!(ev.finding.first_seen, "2023-11-14T22:14:00Z");
    assert_eq!(ev.finding.fingerprint, finding("sg-2", Severity::Warning).fingerprint());
    // the other monkey's findings are never touched by this one's passes
    assert!(
        s.findings(&FindingFilter { state: None, monkey: Some("limits".into()), ..Default::default() })
            .unwrap()
            .is_empty()
    );
}

pub(crate) fn failed_pass_changes_nothing_but_the_log(fresh: &Open) {
    let (_g, s) = fresh();
    let s = &*s;
    s.commit_pass(
        &pass(s, 0),
        &Report {
            findings: vec![finding("sg-1", Severity::Warning)],
            coverage: vec![cover("r1")],
            ..Default::default()
        },
    )
    .unwrap();
    s.record_failed_pass(&pass(s, 10), "boom").unwrap();
    assert_eq!(
        s.findings(&FindingFilter { state: Some(FindingState::Open), monkey: None, ..Default::default() })
            .unwrap()
            .len(),
        1
    );
    let counts = s.pass_counts().unwrap();
    assert_eq!((counts["ok"], counts["failed"]), (1, 1));
}

pub(crate) fn revisions_carry_reviewer_summaries_and_findings_carry_the_revision(fresh: &Open) {
    let (_g, s) = fresh();
    let s = &*s;
    let group = |ingress: serde_json::Value| json!({"group_id": "sg-1", "group_name": "web", "description": "d", "tags": {}, "egress": [], "ingress": ingress});
    let ssh = json!([{"protocol": "tcp", "from_port": 22, "to_port": 22, "source": {"type": "cidr", "cidr": "0.0.0.0/0"}, "description": null}]);
    let mut f = finding("sg-1", Severity::Critical);
    f.details = json!({"item": "ec2:security-group/111/r1/sg-1", "rule": "sg-open-ingress"});
    s.commit_pass(
        &pass(s, 0),
        &Report {
            snapshots: vec![snap("sg-1", "r1", group(json!([])))],
            coverage: vec![cover("r1")],
            ..Default::default()
        },
    )
    .unwrap();
    let out = s
        .commit_pass(
            &pass(s, 10),
            &Report {
                snapshots: vec![snap("sg-1", "r1", group(ssh))],
                findings: vec![f],
                coverage: vec![cover("r1")],
                ..Default::default()
            },
        )
        .unwrap();
    let h = s.history("ec2:security-group/111/r1/sg-1").unwrap();
    assert_eq!(h[0].summary, ["security group sg-1 created"]);
    assert_eq!(h[1].summary, ["ingress tcp/22 from 0.0.0.0/0 added"]);
    let d = &out.events[0].finding.details;
    assert_eq!(d["revision"], 2);
    assert_eq!(d["summary"], json!(["ingress tcp/22 from 0.0.0.0/0 added"]));
    assert_eq!(d["rule"], "sg-open-ingress");

    s.commit_pass(&pass(s, 20), &Report { coverage: vec![cover("r1")], ..Default::default() }).unwrap();
    let h = s.history("ec2:security-group/111/r1/sg-1").unwrap();
    assert_eq!(h[2].summary, ["security group sg-1 deleted"]);

    // time travel
    let at = |t: i64| OffsetDateTime::from_unix_timestamp(1_700_000_000 + t).unwrap();
    assert!(s.state_at("ec2:security-group/111/r1/sg-1", at(-1)).unwrap().is_none());
    assert_eq!(s.state_at("ec2:security-group/111/r1/sg-1", at(5)).unwrap().unwrap().revision, 1);
    let r2 = s.state_at("ec2:security-group/111/r1/sg-1", at(15)).unwrap().unwrap();
    assert_eq!(r2.content.unwrap()["ingress"][0]["from_port"], 22);
    assert_eq!(s.state_at("ec2:security-group/111/r1/sg-1", at(99)).unwrap().unwrap().content, None);

    // lookups by what a user types
    assert_eq!(s.find_items("sg-1").unwrap(), ["ec2:security-group/111/r1/sg-1"]);
    assert_eq!(s.find_items("ec2:security-group/111/r1/sg-1").unwrap(), ["ec2:security-group/111/r1/sg-1"]);
    assert!(s.find_items("g-1").unwrap().is_empty());
}

pub(crate) fn untouched_items_are_neither_deleted_nor_resolved(fresh: &Open) {
    let (_g, s) = fresh();
    let s = &*s;
    let mut f = finding("sg-1", Severity::Warning);
    f.details = json!({"item": "ec2:security-group/111/r1/sg-1"});
    s.commit_pass(
        &pass(s, 0),
        &Report {
            snapshots: vec![snap("sg-1", "r1", json!({}))],
            findings: vec![f],
            coverage: vec![cover("r1")],
            ..Default::default()
        },
    )
    .unwrap();
    // the group exists but could not be read: no snapshot, no finding, still covered
    let out = s
        .commit_pass(
            &pass(s, 10),
            &Report {
                untouched: vec!["ec2:security-group/111/r1/sg-1".into()],
                coverage: vec![cover("r1")],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out.revisions_written, 0);
    assert!(out.events.is_empty());
    assert_eq!(
        s.findings(&FindingFilter { state: Some(FindingState::Open), monkey: None, ..Default::default() })
            .unwrap()
            .len(),
        1
    );
}

pub(crate) fn who_made_a_change_is_asked_until_found(fresh: &Open) {
    let (_g, s) = fresh();
    let s = &*s;
    let r = |content| Report {
        snapshots: vec![snap("sg-1", "r1", content)],
        coverage: vec![cover("r1")],
        ..Default::default()
    };
    s.commit_pass(&pass(s, 0), &r(json!({"v": 1}))).unwrap();
    s.commit_pass(&pass(s, 10), &r(json!({"v": 2}))).unwrap();
    let since = OffsetDateTime::from_unix_timestamp(1_700_000_000 - 3600).unwrap();
    let pending = s.pending_attribution("security", since).unwrap();
    assert_eq!(pending.len(), 1, "only modified/deleted revisions are attributed");
    let w = &pending[0];
    assert_eq!((w.revision, w.change.as_str()), (2, "modified"));
    assert_eq!(w.previous_at.unwrap().unix_timestamp(), 1_700_000_000);
    assert_eq!(w.at.unix_timestamp(), 1_700_000_010);
    assert!(s.pending_attribution("limits", since).unwrap().is_empty());

    let mark =
        |who: serde_json::Value| s.attach_who(&[Attribution { item: w.item.clone(), revision: 2, who }]).unwrap();
    mark(json!({"status": "pending"}));
    assert_eq!(s.pending_attribution("security", since).unwrap().len(), 1, "pending is asked again");
    mark(json!({"status": "found", "events": [{"principal": "arn:aws:iam::1:user/alice"}]}));
    assert!(s.pending_attribution("security", since).unwrap().is_empty());
    let h = s.history(&w.item).unwrap();
    assert_eq!(h[1].who.as_ref().unwrap()["events"][0]["principal"], "arn:aws:iam::1:user/alice");
    assert_eq!(h[0].who, None);
}

pub(crate) fn observations_are_replaced_by_each_pass(fresh: &Open) {
    let (_g, s) = fresh();
    let s = &*s;
    let obs = |keys: &[&str]| Report {
        observations: keys
            .iter()
            .map(|k| troop_core::monkey::Observed { kind: "cert".into(), key: k.to_string(), data: json!({"host": k}) })
            .collect(),
        ..Default::default()
    };
    s.commit_pass(&pass(s, 0), &obs(&["b", "a"])).unwrap();
    assert_eq!(s.observations("cert").unwrap(), vec![json!({"host": "a"}), json!({"host": "b"})]);
    s.commit_pass(&pass(s, 10), &obs(&["c"])).unwrap();
    assert_eq!(s.observations("cert").unwrap(), vec![json!({"host": "c"})]);
    s.record_failed_pass(&pass(s, 20), "boom").unwrap();
    assert_eq!(s.observations("cert").unwrap().len(), 1, "a failed pass keeps the last view");
    assert!(s.observations("quota").unwrap().is_empty());
}

/// Each shard commits on its own: its findings resolve only inside its own
/// coverage, its observations are replaced without touching another's, an
/// unreadable shard stores its read-error finding and a failed pass record
/// and nothing else, and shards a pass no longer lists lose their
/// observations.
pub(crate) fn shards_commit_apart(fresh: &Open) {
    let (_g, s) = fresh();
    let s = &*s;
    let shard_pass = |shard: &str, t: i64| {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000 + t).unwrap();
        let lease = s.begin_pass(shard, "test", at, at, &|_| false, None).unwrap();
        PassMeta { monkey: "security".into(), started_at: at, round: at, finished_at: at, lease }
    };
    let in_account = |account: &str, mut f: Finding| {
        f.account = account.into();
        f
    };
    let read = |account: &str, open: bool| Report {
        snapshots: vec![Snapshot::new("ec2:security-group", account, "r1", "sg-1", &json!({"open": open}))],
        findings: if open { vec![in_account(account, finding("sg-1", Severity::Critical))] } else { vec![] },
        coverage: vec![Coverage { scope: "ec2:security-group".into(), account: account.into(), region: "r1".into() }],
        observations: vec![troop_core::monkey::Observed {
            kind: "quota".into(),
            key: format!("{account}/r1/ec2"),
            data: json!({"account": account}),
        }],
        ..Default::default()
    };
    let open_accounts = || -> Vec<String> {
        let filter = FindingFilter { state: Some(FindingState::Open), ..Default::default() };
        s.findings(&filter).unwrap().into_iter().map(|f| f.account).collect()
    };
    s.commit_pass(&shard_pass("security/111/r1", 0), &read("111", true)).unwrap();
    s.commit_pass(&shard_pass("security/222/r1", 1), &read("222", true)).unwrap();
    assert_eq!(open_accounts(), ["111", "222"]);
    assert_eq!(s.observations("quota").unwrap().len(), 2);

    // 111 closes its port: its finding resolves, 222's stays open
    let out = s.commit_pass(&shard_pass("security/111/r1", 10), &read("111", false)).unwrap();
    assert_eq!(
        out.events.iter().map(|e| (e.event, e.finding.account.as_str())).collect::<Vec<_>>(),
        [(EventKind::Resolved, "111")]
    );
    assert_eq!(open_accounts(), ["222"]);
    assert_eq!(s.observations("quota").unwrap().len(), 2, "one shard's observations replace only its own");
    // who made it is asked of the account's shards (its regions are under it), and only of those
    let since = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let pending = |shard: &str| -> Vec<String> {
        s.pending_attribution(shard, since).unwrap().into_iter().map(|w| w.item).collect()
    };
    assert_eq!(pending("security/111"), ["ec2:security-group/111/r1/sg-1"]);
    assert_eq!(pending("security/111/r1"), ["ec2:security-group/111/r1/sg-1"]);
    assert!(pending("security/11").is_empty(), "a prefix of the account is another account");
    assert!(pending("security/222").is_empty());

    // 222 cannot be read at all: its read-error is stored, nothing else changes
    let failed_before = s.pass_counts().unwrap().get("failed").copied().unwrap_or(0);
    let mut unreadable = Report { error: Some("AccessDenied".into()), ..Default::default() };
    let mut read_error = in_account("222", finding("ec2:security-group", Severity::Warning));
    read_error.kind = "read-error".into();
    unreadable.findings.push(read_error);
    let out = s.commit_pass(&shard_pass("security/222/r1", 20), &unreadable).unwrap();
    assert_eq!(out.revisions_written, 0);
    assert_eq!(
        out.events.iter().map(|e| (e.event, e.finding.kind.as_str())).collect::<Vec<_>>(),
        [(EventKind::Opened, "read-error")]
    );
    assert_eq!(open_accounts(), ["222", "222"], "the old finding stays open beside the read error");
    assert_eq!(s.pass_counts().unwrap()["failed"], failed_before + 1, "an unreadable shard's pass is recorded failed");
    assert_eq!(s.history("ec2:security-group/222/r1/sg-1").unwrap().len(), 1, "nothing deleted");

    // `troop status`: each shard's last success and whose pass it was; no holder between passes
    let later = OffsetDateTime::from_unix_timestamp(1_700_000_100).unwrap();
    let records = s.shard_records(later).unwrap();
    let record = |shard: &str, last: i64| troop_core::status::ShardRecord {
        shard: shard.into(),
        holder: None,
        last_success: Some(last),
        last_holder: Some("test".into()),
    };
    assert_eq!(
        records,
        [
            record("security/111/r1", 1_700_000_010),
            // its last pass read nothing: the last success is the one before
            record("security/222/r1", 1_700_000_001),
        ]
    );
    // a pass running now shows its holder
    let until = OffsetDateTime::from_unix_timestamp(1_700_000_500).unwrap();
    let lease = s.begin_pass("security/222/r1", "replica-b", later, until, &|_| false, None).unwrap();
    let held = s.shard_records(later).unwrap();
    assert_eq!(held[1].holder.as_deref(), Some("replica-b"));
    s.end_pass(&lease).unwrap();

    // 222 leaves the configuration: its observations and its (free) lease go, 111's stay
    s.keep_shards("security", &["security/111/r1".to_string()], later).unwrap();
    assert_eq!(s.observations("quota").unwrap(), vec![json!({"account": "111"})]);
    let left: Vec<String> = s.shard_records(later).unwrap().into_iter().map(|r| r.shard).collect();
    assert_eq!(left, ["security/111/r1"]);
}

/// One replica reads a monkey's account at a time: while `a` holds one of
/// its shards, `b` begins none of the others (the account's or a region's),
/// but another account, or another monkey's shard of the account; once
/// `a`'s lease is given back or lapses, `b` may.
pub(crate) fn one_replica_reads_a_monkeys_account_at_a_time(fresh: &Open) {
    let (_g, s) = fresh();
    let at = |t: i64| OffsetDateTime::from_unix_timestamp(1_700_000_000 + t).unwrap();
    let alive = |_: &str| false;
    let a = s.begin_pass("security/111/r1", "a", at(0), at(60), &alive, None).unwrap();
    for other in ["security/111/r2", "security/111"] {
        let r = s.begin_pass(other, "b", at(10), at(70), &alive, None);
        assert!(
            matches!(r, Err(StoreError::LeaseHeld { ref shard, ref owner, .. }) if shard == "security/111/r1" && owner == "a"),
            "{other}: {r:?}"
        );
    }
    // a itself reads the account's other shards; b reads other accounts and other monkeys
    s.begin_pass("security/111/r2", "a", at(10), at(70), &alive, None).unwrap();
    s.begin_pass("security/1110/r1", "b", at(10), at(70), &alive, None).unwrap();
    s.begin_pass("limits/111/r1", "b", at(10), at(70), &alive, None).unwrap();
    // given back (a's commit or end frees it), then lapsed: b may
    s.end_pass(&a).unwrap();
    assert!(matches!(
        s.begin_pass("security/111", "b", at(20), at(80), &alive, None),
        Err(StoreError::LeaseHeld { ref shard, .. }) if shard == "security/111/r2"
    ));
    s.begin_pass("security/111", "b", at(71), at(130), &alive, None).unwrap();
}

/// A reader renews its lease while its epoch is current, and learns when
/// another pass took the shard over; a scheduled pass finds a shard that was
/// read since its `fresh_after` not due.
pub(crate) fn a_lease_is_renewed_while_held_and_a_fresh_shard_is_not_due(fresh: &Open) {
    let (_g, s) = fresh();
    let at = |t: i64| OffsetDateTime::from_unix_timestamp(1_700_000_000 + t).unwrap();
    let alive = |_: &str| false;
    let a = s.begin_pass("limits/111", "a", at(0), at(60), &alive, None).unwrap();
    assert!(s.renew_pass(&a, at(80)).unwrap());
    // renewed: still held at 70 (it would have lapsed at 60)
    assert!(matches!(
        s.begin_pass("limits/111", "b", at(70), at(130), &alive, None),
        Err(StoreError::LeaseHeld { .. })
    ));
    // lapsed at 80: b takes it over, and a's renewal says so
    let b = s.begin_pass("limits/111", "b", at(90), at(150), &alive, None).unwrap();
    assert!(!s.renew_pass(&a, at(160)).unwrap(), "a's lease was taken over");
    // read at 90 by a pass (a round) that began at 40
    let meta = PassMeta { monkey: "limits".into(), started_at: at(90), round: at(40), finished_at: at(95), lease: b };
    s.commit_pass(&meta, &Report::default()).unwrap();
    // due by its round, not by its read: not due for a pass that wants
    // rounds since 30, due for one since 50 (read late in the last round)
    let fresh = s.begin_pass("limits/111", "c", at(120), at(180), &alive, Some(at(30)));
    assert!(matches!(fresh, Err(StoreError::NotDue { ref shard, .. }) if shard == "limits/111"), "{fresh:?}");
    assert!(s.begin_pass("limits/111", "c", at(120), at(180), &alive, Some(at(50))).is_ok());
    // a manual pass (no fresh_after) always reads
    assert!(s.begin_pass("limits/222", "c", at(120), at(180), &alive, None).is_ok());
}

/// A replica's heartbeat is upserted; `replicas` lists those seen since a
/// time, by id.
pub(crate) fn replicas_are_seen_by_their_heartbeat(fresh: &Open) {
    let (_g, s) = fresh();
    let beat = |id: &str, seen: i64| troop_core::status::Replica {
        replica: id.into(),
        host: "h".into(),
        pid: 42,
        version: "0.1.0".into(),
        started_at: 1_000,
        seen_at: seen,
    };
    s.heartbeat(&beat("h:42:b", 5_000)).unwrap();
    s.heartbeat(&beat("h:42:a", 2_000)).unwrap();
    s.heartbeat(&beat("h:42:a", 9_000)).unwrap();
    let ids = |since: i64| -> Vec<(String, i64)> {
        s.replicas(since).unwrap().into_iter().map(|r| (r.replica, r.seen_at)).collect()
    };
    assert_eq!(ids(0), [("h:42:a".to_string(), 9_000), ("h:42:b".to_string(), 5_000)]);
    assert_eq!(ids(6_000), [("h:42:a".to_string(), 9_000)], "b has not been seen since");
    assert_eq!(s.replicas(0).unwrap()[0].started_at, 1_000, "a heartbeat keeps when it started");
}

/// Passes of one shard: one process at a time holds the shard's lease; a
/// pass whose lease lapsed and was taken over cannot commit; a view older
/// than the committed one is refused; nothing refused writes anything.
pub(crate) fn passes_of_a_shard_commit_in_order(fresh: &Open) {
    let at = |t: i64| OffsetDateTime::from_unix_timestamp(1_700_000_000 + t).unwrap();
    let meta = |monkey: &str, lease: PassLease, begun: i64, done: i64| PassMeta {
        monkey: monkey.into(),
        started_at: at(begun),
        round: at(begun),
        finished_at: at(done),
        lease,
    };
    let alive = |_: &str| false;
    // A closed port (the older view) and an open one (the newer view).
    let closed = Report {
        snapshots: vec![snap("sg-1", "r1", json!({"ingress": []}))],
        coverage: vec![cover("r1")],
        ..Default::default()
    };
    let open = Report {
        snapshots: vec![snap("sg-1", "r1", json!({"ingress": ["tcp/3389 0.0.0.0/0"]}))],
        findings: vec![finding("sg-1", Severity::Critical)],
        coverage: vec![cover("r1")],
        ..Default::default()
    };
    let refused = |r: Result<CommitOutcome, StoreError>| matches!(r, Err(StoreError::Superseded { .. }));
    let held = |r: Result<PassLease, StoreError>| matches!(r, Err(StoreError::LeaseHeld { .. }));

    // 1. While A holds the lease, B cannot begin (not even when A's owner
    // is alive and B asks later); A commits.
    let (_g, s) = fresh();
    let s = &*s;
    let a = s.begin_pass("security", "a", at(0), at(600), &alive, None).unwrap();
    assert!(held(s.begin_pass("security", "b", at(10), at(610), &alive, None)));
    s.commit_pass(&meta("security", a, 0, 20), &open).unwrap();
    // committed: the lease is free again
    let b = s.begin_pass("security", "b", at(30), at(630), &alive, None).unwrap();
    assert_eq!(b.epoch, 2);
    s.end_pass(&b).unwrap();

    // 2. A's lease lapses (a stalled process); B takes the shard over and
    // commits; A wakes and commits last: refused, nothing written.
    let (_g, s) = fresh();
    let s = &*s;
    let a = s.begin_pass("security", "a", at(0), at(60), &alive, None).unwrap();
    let b = s.begin_pass("security", "b", at(100), at(700), &alive, None).unwrap();
    assert_eq!((a.epoch, b.epoch), (1, 2));
    s.commit_pass(&meta("security", b, 100, 110), &open).unwrap();
    assert!(refused(s.commit_pass(&meta("security", a, 0, 120), &closed)), "the older pass must be refused");
    let h = s.history("ec2:security-group/111/r1/sg-1").unwrap();
    assert_eq!(h.len(), 1, "no revision from the refused pass: {h:?}");
    let open_now = s.findings(&FindingFilter { state: Some(FindingState::Open), ..Default::default() }).unwrap();
    assert_eq!(open_now.len(), 1, "the newer pass's finding stays open");
    assert_eq!(s.pass_counts().unwrap().get("ok"), Some(&1));

    // 3. The holder's process is gone (stale): another takes over at once.
    let (_g, s) = fresh();
    let s = &*s;
    let _a = s.begin_pass("security", "a", at(0), at(600), &alive, None).unwrap();
    let b = s.begin_pass("security", "b", at(10), at(610), &|o: &str| o == "a", None).unwrap();
    s.commit_pass(&meta("security", b, 10, 20), &open).unwrap();

    // 4. A view older than the committed one (another host's clock behind)
    // is refused even with the current epoch.
    let (_g, s) = fresh();
    let s = &*s;
    let a = s.begin_pass("security", "a", at(100), at(600), &alive, None).unwrap();
    s.commit_pass(&meta("security", a, 100, 110), &open).unwrap();
    let b = s.begin_pass("security", "b", at(50), at(600), &alive, None).unwrap();
    assert!(refused(s.commit_pass(&meta("security", b, 50, 120), &closed)));

    // 5. A pass that fails gives its lease back; shards do not fence each
    // other; a lease never handed out is refused; sequential passes commit.
    let (_g, s) = fresh();
    let s = &*s;
    let a = s.begin_pass("security", "a", at(0), at(600), &alive, None).unwrap();
    s.end_pass(&a).unwrap();
    let b = s.begin_pass("security", "b", at(2), at(600), &alive, None).unwrap();
    s.record_failed_pass(&meta("security", b, 2, 3), "boom").unwrap();
    let a = s.begin_pass("security", "c", at(5), at(600), &alive, None).unwrap();
    let c = s.begin_pass("certs", "c", at(10), at(600), &alive, None).unwrap();
    assert_eq!(c.epoch, 1);
    s.commit_pass(&meta("security", a, 5, 20), &open).unwrap();
    s.commit_pass(&meta("certs", c, 10, 20), &Report::default()).unwrap();
    let forged = PassLease { shard: "limits".into(), epoch: 7, took_over_from: None };
    assert!(refused(s.commit_pass(&meta("limits", forged, 30, 40), &Report::default())));
    for t in [100, 200, 300] {
        let l = s.begin_pass("security", "a", at(t), at(t + 600), &alive, None).unwrap();
        s.commit_pass(&meta("security", l, t, t + 5), &open).unwrap();
    }
}

pub(crate) fn posted_alerts_open_escalate_and_resolve_without_a_lease(fresh: &Open) {
    use troop_core::alerting::posted;
    let (_g, s) = fresh();
    let s = &*s;
    let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let minute = time::Duration::minutes(1);
    let post = |body: &str, at: OffsetDateTime| {
        let p = posted::parse(body.as_bytes(), "prometheus", at, time::Duration::minutes(5)).unwrap();
        let report = Report { findings: p.firing, resolved: p.resolved, ..Default::default() };
        s.ingest("prometheus", &report, at).unwrap()
    };
    let alert = |severity: &str, ends: &str| {
        format!(
            r#"[{{"labels": {{"alertname": "DiskFull", "instance": "db-1", "severity": "{severity}"}}, "endsAt": {ends}}}]"#
        )
    };
    // (body, minutes after t0, events)
    let steps = [
        (alert("warning", "null"), 0, vec![EventKind::Opened]),
        (alert("warning", "null"), 1, vec![EventKind::StillOpen]),
        (alert("critical", "null"), 2, vec![EventKind::SeverityUp]),
        (alert("critical", "\"2023-11-14T22:14:00Z\""), 3, vec![EventKind::Resolved]),
        (alert("critical", "\"2023-11-14T22:14:00Z\""), 4, vec![]),
        (alert("warning", "null"), 5, vec![EventKind::Opened]),
    ];
    for (i, (body, m, want)) in steps.into_iter().enumerate() {
        let events = post(&body, t0 + minute * m);
        assert_eq!(events.iter().map(|e| e.event).collect::<Vec<_>>(), want, "step {i}");
    }
    let found = s.findings(&FindingFilter::default()).unwrap();
    assert_eq!(found.len(), 1);
    let f = &found[0];
    assert_eq!(
        (f.monkey.as_str(), f.kind.as_str(), f.state, f.severity),
        ("prometheus", "DiskFull", FindingState::Open, Severity::Warning)
    );
    // reopened at minute 5: first seen then
    assert_eq!(f.first_seen, troop_core::clock::rfc3339(t0 + minute * 5));
    // the alert log has every event, in order, for the gateway
    let logged: Vec<EventKind> = s.alert_events(0, 100).unwrap().into_iter().map(|(_, e)| e.event).collect();
    assert_eq!(
        logged,
        [EventKind::Opened, EventKind::StillOpen, EventKind::SeverityUp, EventKind::Resolved, EventKind::Opened]
    );
    let unresolved = s.posted_unresolved().unwrap();
    assert_eq!(unresolved.iter().map(|f| f.fingerprint.as_str()).collect::<Vec<_>>(), [f.fingerprint.as_str()]);
    post(&alert("warning", "\"2023-11-14T22:19:00Z\""), t0 + minute * 6);
    assert!(s.posted_unresolved().unwrap().is_empty());
    post(&alert("warning", "null"), t0 + minute * 7);
    // a shard's pass of another monkey leaves posted findings alone
    s.commit_pass(&pass(s, 600), &Report { coverage: vec![cover("*")], ..Default::default() }).unwrap();
    assert_eq!(s.findings(&FindingFilter::default()).unwrap()[0].state, FindingState::Open);
}

pub(crate) fn change_events_are_stored_once_per_id_and_transitions_outlive_the_alert_log(fresh: &Open) {
    use troop_core::timeline::parse_event;
    let (_g, s) = fresh();
    let s = &*s;
    let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let event = |body: &str| parse_event(body.as_bytes(), false, t0).unwrap();
    let deploy = event(
        r#"{"source": "ci", "id": "run-1", "type": "deployment", "summary": "shop 1.2", "labels": {"env": "prod"},
            "at": "2023-11-14T22:10:00Z"}"#,
    );
    // (event, stored?)
    let steps = [
        (deploy.clone(), true),
        (deploy.clone(), false),
        // the same id from another source is another event
        (event(r#"{"source": "cd", "id": "run-1", "type": "deployment", "summary": "shop 1.2"}"#), true),
        // no id: every post is an event
        (event(r#"{"source": "ci", "type": "config", "summary": "flag on"}"#), true),
        (event(r#"{"source": "ci", "type": "config", "summary": "flag on"}"#), true),
    ];
    for (i, (e, want)) in steps.into_iter().enumerate() {
        assert_eq!(s.record_event(&e, t0).unwrap(), want, "step {i}");
    }
    let all = s.events_since(t0 - time::Duration::hours(1)).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0], deploy, "oldest first, as posted");
    assert_eq!(s.events_since(t0).unwrap().len(), 3, "`since` is when they happened");

    // transitions are kept after the gateway consumed the alert log
    let p = pass(s, 0);
    s.commit_pass(
        &p,
        &Report { findings: vec![finding("a", Severity::Warning)], coverage: vec![cover("r1")], ..Default::default() },
    )
    .unwrap();
    s.commit_pass(
        &pass(s, 60),
        &Report { findings: vec![finding("a", Severity::Warning)], coverage: vec![cover("r1")], ..Default::default() },
    )
    .unwrap();
    s.commit_pass(&pass(s, 120), &Report { coverage: vec![cover("r1")], ..Default::default() }).unwrap();
    let (last, _) = *s.alert_events(0, 100).unwrap().last().unwrap();
    s.alert_apply(&AlertBatch { cursor: last, ..Default::default() }).unwrap();
    assert!(s.alert_events(0, 100).unwrap().is_empty(), "the alert log is consumed");
    let kept: Vec<(EventKind, String)> =
        s.transitions_since(t0).unwrap().into_iter().map(|t| (t.event, t.finding.resource)).collect();
    assert_eq!(kept, [(EventKind::Opened, "a".to_string()), (EventKind::Resolved, "a".to_string())]);
    assert_eq!(s.transitions_since(t0 + time::Duration::seconds(100)).unwrap().len(), 1);
}

fn note(id: &str, at: i64) -> Notification {
    Notification {
        id: id.into(),
        group_id: "g".into(),
        sink: "hook".into(),
        route: "default:0".into(),
        group_labels: Default::default(),
        reason: Reason::First,
        status: "firing".into(),
        at,
        firing: vec![],
        resolved: vec![],
        changed: vec![],
    }
}

pub(crate) fn entries_of_sinks_no_longer_configured_fail_with_the_reason(fresh: &Open) {
    let (_g, s) = fresh();
    let s = &*s;
    let gone = Notification { sink: "old-hook".into(), ..note("b", 20) };
    let batch = AlertBatch { cursor: 0, outbox: vec![note("a", 10), gone], ..Default::default() };
    s.alert_apply(&batch).unwrap();
    assert_eq!(s.outbox_abandon(&["hook"], "sink no longer configured", 30).unwrap(), 1);
    assert_eq!(s.outbox_abandon(&["hook"], "sink no longer configured", 40).unwrap(), 0, "once");
    let stats = s.outbox_stats().unwrap();
    let old = stats.iter().find(|st| st.sink == "old-hook").unwrap();
    assert_eq!((old.pending, old.failed), (0, 1));
    assert_eq!(old.last_error.as_deref(), Some("sink no longer configured"));
    let kept = stats.iter().find(|st| st.sink == "hook").unwrap();
    assert_eq!((kept.pending, kept.failed), (1, 0), "a configured sink's entries stay pending");
}

pub(crate) fn outbox_order_retry_hold_back_marks_and_pruning(fresh: &Open) {
    let (_g, s) = fresh();
    let s = &*s;
    let batch = AlertBatch { cursor: 0, outbox: vec![note("a", 10), note("b", 20)], ..Default::default() };
    s.alert_apply(&batch).unwrap();
    s.alert_apply(&batch).unwrap(); // queued once, whatever happens
    let due = s.outbox_due("hook", 100, 10).unwrap();
    assert_eq!(due.iter().map(|e| e.notification.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    // the head waits for its retry: nothing behind it in its group is due
    // either, while another group's entry is
    let other = Notification { group_id: "other".into(), ..note("c", 30) };
    s.alert_apply(&AlertBatch { outbox: vec![other], ..Default::default() }).unwrap();
    s.outbox_mark(due[0].id, &Delivery::Retry { at: 500, error: "down".into() }, 100).unwrap();
    let ids = |due: Vec<troop_core::store::OutboxEntry>| due.into_iter().map(|e| e.notification.id).collect::<Vec<_>>();
    assert_eq!(ids(s.outbox_due("hook", 200, 10).unwrap()), ["c"]);
    assert_eq!(s.outbox_next("hook").unwrap(), Some(30), "c's group is due");
    let c = s.outbox_due("hook", 200, 10).unwrap().remove(0);
    s.outbox_mark(c.id, &Delivery::Delivered, 200).unwrap();
    assert!(s.outbox_due("hook", 200, 10).unwrap().is_empty());
    assert_eq!(s.outbox_next("hook").unwrap(), Some(500), "then the waiting head's retry");
    let due = s.outbox_due("hook", 500, 10).unwrap();
    assert_eq!(due[0].attempts, 1);
    s.outbox_mark(due[0].id, &Delivery::Delivered, 500).unwrap();
    s.outbox_mark(due[1].id, &Delivery::Failed { error: "HTTP 400".into() }, 600).unwrap();
    let st = s.outbox_stats().unwrap().remove(0);
    assert_eq!((st.pending, st.delivered, st.failed, st.failed_attempts), (0, 2, 1, 2));
    assert_eq!(st.last_error.as_deref(), Some("HTTP 400"));
    s.alert_apply(&AlertBatch { prune_before: Some(550), ..Default::default() }).unwrap();
    let st = s.outbox_stats().unwrap().remove(0);
    assert_eq!((st.delivered, st.failed), (0, 1), "only what finished before the cut is forgotten");
}

pub(crate) fn one_lease_holder_at_a_time(fresh: &Open) {
    let (_g, s) = fresh();
    let s = &*s;
    let alive = |_: &str| false;
    let dead = |o: &str| o == "a";
    // (owner, now, until, stale, granted with this epoch)
    type Case<'a> = (&'a str, i64, i64, &'a dyn Fn(&str) -> bool, Option<i64>);
    let cases: Vec<Case> = vec![
        ("a", 0, 100, &alive, Some(1)),   // free
        ("b", 50, 150, &alive, None),     // held by a
        ("a", 60, 160, &alive, Some(1)),  // renewal keeps the epoch
        ("b", 170, 270, &alive, Some(2)), // a's lease ran out
        ("a", 180, 280, &alive, None),
        ("a", 190, 290, &|o: &str| o == "b", Some(3)), // b is gone (its process died)
        ("b", 200, 300, &dead, Some(4)),               // and a too
        ("b", 400, 500, &alive, Some(5)),              // b's own lease ran out: another may have held it since
    ];
    for (i, (owner, now, until, stale, want)) in cases.into_iter().enumerate() {
        assert_eq!(s.alert_lease(owner, now, until, stale).unwrap(), want, "case {i}");
    }
    // (owner, epoch, now, holds)
    for (i, (owner, epoch, now, want)) in
        [("b", 5, 450, true), ("b", 4, 450, false), ("a", 5, 450, false), ("b", 5, 501, false)].into_iter().enumerate()
    {
        assert_eq!(s.alert_lease_holds(owner, epoch, now).unwrap(), want, "holds case {i}");
    }
    s.alert_release("a").unwrap(); // not a's: nothing changes
    assert_eq!(s.alert_lease("c", 410, 510, &alive).unwrap(), None);
    s.alert_release("b").unwrap();
    assert!(!s.alert_lease_holds("b", 5, 450).unwrap());
    assert_eq!(s.alert_lease("c", 410, 510, &alive).unwrap(), Some(6));
}

/// A group's header and its members are written apart: a batch that
/// changes one member leaves the others' rows as they were, a member that
/// left is gone, a group removed takes its members along.
pub(crate) fn groups_are_stored_a_member_at_a_time(fresh: &Open) {
    use std::sync::Arc;
    use troop_core::alerting::{Group, Member};
    let (_g, s) = fresh();
    let s = &*s;
    let member = |fp: &str, severity: Severity, told: Option<Severity>| Member {
        finding: Arc::new(troop_core::StoredFinding {
            fingerprint: fp.into(),
            monkey: "external".into(),
            kind: "DiskFull".into(),
            severity,
            state: FindingState::Open,
            account: String::new(),
            region: String::new(),
            resource: fp.into(),
            title: format!("{fp} fired"),
            details: json!({"alertname": "DiskFull"}),
            labels: Default::default(),
            scope: "posted".into(),
            first_seen: "2023-11-14T22:13:20Z".into(),
            last_seen: "2023-11-14T22:13:20Z".into(),
            resolved_at: None,
        }),
        firing: true,
        told,
    };
    let header = |key: &str, sent: u64| Group {
        key: key.into(),
        route: "default".into(),
        sink: "hook".into(),
        labels: [("alertname".to_string(), "DiskFull".to_string())].into(),
        members: Default::default(),
        created_at: 1,
        last_notified: None,
        due: Some(1),
        sent,
        id: Some(format!("id-{key}")),
    };
    let keyed = |key: &str, ms: &[Member]| -> Vec<(String, Member)> {
        ms.iter().map(|m| (key.to_string(), m.clone())).collect()
    };
    let (a, b, c) =
        (member("a", Severity::Warning, None), member("b", Severity::Warning, None), member("c", Severity::Info, None));
    let mut members = keyed("g1", &[a.clone(), b.clone(), c.clone()]);
    members.extend(keyed("g2", std::slice::from_ref(&a)));
    s.alert_apply(&AlertBatch { upsert: vec![header("g1", 0), header("g2", 0)], members, ..Default::default() })
        .unwrap();
    // g1 notified: its header and one member change, `c` leaves; g2 goes
    let a_told = member("a", Severity::Critical, Some(Severity::Critical));
    s.alert_apply(&AlertBatch {
        upsert: vec![header("g1", 1)],
        members: keyed("g1", std::slice::from_ref(&a_told)),
        left: vec![("g1".into(), "c".into())],
        remove: vec!["g2".into()],
        ..Default::default()
    })
    .unwrap();
    let (_, groups) = s.alert_state().unwrap();
    assert_eq!(groups.len(), 1, "g2 is gone");
    let g1 = &groups[0];
    assert_eq!((g1.key.as_str(), g1.sent), ("g1", 1));
    assert_eq!(g1.members.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(g1.members["a"], a_told);
    assert_eq!(g1.members["b"], b, "a member no batch changed keeps its row");
    // a group made again under a removed key starts without the old members
    s.alert_apply(&AlertBatch { upsert: vec![header("g2", 0)], ..Default::default() }).unwrap();
    let (_, groups) = s.alert_state().unwrap();
    assert!(groups.iter().find(|g| g.key == "g2").unwrap().members.is_empty());
}
