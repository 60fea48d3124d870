//! IO: usage counts from bulk, paginated listings (one DescribeSecurityGroups
//! serves every security-group quota), and limits from Service Quotas.

use super::catalogue::LbType;
use crate::aws::{AccountTarget, AwsContext, Counters, classify};
use std::collections::HashMap;
use std::sync::Arc;
use troop_core::limits::{
    PrefixListWeight, Route, RouteDestination, aws_managed_prefix_list_weight, nat_gateway_counts, routes_usage,
    sg_rules_usage,
};
use troop_core::security::sg::Source;

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
    /// Network interfaces per availability zone.
    pub enis_per_az: Option<Counted<Vec<(String, usize)>>>,
    pub sgs_per_eni: Option<Counted<Vec<(String, usize)>>>,
    pub nat_per_az: Option<Counted<Vec<(String, usize)>>>,
    /// Running On-Demand vCPUs per quota code of the instance's family class.
    pub vcpus_by_class: Option<Counted<HashMap<&'static str, f64>>>,
    /// Provisioned EBS storage per volume type, in TiB.
    pub ebs_tib: Option<Counted<HashMap<String, f64>>>,
    pub snapshots: Option<Counted<usize>>,
    pub lbs: Option<Counted<Vec<Lb>>>,
    pub target_groups: Option<Counted<usize>>,
    pub asgs: Option<Counted<usize>>,
    pub launch_configs: Option<Counted<usize>>,
    /// EC2 DescribeAccountAttributes: limits the service states itself.
    pub ec2_attributes: Option<Counted<HashMap<String, f64>>>,
}

