//! VPC network ACLs: their numbered rules, in each direction, from
//! `DescribeNetworkAcls`
//! (<https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html>).
//!
//! A network ACL evaluates its rules in rule-number order and the first
//! rule that matches a packet decides. An administration port (22, 3389) is
//! open to the world when, for traffic from any address, the first rule
//! covering the port is an allow: an allow from `0.0.0.0/0` (or `::/0`)
//! before any deny from all of that family. A deny of part of the internet
//! does not close the port to the rest of it. Security Hub's EC2.21.

use super::sg::protocol_name;
use super::{AuditContext, item_finding};
use crate::finding::{Finding, Severity};
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

pub const TECHNOLOGY: &str = "ec2:network-acl";
/// The remote-administration ports EC2.21 names.
pub const ADMIN_PORTS: &[(i32, &str)] = &[(22, "SSH"), (3389, "RDP")];

pub mod rules {
    pub const ADMIN_OPEN: &str = "ec2-network-acl-admin-open";
}

/// One rule (an entry) of a network ACL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Entry {
    pub rule_number: i32,
    /// `tcp`, `udp`, `icmp`, `all`, or the protocol number.
    pub protocol: String,
    /// `allow` or `deny`.
    pub rule_action: String,
    /// An IPv4 or IPv6 CIDR.
    pub cidr: String,
    /// The port range, for TCP and UDP.
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
}

impl Entry {
    fn covers_tcp_port(&self, port: i32) -> bool {
        match self.protocol.as_str() {
            "all" => true,
            "tcp" => match (self.from_port, self.to_port) {
                (Some(a), Some(b)) => a <= port && port <= b,
                _ => true,
            },
            _ => false,
        }
    }

    /// "allow tcp/22 from 0.0.0.0/0 (rule 100)".
    fn describe(&self, direction: &str) -> String {
        let ports = match (self.protocol.as_str(), self.from_port, self.to_port) {
            ("all", _, _) => "all traffic".to_string(),
            (p, Some(a), Some(b)) if a == b => format!("{p}/{a}"),
            (p, Some(a), Some(b)) => format!("{p}/{a}-{b}"),
            (p, _, _) => p.to_string(),
        };
        let way = if direction == "ingress" { "from" } else { "to" };
        format!("{} {ports} {way} {} (rule {})", self.rule_action, self.cidr, self.rule_number)
    }
}

/// One network ACL, named by its id, in its region.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkAcl {
    pub network_acl_id: String,
    pub vpc_id: String,
    pub is_default: bool,
    /// By rule number (the catch-all `*` rule, 32767, is left out: AWS
    /// adds it to every ACL and it cannot change).
    pub ingress: Vec<Entry>,
    pub egress: Vec<Entry>,
    /// Associated subnet ids, sorted.
    pub subnets: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

impl NetworkAcl {
    pub fn snapshot(&self, account: &str, region: &str) -> Snapshot {
        let content = serde_json::to_value(self).unwrap_or_default();
        Snapshot::new(TECHNOLOGY, account, region, &self.network_acl_id, &content)
    }
}

/// The catch-all rule number AWS gives every ACL.
pub const CATCH_ALL: i32 = 32767;

/// The ingress rule that opens `port` to every address of a family, if the
/// first rule from all of that family covering it allows.
fn world_open(entries: &[Entry], port: i32) -> Option<&Entry> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.rule_number);
    for world in ["0.0.0.0/0", "::/0"] {
        let first = sorted.iter().find(|e| e.cidr == world && e.covers_tcp_port(port));
        if let Some(e) = first.filter(|e| e.rule_action == "allow") {
            return Some(e);
        }
    }
    None
}

fn entry_changes(out: &mut Vec<String>, old: &[Entry], new: &[Entry], direction: &str) {
    for e in new.iter().filter(|e| !old.contains(e)) {
        out.push(format!("{direction} {} added", e.describe(direction)));
    }
    for e in old.iter().filter(|e| !new.contains(e)) {
        out.push(format!("{direction} {} removed", e.describe(direction)));
    }
}

pub fn summarize(old: &NetworkAcl, new: &NetworkAcl) -> (Vec<String>, &'static [&'static str]) {
    let mut out = Vec::new();
    entry_changes(&mut out, &old.ingress, &new.ingress, "ingress");
    entry_changes(&mut out, &old.egress, &new.egress, "egress");
    for s in new.subnets.iter().filter(|s| !old.subnets.contains(s)) {
        out.push(format!("associated with subnet {s}"));
    }
    for s in old.subnets.iter().filter(|s| !new.subnets.contains(s)) {
        out.push(format!("no longer associated with subnet {s}"));
    }
    super::tag_changes(&mut out, &old.tags, &new.tags);
    (out, &["ingress", "egress", "subnets", "tags"])
}

