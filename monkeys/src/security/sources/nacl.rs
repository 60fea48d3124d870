//! Network ACLs of one region: paginated DescribeNetworkAcls (1,000 a
//! page), rules and subnet associations included: no per-item call.

use super::{Part, Reader, Scope};
use crate::aws::classify;
use async_trait::async_trait;
use troop_core::security::nacl::{self, CATCH_ALL, NetworkAcl};

pub(crate) struct NetworkAcls;

#[async_trait]
impl super::Source for NetworkAcls {
    fn technologies(&self) -> &'static [&'static str] {
        &[nacl::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &["ec2:DescribeNetworkAcls"]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let client = r.aws.ec2(r.target, r.region, r.calls);
        let mut acls = Vec::new();
        let mut pages = client.describe_network_acls().max_results(1000).into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => acls.extend(p.network_acls().iter().map(convert)),
                Err(e) => {
                    let e = classify("ec2:DescribeNetworkAcls", r.aws.endpoint(), e);
                    return part.failed(self.technologies(), r.account(), r.region, e);
                }
            }
        }
        for a in acls {
            part.report.findings.extend(nacl::audit(&a, r.region, &r.audit));
            part.report.snapshots.push(a.snapshot(r.account(), r.region));
        }
        part.covered(self.technologies(), r.account(), r.region);
    }
}

fn convert(a: &aws_sdk_ec2::types::NetworkAcl) -> NetworkAcl {
    let (mut ingress, mut egress) = (Vec::new(), Vec::new());
    for e in a.entries().iter().filter(|e| e.rule_number() != Some(CATCH_ALL)) {
        let cidr = e.cidr_block().or(e.ipv6_cidr_block()).unwrap_or_default();
        let ports = e.port_range().and_then(|p| Some((p.from()?, p.to()?)));
        let action = e.rule_action().map(|a| a.as_str()).unwrap_or_default();
        let entry = nacl::entry(e.rule_number().unwrap_or_default(), e.protocol().unwrap_or("-1"), action, cidr, ports);
        if e.egress() == Some(true) { egress.push(entry) } else { ingress.push(entry) }
    }
    ingress.sort();
    egress.sort();
    let mut subnets: Vec<String> = a.associations().iter().filter_map(|s| s.subnet_id().map(str::to_string)).collect();
    subnets.sort();
    NetworkAcl {
        network_acl_id: a.network_acl_id().unwrap_or_default().to_string(),
        vpc_id: a.vpc_id().unwrap_or_default().to_string(),
        is_default: a.is_default().unwrap_or(false),
        ingress,
        egress,
        subnets,
        tags: a
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
            .collect(),
    }
}
