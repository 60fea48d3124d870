//! Two processes on one store: passes of one monkey never overlap (the
//! monkey's lease is held by one process at a time), so an older view never
//! commits over a newer one: the history never gains a change that did not
//! happen and receivers never hear a false `resolved`. (A pass whose lease
//! lapsed is refused at commit: the store's conformance suite.)

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
async fn a_second_pass_cannot_start_while_a_slow_one_holds_the_monkey() {
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

    // Meanwhile someone opens RDP, and a second scan wants to record it: it
    // cannot start while the slow pass holds the monkey.
    ec2.authorize_security_group_ingress().group_id(&group).ip_permissions(world_ingress(3389)).send().await.unwrap();
    let busy = ws.run(&["scan", "--format", "json"]);
    busy.assert_code(1);
    assert_eq!(busy.json()[0]["status"], "busy", "{}", busy.stdout);
    assert!(
        busy.stderr.contains("another troop process") && busy.stderr.contains("run the scan again"),
        "{}",
        busy.stderr
    );

    // The slow one commits its own (older) view; the next scan sees RDP.
    proxy.release();
    let slow = crate::support::Run::from(slow.await.unwrap().unwrap());
    slow.assert_code(0);
    assert_eq!(slow.json()[0]["status"], "ok", "{}", slow.stdout);
    let next = ws.run(&["scan", "--format", "json"]);
    next.assert_code(0);

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
