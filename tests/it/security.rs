//! The security monkey end to end against the emulator: the review scenario
//! (change → revisions with reviewer sentences and findings → revert →
//! resolved, history kept), and failed listings that must not delete anything.

use crate::support::proxy::{Fault, FaultProxy};
use crate::support::{Moto, Workspace, after_now, world_ingress};
use serde_json::Value;
use std::collections::BTreeMap;

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

fn trust(extra_account: Option<&str>) -> String {
    let mut st = vec![
        serde_json::json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}),
    ];
    if let Some(a) = extra_account {
        st.push(serde_json::json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{a}:root")}, "Action": "sts:AssumeRole"}));
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": st}).to_string()
}

struct Estate {
    ec2: aws_sdk_ec2::Client,
    iam: aws_sdk_iam::Client,
    s3: aws_sdk_s3::Client,
    group: String,
}

async fn seed(moto: &Moto) -> Estate {
    let sdk = moto.sdk("us-east-1").await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    let vpc = ec2.create_vpc().cidr_block("10.4.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let group = ec2
        .create_security_group()
        .group_name("app")
        .description("app")
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    for role in ["app-server", "ci-deployer"] {
        iam.create_role().role_name(role).assume_role_policy_document(trust(None)).send().await.unwrap();
    }
    iam.create_user().user_name("carol").send().await.unwrap();
    s3.create_bucket().bucket("data-bucket").send().await.unwrap();
    put_block(&s3, "data-bucket", true).await;
    Estate { ec2, iam, s3, group }
}

/// The bucket's own public-access block: all four on, or the two ACL settings off.
async fn put_block(s3: &aws_sdk_s3::Client, bucket: &str, acls_blocked: bool) {
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(acls_blocked)
                .ignore_public_acls(acls_blocked)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// name → summary sentences of the revisions in the window.
fn summaries(changes: &[Value]) -> BTreeMap<String, Vec<String>> {
    changes
        .iter()
        .map(|c| {
            let s = c["summary"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
            (c["name"].as_str().unwrap().to_string(), s)
        })
        .collect()
}

fn open_findings(ws: &Workspace) -> BTreeMap<String, (String, String)> {
    ws.rows(&["findings"])
        .iter()
        .map(|f| {
            let name = f["resource"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
            (name, (f["kind"].as_str().unwrap().to_string(), f["severity"].as_str().unwrap().to_string()))
        })
        .collect()
}

/// (resource name, kind) of every open finding.
fn open_kinds(ws: &Workspace) -> std::collections::BTreeSet<(String, String)> {
    ws.rows(&["findings"])
        .iter()
        .map(|f| {
            let name = f["resource"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
            (name, f["kind"].as_str().unwrap().to_string())
        })
        .collect()
}

fn has(set: &std::collections::BTreeSet<(String, String)>, name: &str, kind: &str) -> bool {
    set.contains(&(name.to_string(), kind.to_string()))
}

#[tokio::test]
async fn review_scenario_change_then_revert() {
    let moto = Moto::start_with_env(&[("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")]);
    let e = seed(&moto).await;
    let ws = Workspace::for_emulator(&moto.endpoint, "");
    ws.run(&["scan"]).assert_code(0);
    assert!(open_findings(&ws).is_empty(), "a clean estate: {:?}", open_findings(&ws));
    let since = after_now();
    let r = crate::support::policy::scan(&ws, &[]);
    assert_eq!(r.json()[0]["revisions"], 0, "an unchanged rescan wrote revisions");

    // The change a reviewer must see.
    e.ec2.authorize_security_group_ingress().group_id(&e.group).ip_permissions(world_ingress(22)).send().await.unwrap();
    e.iam.attach_role_policy().role_name("app-server").policy_arn(ADMIN).send().await.unwrap();
    // S3 ignores public ACLs while the bucket's IgnorePublicAcls is on: opening
    // the bucket takes turning its ACL blocks off first.
    put_block(&e.s3, "data-bucket", false).await;
    e.s3.put_bucket_acl()
        .bucket("data-bucket")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    e.iam
        .update_assume_role_policy()
        .role_name("ci-deployer")
        .policy_document(trust(Some("999999999999")))
        .send()
        .await
        .unwrap();
    ws.run(&["scan"]).assert_code(0);

    let changes = ws.rows(&["changes", "--since", &since]);
    assert_eq!(changes.len(), 4, "{changes:#?}");
    assert!(changes.iter().all(|c| c["change"] == "modified" && c["revision"] == 2));
    let want: BTreeMap<String, Vec<String>> = [
        ("app", "ingress tcp/22 from 0.0.0.0/0 added"),
        ("app-server", "managed policy AdministratorAccess attached"),
        ("ci-deployer", "trust policy now allows account 999999999999"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
    .chain([(
        "data-bucket".to_string(),
        vec![
            "ACL grant READ to AllUsers added".to_string(),
            "public-access block BlockPublicAcls turned off".to_string(),
            "public-access block IgnorePublicAcls turned off".to_string(),
        ],
    )])
    .collect();
    assert_eq!(summaries(&changes), want);
    let techs: Vec<&str> = changes.iter().map(|c| c["technology"].as_str().unwrap()).collect();
    for t in ["ec2:security-group", "iam:role", "s3:bucket"] {
        assert!(techs.contains(&t), "{techs:?}");
    }
    // "what changed in IAM?", and in one account
    let iam = ws.rows(&["changes", "--since", &since, "--technology", "iam"]);
    let mut names: Vec<&str> = iam.iter().map(|c| c["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["app-server", "ci-deployer"]);
    let two = ws.rows(&["changes", "--since", &since, "--technology", "s3:bucket", "--technology", "ec2"]);
    assert_eq!(two.len(), 2, "{two:#?}");
    assert_eq!(ws.rows(&["changes", "--since", &since, "--account", "123456789012"]).len(), 4);
    assert!(ws.rows(&["changes", "--since", &since, "--account", "999999999999"]).is_empty());

    let open: std::collections::BTreeSet<(String, String, String)> = ws
        .rows(&["findings"])
        .iter()
        .map(|f| {
            let name = f["resource"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
            (name, f["kind"].as_str().unwrap().to_string(), f["severity"].as_str().unwrap().to_string())
        })
        .collect();
    let want: std::collections::BTreeSet<(String, String, String)> = [
        (e.group.as_str(), "sg-open-ingress", "critical"),
        ("app-server", "iam-admin", "critical"),
        ("data-bucket", "s3-acl-public", "critical"),
        ("data-bucket", "s3-public-access-block-off", "warning"),
        ("ci-deployer", "iam-trust-foreign-account", "warning"),
    ]
    .into_iter()
    .map(|(k, a, b)| (k.to_string(), a.to_string(), b.to_string()))
    .collect();
    assert_eq!(open, want);
    let critical = ws.rows(&["findings", "--severity", "critical"]);
    assert_eq!(critical.len(), 3, "the trust-policy warning left out: {critical:#?}");
    assert!(critical.iter().all(|f| f["severity"] == "critical"));
    assert_eq!(ws.rows(&["findings", "--severity", "warning"]).len(), 5, "warning and above");
    // findings carry the item, the revision, the rule and the diff summary
    let f = ws.rows(&["findings"]).into_iter().find(|f| f["kind"] == "iam-admin").unwrap();
    assert_eq!(f["details"]["item"], "iam:role/123456789012/global/app-server");
    assert_eq!(f["details"]["revision"], 2);
    assert_eq!(f["details"]["rule"], "iam-admin");
    assert_eq!(f["details"]["summary"][0], "managed policy AdministratorAccess attached");

    // diff and history read the same story
    let d = ws.run(&["diff", "ci-deployer"]);
    d.assert_code(0);
    assert!(d.stdout.contains("• trust policy now allows account 999999999999"), "{}", d.stdout);
    assert!(d.stdout.contains("+            \"arn:aws:iam::999999999999:root\""), "{}", d.stdout);

    // Revert everything: the findings resolve, history keeps every revision.
    let while_admin = troop_core::clock::rfc3339(time::OffsetDateTime::now_utc());
    let since = after_now();
    e.ec2.revoke_security_group_ingress().group_id(&e.group).ip_permissions(world_ingress(22)).send().await.unwrap();
    e.iam.detach_role_policy().role_name("app-server").policy_arn(ADMIN).send().await.unwrap();
    e.s3.put_bucket_acl().bucket("data-bucket").acl(aws_sdk_s3::types::BucketCannedAcl::Private).send().await.unwrap();
    put_block(&e.s3, "data-bucket", true).await;
    e.iam.update_assume_role_policy().role_name("ci-deployer").policy_document(trust(None)).send().await.unwrap();
    ws.run(&["scan"]).assert_code(0);
    assert!(open_findings(&ws).is_empty(), "{:?}", open_findings(&ws));
    assert_eq!(ws.rows(&["findings", "--state", "resolved"]).len(), 5);
    let reverted = summaries(&ws.rows(&["changes", "--since", &since]));
    assert_eq!(reverted["app"], ["ingress tcp/22 from 0.0.0.0/0 removed"]);
    assert_eq!(reverted["app-server"], ["managed policy AdministratorAccess detached"]);
    assert_eq!(reverted["ci-deployer"], ["trust policy no longer allows account 999999999999"]);
    assert_eq!(
        reverted["data-bucket"],
        [
            "ACL grant READ to AllUsers removed",
            "public-access block BlockPublicAcls turned on",
            "public-access block IgnorePublicAcls turned on"
        ]
    );
    let h = ws.rows(&["history", "app-server"]);
    let revs: Vec<(i64, &str)> =
        h.iter().map(|r| (r["revision"].as_i64().unwrap(), r["change"].as_str().unwrap())).collect();
    assert_eq!(revs, [(1, "created"), (2, "modified"), (3, "modified")]);
    assert_eq!(h[1]["content"]["attached_policies"][0], ADMIN);
    // time travel: the role as it was while it had admin
    let then = ws.rows(&["history", "app-server", "--at", &while_admin]);
    assert_eq!(then[0]["revision"], 2);
    assert_eq!(then[0]["content"]["attached_policies"][0], ADMIN);
    let t = ws.run(&["history", "app-server", "--at", &while_admin]);
    assert!(t.stdout.contains("revision 2") && t.stdout.contains("AdministratorAccess"), "{}", t.stdout);
    let before = ws.run(&["history", "app-server", "--at", "1970-01-01T00:00:00Z"]);
    // before troop's first pass it cannot know what existed
    assert!(before.stdout.contains("not observed before"), "{}", before.stdout);
    // an ambiguous or unknown name is a usage error that says what to do
    let r = ws.run(&["diff", "no-such-thing"]);
    r.assert_code(2);
    assert!(r.stderr.contains("troop changes"), "{}", r.stderr);
}

// The proxy runs on this runtime while the test blocks on the troop process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_listings_delete_nothing_and_resolve_nothing() {
    let moto = Moto::start();
    let e = seed(&moto).await;
    let eu = moto.ec2("eu-west-1").await;
    let vpc = eu.create_vpc().cidr_block("10.5.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let eu_group = eu.create_security_group().group_name("eu").description("eu").vpc_id(vpc).send().await.unwrap();
    let eu_group = eu_group.group_id.unwrap();
    eu.authorize_security_group_ingress().group_id(&eu_group).ip_permissions(world_ingress(22)).send().await.unwrap();
    e.s3.create_bucket().bucket("open-bucket").send().await.unwrap();
    e.s3.put_bucket_acl()
        .bucket("open-bucket")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();

    let proxy = FaultProxy::start(&moto.endpoint).await;
    // Throttling is retried (4 attempts) with short waits, to keep the test quick.
    let ws = Workspace::for_emulator(&proxy.endpoint, "");
    let cfg = std::fs::read_to_string(ws.file("troop.toml")).unwrap();
    ws.write_config(&cfg.replace("[aws]\n", "[aws]\nmax_attempts = 4\nmax_backoff = \"200ms\"\n"));
    ws.run(&["scan"]).assert_code(0);
    let before = open_kinds(&ws);
    assert!(has(&before, &eu_group, "sg-open-ingress") && has(&before, "open-bucket", "s3-acl-public"), "{before:?}");

    // Things really go away, but the listings that would show it fail.
    eu.revoke_security_group_ingress().group_id(&eu_group).ip_permissions(world_ingress(22)).send().await.unwrap();
    eu.delete_security_group().group_id(&eu_group).send().await.unwrap();
    e.iam.delete_role().role_name("ci-deployer").send().await.unwrap();
    e.s3.put_bucket_acl().bucket("open-bucket").acl(aws_sdk_s3::types::BucketCannedAcl::Private).send().await.unwrap();
    proxy.set(vec![
        Fault::ec2(&["Action=DescribeSecurityGroups", "/eu-west-1/ec2/"], 403, "UnauthorizedOperation"),
        Fault::query(&["Action=GetAccountAuthorizationDetails"], 400, "Throttling"),
        Fault::s3(&["GET /open-bucket/?acl"], 403, "AccessDenied"),
    ]);
    let since = after_now();
    let r = ws.run(&["scan", "--format", "json"]);
    r.assert_code(0);
    assert_eq!(r.json()[0]["revisions"], 0, "a failed listing wrote revisions");
    // GAAD throttled on all 4 attempts; access denied is not retried (1 + 1).
    assert_eq!(proxy.hits(), 6, "faults served");
    assert!(ws.rows(&["changes", "--since", &since]).is_empty());

    let findings = ws.rows(&["findings"]);
    let read_errors: Vec<String> = findings
        .iter()
        .filter(|f| f["kind"] == "read-error")
        .map(|f| {
            format!(
                "{} {} {}",
                f["details"]["technology"].as_str().unwrap(),
                f["region"].as_str().unwrap(),
                f["resource"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        read_errors,
        [
            "ec2:security-group eu-west-1 ec2:security-group",
            "iam:group global iam:group",
            "iam:policy global iam:policy",
            "iam:role global iam:role",
            "iam:user global iam:user",
            "s3:bucket us-east-1 open-bucket",
        ],
        "{findings:#?}"
    );
    let throttled = findings.iter().find(|f| f["resource"] == "iam:role").unwrap();
    assert!(throttled["title"].as_str().unwrap().contains("throttled"), "{}", throttled["title"]);
    let open = open_kinds(&ws);
    assert!(has(&open, &eu_group, "sg-open-ingress"), "unreadable: must stay open: {open:?}");
    assert!(has(&open, "open-bucket", "s3-acl-public"), "unreadable: must stay open: {open:?}");

    // Listings work again: now the deletions and fixes are real.
    proxy.set(vec![]);
    ws.run(&["scan"]).assert_code(0);
    let changes = ws.rows(&["changes", "--since", &since]);
    let got: BTreeMap<String, String> = changes
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["change"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got["eu"], "deleted");
    assert_eq!(got["ci-deployer"], "deleted");
    assert_eq!(got["open-bucket"], "modified");
    let open = open_kinds(&ws);
    let left: Vec<_> = open.iter().filter(|(_, k)| k != "s3-public-access-block-off").collect();
    assert!(left.is_empty(), "read errors and fixed findings resolve: {open:?}");
}

#[tokio::test]
async fn volatile_fields_never_make_a_revision() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let sts = aws_sdk_sts::Client::new(&sdk);
    iam.create_role().role_name("app").assume_role_policy_document(trust(Some("123456789012"))).send().await.unwrap();
    iam.create_role().role_name("other").assume_role_policy_document(trust(None)).send().await.unwrap();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let policy = iam.create_policy().policy_name("reports").policy_document(doc).send().await.unwrap();
    let arn = policy.policy.unwrap().arn.unwrap();
    let ws = Workspace::for_emulator(&moto.endpoint, "");
    ws.run(&["scan"]).assert_code(0);

    // The policy's attachment count and the role's last use change; neither is configuration.
    let since = after_now();
    iam.attach_role_policy().role_name("other").policy_arn(&arn).send().await.unwrap();
    sts.assume_role().role_arn("arn:aws:iam::123456789012:role/app").role_session_name("use").send().await.unwrap();
    ws.run(&["scan"]).assert_code(0);
    let changes = ws.rows(&["changes", "--since", &since]);
    let got: Vec<(String, Vec<String>)> = changes
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), serde_json::from_value(c["summary"].clone()).unwrap()))
        .collect();
    assert_eq!(got, [("other".to_string(), vec!["managed policy reports attached".to_string()])]);
}
