//! A scan killed with SIGKILL in the middle of committing its pass leaves the
//! store as it was; the next scan is complete and correct.

use crate::support::{Moto, Workspace, await_stderr_line};
use std::process::Stdio;
use std::time::Duration;
use time::OffsetDateTime;
use troop_core::store::{FindingFilter, Store};

#[tokio::test]
async fn sigkill_mid_commit_leaves_no_half_written_pass() {
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    let vpc = ec2.create_vpc().cidr_block("10.2.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    for i in 0..25 {
        let g = ec2
            .create_security_group()
            .group_name(format!("g{i}"))
            .description("x")
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap()
            .group_id
            .unwrap();
        if i % 5 == 0 {
            ec2.authorize_security_group_ingress()
                .group_id(&g)
                .ip_permissions(crate::support::world_ingress(22))
                .send()
                .await
                .unwrap();
        }
    }
    let mut expected_groups = 0;
    for region in ["us-east-1", "eu-west-1"] {
        expected_groups +=
            moto.ec2(region).await.describe_security_groups().send().await.unwrap().security_groups().len();
    }
    let ws = Workspace::for_emulator(&moto.endpoint, "");

    // Hold the pass transaction open (all rows written, not committed) and kill -9 there.
    let marker = ws.kill_mid_commit(&["scan"]);
    assert!(marker.contains("holding its transaction open"));

    {
        let db = ws.db();
        assert_eq!(db.integrity_check().unwrap(), "ok");
        assert!(db.pass_counts().unwrap().is_empty(), "the killed pass is visible");
        assert!(db.revisions_since(OffsetDateTime::UNIX_EPOCH).unwrap().is_empty());
        assert!(db.findings(&FindingFilter::default()).unwrap().is_empty());
    }

    ws.run(&["scan"]).assert_code(0);
    let db = ws.db();
    let revs = db.revisions_since(OffsetDateTime::UNIX_EPOCH).unwrap();
    // every group (the account's posture is not recorded in test workspaces)
    assert_eq!(revs.len(), expected_groups);
    assert!(revs.iter().all(|r| r.technology == "ec2:security-group"));
    assert!(revs.iter().all(|r| r.revision == 1 && r.change == "created"));
    assert_eq!(db.findings(&FindingFilter::default()).unwrap().len(), 5);
    // one pass per shard: the account (IAM, S3, settings) and its two regions
    assert_eq!(db.pass_counts().unwrap().get("ok"), Some(&3));
}

/// Writers queue: a pass of another monkey that commits while a long commit
/// holds the store waits for it (beyond the old 10 s) instead of failing
/// with "database is locked".
#[tokio::test]
async fn a_commit_waits_for_another_monkeys_long_commit() {
    let moto = Moto::start();
    let ws = Workspace::for_emulator(&moto.endpoint, "");
    let cfg = std::fs::read_to_string(ws.file("troop.toml")).unwrap();
    let cfg = cfg.replace(
        "[monkeys.limits]\nenabled = false\n",
        "[monkeys.limits]\nservices = [\"vpc\"]\nservice_quotas = false\n",
    );
    ws.write_config(&cfg);
    let mut held = ws
        .cmd(&["scan", "--monkey", "security"])
        .env("TROOP_FAULT_COMMIT_DELAY_MS", "18000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    await_stderr_line(&mut held, "fault injection", Duration::from_secs(60), "the scan never reached its commit");
    let started = std::time::Instant::now();
    let limits = ws.run(&["scan", "--monkey", "limits"]);
    limits.assert_code(0);
    assert!(started.elapsed() >= Duration::from_secs(12), "it did not wait: {:?}", started.elapsed());
    assert!(held.wait().unwrap().success());
    // each monkey's shards: the account and its two regions
    assert_eq!(ws.db().pass_counts().unwrap().get("ok"), Some(&6));
}
