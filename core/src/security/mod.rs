//! Security configuration, pure: the canonical model of every technology the
//! security monkey records, its normalisation, the reviewer-facing diff
//! sentences and the audits. No IO: the monkey converts SDK types into these
//! models; the store asks [`summarize`] for the sentences of each revision.

pub mod access;
pub mod account;
pub mod cloudtrail;
pub mod ecr;
pub mod elbv2;
pub mod exposure;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod nacl;
pub mod policy;
pub mod s3;
pub mod secretsmanager;
pub mod sg;
pub mod shares;
pub mod sns;
pub mod sqs;

use serde_json::Value;
use std::collections::BTreeMap;

pub const MONKEY: &str = "security";

/// Reviewer sentences for a change of a canonical model, and the top-level
/// keys they covered.
pub type Summary = (Vec<String>, &'static [&'static str]);

/// One security technology, as the pure side knows it: its name (SPEC's
/// `technology`), what a reviewer calls one of its items, and its reviewer
/// sentences. Registered in [`REGISTRY`], one line each.
#[derive(Debug, Clone, Copy)]
pub struct Technology {
    /// `ec2:security-group`, `iam:role`, ...: `service:kind`.
    pub name: &'static str,
    /// "security group": the noun of "security group web created".
    pub label: &'static str,
    /// The sentences for a change between two revisions of its canonical
    /// model, and the top-level keys they covered (the rest get generic
    /// per-key sentences). Content that does not parse as the model gets
    /// none here: see [`summarize`].
    pub summarize: fn(&Value, &Value) -> Summary,
}

/// Every technology the security monkey records: the one list (filters,
/// labels, sentences, docs, the fuzzers' inputs).
pub const REGISTRY: &[Technology] = &[
    Technology { name: sg::TECHNOLOGY, label: "security group", summarize: |o, n| with(o, n, sg::summarize) },
    Technology { name: iam::ROLE, label: "role", summarize: |o, n| with(o, n, iam::summarize_role) },
    Technology { name: iam::USER, label: "user", summarize: |o, n| with(o, n, iam::summarize_user) },
    Technology { name: iam::GROUP, label: "group", summarize: |o, n| with(o, n, iam::summarize_group) },
    Technology { name: iam::POLICY, label: "managed policy", summarize: |o, n| with(o, n, iam::summarize_policy) },
    Technology { name: s3::TECHNOLOGY, label: "bucket", summarize: |o, n| with(o, n, s3::summarize) },
    Technology { name: kms::TECHNOLOGY, label: "key", summarize: |o, n| with(o, n, kms::summarize) },
    Technology { name: sqs::TECHNOLOGY, label: "queue", summarize: |o, n| with(o, n, sqs::summarize) },
    Technology { name: sns::TECHNOLOGY, label: "topic", summarize: |o, n| with(o, n, sns::summarize) },
    Technology { name: lambda::TECHNOLOGY, label: "function", summarize: |o, n| with(o, n, lambda::summarize) },
    Technology { name: ecr::TECHNOLOGY, label: "repository", summarize: |o, n| with(o, n, ecr::summarize) },
    Technology {
        name: secretsmanager::TECHNOLOGY,
        label: "secret",
        summarize: |o, n| with(o, n, secretsmanager::summarize),
    },
    Technology { name: cloudtrail::TECHNOLOGY, label: "trail", summarize: |o, n| with(o, n, cloudtrail::summarize) },
    Technology { name: elbv2::TECHNOLOGY, label: "listener", summarize: |o, n| with(o, n, elbv2::summarize) },
    Technology { name: shares::EBS_SNAPSHOT, label: "snapshot", summarize: |o, n| with(o, n, shares::summarize) },
    Technology { name: shares::IMAGE, label: "image", summarize: |o, n| with(o, n, shares::summarize) },
    Technology { name: shares::RDS_SNAPSHOT, label: "DB snapshot", summarize: |o, n| with(o, n, shares::summarize) },
    Technology { name: nacl::TECHNOLOGY, label: "network ACL", summarize: |o, n| with(o, n, nacl::summarize) },
    Technology {
        name: account::TECHNOLOGY,
        label: "account settings",
        summarize: |o, n| with(o, n, account::summarize),
    },
];

/// Every technology's name, in [`REGISTRY`] order.
pub const TECHNOLOGIES: &[&str] = &{
    let mut names = [""; REGISTRY.len()];
    let mut i = 0;
    while i < REGISTRY.len() {
        names[i] = REGISTRY[i].name;
        i += 1;
    }
    names
};

/// The technology named `name`.
pub fn technology(name: &str) -> Option<&'static Technology> {
    REGISTRY.iter().find(|t| t.name == name)
}

/// The names a `--technology` filter accepts: every technology and every
/// service part of one (`iam` for every `iam:*`).
pub fn technology_filters() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = TECHNOLOGIES.to_vec();
    out.extend(TECHNOLOGIES.iter().filter_map(|t| t.split_once(':').map(|(service, _)| service)));
    out.sort();
    out.dedup();
    out
}

/// What the audits need beyond the item itself.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    /// The account the item lives in.
    pub account: String,
    /// Accounts trusted besides the item's own (config `[aws] known_accounts`
    /// and every configured account).
    pub known_accounts: Vec<String>,
    /// The account's own settings, when they could be read; `None` means
    /// unknown, and audits then assume nothing is blocked account-wide.
    pub account_settings: Option<account::Settings>,
}

