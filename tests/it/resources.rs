//! Resource-policy technologies end to end against the emulator (issue 17):
//! each resource is created private, scanned, opened to the world or shared
//! with a foreign account through the SDK, scanned (a revision naming who
//! gained access, a finding with its severity), closed again and scanned
//! (the finding resolved, the history kept).

use crate::support::{Moto, Workspace, after_now};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const ACCOUNT: &str = "123456789012";
const FOREIGN: &str = "999999999999";

/// (technology, name) → sentences of the revisions in the window.
fn sentences(changes: &[Value]) -> BTreeMap<(String, String), Vec<String>> {
    changes
        .iter()
        .map(|c| {
            let key = (c["technology"].as_str().unwrap().to_string(), c["name"].as_str().unwrap().to_string());
            (key, c["summary"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect())
        })
        .collect()
}

/// (resource, kind, severity) of every open security finding.
fn open(ws: &Workspace) -> BTreeSet<(String, String, String)> {
    ws.rows(&["findings", "--monkey", "security"])
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("resource"), s("kind"), s("severity"))
        })
        .collect()
}

fn doc(statements: Vec<Value>) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

#[tokio::test]
async fn kms_sqs_and_sns_opened_then_closed() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);

    let key = kms.create_key().description("app data").send().await.unwrap().key_metadata.unwrap().key_id;
    kms.create_alias().alias_name("alias/app").target_key_id(&key).send().await.unwrap();
    kms.enable_key_rotation().key_id(&key).send().await.unwrap();
    let private_key_policy =
        kms.get_key_policy().key_id(&key).policy_name("default").send().await.unwrap().policy.unwrap();
    let queue = sqs.create_queue().queue_name("jobs").send().await.unwrap().queue_url.unwrap();
    let topic = sns.create_topic().name("alerts").send().await.unwrap().topic_arn.unwrap();
    let private_topic_policy =
        sns.get_topic_attributes().topic_arn(&topic).send().await.unwrap().attributes.unwrap()["Policy"].clone();

    let ws = Workspace::for_emulator(&moto.endpoint, "");
    crate::support::policy::scan(&ws, &[]);
    let first = ws.rows(&["changes", "--technology", "kms", "--technology", "sqs", "--technology", "sns"]);
    let created: BTreeSet<(String, String)> = sentences(&first).keys().cloned().collect::<BTreeSet<_>>();
    let want: BTreeSet<(String, String)> = [("kms:key", key.as_str()), ("sqs:queue", "jobs"), ("sns:topic", "alerts")]
        .into_iter()
        .map(|(t, n)| (t.to_string(), n.to_string()))
        .collect();
    assert_eq!(created, want, "{first:#?}");
    assert!(open(&ws).is_empty(), "private resources raised findings: {:?}", open(&ws));

    // Open them.
    let since = after_now();
    let mut opened: Value = serde_json::from_str(&private_key_policy).unwrap();
    opened["Statement"].as_array_mut().unwrap().push(json!({"Sid": "Open", "Effect": "Allow",
        "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}));
    kms.put_key_policy().key_id(&key).policy_name("default").policy(opened.to_string()).send().await.unwrap();
    kms.disable_key_rotation().key_id(&key).send().await.unwrap();
    let shared = doc(vec![json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{FOREIGN}:root")},
        "Action": "sqs:SendMessage", "Resource": format!("arn:aws:sqs:us-east-1:{ACCOUNT}:jobs")})]);
    sqs.set_queue_attributes()
        .queue_url(&queue)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, shared)
        .send()
        .await
        .unwrap();
    let public = doc(vec![json!({"Sid": "Anyone", "Effect": "Allow", "Principal": "*",
        "Action": "sns:Publish", "Resource": topic})]);
    sns.set_topic_attributes().topic_arn(&topic).attribute_name("Policy").attribute_value(public).send().await.unwrap();
    crate::support::policy::scan(&ws, &[]);

    let changes = ws.rows(&["changes", "--since", &since]);
    let got = sentences(&changes);
    let says = |tech: &str, name: &str, sentence: &str| {
        let s = got
            .get(&(tech.to_string(), name.to_string()))
            .unwrap_or_else(|| panic!("no revision of {tech} {name}: {got:#?}"));
        assert!(s.iter().any(|x| x == sentence), "{tech} {name} does not say {sentence:?}: {s:#?}");
    };
    says("kms:key", &key, "key policy now allows any AWS principal kms:Decrypt through statement \"Open\"");
    says("kms:key", &key, "automatic rotation turned off");
    says("sqs:queue", "jobs", "queue policy now allows account 999999999999 sqs:SendMessage through statement 1");
    says("sns:topic", "alerts", "topic policy now allows any AWS principal sns:Publish through statement \"Anyone\"");
    assert_eq!(changes.len(), 3, "{changes:#?}");
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    let want: BTreeSet<_> = [
        s(&key, "kms-policy-public", "critical"),
        s(&key, "kms-rotation-off", "warning"),
        s("jobs", "sqs-policy-foreign-account", "warning"),
        s("alerts", "sns-policy-public", "critical"),
    ]
    .into();
    assert_eq!(open(&ws), want);
    // the finding says who and through which statement
    let f = ws.rows(&["findings", "--monkey", "security"]);
    let kms_public = f.iter().find(|f| f["kind"] == "kms-policy-public").unwrap();
    assert_eq!(
        kms_public["title"],
        format!("key {key}: key policy allows any AWS principal kms:Decrypt through statement \"Open\"")
    );
    // "what changed in KMS?"
    let only_kms = ws.rows(&["changes", "--since", &since, "--technology", "kms"]);
    assert_eq!(only_kms.len(), 1);
    assert_eq!(only_kms[0]["technology"], "kms:key");

    // Close them again: every finding resolves, the history stays.
    kms.put_key_policy().key_id(&key).policy_name("default").policy(private_key_policy).send().await.unwrap();
    kms.enable_key_rotation().key_id(&key).send().await.unwrap();
    sqs.set_queue_attributes()
        .queue_url(&queue)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, "")
        .send()
        .await
        .unwrap();
    sns.set_topic_attributes()
        .topic_arn(&topic)
        .attribute_name("Policy")
        .attribute_value(private_topic_policy)
        .send()
        .await
        .unwrap();
    crate::support::policy::scan(&ws, &[]);
    assert!(open(&ws).is_empty(), "closing did not resolve: {:?}", open(&ws));
    let history = ws.rows(&["history", &format!("sqs:queue/{ACCOUNT}/us-east-1/jobs")]);
    assert_eq!(history.len(), 3, "{history:#?}");
}

