//! A reader over a span-carrying TOML table that records every problem in a
//! [`Sink`] and keeps going, so one load reports all of them.

use crate::diag::{Sink, codes};
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sp<T> {
    pub v: T,
    pub span: Range<usize>,
}

pub(crate) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn int_value(v: &DeValue<'_>) -> Option<i64> {
    match v {
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok(),
        _ => None,
    }
}

pub(crate) struct Tbl<'a, 'i> {
    map: &'a DeTable<'i>,
    pub span: Range<usize>,
    /// Dotted path for messages, e.g. `monkeys.security`; empty at the root.
    pub path: String,
    known: Vec<&'static str>,
}

/// The entries of a table of string arrays: each key with its strings.
pub type StringsMap = Vec<(Sp<String>, Vec<Sp<String>>)>;

impl<'a, 'i> Tbl<'a, 'i> {
    pub fn new(map: &'a DeTable<'i>, span: Range<usize>, path: String) -> Self {
        Tbl { map, span, path, known: Vec::new() }
    }

    fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) }
    }

    /// Where this table is, for messages.
    pub fn section(&self) -> String {
        if self.path.is_empty() { "the top level".into() } else { format!("[{}]", self.path) }
    }

    pub fn raw(&mut self, key: &'static str) -> Option<&'a Spanned<DeValue<'i>>> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        self.map.get(key)
    }

    fn wrong(&self, sink: &mut Sink, key: &str, v: &Spanned<DeValue>, want: &str) {
        sink.error(
            codes::WRONG_TYPE,
            v.span(),
            format!("`{}` must be {want}, found {}", self.key_path(key), type_name(v.get_ref())),
        );
    }

    pub fn require<T>(&self, sink: &mut Sink, key: &str, v: Option<T>) -> Option<T> {
        if v.is_none() && !self.map.contains_key(key) {
            sink.error(
                codes::MISSING_KEY,
                self.span.clone(),
                format!("{} is missing the required key `{key}`", self.section()),
            );
        }
        v
    }

    pub fn string(&mut self, sink: &mut Sink, key: &'static str) -> Option<Sp<String>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(Sp { v: s.to_string(), span: v.span() }),
            _ => {
                self.wrong(sink, key, v, "a string");
                None
            }
        }
    }

    pub fn boolean(&mut self, sink: &mut Sink, key: &'static str) -> Option<bool> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong(sink, key, v, "true or false");
                None
            }
        }
    }

    pub fn integer(&mut self, sink: &mut Sink, key: &'static str) -> Option<Sp<i64>> {
        let v = self.raw(key)?;
        match int_value(v.get_ref()) {
            Some(i) => Some(Sp { v: i, span: v.span() }),
            None => {
                self.wrong(sink, key, v, "an integer");
                None
            }
        }
    }

    /// A number; integers are accepted where a float is expected.
    pub fn number(&mut self, sink: &mut Sink, key: &'static str) -> Option<Sp<f64>> {
        let v = self.raw(key)?;
        self.number_of(sink, key, v)
    }

    fn number_of(&self, sink: &mut Sink, key: &str, v: &Spanned<DeValue>) -> Option<Sp<f64>> {
        match number_value(v.get_ref()) {
            Some(n) => Some(Sp { v: n, span: v.span() }),
            None => {
                self.wrong(sink, key, v, "a number");
                None
            }
        }
    }

    fn array(&mut self, sink: &mut Sink, key: &'static str) -> Option<&'a [Spanned<DeValue<'i>>]> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Array(a) => Some(a.as_ref()),
            _ => {
                self.wrong(sink, key, v, "an array");
                None
            }
        }
    }

    pub fn strings(&mut self, sink: &mut Sink, key: &'static str) -> Option<Vec<Sp<String>>> {
        let items = self.array(sink, key)?;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::String(s) => out.push(Sp { v: s.to_string(), span: item.span() }),
                other => sink.error(
                    codes::WRONG_TYPE,
                    item.span(),
                    format!("`{}[{i}]` must be a string, found {}", self.key_path(key), type_name(other)),
                ),
            }
        }
        Some(out)
    }

    pub fn integers(&mut self, sink: &mut Sink, key: &'static str) -> Option<Vec<Sp<i64>>> {
        let items = self.array(sink, key)?;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match int_value(item.get_ref()) {
                Some(n) => out.push(Sp { v: n, span: item.span() }),
                None => sink.error(
                    codes::WRONG_TYPE,
                    item.span(),
                    format!("`{}[{i}]` must be an integer, found {}", self.key_path(key), type_name(item.get_ref())),
                ),
            }
        }
        Some(out)
    }

    pub fn table(&mut self, sink: &mut Sink, key: &'static str) -> Option<Tbl<'a, 'i>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(Tbl::new(t, v.span(), self.key_path(key))),
            _ => {
                self.wrong(sink, key, v, "a table");
                None
            }
        }
    }

    /// An array of tables (`[[key]]`).
    pub fn tables(&mut self, sink: &mut Sink, key: &'static str) -> Vec<Tbl<'a, 'i>> {
        let Some(items) = self.array(sink, key) else { return Vec::new() };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::Table(t) => out.push(Tbl::new(t, item.span(), format!("{}[{i}]", self.key_path(key)))),
                other => sink.error(
                    codes::WRONG_TYPE,
                    item.span(),
                    format!("`{}[{i}]` must be a table, found {}", self.key_path(key), type_name(other)),
                ),
            }
        }
        out
    }

    /// Every entry of a free-form table whose values must be strings.
    pub fn string_map(&mut self, sink: &mut Sink, key: &'static str) -> Option<Vec<(Sp<String>, Sp<String>)>> {
        let t = self.table(sink, key)?;
        let mut out = Vec::new();
        for (k, v) in t.map.iter() {
            let ks = Sp { v: k.get_ref().to_string(), span: k.span() };
            match v.get_ref() {
                DeValue::String(s) => out.push((ks, Sp { v: s.to_string(), span: v.span() })),
                other => sink.error(
                    codes::WRONG_TYPE,
                    v.span(),
                    format!("`{}.{}` must be a string, found {}", t.path, ks.v, type_name(other)),
                ),
            }
        }
        Some(out)
    }

    /// Every entry of a free-form table whose values must be arrays of
    /// strings (`[agent.http.user_scopes] prometheus = ["read"]`).
    pub fn strings_map(&mut self, sink: &mut Sink, key: &'static str) -> Option<StringsMap> {
        let t = self.table(sink, key)?;
        let mut out = Vec::new();
        for (k, v) in t.map.iter() {
            let ks = Sp { v: k.get_ref().to_string(), span: k.span() };
            let DeValue::Array(items) = v.get_ref() else {
                sink.error(
                    codes::WRONG_TYPE,
                    v.span(),
                    format!("`{}.{}` must be an array of strings, found {}", t.path, ks.v, type_name(v.get_ref())),
                );
                continue;
            };
            let mut vals = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.get_ref() {
                    DeValue::String(s) => vals.push(Sp { v: s.to_string(), span: item.span() }),
                    other => sink.error(
                        codes::WRONG_TYPE,
                        item.span(),
                        format!("`{}.{}[{i}]` must be a string, found {}", t.path, ks.v, type_name(other)),
                    ),
                }
            }
            out.push((ks, vals));
        }
        Some(out)
    }

    /// The keys of a free-form table, in source order.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<_> = self.map.iter().map(|(k, _)| (k.span().start, k.get_ref().to_string())).collect();
        k.sort();
        k.into_iter().map(|(_, k)| k).collect()
    }

    /// A sub-table under a key only known at run time.
    pub fn table_dyn(&mut self, sink: &mut Sink, key: &str) -> Option<Tbl<'a, 'i>> {
        let v = self.map.get(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(Tbl::new(t, v.span(), format!("{}.\"{key}\"", self.path))),
            _ => {
                self.wrong(sink, key, v, "a table");
                None
            }
        }
    }

    /// A number under a key only known at run time.
    pub fn number_dyn(&mut self, sink: &mut Sink, key: &str) -> Option<Sp<f64>> {
        let v = self.map.get(key)?;
        self.number_of(sink, key, v)
    }

    /// A free-form table: every key is allowed.
    pub fn finish_all_known(self) {}

    /// Report every key that no reader asked for.
    pub fn finish(self, sink: &mut Sink) {
        let mut unknown: Vec<_> =
            self.map.iter().filter(|(k, _)| !self.known.contains(&k.get_ref().as_ref())).collect();
        unknown.sort_by_key(|(k, _)| k.span().start);
        for (k, _) in unknown {
            let mut expected = self.known.clone();
            expected.sort();
            sink.error(
                codes::UNKNOWN_KEY,
                k.span(),
                format!(
                    "unknown key `{}` in {} (expected one of: {})",
                    k.get_ref(),
                    self.section(),
                    expected.join(", ")
                ),
            );
        }
    }
}

/// A float, or an integer read as one.
fn number_value(v: &DeValue) -> Option<f64> {
    match v {
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
        other => int_value(other).map(|i| i as f64),
    }
}