/// A finding about one item of `technology`: titled "<label> <name>:
/// <reasons joined by "; ">", with `details` holding the item id, the
/// technology, the rule (= `kind`), the reasons and `extra`'s keys.
pub fn item_finding(
    technology: &str,
    kind: &str,
    severity: crate::Severity,
    (account, region, name): (&str, &str, &str),
    reasons: &[String],
    extra: Value,
) -> crate::Finding {
    let mut details = serde_json::json!({
        "item": crate::monkey::Snapshot::item_id(technology, account, region, name),
        "technology": technology,
        "rule": kind,
        "reasons": reasons,
    });
    if let (Some(d), Value::Object(more)) = (details.as_object_mut(), extra) {
        d.extend(more);
    }
    crate::Finding {
        monkey: MONKEY.into(),
        kind: kind.into(),
        severity,
        account: account.into(),
        region: region.into(),
        resource: name.into(),
        title: format!("{} {name}: {}", label(technology), reasons.join("; ")),
        details,
        labels: Default::default(),
        scope: technology.into(),
    }
}

pub(crate) fn tag_changes(out: &mut Vec<String>, old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) {
    for (k, v) in new {
        match old.get(k) {
            None => out.push(format!("tag {k} added ({v})")),
            Some(o) if o != v => out.push(format!("tag {k} changed from {o} to {v}")),
            _ => {}
        }
    }
    for k in old.keys().filter(|k| !new.contains_key(*k)) {
        out.push(format!("tag {k} removed"));
    }
}

fn label(name: &str) -> &str {
    technology(name).map_or(name, |t| t.label)
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Null => "none".into(),
        other => crate::canonical::to_string(other),
    };
    if s.chars().count() > 80 { format!("{}…", s.chars().take(80).collect::<String>()) } else { s }
}

/// Sentences for every top-level key that changed and that the technology's
/// own summary did not cover.
fn generic(out: &mut Vec<String>, old: &Value, new: &Value, covered: &[&str]) {
    let empty = serde_json::Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        if covered.contains(&k.as_str()) {
            continue;
        }
        let (a, b) = (o.get(k).unwrap_or(&Value::Null), n.get(k).unwrap_or(&Value::Null));
        if a != b {
            out.push(format!("{k} changed from {} to {}", short(a), short(b)));
        }
    }
}

fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Option<T> {
    serde_json::from_value(v.clone()).ok()
}

/// Run a technology's summary when both sides parse as its model; otherwise
/// leave everything to the generic per-key sentences.
fn with<T: serde::de::DeserializeOwned>(
    o: &Value,
    n: &Value,
    f: impl Fn(&T, &T) -> (Vec<String>, &'static [&'static str]),
) -> (Vec<String>, &'static [&'static str]) {
    match (typed::<T>(o), typed::<T>(n)) {
        (Some(a), Some(b)) => f(&a, &b),
        _ => (vec![], &[]),
    }
}

/// Reviewer sentences for one revision: created, deleted, or what changed
/// ("ingress tcp/22 from 0.0.0.0/0 added").
pub fn summarize(technology: &str, name: &str, old: Option<&Value>, new: Option<&Value>) -> Vec<String> {
    let what = label(technology);
    match (old, new) {
        (None, None) => vec![],
        (None, Some(_)) => vec![format!("{what} {name} created")],
        (Some(_), None) => vec![format!("{what} {name} deleted")],
        (Some(o), Some(n)) => {
            let (mut out, covered): (Vec<String>, &[&str]) = match self::technology(technology) {
                Some(t) => (t.summarize)(o, n),
                None => (vec![], &[]),
            };
            generic(&mut out, o, n, covered);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_technology_is_registered_once() {
        let mut names: Vec<&str> = TECHNOLOGIES.to_vec();
        assert_eq!(names.len(), REGISTRY.len());
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len(), "a name registered twice");
        for t in REGISTRY {
            assert!(t.name.split_once(':').is_some_and(|(s, k)| !s.is_empty() && !k.is_empty()), "{}", t.name);
            assert_eq!(technology(t.name).map(|f| f.name), Some(t.name));
        }
    }

    #[test]
    fn created_deleted_and_uncovered_keys() {
        assert_eq!(summarize(sg::TECHNOLOGY, "web", None, Some(&json!({}))), ["security group web created"]);
        assert_eq!(summarize(iam::ROLE, "app", Some(&json!({})), None), ["role app deleted"]);
        let a = json!({"group_id": "sg-1", "description": "old", "ingress": [], "egress": []});
        let b = json!({"group_id": "sg-1", "description": "new", "ingress": [], "egress": []});
        assert_eq!(
            summarize(sg::TECHNOLOGY, "web", Some(&a), Some(&b)),
            [r#"description changed from "old" to "new""#]
        );
        assert_eq!(
            summarize("x:unknown", "n", Some(&json!({"a": 1})), Some(&json!({"a": 2}))),
            ["a changed from 1 to 2"]
        );
        // content that does not fit the model still gets sentences, never silence
        let odd = json!({"ingress": "not a list"});
        assert_eq!(summarize(sg::TECHNOLOGY, "web", Some(&a), Some(&odd)).len(), 4);
    }
}
