//! The certs monkey against real TLS servers on loopback, found through a
//! real DNS answer: every case gives exactly its problems and days left.

use crate::support::Workspace;
use crate::support::dns::Dns;
use crate::support::tls::{self, DAY, now};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use time::Duration;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

fn config(endpoints: &[String], dns: &Dns, extra: &str) -> String {
    let eps: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        "[monkeys.security]\nenabled = false\n[monkeys.limits]\nenabled = false\n[monkeys.certs]\nsources = [\"endpoints\"]\nendpoints = [{}]\nnameservers = [\"{}\"]\nextra_ca_files = [\"root.pem\"]\nprobe_timeout = \"2s\"\n{extra}\n[[alerts.sinks]]\nname = \"log\"\ntype = \"jsonl\"\npath = \"events.jsonl\"\n",
        eps.join(", "),
        dns.addr
    )
}

fn rows(ws: &Workspace) -> BTreeMap<(String, String), Value> {
    let r = ws.run(&["certs", "--format", "json"]);
    r.assert_code(0);
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            ((v["host"].as_str().unwrap().to_string(), v["address"].as_str().unwrap_or("-").to_string()), v.clone())
        })
        .collect()
}

fn problems(v: &Value) -> Vec<&str> {
    v["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect()
}

// TLS servers and DNS run on this runtime while the test blocks on troop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_gives_exactly_its_problems_and_days_left() {
    let n = now();
    let hour = Duration::hours(1);
    let (root, root_key) = tls::root_with_key("Troop Test Root", n - 30 * DAY, n + 3650 * DAY);
    let inter = tls::intermediate(&root, "Troop Test Intermediate", n - 30 * DAY, n + 365 * DAY);
    let short_inter = tls::intermediate(&root, "Troop Short Intermediate", n - 30 * DAY, n + 3 * DAY + hour);
    let old_root = tls::root("Troop Old Root", n - 3000 * DAY, n - 100 * DAY);
    let stale_cross = tls::cross_signed("Troop Test Root", &root_key, &old_root, n - 2000 * DAY, n - 50 * DAY);

    let leaf = |host: &str, ca: &tls::Ca, nb, na| tls::leaf(ca, &[host], nb, na);
    let ok = |host: &str, days: i64| leaf(host, &inter, n - DAY, n + Duration::days(days) + hour);
    let ips: Vec<IpAddr> = (10..=22).map(ip).collect();
    let port = tls::common_port(&ips);
    let at = |last: u8| SocketAddr::new(ip(last), port);

    let valid = ok("valid.test", 90);
    tls::serve(at(10), vec![valid.der, inter.der()], valid.key).await;
    let soon = ok("soon.test", 5);
    tls::serve(at(11), vec![soon.der, inter.der()], soon.key).await;
    let expired = leaf("expired.test", &inter, n - 30 * DAY, n - 2 * DAY + hour);
    tls::serve(at(12), vec![expired.der, inter.der()], expired.key).await;
    let wrong = ok("other.test", 90);
    tls::serve(at(13), vec![wrong.der, inter.der()], wrong.key).await;
    let own = tls::self_signed(&["self.test"], n - DAY, n + 90 * DAY + hour);
    tls::serve(at(14), vec![own.der], own.key).await;
    let lonely = ok("incomplete.test", 90);
    tls::serve(at(15), vec![lonely.der], lonely.key).await;
    let under_short = leaf("shortint.test", &short_inter, n - DAY, n + 200 * DAY + hour);
    tls::serve(at(16), vec![under_short.der, short_inter.der()], under_short.key).await;
    let crossed = ok("cross.test", 90);
    tls::serve(at(17), vec![crossed.der, inter.der(), stale_cross], crossed.key).await;
    let new = ok("multi.test", 300);
    tls::serve(at(18), vec![new.der, inter.der()], new.key).await;
    let old = ok("multi.test", 20);
    tls::serve(at(19), vec![old.der, inter.der()], old.key).await;
    tls::silent(at(20)).await;
    tls::garbage(at(21)).await;
    tls::huge_chain(at(22)).await;

    let names: Vec<(&str, Vec<IpAddr>)> = vec![
        ("valid.test", vec![ip(10)]),
        ("soon.test", vec![ip(11)]),
        ("expired.test", vec![ip(12)]),
        ("wrong.test", vec![ip(13)]),
        ("self.test", vec![ip(14)]),
        ("incomplete.test", vec![ip(15)]),
        ("shortint.test", vec![ip(16)]),
        ("cross.test", vec![ip(17)]),
        ("multi.test", vec![ip(18), ip(19)]),
        ("silent.test", vec![ip(20)]),
        ("garbage.test", vec![ip(21)]),
        ("huge.test", vec![ip(22)]),
    ];
    let records: Vec<(&str, &[IpAddr])> = names.iter().map(|(n, i)| (*n, i.as_slice())).collect();
    let dns = Dns::start(&records).await;
    let endpoints: Vec<String> = names.iter().map(|(n, _)| format!("{n}:{port}")).collect();
    let ws = Workspace::new(&config(&endpoints, &dns, ""));
    std::fs::write(ws.file("root.pem"), root.pem()).unwrap();

    let started = std::time::Instant::now();
    let r = ws.run(&["scan", "--monkey", "certs", "--format", "json"]);
    r.assert_code(0);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "the pass took {:?}", started.elapsed());
    let got = rows(&ws);
    let row = |host: &str, last: u8| {
        got.get(&(host.to_string(), ip(last).to_string())).unwrap_or_else(|| panic!("{host} missing: {got:#?}"))
    };

    // (host, address, problems, days_left)
    let cases: Vec<(&str, u8, Vec<&str>, Option<i64>)> = vec![
        ("valid.test", 10, vec![], Some(90)),
        ("soon.test", 11, vec![], Some(5)),
        ("expired.test", 12, vec!["expired"], Some(-2)),
        ("wrong.test", 13, vec!["hostname-mismatch"], Some(90)),
        ("self.test", 14, vec!["self-signed"], Some(90)),
        ("incomplete.test", 15, vec!["incomplete-chain"], Some(90)),
        ("shortint.test", 16, vec![], Some(200)),
        ("cross.test", 17, vec![], Some(90)),
        ("multi.test", 18, vec![], Some(300)),
        ("multi.test", 19, vec!["stale-deployment"], Some(20)),
        ("silent.test", 20, vec!["handshake-failed"], None),
        ("garbage.test", 21, vec!["handshake-failed"], None),
        ("huge.test", 22, vec!["handshake-failed"], None),
    ];
    for (host, last, want, days) in &cases {
        let v = row(host, *last);
        assert_eq!(problems(v), *want, "{host}: {v:#}");
        assert_eq!(v["days_left"].as_i64(), *days, "{host}: {v:#}");
        assert_eq!(v["source"], "endpoint");
        assert_eq!(v["port"], port);
    }
    // The expiring intermediate shows in chain_not_after; the stale cross-signed root does not.
    let short = row("shortint.test", 16);
    let chain_days = (short["chain_not_after_unix"].as_i64().unwrap() - now().unix_timestamp()) / 86_400;
    assert_eq!(chain_days, 3, "{short:#}");
    let cross = row("cross.test", 17);
    assert_eq!(cross["chain_not_after"], cross["not_after"], "the stale cross-sign raised an alarm: {cross:#}");
    assert_eq!(row("valid.test", 10)["subject"], "CN=valid.test");
    assert_eq!(row("valid.test", 10)["issuer"], "CN=Troop Test Intermediate");
    assert!(row("silent.test", 20)["error"].as_str().unwrap().contains("no answer within 2.0s"));

    // Findings: warned at the right step, critical where it must be.
    let f = ws.run(&["findings", "--monkey", "certs", "--format", "json"]);
    let findings: BTreeMap<String, (String, Option<String>)> = f
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let host = f["details"]["host"].as_str().unwrap().to_string();
            let addr = f["details"]["address"].as_str().unwrap().to_string();
            let key = format!("{host}@{addr}");
            (key, (f["severity"].as_str().unwrap().to_string(), f["labels"]["threshold"].as_str().map(str::to_string)))
        })
        .collect();
    let expect = |key: &str, sev: &str, threshold: Option<&str>| {
        assert_eq!(findings.get(key), Some(&(sev.to_string(), threshold.map(str::to_string))), "{key}: {findings:#?}");
    };
    expect("soon.test@127.0.0.11", "critical", Some("7d"));
    expect("expired.test@127.0.0.12", "critical", Some("expired"));
    expect("wrong.test@127.0.0.13", "critical", None);
    expect("shortint.test@127.0.0.16", "critical", Some("7d"));
    expect("multi.test@127.0.0.19", "warning", Some("30d"));
    expect("huge.test@127.0.0.22", "critical", None);
    assert!(!findings.contains_key("valid.test@127.0.0.10"));
    assert!(!findings.contains_key("cross.test@127.0.0.17"));

    // The table lists soonest expiry first.
    let t = ws.run(&["certs"]);
    let first_data = t.stdout.lines().nth(1).unwrap_or_default();
    assert!(first_data.starts_with("-2") && first_data.contains("expired.test"), "{}", t.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_smtp_imap_pop3_and_owners() {
    let n = now();
    let root = tls::root("Troop Test Root", n - 30 * DAY, n + 3650 * DAY);
    let ips = [ip(30), ip(31), ip(32)];
    let port = tls::common_port(&ips);
    let servers = [
        ("mail.shop.test", tls::Mail::Smtp, "smtp", 10),
        ("imap.shop.test", tls::Mail::Imap, "imap", 20),
        ("pop.shop.test", tls::Mail::Pop3, "pop3", 40),
    ];
    for ((host, proto, _, days), addr) in servers.iter().zip(&ips) {
        let leaf = tls::leaf(&root, &[host], n - DAY, n + Duration::days(*days) + Duration::hours(1));
        tls::starttls(SocketAddr::new(*addr, port), *proto, vec![leaf.der], leaf.key).await;
    }
    let dns =
        Dns::start(&[("mail.shop.test", &[ip(30)]), ("imap.shop.test", &[ip(31)]), ("pop.shop.test", &[ip(32)])]).await;
    let owners = "[[monkeys.certs.owners]]\ndomain = \"*.shop.test\"\ncontact = \"shop-team@example.com\"\n";
    let endpoints: Vec<String> = servers.iter().map(|(h, _, scheme, _)| format!("{scheme}://{h}:{port}")).collect();
    let ws = Workspace::new(&config(&endpoints, &dns, owners));
    std::fs::write(ws.file("root.pem"), root.pem()).unwrap();
    ws.run(&["scan", "--monkey", "certs"]).assert_code(0);
    let got = rows(&ws);
    for ((host, _, scheme, days), addr) in servers.iter().zip(&ips) {
        let v = &got[&(host.to_string(), addr.to_string())];
        assert_eq!(problems(v), Vec::<&str>::new(), "{scheme}: {v:#}");
        assert_eq!(v["days_left"], *days, "{scheme}");
        assert_eq!(v["owner"], "shop-team@example.com");
    }
    let f = ws.run(&["findings", "--monkey", "certs", "--format", "json"]);
    let f = f.json();
    assert_eq!(
        f.as_array().unwrap().len(),
        2,
        "the 10- and 20-day certificates are inside the 30-day threshold: {f:#}"
    );
    let smtp =
        f.as_array().unwrap().iter().find(|x| x["resource"].as_str().unwrap().starts_with("mail.shop.test")).unwrap();
    assert_eq!(smtp["labels"]["owner"], "shop-team@example.com");
    assert_eq!(smtp["labels"]["threshold"], "14d");
    assert_eq!(smtp["severity"], "warning");
}

/// ACM, IAM server certificates, load-balancer listeners, Route53 names and
/// CloudFront against the emulator; the Route53 name and the load balancer's
/// DNS name are really probed (the test DNS answers them with loopback TLS
/// servers; the load balancer's chooses its certificate by SNI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_sources_against_the_emulator() {
    use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, Certificate, ProtocolEnum, Tag as LbTag};
    let n = now();
    let hour = Duration::hours(1);
    let root = tls::root("Troop Test Root", n - 30 * DAY, n + 3650 * DAY);
    let inter = tls::intermediate(&root, "Troop Test Intermediate", n - 30 * DAY, n + 365 * DAY);
    let shop = tls::leaf(&inter, &["shop.example.test"], n - DAY, n + 20 * DAY + hour);
    let legacy = tls::leaf(&inter, &["legacy.example.test"], n - DAY, n + 5 * DAY + hour);
    let www = tls::leaf(&inter, &["www.example.test"], n - DAY, n + 60 * DAY + hour);
    let port = tls::common_port(&[ip(40), ip(41)]);
    tls::serve(SocketAddr::new(ip(40), port), vec![www.der.clone(), inter.der()], www.key).await;
    tls::serve_by_name(
        SocketAddr::new(ip(41), port),
        vec![
            ("shop.example.test", vec![shop.der.clone(), inter.der()], shop.key.clone_key()),
            ("legacy.example.test", vec![legacy.der.clone(), inter.der()], legacy.key.clone_key()),
        ],
    )
    .await;

    let moto = crate::support::Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let acm = aws_sdk_acm::Client::new(&sdk);
    let shop_arn = acm
        .import_certificate()
        .certificate(aws_smithy_types::Blob::new(shop.cert_pem.as_bytes()))
        .private_key(aws_smithy_types::Blob::new(shop.key_pem.as_bytes()))
        .certificate_chain(aws_smithy_types::Blob::new(inter.pem().as_bytes()))
        .tags(aws_sdk_acm::types::Tag::builder().key("Owner").value("shop-team").build().unwrap())
        .send()
        .await
        .unwrap()
        .certificate_arn
        .unwrap();
    let iam = aws_sdk_iam::Client::new(&sdk);
    let legacy_arn = iam
        .upload_server_certificate()
        .server_certificate_name("legacy")
        .certificate_body(&legacy.cert_pem)
        .private_key(&legacy.key_pem)
        .send()
        .await
        .unwrap()
        .server_certificate_metadata
        .unwrap()
        .arn;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let vpc = ec2.create_vpc().cidr_block("10.7.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let mut subnets = Vec::new();
    for (cidr, az) in [("10.7.1.0/24", "us-east-1a"), ("10.7.2.0/24", "us-east-1b")] {
        let s = ec2.create_subnet().vpc_id(&vpc).cidr_block(cidr).availability_zone(az).send().await.unwrap();
        subnets.push(s.subnet.unwrap().subnet_id.unwrap());
    }
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let lb = elb
        .create_load_balancer()
        .name("shop")
        .set_subnets(Some(subnets))
        .tags(LbTag::builder().key("Owner").value("lb-team").build())
        .send()
        .await
        .unwrap()
        .load_balancers
        .unwrap()
        .remove(0);
    let tg =
        elb.create_target_group().name("web").protocol(ProtocolEnum::Http).port(80).vpc_id(&vpc).send().await.unwrap();
    let tg = tg.target_groups.unwrap().remove(0).target_group_arn.unwrap();
    let listener = elb
        .create_listener()
        .load_balancer_arn(lb.load_balancer_arn.unwrap())
        .protocol(ProtocolEnum::Https)
        .port(port as i32)
        .certificates(Certificate::builder().certificate_arn(&shop_arn).build())
        .default_actions(Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(tg).build())
        .send()
        .await
        .unwrap()
        .listeners
        .unwrap()
        .remove(0)
        .listener_arn
        .unwrap();
    elb.add_listener_certificates()
        .listener_arn(&listener)
        .certificates(Certificate::builder().certificate_arn(&legacy_arn).build())
        .send()
        .await
        .unwrap();
    let r53 = aws_sdk_route53::Client::new(&sdk);
    let zone = r53.create_hosted_zone().name("example.test").caller_reference("t").send().await.unwrap();
    let zone = zone.hosted_zone.unwrap().id;
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
    // www on its own server; shop points at the load balancer (an alias in real life)
    let record = |name: &str, ip: &str| {
        let set = ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::A)
            .ttl(60)
            .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
            .build()
            .unwrap();
        Change::builder().action(ChangeAction::Create).resource_record_set(set).build().unwrap()
    };
    r53.change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(record("www.example.test", "127.0.0.40"))
                .changes(record("shop.example.test", "127.0.0.41"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    use aws_sdk_cloudfront::types::{
        Aliases, DefaultCacheBehavior, DistributionConfig, Origin, Origins, ViewerCertificate, ViewerProtocolPolicy,
    };
    let cf = aws_sdk_cloudfront::Client::new(&sdk);
    let dist = DistributionConfig::builder()
        .caller_reference("troop-test")
        .comment("")
        .enabled(true)
        .aliases(Aliases::builder().quantity(1).items("cdn.example.test").build().unwrap())
        .origins(
            Origins::builder()
                .quantity(1)
                .items(Origin::builder().id("o").domain_name("origin.example.test").build().unwrap())
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("o")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
                .build()
                .unwrap(),
        )
        .viewer_certificate(ViewerCertificate::builder().acm_certificate_arn(&shop_arn).build())
        .build()
        .unwrap();
    cf.create_distribution().distribution_config(dist).send().await.unwrap();

    let lb_dns = lb.dns_name.clone().unwrap();
    let dns =
        Dns::start(&[("www.example.test", &[ip(40)]), ("shop.example.test", &[ip(41)]), (lb_dns.as_str(), &[ip(41)])])
            .await;
    let ws = Workspace::new(&format!(
        "[aws]\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n[monkeys.security]\nenabled = false\n[monkeys.limits]\nenabled = false\n[monkeys.certs]\nsources = [\"route53\", \"acm\", \"iam\", \"elbv2\", \"cloudfront\"]\nnameservers = [\"{}\"]\nextra_ca_files = [\"root.pem\"]\naws_probe_ports = [{port}]\nprobe_timeout = \"2s\"\n",
        moto.endpoint, dns.addr
    ));
    std::fs::write(ws.file("root.pem"), root.pem()).unwrap();
    crate::support::policy::scan(&ws, &["--monkey", "certs"]);
    let by_source = |src: &str| -> Vec<Value> {
        let r = ws.run(&["certs", "--format", "json"]);
        r.json().as_array().unwrap().iter().filter(|v| v["source"] == src).cloned().collect()
    };
    let acm_rows = by_source("acm");
    assert_eq!(acm_rows.len(), 1, "{acm_rows:#?}");
    assert_eq!(acm_rows[0]["host"], "shop.example.test");
    assert_eq!(acm_rows[0]["days_left"], 20);
    assert_eq!(acm_rows[0]["reference"], shop_arn.as_str());
    assert_eq!(acm_rows[0]["owner"], "shop-team");
    assert_eq!(acm_rows[0]["address"], Value::Null);
    let iam_rows = by_source("iam");
    assert_eq!(iam_rows.len(), 1, "{iam_rows:#?}");
    assert_eq!(iam_rows[0]["host"], "legacy.example.test");
    assert_eq!(iam_rows[0]["days_left"], 5, "read from the body, not the metadata's Expiration");
    let (lb_probed, lb_rows): (Vec<Value>, Vec<Value>) =
        by_source("elbv2").into_iter().partition(|v| v["address"].is_string());
    let mut lb_hosts: Vec<(&str, &str)> =
        lb_rows.iter().map(|v| (v["host"].as_str().unwrap(), v["owner"].as_str().unwrap_or("-"))).collect();
    lb_hosts.sort();
    assert_eq!(lb_hosts, [("legacy.example.test", "lb-team"), ("shop.example.test", "lb-team")], "{lb_rows:#?}");
    assert!(lb_rows.iter().all(|v| v["port"] == port));
    // the load balancer's DNS name, asked for each listener certificate's
    // name, but for names probed anyway (shop, through Route53)
    let mut probed_lb: Vec<(&str, &str, i64, &str)> = lb_probed
        .iter()
        .map(|v| {
            let problems = v["problems"].as_array().unwrap();
            assert!(problems.is_empty(), "{v:#}");
            (
                v["host"].as_str().unwrap(),
                v["address"].as_str().unwrap(),
                v["days_left"].as_i64().unwrap(),
                v["reference"].as_str().unwrap(),
            )
        })
        .collect();
    probed_lb.sort();
    assert_eq!(probed_lb, [("legacy.example.test", "127.0.0.41", 5, lb_dns.as_str())], "{lb_probed:#?}");
    let mut probed = by_source("route53");
    probed.sort_by_key(|v| v["host"].as_str().unwrap().to_string());
    assert_eq!(probed.len(), 2, "{probed:#?}");
    assert_eq!(probed[1]["host"], "www.example.test");
    assert_eq!(probed[1]["address"], "127.0.0.40");
    assert_eq!(probed[1]["days_left"], 60);
    assert_eq!(probed[1]["problems"], serde_json::json!([]));
    assert_eq!(
        (probed[0]["host"].as_str(), probed[0]["address"].as_str()),
        (Some("shop.example.test"), Some("127.0.0.41"))
    );
    assert_eq!(probed[0]["days_left"], 20, "the load balancer chose shop's certificate by SNI");

    let cdn = by_source("cloudfront");
    let hosts: Vec<(&str, Option<&str>)> =
        cdn.iter().map(|v| (v["host"].as_str().unwrap(), v["address"].as_str())).collect();
    // the viewer certificate (from ACM), and the alias probed (it does not resolve here)
    assert!(hosts.contains(&("cdn.example.test", None)), "{cdn:#?}");
    assert!(hosts.contains(&("cdn.example.test", Some("unresolved"))), "{cdn:#?}");
    let viewer = cdn.iter().find(|v| v["address"].is_null()).unwrap();
    assert_eq!(viewer["days_left"], 20);

    let f = ws.run(&["findings", "--monkey", "certs", "--format", "json"]);
    let kinds: Vec<(String, String, String)> = f
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["details"]["source"].as_str().unwrap_or("-").to_string(),
                f["details"]["host"].as_str().unwrap_or("-").to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(kinds.contains(&("iam".into(), "legacy.example.test".into(), "critical".into())), "{kinds:#?}");
    assert!(kinds.contains(&("acm".into(), "shop.example.test".into(), "warning".into())), "{kinds:#?}");
    assert!(f.json().as_array().unwrap().iter().all(|f| f["account"] == "123456789012"), "{}", f.stdout);
    assert!(!kinds.iter().any(|(s, _, _)| s == "-"), "no read errors: {kinds:#?}");

    // a troop that cannot reach the load balancers leaves them unprobed
    let config = std::fs::read_to_string(ws.file("troop.toml")).unwrap();
    ws.write_config(&(config + "probe_load_balancers = false\n"));
    ws.run(&["scan", "--monkey", "certs"]).assert_code(0);
    let lb = by_source("elbv2");
    assert_eq!(lb.len(), 2, "the listeners' certificates only: {lb:#?}");
    assert!(lb.iter().all(|v| v["address"].is_null()), "{lb:#?}");
}
