//! Label matchers, as Alertmanager writes them: `name=value`, `name!=value`,
//! `name=~regex`, `name!~regex`. A missing label matches as the empty string;
//! regexes match the whole value.

use regex_lite::Regex;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Re => "=~",
            Op::NotRe => "!~",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub label: String,
    pub op: Op,
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        (&self.label, self.op, &self.value) == (&o.label, o.op, &o.value)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.label, self.op.as_str(), self.value)
    }
}

fn valid_label(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

impl Matcher {
    pub fn new(label: &str, op: Op, value: &str) -> Result<Matcher, String> {
        if !valid_label(label) {
            return Err(format!("\"{label}\" is not a label name (letters, digits and _, not starting with a digit)"));
        }
        let re = match op {
            Op::Re | Op::NotRe => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("`{value}` is not a regular expression: {e}"))?,
            ),
            Op::Eq | Op::Ne => None,
        };
        Ok(Matcher { label: label.to_string(), op, value: value.to_string(), re })
    }

    /// `label=value`, `label!=value`, `label=~re` or `label!~re`; spaces
    /// around the operator and double quotes around the value are allowed.
    pub fn parse(s: &str) -> Result<Matcher, String> {
        let s = s.trim();
        let at = s
            .find(['=', '!'])
            .ok_or_else(|| format!("`{s}` is not a matcher (like monkey=certs, severity=~warning|critical)"))?;
        let (label, rest) = s.split_at(at);
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (Op::Re, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (Op::NotRe, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (Op::Ne, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (Op::Eq, v)
        } else {
            return Err(format!("`{s}` is not a matcher (operators: =, !=, =~, !~)"));
        };
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        Matcher::new(label.trim(), op, value)
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.label).map(String::as_str).unwrap_or("");
        match (self.op, &self.re) {
            (Op::Eq, _) => v == self.value,
            (Op::Ne, _) => v != self.value,
            (Op::Re, Some(re)) => re.is_match(v),
            (Op::NotRe, Some(re)) => !re.is_match(v),
            (Op::Re | Op::NotRe, None) => unreachable!("regex matchers are built with their regex"),
        }
    }
}

/// Every matcher matches (an empty list matches everything).
pub fn all_match(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn matching_table() {
        let l = labels(&[("monkey", "certs"), ("severity", "warning"), ("owner", "shop-team@example.com")]);
        let cases = [
            ("monkey=certs", true),
            ("monkey = certs", true),
            ("monkey=\"certs\"", true),
            ("monkey=limits", false),
            ("monkey!=limits", true),
            ("monkey!=certs", false),
            ("severity=~warning|critical", true),
            ("severity=~warn", false), // anchored: the whole value
            ("severity!~info", true),
            ("owner=~.*@example\\.com", true),
            ("team=", true), // missing label = ""
            ("team!=", false),
            ("team=~.+", false),
        ];
        for (m, want) in cases {
            assert_eq!(Matcher::parse(m).unwrap().matches(&l), want, "{m}");
        }
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        for (m, want) in [
            ("monkey", "is not a matcher"),
            ("=certs", "is not a label name"),
            ("1abc=x", "is not a label name"),
            ("severity=~(warning", "not a regular expression"),
            ("a!b", "operators"),
        ] {
            let e = Matcher::parse(m).unwrap_err();
            assert!(e.contains(want), "{m}: {e}");
        }
        assert_eq!(Matcher::parse(" severity =~ warning|critical ").unwrap().to_string(), "severity=~warning|critical");
    }
}
