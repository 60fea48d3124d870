//! Reading history, pure: "since" windows and the diff between two revisions
//! of an item, as the CLI and the HTTP API both present them.

use crate::canonical;
use crate::store::Revision;
use serde::Serialize;
use time::OffsetDateTime;

/// `--since` / `?since=`: a duration back from `now` ("1h", "7d") or an RFC 3339 time.
pub fn parse_since(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    match humantime::parse_duration(s) {
        Ok(d) => time::Duration::try_from(d)
            .ok()
            .and_then(|d| now.checked_sub(d))
            .ok_or_else(|| format!("`{s}` reaches back before any time troop can represent; use a shorter duration")),
        Err(_) => {
            Err(format!("`{s}` is neither a duration (\"1h\", \"7d\") nor an RFC 3339 time (\"2026-01-31T12:00:00Z\")"))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevisionRef {
    pub revision: i64,
    pub at: String,
    pub change: String,
}

impl From<&Revision> for RevisionRef {
    fn from(r: &Revision) -> Self {
        RevisionRef { revision: r.revision, at: r.at.clone(), change: r.change.clone() }
    }
}

impl RevisionRef {
    /// "revision 2 (modified, 2026-11-30T14:07:06Z)": how a diff names it.
    pub fn label(&self) -> String {
        format!("revision {} ({}, {})", self.revision, self.change, self.at)
    }
}

/// Two revisions of one item: reviewer sentences, then a unified diff of the
/// canonical documents for anything the sentences do not cover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffView {
    pub item: String,
    pub technology: String,
    pub name: String,
    /// `None` when `to` is the first revision (the item was created).
    pub from: Option<RevisionRef>,
    pub to: RevisionRef,
    pub summary: Vec<String>,
    pub diff: String,
}

/// One row of `troop diff --format json` and `GET /api/v1/items/{item}/diff`
/// (SPEC: an array of one object per revision pair): revision numbers in
/// `from` (null when `to` created the item) and `to`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffRow {
    pub item: String,
    pub technology: String,
    pub name: String,
    pub from: Option<i64>,
    pub to: i64,
    /// RFC 3339 times of the two revisions.
    pub from_at: Option<String>,
    pub to_at: String,
    /// `created`, `modified` or `deleted`: what `to` did.
    pub change: String,
    pub summary: Vec<String>,
    pub diff: String,
}

impl DiffView {
    /// The JSON rows (one) of this diff.
    pub fn rows(&self) -> Vec<DiffRow> {
        vec![DiffRow {
            item: self.item.clone(),
            technology: self.technology.clone(),
            name: self.name.clone(),
            from: self.from.as_ref().map(|f| f.revision),
            to: self.to.revision,
            from_at: self.from.as_ref().map(|f| f.at.clone()),
            to_at: self.to.at.clone(),
            change: self.to.change.clone(),
            summary: self.summary.clone(),
            diff: self.diff.clone(),
        }]
    }
}

/// The one item a user's words name, from what `Store::find_items` found:
/// exactly one, else an error that says what to do (none: where ids are
/// listed; several: which ones).
pub fn resolve_item(query: &str, mut found: Vec<String>) -> Result<String, String> {
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!("no item matches `{query}`; `troop changes --since 30d` lists item ids")),
        n => Err(format!("`{query}` matches {n} items, name one: {}", found.join(", "))),
    }
}

/// The diff between revisions `from` and `to` of `history` (every revision of
/// one item, oldest first, with content). Defaults: `to` = the latest, `from` =
/// the one before `to`.
pub fn diff_view(history: &[Revision], from: Option<i64>, to: Option<i64>) -> Result<DiffView, String> {
    let last = history.last().ok_or("the item has no revisions")?;
    let find = |n: i64| {
        history
            .iter()
            .find(|r| r.revision == n)
            .ok_or_else(|| format!("`{}` has no revision {n} (it has 1 to {})", last.item, last.revision))
    };
    let to_rev = match to {
        Some(n) => find(n)?,
        None => last,
    };
    let from_rev = match from {
        Some(n) if n >= to_rev.revision => {
            return Err(format!("--from ({n}) must be older than --to ({})", to_rev.revision));
        }
        Some(n) => Some(find(n)?),
        None => history.iter().rev().find(|r| r.revision < to_rev.revision),
    };
    let old = from_rev.and_then(|r| r.content.as_ref());
    let new = to_rev.content.as_ref();
    let summary = crate::security::summarize(&to_rev.technology, &to_rev.name, old, new);
    let label = |r: Option<&Revision>| r.map_or_else(|| "nothing".to_string(), |r| RevisionRef::from(r).label());
    Ok(DiffView {
        item: to_rev.item.clone(),
        technology: to_rev.technology.clone(),
        name: to_rev.name.clone(),
        from: from_rev.map(RevisionRef::from),
        to: RevisionRef::from(to_rev),
        summary,
        diff: canonical::unified_diff(old, new, &label(from_rev), &label(Some(to_rev))),
    })
}

