//! Certificates held or used in AWS: ACM (every key type), IAM server
//! certificates (their bodies, not the metadata's Expiration), load-balancer
//! listeners with their SNI lists, and names to probe from Route53 records and
//! CloudFront aliases.

use super::targets::Target;
use super::x509;
use crate::aws::{AccountTarget, AwsContext, AwsError, Counters, classify};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::collections::BTreeMap;
use std::sync::Arc;
use troop_core::certs::{CertInfo, Observation, Trust};

/// What the AWS sources found in one account.
#[derive(Default)]
pub(crate) struct Found {
    pub observations: Vec<Observation>,
    /// Names to probe, with the source that named them.
    pub targets: Vec<(Target, &'static str)>,
    /// (source, region or "*", reason)
    pub failures: Vec<(&'static str, String, String)>,
    /// (source, region or "*") read completely.
    pub covered: Vec<(&'static str, String)>,
}

const ACM_KEY_TYPES: &[aws_sdk_acm::types::KeyAlgorithm] = &[
    aws_sdk_acm::types::KeyAlgorithm::Rsa1024,
    aws_sdk_acm::types::KeyAlgorithm::Rsa2048,
    aws_sdk_acm::types::KeyAlgorithm::Rsa3072,
    aws_sdk_acm::types::KeyAlgorithm::Rsa4096,
    aws_sdk_acm::types::KeyAlgorithm::EcPrime256v1,
    aws_sdk_acm::types::KeyAlgorithm::EcSecp384r1,
    aws_sdk_acm::types::KeyAlgorithm::EcSecp521r1,
];

/// Leaf and chain from PEM text: (leaf, earliest expiry of leaf and chain).
fn from_pem(body: &str, chain: Option<&str>) -> Result<(CertInfo, i64), String> {
    let parse_all = |pem: &str| -> Result<Vec<CertInfo>, String> {
        let ders: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
        ders.iter().map(|d| x509::parse(d)).collect()
    };
    let leaf = parse_all(body)?.into_iter().next().ok_or("no certificate in the body")?;
    let chain = chain.map(parse_all).transpose()?.unwrap_or_default();
    let earliest =
        chain.iter().map(|c| c.not_after).chain(std::iter::once(leaf.not_after)).min().unwrap_or(leaf.not_after);
    Ok((leaf, earliest))
}

fn owner_tag<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let tags: BTreeMap<&str, &str> = tags.collect();
    tags.get("OwnerContact").or(tags.get("Owner")).map(|s| s.to_string())
}

fn held(
    host: String,
    source: &str,
    t: &AccountTarget,
    region: Option<&str>,
    arn: &str,
    leaf: CertInfo,
    chain: i64,
) -> Observation {
    Observation {
        host,
        address: None,
        port: None,
        source: source.into(),
        account: Some(t.id.clone()),
        region: region.map(str::to_string),
        reference: Some(arn.to_string()),
        leaf: Some(leaf),
        chain_not_after: Some(chain),
        sha1_in_path: false,
        trust: Trust::NotChecked,
        error: None,
        owner: None,
    }
}

async fn acm(
    aws: &AwsContext,
    t: &AccountTarget,
    region: &str,
    calls: &Arc<Counters>,
) -> Result<Vec<Observation>, AwsError> {
    let client = aws.acm(t, region, calls);
    let ep = aws.endpoint_for("acm");
    let filters = aws_sdk_acm::types::Filters::builder().set_key_types(Some(ACM_KEY_TYPES.to_vec())).build();
    let mut pages = client.list_certificates().includes(filters).into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("acm:ListCertificates", ep, e))?;
        for s in page.certificate_summary_list() {
            let Some(arn) = s.certificate_arn() else { continue };
            let got = client.get_certificate().certificate_arn(arn).send().await;
            let mut o = match got {
                Ok(c) => match from_pem(c.certificate().unwrap_or_default(), c.certificate_chain()) {
                    Ok((leaf, chain)) => {
                        let host = s.domain_name().map(str::to_string).unwrap_or_else(|| leaf.subject.clone());
                        held(host, "acm", t, Some(region), arn, leaf, chain)
                    }
                    Err(e) => errored(s.domain_name().unwrap_or(arn), "acm", t, Some(region), arn, e),
                },
                // Pending validation and other states have no certificate yet.
                Err(e) => errored(
                    s.domain_name().unwrap_or(arn),
                    "acm",
                    t,
                    Some(region),
                    arn,
                    classify("acm:GetCertificate", ep, e).message,
                ),
            };
            if let Ok(tags) = client.list_tags_for_certificate().certificate_arn(arn).send().await {
                o.owner = owner_tag(tags.tags().iter().map(|t| (t.key(), t.value().unwrap_or_default())));
            }
            out.push(o);
        }
    }
    Ok(out)
}

