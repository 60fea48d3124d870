//! The limits monkey against the emulator, seeded to known levels.

use crate::support::{Moto, Workspace, tls};
use serde_json::Value;

fn quota<'a>(rows: &'a [Value], code: &str, resource: Option<&str>) -> &'a Value {
    rows.iter()
        .find(|r| r["quota_code"] == code && r["resource"].as_str() == resource)
        .unwrap_or_else(|| panic!("{code} {resource:?} missing: {rows:#?}"))
}

#[tokio::test]
async fn usage_limits_and_severities_at_known_levels() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    // moto has a default VPC: 3 more make 4 of 5
    let mut vpcs = Vec::new();
    for i in 0..3 {
        vpcs.push(
            ec2.create_vpc()
                .cidr_block(format!("10.{}.0.0/16", 20 + i))
                .send()
                .await
                .unwrap()
                .vpc
                .unwrap()
                .vpc_id
                .unwrap(),
        );
    }
    let g = ec2.create_security_group().group_name("busy").description("busy").vpc_id(&vpcs[0]).send().await.unwrap();
    let g = g.group_id.unwrap();
    let ranges: Vec<_> =
        (0..58).map(|i| aws_sdk_ec2::types::IpRange::builder().cidr_ip(format!("10.99.{i}.0/24")).build()).collect();
    let perm = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .set_ip_ranges(Some(ranges))
        .build();
    ec2.authorize_security_group_ingress().group_id(&g).ip_permissions(perm).send().await.unwrap();
    for _ in 0..4 {
        ec2.allocate_address().domain(aws_sdk_ec2::types::DomainType::Vpc).send().await.unwrap();
    }
    // one more route table; a subnet with a NAT gateway and an interface in 3 security groups
    ec2.create_route_table().vpc_id(&vpcs[0]).send().await.unwrap();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpcs[0])
        .cidr_block("10.20.1.0/24")
        .availability_zone("us-east-1a")
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet.unwrap().subnet_id.unwrap();
    let eip =
        ec2.allocate_address().domain(aws_sdk_ec2::types::DomainType::Vpc).send().await.unwrap().allocation_id.unwrap();
    ec2.create_nat_gateway().subnet_id(&subnet).allocation_id(eip).send().await.unwrap();
    let mut sgs = vec![g.clone()];
    for name in ["a", "b"] {
        let x = ec2.create_security_group().group_name(name).description(name).vpc_id(&vpcs[0]).send().await.unwrap();
        sgs.push(x.group_id.unwrap());
    }
    let eni = ec2.create_network_interface().subnet_id(&subnet).set_groups(Some(sgs)).send().await.unwrap();
    let eni = eni.network_interface.unwrap().network_interface_id.unwrap();
    // 17 of 20 IAM server certificates: 85%, warning
    let iam = aws_sdk_iam::Client::new(&sdk);
    let day = time::Duration::days(1);
    let cert = crate::support::tls::self_signed(&["legacy.example.com"], tls::now() - day, tls::now() + 90 * day);
    for n in 0..17 {
        iam.upload_server_certificate()
            .server_certificate_name(format!("legacy-{n}"))
            .certificate_body(&cert.cert_pem)
            .private_key(&cert.key_pem)
            .send()
            .await
            .unwrap();
    }
    let ws = Workspace::new(&format!(
        "[aws]\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\nmax_backoff = \"50ms\"\n[monkeys.security]\nenabled = false\n[monkeys.certs]\nenabled = false\n",
        moto.endpoint
    ));
    crate::support::policy::scan(&ws, &["--monkey", "limits"]);
    let r = ws.run(&["limits", "--format", "json"]);
    r.assert_code(0);
    let rows = r.json().as_array().unwrap().clone();
    let vpc = quota(&rows, "L-F678F1CE", None);
    assert_eq!(
        (vpc["usage"].as_f64(), vpc["limit"].as_f64(), vpc["ratio"].as_f64()),
        (Some(4.0), Some(5.0), Some(0.8))
    );
    assert_eq!(vpc["limit_source"], "default", "moto serves the VPC defaults");
    assert_eq!(vpc["severity"], "warning");
    let rules = quota(&rows, "L-0EA8095F", Some(&g));
    assert_eq!((rules["usage"].as_f64(), rules["limit"].as_f64()), (Some(58.0), Some(60.0)));
    assert_eq!(rules["severity"], "critical");
    let eips = quota(&rows, "L-0263D0A3", None);
    assert_eq!(
        (eips["usage"].as_f64(), eips["limit"].as_f64(), eips["limit_source"].as_str()),
        (Some(5.0), Some(5.0), Some("api")),
        "four allocated, one for the NAT gateway; the limit from DescribeAccountAttributes"
    );
    assert_eq!(quota(&rows, "L-589F43AA", Some(&vpcs[0]))["usage"].as_f64(), Some(2.0), "main + one route table");
    assert_eq!(quota(&rows, "L-B4A6D682", Some(&vpcs[0]))["usage"].as_f64(), Some(1.0), "the default network ACL");
    assert_eq!(quota(&rows, "L-FE5A380F", Some("us-east-1a"))["usage"].as_f64(), Some(1.0));
    let per_eni = quota(&rows, "L-2AFB9258", Some(&eni));
    assert_eq!((per_eni["usage"].as_f64(), per_eni["limit_source"].as_str()), (Some(3.0), Some("default")));
    // enforced per availability zone: the interface's zone has a row of its own
    assert!(quota(&rows, "L-DF5E4CA3", Some("us-east-1a"))["usage"].as_f64().unwrap() >= 1.0);
    assert!(
        rows.iter().any(|r| r["quota_code"] == "L-93826ACB" && r["usage"].as_f64() >= Some(1.0)),
        "routes per table"
    );
    let certs = quota(&rows, "L-BF35879D", None);
    assert_eq!(
        (certs["usage"].as_f64(), certs["limit"].as_f64(), certs["limit_source"].as_str()),
        (Some(17.0), Some(20.0), Some("api")),
        "GetAccountSummary states both"
    );
    assert_eq!((certs["ratio"].as_f64(), certs["severity"].as_str()), (Some(0.85), Some("warning")));
    // highest usage first: the Elastic IPs (5 of 5), then the busy group's rules (58 of 60)
    assert_eq!(rows[0]["quota_code"], "L-0263D0A3");
    assert_eq!(rows[1]["quota_code"], "L-0EA8095F");

    let f = ws.run(&["findings", "--monkey", "limits", "--format", "json"]);
    let mut got: Vec<(String, String)> = f
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["resource"].as_str().unwrap().to_string(), f["severity"].as_str().unwrap().to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("ec2/L-0263D0A3".to_string(), "critical".to_string()),
            ("iam/L-BF35879D".to_string(), "warning".to_string()),
            (format!("vpc/L-0EA8095F:{g}"), "critical".to_string()),
            ("vpc/L-F678F1CE".to_string(), "warning".to_string()),
        ]
    );
    let t = ws.run(&["limits"]);
    assert!(t.stdout.contains("[###################.]  97%"), "{}", t.stdout);

    // dropping below clears the findings
    ec2.delete_vpc().vpc_id(&vpcs[2]).send().await.unwrap();
    for n in 0..3 {
        iam.delete_server_certificate().server_certificate_name(format!("legacy-{n}")).send().await.unwrap();
    }
    crate::support::policy::scan(&ws, &["--monkey", "limits"]);
    let open = ws.run(&["findings", "--monkey", "limits", "--format", "json"]);
    let mut still: Vec<String> =
        open.json().as_array().unwrap().iter().map(|f| f["resource"].as_str().unwrap().to_string()).collect();
    still.sort();
    assert_eq!(
        still,
        ["ec2/L-0263D0A3".to_string(), format!("vpc/L-0EA8095F:{g}")],
        "VPCs at 3/5 and certificates at 14/20 clear"
    );
}