/// Keys and MFA of IAM users come from the credential report: two calls for
/// any number of users. When the report cannot be had, each user is read on
/// its own, with the same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_users_keys_and_mfa_from_the_credential_report() {
    use crate::support::proxy::{Fault, FaultProxy};
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    for u in ["alice", "bob", "carol"] {
        iam.create_user().user_name(u).send().await.unwrap();
    }
    let key = iam.create_access_key().user_name("alice").send().await.unwrap().access_key.unwrap().access_key_id;
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let ws = Workspace::for_emulator(&proxy.endpoint, "");
    let r = crate::support::policy::scan(&ws, &["--monkey", "security"]);
    let ops = &r.json()[0]["aws_api_calls_by_operation"];
    // none yet: asked, generated (STARTED, then COMPLETE), read
    assert_eq!(ops["IAM:GetCredentialReport"], 2, "{ops:#}");
    assert_eq!(ops["IAM:GenerateCredentialReport"], 2, "{ops:#}");
    assert!(ops.get("IAM:ListAccessKeys").is_none() && ops.get("IAM:ListMFADevices").is_none(), "{ops:#}");
    let kinds: BTreeSet<(String, String, String)> =
        open(&ws).into_iter().filter(|(r, _, _)| r.contains(":user/")).collect();
    let alice = "arn:aws:iam::123456789012:user/alice".to_string();
    assert_eq!(kinds, [(alice.clone(), "iam-user-key-without-mfa".to_string(), "warning".to_string())].into());

    // Then one call reads it.
    let r = ws.run(&["scan", "--monkey", "security", "--format", "json"]);
    let ops = &r.json()[0]["aws_api_calls_by_operation"];
    assert_eq!((ops["IAM:GetCredentialReport"].as_u64(), ops.get("IAM:GenerateCredentialReport")), (Some(1), None));

    // The report refused: each user is asked on its own, and nothing changes.
    proxy.set(vec![Fault::query(&["Action=GetCredentialReport"], 403, "AccessDenied")]);
    let r = ws.run(&["scan", "--monkey", "security", "--format", "json"]);
    r.assert_code(0);
    let summary = &r.json()[0];
    assert_eq!(summary["revisions"], 0, "the per-user reading differs from the report's: {summary:#}");
    assert_eq!(summary["aws_api_calls_by_operation"]["IAM:ListAccessKeys"], 3, "{summary:#}");
    proxy.set(vec![]);

    // The key deactivated: one sentence, the finding resolved.
    let since = after_now();
    iam.update_access_key()
        .user_name("alice")
        .access_key_id(&key)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    ws.run(&["scan", "--monkey", "security"]).assert_code(0);
    let changes = ws.rows(&["changes", "--since", &since]);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let said = changes[0]["summary"][0].as_str().unwrap();
    assert!(said.starts_with("access key created ") && said.ends_with(" deactivated"), "{said}");
    assert!(!open(&ws).iter().any(|(r, _, _)| r == &alice), "{:?}", open(&ws));
}

