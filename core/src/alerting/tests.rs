//! Scenario tables for the gateway: events and times in, notifications out.

use super::*;
use crate::finding::{FindingState, Severity, StoredFinding};
use sha2::Digest;
use std::collections::BTreeSet;
use std::time::Duration;

const S: Millis = 1000;
const M: Millis = 60 * S;
const H: Millis = 60 * M;

fn finding(fp: &str, sev: Severity, owner: &str) -> StoredFinding {
    StoredFinding {
        fingerprint: fp.into(),
        monkey: "certs".into(),
        kind: "certificate".into(),
        severity: sev,
        state: FindingState::Open,
        account: "111".into(),
        region: "global".into(),
        resource: format!("{fp}.example.com:443"),
        title: format!("{fp} expires soon"),
        details: serde_json::json!({}),
        labels: [("owner".to_string(), owner.to_string())].into(),
        scope: "certs".into(),
        first_seen: "2026-01-01T00:00:00Z".into(),
        last_seen: "2026-01-01T00:00:00Z".into(),
        resolved_at: None,
    }
}

#[derive(Debug, Clone)]
enum Step {
    Fire(Millis, &'static str, Severity, &'static str),
    Resolve(Millis, &'static str),
    /// flush at a time, immediate or not, and the (reason, firing, resolved) expected
    Flush(Millis, bool, Vec<(Reason, Vec<&'static str>, Vec<&'static str>)>),
    Mute(Millis, Millis, &'static str),
}
use Step::*;

fn timing(wait: Millis, interval: Millis, repeat: Millis, send_resolved: bool) -> Timing {
    let d = |m: Millis| Duration::from_millis(m as u64);
    Timing { group_wait: d(wait), group_interval: d(interval), repeat_interval: d(repeat), send_resolved }
}

fn run(tree: &RouteTree, steps: &[Step]) -> Vec<String> {
    let mut g = Groups::default();
    let mut silences: Vec<silence::Silence> = Vec::new();
    let mut errors = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Fire(at, fp, sev, owner) => {
                let f = finding(fp, *sev, owner);
                g.ingest(tree, &silences, Input { finding: &f, firing: true }, *at);
            }
            Resolve(at, fp) => {
                let mut f = finding(fp, Severity::Warning, "");
                // a resolved event carries the finding as stored, owner included
                if let Some(m) = g.groups().flat_map(|g| g.members.get(*fp)).next() {
                    f = (*m.finding).clone();
                }
                f.state = FindingState::Resolved;
                g.ingest(tree, &silences, Input { finding: &f, firing: false }, *at);
            }
            Mute(from, to, matcher) => {
                silences.push(silence::Silence {
                    id: format!("s{i}"),
                    matchers: vec![Matcher::parse(matcher).unwrap()],
                    starts_at: *from,
                    ends_at: *to,
                    author: "t".into(),
                    reason: "t".into(),
                });
                g.apply_silences(&silences, *from);
            }
            Flush(at, immediate, want) => {
                g.apply_silences(&silences, *at);
                let got: Vec<(Reason, Vec<String>, Vec<String>)> = g
                    .flush(tree, *at, *immediate)
                    .into_iter()
                    .map(|n| {
                        (
                            n.reason,
                            n.firing.iter().map(|f| f.fingerprint.clone()).collect(),
                            n.resolved.iter().map(|f| f.fingerprint.clone()).collect(),
                        )
                    })
                    .collect();
                let want: Vec<(Reason, Vec<String>, Vec<String>)> = want
                    .iter()
                    .map(|(r, f, x)| {
                        (*r, f.iter().map(|s| s.to_string()).collect(), x.iter().map(|s| s.to_string()).collect())
                    })
                    .collect();
                if got != want {
                    errors.push(format!("step {i} ({step:?}): got {got:?}"));
                }
            }
        }
    }
    errors
}

fn one_sink(t: Timing) -> RouteTree {
    RouteTree::everything_to(&["mail".to_string()], t)
}

