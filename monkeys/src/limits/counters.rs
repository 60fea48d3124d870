//! IO: usage counts from bulk, paginated listings (one DescribeSecurityGroups
//! serves every security-group quota), and limits from Service Quotas.

use crate::aws::{AccountTarget, AwsContext, CallCounter, classify};
use std::collections::HashMap;
use std::sync::Arc;

/// A count, or why it is unknown.
pub(crate) type Counted<T> = Result<T, String>;

/// Every item of every page of a paginated call, or the call's error as one line.
macro_rules! pages {
    ($op:literal, $ep:expr, $paginator:expr, |$page:ident| $items:expr) => {{
        let mut pages = $paginator;
        let mut out = Vec::new();
        let mut err = None;
        while let Some(page) = pages.next().await {
            match page {
                Ok($page) => out.extend($items),
                Err(e) => {
                    err = Some(classify($op, $ep, e).message);
                    break;
                }
            }
        }
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }};
}

#[derive(Default)]
pub(crate) struct RegionCounts {
    pub vpcs: Option<Counted<usize>>,
    pub igws: Option<Counted<usize>>,
    pub eips: Option<Counted<usize>>,
    pub sgs: Option<Counted<usize>>,
    pub rules_per_sg: Option<Counted<Vec<(String, usize)>>>,
    pub subnets_per_vpc: Option<Counted<Vec<(String, usize)>>>,
    pub route_tables_per_vpc: Option<Counted<Vec<(String, usize)>>>,
    pub routes_per_table: Option<Counted<Vec<(String, usize)>>>,
    pub nacls_per_vpc: Option<Counted<Vec<(String, usize)>>>,
    pub enis: Option<Counted<usize>>,
    pub sgs_per_eni: Option<Counted<Vec<(String, usize)>>>,
    pub nat_per_az: Option<Counted<Vec<(String, usize)>>>,
}