/// The account's posture: the account-wide item (root user, password
/// policy) and each region's (EBS encryption by default), weakened and
/// restored. moto's root user never has MFA (none can be added through an
/// API), so `account-root-mfa-off` stays open throughout; the table tests in
/// `troop_core::security::account` cover its other side.
#[tokio::test]
async fn account_posture_weakened_then_restored() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let strong = || {
        iam.update_account_password_policy()
            .minimum_password_length(14)
            .password_reuse_prevention(24)
            .require_symbols(true)
            .send()
    };
    strong().await.unwrap();
    let ec2 = |region: &'static str| {
        let moto = &moto;
        async move { moto.ec2(region).await }
    };
    let (us, eu) = (ec2("us-east-1").await, ec2("eu-west-1").await);
    for c in [&us, &eu] {
        c.enable_ebs_encryption_by_default().send().await.unwrap();
    }
    let ws = Workspace::for_emulator(&moto.endpoint, "[monkeys.security]\ntechnologies = [\"account\"]\n");
    crate::support::policy::scan(&ws, &[]);
    let items: BTreeSet<String> =
        ws.rows(&["changes"]).iter().map(|c| c["item"].as_str().unwrap().to_string()).collect();
    let item = |region: &str| format!("account:settings/{ACCOUNT}/{region}/account");
    assert_eq!(items, [item("eu-west-1"), item("global"), item("us-east-1")].into());
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(open(&ws), [s("account", "account-root-mfa-off", "critical")].into());

    // Weakened: no password policy, EBS encryption off in one region.
    let since = after_now();
    iam.delete_account_password_policy().send().await.unwrap();
    eu.disable_ebs_encryption_by_default().send().await.unwrap();
    crate::support::policy::scan(&ws, &[]);
    // the items share the name `account`: one per region, so by item id
    let by_item: BTreeMap<String, Vec<String>> = ws
        .rows(&["changes", "--since", &since])
        .iter()
        .map(|c| {
            let s = c["summary"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
            (c["item"].as_str().unwrap().to_string(), s)
        })
        .collect();
    assert_eq!(
        by_item,
        [
            (item("global"), vec!["password policy removed".to_string()]),
            (item("eu-west-1"), vec!["EBS encryption by default turned off".to_string()]),
        ]
        .into()
    );
    let findings = ws.rows(&["findings", "--monkey", "security"]);
    let regions: BTreeSet<(String, String, String)> = findings
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("region"), s("kind"), s("severity"))
        })
        .collect();
    assert_eq!(
        regions,
        [
            s("global", "account-root-mfa-off", "critical"),
            s("global", "account-password-policy-weak", "warning"),
            s("eu-west-1", "account-ebs-encryption-by-default-off", "warning"),
        ]
        .into()
    );
    let weak = findings.iter().find(|f| f["kind"] == "account-password-policy-weak").unwrap();
    assert!(weak["title"].as_str().unwrap().contains("no password policy"), "{weak:#}");

    // Restored: both resolve.
    strong().await.unwrap();
    eu.enable_ebs_encryption_by_default().send().await.unwrap();
    crate::support::policy::scan(&ws, &[]);
    assert_eq!(open(&ws), [s("account", "account-root-mfa-off", "critical")].into());
}

