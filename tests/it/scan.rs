use crate::support::{Backend, Moto, Workspace, world_ingress};
use serde_json::Value;
use time::OffsetDateTime;

/// A VPC with a group `name`; returns (vpc id, group id).
async fn seed_group(ec2: &aws_sdk_ec2::Client, name: &str) -> String {
    let vpc = ec2.create_vpc().cidr_block("10.1.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    ec2.create_security_group().group_name(name).description(name).vpc_id(vpc).send().await.unwrap().group_id.unwrap()
}

async fn open(ec2: &aws_sdk_ec2::Client, group: &str, port: i32) {
    ec2.authorize_security_group_ingress().group_id(group).ip_permissions(world_ingress(port)).send().await.unwrap();
}

fn revisions(ws: &Workspace) -> Vec<troop_core::store::Revision> {
    ws.store(|s| s.revisions_since(OffsetDateTime::UNIX_EPOCH)).unwrap()
}

/// Each test of the scan's end-to-end path, once per store backend
/// (`name::sqlite`, `name::postgres`).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await
            }
        }
    )*};
}

on_both_backends!(
    scan_finds_world_open_ssh_and_keeps_it_in_the_store,
    unchanged_rescan_writes_nothing_and_a_change_writes_exactly_one_revision,
    closing_the_hole_resolves_the_finding_and_deleting_the_group_records_it,
    json_summary_owns_stdout_and_fail_on_exits_3,
);

fn findings(ws: &Workspace, state: &str) -> Vec<Value> {
    let r = ws.run(&["findings", "--state", state, "--format", "json"]);
    r.assert_code(0);
    r.json().as_array().unwrap().clone()
}

fn events(ws: &Workspace) -> Vec<Value> {
    std::fs::read_to_string(ws.file("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn scan_finds_world_open_ssh_and_keeps_it_in_the_store(backend: Backend) {
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    let bastion = seed_group(&ec2, "bastion").await;
    open(&ec2, &bastion, 22).await;
    let _quiet = seed_group(&ec2, "internal").await;
    let ws = Workspace::for_emulator_on(backend, &moto.endpoint, "");

    let r = ws.run(&["scan"]);
    r.assert_code(0);
    assert!(r.stdout.contains("security") && r.stdout.contains("ok"), "{}", r.stdout);

    let open = findings(&ws, "open");
    assert_eq!(open.len(), 1, "{open:#?}");
    let f = &open[0];
    assert_eq!(f["monkey"], "security");
    assert_eq!(f["kind"], "sg-open-ingress");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["state"], "open");
    assert_eq!(f["account"], "123456789012");
    assert_eq!(f["region"], "us-east-1");
    assert_eq!(f["resource"], bastion.as_str());
    assert_eq!(f["details"]["open_rules"][0], "ingress tcp/22 from 0.0.0.0/0");
    assert_eq!(f["fingerprint"].as_str().unwrap().len(), 32);
    for k in ["title", "first_seen", "last_seen"] {
        assert!(f[k].is_string(), "{k}");
    }
    let ev = events(&ws);
    assert_eq!(ev.len(), 1, "{ev:#?}");
    assert_eq!(ev[0]["reason"], "first");
    assert_eq!(ev[0]["status"], "firing");
    assert_eq!(ev[0]["firing"][0]["fingerprint"], f["fingerprint"]);

    // the human table shows it too
    let t = ws.run(&["findings"]);
    assert!(t.stdout.contains(&bastion) && t.stdout.contains("critical"), "{}", t.stdout);

    // `troop status`: the account's shard and one per region, each read once, none held now
    let st = ws.run(&["status", "--format", "json"]);
    st.assert_code(0);
    let rows = st.json();
    let shards: Vec<(&str, Option<&str>)> =
        rows.as_array().unwrap().iter().map(|r| (r["shard"].as_str().unwrap(), r["region"].as_str())).collect();
    assert_eq!(
        shards,
        [
            ("security/123456789012", None),
            ("security/123456789012/eu-west-1", Some("eu-west-1")),
            ("security/123456789012/us-east-1", Some("us-east-1")),
        ]
    );
    for r in rows.as_array().unwrap() {
        assert_eq!(r["monkey"], "security");
        assert_eq!(r["account"], "123456789012");
        assert!(r["holder"].is_null(), "{r}");
        assert!(r["last_holder"].as_str().is_some_and(|h| h.contains(':')), "{r}");
        assert!(r["last_success"].is_string() && r["lag_seconds"].as_i64().is_some_and(|l| l < 120), "{r}");
    }
    let table = ws.run(&["status"]);
    assert!(table.stdout.contains("REPLICAS ALIVE: 0") && table.stdout.contains("security/123456789012"));
}

async fn unchanged_rescan_writes_nothing_and_a_change_writes_exactly_one_revision(backend: Backend) {
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    let web = seed_group(&ec2, "web").await;
    let ws = Workspace::for_emulator_on(backend, &moto.endpoint, "");

    ws.run(&["scan"]).assert_code(0);
    let first = revisions(&ws);
    assert!(first.len() >= 2, "default groups plus ours: {first:#?}");
    assert!(first.iter().all(|r| r.revision == 1 && r.change == "created"));

    let r = ws.run(&["scan", "--format", "json"]);
    r.assert_code(0);
    assert_eq!(r.json()[0]["revisions"], 0);
    assert_eq!(revisions(&ws).len(), first.len(), "an unchanged rescan wrote revisions");

    open(&ec2, &web, 443).await;
    let r = ws.run(&["scan", "--format", "json"]);
    r.assert_code(0);
    assert_eq!(r.json()[0]["revisions"], 1);
    let after = revisions(&ws);
    assert_eq!(after.len(), first.len() + 1);
    let new = after.iter().find(|r| r.revision == 2).unwrap();
    assert_eq!(new.item, format!("ec2:security-group/123456789012/us-east-1/{web}"));
    assert_eq!(new.change, "modified");
    assert_eq!(new.name, "web");
    let open = findings(&ws, "open");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["severity"], "warning", "443 open to the world is a warning");
}

