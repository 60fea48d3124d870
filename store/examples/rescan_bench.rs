//! Benchmark: a security pass over N stored items (default 100,000) of which 1%
//! changed: canonicalising every snapshot, comparing hashes with the store,
//! writing the changed revisions with their summaries, in one transaction —
//! on SQLite and on PostgreSQL (a throw-away local cluster with the server's
//! default durability), side by side in one run.
//!
//!     cargo run --release -p troop-store --example rescan_bench -- [N] [--backend sqlite|postgres]
//!
//! Each phase runs in a child process so the peak RSS it reports (VmHWM) is
//! that phase's own: `setup` stores N items, `rescan` is the measured pass.

mod common;

use common::{group, peak_rss_mib};
use std::time::Instant;
use time::OffsetDateTime;
use troop_core::monkey::{Coverage, Report};
use troop_core::store::PassMeta;

fn phase(kind: &str, url: &str, n: usize) {
    let store = troop_store::open(url, None).expect("open store");
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
    let lease = store.begin_pass("security", "bench", now, now, &|_| false, None).unwrap();
    let out = store
        .commit_pass(
            &PassMeta { monkey: "security".into(), started_at: now, round: now, finished_at: now, lease },
            &report,
        )
        .unwrap();
    let committed = t1.elapsed();
    println!(
        "{{\"backend\":\"{}\",\"phase\":\"{kind}\",\"items\":{},\"revisions_written\":{},\"build_s\":{:.3},\"commit_s\":{:.3},\"total_s\":{:.3},\"peak_rss_mib\":{:.1}}}",
        url.split(':').next().unwrap_or_default(),
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
    if args.len() == 5 && args[1] == "--phase" {
        return phase(&args[2], &args[3], args[4].parse().expect("N"));
    }
    let mut n = 100_000usize;
    let mut backends = vec!["sqlite", "postgres"];
    let mut rest = args[1..].iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--backend" => {
                backends = vec![if rest.next().map(String::as_str) == Some("postgres") { "postgres" } else { "sqlite" }]
            }
            v => n = v.parse().expect("N"),
        }
    }
    for backend in backends {
        let dir = std::env::temp_dir().join(format!("troop-rescan-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cluster;
        let url = if backend == "postgres" {
            // the server's default durability (fsync on), as SQLite's WAL is durable
            cluster = troop_store::testing::PgCluster::start_with(&[]).expect("a PostgreSQL cluster");
            cluster.fresh_db().unwrap()
        } else {
            format!("sqlite://{}", dir.join("bench.db").display())
        };
        for kind in ["setup", "rescan", "unchanged"] {
            let out =
                std::process::Command::new(&args[0]).args(["--phase", kind, &url, &n.to_string()]).output().unwrap();
            print!("{}", String::from_utf8_lossy(&out.stdout));
            if !out.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&out.stderr));
                std::process::exit(1);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
