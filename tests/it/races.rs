//! Two processes on one store: passes of one monkey commit in order. A pass
//! that began earlier but commits later is refused (its view is older), so
//! the history never gains a change that did not happen and receivers never
//! hear a false `resolved`.

use crate::support::proxy::FaultProxy;
use crate::support::{Moto, Workspace, wait_for, world_ingress, world_open_group};
use serde_json::Value;
use std::time::Duration;

fn lines(ws: &Workspace, file: &str) -> Vec<Value> {
    std::fs::read_to_string(ws.file(file))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

// The proxy runs on this runtime while the test blocks on troop processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_older_pass_that_commits_last_is_refused() {
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    let group = world_open_group(&ec2, "10.9.0.0/16", "web", 443).await;
    let ws = Workspace::for_emulator(&moto.endpoint, "");
    ws.run(&["scan"]).assert_code(0);

    // The slow process reads through a proxy that holds its S3 listing:
    // by then it has listed the security groups (tcp/443 only).
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let cfg = std::fs::read_to_string(ws.file("troop.toml")).unwrap();
    let slow_cfg = cfg.replace(&moto.endpoint, &proxy.endpoint).replace("events.jsonl", "slow-events.jsonl");
    std::fs::write(ws.file("slow.toml"), slow_cfg).unwrap();
    proxy.hold(&["ListBuckets"]);
    let mut slow = ws.cmd(&["-c", "slow.toml", "scan", "--format", "json"]);
    let slow = tokio::task::spawn_blocking(move || slow.output());
    wait_for(Duration::from_secs(60), || (proxy.arrived("ListBuckets") > 0).then_some(()))
        .expect("the slow scan reached its S3 listing");
    assert!(proxy.arrived("Action=DescribeSecurityGroups") > 0);

    // Meanwhile someone opens RDP, and a second scan records it.
    ec2.authorize_security_group_ingress().group_id(&group).ip_permissions(world_ingress(3389)).send().await.unwrap();
    let fast = ws.run(&["scan", "--format", "json"]);
    fast.assert_code(0);
    assert_eq!(fast.json()[0]["status"], "ok");

    // The slow one, begun first, now finishes last: refused, nothing written.
    proxy.release();
    let slow = crate::support::Run::from(slow.await.unwrap().unwrap());
    slow.assert_code(1);
    assert_eq!(slow.json()[0]["status"], "superseded", "{}", slow.stdout);
    assert!(slow.stderr.contains("not stored") && slow.stderr.contains("newer pass"), "{}", slow.stderr);

    let changes = ws.run(&["changes", "--since", "1h", "--format", "json"]);
    changes.assert_code(0);
    let sentences: Vec<String> = changes
        .json()
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["summary"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()))
        .collect();
    assert!(sentences.iter().any(|s| s.contains("tcp/3389") && s.contains("added")), "{sentences:?}");
    assert!(!sentences.iter().any(|s| s.contains("removed")), "a change that never happened: {sentences:?}");
    let open = ws.run(&["findings", "--format", "json"]);
    assert!(open.stdout.contains("3389"), "the open port's finding stays open: {}", open.stdout);
    // Receivers heard no `resolved` and no second `first`.
    let reasons: Vec<String> = lines(&ws, "events.jsonl")
        .iter()
        .chain(lines(&ws, "slow-events.jsonl").iter())
        .map(|n| n["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(!reasons.iter().any(|r| r == "resolved"), "{reasons:?}");
    assert_eq!(reasons.iter().filter(|r| *r == "first").count(), 1, "{reasons:?}");
    assert_eq!(ws.db().integrity_check().unwrap(), "ok");
}
