//! The planner over an in-memory store: tables of passes and what each writes.

use super::*;
use crate::finding::Finding;
use crate::monkey::{Coverage, Snapshot};
use serde_json::json;
use std::cell::RefCell;

/// item -> (held, name, account, region, technology)
type Items = BTreeMap<String, (HeldItem, String, String, String, String)>;
/// (item, revision) -> (content, summary, change)
type Revisions = BTreeMap<(String, i64), (Option<serde_json::Value>, Vec<String>, &'static str)>;

/// A store in memory: applies plans as a backend would.
#[derive(Default)]
struct Mem {
    items: RefCell<Items>,
    revisions: RefCell<Revisions>,
    findings: RefCell<BTreeMap<String, FindingRow>>,
}

impl Held for Mem {
    fn item(&self, item: &str) -> Result<Option<HeldItem>, StoreError> {
        Ok(self.items.borrow().get(item).map(|i| i.0.clone()))
    }
    fn live_items(&self, technology: &str, account: &str, region: &str) -> Result<Vec<LiveItem>, StoreError> {
        Ok(self
            .items
            .borrow()
            .iter()
            .filter(|(_, (h, _, a, r, t))| {
                !h.deleted && t == technology && a == account && (region == "*" || r == region)
            })
            .map(|(item, (h, name, _, _, _))| LiveItem { item: item.clone(), revision: h.revision, name: name.clone() })
            .collect())
    }
    fn content(&self, item: &str, revision: i64) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self.revisions.borrow().get(&(item.to_string(), revision)).and_then(|r| r.0.clone()))
    }
    fn current(&self, item: &str) -> Result<Option<(i64, Vec<String>)>, StoreError> {
        let Some(rev) = self.items.borrow().get(item).map(|i| i.0.revision) else { return Ok(None) };
        Ok(self.revisions.borrow().get(&(item.to_string(), rev)).map(|r| (rev, r.1.clone())))
    }
    fn finding(&self, fingerprint: &str) -> Result<Option<FindingRow>, StoreError> {
        Ok(self.findings.borrow().get(fingerprint).cloned())
    }
    fn unresolved(&self, monkey: &str, account: &str) -> Result<Vec<FindingRow>, StoreError> {
        Ok(self
            .findings
            .borrow()
            .values()
            .filter(|f| f.monkey == monkey && f.account == account && f.state != FindingState::Resolved)
            .cloned()
            .collect())
    }
}

impl Mem {
    fn apply(&self, plan: &Plan) {
        for w in &plan.items {
            let held = HeldItem { revision: w.revision, hash: w.hash.clone(), deleted: w.change == Change::Deleted };
            self.items.borrow_mut().insert(
                w.item.to_string(),
                (held, w.name.to_string(), w.account.to_string(), w.region.to_string(), w.technology.to_string()),
            );
            let content = w.content.map(|c| serde_json::from_str(c).unwrap());
            self.revisions
                .borrow_mut()
                .insert((w.item.to_string(), w.revision), (content, w.summary.clone(), w.change.as_str()));
        }
        for f in &plan.findings {
            self.findings.borrow_mut().insert(f.fingerprint.clone(), f.clone());
        }
    }

    fn commit<'r>(&self, report: &'r Report, t: i64) -> Plan<'r> {
        let at = time::OffsetDateTime::from_unix_timestamp(1_700_000_000 + t).unwrap();
        let plan = plan(self, report, "security", at).unwrap();
        self.apply(&plan);
        plan
    }
}

fn snap(name: &str, region: &str, content: serde_json::Value) -> Snapshot {
    Snapshot::new("ec2:security-group", "111", region, name, &content)
}

fn cover(region: &str) -> Coverage {
    Coverage { scope: "ec2:security-group".into(), account: "111".into(), region: region.into() }
}

fn finding(name: &str, severity: Severity) -> Finding {
    Finding {
        monkey: "security".into(),
        kind: "sg-open-ingress".into(),
        severity,
        account: "111".into(),
        region: "r1".into(),
        resource: name.into(),
        title: format!("{name} is open"),
        details: json!({"item": format!("ec2:security-group/111/r1/{name}")}),
        labels: Default::default(),
        scope: "ec2:security-group".into(),
    }
}

