//! The routing tree: ordered routes, each with label matchers, sinks,
//! grouping and timing; the first matching route takes a finding unless it
//! says `continue`; findings no route takes go to the default route.

use super::matcher::{Matcher, all_match};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// How long a new group waits for more findings before its first notification.
    pub group_wait: Duration,
    /// Least time between two notifications of one group about changes.
    pub group_interval: Duration,
    /// A group still firing is notified again after this long.
    pub repeat_interval: Duration,
    /// Tell when findings resolve.
    pub send_resolved: bool,
}

impl Default for Timing {
    /// Alertmanager's defaults.
    fn default() -> Self {
        Timing {
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            send_resolved: true,
        }
    }
}

/// Labels a route groups by when it does not say: one group per monkey, kind
/// and owner, so an owner gets one message for all their certificates.
pub const DEFAULT_GROUP_BY: &[&str] = &["monkey", "kind", "owner"];

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Stable while the route's content is unchanged: its position and a hash
    /// of what it matches and where it sends.
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub sinks: Vec<String>,
    pub continue_: bool,
    pub group_by: Vec<String>,
    pub timing: Timing,
}

impl Route {
    pub fn new(
        position: &str,
        matchers: Vec<Matcher>,
        sinks: Vec<String>,
        continue_: bool,
        group_by: Vec<String>,
        timing: Timing,
    ) -> Route {
        let mut h = Sha256::new();
        for m in &matchers {
            h.update(m.to_string().as_bytes());
            h.update([0]);
        }
        h.update([1]);
        for s in sinks.iter().chain(group_by.iter()) {
            h.update(s.as_bytes());
            h.update([0]);
        }
        let id = format!("{position}:{}", &hex::encode(h.finalize())[..8]);
        Route { id, matchers, sinks, continue_, group_by, timing }
    }

    /// The group a finding with `labels` joins on this route, for one sink.
    pub fn group_key(&self, sink: &str, labels: &BTreeMap<String, String>) -> (String, BTreeMap<String, String>) {
        (self.key_of(sink, labels), self.group_labels(labels))
    }

    /// The key alone (the hot path: most findings join groups that exist).
    /// A group is one sink and one set of `group_by` values — not a route:
    /// adding, removing or reordering sinks and routes that still lead the
    /// same findings to a sink leaves its groups (and what it was told) as
    /// they were.
    pub fn key_of(&self, sink: &str, labels: &BTreeMap<String, String>) -> String {
        group_key(sink, self.group_by.iter().map(|k| (k.as_str(), labels.get(k).map(String::as_str).unwrap_or(""))))
    }

    /// The `group_by` labels of a finding (missing ones empty).
    pub fn group_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.group_by.iter().map(|k| (k.clone(), labels.get(k).cloned().unwrap_or_default())).collect()
    }
}