/// `ec2-network-acl-admin-open` (warning): SSH or RDP open to the world, as
/// the module explains. Security groups still stand behind a network ACL,
/// so this is a missing layer, not an open door by itself.
pub fn audit(n: &NetworkAcl, region: &str, ctx: &AuditContext) -> Vec<Finding> {
    let reasons: Vec<String> = ADMIN_PORTS
        .iter()
        .filter_map(|(port, name)| {
            world_open(&n.ingress, *port)
                .map(|e| format!("{name} (tcp/{port}) open to the world: {}", e.describe("ingress")))
        })
        .collect();
    if reasons.is_empty() {
        return vec![];
    }
    let at = (ctx.account.as_str(), region, n.network_acl_id.as_str());
    vec![item_finding(TECHNOLOGY, rules::ADMIN_OPEN, Severity::Warning, at, &reasons, json!({"vpc_id": n.vpc_id}))]
}

/// A rule as the API gives it: protocol number, `allow`/`deny`.
pub fn entry(rule_number: i32, protocol: &str, action: &str, cidr: &str, ports: Option<(i32, i32)>) -> Entry {
    let protocol = protocol_name(protocol);
    let ports = if protocol == "tcp" || protocol == "udp" { ports } else { None };
    Entry {
        rule_number,
        protocol,
        rule_action: action.to_lowercase(),
        cidr: cidr.into(),
        from_port: ports.map(|p| p.0),
        to_port: ports.map(|p| p.1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(ingress: Vec<Entry>) -> NetworkAcl {
        NetworkAcl { network_acl_id: "acl-1".into(), vpc_id: "vpc-1".into(), ingress, ..Default::default() }
    }

    #[test]
    fn first_match_decides_table() {
        let ctx = AuditContext { account: "1".into(), ..Default::default() };
        let allow_all = entry(100, "-1", "allow", "0.0.0.0/0", None);
        let cases: Vec<(&str, Vec<Entry>, Vec<&str>)> = vec![
            ("nothing allowed", vec![], vec![]),
            ("the default ACL: all traffic from anywhere", vec![allow_all.clone()], vec!["SSH", "RDP"]),
            ("allow 22 only", vec![entry(100, "6", "allow", "0.0.0.0/0", Some((22, 22)))], vec!["SSH"]),
            ("a range covering 3389", vec![entry(100, "6", "allow", "0.0.0.0/0", Some((1024, 65535)))], vec!["RDP"]),
            ("IPv6 world", vec![entry(101, "6", "allow", "::/0", Some((22, 22)))], vec!["SSH"]),
            (
                "a lower-numbered deny closes it",
                vec![allow_all.clone(), entry(50, "6", "deny", "0.0.0.0/0", Some((0, 1023)))],
                vec!["RDP"],
            ),
            (
                "a higher-numbered deny comes too late",
                vec![allow_all.clone(), entry(200, "6", "deny", "0.0.0.0/0", Some((22, 22)))],
                vec!["SSH", "RDP"],
            ),
            (
                "denying part of the internet leaves the rest open",
                vec![allow_all, entry(50, "6", "deny", "198.51.100.0/24", Some((22, 22)))],
                vec!["SSH", "RDP"],
            ),
            ("allowed from one network only", vec![entry(100, "-1", "allow", "10.0.0.0/8", None)], vec![]),
            ("UDP is not SSH", vec![entry(100, "17", "allow", "0.0.0.0/0", Some((22, 22)))], vec![]),
        ];
        for (name, ingress, want) in cases {
            let f = audit(&acl(ingress), "us-east-1", &ctx);
            let got: Vec<&str> = ADMIN_PORTS
                .iter()
                .filter(|(_, n)| f.iter().any(|f| f.title.contains(&format!("{n} (tcp/"))))
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(got, want, "{name}");
            assert!(f.iter().all(|f| f.kind == rules::ADMIN_OPEN && f.severity == Severity::Warning));
        }
    }

    #[test]
    fn summary_table() {
        let a = acl(vec![entry(100, "6", "allow", "10.0.0.0/8", Some((443, 443)))]);
        let mut b = acl(vec![entry(90, "6", "allow", "0.0.0.0/0", Some((22, 22)))]);
        b.subnets = vec!["subnet-1".into()];
        assert_eq!(
            summarize(&a, &b).0,
            [
                "ingress allow tcp/22 from 0.0.0.0/0 (rule 90) added",
                "ingress allow tcp/443 from 10.0.0.0/8 (rule 100) removed",
                "associated with subnet subnet-1",
            ]
        );
    }
}
