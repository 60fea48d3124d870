//! Which sinks an event goes to. Pure: labels in, sink names out.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Every matcher must equal the label's value; empty = matches everything.
    pub matchers: BTreeMap<String, String>,
    pub sinks: Vec<String>,
}

/// Sinks for a finding with `labels`. With no routes configured every sink
/// receives every event; otherwise the union of the sinks of matching routes,
/// in configuration order, without repeats.
pub fn sinks_for<'a>(labels: &BTreeMap<String, String>, routes: &'a [Route], all_sinks: &'a [String]) -> Vec<&'a str> {
    if routes.is_empty() {
        return all_sinks.iter().map(String::as_str).collect();
    }
    let mut out: Vec<&str> = Vec::new();
    for route in routes {
        let matched = route.matchers.iter().all(|(k, v)| labels.get(k) == Some(v));
        if matched {
            for s in &route.sinks {
                if !out.contains(&s.as_str()) {
                    out.push(s);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn table() {
        let all = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let routes = vec![
            Route { matchers: labels(&[("monkey", "limits")]), sinks: vec!["a".into()] },
            Route { matchers: labels(&[("severity", "critical")]), sinks: vec!["b".into(), "a".into()] },
            Route { matchers: BTreeMap::new(), sinks: vec!["c".into()] },
        ];
        type Case = (Vec<(&'static str, &'static str)>, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            (vec![("monkey", "limits"), ("severity", "warning")], vec!["a", "c"]),
            (vec![("monkey", "limits"), ("severity", "critical")], vec!["a", "b", "c"]),
            (vec![("monkey", "security"), ("severity", "critical")], vec!["b", "a", "c"]),
            (vec![("monkey", "certs"), ("severity", "info")], vec!["c"]),
        ];
        for (l, want) in cases {
            assert_eq!(sinks_for(&labels(&l), &routes, &all), want, "{l:?}");
        }
        assert_eq!(sinks_for(&labels(&[]), &[], &all), vec!["a", "b", "c"]);
        let only = vec![Route { matchers: labels(&[("monkey", "x")]), sinks: vec!["a".into()] }];
        assert!(sinks_for(&labels(&[("monkey", "y")]), &only, &all).is_empty());
    }
}
