//! Benchmark: one security pass over A simulated accounts of N items each
//! (default 1,000 × 1,000), through the engine, committed per shard (one
//! account each), into SQLite. Memory must be bounded by the shards in
//! flight, not by the estate.
//!
//!     cargo run --release -p troop-store --example shards_bench -- [A...] [--items N]
//!
//! For each A (default `100 1000`), two phases run, each in a child process
//! so the peak RSS it reports (VmHWM) is its own: `first` (every item new)
//! and `rescan` (1% of every account changed, one finding per changed item).
//! `TROOP_BENCH_READ_MS` (default 0) is how long a shard's read waits, as
//! on AWS; `TROOP_BENCH_PARALLEL` (default 8) how many are read at once.

mod common;

use async_trait::async_trait;
use common::{group, peak_rss_mib, rss_parts_mib};
use std::sync::Arc;
use std::time::{Duration, Instant};
use troop_core::Engine;
use troop_core::clock::SystemClock;
use troop_core::finding::{Finding, Severity};
use troop_core::metrics::Metrics;
use troop_core::monkey::{Coverage, Monkey, MonkeyError, NoProgress, PassContext, Report, Shard};
use troop_core::shutdown::Shutdown;

/// Shards as the security monkey reads them, one account each, in flight
/// as many at once as `[aws] concurrency` (8 by default) allows.
struct Estate {
    accounts: usize,
    items: usize,
    changed: bool,
}

#[async_trait]
impl Monkey for Estate {
    fn name(&self) -> &'static str {
        "security"
    }

    async fn shards(&self, _: &PassContext) -> Result<Vec<Shard>, MonkeyError> {
        Ok((0..self.accounts).map(|a| Shard::account("security", &format!("{:012}", 100_000_000_000 + a))).collect())
    }

    fn parallel_shards(&self) -> usize {
        // TROOP_BENCH_PARALLEL: to see what reading shards at once costs
        std::env::var("TROOP_BENCH_PARALLEL").ok().and_then(|v| v.parse().ok()).unwrap_or(8)
    }

    async fn run(&self, _: &PassContext, shard: &Shard) -> Result<Report, MonkeyError> {
        // A shard's read against AWS is I/O-bound: a few paginated calls of
        // ~50 ms each (TROOP_BENCH_READ_MS, e.g. 250; default 0: instant reads).
        let read_ms = std::env::var("TROOP_BENCH_READ_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(read_ms)).await;
        let account = shard.account.clone().unwrap_or_default();
        let mut report = Report {
            coverage: vec![Coverage {
                scope: "ec2:security-group".into(),
                account: account.clone(),
                region: "us-east-1".into(),
            }],
            ..Default::default()
        };
        for i in 0..self.items {
            let changed = self.changed && i % 100 == 0;
            let g = group(i, changed);
            if changed {
                report.findings.push(Finding {
                    monkey: "security".into(),
                    kind: "sg-open-ingress".into(),
                    severity: Severity::Critical,
                    account: account.clone(),
                    region: "us-east-1".into(),
                    resource: g.group_id.clone(),
                    title: format!("{} open to the world on tcp/22", g.group_id),
                    details: serde_json::json!({"item": format!("ec2:security-group/{account}/us-east-1/{}", g.group_id)}),
                    labels: Default::default(),
                    scope: "ec2:security-group".into(),
                });
            }
            report.snapshots.push(g.snapshot(&account, "us-east-1"));
        }
        Ok(report)
    }
}

fn phase(kind: &str, db: &str, accounts: usize, items: usize) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = Arc::new(troop_store::SqliteStore::open(db).expect("open store"));
    let engine = Engine::new(store, Arc::new(Metrics::default()), Arc::new(SystemClock), Arc::new(NoProgress));
    let monkey = Arc::new(Estate { accounts, items, changed: kind == "rescan" });
    let t0 = Instant::now();
    let s = rt.block_on(engine.run_pass(monkey, Duration::from_secs(3600), Shutdown::never(), Duration::ZERO));
    assert!(s.status.is_ok(), "{:?}", s.status);
    let (anon, file, shmem) = rss_parts_mib();
    println!(
        "{{\"phase\":\"{kind}\",\"accounts\":{accounts},\"items\":{},\"revisions_written\":{},\"total_s\":{:.2},\"peak_rss_mib\":{:.1},\"rss_anon_file_shmem_mib\":[{anon:.1},{file:.1},{shmem:.1}]}}",
        s.items_seen,
        s.revisions_written,
        t0.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 6 && args[1] == "--phase" {
        return phase(&args[2], &args[3], args[4].parse().expect("A"), args[5].parse().expect("N"));
    }
    let mut items = 1000usize;
    let mut sizes = Vec::new();
    let mut rest = args[1..].iter();
    while let Some(a) = rest.next() {
        if a == "--items" {
            items = rest.next().and_then(|v| v.parse().ok()).expect("--items N");
        } else {
            sizes.push(a.parse::<usize>().expect("accounts"));
        }
    }
    if sizes.is_empty() {
        sizes = vec![100, 1000];
    }
    for accounts in sizes {
        let dir = std::env::temp_dir().join(format!("troop-shards-bench-{}-{accounts}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("bench.db");
        let db = db.to_str().unwrap();
        for kind in ["first", "rescan"] {
            let out = std::process::Command::new(&args[0])
                .args(["--phase", kind, db, &accounts.to_string(), &items.to_string()])
                .output()
                .unwrap();
            print!("{}", String::from_utf8_lossy(&out.stdout));
            if !out.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&out.stderr));
                std::process::exit(1);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
