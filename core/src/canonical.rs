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

/// Append `s` as a JSON string literal (the escaping serde_json uses).
fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
        Value::String(s) => write_str(s, out),
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
    hash_str(&to_string(value))
}

/// Hex SHA-256 of text that is already canonical.
pub fn hash_str(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
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
        // escaping matches serde_json's, so canonical text always parses back
        for s in ["plain", "quote\" back\\slash", "ctl \u{1} \u{8} \u{c} \t \r", "ünïcødé ☃", ""] {
            let v = json!({ s: s });
            let text = to_string(&v);
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v, "{text}");
            assert_eq!(text, serde_json::to_string(&v).unwrap());
        }
    }
}