/// The smallest zip archive (no entries): what a function's code is, here.
const EMPTY_ZIP: &[u8] = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

#[tokio::test]
async fn lambda_ecr_and_secrets_manager_opened_then_closed() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);

    let trust = doc(vec![json!({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole"})]);
    let role = iam.create_role().role_name("hook").assume_role_policy_document(trust).send().await.unwrap();
    lambda
        .create_function()
        .function_name("hook")
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(role.role.unwrap().arn)
        .handler("app.handler")
        .code(aws_sdk_lambda::types::FunctionCode::builder().zip_file(EMPTY_ZIP.into()).build())
        .send()
        .await
        .unwrap();
    ecr.create_repository().repository_name("app").send().await.unwrap();
    let secret = sm.create_secret().name("db").secret_string("s3cr3t").send().await.unwrap().arn.unwrap();

    let ws = Workspace::for_emulator(&moto.endpoint, "");
    crate::support::policy::scan(&ws, &[]);
    assert!(open(&ws).is_empty(), "private resources raised findings: {:?}", open(&ws));

    // Open them: a function URL anyone may call, a repository anyone may
    // pull from, a secret a foreign account may read.
    let since = after_now();
    use aws_sdk_lambda::types::FunctionUrlAuthType;
    lambda
        .create_function_url_config()
        .function_name("hook")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    lambda
        .add_permission()
        .function_name("hook")
        .statement_id("FunctionURLAllowPublicAccess")
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    let pull = doc(vec![json!({"Sid": "Pull", "Effect": "Allow", "Principal": "*",
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]})]);
    ecr.set_repository_policy().repository_name("app").policy_text(pull).send().await.unwrap();
    let read =
        doc(vec![json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{FOREIGN}:role/reader")},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"})]);
    sm.put_resource_policy().secret_id(&secret).resource_policy(read).send().await.unwrap();
    crate::support::policy::scan(&ws, &[]);

    let got = sentences(&ws.rows(&["changes", "--since", &since]));
    let says = |tech: &str, name: &str, start: &str| {
        let s = got
            .get(&(tech.to_string(), name.to_string()))
            .unwrap_or_else(|| panic!("no revision of {tech} {name}: {got:#?}"));
        assert!(s.iter().any(|x| x.starts_with(start)), "{tech} {name} does not say {start:?}: {s:#?}");
    };
    says("lambda:function", "hook", "function policy now allows any AWS principal lambda:InvokeFunctionUrl");
    says("lambda:function", "hook", "function URL ");
    says(
        "ecr:repository",
        "app",
        "repository policy now allows any AWS principal ecr:BatchGetImage, ecr:GetDownloadUrlForLayer through statement \"Pull\"",
    );
    says("secretsmanager:secret", "db", "secret policy now allows account 999999999999 secretsmanager:GetSecretValue");
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        open(&ws),
        [
            s("hook", "lambda-policy-public", "critical"),
            s("hook", "lambda-url-auth-none", "critical"),
            s("app", "ecr-policy-public", "critical"),
            s("db", "secretsmanager-policy-foreign-account", "warning"),
        ]
        .into()
    );
    assert_eq!(ws.rows(&["changes", "--since", &since, "--technology", "lambda"]).len(), 1);

    // Closed again: every finding resolves.
    lambda.remove_permission().function_name("hook").statement_id("FunctionURLAllowPublicAccess").send().await.unwrap();
    lambda.delete_function_url_config().function_name("hook").send().await.unwrap();
    ecr.delete_repository_policy().repository_name("app").send().await.unwrap();
    sm.delete_resource_policy().secret_id(&secret).send().await.unwrap();
    crate::support::policy::scan(&ws, &[]);
    assert!(open(&ws).is_empty(), "closing did not resolve: {:?}", open(&ws));
}