/// The key of the group of `sink` with these `group_by` labels and values
/// (in any order; duplicates once): `sink|k=v|k=v`, keys sorted.
pub fn group_key<'a>(sink: &str, labels: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let by: BTreeMap<&str, &str> = labels.collect();
    let mut key = sink.to_string();
    for (k, v) in by {
        key.push('|');
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteTree {
    pub routes: Vec<Route>,
    /// Takes what no route takes; no sinks = such findings go nowhere.
    pub default: Route,
    /// Sinks that must hear a firing group again sooner than its route's
    /// repeat_interval (Alertmanager forgets alerts whose endsAt lapses).
    pub repeat_caps: BTreeMap<String, Duration>,
}

impl RouteTree {
    /// Every sink gets everything: the tree when nothing is configured.
    pub fn everything_to(sinks: &[String], timing: Timing) -> RouteTree {
        RouteTree {
            routes: vec![],
            default: Route::new(
                "default",
                vec![],
                sinks.to_vec(),
                false,
                DEFAULT_GROUP_BY.iter().map(|s| s.to_string()).collect(),
                timing,
            ),
            repeat_caps: BTreeMap::new(),
        }
    }

    /// How long a firing group of `route` waits before telling `sink` again.
    pub fn repeat_interval(&self, route: &Route, sink: &str) -> Duration {
        let r = route.timing.repeat_interval;
        self.repeat_caps.get(sink).map_or(r, |cap| r.min(*cap))
    }

    /// The routes that take a finding with `labels`, in order.
    /// Where a finding with `labels` goes: (group key, route, sink) for every
    /// sink of every matching route, each group once (two routes that lead
    /// to one sink with the same grouping lead to one group; the first sets
    /// its timing).
    pub fn targets(&self, labels: &BTreeMap<String, String>) -> Vec<(String, &Route, &str)> {
        let mut out: Vec<(String, &Route, &str)> = Vec::new();
        for r in self.matching(labels) {
            for sink in &r.sinks {
                let key = r.key_of(sink, labels);
                if !out.iter().any(|t| t.0 == key) {
                    out.push((key, r, sink.as_str()));
                }
            }
        }
        out
    }

    pub fn matching(&self, labels: &BTreeMap<String, String>) -> Vec<&Route> {
        let mut out = Vec::new();
        for r in &self.routes {
            if all_match(&r.matchers, labels) {
                out.push(r);
                if !r.continue_ {
                    return out;
                }
            }
        }
        if out.is_empty() && !self.default.sinks.is_empty() {
            out.push(&self.default);
        }
        out
    }

    pub fn route(&self, id: &str) -> Option<&Route> {
        self.routes.iter().chain(std::iter::once(&self.default)).find(|r| r.id == id)
    }
}

/// A route from matcher strings, grouping by owner (tests).
#[cfg(test)]
pub(crate) fn test_route(pos: &str, m: &[&str], sinks: &[&str], cont: bool, timing: Timing) -> Route {
    Route::new(
        pos,
        m.iter().map(|m| Matcher::parse(m).unwrap()).collect(),
        sinks.iter().map(|s| s.to_string()).collect(),
        cont,
        vec!["owner".into()],
        timing,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn route(pos: &str, m: &[&str], sinks: &[&str], cont: bool) -> Route {
        test_route(pos, m, sinks, cont, Timing::default())
    }

    #[test]
    fn first_match_wins_unless_continue_then_default() {
        let tree = RouteTree {
            routes: vec![
                route("0", &["monkey=limits"], &["ops"], false),
                route("1", &["severity=critical"], &["pager"], true),
                route("2", &["monkey=~certs|security", "severity!=info"], &["mail"], false),
                route("3", &["monkey=certs"], &["certs-rest"], false),
            ],
            default: route("default", &[], &["log"], false),
            repeat_caps: BTreeMap::new(),
        };
        type Case = (Vec<(&'static str, &'static str)>, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            // first match stops: the critical route is never reached
            (vec![("monkey", "limits"), ("severity", "critical")], vec!["ops"]),
            // continue: critical pages and still reaches the next match
            (vec![("monkey", "certs"), ("severity", "critical")], vec!["pager", "mail"]),
            (vec![("monkey", "security"), ("severity", "warning")], vec!["mail"]),
            (vec![("monkey", "certs"), ("severity", "info")], vec!["certs-rest"]),
            // no route matches: the default
            (vec![("monkey", "limits2"), ("severity", "info")], vec!["log"]),
            // a continue route alone is still a match: no default
            (vec![("monkey", "other"), ("severity", "critical")], vec!["pager"]),
        ];
        for (l, want) in cases {
            let got: Vec<&str> =
                tree.matching(&labels(&l)).iter().flat_map(|r| r.sinks.iter().map(String::as_str)).collect();
            assert_eq!(got, want, "{l:?}");
        }
        let silent =
            RouteTree { routes: vec![], default: route("default", &[], &[], false), repeat_caps: BTreeMap::new() };
        assert!(silent.matching(&labels(&[("monkey", "x")])).is_empty());
    }

    #[test]
    fn ids_are_stable_for_the_same_route_and_differ_when_it_changes() {
        let a = route("0", &["monkey=limits"], &["ops"], false);
        assert_eq!(a.id, route("0", &["monkey=limits"], &["ops"], false).id);
        assert_ne!(a.id, route("0", &["monkey=certs"], &["ops"], false).id);
        assert_ne!(a.id, route("0", &["monkey=limits"], &["pager"], false).id);
        let (k1, g) = a.group_key("ops", &labels(&[("owner", "a@x"), ("monkey", "limits")]));
        assert_eq!(g, labels(&[("owner", "a@x")]));
        let (k2, _) = a.group_key("ops", &labels(&[("owner", "b@x")]));
        assert_ne!(k1, k2);
        let (k3, _) = a.group_key("ops", &labels(&[("owner", "a@x"), ("severity", "critical")]));
        assert_eq!(k1, k3, "labels outside group_by do not split groups");
    }
}