async fn closing_the_hole_resolves_the_finding_and_deleting_the_group_records_it(backend: Backend) {
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    let db = seed_group(&ec2, "db").await;
    open(&ec2, &db, 5432).await;
    let ws = Workspace::for_emulator_on(backend, &moto.endpoint, "");
    ws.run(&["scan"]).assert_code(0);
    assert_eq!(findings(&ws, "open").len(), 1);

    ec2.revoke_security_group_ingress().group_id(&db).ip_permissions(world_ingress(5432)).send().await.unwrap();
    ws.run(&["scan"]).assert_code(0);
    assert!(findings(&ws, "open").is_empty());
    let resolved = findings(&ws, "resolved");
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["resource"], db.as_str());
    let kinds: Vec<String> = events(&ws).iter().map(|e| e["reason"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["first", "resolved"]);

    ec2.delete_security_group().group_id(&db).send().await.unwrap();
    ws.run(&["scan"]).assert_code(0);
    let item = format!("ec2:security-group/123456789012/us-east-1/{db}");
    let h = ws.store(|s| s.history(&item)).unwrap();
    let changes: Vec<&str> = h.iter().map(|r| r.change.as_str()).collect();
    assert_eq!(changes, ["created", "modified", "deleted"]);
}

async fn json_summary_owns_stdout_and_fail_on_exits_3(backend: Backend) {
    let moto = Moto::start();
    let ec2 = moto.ec2("eu-west-1").await;
    let g = seed_group(&ec2, "rdp").await;
    open(&ec2, &g, 3389).await;
    // a stdout sink too: with --format json its lines must go to stderr
    let ws = Workspace::for_emulator_on(
        backend,
        &moto.endpoint,
        "[[alerts.sinks]]\nname = \"console\"\ntype = \"stdout\"\n",
    );
    let r = ws.run(&["scan", "--format", "json", "--fail-on", "critical"]);
    r.assert_code(3);
    let summary = r.json();
    assert_eq!(summary.as_array().unwrap().len(), 1);
    assert_eq!(summary[0]["monkey"], "security");
    assert_eq!(summary[0]["status"], "ok");
    assert!(
        summary[0]["aws_api_calls"].as_u64().unwrap() >= 3,
        "one STS call and one DescribeSecurityGroups per region"
    );
    assert!(r.stderr.contains("[critical] first"), "stdout sink went to stderr: {}", r.stderr);
    assert!(r.stderr.contains("open finding(s) at or above critical"), "{}", r.stderr);
    ws.run(&["scan", "--fail-on", "warning"]).assert_code(3);
}

#[test]
fn unknown_monkey_is_a_usage_error() {
    let ws = Workspace::new("");
    let r = ws.run(&["scan", "--monkey", "chaos"]);
    r.assert_code(2);
    assert!(r.stderr.contains("unknown monkey `chaos`"), "{}", r.stderr);
}