// The fakes run on this runtime while the test blocks on troop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_beats_default_override_beats_both_and_unknown_resolves_nothing() {
    use crate::support::proxy::{Fault, FaultProxy};
    use crate::support::servicequotas::FakeServiceQuotas;
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    for i in 0..3 {
        ec2.create_vpc().cidr_block(format!("10.{}.0.0/16", 30 + i)).send().await.unwrap();
    }
    let sq = FakeServiceQuotas::start().await;
    sq.default("vpc", "L-F678F1CE", 5.0);
    sq.applied("vpc", "L-F678F1CE", 10.0);
    sq.applied("vpc", "L-0EA8095F", 60.0);
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let config = |extra: &str| {
        format!(
            "[aws]\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\nmax_backoff = \"50ms\"\n[aws.endpoints]\nservicequotas = \"{}\"\n[monkeys.security]\nenabled = false\n[monkeys.certs]\nenabled = false\n{extra}",
            proxy.endpoint, sq.endpoint
        )
    };
    let ws = Workspace::new(&config(""));
    let vpc_row = |ws: &Workspace| {
        let r = ws.run(&["limits", "--format", "json"]);
        r.json().as_array().unwrap().iter().find(|r| r["quota_code"] == "L-F678F1CE").unwrap().clone()
    };
    crate::support::policy::scan(&ws, &["--monkey", "limits"]);
    let v = vpc_row(&ws);
    assert_eq!(
        (v["usage"].as_f64(), v["limit"].as_f64(), v["limit_source"].as_str()),
        (Some(4.0), Some(10.0), Some("applied"))
    );
    assert_eq!(v["severity"], Value::Null);

    ws.write_config(&config("[monkeys.limits.overrides.\"vpc/L-F678F1CE\"]\nlimit = 4\n"));
    ws.run(&["scan", "--monkey", "limits"]).assert_code(0);
    let v = vpc_row(&ws);
    assert_eq!(
        (v["limit"].as_f64(), v["limit_source"].as_str(), v["severity"].as_str()),
        (Some(4.0), Some("override"), Some("critical"))
    );
    let open = || {
        let f = ws.run(&["findings", "--monkey", "limits", "--format", "json"]);
        f.json().as_array().unwrap().iter().map(|f| f["resource"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert!(open().contains(&"vpc/L-F678F1CE".to_string()));

    // The count fails: unknown with the reason, never 0%, and the finding stays open.
    proxy.set(vec![Fault::ec2(&["Action=DescribeVpcs"], 403, "UnauthorizedOperation")]);
    ws.run(&["scan", "--monkey", "limits"]).assert_code(0);
    let v = vpc_row(&ws);
    assert_eq!(v["usage"], Value::Null);
    assert_eq!(v["ratio"], Value::Null);
    assert!(v["unknown_reason"].as_str().unwrap().contains("UnauthorizedOperation"), "{v:#}");
    assert!(open().contains(&"vpc/L-F678F1CE".to_string()), "an unknown count resolved the finding");
    let t = ws.run(&["limits"]);
    assert!(t.stdout.contains("unknown: access denied"), "{}", t.stdout);

    // Throttled past every retry: unknown again, with the reason, never 0.
    proxy.set(vec![Fault::ec2(&["Action=DescribeSecurityGroups"], 503, "RequestLimitExceeded")]);
    ws.run(&["scan", "--monkey", "limits"]).assert_code(0);
    assert_eq!(proxy.hits(), 4, "every attempt of [aws] max_attempts was made");
    let rows = ws.run(&["limits", "--format", "json"]).json().as_array().unwrap().clone();
    let sgs = rows.iter().find(|r| r["quota_code"] == "L-E79EC296").unwrap();
    assert_eq!(sgs["usage"], Value::Null, "{sgs:#}");
    assert!(sgs["unknown_reason"].as_str().unwrap().contains("RequestLimitExceeded"), "{sgs:#}");
    assert!(
        rows.iter().all(|r| r["quota_code"] != "L-0EA8095F" || r["usage"].is_null()),
        "no per-group rule count survives a failed listing"
    );
    assert_eq!(vpc_row(&ws)["usage"].as_f64(), Some(4.0), "the other counts are unaffected");
}

fn usage(rows: &[Value], code: &str, resource: Option<&str>) -> Option<f64> {
    quota(rows, code, resource)["usage"].as_f64()
}

#[tokio::test]
async fn vcpus_storage_load_balancers_and_autoscaling_at_known_levels() {
    use aws_sdk_ec2::types::{InstanceType, VolumeType};
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, Certificate, LoadBalancerTypeEnum, ProtocolEnum,
    };
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let image = ec2.describe_images().send().await.unwrap().images()[0].image_id().unwrap().to_string();
    let run = |t: InstanceType, n: i32| {
        ec2.run_instances().image_id(&image).instance_type(t).min_count(n).max_count(n).send()
    };
    // Standard: 2 x m5.large (2 vCPUs each) = 4 of 5; G: 1 x g4dn.xlarge = 4 vCPUs
    run(InstanceType::M5Large, 2).await.unwrap();
    run(InstanceType::G4dnXlarge, 1).await.unwrap();
    // a stopped m5.xlarge counts against nothing
    let stopped = run(InstanceType::M5Xlarge, 1).await.unwrap().instances()[0].instance_id().unwrap().to_string();
    ec2.stop_instances().instance_ids(&stopped).send().await.unwrap();
    // EBS: 1.5 TiB of gp3, 2 TiB of io2
    let gp3 = ec2
        .create_volume()
        .availability_zone("us-east-1a")
        .volume_type(VolumeType::Gp3)
        .size(1024)
        .send()
        .await
        .unwrap();
    ec2.create_volume().availability_zone("us-east-1a").volume_type(VolumeType::Gp3).size(512).send().await.unwrap();
    ec2.create_volume()
        .availability_zone("us-east-1a")
        .volume_type(VolumeType::Io2)
        .iops(1000)
        .size(2048)
        .send()
        .await
        .unwrap();

    // an ALB with an HTTP listener and an HTTPS one carrying 2 certificates besides its default; an NLB with one listener
    let vpc = ec2.describe_vpcs().send().await.unwrap().vpcs()[0].vpc_id().unwrap().to_string();
    let subnets: Vec<String> = ec2
        .describe_subnets()
        .send()
        .await
        .unwrap()
        .subnets()
        .iter()
        .take(2)
        .map(|s| s.subnet_id().unwrap().to_string())
        .collect();
    let acm = aws_sdk_acm::Client::new(&sdk);
    let mut certs = Vec::new();
    for n in ["a", "b", "c"] {
        let c = acm.request_certificate().domain_name(format!("{n}.shop.example.com")).send().await.unwrap();
        certs.push(c.certificate_arn.unwrap());
    }
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let lb = |name: &str, kind: LoadBalancerTypeEnum| {
        elb.create_load_balancer().name(name).set_subnets(Some(subnets.clone())).r#type(kind).send()
    };
    let alb = lb("web", LoadBalancerTypeEnum::Application).await.unwrap().load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let nlb = lb("tcp", LoadBalancerTypeEnum::Network).await.unwrap().load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let mut tgs = Vec::new();
    for (name, proto) in [("web-tg", ProtocolEnum::Http), ("tcp-tg", ProtocolEnum::Tcp)] {
        let t = elb.create_target_group().name(name).protocol(proto).port(80).vpc_id(&vpc).send().await.unwrap();
        tgs.push(t.target_groups()[0].target_group_arn().unwrap().to_string());
    }
    let forward = |tg: &str| Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(tg).build();
    elb.create_listener()
        .load_balancer_arn(&alb)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(forward(&tgs[0]))
        .send()
        .await
        .unwrap();
    let https = elb
        .create_listener()
        .load_balancer_arn(&alb)
        .protocol(ProtocolEnum::Https)
        .port(443)
        .certificates(Certificate::builder().certificate_arn(&certs[0]).build())
        .default_actions(forward(&tgs[0]))
        .send()
        .await
        .unwrap();
    let https = https.listeners()[0].listener_arn().unwrap().to_string();
    elb.add_listener_certificates()
        .listener_arn(&https)
        .certificates(Certificate::builder().certificate_arn(&certs[1]).build())
        .certificates(Certificate::builder().certificate_arn(&certs[2]).build())
        .send()
        .await
        .unwrap();
    elb.create_listener()
        .load_balancer_arn(&nlb)
        .protocol(ProtocolEnum::Tcp)
        .port(5432)
        .default_actions(forward(&tgs[1]))
        .send()
        .await
        .unwrap();

    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    for lc in ["lc-1", "lc-2"] {
        asg.create_launch_configuration()
            .launch_configuration_name(lc)
            .image_id(&image)
            .instance_type("t3.micro")
            .send()
            .await
            .unwrap();
    }
    asg.create_auto_scaling_group()
        .auto_scaling_group_name("workers")
        .launch_configuration_name("lc-1")
        .min_size(0)
        .max_size(1)
        .availability_zones("us-east-1a")
        .send()
        .await
        .unwrap();

    let ws = Workspace::new(&format!(
        "[aws]\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\nmax_backoff = \"50ms\"\n[monkeys.security]\nenabled = false\n[monkeys.certs]\nenabled = false\n[monkeys.limits.overrides.\"ec2/L-DB2E81BA\"]\nlimit = 5\n",
        moto.endpoint
    ));
    crate::support::policy::scan(&ws, &["--monkey", "limits"]);
    let rows = ws.run(&["limits", "--format", "json"]).json().as_array().unwrap().clone();
    let standard = quota(&rows, "L-1216C47A", None);
    assert_eq!(
        (
            standard["usage"].as_f64(),
            standard["limit"].as_f64(),
            standard["limit_source"].as_str(),
            standard["severity"].as_str()
        ),
        (Some(4.0), Some(5.0), Some("builtin"), Some("warning")),
        "vCPUs from DescribeInstanceTypes, not instance counts; the stopped instance is not counted"
    );
    let g = quota(&rows, "L-DB2E81BA", None);
    assert_eq!(
        (g["usage"].as_f64(), g["limit"].as_f64(), g["limit_source"].as_str()),
        (Some(4.0), Some(5.0), Some("override"))
    );
    let p = quota(&rows, "L-417A185B", None);
    assert_eq!(
        (p["usage"].as_f64(), p["limit"].as_f64()),
        (Some(0.0), None),
        "no built-in default for P: unknown limit, not 0"
    );
    assert_eq!(p["unknown_reason"], "no limit known");
    assert_eq!(usage(&rows, "L-7A658B76", None), Some(1.5), "gp3 TiB");
    assert_eq!(usage(&rows, "L-09BD8365", None), Some(2.0), "io2 TiB");
    assert_eq!(usage(&rows, "L-FD252861", None), Some(0.0), "io1 TiB");
    assert_eq!(usage(&rows, "L-53DA6B97", None), Some(1.0), "ALBs");
    assert_eq!(usage(&rows, "L-69A177A2", None), Some(1.0), "NLBs");
    assert_eq!(usage(&rows, "L-B22855CB", None), Some(2.0), "target groups");
    assert_eq!(usage(&rows, "L-B6DF7632", Some("web")), Some(2.0), "listeners of the ALB");
    assert_eq!(usage(&rows, "L-57A373D6", Some("tcp")), Some(1.0), "listeners of the NLB");
    assert_eq!(usage(&rows, "L-9365A611", Some("web")), Some(2.0), "certificates besides the default");
    assert_eq!(usage(&rows, "L-52964454", Some("tcp")), Some(0.0));
    assert_eq!(usage(&rows, "L-CDE20ADC", None), Some(1.0), "Auto Scaling groups");
    assert_eq!(usage(&rows, "L-6B80B8FA", None), Some(2.0), "launch configurations");
    let distinct: std::collections::BTreeSet<&str> = rows.iter().map(|r| r["quota_code"].as_str().unwrap()).collect();
    assert!(distinct.len() >= 46, "{} quotas: {distinct:?}", distinct.len());

    // snapshots: moto answers OwnerIds=self with its AMI snapshots too, so count the change
    let before = usage(&rows, "L-309BACF6", None).unwrap();
    for _ in 0..3 {
        ec2.create_snapshot().volume_id(gp3.volume_id().unwrap()).send().await.unwrap();
    }
    // one more m5.large: 6 of 5 vCPUs
    run(InstanceType::M5Large, 1).await.unwrap();
    ws.run(&["scan", "--monkey", "limits"]).assert_code(0);
    let rows = ws.run(&["limits", "--format", "json"]).json().as_array().unwrap().clone();
    assert_eq!(usage(&rows, "L-309BACF6", None), Some(before + 3.0));
    let standard = quota(&rows, "L-1216C47A", None);
    assert_eq!((standard["usage"].as_f64(), standard["severity"].as_str()), (Some(6.0), Some("critical")));
}

/// `[aws.request_rate]` holds a pass to the configured rate. At 2 EC2
/// requests per second (burst 2), the k-th EC2 request cannot reach the
/// server before (k - 1) / 2 s after the first: without the budget the
/// pass's EC2 requests arrive about four times as fast.
// The proxy runs on this runtime while the test blocks on troop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_budget_paces_a_pass() {
    use crate::support::proxy::FaultProxy;
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let ws = Workspace::new(&format!(
        "[aws]\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\nmax_backoff = \"50ms\"\n[aws.request_rate]\nec2 = 2\n[monkeys.security]\nenabled = false\n[monkeys.certs]\nenabled = false\n",
        proxy.endpoint
    ));
    ws.run(&["scan", "--monkey", "limits"]).assert_code(0);
    // EC2's query API names its version in every request
    let ec2: Vec<std::time::Instant> = proxy
        .arrivals
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, req)| req.contains("Version=2016-11-15"))
        .map(|(t, _)| *t)
        .collect();
    assert!(ec2.len() >= 12, "{} EC2 requests", ec2.len());
    for (k, t) in ec2.iter().enumerate() {
        let floor = (k as f64 - 1.0) / 2.0 - 0.05;
        let at = t.duration_since(ec2[0]).as_secs_f64();
        assert!(
            at >= floor,
            "EC2 request {k} arrived {at:.3}s after the first, before the budget allows ({floor:.3}s)"
        );
    }
}