#[test]
fn lifecycle_scenarios() {
    use Reason::*;
    use Severity::*;
    let now = timing(0, 0, 4 * H, true);
    type Case = (&'static str, RouteTree, Vec<Step>);
    let cases: Vec<Case> = vec![
        (
            "an unchanged finding over three passes notifies once",
            one_sink(now),
            vec![
                Fire(0, "a", Warning, "o"),
                Flush(0, true, vec![(First, vec!["a"], vec![])]),
                Fire(10 * M, "a", Warning, "o"),
                Flush(10 * M, true, vec![]),
                Fire(20 * M, "a", Warning, "o"),
                Flush(20 * M, true, vec![]),
            ],
        ),
        (
            "severity up notifies, down is silent, up again notifies",
            one_sink(now),
            vec![
                Fire(0, "a", Warning, "o"),
                Flush(0, true, vec![(First, vec!["a"], vec![])]),
                Fire(M, "a", Critical, "o"),
                Flush(M, true, vec![(Escalated, vec!["a"], vec![])]),
                Fire(2 * M, "a", Warning, "o"),
                Flush(2 * M, true, vec![]),
                Fire(3 * M, "a", Critical, "o"),
                Flush(3 * M, true, vec![(Escalated, vec!["a"], vec![])]),
            ],
        ),
        (
            "repeat after repeat_interval, not before, and not forced by immediate",
            one_sink(now),
            vec![
                Fire(0, "a", Warning, "o"),
                Flush(0, true, vec![(First, vec!["a"], vec![])]),
                Flush(4 * H - 1, true, vec![]),
                Flush(4 * H, false, vec![(Repeat, vec!["a"], vec![])]),
                Flush(4 * H + M, true, vec![]),
                Flush(8 * H, false, vec![(Repeat, vec!["a"], vec![])]),
            ],
        ),
        (
            "resolution notifies once, then the group is gone",
            one_sink(now),
            vec![
                Fire(0, "a", Warning, "o"),
                Flush(0, true, vec![(First, vec!["a"], vec![])]),
                Resolve(M, "a"),
                Flush(M, true, vec![(Resolved, vec![], vec!["a"])]),
                Resolve(2 * M, "a"),
                Flush(2 * M, true, vec![]),
                Flush(5 * H, false, vec![]),
            ],
        ),
        (
            "without send_resolved a resolution says nothing",
            one_sink(timing(0, 0, 4 * H, false)),
            vec![
                Fire(0, "a", Warning, "o"),
                Flush(0, true, vec![(First, vec!["a"], vec![])]),
                Resolve(M, "a"),
                Flush(M, true, vec![]),
                Flush(5 * H, false, vec![]),
            ],
        ),
        (
            "one message per owner for five certificates",
            one_sink(now),
            vec![
                Fire(0, "c1", Warning, "shop"),
                Fire(0, "c2", Warning, "shop"),
                Fire(0, "c3", Critical, "shop"),
                Fire(0, "c4", Warning, "shop"),
                Fire(0, "c5", Warning, "shop"),
                Fire(0, "p1", Warning, "payments"),
                Flush(0, true, vec![(First, vec!["p1"], vec![]), (First, vec!["c1", "c2", "c3", "c4", "c5"], vec![])]),
            ],
        ),
        (
            "group_wait gathers, group_interval spaces changes",
            one_sink(timing(30 * S, 5 * M, 4 * H, true)),
            vec![
                Fire(0, "a", Warning, "o"),
                Flush(10 * S, false, vec![]),
                Fire(20 * S, "b", Warning, "o"),
                Flush(30 * S, false, vec![(First, vec!["a", "b"], vec![])]),
                Fire(40 * S, "c", Warning, "o"),
                Flush(41 * S, false, vec![]),
                Flush(5 * M + 30 * S, false, vec![(New, vec!["a", "b", "c"], vec![])]),
            ],
        ),
        (
            "resolved before anyone was told: nothing at all",
            one_sink(timing(30 * S, 5 * M, 4 * H, true)),
            vec![Fire(0, "a", Warning, "o"), Resolve(10 * S, "a"), Flush(30 * S, false, vec![])],
        ),
        (
            "a silence mutes; when it ends a finding still firing is notified again",
            one_sink(now),
            vec![
                Fire(0, "a", Warning, "o"),
                Flush(0, true, vec![(First, vec!["a"], vec![])]),
                Mute(M, 2 * H, "owner=o"),
                Fire(10 * M, "a", Critical, "o"),
                Flush(10 * M, true, vec![]),
                Flush(H + 30 * M, false, vec![]),
                Fire(2 * H, "a", Critical, "o"),
                Flush(2 * H, true, vec![(First, vec!["a"], vec![])]),
            ],
        ),
        (
            "a silence on one finding leaves the rest of its group alone",
            one_sink(now),
            vec![
                Fire(0, "a", Warning, "o"),
                Fire(0, "b", Warning, "o"),
                Flush(0, true, vec![(First, vec!["a", "b"], vec![])]),
                Mute(M, 9 * H, "resource=a.example.com:443"),
                Flush(4 * H, false, vec![(Repeat, vec!["b"], vec![])]),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (name, tree, steps) in cases {
        for e in run(&tree, &steps) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn routes_send_to_their_own_groups_and_continue_fans_out() {
    use Reason::*;
    use Severity::*;
    let t = timing(0, 0, 4 * H, true);
    let route = |pos: &str, m: &[&str], sinks: &[&str], cont: bool| route::test_route(pos, m, sinks, cont, t);
    let tree = RouteTree {
        routes: vec![
            route("0", &["severity=critical"], &["pager"], true),
            route("1", &["owner=shop"], &["mail"], false),
        ],
        default: route("default", &[], &["log"], false),
        repeat_caps: Default::default(),
    };
    let mut g = Groups::default();
    let f = finding("a", Warning, "shop");
    g.ingest(&tree, &[], Input { finding: &f, firing: true }, 0);
    let sinks = |n: &[Notification]| n.iter().map(|n| (n.sink.clone(), n.reason)).collect::<Vec<_>>();
    assert_eq!(sinks(&g.flush(&tree, 0, true)), [("mail".to_string(), First)]);
    let f = finding("a", Critical, "shop");
    g.ingest(&tree, &[], Input { finding: &f, firing: true }, M);
    let mut got = sinks(&g.flush(&tree, M, true));
    got.sort();
    assert_eq!(got, [("mail".to_string(), Escalated), ("pager".to_string(), First)]);
    // group ids are stable per group: PagerDuty resolves what it triggered
    let f2 = finding("a", Critical, "shop");
    let mut r = f2.clone();
    r.state = FindingState::Resolved;
    g.ingest(&tree, &[], Input { finding: &r, firing: false }, 2 * M);
    let n = g.flush(&tree, 2 * M, true);
    assert_eq!(n.len(), 2);
    assert!(n.iter().all(|n| n.reason == Resolved && n.status == "resolved"));
    assert!(g.is_empty());
}

#[test]
fn state_survives_a_round_trip_through_its_serialized_groups() {
    let tree = one_sink(timing(0, 0, 4 * H, true));
    let mut g = Groups::default();
    let f = finding("a", Severity::Warning, "o");
    g.ingest(&tree, &[], Input { finding: &f, firing: true }, 0);
    assert_eq!(g.flush(&tree, 0, true).len(), 1);
    let saved: Vec<Group> =
        g.groups().map(|x| serde_json::from_value(serde_json::to_value(x).unwrap()).unwrap()).collect();
    let mut restored = Groups::from_groups(saved);
    // the restored state knows what was told: an unchanged finding says nothing
    restored.ingest(&tree, &[], Input { finding: &f, firing: true }, M);
    assert!(restored.flush(&tree, M, true).is_empty());
    assert_eq!(restored.next_due(&tree), Some(4 * H));
}

#[test]
fn a_sink_with_a_repeat_cap_hears_a_firing_group_sooner() {
    let mut tree = RouteTree::everything_to(&["am".to_string(), "mail".to_string()], timing(0, 0, 4 * H, true));
    tree.repeat_caps.insert("am".into(), Duration::from_secs(300));
    let mut g = Groups::default();
    let f = finding("a", Severity::Warning, "o");
    g.ingest(&tree, &[], Input { finding: &f, firing: true }, 0);
    assert_eq!(g.flush(&tree, 0, true).len(), 2);
    assert_eq!(g.next_due(&tree), Some(5 * M));
    let n = g.flush(&tree, 5 * M, false);
    assert_eq!(n.iter().map(|n| (n.sink.as_str(), n.reason)).collect::<Vec<_>>(), [("am", Reason::Repeat)]);
    let sinks = |n: Vec<Notification>| n.into_iter().map(|n| n.sink).collect::<Vec<_>>();
    assert_eq!(sinks(g.flush(&tree, 4 * H - M, false)), ["am"]);
    assert_eq!(sinks(g.flush(&tree, 4 * H, false)), ["mail"], "mail at its own 4h");
}

#[test]
fn a_notification_names_what_it_is_about() {
    let tree = one_sink(timing(0, 0, 4 * H, true));
    let mut g = Groups::default();
    let fire = |g: &mut Groups, fp: &str, sev: Severity, at: Millis| {
        let f = finding(fp, sev, "o");
        g.ingest(&tree, &[], Input { finding: &f, firing: true }, at);
    };
    fire(&mut g, "a", Severity::Warning, 0);
    fire(&mut g, "b", Severity::Warning, 0);
    assert_eq!(g.flush(&tree, 0, true)[0].changed, ["a", "b"]);
    fire(&mut g, "a", Severity::Warning, M);
    fire(&mut g, "b", Severity::Critical, M);
    fire(&mut g, "c", Severity::Warning, M);
    let n = g.flush(&tree, M, true);
    assert_eq!((n[0].reason, n[0].changed.clone()), (Reason::New, vec!["b".to_string(), "c".to_string()]));
    assert_eq!(n[0].firing.len(), 3, "the group still lists everything firing");
    assert!(g.flush(&tree, 4 * H + M, false)[0].changed.is_empty(), "a repeat is about nothing new");
}

/// Save and restore groups as the store does.
fn round_trip(g: &Groups) -> Vec<Group> {
    g.groups().map(|x| serde_json::from_value(serde_json::to_value(x).unwrap()).unwrap()).collect()
}

#[test]
fn editing_sinks_and_routes_resends_nothing_and_a_new_sink_hears_the_open_groups_once() {
    let t = timing(0, 0, 4 * H, true);
    let before = RouteTree::everything_to(&["mail".to_string(), "pager".to_string()], t);
    let open = [finding("a", Severity::Warning, "o"), finding("b", Severity::Critical, "p")];
    let mut g = Groups::default();
    for f in &open {
        g.ingest(&before, &[], Input { finding: f, firing: true }, 0);
    }
    let first = g.flush(&before, 0, true);
    assert_eq!(first.len(), 4, "two groups (owners o, p) for each of two sinks");
    let pager_ids: BTreeSet<String> = first.iter().filter(|n| n.sink == "pager").map(|n| n.group_id.clone()).collect();

    // A sink added, the sinks reordered (the route's id changes with them).
    let after = RouteTree::everything_to(&["hook".to_string(), "pager".to_string(), "mail".to_string()], t);
    assert_ne!(before.default.id, after.default.id);
    let mut restored = Groups::from_groups(round_trip(&g));
    restored.reconcile(&after, &open, &[], M);
    let n = restored.flush(&after, M, true);
    let told: Vec<(&str, Reason, usize)> = n.iter().map(|n| (n.sink.as_str(), n.reason, n.firing.len())).collect();
    assert_eq!(told, [("hook", Reason::First, 1), ("hook", Reason::First, 1)], "only the new sink hears, once");
    assert!(restored.flush(&after, 2 * M, true).is_empty(), "and only once");
    // the pager's groups are the same groups: same ids (PagerDuty dedup keys)
    let b = finding("b", Severity::Critical, "p");
    restored.ingest(&after, &[], Input { finding: &b, firing: false }, 3 * M);
    let resolved = restored.flush(&after, 3 * M, true);
    let pager: Vec<&Notification> = resolved.iter().filter(|n| n.sink == "pager").collect();
    assert_eq!(pager.len(), 1);
    assert!(pager_ids.contains(&pager[0].group_id), "{} not among {pager_ids:?}", pager[0].group_id);

    // A sink removed: its groups go, without a word; the others stay told.
    let fewer = RouteTree::everything_to(&["pager".to_string()], t);
    let mut restored = Groups::from_groups(round_trip(&restored));
    restored.reconcile(&fewer, &open[..1], &[], 4 * M);
    assert!(restored.flush(&fewer, 4 * M, true).is_empty());
    assert!(restored.groups().all(|g| g.sink == "pager"));
}

#[test]
fn groups_stored_under_the_old_route_keys_keep_their_ids() {
    let tree = one_sink(timing(0, 0, 4 * H, true));
    let mut g = Groups::default();
    let f = finding("a", Severity::Warning, "o");
    g.ingest(&tree, &[], Input { finding: &f, firing: true }, 0);
    g.flush(&tree, 0, true);
    // as an older troop stored it: the key led with the route's id, no id field
    let mut saved = round_trip(&g);
    let old_key = format!("{}|{}", tree.default.id, saved[0].key);
    saved[0].key = old_key.clone();
    saved[0].id = None;
    let mut restored = Groups::from_groups(saved);
    let moved: Vec<&Group> = restored.groups().collect();
    assert_eq!(moved.len(), 1);
    assert!(!moved[0].key.contains(&tree.default.id), "{}", moved[0].key);
    let changed = restored.take_changed();
    assert!(changed.groups.contains(&old_key), "the move is persisted (the old row goes)");
    let new_key = restored.groups().next().unwrap().key.clone();
    assert!(changed.members.contains(&(new_key, f.fingerprint.clone())), "its members move to the new key's rows");
    restored.reconcile(&tree, std::slice::from_ref(&f), &[], M);
    assert!(restored.flush(&tree, M, true).is_empty(), "nothing re-sent after the upgrade");
    let r = StoredFinding { state: FindingState::Resolved, ..f };
    restored.ingest(&tree, &[], Input { finding: &r, firing: false }, 2 * M);
    let n = restored.flush(&tree, 2 * M, true);
    let want = hex::encode(&sha2::Sha256::digest(old_key.as_bytes())[..12]);
    assert_eq!(n[0].group_id, want, "the dedup key receivers already hold");
}

#[test]
fn applying_silences_names_those_that_ended_since_the_last_time() {
    let mute = |id: &str, from: Millis, to: Millis| silence::Silence {
        id: id.into(),
        matchers: vec![Matcher::parse("owner=shop").unwrap()],
        starts_at: from,
        ends_at: to,
        author: "t".into(),
        reason: "t".into(),
    };
    let silences = [mute("a", 0, 10 * S), mute("b", 0, 20 * S), mute("c", 15 * S, 30 * S)];
    let mut g = Groups::default();
    // (now, ended since the last application)
    let steps: [(Millis, &[&str]); 6] =
        [(S, &[]), (5 * S, &[]), (12 * S, &["a"]), (16 * S, &[]), (25 * S, &["b"]), (40 * S, &["c"])];
    for (now, want) in steps {
        assert_eq!(g.apply_silences(&silences, now), want, "at {now}");
    }
    // the first application after a start knows of nothing that ended
    assert!(Groups::default().apply_silences(&silences, 40 * S).is_empty());
    // a silence removed (or replaced by an update) ends as one that expires
    let mut g = Groups::default();
    assert!(g.apply_silences(&silences, 16 * S).is_empty());
    let replaced = [silences[0].clone(), silences[2].clone(), mute("b2", 16 * S, 30 * S)];
    assert_eq!(g.apply_silences(&replaced, 17 * S), ["b"]);
    assert_eq!(g.apply_silences(&replaced[..1], 17 * S), ["c", "b2"]);
}

#[test]
fn a_round_persists_only_the_members_it_changed() {
    let tree = one_sink(timing(0, 0, 4 * H, true));
    let mut g = Groups::default();
    let many: Vec<StoredFinding> = (0..1000).map(|i| finding(&format!("f{i}"), Severity::Warning, "o")).collect();
    for f in &many {
        g.ingest(&tree, &[], Input { finding: f, firing: true }, 0);
    }
    assert_eq!(g.flush(&tree, 0, true).len(), 1);
    let first = g.take_changed();
    assert_eq!(first.members.len(), 1000, "every member is new");
    let key = g.groups().next().unwrap().key.clone();
    let member = |fp: &str| (key.clone(), fp.to_string());
    // one joins: it is the only member written, before and after the flush
    let new = finding("new", Severity::Warning, "o");
    g.ingest(&tree, &[], Input { finding: &new, firing: true }, S);
    assert_eq!(g.flush(&tree, S, true)[0].reason, Reason::New);
    let changed = g.take_changed();
    assert_eq!(changed.members, [member("new")].into());
    assert_eq!(changed.groups, [key.clone()].into(), "the header (sent, last_notified) changed");
    // seen again, unchanged but for last_seen: nothing worth a write
    let mut again = many[7].clone();
    again.last_seen = "2026-01-02T00:00:00Z".into();
    g.ingest(&tree, &[], Input { finding: &again, firing: true }, 2 * S);
    assert_eq!(g.take_changed(), Changed::default());
    // one resolves: it is written (firing false), then leaves with the flush
    let gone = StoredFinding { state: FindingState::Resolved, ..many[3].clone() };
    g.ingest(&tree, &[], Input { finding: &gone, firing: false }, 3 * S);
    assert_eq!(g.flush(&tree, 3 * S, true)[0].reason, Reason::Resolved);
    assert_eq!(g.take_changed().members, [member("f3")].into());
    assert!(!g.get(&key).unwrap().members.contains_key("f3"));
}