/// Network ACLs (first match decides) and CloudTrail trails (logging
/// stopped is a change and a critical finding), opened and closed.
#[tokio::test]
async fn network_acls_and_trails_opened_then_closed() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ec2 = moto.ec2("us-east-1").await;
    let trail_api = aws_sdk_cloudtrail::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    let vpc = ec2.create_vpc().cidr_block("10.9.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let acl = ec2.create_network_acl().vpc_id(&vpc).send().await.unwrap().network_acl.unwrap().network_acl_id.unwrap();
    s3.create_bucket().bucket("trail-logs").send().await.unwrap();
    trail_api
        .create_trail()
        .name("main")
        .s3_bucket_name("trail-logs")
        .is_multi_region_trail(true)
        .enable_log_file_validation(true)
        .send()
        .await
        .unwrap();
    trail_api.start_logging().name("main").send().await.unwrap();

    let ws = Workspace::for_emulator(
        &moto.endpoint,
        "[monkeys.security]\ntechnologies = [\"ec2:network-acl\", \"cloudtrail\"]\n",
    );
    crate::support::policy::scan(&ws, &[]);
    // only the new ACL and the trail: the default VPCs' ACLs allow everything
    let ours = |ws: &Workspace| -> BTreeSet<(String, String, String)> {
        open(ws).into_iter().filter(|(r, _, _)| r == &acl || r == "main").collect()
    };
    assert!(ours(&ws).is_empty(), "{:?}", ours(&ws));

    // SSH allowed from anywhere; logging stopped.
    let since = after_now();
    let rule = |n: i32, action: aws_sdk_ec2::types::RuleAction| {
        ec2.create_network_acl_entry()
            .network_acl_id(&acl)
            .rule_number(n)
            .protocol("6")
            .rule_action(action)
            .egress(false)
            .cidr_block("0.0.0.0/0")
            .port_range(aws_sdk_ec2::types::PortRange::builder().from(22).to(22).build())
            .send()
    };
    rule(100, aws_sdk_ec2::types::RuleAction::Allow).await.unwrap();
    trail_api.stop_logging().name("main").send().await.unwrap();
    crate::support::policy::scan(&ws, &[]);
    let got = sentences(&ws.rows(&["changes", "--since", &since]));
    assert_eq!(
        got[&("ec2:network-acl".to_string(), acl.clone())],
        ["ingress allow tcp/22 from 0.0.0.0/0 (rule 100) added"]
    );
    assert_eq!(got[&("cloudtrail:trail".to_string(), "main".to_string())], ["logging stopped"]);
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        ours(&ws),
        [s(&acl, "ec2-network-acl-admin-open", "warning"), s("main", "cloudtrail-logging-off", "critical")].into()
    );

    // A lower-numbered deny closes SSH; logging resumes.
    rule(50, aws_sdk_ec2::types::RuleAction::Deny).await.unwrap();
    trail_api.start_logging().name("main").send().await.unwrap();
    crate::support::policy::scan(&ws, &[]);
    assert!(ours(&ws).is_empty(), "closing did not resolve: {:?}", ours(&ws));
}

