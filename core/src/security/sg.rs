//! Security groups, pure: canonical rules, human phrasing, the open-ingress audit.

use crate::finding::{Finding, Severity};
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const TECHNOLOGY: &str = "ec2:security-group";

/// Ports that make world-open ingress critical: remote admin and databases.
pub const SENSITIVE_PORTS: &[i32] = &[22, 3389, 3306, 5432, 1433, 1521, 27017, 6379, 9200];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Source {
    Cidr { cidr: String },
    Cidr6 { cidr: String },
    PrefixList { id: String },
    Group { group_id: String, account: Option<String> },
}

/// One flattened rule: one protocol/port range and one source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rule {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub source: Source,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Group {
    pub group_id: String,
    pub group_name: String,
    pub description: String,
    pub vpc_id: Option<String>,
    pub owner_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

/// IANA protocol numbers AWS may return, as names.
pub fn protocol_name(p: &str) -> String {
    match p {
        "-1" | "all" => "all",
        "6" | "tcp" => "tcp",
        "17" | "udp" => "udp",
        "1" | "icmp" => "icmp",
        "58" | "icmpv6" => "icmpv6",
        other => return other.to_lowercase(),
    }
    .to_string()
}

/// Sort and de-duplicate, so AWS's ordering never makes a revision.
pub fn canonical_order(rules: &mut Vec<Rule>) {
    rules.sort();
    rules.dedup();
}

impl Rule {
    fn covers_all_ports(&self) -> bool {
        self.protocol == "all"
            || matches!((self.from_port, self.to_port), (Some(f), Some(t)) if f <= 0 && t >= 65535)
            || (matches!(self.protocol.as_str(), "tcp" | "udp") && self.from_port.is_none())
    }

    fn covers_port(&self, port: i32) -> bool {
        self.covers_all_ports()
            || (matches!(self.protocol.as_str(), "tcp" | "udp")
                && matches!((self.from_port, self.to_port), (Some(f), Some(t)) if f <= port && port <= t))
    }

    /// "tcp/22", "tcp/8000-8080", "all traffic", "icmp".
    pub fn ports(&self) -> String {
        if self.protocol == "all" {
            return "all traffic".into();
        }
        match (self.from_port, self.to_port) {
            _ if self.covers_all_ports() => format!("{}/all", self.protocol),
            (Some(f), Some(t)) if matches!(self.protocol.as_str(), "icmp" | "icmpv6") => {
                if f == -1 {
                    self.protocol.clone()
                } else {
                    format!("{} type {f} code {t}", self.protocol)
                }
            }
            (Some(f), Some(t)) if f == t => format!("{}/{f}", self.protocol),
            (Some(f), Some(t)) => format!("{}/{f}-{t}", self.protocol),
            _ => self.protocol.clone(),
        }
    }

    pub fn source_text(&self) -> String {
        match &self.source {
            Source::Cidr { cidr } | Source::Cidr6 { cidr } => cidr.clone(),
            Source::PrefixList { id } => format!("prefix list {id}"),
            Source::Group { group_id, account: Some(a) } => format!("{group_id} (account {a})"),
            Source::Group { group_id, account: None } => group_id.clone(),
        }
    }

    /// "ingress tcp/22 from 0.0.0.0/0", "egress all traffic to sg-1 (account 111)".
    pub fn describe(&self, egress: bool) -> String {
        if egress {
            format!("egress {} to {}", self.ports(), self.source_text())
        } else {
            format!("ingress {} from {}", self.ports(), self.source_text())
        }
    }

    pub fn from_world(&self) -> bool {
        matches!(&self.source, Source::Cidr { cidr } if cidr == "0.0.0.0/0")
            || matches!(&self.source, Source::Cidr6 { cidr } if cidr == "::/0")
    }

    fn sensitive(&self) -> bool {
        self.covers_all_ports() || SENSITIVE_PORTS.iter().any(|p| self.covers_port(*p))
    }
}

impl Group {
    pub fn snapshot(&self, account: &str, region: &str) -> Snapshot {
        Snapshot::with_id(
            Snapshot::item_id(TECHNOLOGY, account, region, &self.group_id),
            TECHNOLOGY,
            account,
            region,
            &self.group_name,
            &serde_json::to_value(self).unwrap_or_default(),
        )
    }
}

fn rule_key(r: &Rule) -> (String, Option<i32>, Option<i32>, Source) {
    (r.protocol.clone(), r.from_port, r.to_port, r.source.clone())
}

