//! IO: usage counts from bulk, paginated listings (one DescribeSecurityGroups
//! serves every security-group quota), and limits from Service Quotas.

use crate::aws::{AccountTarget, AwsContext, CallCounter, classify};
use std::collections::HashMap;
use std::sync::Arc;

/// A count, or why it is unknown.
pub(crate) type Counted<T> = Result<T, String>;

#[derive(Default)]
pub(crate) struct RegionCounts {
    pub vpcs: Option<Counted<usize>>,
    pub igws: Option<Counted<usize>>,
    pub eips: Option<Counted<usize>>,
    pub sgs: Option<Counted<usize>>,
    pub rules_per_sg: Option<Counted<Vec<(String, usize)>>>,
    pub subnets_per_vpc: Option<Counted<Vec<(String, usize)>>>,
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

    let mut vpcs = Vec::new();
    let mut pages = ec2.describe_vpcs().into_paginator().send();
    let mut vpc_err = None;
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => vpcs.extend(p.vpcs().iter().filter_map(|v| v.vpc_id().map(str::to_string))),
            Err(e) => {
                vpc_err = Some(classify("ec2:DescribeVpcs", ep, e).message);
                break;
            }
        }
    }
    out.vpcs = Some(match &vpc_err {
        Some(e) => Err(e.clone()),
        None => Ok(vpcs.len()),
    });

    let mut subnets: HashMap<String, usize> = vpcs.iter().map(|v| (v.clone(), 0)).collect();
    let mut pages = ec2.describe_subnets().into_paginator().send();
    let mut subnet_err = vpc_err.clone();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => {
                for s in p.subnets() {
                    *subnets.entry(s.vpc_id().unwrap_or_default().to_string()).or_default() += 1;
                }
            }
            Err(e) => {
                subnet_err = Some(classify("ec2:DescribeSubnets", ep, e).message);
                break;
            }
        }
    }
    out.subnets_per_vpc = Some(match subnet_err {
        Some(e) => Err(e),
        None => Ok(subnets.into_iter().collect()),
    });

    let mut n = 0;
    let mut pages = ec2.describe_internet_gateways().into_paginator().send();
    let mut err = None;
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => n += p.internet_gateways().len(),
            Err(e) => {
                err = Some(classify("ec2:DescribeInternetGateways", ep, e).message);
                break;
            }
        }
    }
    out.igws = Some(err.map_or(Ok(n), Err));

    out.eips = Some(
        ec2.describe_addresses()
            .send()
            .await
            .map(|a| a.addresses().len())
            .map_err(|e| classify("ec2:DescribeAddresses", ep, e).message),
    );

    let mut groups = Vec::new();
    let mut pages = ec2.describe_security_groups().max_results(1000).into_paginator().send();
    let mut err = None;
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => {
                for g in p.security_groups() {
                    let count = |perms: &[aws_sdk_ec2::types::IpPermission]| -> usize {
                        perms
                            .iter()
                            .map(|p| {
                                p.ip_ranges().len()
                                    + p.ipv6_ranges().len()
                                    + p.prefix_list_ids().len()
                                    + p.user_id_group_pairs().len()
                            })
                            .sum()
                    };
                    let rules = count(g.ip_permissions()).max(count(g.ip_permissions_egress()));
                    groups.push((g.group_id().unwrap_or_default().to_string(), rules));
                }
            }
            Err(e) => {
                err = Some(classify("ec2:DescribeSecurityGroups", ep, e).message);
                break;
            }
        }
    }
    match err {
        Some(e) => {
            out.sgs = Some(Err(e.clone()));
            out.rules_per_sg = Some(Err(e));
        }
        None => {
            out.sgs = Some(Ok(groups.len()));
            out.rules_per_sg = Some(Ok(groups));
        }
    }
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
    let mut n = 0;
    let mut err = None;
    let mut pages = s3.list_buckets().into_paginator().send();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => n += p.buckets().len(),
            Err(e) => {
                err = Some(classify("s3:ListBuckets", aws.endpoint_for("s3"), e).message);
                break;
            }
        }
    }
    AccountCounts { iam_summary, buckets: err.map_or(Ok(n), Err) }
}

pub(crate) fn home(t: &AccountTarget) -> String {
    t.sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into())
}

/// Applied and default values per quota code for one service in one region.
/// A failure leaves the map empty (the built-in table still answers) and is
/// returned so it can be shown.
pub(crate) async fn service_quotas(
    aws: &AwsContext,
    t: &AccountTarget,
    region: &str,
    service: &str,
    calls: &Arc<CallCounter>,
) -> (HashMap<String, f64>, HashMap<String, f64>, Option<String>) {
    let sq = aws.servicequotas(t, region, calls);
    let ep = aws.endpoint_for("servicequotas");
    let (mut applied, mut defaults, mut problem) = (HashMap::new(), HashMap::new(), None);
    let mut pages = sq.list_service_quotas().service_code(service).into_paginator().send();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => {
                for q in p.quotas() {
                    if let (Some(c), Some(v)) = (q.quota_code(), q.value()) {
                        applied.insert(c.to_string(), v);
                    }
                }
            }
            Err(e) => {
                problem = Some(classify("servicequotas:ListServiceQuotas", ep, e).message);
                break;
            }
        }
    }
    let mut pages = sq.list_aws_default_service_quotas().service_code(service).into_paginator().send();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => {
                for q in p.quotas() {
                    if let (Some(c), Some(v)) = (q.quota_code(), q.value()) {
                        defaults.insert(c.to_string(), v);
                    }
                }
            }
            Err(e) => {
                problem.get_or_insert(classify("servicequotas:ListAWSDefaultServiceQuotas", ep, e).message);
                break;
            }
        }
    }
    (applied, defaults, problem)
}