/// One Application or Network Load Balancer.
#[derive(Debug, Clone)]
pub(crate) struct Lb {
    pub name: String,
    pub kind: LbType,
    pub listeners: usize,
    /// Certificates beyond each listener's default one.
    pub certificates: usize,
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

/// Every regional count of the services `want` selects (Service Quotas
/// service codes); the others stay `None` and are not evaluated.
pub(crate) async fn region(
    aws: &AwsContext,
    t: &AccountTarget,
    region: &str,
    calls: &Arc<Counters>,
    want: &(dyn Fn(&str) -> bool + Sync),
) -> RegionCounts {
    let ec2 = aws.ec2(t, region, calls);
    let ep = aws.endpoint_for("ec2");
    let mut out = RegionCounts::default();
    if want("vpc") {
        vpc(&ec2, ep, &mut out).await;
    }
    if want("ec2") {
        out.eips = Some(
            ec2.describe_addresses()
                .send()
                .await
                .map(|a| a.addresses().len())
                .map_err(|e| classify("ec2:DescribeAddresses", ep, e).message),
        );
        out.vcpus_by_class = Some(on_demand_vcpus(&ec2, ep).await);
    }
    if want("ec2") || want("vpc") {
        out.ec2_attributes = Some(account_attributes(&ec2, ep).await);
    }
    if want("ebs") {
        ebs(&ec2, ep, &mut out).await;
    }
    if want("elasticloadbalancing") {
        let (lbs, target_groups) = load_balancers(aws, t, region, calls).await;
        out.lbs = Some(lbs);
        out.target_groups = Some(target_groups);
    }
    if want("autoscaling") {
        let asg = aws.autoscaling(t, region, calls);
        let ep = aws.endpoint_for("autoscaling");
        let groups: Counted<Vec<()>> = pages!(
            "autoscaling:DescribeAutoScalingGroups",
            ep,
            asg.describe_auto_scaling_groups().max_records(100).into_paginator().send(),
            |p| p.auto_scaling_groups().iter().map(|_| ()).collect::<Vec<_>>()
        );
        out.asgs = Some(groups.map(|g| g.len()));
        let lcs: Counted<Vec<()>> = pages!(
            "autoscaling:DescribeLaunchConfigurations",
            ep,
            asg.describe_launch_configurations().max_records(100).into_paginator().send(),
            |p| p.launch_configurations().iter().map(|_| ()).collect::<Vec<_>>()
        );
        out.launch_configs = Some(lcs.map(|l| l.len()));
    }
    out
}

/// VPCs and what lives in them: one listing per resource type, shared
/// between the quotas that need it.
async fn vpc(ec2: &aws_sdk_ec2::Client, ep: Option<&str>, out: &mut RegionCounts) {
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

    let tables: Counted<Vec<(String, String, Vec<Route>)>> =
        pages!("ec2:DescribeRouteTables", ep, ec2.describe_route_tables().into_paginator().send(), |p| {
            p.route_tables()
                .iter()
                .map(|r| {
                    let routes = r
                        .routes()
                        .iter()
                        .map(|x| Route {
                            destination: match (x.destination_prefix_list_id(), x.destination_ipv6_cidr_block()) {
                                (Some(pl), _) => RouteDestination::PrefixList(pl.to_string()),
                                (None, Some(_)) => RouteDestination::Ipv6,
                                (None, None) => RouteDestination::Ipv4,
                            },
                            propagated: x.origin() == Some(&aws_sdk_ec2::types::RouteOrigin::EnableVgwRoutePropagation),
                        })
                        .collect();
                    (
                        r.route_table_id().unwrap_or_default().to_string(),
                        r.vpc_id().unwrap_or_default().to_string(),
                        routes,
                    )
                })
                .collect::<Vec<_>>()
        });
    out.route_tables_per_vpc =
        Some(with_vpcs(tables.as_ref().map(|t| per(&vpc_ids, t.iter().map(|x| x.1.as_str()))).map_err(Clone::clone)));

    let nacls: Counted<Vec<String>> =
        pages!("ec2:DescribeNetworkAcls", ep, ec2.describe_network_acls().into_paginator().send(), |p| {
            p.network_acls().iter().map(|a| a.vpc_id().unwrap_or_default().to_string()).collect::<Vec<_>>()
        });
    out.nacls_per_vpc = Some(with_vpcs(nacls.map(|n| per(&vpc_ids, n.iter().map(String::as_str)))));

    // (interface, its availability zone, security groups)
    let enis: Counted<Vec<(String, String, usize)>> =
        pages!("ec2:DescribeNetworkInterfaces", ep, ec2.describe_network_interfaces().into_paginator().send(), |p| {
            p.network_interfaces()
                .iter()
                .map(|n| {
                    (
                        n.network_interface_id().unwrap_or_default().to_string(),
                        n.availability_zone().unwrap_or_default().to_string(),
                        n.groups().len(),
                    )
                })
                .collect::<Vec<_>>()
        });
    // "Network interfaces per Region" is enforced per availability zone.
    // Every zone with a subnet has a row (0 when empty), so a zone emptied out resolves.
    let mut zones: Vec<String> = subnets.as_ref().map(|s| s.iter().map(|x| x.2.clone()).collect()).unwrap_or_default();
    zones.sort();
    zones.dedup();
    out.enis_per_az = Some(enis.as_ref().map(|e| per(&zones, e.iter().map(|x| x.1.as_str()))).map_err(Clone::clone));
    out.sgs_per_eni = Some(enis.map(|e| e.into_iter().map(|(id, _, n)| (id, n)).collect()));

    let nats: Counted<Vec<String>> =
        pages!("ec2:DescribeNatGateways", ep, ec2.describe_nat_gateways().into_paginator().send(), |p| {
            p.nat_gateways()
                .iter()
                .filter(|n| n.state().is_some_and(|s| nat_gateway_counts(s.as_str())))
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

    let groups: Counted<Vec<troop_core::security::sg::Group>> = pages!(
        "ec2:DescribeSecurityGroups",
        ep,
        ec2.describe_security_groups().max_results(1000).into_paginator().send(),
        |p| p.security_groups().iter().map(crate::security::sources::sg::convert).collect::<Vec<_>>()
    );
    // Prefix-list references (security-group rules, routes) weigh their
    // list's maximum entries: read the lists only when something references one.
    let referenced = groups.as_ref().is_ok_and(|gs| {
        gs.iter().flat_map(|g| g.ingress.iter().chain(&g.egress)).any(|r| matches!(r.source, Source::PrefixList { .. }))
    }) || tables
        .as_ref()
        .is_ok_and(|ts| ts.iter().flat_map(|t| &t.2).any(|r| matches!(r.destination, RouteDestination::PrefixList(_))));
    let weights: Counted<HashMap<String, PrefixListWeight>> = if referenced {
        pages!(
            "ec2:DescribeManagedPrefixLists",
            ep,
            ec2.describe_managed_prefix_lists().max_results(100).into_paginator().send(),
            |p| p
                .prefix_lists()
                .iter()
                .filter_map(|l| {
                    let ipv6 = l.address_family().is_some_and(|f| f.eq_ignore_ascii_case("IPv6"));
                    // Customer-managed lists state MaxEntries; AWS-managed ones
                    // weigh what AWS's table says.
                    let weight = match l.max_entries().and_then(|m| usize::try_from(m).ok()) {
                        Some(max_entries) => PrefixListWeight { ipv6, max_entries },
                        None => aws_managed_prefix_list_weight(l.prefix_list_name()?)?,
                    };
                    Some((l.prefix_list_id()?.to_string(), weight))
                })
                .collect::<Vec<_>>()
        )
        .map(|v| v.into_iter().collect())
    } else {
        Ok(HashMap::new())
    };
    let rules_per_sg = match (&groups, &weights) {
        (Ok(gs), Ok(w)) => {
            Ok(gs.iter().map(|g| (g.group_id.clone(), sg_rules_usage(g, |id| w.get(id).copied()))).collect())
        }
        (Err(e), _) | (_, Err(e)) => Err(e.clone()),
    };
    out.routes_per_table = Some(match (tables, &weights) {
        (Ok(ts), Ok(w)) => {
            Ok(ts.iter().map(|(id, _, r)| (id.clone(), routes_usage(r, |pl| w.get(pl).copied()))).collect())
        }
        (Err(e), _) => Err(e),
        (_, Err(e)) => Err(e.clone()),
    });
    out.sgs = Some(groups.as_ref().map(Vec::len).map_err(Clone::clone));
    out.rules_per_sg = Some(rules_per_sg);
}

/// Provisioned storage per volume type, and snapshots.
async fn ebs(ec2: &aws_sdk_ec2::Client, ep: Option<&str>, out: &mut RegionCounts) {
    // (volume type, GiB)
    let volumes: Counted<Vec<(String, i32)>> =
        pages!("ec2:DescribeVolumes", ep, ec2.describe_volumes().max_results(500).into_paginator().send(), |p| {
            p.volumes()
                .iter()
                .map(|v| (v.volume_type().map(|t| t.as_str().to_string()).unwrap_or_default(), v.size().unwrap_or(0)))
                .collect::<Vec<_>>()
        });
    out.ebs_tib = Some(volumes.map(|v| {
        let mut m = HashMap::new();
        for (t, gib) in v {
            *m.entry(t).or_insert(0.0) += f64::from(gib) / 1024.0;
        }
        m
    }));
    let snapshots: Counted<Vec<()>> = pages!(
        "ec2:DescribeSnapshots",
        ep,
        ec2.describe_snapshots().owner_ids("self").max_results(1000).into_paginator().send(),
        |p| p.snapshots().iter().map(|_| ()).collect::<Vec<_>>()
    );
    out.snapshots = Some(snapshots.map(|s| s.len()));
}

/// The limits EC2 states itself (DescribeAccountAttributes), by attribute name.
async fn account_attributes(ec2: &aws_sdk_ec2::Client, ep: Option<&str>) -> Counted<HashMap<String, f64>> {
    ec2.describe_account_attributes()
        .send()
        .await
        .map(|a| {
            a.account_attributes()
                .iter()
                .filter_map(|a| {
                    let v = a.attribute_values().first()?.attribute_value()?.parse::<f64>().ok()?;
                    Some((a.attribute_name()?.to_string(), v))
                })
                .collect()
        })
        .map_err(|e| classify("ec2:DescribeAccountAttributes", ep, e).message)
}

/// Running (and pending) On-Demand vCPUs per family-class quota code: one
/// DescribeInstances listing, then DescribeInstanceTypes for the types seen,
/// 100 at a time. Spot and scheduled instances count against other quotas.
async fn on_demand_vcpus(ec2: &aws_sdk_ec2::Client, ep: Option<&str>) -> Counted<HashMap<&'static str, f64>> {
    use aws_sdk_ec2::types::{Filter, InstanceLifecycleType};
    let running = Filter::builder().name("instance-state-name").values("pending").values("running").build();
    let types: Vec<String> = pages!(
        "ec2:DescribeInstances",
        ep,
        ec2.describe_instances().filters(running).max_results(1000).into_paginator().send(),
        |p| {
            p.reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter(|i| {
                    !matches!(
                        i.instance_lifecycle(),
                        Some(InstanceLifecycleType::Spot | InstanceLifecycleType::Scheduled)
                    )
                })
                .filter_map(|i| i.instance_type().map(|t| t.as_str().to_string()))
                .collect::<Vec<_>>()
        }
    )?;
    let mut distinct = types.clone();
    distinct.sort();
    distinct.dedup();
    let mut vcpus: HashMap<String, i32> = HashMap::new();
    for chunk in distinct.chunks(100) {
        let mut req = ec2.describe_instance_types();
        for t in chunk {
            req = req.instance_types(aws_sdk_ec2::types::InstanceType::from(t.as_str()));
        }
        let described: Vec<(String, i32)> =
            pages!("ec2:DescribeInstanceTypes", ep, req.into_paginator().send(), |p| {
                p.instance_types()
                    .iter()
                    .filter_map(|t| Some((t.instance_type()?.as_str().to_string(), t.v_cpu_info()?.default_v_cpus()?)))
                    .collect::<Vec<_>>()
            })?;
        vcpus.extend(described);
    }
    let mut out: HashMap<&'static str, f64> = HashMap::new();
    for t in &types {
        let Some(n) = vcpus.get(t) else {
            return Err(format!("ec2:DescribeInstanceTypes did not describe instance type {t}"));
        };
        match troop_core::limits::on_demand_class(t) {
            Some(code) => *out.entry(code).or_insert(0.0) += f64::from(*n),
            None => tracing::info!(instance_type = %t, "no On-Demand vCPU quota known for this family"),
        }
    }
    Ok(out)
}

/// Application and Network Load Balancers with their listener and extra
/// certificate counts, and the region's target groups. Listeners are listed
/// per load balancer and certificates per HTTPS/TLS listener: the API has no
/// bulk form.
async fn load_balancers(
    aws: &AwsContext,
    t: &AccountTarget,
    region: &str,
    calls: &Arc<Counters>,
) -> (Counted<Vec<Lb>>, Counted<usize>) {
    use aws_sdk_elasticloadbalancingv2::types::{LoadBalancerTypeEnum, ProtocolEnum};
    let elb = aws.elbv2(t, region, calls);
    let ep = aws.endpoint_for("elbv2");
    let target_groups: Counted<Vec<()>> = pages!(
        "elasticloadbalancing:DescribeTargetGroups",
        ep,
        elb.describe_target_groups().into_paginator().send(),
        |p| p.target_groups().iter().map(|_| ()).collect::<Vec<_>>()
    );
    let lbs = async {
        let found: Vec<(String, String, LbType)> = pages!(
            "elasticloadbalancing:DescribeLoadBalancers",
            ep,
            elb.describe_load_balancers().into_paginator().send(),
            |p| {
                p.load_balancers()
                    .iter()
                    .filter_map(|lb| {
                        let kind = match lb.r#type()? {
                            LoadBalancerTypeEnum::Application => LbType::Application,
                            LoadBalancerTypeEnum::Network => LbType::Network,
                            _ => return None,
                        };
                        Some((lb.load_balancer_arn()?.to_string(), lb.load_balancer_name()?.to_string(), kind))
                    })
                    .collect::<Vec<_>>()
            }
        )?;
        let mut out = Vec::new();
        for (arn, name, kind) in found {
            let listeners: Vec<(String, bool)> = pages!(
                "elasticloadbalancing:DescribeListeners",
                ep,
                elb.describe_listeners().load_balancer_arn(&arn).into_paginator().send(),
                |p| {
                    p.listeners()
                        .iter()
                        .map(|l| {
                            let tls = matches!(l.protocol(), Some(ProtocolEnum::Https | ProtocolEnum::Tls));
                            (l.listener_arn().unwrap_or_default().to_string(), tls)
                        })
                        .collect::<Vec<_>>()
                }
            )?;
            let mut certificates = 0;
            for (listener, _) in listeners.iter().filter(|l| l.1) {
                let extra: Vec<()> = pages!(
                    "elasticloadbalancing:DescribeListenerCertificates",
                    ep,
                    elb.describe_listener_certificates().listener_arn(listener).into_paginator().send(),
                    |p| p
                        .certificates()
                        .iter()
                        .filter(|c| c.is_default() != Some(true))
                        .map(|_| ())
                        .collect::<Vec<_>>()
                )?;
                certificates += extra.len();
            }
            out.push(Lb { name, kind, listeners: listeners.len(), certificates });
        }
        Ok(out)
    }
    .await;
    (lbs, target_groups.map(|t| t.len()))
}

pub(crate) struct AccountCounts {
    pub iam_summary: Option<Counted<HashMap<String, i64>>>,
    pub buckets: Option<Counted<usize>>,
}

/// The account-wide counts (IAM, S3) of the services `want` selects.
pub(crate) async fn account(
    aws: &AwsContext,
    t: &AccountTarget,
    calls: &Arc<Counters>,
    want: &(dyn Fn(&str) -> bool + Sync),
) -> AccountCounts {
    let mut out = AccountCounts { iam_summary: None, buckets: None };
    if want("iam") {
        let summary = aws.iam(t, calls).get_account_summary().send().await;
        out.iam_summary = Some(
            summary
                .map(|s| {
                    s.summary_map()
                        .map(|m| m.iter().map(|(k, v)| (k.as_str().to_string(), i64::from(*v))).collect())
                        .unwrap_or_default()
                })
                .map_err(|e| classify("iam:GetAccountSummary", aws.endpoint_for("iam"), e).message),
        );
    }
    if want("s3") {
        let s3 = aws.s3(t, &home(t), calls);
        let buckets: Counted<Vec<()>> =
            pages!("s3:ListBuckets", aws.endpoint_for("s3"), s3.list_buckets().into_paginator().send(), |p| {
                p.buckets().iter().map(|_| ()).collect::<Vec<_>>()
            });
        out.buckets = Some(buckets.map(|b| b.len()));
    }
    out
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
    calls: &Arc<Counters>,
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
