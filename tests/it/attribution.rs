//! Who made a change: CloudTrail LookupEvents (against a faithful fake) attached
//! to each modified revision; no access degrades to "unknown", never a failure.

use crate::support::cloudtrail::{FakeCloudTrail, TrailEvent};
use crate::support::{Moto, Workspace, world_ingress};
use serde_json::Value;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn changes(ws: &Workspace, since: &str) -> Vec<Value> {
    let r = ws.run(&["changes", "--since", since, "--format", "json"]);
    r.assert_code(0);
    r.json().as_array().unwrap().clone()
}

fn since_now() -> String {
    std::thread::sleep(std::time::Duration::from_millis(1100));
    troop_core::clock::rfc3339(time::OffsetDateTime::now_utc())
}

// The fake runs on this runtime while the test blocks on the troop process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revisions_name_who_changed_them() {
    let moto = Moto::start();
    let trail = FakeCloudTrail::start().await;
    let sdk = moto.sdk("us-east-1").await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let vpc = ec2.create_vpc().cidr_block("10.6.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let g = ec2.create_security_group().group_name("web").description("web").vpc_id(vpc).send().await.unwrap();
    let g = g.group_id.unwrap();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role().role_name("worker").assume_role_policy_document(trust).send().await.unwrap();
    let ws = Workspace::for_emulator(
        &moto.endpoint,
        &format!("[aws.endpoints]\ncloudtrail = \"{}\"\n", trail.endpoint)
            .replace("[aws.endpoints]", "[aws.endpoints]"),
    );
    // for_emulator's [aws] table is above; the endpoints table must follow it
    ws.run(&["scan"]).assert_code(0);
    let old = now() - 7200;

    // Someone opens 443 and grants the role an inline policy.
    let since = since_now();
    ec2.authorize_security_group_ingress().group_id(&g).ip_permissions(world_ingress(443)).send().await.unwrap();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    iam.put_role_policy().role_name("worker").policy_name("read").policy_document(doc).send().await.unwrap();
    let t = now();
    let ev = |resource: &str, name: &str, who: &str, time: i64| TrailEvent {
        resource: resource.into(),
        event_name: name.into(),
        arn: format!("arn:aws:iam::123456789012:user/{who}"),
        source_ip: "198.51.100.7".into(),
        time,
    };
    trail.add(ev(&g, "AuthorizeSecurityGroupIngress", "alice", t));
    trail.add(ev(&g, "DescribeSecurityGroups", "auditor", t)); // read-only: ignored
    trail.add(ev(&g, "RevokeSecurityGroupIngress", "mallory", old)); // before the window
    trail.add(ev(&g, "ModifySecurityGroupRules", "bob", t));
    trail.add(ev(&g, "UpdateSecurityGroupRuleDescriptionsIngress", "bob", t)); // third page
    trail.add(ev("worker", "PutRolePolicy", "carol", t));
    ws.run(&["scan"]).assert_code(0);

    let ch = changes(&ws, &since);
    assert_eq!(ch.len(), 2, "{ch:#?}");
    let sg = ch.iter().find(|c| c["technology"] == "ec2:security-group").unwrap();
    assert_eq!(sg["who"]["status"], "found", "{sg:#}");
    let mut events: Vec<(&str, &str)> = sg["who"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["principal"].as_str().unwrap()))
        .collect();
    events.sort();
    assert_eq!(
        events,
        [
            ("AuthorizeSecurityGroupIngress", "arn:aws:iam::123456789012:user/alice"),
            ("ModifySecurityGroupRules", "arn:aws:iam::123456789012:user/bob"),
            ("UpdateSecurityGroupRuleDescriptionsIngress", "arn:aws:iam::123456789012:user/bob"),
        ],
        "all pages read; read-only and out-of-window events left out"
    );
    assert_eq!(sg["who"]["events"][0]["source_ip"], "198.51.100.7");
    let role = ch.iter().find(|c| c["technology"] == "iam:role").unwrap();
    assert_eq!(role["who"]["events"][0]["principal"], "arn:aws:iam::123456789012:user/carol");
    // IAM events live in us-east-1; the group's in its own region
    let lookups = trail.lookups();
    assert!(lookups.contains(&("worker".to_string(), "us-east-1".to_string())), "{lookups:?}");
    assert!(lookups.contains(&(g.clone(), "us-east-1".to_string())), "{lookups:?}");
    let table = ws.run(&["changes", "--since", &since]);
    assert!(table.stdout.contains("alice (198.51.100.7)") && table.stdout.contains("WHO"), "{}", table.stdout);

    // A change CloudTrail has not delivered yet stays pending, and is filled in later.
    let since = since_now();
    ec2.authorize_security_group_ingress().group_id(&g).ip_permissions(world_ingress(8443)).send().await.unwrap();
    // CloudTrail stamps the call's own time, before the scan saw it, and
    // delivers it minutes later: the event is added after the scan.
    let called = now();
    ws.run(&["scan"]).assert_code(0);
    let ch = changes(&ws, &since);
    assert_eq!(ch[0]["who"]["status"], "pending");
    trail.add(ev(&g, "AuthorizeSecurityGroupIngress", "dave", called));
    ws.run(&["scan"]).assert_code(0);
    let ch = changes(&ws, &since);
    assert_eq!(ch[0]["who"]["status"], "found");
    assert!(ch[0]["who"]["events"].to_string().contains("dave"), "{}", ch[0]["who"]);

    // No CloudTrail access: "unknown" with the reason, and the pass still succeeds.
    trail.deny(true);
    let since = since_now();
    ec2.revoke_security_group_ingress().group_id(&g).ip_permissions(world_ingress(8443)).send().await.unwrap();
    let r = ws.run(&["scan"]);
    r.assert_code(0);
    let ch = changes(&ws, &since);
    assert_eq!(ch[0]["who"]["status"], "unknown");
    assert!(ch[0]["who"]["reason"].as_str().unwrap().contains("AccessDenied"), "{}", ch[0]["who"]);
}