#[test]
fn revisions_follow_content_and_complete_listings() {
    let m = Mem::default();
    // (snapshots, coverage, untouched, written: (name, revision, change))
    type Step = (Vec<Snapshot>, Vec<Coverage>, Vec<&'static str>, Vec<(&'static str, i64, Change)>);
    let steps: Vec<Step> = vec![
        (
            vec![snap("a", "r1", json!({"x": 1, "y": [1, 2]})), snap("b", "r1", json!({})), snap("c", "r2", json!({}))],
            vec![cover("r1"), cover("r2")],
            vec![],
            vec![("a", 1, Change::Created), ("b", 1, Change::Created), ("c", 1, Change::Created)],
        ),
        // same content in another key order, listed twice: nothing
        (
            vec![
                snap("a", "r1", json!({"y": [1, 2], "x": 1})),
                snap("a", "r1", json!({"x": 9})),
                snap("b", "r1", json!({})),
            ],
            vec![cover("r1")],
            vec![],
            vec![],
        ),
        // c missing but r2 not listed: kept; a modified
        (
            vec![snap("a", "r1", json!({"x": 2})), snap("b", "r1", json!({}))],
            vec![cover("r1")],
            vec![],
            vec![("a", 2, Change::Modified)],
        ),
        // b could not be read (untouched): neither deleted nor revised; c deleted
        (
            vec![snap("a", "r1", json!({"x": 2}))],
            vec![cover("r1"), cover("r2"), cover("*")],
            vec!["ec2:security-group/111/r1/b"],
            vec![("c", 2, Change::Deleted)],
        ),
        // b gone now, with an overlapping wildcard scope: deleted once
        (
            vec![snap("a", "r1", json!({"x": 2}))],
            vec![cover("r1"), cover("*")],
            vec![],
            vec![("b", 2, Change::Deleted)],
        ),
        // b and c come back
        (
            vec![snap("a", "r1", json!({"x": 2})), snap("b", "r1", json!({})), snap("c", "r2", json!({}))],
            vec![cover("*")],
            vec![],
            vec![("b", 3, Change::Created), ("c", 3, Change::Created)],
        ),
    ];
    for (i, (snapshots, coverage, untouched, want)) in steps.into_iter().enumerate() {
        let report = Report {
            snapshots,
            coverage,
            untouched: untouched.into_iter().map(String::from).collect(),
            ..Default::default()
        };
        let plan = m.commit(&report, i as i64 * 100);
        let got: Vec<(&str, i64, Change)> =
            plan.items.iter().map(|w| (w.name.as_ref(), w.revision, w.change)).collect();
        assert_eq!(got, want, "step {i}");
        for w in &plan.items {
            assert_eq!(w.hash.is_none(), w.change == Change::Deleted, "step {i}");
            assert!(!w.summary.is_empty(), "every revision has its sentences (step {i})");
        }
    }
}

#[test]
fn finding_lifecycle_table() {
    let m = Mem::default();
    let full = || vec![cover("r1")];
    let seen = |names: &[&str]| names.iter().map(|n| snap(n, "r1", json!({"n": n}))).collect::<Vec<_>>();
    // (findings reported, coverage, untouched, events by resource)
    type Step = (Vec<Finding>, Vec<Coverage>, Vec<&'static str>, Vec<(&'static str, EventKind)>);
    let steps: Vec<Step> = vec![
        (vec![finding("a", Severity::Warning)], full(), vec![], vec![("a", EventKind::Opened)]),
        (vec![finding("a", Severity::Warning)], full(), vec![], vec![("a", EventKind::StillOpen)]),
        (vec![finding("a", Severity::Critical)], full(), vec![], vec![("a", EventKind::SeverityUp)]),
        (vec![finding("a", Severity::Warning)], full(), vec![], vec![("a", EventKind::SeverityDown)]),
        // not reported, but the scope was not listed: stays open
        (vec![], vec![], vec![], vec![]),
        // not reported, scope listed, but the item could not be read: stays
        (vec![], full(), vec!["ec2:security-group/111/r1/a"], vec![]),
        (vec![], full(), vec![], vec![("a", EventKind::Resolved)]),
        (vec![finding("a", Severity::Warning)], full(), vec![], vec![("a", EventKind::Opened)]),
        // duplicates in one report count once
        (
            vec![finding("a", Severity::Warning), finding("a", Severity::Warning), finding("b", Severity::Info)],
            full(),
            vec![],
            vec![("a", EventKind::StillOpen), ("b", EventKind::Opened)],
        ),
    ];
    let mut first_seen = Vec::new();
    for (i, (findings, coverage, untouched, want)) in steps.into_iter().enumerate() {
        let report = Report {
            snapshots: seen(&["a", "b"]),
            findings,
            coverage,
            untouched: untouched.into_iter().map(String::from).collect(),
            ..Default::default()
        };
        let plan = m.commit(&report, i as i64 * 100);
        let got: Vec<(&str, EventKind)> = plan.events.iter().map(|e| (e.finding.resource.as_str(), e.event)).collect();
        assert_eq!(got, want, "step {i}");
        if let Some(a) = plan.findings.iter().find(|f| f.resource == "a") {
            first_seen.push(a.first_seen);
            assert_eq!(a.resolved_at.is_some(), a.state == FindingState::Resolved, "step {i}");
        }
    }
    // first seen kept while open, renewed by the reopening
    assert_eq!(first_seen[..4], [1_700_000_000; 4]);
    assert_eq!(first_seen.last(), Some(&1_700_000_700));
}

