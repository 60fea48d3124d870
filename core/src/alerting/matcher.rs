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

/// A value written as it is when [`Matcher::parse`] reads it back
/// unchanged; otherwise quoted, with `\\`, `\"` and `\n` escaped (as
/// Alertmanager's matchers are).
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.value;
        let plain = !v.starts_with('"') && v.trim() == v && !v.contains(['\\', '\n', ',', '{', '}']);
        if plain {
            return write!(f, "{}{}{}", self.label, self.op.as_str(), v);
        }
        let escaped = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        write!(f, "{}{}\"{escaped}\"", self.label, self.op.as_str())
    }
}

/// A double-quoted value's content (`s` starts with `"`): `\"`, `\\` and
/// `\n` unescaped; an unescaped quote before the end, a missing closing
/// quote or anything after it is an error (Alertmanager's matcher syntax,
/// `pkg/labels/parse.go`).
fn unquote(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s[1..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some(e @ ('"' | '\\')) => out.push(e),
                Some(e) => return Err(format!("`{s}`: unknown escape `\\{e}` (\\\", \\\\ and \\n are)")),
                None => return Err(format!("`{s}`: the closing quote is missing")),
            },
            '"' => {
                let rest: String = chars.collect();
                if !rest.trim().is_empty() {
                    return Err(format!(
                        "`{s}`: `{}` after the closing quote (one matcher per entry; a quote inside a value is written \\\")",
                        rest.trim()
                    ));
                }
                return Ok(out);
            }
            c => out.push(c),
        }
    }
    Err(format!("`{s}`: the closing quote is missing"))
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
        if value.starts_with('"') {
            return Matcher::new(label.trim(), op, &unquote(value)?);
        }
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

    #[test]
    fn quoted_values_unescape_and_round_trip() {
        // (written, the value read)
        let cases = [
            (r#"title="a \"quoted\" word""#, r#"a "quoted" word"#),
            (r#"path="C:\\temp""#, r"C:\temp"),
            (r#"msg="two\nlines""#, "two\nlines"),
            (r#"resource="sg-1""#, "sg-1"),
            (r#"empty="""#, ""),
            (r#"spaced=" padded ""#, " padded "),
        ];
        for (text, value) in cases {
            let m = Matcher::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(m.value, value, "{text}");
            assert_eq!(Matcher::parse(&m.to_string()).unwrap(), m, "{text} written as {m}");
        }
        assert_eq!(Matcher::parse("monkey=certs").unwrap().to_string(), "monkey=certs", "plain values stay plain");
        for (text, want) in [
            (r#"monkey="security" kind="sg""#, "after the closing quote"),
            (r#"monkey="security"#, "closing quote is missing"),
            (r#"monkey="a\qb""#, "unknown escape"),
        ] {
            let e = Matcher::parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