/// Load-balancer listeners: a redirect to HTTPS turned into plain HTTP and a
/// TLS policy downgraded to one allowing TLS 1.0, then both restored.
#[tokio::test]
async fn listeners_downgraded_then_restored() {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, Certificate, ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum,
    };
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ec2 = moto.ec2("us-east-1").await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let vpc = ec2.create_vpc().cidr_block("10.8.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let mut subnets = Vec::new();
    for (cidr, az) in [("10.8.1.0/24", "us-east-1a"), ("10.8.2.0/24", "us-east-1b")] {
        let s = ec2.create_subnet().vpc_id(&vpc).cidr_block(cidr).availability_zone(az).send().await.unwrap();
        subnets.push(s.subnet.unwrap().subnet_id.unwrap());
    }
    let lb = elb.create_load_balancer().name("web").set_subnets(Some(subnets)).send().await.unwrap();
    let lb = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let tg = elb.create_target_group().name("app").protocol(ProtocolEnum::Http).port(8080).vpc_id(&vpc).send().await;
    let tg = tg.unwrap().target_groups()[0].target_group_arn().unwrap().to_string();
    let forward = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&tg).build();
    let redirect = Action::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(
            RedirectActionConfig::builder()
                .protocol("HTTPS")
                .port("443")
                .status_code(RedirectActionStatusCodeEnum::Http301)
                .build(),
        )
        .build();
    let http = elb
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(redirect.clone())
        .send()
        .await
        .unwrap();
    let http = http.listeners()[0].listener_arn().unwrap().to_string();
    let modern = "ELBSecurityPolicy-TLS13-1-2-2021-06";
    let https = elb
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Https)
        .port(443)
        .ssl_policy(modern)
        .certificates(
            Certificate::builder().certificate_arn(format!("arn:aws:iam::{ACCOUNT}:server-certificate/web")).build(),
        )
        .default_actions(forward.clone())
        .send()
        .await
        .unwrap();
    let https = https.listeners()[0].listener_arn().unwrap().to_string();

    let ws = Workspace::for_emulator(&moto.endpoint, "[monkeys.security]\ntechnologies = [\"elbv2\"]\n");
    crate::support::policy::scan(&ws, &[]);
    let names: BTreeSet<(String, String)> = sentences(&ws.rows(&["changes"])).into_keys().collect();
    let listener = |n: &str| ("elbv2:listener".to_string(), n.to_string());
    assert_eq!(names, [listener("web:443"), listener("web:80")].into());
    assert!(open(&ws).is_empty(), "{:?}", open(&ws));

    let since = after_now();
    elb.modify_listener().listener_arn(&http).default_actions(forward.clone()).send().await.unwrap();
    elb.modify_listener().listener_arn(&https).ssl_policy("ELBSecurityPolicy-2016-08").send().await.unwrap();
    crate::support::policy::scan(&ws, &[]);
    let got = sentences(&ws.rows(&["changes", "--since", &since]));
    assert_eq!(got[&listener("web:80")], ["default action changed from redirect to HTTPS to forward"]);
    assert_eq!(
        got[&listener("web:443")],
        [format!("TLS policy changed from {modern} to ELBSecurityPolicy-2016-08 (allows TLSv1, TLSv1.1, TLSv1.2)")]
    );
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        open(&ws),
        [s("web:80", "elbv2-listener-http-no-redirect", "warning"), s("web:443", "elbv2-listener-tls-old", "warning")]
            .into()
    );

    elb.modify_listener().listener_arn(&http).default_actions(redirect).send().await.unwrap();
    elb.modify_listener().listener_arn(&https).ssl_policy(modern).send().await.unwrap();
    crate::support::policy::scan(&ws, &[]);
    assert!(open(&ws).is_empty(), "restoring did not resolve: {:?}", open(&ws));
}

