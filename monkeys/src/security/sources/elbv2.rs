//! Load-balancer listeners of one region: paginated DescribeLoadBalancers
//! (400 a page), DescribeListeners per load balancer (no call lists every
//! load balancer's listeners), and one DescribeSSLPolicies for every policy
//! in use.

use super::{Part, Reader, Scope};
use crate::aws::{AwsError, classify};
use async_trait::async_trait;
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use troop_core::security::elbv2::{self, Action, Listener};

pub(crate) struct Listeners;

#[async_trait]
impl super::Source for Listeners {
    fn technologies(&self) -> &'static [&'static str] {
        &[elbv2::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &[
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeListeners",
            "elasticloadbalancing:DescribeSSLPolicies",
        ]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        match listeners(r).await {
            Ok(found) => {
                for l in found {
                    part.report.findings.extend(elbv2::audit(&l, r.region, &r.audit));
                    part.report.snapshots.push(l.snapshot(r.account(), r.region));
                }
                part.covered(self.technologies(), r.account(), r.region);
            }
            Err(e) => part.failed(self.technologies(), r.account(), r.region, e),
        }
    }
}

/// Every listener of the region. One load balancer whose listeners cannot
/// be read fails the listing: which of its stored listeners still exist is
/// unknown, so none of the region's may be judged deleted.
async fn listeners(r: &Reader<'_>) -> Result<Vec<Listener>, AwsError> {
    let client = r.aws.elbv2(r.target, r.region, r.calls);
    let endpoint = r.aws.endpoint_for("elbv2");
    let mut lbs: Vec<(String, String, String)> = Vec::new();
    let mut pages = client.describe_load_balancers().page_size(400).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("elasticloadbalancing:DescribeLoadBalancers", endpoint, e))?;
        for lb in page.load_balancers() {
            lbs.push((
                lb.load_balancer_arn().unwrap_or_default().to_string(),
                lb.load_balancer_name().unwrap_or_default().to_string(),
                lb.scheme().map(|s| s.as_str().to_string()).unwrap_or_default(),
            ));
        }
    }
    let per_lb: Vec<Result<Vec<Listener>, AwsError>> = futures::stream::iter(lbs)
        .map(|(arn, name, scheme)| {
            let client = client.clone();
            async move {
                let mut out = Vec::new();
                let mut pages = client.describe_listeners().load_balancer_arn(&arn).into_paginator().send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| classify("elasticloadbalancing:DescribeListeners", endpoint, e))?;
                    out.extend(page.listeners().iter().map(|l| convert(l, &name, &scheme)));
                }
                Ok(out)
            }
        })
        .buffered(r.concurrency.max(1))
        .collect()
        .await;
    let mut found = Vec::new();
    for listed in per_lb {
        found.extend(listed?);
    }
    // what each TLS policy in use allows, in one call
    let names: BTreeSet<String> = found.iter().filter_map(|l| l.ssl_policy.clone()).collect();
    if !names.is_empty() {
        let answer = client
            .describe_ssl_policies()
            .set_names(Some(names.into_iter().collect()))
            .send()
            .await
            .map_err(|e| classify("elasticloadbalancing:DescribeSSLPolicies", endpoint, e))?;
        let allows: BTreeMap<String, Vec<String>> = answer
            .ssl_policies()
            .iter()
            .map(|p| {
                let mut v: Vec<String> = p.ssl_protocols().to_vec();
                v.sort();
                (p.name().unwrap_or_default().to_string(), v)
            })
            .collect();
        for l in &mut found {
            if let Some(p) = l.ssl_policy.as_ref().and_then(|n| allows.get(n)) {
                l.tls_protocols = p.clone();
            }
        }
    }
    Ok(found)
}

fn convert(l: &aws_sdk_elasticloadbalancingv2::types::Listener, lb: &str, scheme: &str) -> Listener {
    let mut actions: Vec<Action> = l
        .default_actions()
        .iter()
        .map(|a| Action {
            r#type: a.r#type().map(|t| t.as_str().to_string()).unwrap_or_default(),
            redirect_protocol: a.redirect_config().and_then(|c| c.protocol()).map(str::to_string),
        })
        .collect();
    actions.sort();
    let protocol = l.protocol().map(|p| p.as_str().to_string()).unwrap_or_default();
    let tls = elbv2::TLS_LISTENER_PROTOCOLS.contains(&protocol.as_str());
    Listener {
        arn: l.listener_arn().unwrap_or_default().to_string(),
        load_balancer: lb.to_string(),
        scheme: scheme.to_string(),
        port: l.port().unwrap_or_default(),
        protocol,
        ssl_policy: l.ssl_policy().filter(|_| tls).map(str::to_string),
        tls_protocols: vec![],
        default_actions: actions,
    }
}
