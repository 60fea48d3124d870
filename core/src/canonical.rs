//! Canonical JSON: object keys sorted, no insignificant whitespace. Two values
//! that are equal as JSON always produce the same bytes, whatever features
//! `serde_json` was built with, so the content hash of an item is stable.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Serialise `value` canonically (keys sorted at every level).
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Canonical form, indented two spaces per level: what reviewers diff.
pub fn to_pretty(value: &Value) -> String {
    let mut out = String::new();
    pretty(value, 0, &mut out);
    out.push('\n');
    out
}

fn pretty(value: &Value, depth: usize, out: &mut String) {
    let pad = |d: usize| "  ".repeat(d);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push_str(": ");
                pretty(&map[*k], depth + 1, out);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, v) in items.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                pretty(v, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push(']');
        }
        other => write(other, out),
    }
}

/// Unified diff (3 lines of context) between two canonical documents;
/// `None` stands for "did not exist". Empty when they are equal.
pub fn unified_diff(old: Option<&Value>, new: Option<&Value>, old_label: &str, new_label: &str) -> String {
    let a = old.map(to_pretty).unwrap_or_default();
    let b = new.map(to_pretty).unwrap_or_default();
    if a == b {
        return String::new();
    }
    similar::TextDiff::from_lines(&a, &b).unified_diff().context_radius(3).header(old_label, new_label).to_string()
}

/// Hex SHA-256 of the canonical form.
pub fn hash(value: &Value) -> String {
    hex::encode(Sha256::digest(to_string(value).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_matter() {
        let cases = [
            (json!({"b": 1, "a": 2}), json!({"a": 2, "b": 1})),
            (
                json!({"x": {"z": [1, {"q": 1, "p": 2}], "y": null}}),
                json!({"x": {"y": null, "z": [1, {"p": 2, "q": 1}]}}),
            ),
        ];
        for (a, b) in cases {
            assert_eq!(to_string(&a), to_string(&b));
            assert_eq!(hash(&a), hash(&b));
        }
    }

    #[test]
    fn pretty_and_unified_diff() {
        let a = json!({"b": [1, 2], "a": {}});
        assert_eq!(to_pretty(&a), "{\n  \"a\": {},\n  \"b\": [\n    1,\n    2\n  ]\n}\n");
        let b = json!({"a": {}, "b": [1, 3]});
        let d = unified_diff(Some(&a), Some(&b), "rev 1", "rev 2");
        assert!(d.starts_with("--- rev 1\n+++ rev 2\n@@"), "{d}");
        assert!(d.contains("\n-    2\n+    3\n"), "{d}");
        assert_eq!(unified_diff(Some(&a), Some(&a), "x", "y"), "");
        assert!(unified_diff(None, Some(&a), "none", "rev 1").contains("+  \"a\": {},"));
    }

    #[test]
    fn array_order_matters_and_strings_are_escaped() {
        assert_ne!(hash(&json!([1, 2])), hash(&json!([2, 1])));
        assert_eq!(to_string(&json!({"k\"": "v\n"})), r#"{"k\"":"v\n"}"#);
    }
}