/// Count items per key, every key of `keys` present (at 0 if it has none).
fn per<'a>(keys: &[String], items: impl Iterator<Item = &'a str>) -> Vec<(String, usize)> {
    let mut m: HashMap<String, usize> = keys.iter().map(|k| (k.clone(), 0)).collect();
    for k in items {
        *m.entry(k.to_string()).or_default() += 1;
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort();
    v
}

pub(crate) async fn region(
    aws: &AwsContext,
    t: &AccountTarget,
    region: &str,
    calls: &Arc<CallCounter>,
) -> RegionCounts {
    let ec2 = aws.ec2(t, region, calls);
    let ep = aws.endpoint_for("ec2");
    let mut out = RegionCounts::default();

    let vpcs: Counted<Vec<String>> = pages!("ec2:DescribeVpcs", ep, ec2.describe_vpcs().into_paginator().send(), |p| {
        p.vpcs().iter().filter_map(|v| v.vpc_id().map(str::to_string)).collect::<Vec<_>>()
    });
    out.vpcs = Some(vpcs.as_ref().map(Vec::len).map_err(Clone::clone));
    let vpc_ids = vpcs.clone().unwrap_or_default();
    let with_vpcs = |r: Counted<Vec<(String, usize)>>| match &vpcs {
        Err(e) => Err(e.clone()),
        Ok(_) => r,
    };

    // (subnet, vpc, availability zone)
    let subnets: Counted<Vec<(String, String, String)>> =
        pages!("ec2:DescribeSubnets", ep, ec2.describe_subnets().into_paginator().send(), |p| {
            p.subnets()
                .iter()
                .map(|s| {
                    (
                        s.subnet_id().unwrap_or_default().to_string(),
                        s.vpc_id().unwrap_or_default().to_string(),
                        s.availability_zone().unwrap_or_default().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        });
    out.subnets_per_vpc =
        Some(with_vpcs(subnets.as_ref().map(|s| per(&vpc_ids, s.iter().map(|x| x.1.as_str()))).map_err(Clone::clone)));

    let tables: Counted<Vec<(String, String, usize)>> =
        pages!("ec2:DescribeRouteTables", ep, ec2.describe_route_tables().into_paginator().send(), |p| {
            p.route_tables()
                .iter()
                .map(|r| {
                    (
                        r.route_table_id().unwrap_or_default().to_string(),
                        r.vpc_id().unwrap_or_default().to_string(),
                        r.routes().len(),
                    )
                })
                .collect::<Vec<_>>()
        });
    out.route_tables_per_vpc =
        Some(with_vpcs(tables.as_ref().map(|t| per(&vpc_ids, t.iter().map(|x| x.1.as_str()))).map_err(Clone::clone)));
    out.routes_per_table = Some(tables.map(|t| t.into_iter().map(|(id, _, n)| (id, n)).collect()));

    let nacls: Counted<Vec<String>> =
        pages!("ec2:DescribeNetworkAcls", ep, ec2.describe_network_acls().into_paginator().send(), |p| {
            p.network_acls().iter().map(|a| a.vpc_id().unwrap_or_default().to_string()).collect::<Vec<_>>()
        });
    out.nacls_per_vpc = Some(with_vpcs(nacls.map(|n| per(&vpc_ids, n.iter().map(String::as_str)))));

    let enis: Counted<Vec<(String, usize)>> =
        pages!("ec2:DescribeNetworkInterfaces", ep, ec2.describe_network_interfaces().into_paginator().send(), |p| {
            p.network_interfaces()
                .iter()
                .map(|n| (n.network_interface_id().unwrap_or_default().to_string(), n.groups().len()))
                .collect::<Vec<_>>()
        });
    out.enis = Some(enis.as_ref().map(Vec::len).map_err(Clone::clone));
    out.sgs_per_eni = Some(enis);

    let nats: Counted<Vec<String>> =
        pages!("ec2:DescribeNatGateways", ep, ec2.describe_nat_gateways().into_paginator().send(), |p| {
            p.nat_gateways()
                .iter()
                .filter(|n| {
                    matches!(
                        n.state(),
                        Some(aws_sdk_ec2::types::NatGatewayState::Available)
                            | Some(aws_sdk_ec2::types::NatGatewayState::Pending)
                    )
                })
                .map(|n| n.subnet_id().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        });
    out.nat_per_az = Some(match (&subnets, &nats) {
        (Err(e), _) | (_, Err(e)) => Err(e.clone()),
        (Ok(s), Ok(n)) => {
            let az_of: HashMap<&str, &str> = s.iter().map(|(id, _, az)| (id.as_str(), az.as_str())).collect();
            let mut azs: Vec<String> = s.iter().map(|x| x.2.clone()).collect();
            azs.sort();
            azs.dedup();
            Ok(per(&azs, n.iter().filter_map(|subnet| az_of.get(subnet.as_str()).copied())))
        }
    });

    let igws: Counted<Vec<()>> =
        pages!("ec2:DescribeInternetGateways", ep, ec2.describe_internet_gateways().into_paginator().send(), |p| {
            p.internet_gateways().iter().map(|_| ()).collect::<Vec<_>>()
        });
    out.igws = Some(igws.map(|v| v.len()));

    out.eips = Some(
        ec2.describe_addresses()
            .send()
            .await
            .map(|a| a.addresses().len())
            .map_err(|e| classify("ec2:DescribeAddresses", ep, e).message),
    );

    let count = |perms: &[aws_sdk_ec2::types::IpPermission]| -> usize {
        perms
            .iter()
            .map(|p| {
                p.ip_ranges().len() + p.ipv6_ranges().len() + p.prefix_list_ids().len() + p.user_id_group_pairs().len()
            })
            .sum()
    };
    let groups: Counted<Vec<(String, usize)>> = pages!(
        "ec2:DescribeSecurityGroups",
        ep,
        ec2.describe_security_groups().max_results(1000).into_paginator().send(),
        |p| {
            p.security_groups()
                .iter()
                .map(|g| {
                    let rules = count(g.ip_permissions()).max(count(g.ip_permissions_egress()));
                    (g.group_id().unwrap_or_default().to_string(), rules)
                })
                .collect::<Vec<_>>()
        }
    );
    out.sgs = Some(groups.as_ref().map(Vec::len).map_err(Clone::clone));
    out.rules_per_sg = Some(groups);
    out
}

pub(crate) struct AccountCounts {
    pub iam_summary: Counted<HashMap<String, i64>>,
    pub buckets: Counted<usize>,
}

pub(crate) async fn account(aws: &AwsContext, t: &AccountTarget, calls: &Arc<CallCounter>) -> AccountCounts {
    let iam = aws.iam(t, calls);
    let iam_summary = iam
        .get_account_summary()
        .send()
        .await
        .map(|s| {
            s.summary_map()
                .map(|m| m.iter().map(|(k, v)| (k.as_str().to_string(), i64::from(*v))).collect())
                .unwrap_or_default()
        })
        .map_err(|e| classify("iam:GetAccountSummary", aws.endpoint_for("iam"), e).message);
    let s3 = aws.s3(t, &home(t), calls);
    let buckets: Counted<Vec<()>> =
        pages!("s3:ListBuckets", aws.endpoint_for("s3"), s3.list_buckets().into_paginator().send(), |p| {
            p.buckets().iter().map(|_| ()).collect::<Vec<_>>()
        });
    AccountCounts { iam_summary, buckets: buckets.map(|b| b.len()) }
}

pub(crate) fn home(t: &AccountTarget) -> String {
    t.sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into())
}

/// Values per quota code from every page of a Service Quotas listing; pages
/// read before a failure are kept, and the failure is logged (limits then
/// come from the next source down).
macro_rules! quota_values {
    ($op:literal, $ep:expr, $service:expr, $region:expr, $paginator:expr) => {{
        let mut out = HashMap::new();
        let mut pages = $paginator;
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => {
                    for q in p.quotas() {
                        if let (Some(c), Some(v)) = (q.quota_code(), q.value()) {
                            out.insert(c.to_string(), v);
                        }
                    }
                }
                Err(e) => {
                    let why = classify($op, $ep, e).message;
                    tracing::info!(service = $service, region = $region, error = %why, "Service Quotas not read");
                    break;
                }
            }
        }
        out
    }};
}

/// Applied and default values per quota code for one service in one region.
pub(crate) async fn service_quotas(
    aws: &AwsContext,
    t: &AccountTarget,
    region: &str,
    service: &str,
    calls: &Arc<CallCounter>,
) -> (HashMap<String, f64>, HashMap<String, f64>) {
    let sq = aws.servicequotas(t, region, calls);
    let ep = aws.endpoint_for("servicequotas");
    let applied = quota_values!(
        "servicequotas:ListServiceQuotas",
        ep,
        service,
        region,
        sq.list_service_quotas().service_code(service).into_paginator().send()
    );
    let defaults = quota_values!(
        "servicequotas:ListAWSDefaultServiceQuotas",
        ep,
        service,
        region,
        sq.list_aws_default_service_quotas().service_code(service).into_paginator().send()
    );
    (applied, defaults)
}
