//! IAM policy documents: parse what AWS returns (often URL-encoded JSON),
//! normalise every equivalent spelling to one form, describe statements in
//! words, and answer the questions the audits ask.

use serde_json::{Map, Value};

/// Parse a policy document as IAM returns it: JSON, or URL-encoded JSON
/// (GetAccountAuthorizationDetails, GetRolePolicy...). The result is normalised.
pub fn parse(raw: &str) -> Result<Value, String> {
    let text = raw.trim();
    let decoded;
    let text = if text.starts_with('{') {
        text
    } else {
        decoded = percent_decode(text)?;
        decoded.as_str()
    };
    let v: Value = serde_json::from_str(text).map_err(|e| format!("policy document is not JSON: {e}"))?;
    Ok(normalize(&v))
}

/// A policy as an item's content: `Null` when there is none, the
/// normalised document, or, when it does not parse, `{"unparsed": raw,
/// "error": why}` (kept, so a change to it is still a revision).
pub fn content(raw: Option<&str>) -> Value {
    match raw {
        None => Value::Null,
        Some(r) => parse(r).unwrap_or_else(|e| serde_json::json!({ "unparsed": r, "error": e })),
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("truncated %-escape in policy document")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad %-escape `%{hex}` in policy document"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "policy document is not UTF-8".to_string())
}

/// A string or a list of strings (any other JSON kept as is), as a sorted,
/// de-duplicated list.
fn string_list(v: &Value) -> Value {
    match v {
        Value::String(_) => Value::Array(vec![v.clone()]),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.clone();
            items.sort_by_key(crate::canonical::to_string);
            items.dedup();
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// A Principal element in its one spelling: an object of kind → sorted
/// list (`"*"` is `{"AWS": ["*"]}`).
pub(crate) fn principal(v: &Value) -> Value {
    match v {
        // "*" and {"AWS": "*"} grant the same thing: keep one spelling.
        Value::String(s) if s == "*" => serde_json::json!({"AWS": ["*"]}),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), string_list(v))).collect()),
        // Bare principals (outside IAM's grammar, but some services and
        // emulators answer so): a service's name is a Service, the rest AWS.
        Value::String(_) | Value::Array(_) => {
            let mut by_kind = serde_json::Map::new();
            for p in string_list(v).as_array().into_iter().flatten().filter_map(Value::as_str) {
                let kind = if p.ends_with(".amazonaws.com") { "Service" } else { "AWS" };
                by_kind.entry(kind).or_insert_with(|| Value::Array(vec![]));
                if let Some(Value::Array(list)) = by_kind.get_mut(kind) {
                    list.push(Value::String(p.into()));
                }
            }
            Value::Object(by_kind.into_iter().map(|(k, v)| (k, string_list(&v))).collect())
        }
        other => other.clone(),
    }
}

