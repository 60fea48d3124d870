//! Properties of the normaliser, canonical form and diff that must hold for
//! any input. The cargo-fuzz targets in `fuzz/` drive these with generated
//! input; the tests below run them on fixed seeds in every test run.
//! Each function panics when a property is violated.

use crate::canonical;
use crate::security::{self, access, policy};
use serde_json::Value;

/// Every technology, and one troop does not know.
fn technologies() -> Vec<&'static str> {
    security::TECHNOLOGIES.iter().copied().chain(["x:other"]).collect()
}

/// Anything `policy::parse` accepts is normalised: normalising again changes
/// nothing, the canonical text parses back to the same document, and every
/// statement can be described.
pub fn policy_document(input: &str) {
    let Ok(doc) = policy::parse(input) else { return };
    assert_eq!(policy::normalize(&doc), doc, "normalize is not idempotent for {input:?}");
    let text = canonical::to_string(&doc);
    let back: Value = serde_json::from_str(&text).expect("canonical text parses");
    assert_eq!(back, doc);
    for st in policy::statements(&doc) {
        let _ = policy::describe(st);
        let _ = policy::principals(st);
    }
    // The evaluation reads anything, and a Deny of everything to everyone
    // leaves no way in.
    let _ = access::allows(&doc, "iam:PassRole", "*");
    let _ = access::grants(&doc, "*");
    if let Value::Object(mut m) = doc {
        let deny = serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"});
        let mut list = policy::statements(&Value::Object(m.clone())).into_iter().cloned().collect::<Vec<_>>();
        list.push(deny);
        m.insert("Statement".into(), Value::Array(list));
        let denied = Value::Object(m);
        assert!(access::grants(&denied, "*").is_empty(), "a Deny of everything left a way in: {input:?}");
        assert!(access::allows(&denied, "iam:PassRole", "*").is_none(), "{input:?}");
    }
}

/// Canonical text and pretty text parse back to the value; the hash depends
/// on the value only.
pub fn canonical_form(input: &str) {
    let Ok(v) = serde_json::from_str::<Value>(input) else { return };
    let text = canonical::to_string(&v);
    let back: Value = serde_json::from_str(&text).expect("canonical text parses");
    assert_eq!(back, v);
    assert_eq!(canonical::hash(&back), canonical::hash(&v));
    let pretty: Value = serde_json::from_str(&canonical::to_pretty(&v)).expect("pretty text parses");
    assert_eq!(pretty, v);
}

/// Summaries and diffs never panic, and say nothing when nothing changed.
pub fn diff_pair(a: &str, b: &str) {
    let (Ok(a), Ok(b)) = (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)) else { return };
    for t in technologies() {
        assert!(security::summarize(t, "x", Some(&a), Some(&a)).is_empty(), "{t}: a change reported for {a}");
        let _ = security::summarize(t, "x", Some(&a), Some(&b));
        let _ = security::summarize(t, "x", None, Some(&b));
        let _ = security::summarize(t, "x", Some(&a), None);
    }
    assert!(canonical::unified_diff(Some(&a), Some(&a), "a", "a").is_empty());
    if a != b {
        assert!(!canonical::unified_diff(Some(&a), Some(&b), "a", "b").is_empty(), "{a} vs {b}");
    }
}

/// Split fuzz bytes into two strings (at the first 0xff, else in the middle).
pub fn split(data: &[u8]) -> (String, String) {
    let at = data.iter().position(|b| *b == 0xff).unwrap_or(data.len() / 2);
    let (a, b) = data.split_at(at);
    let b = b.strip_prefix(&[0xff]).unwrap_or(b);
    (String::from_utf8_lossy(a).into_owned(), String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds of the fuzz corpus (fuzz/seeds), run on every test run.
    const SEEDS: &[&str] = &[
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":["b","a","a"],"Condition":{"Bool":{"k":true}}},{"Effect":"Deny","NotAction":"x"}]}"#,
        "%7B%22Statement%22%3A%5B%5D%7D",
        r#"{"Statement":[{"Principal":{"AWS":["arn:aws:iam::1:root",7,null]},"Action":{"x":1}}]}"#,
        r#"{"group_id":"sg-1","ingress":[{"protocol":"tcp","from_port":22,"to_port":22,"source":{"type":"cidr6","cidr":"::/0"},"description":null}],"egress":[],"tags":{"a":"b"}}"#,
        r#"{"group_id":"sg-1","ingress":[{"protocol":"all","from_port":null,"to_port":null,"source":{"type":"group","group_id":"sg-2","account":"111"},"description":"x"}],"egress":[{"protocol":"tcp","from_port":0,"to_port":65535,"source":{"type":"prefix-list","id":"pl-1"},"description":null}]}"#,
        r#"{"trust_policy":{"Statement":[{"Effect":"Allow","Principal":{"AWS":"999999999999"}}]},"attached_policies":["arn:aws:iam::aws:policy/AdministratorAccess"],"inline_policies":{"p":{"Statement":[]}}}"#,
        r#"{"acl":[{"grantee":"AllUsers","permission":"READ"}],"public_access_block":{"BlockPublicAcls":false},"policy":null}"#,
        r#"{"access_keys":[{"created":"2026-01-01T00:00:00Z","status":"Active"}],"groups":["g"],"mfa_active":false}"#,
        "[1, 2.5, -0, 1e300, \"\\u0000\\u001f\\\"\", true, null, {\"\": {}}]",
        "\"just a string\"",
        "{not json",
        // found by the fuzzer: an integer past u64 that JSON parsers read as a float
        "99599999999992999999",
        "",
    ];

    #[test]
    fn properties_hold_on_the_seeds() {
        for a in SEEDS {
            policy_document(a);
            canonical_form(a);
            for b in SEEDS {
                diff_pair(a, b);
            }
        }
    }

    #[test]
    fn split_table() {
        assert_eq!(split(b"ab\xffcd"), ("ab".to_string(), "cd".to_string()));
        assert_eq!(split(b"abcd"), ("ab".to_string(), "cd".to_string()));
        assert_eq!(split(b""), (String::new(), String::new()));
    }
}
