//! Benchmark: a security pass over N stored items (default 100,000) of which 1%
//! changed: canonicalising every snapshot, comparing hashes with the store,
//! writing the changed revisions with their summaries, in one transaction.
//!
//!     cargo run --release -p troop-store --example rescan_bench -- [N]
//!
//! Each phase runs in a child process so the peak RSS it reports (VmHWM) is
//! that phase's own: `setup` stores N items, `rescan` is the measured pass.

use std::time::Instant;
use time::OffsetDateTime;
use troop_core::monkey::{Coverage, Report};
use troop_core::security::sg::{Group, Rule, Source};
use troop_core::store::{PassMeta, Store};

fn peak_rss_mib() -> f64 {
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
fn group(i: usize, changed: bool) -> Group {
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

fn phase(kind: &str, db: &str, n: usize) {
    let store = troop_store::SqliteStore::open(db).expect("open store");
    let t0 = Instant::now();
    let snapshots: Vec<_> =
        (0..n).map(|i| group(i, kind != "setup" && i % 100 == 0).snapshot("123456789012", "us-east-1")).collect();
    let built = t0.elapsed();
    let report = Report {
        snapshots,
        coverage: vec![Coverage {
            scope: "ec2:security-group".into(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
        }],
        ..Default::default()
    };
    let now = OffsetDateTime::now_utc();
    let t1 = Instant::now();
    let lease = store.begin_pass("security", "bench", now, now, &|_| false).unwrap();
    let out = store
        .commit_pass(&PassMeta { monkey: "security".into(), started_at: now, finished_at: now, lease }, &report)
        .unwrap();
    let committed = t1.elapsed();
    println!(
        "{{\"phase\":\"{kind}\",\"items\":{},\"revisions_written\":{},\"build_s\":{:.3},\"commit_s\":{:.3},\"total_s\":{:.3},\"peak_rss_mib\":{:.1}}}",
        out.items_seen,
        out.revisions_written,
        built.as_secs_f64(),
        committed.as_secs_f64(),
        t0.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 {
        return phase(&args[1], &args[2], args[3].parse().expect("N"));
    }
    let n: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("troop-rescan-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("bench.db");
    let db = db.to_str().unwrap();
    for kind in ["setup", "rescan", "rescan-unchanged"] {
        let kind_arg = if kind == "rescan-unchanged" { "unchanged" } else { kind };
        let out = std::process::Command::new(&args[0]).args([kind_arg, db, &n.to_string()]).output().unwrap();
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