fn rule_changes(out: &mut Vec<String>, old: &[Rule], new: &[Rule], egress: bool) {
    let old_by: BTreeMap<_, &Rule> = old.iter().map(|r| (rule_key(r), r)).collect();
    let new_by: BTreeMap<_, &Rule> = new.iter().map(|r| (rule_key(r), r)).collect();
    for (k, r) in &new_by {
        match old_by.get(k) {
            None => out.push(format!("{} added", r.describe(egress))),
            Some(o) if o.description != r.description => out.push(format!(
                "description of {} changed to {}",
                r.describe(egress),
                r.description.as_deref().map(|d| format!("'{d}'")).unwrap_or_else(|| "none".into())
            )),
            _ => {}
        }
    }
    for (k, r) in &old_by {
        if !new_by.contains_key(k) {
            out.push(format!("{} removed", r.describe(egress)));
        }
    }
}

/// Reviewer sentences for a modified group; keys it does not cover are left
/// to the generic summary.
pub fn summarize(old: &Group, new: &Group) -> (Vec<String>, &'static [&'static str]) {
    let mut out = Vec::new();
    rule_changes(&mut out, &old.ingress, &new.ingress, false);
    rule_changes(&mut out, &old.egress, &new.egress, true);
    super::tag_changes(&mut out, &old.tags, &new.tags);
    (out, &["ingress", "egress", "tags"])
}