fn errored(host: &str, source: &str, t: &AccountTarget, region: Option<&str>, arn: &str, e: String) -> Observation {
    Observation {
        host: host.into(),
        address: None,
        port: None,
        source: source.into(),
        account: Some(t.id.clone()),
        region: region.map(str::to_string),
        reference: Some(arn.into()),
        leaf: None,
        chain_not_after: None,
        sha1_in_path: false,
        trust: Trust::NotChecked,
        error: Some(e),
        owner: None,
    }
}

async fn iam(aws: &AwsContext, t: &AccountTarget, calls: &Arc<Counters>) -> Result<Vec<Observation>, AwsError> {
    let client = aws.iam(t, calls);
    let ep = aws.endpoint_for("iam");
    let mut pages = client.list_server_certificates().into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("iam:ListServerCertificates", ep, e))?;
        for m in page.server_certificate_metadata_list() {
            let (name, arn) = (m.server_certificate_name(), m.arn());
            let got = client.get_server_certificate().server_certificate_name(name).send().await;
            let mut o = match got.map(|g| g.server_certificate) {
                Ok(Some(c)) => match from_pem(c.certificate_body(), c.certificate_chain()) {
                    Ok((leaf, chain)) => {
                        let host = leaf.sans.first().cloned().unwrap_or_else(|| name.to_string());
                        held(host, "iam", t, None, arn, leaf, chain)
                    }
                    Err(e) => errored(name, "iam", t, None, arn, e),
                },
                Ok(None) => errored(name, "iam", t, None, arn, "empty answer".into()),
                Err(e) => errored(name, "iam", t, None, arn, classify("iam:GetServerCertificate", ep, e).message),
            };
            if let Ok(tags) = client.list_server_certificate_tags().server_certificate_name(name).send().await {
                o.owner = owner_tag(tags.tags().iter().map(|t| (t.key(), t.value())));
            }
            out.push(o);
        }
    }
    Ok(out)
}

/// Listeners with certificates, as observations of the certificates they hold
/// (found among `known`, the ACM/IAM observations, by ARN), and what to
/// probe: each listener's port on the load balancer's DNS name, asking (SNI)
/// for each certificate's first name that is not a wildcard, so the probe
/// shows what the load balancer really serves for it.
async fn elbv2(
    aws: &AwsContext,
    t: &AccountTarget,
    region: &str,
    known: &[Observation],
    calls: &Arc<Counters>,
) -> Result<(Vec<Observation>, Vec<Target>), AwsError> {
    use aws_sdk_elasticloadbalancingv2::types::ProtocolEnum;
    let client = aws.elbv2(t, region, calls);
    let ep = aws.endpoint_for("elbv2");
    let mut lbs = Vec::new();
    let mut pages = client.describe_load_balancers().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("elbv2:DescribeLoadBalancers", ep, e))?;
        lbs.extend(page.load_balancers().iter().cloned());
    }
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for batch in lbs.chunks(20) {
        let arns: Vec<String> = batch.iter().filter_map(|l| l.load_balancer_arn().map(str::to_string)).collect();
        let tags = client.describe_tags().set_resource_arns(Some(arns)).send().await;
        for d in tags.map(|t| t.tag_descriptions.unwrap_or_default()).unwrap_or_default() {
            if let (Some(arn), Some(owner)) = (
                d.resource_arn(),
                owner_tag(d.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))),
            ) {
                owners.insert(arn.to_string(), owner);
            }
        }
    }
    let mut out = Vec::new();
    let mut probe: Vec<Target> = Vec::new();
    for lb in &lbs {
        let lb_arn = lb.load_balancer_arn().unwrap_or_default();
        let mut listeners = client.describe_listeners().load_balancer_arn(lb_arn).into_paginator().send();
        while let Some(page) = listeners.next().await {
            let page = page.map_err(|e| classify("elbv2:DescribeListeners", ep, e))?;
            for l in page.listeners() {
                if !matches!(l.protocol(), Some(ProtocolEnum::Https) | Some(ProtocolEnum::Tls)) {
                    continue;
                }
                let l_arn = l.listener_arn().unwrap_or_default();
                let mut certs = client.describe_listener_certificates().listener_arn(l_arn).into_paginator().send();
                while let Some(cp) = certs.next().await {
                    let cp = cp.map_err(|e| classify("elbv2:DescribeListenerCertificates", ep, e))?;
                    for c in cp.certificates() {
                        let cert_arn = c.certificate_arn().unwrap_or_default();
                        let held = known.iter().find(|k| k.reference.as_deref() == Some(cert_arn));
                        let name = held
                            .and_then(|k| k.leaf.as_ref())
                            .and_then(|l| l.sans.iter().find(|s| !s.starts_with("*.")));
                        if let (Some(dns), Some(name), Some(port)) =
                            (lb.dns_name().filter(|d| !d.is_empty()), name, l.port())
                        {
                            let target = Target {
                                host: dns.trim_end_matches('.').to_string(),
                                port: port as u16,
                                starttls: None,
                                server_name: Some(name.clone()),
                            };
                            if !probe.contains(&target) {
                                probe.push(target);
                            }
                        }
                        let mut o = match held {
                            Some(k) => Observation { source: "elbv2".into(), region: Some(region.into()), ..k.clone() },
                            None => errored(
                                lb.dns_name().unwrap_or(lb_arn),
                                "elbv2",
                                t,
                                Some(region),
                                cert_arn,
                                format!(
                                    "listener certificate {cert_arn} could not be read (enable the acm/iam sources)"
                                ),
                            ),
                        };
                        o.port = l.port().map(|p| p as u16);
                        o.reference = Some(format!("{l_arn} ({cert_arn})"));
                        if let Some(owner) = owners.get(lb_arn) {
                            o.owner = Some(owner.clone());
                        }
                        out.push(o);
                    }
                }
            }
        }
    }
    Ok((out, probe))
}

