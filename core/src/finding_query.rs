//! Which findings a reader asked for, and in what order: the findings page's
//! filters (`/findings?account=…&sort=…`), pure. The store hands over the
//! findings of a state ([`crate::alerting::silence::findings_view`]); this
//! narrows, counts and orders them.

use crate::finding::{FindingState, Severity, StoredFinding};
use std::collections::BTreeMap;

/// The columns a findings list sorts by (`sort=`).
pub const SORTS: &[&str] = &["severity", "last_seen", "first_seen", "account", "resource", "kind", "monkey"];

/// Every severity a page filters by, lowest first.
pub const SEVERITIES: &[&str] = &["info", "warning", "critical"];

/// Findings per page of the list.
pub const PAGE_SIZE: usize = 100;

/// A reader's question about findings. Every text field matches exactly,
/// except `text` (case-insensitive, anywhere in title, resource, kind,
/// account, region or a label value).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FindingQuery {
    /// `None`: every state. Default (an absent `state=`): open.
    pub state: Option<FindingState>,
    /// At or above (`severity=`), or exactly (with `only=1`).
    pub min_severity: Option<Severity>,
    /// `min_severity` is the only severity kept (the overview's counts).
    pub exact_severity: bool,
    pub monkey: Option<String>,
    pub kind: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// A security technology (`ec2:security-group`); `iam` is every `iam:*`.
    pub technology: Option<String>,
    /// The `owner` label.
    pub owner: Option<String>,
    /// A label `name=value`.
    pub label: Option<(String, String)>,
    pub text: Option<String>,
    /// One of [`SORTS`].
    pub sort: String,
    pub descending: bool,
    /// 1-based.
    pub page: usize,
}

