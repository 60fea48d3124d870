//! Benchmark: 100,000 finding events through silences, routing, grouping and
//! dedup (the gateway's pure path), then the same 100,000 again as "still
//! open" (what every later pass sends: dedup must say nothing).
//!
//! cargo run --release -p troop-core --example alert_bench [-- EVENTS]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use troop_core::alerting::{Groups, Input, Matcher, Route, RouteTree, Silence, Timing};
use troop_core::finding::{FindingState, Severity, StoredFinding};

fn finding(i: usize) -> StoredFinding {
    let monkey = ["security", "certs", "limits"][i % 3];
    let severity = [Severity::Info, Severity::Warning, Severity::Critical][(i / 3) % 3];
    let mut labels = BTreeMap::new();
    labels.insert("owner".to_string(), format!("team-{}@example.com", i % 500));
    labels.insert("team".to_string(), format!("team-{}", i % 40));
    StoredFinding {
        fingerprint: format!("{i:032x}"),
        monkey: monkey.into(),
        kind: format!("{monkey}-kind-{}", i % 7),
        severity,
        state: FindingState::Open,
        account: format!("{:012}", 100_000_000_000u64 + (i % 25) as u64),
        region: ["us-east-1", "eu-west-1", "ap-southeast-2"][i % 3].into(),
        resource: format!("resource-{i}"),
        title: format!("finding number {i} needs attention"),
        details: serde_json::json!({"n": i}),
        labels,
        scope: "bench".into(),
        first_seen: "2026-01-01T00:00:00Z".into(),
        last_seen: "2026-01-01T00:00:00Z".into(),
        resolved_at: None,
    }
}

fn tree() -> RouteTree {
    let t = Timing { group_wait: Duration::ZERO, ..Timing::default() };
    let r = |pos: &str, m: &[&str], sinks: &[&str], cont: bool, by: &[&str]| {
        Route::new(
            pos,
            m.iter().map(|m| Matcher::parse(m).unwrap()).collect(),
            sinks.iter().map(|s| s.to_string()).collect(),
            cont,
            by.iter().map(|s| s.to_string()).collect(),
            t,
        )
    };
    RouteTree {
        routes: vec![
            r("0", &["severity=critical"], &["pager"], true, &["account", "monkey"]),
            r("1", &["monkey=certs", "owner=~team-1.*"], &["mail"], false, &["owner"]),
            r("2", &["monkey=limits"], &["ops", "hook"], false, &["account", "region"]),
            r("3", &["monkey=security", "severity!=info"], &["security-mail"], false, &["team", "kind"]),
            r("4", &["team=~team-3[0-9]"], &["hook"], false, &["team"]),
        ],
        default: r("default", &[], &["log"], false, &["monkey", "kind", "owner"]),
        repeat_caps: Default::default(),
    }
}

fn silences() -> Vec<Silence> {
    (0..20)
        .map(|i| Silence {
            id: format!("s{i}"),
            matchers: vec![Matcher::parse(&format!("owner=team-{}@example.com", i * 7)).unwrap()],
            starts_at: 0,
            ends_at: i64::MAX,
            author: "bench".into(),
            reason: "bench".into(),
        })
        .collect()
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    // Findings are made as they arrive (the gateway reads them from the
    // store 10,000 at a time): making them is inside the timings.
    let (tree, silences) = (tree(), silences());
    let rss_before = peak_rss_mib();
    // what making the findings alone costs (inside the timings below)
    let t = Instant::now();
    let mut bytes = 0;
    for i in 0..n {
        bytes += finding(i).title.len();
    }
    let making = t.elapsed();
    let mut groups = Groups::default();

    let t = Instant::now();
    for i in 0..n {
        groups.ingest(&tree, &silences, Input { finding: &finding(i), firing: true }, 1_000);
    }
    groups.apply_silences(&silences, 1_000);
    let first = groups.flush(&tree, 1_000, true);
    let first_took = t.elapsed();
    // the gateway hands notifications to the store and lets them go
    let (first_len, listed) = (first.len(), first.iter().map(|n| n.firing.len()).sum::<usize>());
    drop(first);

    let t = Instant::now();
    for i in 0..n {
        let mut f = finding(i);
        f.last_seen = "2026-01-01T00:01:00Z".into();
        groups.ingest(&tree, &silences, Input { finding: &f, firing: true }, 60_000);
    }
    groups.apply_silences(&silences, 60_000);
    let again = groups.flush(&tree, 60_000, true);
    let again_took = t.elapsed();

    println!("| events | pass | notifications | findings listed | time | events/s |");
    println!("|---:|---|---:|---:|---:|---:|");
    println!(
        "| {n} | first (all new) | {} | {listed} | {:.3} s | {:.0} |",
        first_len,
        first_took.as_secs_f64(),
        n as f64 / first_took.as_secs_f64()
    );
    println!(
        "| {n} | again (all still open) | {} | 0 | {:.3} s | {:.0} |",
        again.len(),
        again_took.as_secs_f64(),
        n as f64 / again_took.as_secs_f64()
    );
    println!("\nmaking the {n} findings alone: {:.3} s ({bytes} title bytes)", making.as_secs_f64());
    println!(
        "{} groups holding {n} findings; peak RSS {:.1} MiB ({:.1} MiB at start)",
        groups.len(),
        peak_rss_mib(),
        rss_before
    );
    assert!(again.is_empty(), "dedup: an unchanged pass notifies nothing");
}
