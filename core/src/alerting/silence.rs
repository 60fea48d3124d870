//! Silences: matchers with a time window, an author and a reason. A finding
//! an active silence matches is shown `silenced` and notifies nobody; when
//! the silence ends while the finding still fires, it is notified again.

use super::Millis;
use super::matcher::{Matcher, all_match};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub author: String,
    pub reason: String,
}

impl Silence {
    pub fn active(&self, now: Millis) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    pub fn silences(&self, labels: &BTreeMap<String, String>, now: Millis) -> bool {
        self.active(now) && all_match(&self.matchers, labels)
    }
}

/// The first active silence matching `labels`.
pub fn silenced_by<'a>(silences: &'a [Silence], labels: &BTreeMap<String, String>, now: Millis) -> Option<&'a Silence> {
    silences.iter().find(|s| s.silences(labels, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_matchers() {
        let s = Silence {
            id: "s1".into(),
            matchers: vec![Matcher::parse("monkey=certs").unwrap(), Matcher::parse("owner=~shop.*").unwrap()],
            starts_at: 100,
            ends_at: 200,
            author: "ana".into(),
            reason: "renewal booked".into(),
        };
        let l: BTreeMap<String, String> =
            [("monkey", "certs"), ("owner", "shop-team")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut other = l.clone();
        other.insert("owner".into(), "payments".into());
        for (labels, now, want) in
            [(&l, 99, false), (&l, 100, true), (&l, 199, true), (&l, 200, false), (&other, 150, false)]
        {
            assert_eq!(s.silences(labels, now), want, "{labels:?} at {now}");
        }
        assert_eq!(silenced_by(std::slice::from_ref(&s), &l, 150).map(|s| s.id.as_str()), Some("s1"));
    }
}