#[test]
fn a_silenced_finding_stays_silenced_and_findings_carry_their_items_revision() {
    let m = Mem::default();
    let report = |content: serde_json::Value| Report {
        snapshots: vec![snap("a", "r1", content)],
        findings: vec![finding("a", Severity::Warning)],
        coverage: vec![cover("r1")],
        ..Default::default()
    };
    m.commit(&report(json!({"v": 1})), 0);
    let fp = finding("a", Severity::Warning).fingerprint();
    m.findings.borrow_mut().get_mut(&fp).unwrap().state = FindingState::Silenced;
    // a modified item: the finding carries the revision this very pass wrote
    let modified = report(json!({"v": 2}));
    let plan = m.commit(&modified, 100);
    let row = &plan.findings[0];
    assert_eq!(row.state, FindingState::Silenced);
    assert_eq!(row.details["revision"], 2);
    assert_eq!(row.details["summary"], serde_json::to_value(&plan.items[0].summary).unwrap());
    assert_eq!(plan.events[0].event, EventKind::StillOpen);
    // unchanged: the current one
    let unchanged = report(json!({"v": 2}));
    let plan = m.commit(&unchanged, 200);
    assert!(plan.items.is_empty());
    assert_eq!(plan.findings[0].details["revision"], 2);
}

#[test]
fn what_the_source_says_ended_resolves_whatever_the_coverage() {
    let m = Mem::default();
    let a = finding("a", Severity::Warning).fingerprint();
    let unknown = finding("zzz", Severity::Warning).fingerprint();
    // (findings reported, resolved by the source, events by resource)
    type Step = (Vec<Finding>, Vec<String>, Vec<(&'static str, EventKind)>);
    let steps: Vec<Step> = vec![
        (vec![finding("a", Severity::Warning)], vec![], vec![("a", EventKind::Opened)]),
        // no coverage: not reporting it again changes nothing
        (vec![], vec![], vec![]),
        // a finding never seen: nothing to resolve
        (vec![], vec![unknown.clone()], vec![]),
        (vec![], vec![a.clone()], vec![("a", EventKind::Resolved)]),
        // resolved already: nothing new
        (vec![], vec![a.clone()], vec![]),
        (vec![finding("a", Severity::Critical)], vec![], vec![("a", EventKind::Opened)]),
        // firing and ended in one body: the first word counts
        (vec![finding("a", Severity::Critical)], vec![a.clone()], vec![("a", EventKind::StillOpen)]),
        (vec![], vec![a.clone(), a.clone()], vec![("a", EventKind::Resolved)]),
    ];
    for (i, (findings, resolved, want)) in steps.into_iter().enumerate() {
        let report = Report { findings, resolved, ..Default::default() };
        let plan = m.commit(&report, i as i64 * 100);
        let got: Vec<(&str, EventKind)> = plan.events.iter().map(|e| (e.finding.resource.as_str(), e.event)).collect();
        assert_eq!(got, want, "step {i}");
        for f in &plan.findings {
            assert_eq!(f.resolved_at.is_some(), f.state == FindingState::Resolved, "step {i}");
        }
    }
}