/// A, AAAA and CNAME names (aliases included) in every hosted zone.
async fn route53(aws: &AwsContext, t: &AccountTarget, calls: &Arc<Counters>) -> Result<Vec<String>, AwsError> {
    use aws_sdk_route53::types::RrType;
    let client = aws.route53(t, calls);
    let ep = aws.endpoint_for("route53");
    let mut zones = Vec::new();
    let mut pages = client.list_hosted_zones().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("route53:ListHostedZones", ep, e))?;
        zones.extend(page.hosted_zones().iter().map(|z| z.id().to_string()));
    }
    let mut names = Vec::new();
    for zone in zones {
        let (mut start_name, mut start_type, mut start_id): (Option<String>, Option<RrType>, Option<String>) =
            (None, None, None);
        loop {
            let page = client
                .list_resource_record_sets()
                .hosted_zone_id(&zone)
                .set_start_record_name(start_name.take())
                .set_start_record_type(start_type.take())
                .set_start_record_identifier(start_id.take())
                .send()
                .await
                .map_err(|e| classify("route53:ListResourceRecordSets", ep, e))?;
            for r in page.resource_record_sets() {
                if matches!(r.r#type(), RrType::A | RrType::Aaaa | RrType::Cname) {
                    let name = r.name().trim_end_matches('.').replace("\\052", "*");
                    if !name.contains('*') && !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            if !page.is_truncated() {
                break;
            }
            start_name = page.next_record_name().map(str::to_string);
            start_type = page.next_record_type().cloned();
            start_id = page.next_record_identifier().map(str::to_string);
        }
    }
    Ok(names)
}

/// Aliases to probe, and each distribution's viewer certificate from `known`.
async fn cloudfront(
    aws: &AwsContext,
    t: &AccountTarget,
    known: &[Observation],
    calls: &Arc<Counters>,
) -> Result<(Vec<String>, Vec<Observation>), AwsError> {
    let client = aws.cloudfront(t, calls);
    let ep = aws.endpoint_for("cloudfront");
    let (mut aliases, mut out) = (Vec::new(), Vec::new());
    let mut pages = client.list_distributions().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("cloudfront:ListDistributions", ep, e))?;
        for d in page.distribution_list().map(|l| l.items()).unwrap_or_default() {
            let (mut names, mut viewer): (Vec<String>, Option<aws_sdk_cloudfront::types::ViewerCertificate>) =
                (d.aliases().map(|a| a.items().to_vec()).unwrap_or_default(), d.viewer_certificate().cloned());
            // The summary carries both on AWS; where it yields neither (some
            // emulators leave them out), read the distribution itself.
            let reference = |v: &Option<aws_sdk_cloudfront::types::ViewerCertificate>| {
                v.as_ref()
                    .and_then(|v| v.acm_certificate_arn().or(v.iam_certificate_id()))
                    .filter(|r| !r.is_empty())
                    .is_some()
            };
            if names.is_empty() && !reference(&viewer) {
                let full = client
                    .get_distribution()
                    .id(d.id())
                    .send()
                    .await
                    .map_err(|e| classify("cloudfront:GetDistribution", ep, e))?;
                if let Some(cfg) = full.distribution.and_then(|x| x.distribution_config) {
                    names = cfg.aliases().map(|a| a.items().to_vec()).unwrap_or_default();
                    viewer = cfg.viewer_certificate().cloned();
                }
            }
            aliases.extend(names.iter().cloned());
            let viewer = viewer.as_ref();
            let reference = viewer
                .and_then(|v| v.acm_certificate_arn().filter(|r| !r.is_empty()).or(v.iam_certificate_id()))
                .filter(|r| !r.is_empty());
            if let Some(r) = reference {
                let host = names.first().cloned().unwrap_or_else(|| d.domain_name().to_string());
                let o = match known.iter().find(|k| {
                    k.reference.as_deref() == Some(r)
                        || k.reference.as_deref().is_some_and(|x| x.ends_with(&format!("/{r}")))
                }) {
                    Some(k) => Observation {
                        source: "cloudfront".into(),
                        host,
                        reference: Some(format!("{} ({r})", d.arn())),
                        ..k.clone()
                    },
                    None => {
                        errored(&host, "cloudfront", t, None, r, format!("viewer certificate {r} could not be read"))
                    }
                };
                out.push(o);
            }
        }
    }
    Ok((aliases, out))
}