impl FindingQuery {
    /// Read the query string's pairs. Empty values are absent (a form's
    /// untouched fields). Errors name the parameter and what it takes.
    pub fn parse(pairs: &[(String, String)]) -> Result<FindingQuery, String> {
        let mut q = FindingQuery {
            state: Some(FindingState::Open),
            sort: "severity".into(),
            descending: true,
            page: 1,
            ..Default::default()
        };
        let mut dir = None;
        for (k, v) in pairs {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            let some = || Some(v.to_string());
            match k.as_str() {
                "state" => {
                    q.state = match v {
                        "all" => None,
                        other => Some(FindingState::parse(other).ok_or_else(|| {
                            format!("state: unknown `{other}` (one of: open, silenced, resolved, all)")
                        })?),
                    }
                }
                "severity" => {
                    q.min_severity = Some(
                        Severity::parse(v)
                            .ok_or_else(|| format!("severity: unknown `{v}` (one of: {})", SEVERITIES.join(", ")))?,
                    )
                }
                "only" => q.exact_severity = v == "1",
                "monkey" => q.monkey = some(),
                "kind" => q.kind = some(),
                "account" => q.account = some(),
                "region" => q.region = some(),
                "technology" => {
                    let known = crate::security::technology_filters();
                    crate::known_name("technology", v, &known).map_err(|e| format!("technology: {e}"))?;
                    q.technology = some()
                }
                "owner" => q.owner = some(),
                "label" => {
                    let (name, value) = v.split_once('=').ok_or_else(|| format!("label: `{v}` is not name=value"))?;
                    q.label = Some((name.trim().to_string(), value.trim().to_string()));
                }
                "q" => q.text = some(),
                "sort" => {
                    if !SORTS.contains(&v) {
                        return Err(format!("sort: unknown `{v}` (one of: {})", SORTS.join(", ")));
                    }
                    q.sort = v.to_string();
                }
                "dir" => {
                    dir = Some(match v {
                        "asc" => false,
                        "desc" => true,
                        other => return Err(format!("dir: unknown `{other}` (asc or desc)")),
                    })
                }
                "page" => {
                    q.page = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| format!("page: `{v}` is not a page number (1, 2, ...)"))?
                }
                _ => {}
            }
        }
        // times and severity read best newest / highest first; names A to Z
        q.descending = dir.unwrap_or(matches!(q.sort.as_str(), "severity" | "last_seen" | "first_seen"));
        Ok(q)
    }

    /// The technology of a finding: its item's (`details.item` is
    /// `technology/account/region/name`), else none.
    pub fn technology_of(f: &StoredFinding) -> Option<&str> {
        f.details.get("item").and_then(|i| i.as_str()).and_then(|i| i.split('/').next())
    }

    /// Whether `f` (its state as shown: silenced when a silence matches)
    /// answers the question.
    pub fn keeps(&self, f: &StoredFinding) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        // label filters see what silences and routes see (a finding's own
        // label of a routing name, `severity` say, is replaced by troop's)
        self.state.is_none_or(|s| s == f.state)
            && self.min_severity.is_none_or(|s| if self.exact_severity { f.severity == s } else { f.severity >= s })
            && eq(&self.monkey, &f.monkey)
            && eq(&self.kind, &f.kind)
            && eq(&self.account, &f.account)
            && eq(&self.region, &f.region)
            && self.technology.as_deref().is_none_or(|t| {
                Self::technology_of(f).is_some_and(|have| have == t || have.split(':').next() == Some(t))
            })
            && self.owner.as_deref().is_none_or(|o| f.routing_label("owner") == Some(o))
            && self.label.as_ref().is_none_or(|(k, v)| f.routing_label(k) == Some(v.as_str()))
            && self.text.as_deref().is_none_or(|t| {
                let t = t.to_lowercase();
                [&f.title, &f.resource, &f.kind, &f.account, &f.region]
                    .into_iter()
                    .chain(f.labels.values())
                    .any(|s| s.to_lowercase().contains(&t))
            })
    }

    /// Order `found` by the query's column (ties: newest `last_seen`, then
    /// fingerprint, so a page is stable).
    pub fn sort<T>(&self, found: &mut [T], finding: impl Fn(&T) -> &StoredFinding) {
        found.sort_by(|a, b| {
            let (a, b) = (finding(a), finding(b));
            let by = match self.sort.as_str() {
                "severity" => a.severity.cmp(&b.severity),
                "first_seen" => a.first_seen.cmp(&b.first_seen),
                "account" => (&a.account, &a.region).cmp(&(&b.account, &b.region)),
                "resource" => a.resource.cmp(&b.resource),
                "kind" => a.kind.cmp(&b.kind),
                "monkey" => a.monkey.cmp(&b.monkey),
                _ => a.last_seen.cmp(&b.last_seen),
            };
            let by = if self.descending { by.reverse() } else { by };
            by.then_with(|| b.last_seen.cmp(&a.last_seen)).then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
    }

    /// The query string that asks this again with `changes` applied (a
    /// page's links: another sort, the next page). Values are
    /// percent-encoded.
    pub fn href(&self, changes: &[(&str, &str)]) -> String {
        let mut pairs: BTreeMap<&str, String> = BTreeMap::new();
        match self.state {
            Some(FindingState::Open) => {}
            Some(s) => {
                pairs.insert("state", s.as_str().to_string());
            }
            None => {
                pairs.insert("state", "all".into());
            }
        }
        if let Some(s) = self.min_severity {
            pairs.insert("severity", s.to_string());
            if self.exact_severity {
                pairs.insert("only", "1".into());
            }
        }
        for (k, v) in [
            ("monkey", &self.monkey),
            ("kind", &self.kind),
            ("account", &self.account),
            ("region", &self.region),
            ("technology", &self.technology),
            ("owner", &self.owner),
            ("q", &self.text),
        ] {
            if let Some(v) = v {
                pairs.insert(k, v.clone());
            }
        }
        if let Some((k, v)) = &self.label {
            pairs.insert("label", format!("{k}={v}"));
        }
        pairs.insert("sort", self.sort.clone());
        pairs.insert("dir", if self.descending { "desc" } else { "asc" }.into());
        if self.page > 1 {
            pairs.insert("page", self.page.to_string());
        }
        for (k, v) in changes {
            if v.is_empty() {
                pairs.remove(k);
            } else {
                pairs.insert(k, v.to_string());
            }
        }
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        format!("?{}", query.join("&"))
    }
}

/// Percent-encode a query value or a path segment (RFC 3986 unreserved
/// characters stay).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How many of `found` there are per severity, highest first (only those
/// with any).
pub fn count_by_severity<'a>(found: impl IntoIterator<Item = &'a StoredFinding>) -> Vec<(Severity, usize)> {
    let mut counts: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
    for f in found {
        *counts.entry(std::cmp::Reverse(f.severity)).or_default() += 1;
    }
    counts.into_iter().map(|(s, n)| (s.0, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finding(fp: &str, monkey: &str, sev: Severity, account: &str, item: Option<&str>) -> StoredFinding {
        StoredFinding {
            fingerprint: fp.into(),
            monkey: monkey.into(),
            kind: format!("{monkey}-kind"),
            severity: sev,
            state: FindingState::Open,
            account: account.into(),
            region: "us-east-1".into(),
            resource: format!("res-{fp}"),
            title: format!("Title of {fp}"),
            details: item.map(|i| json!({ "item": i })).unwrap_or(json!({})),
            labels: [("owner".to_string(), format!("team-{account}"))].into(),
            scope: monkey.into(),
            first_seen: format!("2026-01-0{}T00:00:00Z", fp.len()),
            last_seen: format!("2026-02-0{}T00:00:00Z", fp.len()),
            resolved_at: None,
        }
    }

    fn q(s: &[(&str, &str)]) -> Result<FindingQuery, String> {
        FindingQuery::parse(&s.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
    }

    #[test]
    fn filters_table() {
        let sg = finding("a", "security", Severity::Critical, "111", Some("ec2:security-group/111/us-east-1/sg-1"));
        let role = finding("bb", "security", Severity::Warning, "222", Some("iam:role/222/global/app"));
        let cert = finding("ccc", "certs", Severity::Info, "111", None);
        let mut silenced = cert.clone();
        silenced.state = FindingState::Silenced;
        let all = [&sg, &role, &cert];
        // (query, which of sg/role/cert it keeps)
        type Case<'a> = (Vec<(&'a str, &'a str)>, [bool; 3]);
        let cases: Vec<Case> = vec![
            (vec![], [true, true, true]),
            (vec![("account", "111")], [true, false, true]),
            (vec![("account", "")], [true, true, true]),
            (vec![("monkey", "certs")], [false, false, true]),
            (vec![("severity", "critical")], [true, false, false]),
            (vec![("severity", "warning")], [true, true, false]),
            (vec![("severity", "info")], [true, true, true]),
            (vec![("severity", "warning"), ("only", "1")], [false, true, false]),
            (vec![("label", "severity=critical")], [true, false, false]),
            (vec![("label", "monkey=certs")], [false, false, true]),
            (vec![("technology", "ec2:security-group")], [true, false, false]),
            (vec![("technology", "iam")], [false, true, false]),
            (vec![("technology", "iam:user")], [false, false, false]),
            (vec![("owner", "team-222")], [false, true, false]),
            (vec![("label", "owner=team-111")], [true, false, true]),
            (vec![("q", "TITLE OF BB")], [false, true, false]),
            (vec![("q", "res-ccc")], [false, false, true]),
            (vec![("kind", "certs-kind"), ("account", "222")], [false, false, false]),
            (vec![("state", "resolved")], [false, false, false]),
        ];
        for (pairs, want) in cases {
            let query = q(&pairs).unwrap();
            let got: Vec<bool> = all.iter().map(|f| query.keeps(f)).collect();
            assert_eq!(got, want, "{pairs:?}");
        }
        // one label looked up is the one of the whole set
        let mut own = sg.clone();
        own.labels.insert("severity".into(), "page".into());
        for (k, v) in own.routing_labels() {
            assert_eq!(own.routing_label(&k), Some(v.as_str()), "{k}");
        }
        assert_eq!(own.routing_label("nothing"), None);
        assert!(!q(&[]).unwrap().keeps(&silenced), "open means open, not silenced");
        assert!(q(&[("state", "silenced")]).unwrap().keeps(&silenced));
        assert!(q(&[("state", "all")]).unwrap().keeps(&silenced));
    }

    #[test]
    fn bad_parameters_are_named() {
        let cases = [
            (("state", "gone"), "state: unknown `gone`"),
            (("severity", "loud"), "severity: unknown `loud`"),
            (("technology", "ec2:nothing"), "technology: unknown technology `ec2:nothing`"),
            (("label", "owner"), "label: `owner` is not name=value"),
            (("sort", "colour"), "sort: unknown `colour`"),
            (("dir", "up"), "dir: unknown `up`"),
            (("page", "0"), "page: `0` is not a page number"),
        ];
        for ((k, v), want) in cases {
            let e = q(&[(k, v)]).unwrap_err();
            assert!(e.starts_with(want), "{k}={v}: {e}");
        }
    }

    #[test]
    fn sorts_and_links() {
        let a = finding("a", "security", Severity::Warning, "222", None);
        let b = finding("bb", "certs", Severity::Critical, "111", None);
        let c = finding("ccc", "limits", Severity::Warning, "111", None);
        let order = |pairs: &[(&str, &str)]| {
            let query = q(pairs).unwrap();
            let mut v = vec![&a, &b, &c];
            query.sort(&mut v, |f| f);
            v.iter().map(|f| f.fingerprint.as_str()).collect::<Vec<_>>().join(",")
        };
        // severity high first, ties newest last_seen first
        assert_eq!(order(&[]), "bb,ccc,a");
        assert_eq!(order(&[("sort", "account")]), "ccc,bb,a");
        assert_eq!(order(&[("sort", "account"), ("dir", "desc")]), "a,ccc,bb");
        assert_eq!(order(&[("sort", "first_seen")]), "ccc,bb,a");
        assert_eq!(order(&[("sort", "monkey")]), "bb,ccc,a");
        let query = q(&[("account", "111 & 2"), ("label", "team=a b"), ("page", "3")]).unwrap();
        assert_eq!(query.href(&[]), "?account=111%20%26%202&dir=desc&label=team%3Da%20b&page=3&sort=severity");
        assert_eq!(
            query.href(&[("page", ""), ("sort", "kind")]),
            "?account=111%20%26%202&dir=desc&label=team%3Da%20b&sort=kind"
        );
        assert_eq!(count_by_severity([&a, &b, &c]), vec![(Severity::Critical, 1), (Severity::Warning, 2)]);
    }
}
