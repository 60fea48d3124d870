//! What the store benchmarks share: a realistic security group and the
//! process's peak RSS.

use troop_core::security::sg::{Group, Rule, Source};

/// The parts of this process's resident set now (`RssAnon`, `RssFile`,
/// `RssShmem`), MiB.
#[allow(dead_code)]
pub fn rss_parts_mib() -> (f64, f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (get("RssAnon:"), get("RssFile:"), get("RssShmem:"))
}

/// This process's peak resident set (VmHWM), MiB.
#[allow(dead_code)]
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// A security group as big as a typical real one (~1 KB canonical).
pub fn group(i: usize, changed: bool) -> Group {
    let mut ingress: Vec<Rule> = (0..6)
        .map(|r| Rule {
            protocol: "tcp".into(),
            from_port: Some(1000 + r),
            to_port: Some(1000 + r),
            source: Source::Cidr { cidr: format!("10.{}.{}.0/24", i % 250, r) },
            description: Some(format!("service {r} of group {i}")),
        })
        .collect();
    if changed {
        ingress.push(Rule {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            source: Source::Cidr { cidr: "0.0.0.0/0".into() },
            description: None,
        });
    }
    Group {
        group_id: format!("sg-{i:017x}"),
        group_name: format!("group-{i}"),
        description: "benchmark group".into(),
        vpc_id: Some(format!("vpc-{:08x}", i / 100)),
        owner_id: Some("123456789012".into()),
        tags: [("team".to_string(), format!("team-{}", i % 40))].into(),
        ingress,
        egress: vec![Rule {
            protocol: "all".into(),
            from_port: None,
            to_port: None,
            source: Source::Cidr { cidr: "0.0.0.0/0".into() },
            description: None,
        }],
    }
}
