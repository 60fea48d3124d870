//! Benchmark: the web UI's render time over a store of N security groups
//! (default 100,000) of which F (default 10,000) are open to the world, so
//! F open findings (docs/benchmarks.md "Web UI").
//!
//!     cargo build --release --bin troop --example ui_bench
//!     target/release/examples/ui_bench [N [F [REQUESTS]]]
//!
//! Seeds a SQLite store in a temp dir through the store's own commit (two
//! passes: every group, then F of them opened, so each has revisions 1 and
//! 2 and a finding), starts `troop run` (the release binary beside this
//! example) on it with every monkey off, and times REQUESTS (default 20)
//! GETs of each page from the first byte sent to the last byte read,
//! one at a time: p50 and max. Prints a Markdown table.

#[path = "../store/examples/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use troop_core::monkey::{Coverage, Report};
use troop_core::store::PassMeta;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

fn pass(store: &dyn troop_core::store::Backend, n: usize, open: usize) {
    let groups: Vec<_> = (0..n).map(|i| common::group(i, i < open)).collect();
    let report = Report {
        snapshots: groups.iter().map(|g| g.snapshot(ACCOUNT, REGION)).collect(),
        findings: groups.iter().filter_map(|g| troop_core::security::sg::audit(g, ACCOUNT, REGION)).collect(),
        coverage: vec![Coverage { scope: "ec2:security-group".into(), account: ACCOUNT.into(), region: REGION.into() }],
        ..Default::default()
    };
    let now = OffsetDateTime::now_utc();
    let lease = store.begin_pass("security", "bench", now, now, &|_| false, None).unwrap();
    let meta = PassMeta { monkey: "security".into(), started_at: now, round: now, finished_at: now, lease };
    store.commit_pass(&meta, &report).unwrap();
}

/// One GET, timed to the last byte; (status, bytes, time).
fn get(addr: &str, path: &str) -> (u16, usize, Duration) {
    let t = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&buf);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, buf.len(), took)
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let n = args.first().copied().unwrap_or(100_000);
    let open = args.get(1).copied().unwrap_or(10_000);
    let requests = args.get(2).copied().unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("troop.db");
    let t = Instant::now();
    {
        let store = troop_store::open(&format!("sqlite://{}", db.display()), None).unwrap();
        pass(&*store, n, 0);
        pass(&*store, n, open);
    }
    eprintln!("seeded {n} groups, {open} open findings in {:.1} s", t.elapsed().as_secs_f64());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    std::fs::write(
        dir.path().join("troop.toml"),
        format!(
            "[agent]\nstore = \"sqlite://troop.db\"\nlisten = \"{addr}\"\n\
             [monkeys.security]\nenabled = false\n[monkeys.certs]\nenabled = false\n[monkeys.limits]\nenabled = false\n"
        ),
    )
    .unwrap();
    let troop = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("troop");
    let mut child = std::process::Command::new(&troop)
        .args(["-c", "troop.toml", "run"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (build it: cargo build --release --bin troop)", troop.display()));
    for _ in 0..300 {
        if std::net::TcpStream::connect(&addr).is_ok() && get(&addr, "/healthz").0 == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let item = format!("ec2%3Asecurity-group%2F{ACCOUNT}%2F{REGION}%2Fsg-{:017x}", 7);
    let pages = [
        ("overview", "/".to_string()),
        ("findings, filtered", format!("/findings?account={ACCOUNT}&severity=critical&q=group-7")),
        ("findings, all open, page 50", "/findings?page=50".to_string()),
        ("item (2 revisions, diff)", format!("/items/{item}")),
        ("changes, last hour", "/changes?since=1h".to_string()),
    ];
    println!("| page ({n} items, {open} open findings) | p50 | max | status | bytes |");
    println!("|---|---:|---:|---:|---:|");
    for (name, path) in &pages {
        get(&addr, path); // warm
        let mut times = Vec::new();
        let (mut status, mut bytes) = (0, 0);
        for _ in 0..requests {
            let (s, b, t) = get(&addr, path);
            (status, bytes) = (s, b);
            times.push(t.as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.0} ms | {:.0} ms | {status} | {bytes} |",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