/// One finding per group with ingress from 0.0.0.0/0 or ::/0: critical when a
/// world-open rule reaches remote-admin or database ports (or every port).
pub fn audit(g: &Group, account: &str, region: &str) -> Option<Finding> {
    let mut open: Vec<&Rule> = g.ingress.iter().filter(|r| r.from_world()).collect();
    // Lead with the rules that make it critical.
    open.sort_by_key(|r| !r.sensitive());
    if open.is_empty() {
        return None;
    }
    let severity = if open.iter().any(|r| r.sensitive()) { Severity::Critical } else { Severity::Warning };
    let rules: Vec<String> = open.iter().map(|r| r.describe(false)).collect();
    let more = if rules.len() > 1 { format!(" and {} more", rules.len() - 1) } else { String::new() };
    Some(Finding {
        monkey: super::MONKEY.into(),
        kind: "sg-open-ingress".into(),
        severity,
        account: account.into(),
        region: region.into(),
        resource: g.group_id.clone(),
        title: format!("security group {} ({}) allows {}{more}", g.group_id, g.group_name, rules[0]),
        details: serde_json::json!({
            "item": Snapshot::item_id(TECHNOLOGY, account, region, &g.group_id),
            "group_name": g.group_name,
            "vpc_id": g.vpc_id,
            "rule": "sg-open-ingress",
            "open_rules": rules,
        }),
        labels: Default::default(),
        scope: TECHNOLOGY.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: &str, from: Option<i32>, to: Option<i32>, source: Source) -> Rule {
        Rule { protocol: protocol.into(), from_port: from, to_port: to, source, description: None }
    }
    fn cidr(c: &str) -> Source {
        Source::Cidr { cidr: c.into() }
    }

    #[test]
    fn describe_table() {
        let cases = [
            (rule("tcp", Some(22), Some(22), cidr("0.0.0.0/0")), false, "ingress tcp/22 from 0.0.0.0/0"),
            (
                rule("tcp", Some(8000), Some(8080), Source::Cidr6 { cidr: "::/0".into() }),
                false,
                "ingress tcp/8000-8080 from ::/0",
            ),
            (
                rule(
                    "all",
                    None,
                    None,
                    Source::Group { group_id: "sg-123".into(), account: Some("111122223333".into()) },
                ),
                true,
                "egress all traffic to sg-123 (account 111122223333)",
            ),
            (
                rule("udp", Some(0), Some(65535), Source::PrefixList { id: "pl-1".into() }),
                false,
                "ingress udp/all from prefix list pl-1",
            ),
            (rule("icmp", Some(-1), Some(-1), cidr("10.0.0.0/8")), false, "ingress icmp from 10.0.0.0/8"),
            (rule("icmp", Some(8), Some(0), cidr("10.0.0.0/8")), false, "ingress icmp type 8 code 0 from 10.0.0.0/8"),
        ];
        for (r, egress, want) in cases {
            assert_eq!(r.describe(egress), want);
        }
        assert_eq!(protocol_name("6"), "tcp");
        assert_eq!(protocol_name("-1"), "all");
        assert_eq!(protocol_name("50"), "50");
    }

    fn group(ingress: Vec<Rule>) -> Group {
        Group {
            group_id: "sg-1".into(),
            group_name: "web".into(),
            description: "d".into(),
            vpc_id: Some("vpc-1".into()),
            owner_id: Some("111".into()),
            tags: BTreeMap::new(),
            ingress,
            egress: vec![],
        }
    }

    #[test]
    fn audit_table() {
        let cases: Vec<(Vec<Rule>, Option<Severity>)> = vec![
            (vec![], None),
            (vec![rule("tcp", Some(22), Some(22), cidr("10.0.0.0/8"))], None),
            (vec![rule("tcp", Some(22), Some(22), cidr("0.0.0.0/0"))], Some(Severity::Critical)),
            (
                vec![rule("tcp", Some(3389), Some(3389), Source::Cidr6 { cidr: "::/0".into() })],
                Some(Severity::Critical),
            ),
            (vec![rule("tcp", Some(443), Some(443), cidr("0.0.0.0/0"))], Some(Severity::Warning)),
            (vec![rule("tcp", Some(5000), Some(6000), cidr("0.0.0.0/0"))], Some(Severity::Critical)), // spans 5432
            (vec![rule("all", None, None, cidr("0.0.0.0/0"))], Some(Severity::Critical)),
            (vec![rule("udp", Some(53), Some(53), cidr("0.0.0.0/0"))], Some(Severity::Warning)),
            (vec![rule("tcp", Some(0), Some(65535), cidr("0.0.0.0/0"))], Some(Severity::Critical)),
            (vec![rule("tcp", Some(22), Some(22), Source::PrefixList { id: "pl-1".into() })], None),
        ];
        for (rules, want) in cases {
            let got = audit(&group(rules.clone()), "111", "us-east-1").map(|f| f.severity);
            assert_eq!(got, want, "{rules:?}");
        }
        let f = audit(
            &group(vec![
                rule("tcp", Some(443), Some(443), cidr("0.0.0.0/0")),
                rule("tcp", Some(22), Some(22), cidr("0.0.0.0/0")),
            ]),
            "111",
            "us-east-1",
        )
        .unwrap();
        assert_eq!(f.resource, "sg-1");
        assert_eq!(f.title, "security group sg-1 (web) allows ingress tcp/22 from 0.0.0.0/0 and 1 more");
        assert_eq!(f.details["item"], "ec2:security-group/111/us-east-1/sg-1");
    }

    #[test]
    fn summary_table() {
        let ssh = rule("tcp", Some(22), Some(22), cidr("0.0.0.0/0"));
        let mut described = rule("tcp", Some(443), Some(443), cidr("10.0.0.0/8"));
        let egress_sg =
            rule("all", None, None, Source::Group { group_id: "sg-123".into(), account: Some("111122223333".into()) });
        let base = Group { egress: vec![egress_sg.clone()], ingress: vec![described.clone()], ..group(vec![]) };
        let mut opened = base.clone();
        opened.ingress.push(ssh);
        described.description = Some("https from office".into());
        let mut redescribed = base.clone();
        redescribed.ingress = vec![described];
        let mut no_egress = base.clone();
        no_egress.egress.clear();
        let mut tagged = base.clone();
        tagged.tags.insert("team".into(), "web".into());
        let cases: Vec<(&Group, &Group, Vec<&str>)> = vec![
            (&base, &base, vec![]),
            (&base, &opened, vec!["ingress tcp/22 from 0.0.0.0/0 added"]),
            (&opened, &base, vec!["ingress tcp/22 from 0.0.0.0/0 removed"]),
            (&base, &no_egress, vec!["egress all traffic to sg-123 (account 111122223333) removed"]),
            (
                &base,
                &redescribed,
                vec!["description of ingress tcp/443 from 10.0.0.0/8 changed to 'https from office'"],
            ),
            (&base, &tagged, vec!["tag team added (web)"]),
        ];
        for (a, b, want) in cases {
            assert_eq!(summarize(a, b).0, want);
        }
    }

    #[test]
    fn rule_order_never_changes_the_snapshot() {
        let a = rule("tcp", Some(22), Some(22), cidr("0.0.0.0/0"));
        let b = rule("tcp", Some(80), Some(80), cidr("0.0.0.0/0"));
        let mut one = vec![a.clone(), b.clone(), a.clone()];
        let mut two = vec![b, a];
        canonical_order(&mut one);
        canonical_order(&mut two);
        assert_eq!(one, two);
        let s1 = group(one).snapshot("1", "r");
        let s2 = group(two).snapshot("1", "r");
        assert_eq!(s1.hash, s2.hash);
        assert_eq!(s1.item, "ec2:security-group/1/r/sg-1");
        assert_eq!(s1.name, "web");
    }
}