fn condition(v: &Value) -> Value {
    match v {
        Value::Object(ops) => Value::Object(
            ops.iter()
                .map(|(op, keys)| {
                    let keys = match keys {
                        Value::Object(k) => Value::Object(k.iter().map(|(k, v)| (k.clone(), string_list(v))).collect()),
                        other => other.clone(),
                    };
                    (op.clone(), keys)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn statement(s: &Value) -> Value {
    let Value::Object(m) = s else { return s.clone() };
    let mut out = Map::new();
    for (k, v) in m {
        let v = match k.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => string_list(v),
            "Principal" | "NotPrincipal" => principal(v),
            "Condition" => condition(v),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// One spelling for equivalent documents: `Statement` always a list in a
/// canonical order, Action/Resource/Principal values always sorted lists.
pub fn normalize(doc: &Value) -> Value {
    let Value::Object(m) = doc else { return doc.clone() };
    let mut out = m.clone();
    if let Some(st) = m.get("Statement") {
        let mut list: Vec<Value> = match st {
            Value::Array(items) => items.iter().map(statement).collect(),
            one => vec![statement(one)],
        };
        list.sort_by_key(crate::canonical::to_string);
        list.dedup();
        out.insert("Statement".into(), Value::Array(list));
    }
    Value::Object(out)
}

pub fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
        None => vec![],
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => vec![],
    }
}

pub fn is_allow(st: &Value) -> bool {
    st.get("Effect").and_then(Value::as_str) == Some("Allow")
}

pub fn actions(st: &Value) -> Vec<String> {
    strings(st.get("Action"))
}

pub fn resources(st: &Value) -> Vec<String> {
    strings(st.get("Resource"))
}

/// Every principal value of a statement, by type ("AWS", "Service", ...).
pub fn principals(st: &Value) -> Vec<(String, String)> {
    principals_of(st.get("Principal"))
}

fn principals_of(v: Option<&Value>) -> Vec<(String, String)> {
    match v {
        Some(Value::String(s)) => vec![("AWS".into(), s.clone())],
        Some(Value::Object(m)) => {
            m.iter().flat_map(|(k, v)| strings(Some(v)).into_iter().map(move |p| (k.clone(), p))).collect()
        }
        _ => vec![],
    }
}

pub fn has_condition(st: &Value) -> bool {
    st.get("Condition").is_some_and(|c| c.as_object().is_some_and(|m| !m.is_empty()))
}

/// "Allow s3:GetObject, s3:PutObject on arn:aws:s3:::data/*"
pub fn describe(st: &Value) -> String {
    let effect = st.get("Effect").and_then(Value::as_str).unwrap_or("?");
    let acts = actions(st);
    let not_acts = strings(st.get("NotAction"));
    let res = resources(st);
    let not_res = strings(st.get("NotResource"));
    let mut s = effect.to_string();
    if !acts.is_empty() {
        s.push_str(&format!(" {}", acts.join(", ")));
    } else if !not_acts.is_empty() {
        s.push_str(&format!(" every action except {}", not_acts.join(", ")));
    }
    if !res.is_empty() {
        s.push_str(&format!(" on {}", res.join(", ")));
    } else if !not_res.is_empty() {
        s.push_str(&format!(" on every resource except {}", not_res.join(", ")));
    }
    let words = |princ: Vec<(String, String)>| -> Vec<String> {
        princ.into_iter().map(|(t, p)| if t == "AWS" { p } else { format!("{t} {p}") }).collect()
    };
    let princ = principals(st);
    if !princ.is_empty() {
        s.push_str(&format!(" to {}", words(princ).join(", ")));
    }
    let not_princ = principals_of(st.get("NotPrincipal"));
    if !not_princ.is_empty() {
        s.push_str(&format!(" to everyone except {}", words(not_princ).join(", ")));
    }
    if has_condition(st) {
        s.push_str(" (with conditions)");
    }
    s
}

/// The account a principal ARN or bare id refers to ("*" → None).
pub fn principal_account(p: &str) -> Option<String> {
    if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
        return Some(p.to_string());
    }
    let parts: Vec<&str> = p.split(':').collect();
    if parts.len() >= 5 && parts[0] == "arn" {
        let acct = parts[4];
        if acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()) {
            return Some(acct.to_string());
        }
    }
    None
}

/// "statement Allow ... added to {place}" / "... removed from {place}" for
/// each statement of `new` not in `old` and each of `old` not in `new`
/// (compared canonically: key order and list spelling do not count).
pub fn statement_changes(out: &mut Vec<String>, old: &Value, new: &Value, place: &str) {
    let o: Vec<String> = statements(old).iter().map(|s| crate::canonical::to_string(s)).collect();
    let n: Vec<String> = statements(new).iter().map(|s| crate::canonical::to_string(s)).collect();
    for (i, st) in statements(new).into_iter().enumerate() {
        if !o.contains(&n[i]) {
            out.push(format!("statement {} added to {place}", describe(st)));
        }
    }
    for (i, st) in statements(old).into_iter().enumerate() {
        if !n.contains(&o[i]) {
            out.push(format!("statement {} removed from {place}", describe(st)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equivalent_spellings_normalise_to_one_form() {
        let cases = [
            (
                json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}]}),
            ),
            (
                json!({"Statement": [
                    {"Effect": "Deny", "Action": ["b", "a", "a"], "Resource": "*"},
                    {"Effect": "Allow", "Action": "x", "Resource": "*"}]}),
                json!({"Statement": [
                    {"Action": ["x"], "Effect": "Allow", "Resource": ["*"]},
                    {"Resource": ["*"], "Action": ["a", "b"], "Effect": "Deny"}]}),
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]}),
                json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["sts:AssumeRole"]}]}),
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::2:root", "arn:aws:iam::1:root"]}, "Action": "a",
                    "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}}}]}),
                json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:root", "arn:aws:iam::2:root"]}, "Action": ["a"],
                    "Condition": {"StringEquals": {"aws:SourceVpc": ["vpc-1"]}}}]}),
            ),
        ];
        for (a, b) in cases {
            assert_eq!(
                crate::canonical::to_string(&normalize(&a)),
                crate::canonical::to_string(&normalize(&b)),
                "{a} vs {b}"
            );
        }
    }

    #[test]
    fn parses_url_encoded_documents() {
        let raw = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3A%2A%22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Adata%2F%2A%22%7D%7D";
        let doc = parse(raw).unwrap();
        assert_eq!(doc["Statement"][0]["Action"], json!(["s3:*"]));
        assert_eq!(describe(statements(&doc)[0]), "Allow s3:* on arn:aws:s3:::data/*");
        assert_eq!(parse(r#"{"Statement": []}"#).unwrap(), json!({"Statement": []}));
        for bad in ["%7", "%ZZ", "{not json", "%7B%22a%22"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn describe_table() {
        let cases = [
            (json!({"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}), "Allow * on *"),
            (
                json!({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": ["*"]}),
                "Allow every action except iam:* on *",
            ),
            (
                json!({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"], "Principal": {"AWS": ["*"]}}),
                "Allow s3:GetObject on arn:aws:s3:::b/* to *",
            ),
            (
                json!({"Effect": "Allow", "Action": ["sts:AssumeRole"], "Principal": {"Service": ["ec2.amazonaws.com"]}, "Condition": {"Bool": {"x": ["true"]}}}),
                "Allow sts:AssumeRole to Service ec2.amazonaws.com (with conditions)",
            ),
            (
                json!({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"], "NotPrincipal": {"AWS": ["111111111111"]}}),
                "Allow s3:GetObject on arn:aws:s3:::b/* to everyone except 111111111111",
            ),
        ];
        for (st, want) in cases {
            assert_eq!(describe(&st), want);
        }
    }

    #[test]
    fn principal_account_table() {
        let cases = [
            ("arn:aws:iam::999999999999:root", Some("999999999999")),
            ("999999999999", Some("999999999999")),
            ("arn:aws:iam::111122223333:role/x", Some("111122223333")),
            ("*", None),
            ("ec2.amazonaws.com", None),
            ("arn:aws:iam::aws:policy/X", None),
        ];
        for (p, want) in cases {
            assert_eq!(principal_account(p).as_deref(), want, "{p}");
        }
    }
}
