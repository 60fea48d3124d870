//! EC2 security groups of one region: paginated DescribeSecurityGroups
//! (1,000 a page), every rule flattened to one source.

use super::{Part, Reader, Scope};
use crate::aws::{AwsError, classify};
use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, SecurityGroup};
use std::collections::BTreeMap;
use troop_core::security::sg::{self, Group, Rule, Source};

pub(crate) struct SecurityGroups;

#[async_trait]
impl super::Source for SecurityGroups {
    fn technologies(&self) -> &'static [&'static str] {
        &[sg::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &["ec2:DescribeSecurityGroups"]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let client = r.aws.ec2(r.target, r.region, r.calls);
        match security_groups(&client, r.aws.endpoint()).await {
            Ok(groups) => {
                for g in groups {
                    part.report.findings.extend(sg::audit(&g, r.account(), r.region));
                    part.report.snapshots.push(g.snapshot(r.account(), r.region));
                }
                part.covered(self.technologies(), r.account(), r.region);
            }
            Err(e) => part.failed(self.technologies(), r.account(), r.region, e),
        }
    }
}

pub(crate) async fn security_groups(
    client: &aws_sdk_ec2::Client,
    endpoint: Option<&str>,
) -> Result<Vec<Group>, AwsError> {
    let mut out = Vec::new();
    let mut pages = client.describe_security_groups().max_results(1000).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ec2:DescribeSecurityGroups", endpoint, e))?;
        out.extend(page.security_groups().iter().map(convert));
    }
    Ok(out)
}

/// One SDK security group as troop's model (every rule flattened to one source).
pub(crate) fn convert(g: &SecurityGroup) -> Group {
    Group {
        group_id: g.group_id().unwrap_or_default().to_string(),
        group_name: g.group_name().unwrap_or_default().to_string(),
        description: g.description().unwrap_or_default().to_string(),
        vpc_id: g.vpc_id().map(str::to_string),
        owner_id: g.owner_id().map(str::to_string),
        tags: g
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
            .collect::<BTreeMap<_, _>>(),
        ingress: rules(g.ip_permissions()),
        egress: rules(g.ip_permissions_egress()),
    }
}

fn rules(perms: &[IpPermission]) -> Vec<Rule> {
    let mut out = Vec::new();
    for p in perms {
        let protocol = sg::protocol_name(p.ip_protocol().unwrap_or("-1"));
        let (from, to) = if protocol == "all" { (None, None) } else { (p.from_port(), p.to_port()) };
        let rule = |source: Source, description: Option<&str>| Rule {
            protocol: protocol.clone(),
            from_port: from,
            to_port: to,
            source,
            description: description.filter(|d| !d.is_empty()).map(str::to_string),
        };
        for r in p.ip_ranges() {
            out.push(rule(Source::Cidr { cidr: r.cidr_ip().unwrap_or_default().to_string() }, r.description()));
        }
        for r in p.ipv6_ranges() {
            out.push(rule(Source::Cidr6 { cidr: r.cidr_ipv6().unwrap_or_default().to_string() }, r.description()));
        }
        for r in p.prefix_list_ids() {
            out.push(rule(
                Source::PrefixList { id: r.prefix_list_id().unwrap_or_default().to_string() },
                r.description(),
            ));
        }
        for r in p.user_id_group_pairs() {
            out.push(rule(
                Source::Group {
                    group_id: r.group_id().unwrap_or_default().to_string(),
                    account: r.user_id().map(str::to_string),
                },
                r.description(),
            ));
        }
    }
    sg::canonical_order(&mut out);
    out
}