/// Everything the enabled AWS sources hold for one account.
pub(crate) async fn read(
    aws: &AwsContext,
    t: &AccountTarget,
    cfg: &troop_config::Certs,
    calls: &Arc<Counters>,
) -> Found {
    let mut f = Found::default();
    let regions = match aws.regions_of(&t.id) {
        Ok(r) => r,
        Err(e) => {
            f.failures.push(("acm", "*".into(), e.message));
            return f;
        }
    };
    if cfg.source_enabled("acm") {
        // CloudFront certificates live in us-east-1 whatever the regions watched.
        let mut acm_regions = regions.clone();
        if cfg.source_enabled("cloudfront") && !acm_regions.iter().any(|r| r == "us-east-1") {
            acm_regions.push("us-east-1".into());
        }
        for r in &acm_regions {
            match acm(aws, t, r, calls).await {
                Ok(o) => {
                    f.observations.extend(o);
                    f.covered.push(("acm", r.clone()));
                }
                Err(e) => f.failures.push(("acm", r.clone(), e.message)),
            }
        }
    }
    if cfg.source_enabled("iam") {
        match iam(aws, t, calls).await {
            Ok(o) => {
                f.observations.extend(o);
                f.covered.push(("iam", "*".into()));
            }
            Err(e) => f.failures.push(("iam", "*".into(), e.message)),
        }
    }
    let held = f.observations.clone();
    if cfg.source_enabled("elbv2") {
        for r in &regions {
            match elbv2(aws, t, r, &held, calls).await {
                Ok((o, probe)) => {
                    f.observations.extend(o);
                    if cfg.probe_load_balancers {
                        f.targets.extend(probe.into_iter().map(|target| (target, "elbv2")));
                    }
                    f.covered.push(("elbv2", r.clone()));
                }
                Err(e) => f.failures.push(("elbv2", r.clone(), e.message)),
            }
        }
    }
    let ports = if cfg.aws_probe_ports.is_empty() { vec![443] } else { cfg.aws_probe_ports.clone() };
    let probe = |names: Vec<String>, source: &'static str, f: &mut Found| {
        for name in names {
            for port in &ports {
                f.targets.push((Target { host: name.clone(), port: *port, starttls: None, server_name: None }, source));
            }
        }
    };
    if cfg.source_enabled("route53") {
        match route53(aws, t, calls).await {
            Ok(names) => {
                probe(names, "route53", &mut f);
                f.covered.push(("route53", "*".into()));
            }
            Err(e) => f.failures.push(("route53", "*".into(), e.message)),
        }
    }
    if cfg.source_enabled("cloudfront") {
        match cloudfront(aws, t, &held, calls).await {
            Ok((aliases, o)) => {
                probe(aliases, "cloudfront", &mut f);
                f.observations.extend(o);
                f.covered.push(("cloudfront", "*".into()));
            }
            Err(e) => f.failures.push(("cloudfront", "*".into(), e.message)),
        }
    }
    f
}
