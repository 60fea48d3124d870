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
    fn array_order_matters_and_strings_are_escaped() {
        assert_ne!(hash(&json!([1, 2])), hash(&json!([2, 1])));
        assert_eq!(to_string(&json!({"k\"": "v\n"})), r#"{"k\"":"v\n"}"#);
    }
}