/// EBS snapshots and AMIs: shared with everyone or a foreign account, then
/// unshared.
#[tokio::test]
async fn snapshots_and_images_shared_then_unshared() {
    use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications, OperationType, SnapshotAttributeName};
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    let volume = ec2.create_volume().availability_zone("us-east-1a").size(8).send().await.unwrap().volume_id.unwrap();
    let snap =
        ec2.create_snapshot().volume_id(&volume).description("db backup").send().await.unwrap().snapshot_id.unwrap();
    let image =
        ec2.register_image().name("golden").root_device_name("/dev/xvda").send().await.unwrap().image_id.unwrap();

    let ws = Workspace::for_emulator(
        &moto.endpoint,
        "[monkeys.security]\ntechnologies = [\"ec2:snapshot\", \"ec2:image\"]\n",
    );
    crate::support::policy::scan(&ws, &[]);
    let names: BTreeSet<(String, String)> = sentences(&ws.rows(&["changes"])).into_keys().collect();
    assert!(names.contains(&("ec2:snapshot".to_string(), snap.clone())), "{names:?}");
    assert!(names.contains(&("ec2:image".to_string(), image.clone())), "{names:?}");
    assert!(open(&ws).is_empty(), "{:?}", open(&ws));

    let since = after_now();
    let share_snapshot = |op: OperationType| {
        ec2.modify_snapshot_attribute()
            .snapshot_id(&snap)
            .attribute(SnapshotAttributeName::CreateVolumePermission)
            .operation_type(op)
            .group_names("all")
            .send()
    };
    share_snapshot(OperationType::Add).await.unwrap();
    let foreign = LaunchPermission::builder().user_id(FOREIGN).build();
    ec2.modify_image_attribute()
        .image_id(&image)
        .launch_permission(LaunchPermissionModifications::builder().add(foreign.clone()).build())
        .send()
        .await
        .unwrap();
    crate::support::policy::scan(&ws, &[]);
    let got = sentences(&ws.rows(&["changes", "--since", &since]));
    assert_eq!(got[&("ec2:snapshot".to_string(), snap.clone())], ["shared with everyone"]);
    assert_eq!(got[&("ec2:image".to_string(), image.clone())], ["shared with account 999999999999"]);
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        open(&ws),
        [s(&snap, "ec2-snapshot-public", "critical"), s(&image, "ec2-image-foreign-account", "warning")].into()
    );

    share_snapshot(OperationType::Remove).await.unwrap();
    ec2.modify_image_attribute()
        .image_id(&image)
        .launch_permission(LaunchPermissionModifications::builder().remove(foreign).build())
        .send()
        .await
        .unwrap();
    crate::support::policy::scan(&ws, &[]);
    assert!(open(&ws).is_empty(), "unsharing did not resolve: {:?}", open(&ws));
}

/// An RDS snapshot shared with everyone and a foreign account, then unshared.
#[tokio::test]
async fn rds_snapshots_shared_then_unshared() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let rds = aws_sdk_rds::Client::new(&sdk);
    rds.create_db_instance()
        .db_instance_identifier("orders")
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("admin")
        .master_user_password("not-a-secret-1")
        .allocated_storage(20)
        .send()
        .await
        .unwrap();
    rds.create_db_snapshot()
        .db_instance_identifier("orders")
        .db_snapshot_identifier("orders-nightly")
        .send()
        .await
        .unwrap();
    let ws = Workspace::for_emulator(&moto.endpoint, "[monkeys.security]\ntechnologies = [\"rds\"]\n");
    crate::support::policy::scan(&ws, &[]);
    assert!(
        sentences(&ws.rows(&["changes"])).contains_key(&("rds:snapshot".to_string(), "orders-nightly".to_string()))
    );
    assert!(open(&ws).is_empty(), "{:?}", open(&ws));

    let since = after_now();
    let share = |add: &[&str], remove: &[&str]| {
        rds.modify_db_snapshot_attribute()
            .db_snapshot_identifier("orders-nightly")
            .attribute_name("restore")
            .set_values_to_add(Some(add.iter().map(|s| s.to_string()).collect()))
            .set_values_to_remove(Some(remove.iter().map(|s| s.to_string()).collect()))
            .send()
    };
    share(&["all", FOREIGN], &[]).await.unwrap();
    crate::support::policy::scan(&ws, &[]);
    let got = sentences(&ws.rows(&["changes", "--since", &since]));
    assert_eq!(
        got[&("rds:snapshot".to_string(), "orders-nightly".to_string())],
        ["shared with everyone", "shared with account 999999999999"]
    );
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        open(&ws),
        [
            s("orders-nightly", "rds-snapshot-public", "critical"),
            s("orders-nightly", "rds-snapshot-foreign-account", "warning")
        ]
        .into()
    );
    share(&[], &["all", FOREIGN]).await.unwrap();
    crate::support::policy::scan(&ws, &[]);
    assert!(open(&ws).is_empty(), "unsharing did not resolve: {:?}", open(&ws));
}