/// `services` narrows a pass to the quotas of those services: no other
/// service is asked anything, and no other quota is reported.
#[tokio::test]
async fn services_narrow_the_pass() {
    let moto = Moto::start();
    let ws = Workspace::new(&format!(
        "[aws]\nregions = [\"us-east-1\", \"eu-west-1\"]\nendpoint_url = \"{}\"\nmax_backoff = \"50ms\"\n[monkeys.security]\nenabled = false\n[monkeys.certs]\nenabled = false\n[monkeys.limits]\nservices = [\"iam\", \"s3\"]\nservice_quotas = false\n",
        moto.endpoint
    ));
    let r = ws.run(&["scan", "--monkey", "limits", "--format", "json"]);
    r.assert_code(0);
    let ops: Vec<String> = r.json()[0]["aws_api_calls_by_operation"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(ops, ["IAM:GetAccountSummary", "S3:ListBuckets", "STS:GetCallerIdentity"]);
    let rows = ws.run(&["limits", "--format", "json"]).json().as_array().unwrap().clone();
    let services: std::collections::BTreeSet<&str> = rows.iter().map(|r| r["service"].as_str().unwrap()).collect();
    assert_eq!(services, ["iam", "s3"].into());
    assert_eq!(rows.len(), 7, "six IAM quotas and the bucket quota, once per account");
}