/// Which revisions `troop changes` keeps: by technology (`iam` is every
/// `iam:*`, `iam:role` only roles) and account; an empty list keeps all.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ChangeFilter {
    pub technologies: Vec<String>,
    pub accounts: Vec<String>,
}

impl ChangeFilter {
    /// A filter whose every name means something: each technology is one
    /// troop records or its service part, each account a 12-digit id.
    /// Errors name the bad value, the known ones and the closest.
    pub fn new(technologies: Vec<String>, accounts: Vec<String>) -> Result<ChangeFilter, String> {
        let known = crate::security::technology_filters();
        for t in &technologies {
            crate::known_name("technology", t, &known)?;
        }
        for a in &accounts {
            if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("`{a}` is not an AWS account id (12 digits)"));
            }
        }
        Ok(ChangeFilter { technologies, accounts })
    }

    pub fn keeps(&self, r: &Revision) -> bool {
        let technology = |t: &String| {
            r.technology == *t || r.technology.strip_prefix(t.as_str()).is_some_and(|rest| rest.starts_with(':'))
        };
        (self.technologies.is_empty() || self.technologies.iter().any(technology))
            && (self.accounts.is_empty() || self.accounts.contains(&r.account))
    }
}

/// Who made a change, as people read it (the `who` of a [`Revision`],
/// see `troop_core::monkey::Attribution`): "alice (198.51.100.7)" (the
/// principal's last ARN part and the source address of each CloudTrail
/// event), "pending", "unknown", or "" when never asked.
pub fn who_text(w: Option<&serde_json::Value>) -> String {
    let Some(w) = w else { return String::new() };
    match w["status"].as_str() {
        Some("found") => {
            let mut names: Vec<String> = Vec::new();
            for e in w["events"].as_array().into_iter().flatten() {
                let p = e["principal"].as_str().unwrap_or("?");
                let p = p.rsplit('/').next().unwrap_or(p);
                let n = match e["source_ip"].as_str() {
                    Some(ip) => format!("{p} ({ip})"),
                    None => p.to_string(),
                };
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            names.join(", ")
        }
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn since_out_of_range_is_an_error_not_a_panic() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(parse_since("1h", now), Ok(now - time::Duration::hours(1)));
        for s in ["100000y", "9999999999999d"] {
            let e = parse_since(s, now).unwrap_err();
            assert!(e.contains("before any time troop can represent"), "{s}: {e}");
        }
        assert!(parse_since("yesterday", now).is_err());
    }

    #[test]
    fn change_filter_names_must_mean_something() {
        let ok = |t: &[&str], a: &[&str]| {
            ChangeFilter::new(t.iter().map(|s| s.to_string()).collect(), a.iter().map(|s| s.to_string()).collect())
        };
        assert!(ok(&["iam", "iam:role", "s3:bucket", "ec2", "account:settings"], &["123456789012"]).is_ok());
        let e = ok(&["iam:rol"], &[]).unwrap_err();
        assert!(e.contains("unknown technology `iam:rol`") && e.contains("did you mean `iam:role`?"), "{e}");
        let e = ok(&["IAM"], &[]).unwrap_err();
        assert!(e.contains("did you mean `iam`?"), "{e}");
        assert!(ok(&["cloudformation"], &[]).unwrap_err().contains("known: account, account:settings"));
        assert!(ok(&["lambda", "ecr:repository", "secretsmanager"], &[]).is_ok());
        assert!(ok(&[], &["12345"]).unwrap_err().contains("not an AWS account id"));
    }

    #[test]
    fn change_filter_table() {
        let r = |technology: &str, account: &str| Revision {
            technology: technology.into(),
            account: account.into(),
            ..rev(1, "modified", None)
        };
        let f = |t: &[&str], a: &[&str]| ChangeFilter {
            technologies: t.iter().map(|s| s.to_string()).collect(),
            accounts: a.iter().map(|s| s.to_string()).collect(),
        };
        let cases = [
            (f(&[], &[]), r("iam:role", "1"), true),
            (f(&["iam"], &[]), r("iam:role", "1"), true),
            (f(&["iam"], &[]), r("iam:user", "1"), true),
            (f(&["iam:role"], &[]), r("iam:user", "1"), false),
            (f(&["ia"], &[]), r("iam:role", "1"), false),
            (f(&["s3", "ec2"], &[]), r("ec2:security-group", "1"), true),
            (f(&[], &["2"]), r("iam:role", "1"), false),
            (f(&["iam"], &["1", "2"]), r("iam:role", "2"), true),
            (f(&["iam"], &["1"]), r("s3:bucket", "1"), false),
        ];
        for (filter, revision, keeps) in cases {
            assert_eq!(filter.keeps(&revision), keeps, "{filter:?} {} {}", revision.technology, revision.account);
        }
    }

    fn rev(n: i64, change: &str, content: Option<serde_json::Value>) -> Revision {
        Revision {
            item: "ec2:security-group/1/r/sg-1".into(),
            technology: "ec2:security-group".into(),
            account: "1".into(),
            region: "r".into(),
            name: "web".into(),
            revision: n,
            change: change.into(),
            at: format!("2026-01-0{n}T00:00:00Z"),
            summary: vec![],
            content,
            who: None,
        }
    }

    fn group(ports: &[i32]) -> serde_json::Value {
        let rules: Vec<_> = ports
            .iter()
            .map(|p| json!({"protocol": "tcp", "from_port": p, "to_port": p, "source": {"type": "cidr", "cidr": "0.0.0.0/0"}, "description": null}))
            .collect();
        json!({"group_id": "sg-1", "group_name": "web", "ingress": rules, "egress": [], "tags": {}})
    }

    #[test]
    fn since_table() {
        let now = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap();
        assert_eq!(parse_since("1h", now).unwrap().unix_timestamp(), 1_000_000 - 3600);
        assert_eq!(parse_since(" 7d ", now).unwrap().unix_timestamp(), 1_000_000 - 7 * 86400);
        assert_eq!(parse_since("1970-01-01T00:01:40Z", now).unwrap().unix_timestamp(), 100);
        assert!(parse_since("yesterday", now).unwrap_err().contains("neither a duration"));
    }

    #[test]
    fn diff_view_table() {
        let h =
            vec![rev(1, "created", Some(group(&[]))), rev(2, "modified", Some(group(&[22]))), rev(3, "deleted", None)];
        // (from, to) -> (from rev, to rev, summary)
        type Case = (Option<i64>, Option<i64>, Option<i64>, i64, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            (None, None, Some(2), 3, vec!["security group web deleted"]),
            (None, Some(2), Some(1), 2, vec!["ingress tcp/22 from 0.0.0.0/0 added"]),
            (None, Some(1), None, 1, vec!["security group web created"]),
            (Some(1), Some(2), Some(1), 2, vec!["ingress tcp/22 from 0.0.0.0/0 added"]),
        ];
        for (from, to, want_from, want_to, want_summary) in cases {
            let v = diff_view(&h, from, to).unwrap();
            assert_eq!(v.from.as_ref().map(|r| r.revision), want_from, "{from:?}..{to:?}");
            assert_eq!(v.to.revision, want_to);
            assert_eq!(v.summary, want_summary);
        }
        let v = diff_view(&h, Some(1), Some(2)).unwrap();
        assert!(v.diff.contains("+      \"from_port\": 22,"), "{}", v.diff);
        assert!(v.diff.starts_with("--- revision 1 (created, 2026-01-01T00:00:00Z)"), "{}", v.diff);
        assert!(diff_view(&h, Some(2), Some(2)).unwrap_err().contains("must be older"));
        assert!(diff_view(&h, None, Some(9)).unwrap_err().contains("has no revision 9 (it has 1 to 3)"));
    }
}
