//! The finding model.
//!
//! A monkey reports [`Finding`]s; the store keeps them as [`StoredFinding`]s with
//! a lifecycle (open → resolved, or silenced) and turns every change of that
//! lifecycle into a [`FindingEvent`] for the alert path.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    /// The severities a filter or threshold takes ("at or above"), as
    /// `--severity`, `--fail-on` and `?severity=` accept them.
    pub const THRESHOLDS: &'static [&'static str] = &["warning", "critical"];

    /// A threshold ([`Self::THRESHOLDS`]); `None` for anything else.
    pub fn parse_threshold(s: &str) -> Option<Self> {
        Self::THRESHOLDS.contains(&s).then(|| Self::parse(s)).flatten()
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingState {
    Open,
    Resolved,
    Silenced,
}

impl FindingState {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingState::Open => "open",
            FindingState::Resolved => "resolved",
            FindingState::Silenced => "silenced",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(FindingState::Open),
            "resolved" => Some(FindingState::Resolved),
            "silenced" => Some(FindingState::Silenced),
            _ => None,
        }
    }
}

/// What a monkey reports in one pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub monkey: String,
    pub kind: String,
    pub severity: Severity,
    pub account: String,
    pub region: String,
    pub resource: String,
    pub title: String,
    pub details: serde_json::Value,
    /// Extra routing labels (owner, threshold, ...). Never part of the fingerprint.
    pub labels: BTreeMap<String, String>,
    /// The coverage unit this finding belongs to (e.g. `ec2:security-group`): a
    /// complete pass over (scope, account, region) that no longer reports the
    /// finding resolves it. See [`crate::monkey::Coverage`].
    pub scope: String,
}

/// Stable identity of a finding: a hash of monkey, kind, account, region and
/// resource. Never built from message text, so rewording a title keeps history.
pub fn fingerprint(monkey: &str, kind: &str, account: &str, region: &str, resource: &str) -> String {
    let mut h = Sha256::new();
    for part in [monkey, kind, account, region, resource] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

impl Finding {
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.monkey, &self.kind, &self.account, &self.region, &self.resource)
    }
}

/// A finding as the store keeps it; the JSON shape of `troop findings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFinding {
    pub fingerprint: String,
    pub monkey: String,
    pub kind: String,
    pub severity: Severity,
    pub state: FindingState,
    pub account: String,
    pub region: String,
    pub resource: String,
    pub title: String,
    pub details: serde_json::Value,
    pub labels: BTreeMap<String, String>,
    pub scope: String,
    pub first_seen: String,
    pub last_seen: String,
    pub resolved_at: Option<String>,
}

/// The labels every finding carries for routing and silences, besides its own.
pub const ROUTING_LABELS: &[&str] = &["monkey", "kind", "severity", "account", "region", "resource"];

impl StoredFinding {
    /// One of [`Self::routing_labels`], without building them all.
    pub fn routing_label(&self, name: &str) -> Option<&str> {
        match name {
            "monkey" => Some(&self.monkey),
            "kind" => Some(&self.kind),
            "severity" => Some(self.severity.as_str()),
            "account" => Some(&self.account),
            "region" => Some(&self.region),
            "resource" => Some(&self.resource),
            other => self.labels.get(other).map(String::as_str),
        }
    }

    /// Labels used for routing: the fixed ones ([`ROUTING_LABELS`]) plus the finding's own.
    pub fn routing_labels(&self) -> BTreeMap<String, String> {
        let mut l = self.labels.clone();
        l.insert("monkey".into(), self.monkey.clone());
        l.insert("kind".into(), self.kind.clone());
        l.insert("severity".into(), self.severity.to_string());
        l.insert("account".into(), self.account.clone());
        l.insert("region".into(), self.region.clone());
        l.insert("resource".into(), self.resource.clone());
        l
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Opened,
    StillOpen,
    SeverityUp,
    SeverityDown,
    Resolved,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::StillOpen => "still_open",
            EventKind::SeverityUp => "severity_up",
            EventKind::SeverityDown => "severity_down",
            EventKind::Resolved => "resolved",
        }
    }
}

/// One change in a finding's lifecycle, produced by a committed pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingEvent {
    pub event: EventKind,
    pub at: String,
    pub finding: StoredFinding,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_field_separated() {
        let a = fingerprint("security", "sg-open-ingress", "111", "us-east-1", "sg-1");
        assert_eq!(a, fingerprint("security", "sg-open-ingress", "111", "us-east-1", "sg-1"));
        assert_eq!(a.len(), 32);
        // Moving a character between fields must change the fingerprint.
        let cases = [
            ("securit", "ysg-open-ingress", "111", "us-east-1", "sg-1"),
            ("security", "sg-open-ingress", "11", "1us-east-1", "sg-1"),
            ("security", "sg-open-ingress", "111", "us-east-1", "sg-2"),
            ("certs", "sg-open-ingress", "111", "us-east-1", "sg-1"),
        ];
        for (m, k, acc, r, res) in cases {
            assert_ne!(a, fingerprint(m, k, acc, r, res), "{m}/{k}/{acc}/{r}/{res}");
        }
    }

    #[test]
    fn title_and_labels_do_not_change_identity() {
        let mut f = Finding {
            monkey: "security".into(),
            kind: "k".into(),
            severity: Severity::Warning,
            account: "1".into(),
            region: "r".into(),
            resource: "x".into(),
            title: "one wording".into(),
            details: serde_json::json!({}),
            labels: BTreeMap::new(),
            scope: "s".into(),
        };
        let before = f.fingerprint();
        f.title = "another wording".into();
        f.severity = Severity::Critical;
        f.labels.insert("owner".into(), "x@example.com".into());
        assert_eq!(before, f.fingerprint());
    }

    #[test]
    fn severity_orders_and_round_trips() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
        for s in [Severity::Info, Severity::Warning, Severity::Critical] {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        assert_eq!(Severity::parse("fatal"), None);
    }
}
