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
    trail.add(ev(&g, "AuthorizeSecurityGroupIngress", "alice", t));
    trail.add(ev(&g, "DescribeSecurityGroups", "auditor", t)); // read-only: ignored
    trail.add(ev(&g, "RevokeSecurityGroupIngress", "mallory", old)); // before the window
    trail.add(ev(&g, "ModifySecurityGroupRules", "bob", t));
    trail.add(ev(&g, "UpdateSecurityGroupRuleDescriptionsIngress", "bob", t)); // second page
    trail.add(ev("worker", "PutRolePolicy", "carol", t));
    let before = trail.lookups().len();
    ws.run(&["scan"]).assert_code(0);
    // IAM events live in us-east-1, beside the group's: two changes there,
    // one read of the window's write events (two of the fake's 2-event pages)
    let asked = trail.lookups()[before..].to_vec();
    assert_eq!(asked, vec![("ReadOnly=false".to_string(), "us-east-1".to_string()); 2]);

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
        "every page read; read-only and out-of-window events left out"
    );
    assert_eq!(sg["who"]["events"][0]["source_ip"], "198.51.100.7");
    let role = ch.iter().find(|c| c["technology"] == "iam:role").unwrap();
    assert_eq!(role["who"]["events"][0]["principal"], "arn:aws:iam::123456789012:user/carol");
    let table = ws.run(&["changes", "--since", &since]);
    assert!(table.stdout.contains("alice (198.51.100.7)") && table.stdout.contains("WHO"), "{}", table.stdout);

    // A change CloudTrail has not delivered yet stays pending, and is filled in later.
    let since = since_now();
    ec2.authorize_security_group_ingress().group_id(&g).ip_permissions(world_ingress(8443)).send().await.unwrap();
    // CloudTrail stamps the call's own time, before the scan saw it, and
    // delivers it minutes later: the event is added after the scan.
    let called = now();
    let before = trail.lookups().len();
    ws.run(&["scan"]).assert_code(0);
    let asked = trail.lookups()[before..].to_vec();
    assert!(
        !asked.is_empty() && asked.iter().all(|(a, r)| a == &g && r == "us-east-1"),
        "one change: by name {asked:?}"
    );
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

fn ev(resource: &str, name: &str, who: &str, time: i64) -> TrailEvent {
    TrailEvent {
        resource: resource.into(),
        event_name: name.into(),
        arn: format!("arn:aws:iam::123456789012:user/{who}"),
        source_ip: "198.51.100.7".into(),
        time,
    }
}

fn principals(changes: &[Value]) -> Vec<String> {
    changes.iter().map(|c| c["who"]["events"][0]["principal"].as_str().unwrap_or("-").to_string()).collect()
}

/// Several changes in one region: one read of the window's write events
/// answers them all. When a busy window holds more than that read may take
/// (one page per change), the changes it did not reach are asked by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_with_many_changes_reads_its_window_once() {
    let moto = Moto::start();
    let trail = FakeCloudTrail::start().await;
    let ec2 = moto.ec2("us-east-1").await;
    let vpc = ec2.create_vpc().cidr_block("10.7.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let mut groups = Vec::new();
    for i in 0..5 {
        let name = format!("app-{i}");
        let g = ec2.create_security_group().group_name(&name).description(&name).vpc_id(&vpc).send().await.unwrap();
        groups.push(g.group_id.unwrap());
    }
    let ws =
        Workspace::for_emulator(&moto.endpoint, &format!("[aws.endpoints]\ncloudtrail = \"{}\"\n", trail.endpoint));
    ws.run(&["scan"]).assert_code(0);

    let since = since_now();
    for g in &groups {
        ec2.authorize_security_group_ingress().group_id(g).ip_permissions(world_ingress(443)).send().await.unwrap();
    }
    let t = now();
    for g in &groups {
        trail.add(ev(g, "AuthorizeSecurityGroupIngress", "erin", t));
    }
    trail.add(ev("sg-elsewhere", "AuthorizeSecurityGroupIngress", "zed", t)); // not ours
    let before = trail.lookups().len();
    let scan = crate::support::policy::scan(&ws, &[]);
    let asked = trail.lookups()[before..].to_vec();
    // six write events at two a page: three requests where asking by name takes five
    assert_eq!(asked, vec![("ReadOnly=false".to_string(), "us-east-1".to_string()); 3]);
    // and the pass counts them with its own calls
    assert_eq!(scan.json()[0]["aws_api_calls_by_operation"]["CloudTrail:LookupEvents"], 3, "{}", scan.stdout);
    let ch = changes(&ws, &since);
    assert_eq!(ch.len(), 5);
    assert_eq!(principals(&ch), vec!["arn:aws:iam::123456789012:user/erin"; 5]);

    // A busy window: automation's writes fill the five pages the read may take.
    let since = since_now();
    for g in &groups {
        ec2.authorize_security_group_ingress().group_id(g).ip_permissions(world_ingress(8443)).send().await.unwrap();
    }
    let t = now();
    for i in 0..12 {
        trail.add(ev(&format!("i-{i:08x}"), "CreateTags", "robot", t)); // listed first
    }
    for g in &groups {
        trail.add(ev(g, "AuthorizeSecurityGroupIngress", "frank", t));
    }
    // the first group's own lookup takes two pages
    trail.add(ev(&groups[0], "ModifySecurityGroupRules", "frank", t));
    trail.add(ev(&groups[0], "UpdateSecurityGroupRuleDescriptionsIngress", "frank", t));
    let before = trail.lookups().len();
    ws.run(&["scan"]).assert_code(0);
    let asked: Vec<String> = trail.lookups()[before..].iter().map(|(a, _)| a.clone()).collect();
    let mut want = vec!["ReadOnly=false".to_string(); 5];
    let mut by_name = asked[5..].to_vec();
    by_name.sort();
    by_name.dedup(); // a lookup by name may take more than one page
    let mut sorted = groups.clone();
    sorted.sort();
    want.extend(sorted);
    assert_eq!([&asked[..5], &by_name[..]].concat(), want, "five pages, then each change by name");
    let ch = changes(&ws, &since);
    assert_eq!(principals(&ch), vec!["arn:aws:iam::123456789012:user/frank"; 5]);
    let first = ch.iter().find(|c| c["item"].as_str().unwrap().ends_with(&groups[0])).unwrap();
    assert_eq!(first["who"]["events"].as_array().unwrap().len(), 3, "{first:#}");
}
