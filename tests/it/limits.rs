//! The limits monkey against the emulator, seeded to known levels.

use crate::support::{Moto, Workspace};
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
    let ws = Workspace::new(&format!(
        "[aws]\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\nmax_backoff = \"50ms\"\n[monkeys.security]\nenabled = false\n[monkeys.certs]\nenabled = false\n",
        moto.endpoint
    ));
    ws.run(&["scan", "--monkey", "limits"]).assert_code(0);
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
        (Some(5.0), Some(5.0), Some("builtin")),
        "four allocated, one for the NAT gateway"
    );
    assert_eq!(quota(&rows, "L-589F43AA", Some(&vpcs[0]))["usage"].as_f64(), Some(2.0), "main + one route table");
    assert_eq!(quota(&rows, "L-B4A6D682", Some(&vpcs[0]))["usage"].as_f64(), Some(1.0), "the default network ACL");
    assert_eq!(quota(&rows, "L-FE5A380F", Some("us-east-1a"))["usage"].as_f64(), Some(1.0));
    assert_eq!(quota(&rows, "L-2AFB9258", Some(&eni))["usage"].as_f64(), Some(3.0));
    assert!(quota(&rows, "L-DF5E4CA3", None)["usage"].as_f64().unwrap() >= 1.0);
    assert!(
        rows.iter().any(|r| r["quota_code"] == "L-93826ACB" && r["usage"].as_f64() >= Some(1.0)),
        "routes per table"
    );
    let certs = quota(&rows, "L-BF35879D", None);
    assert_eq!(
        (certs["limit"].as_f64(), certs["limit_source"].as_str()),
        (Some(20.0), Some("api")),
        "GetAccountSummary states it"
    );
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
            (format!("vpc/L-0EA8095F:{g}"), "critical".to_string()),
            ("vpc/L-F678F1CE".to_string(), "warning".to_string()),
        ]
    );
    let t = ws.run(&["limits"]);
    assert!(t.stdout.contains("[###################.]  97%"), "{}", t.stdout);

    // dropping below clears the findings
    ec2.delete_vpc().vpc_id(&vpcs[2]).send().await.unwrap();
    ws.run(&["scan", "--monkey", "limits"]).assert_code(0);
    let open = ws.run(&["findings", "--monkey", "limits", "--format", "json"]);
    let still: Vec<String> =
        open.json().as_array().unwrap().iter().map(|f| f["resource"].as_str().unwrap().to_string()).collect();
    assert!(!still.contains(&"vpc/L-F678F1CE".to_string()), "{still:?}");
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
    ws.run(&["scan", "--monkey", "limits"]).assert_code(0);
    let v = vpc_row(&ws);
    assert_eq!(
        (v["usage"].as_f64(), v["limit"].as_f64(), v["limit_source"].as_str()),
        (Some(4.0), Some(10.0), Some("applied"))
    );
    assert_eq!(v["severity"], Value::Null);

    std::fs::write(ws.file("troop.toml"), config("[monkeys.limits.overrides.\"vpc/L-F678F1CE\"]\nlimit = 4\n"))
        .unwrap();
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
}
