//! The limits monkey: usage against AWS quotas, keyed on (service, quota
//! code). Limits come from the config override, Service Quotas (applied, then
//! default), the service's own API, then a built-in table; usage from bulk
//! listings. A count that fails is reported unknown with its reason, never 0,
//! and resolves nothing. Evaluation is pure, in `troop_core::limits`.

mod catalogue;
mod counters;

use crate::aws::AwsContext;
use async_trait::async_trait;
use catalogue::{Count, QUOTAS};
use counters::Counted;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use troop_core::limits::{self, LimitCandidates, MONKEY, QuotaKey, Thresholds, Usage};
use troop_core::monkey::{Coverage, Gauge, Monkey, MonkeyError, Observed, PassContext, Report, Shard};

/// Service Quotas service codes of the regional quotas.
const REGIONAL_SERVICES: [&str; 5] = ["vpc", "ec2", "ebs", "elasticloadbalancing", "autoscaling"];

pub struct LimitsMonkey {
    cfg: troop_config::Limits,
    aws: Arc<AwsContext>,
}

impl LimitsMonkey {
    pub fn new(cfg: &troop_config::Limits, aws: Arc<AwsContext>) -> Self {
        LimitsMonkey { cfg: cfg.clone(), aws }
    }

    fn thresholds(&self, id: &str) -> Option<Thresholds> {
        let o = self.cfg.overrides.get(id);
        if o.is_some_and(|o| o.ignore) {
            return None;
        }
        Some(Thresholds {
            warning: o.and_then(|o| o.warning).unwrap_or(self.cfg.warning),
            critical: o.and_then(|o| o.critical).unwrap_or(self.cfg.critical),
        })
    }

    fn want(&self, service: &str) -> bool {
        self.cfg.services.iter().any(|s| s == service)
    }

    /// Whether any regional quota is asked for (then each region is a shard).
    fn regional(&self) -> bool {
        REGIONAL_SERVICES.iter().any(|s| self.want(s))
    }
}

/// One usage per (resource or none) for a quota, or why it is unknown.
fn usages<T: Clone>(
    c: &Option<Counted<T>>,
    f: impl Fn(&T) -> Vec<(Option<String>, f64)>,
) -> Vec<(Option<String>, Usage)> {
    match c {
        None => vec![],
        Some(Err(e)) => vec![(None, Usage::Unknown(e.clone()))],
        Some(Ok(v)) => f(v).into_iter().map(|(r, n)| (r, Usage::Known(n))).collect(),
    }
}

/// One account-wide usage.
fn total(c: &Option<Counted<usize>>) -> Vec<(Option<String>, Usage)> {
    usages(c, |n| vec![(None, *n as f64)])
}

/// One usage per resource.
fn per_resource(c: &Option<Counted<Vec<(String, usize)>>>) -> Vec<(Option<String>, Usage)> {
    usages(c, |v| v.iter().map(|(r, n)| (Some(r.clone()), *n as f64)).collect())
}

#[async_trait]
impl Monkey for LimitsMonkey {
    fn name(&self) -> &'static str {
        MONKEY
    }

    /// An account's shard (account-wide quotas, and which of the
    /// configured regions it has) and, when regional quotas are asked for,
    /// one shard per region of it.
    async fn shards(&self, ctx: &PassContext) -> Result<Vec<Shard>, MonkeyError> {
        ctx.progress.update(MONKEY, "resolving accounts");
        self.aws.shards(MONKEY, self.regional(), &ctx.counters).await
    }

    fn parallel_shards(&self) -> usize {
        self.aws.concurrency()
    }

    async fn run(&self, ctx: &PassContext, shard: &Shard) -> Result<Report, MonkeyError> {
        let calls = &ctx.counters;
        let t = self.aws.account(shard, calls).await?;
        let want = |service: &str| self.want(service);
        let mut report = Report::default();
        match self.aws.access(MONKEY, shard, &t, calls).await {
            Ok(coverage) => report.coverage.extend(coverage),
            Err(unreadable) => return Ok(unreadable),
        }
        let mut regional = Vec::new();
        let mut global = Vec::new();
        match &shard.region {
            Some(region) => {
                ctx.progress.update(MONKEY, &format!("counting resources of {}/{region}", t.id));
                let counts = counters::region(&self.aws, &t, region, calls, &want).await;
                let mut sq = HashMap::new();
                for svc in REGIONAL_SERVICES.iter().filter(|s| self.cfg.service_quotas && want(s)) {
                    sq.insert(*svc, counters::service_quotas(&self.aws, &t, region, svc, calls).await);
                }
                regional.push((t.clone(), region.clone(), (counts, sq)));
            }
            None => {
                if self.regional() {
                    let (bad_regions, checked) = self.aws.check_regions(MONKEY, std::slice::from_ref(&t), calls).await;
                    report.findings.extend(bad_regions);
                    report.coverage.extend(checked);
                }
                ctx.progress.update(MONKEY, &format!("counting account-wide resources of {}", t.id));
                let counts = counters::account(&self.aws, &t, calls, &want).await;
                let home = counters::home(&t);
                let mut sq = HashMap::new();
                for svc in ["iam", "s3"].into_iter().filter(|s| self.cfg.service_quotas && want(s)) {
                    sq.insert(svc, counters::service_quotas(&self.aws, &t, &home, svc, calls).await);
                }
                global.push((t.clone(), (home, counts, sq)));
            }
        }

        let mut evaluations = Vec::new();
        let mut evaluate = |q: &catalogue::Quota,
                            account: &str,
                            region: &str,
                            found: Vec<(Option<String>, Usage)>,
                            sq: &HashMap<&str, (HashMap<String, f64>, HashMap<String, f64>)>,
                            api: Option<f64>| {
            let id = format!("{}/{}", q.service, q.code);
            let (applied, defaults) =
                sq.get(q.service).map(|s| (s.0.get(q.code).copied(), s.1.get(q.code).copied())).unwrap_or_default();
            let candidates = LimitCandidates {
                override_: self.cfg.overrides.get(&id).and_then(|o| o.limit),
                applied,
                default: defaults,
                api,
                builtin: q.builtin,
            };
            for (resource, usage) in found {
                let key = QuotaKey {
                    account: account.into(),
                    region: region.into(),
                    service: q.service.into(),
                    quota_code: q.code.into(),
                    quota_name: q.name.into(),
                    resource,
                };
                evaluations.push(limits::evaluate(key, usage, &candidates, self.thresholds(&id)));
            }
        };
        for (t, region, (c, sq)) in &regional {
            for q in QUOTAS.iter().filter(|q| !q.global) {
                let found = match q.count {
                    Count::Vpcs => total(&c.vpcs),
                    Count::InternetGateways => total(&c.igws),
                    Count::ElasticIps => total(&c.eips),
                    Count::SecurityGroups => total(&c.sgs),
                    Count::RulesPerSecurityGroup => per_resource(&c.rules_per_sg),
                    Count::SubnetsPerVpc => per_resource(&c.subnets_per_vpc),
                    Count::RouteTablesPerVpc => per_resource(&c.route_tables_per_vpc),
                    Count::RoutesPerTable => per_resource(&c.routes_per_table),
                    Count::NetworkAclsPerVpc => per_resource(&c.nacls_per_vpc),
                    Count::NetworkInterfaces => per_resource(&c.enis_per_az),
                    Count::SecurityGroupsPerInterface => per_resource(&c.sgs_per_eni),
                    Count::NatGatewaysPerAz => per_resource(&c.nat_per_az),
                    Count::OnDemandVcpus => {
                        usages(&c.vcpus_by_class, |m| vec![(None, m.get(q.code).copied().unwrap_or(0.0))])
                    }
                    Count::EbsStorage(t) => usages(&c.ebs_tib, |m| vec![(None, m.get(t).copied().unwrap_or(0.0))]),
                    Count::Snapshots => total(&c.snapshots),
                    Count::LoadBalancers(kind) => {
                        usages(&c.lbs, |lbs| vec![(None, lbs.iter().filter(|l| l.kind == kind).count() as f64)])
                    }
                    Count::TargetGroups => total(&c.target_groups),
                    Count::ListenersPerLb(kind) => usages(&c.lbs, |lbs| {
                        lbs.iter()
                            .filter(|l| l.kind == kind)
                            .map(|l| (Some(l.name.clone()), l.listeners as f64))
                            .collect()
                    }),
                    Count::CertificatesPerLb(kind) => usages(&c.lbs, |lbs| {
                        lbs.iter()
                            .filter(|l| l.kind == kind)
                            .map(|l| (Some(l.name.clone()), l.certificates as f64))
                            .collect()
                    }),
                    Count::AutoScalingGroups => total(&c.asgs),
                    Count::LaunchConfigurations => total(&c.launch_configs),
                    // counted once per account, below
                    Count::IamSummary(..) | Count::Buckets => vec![],
                };
                let api = q
                    .ec2_attribute
                    .and_then(|a| c.ec2_attributes.as_ref()?.as_ref().ok()?.get(a).copied())
                    .filter(|v| *v > 0.0);
                evaluate(q, &t.id, region, found, sq, api);
            }
        }
        for (t, (home, c, sq)) in &global {
            for q in QUOTAS.iter().filter(|q| q.global) {
                let (found, api) = match q.count {
                    Count::IamSummary(used, quota) => (
                        usages(&c.iam_summary, |m| m.get(used).map(|v| vec![(None, *v as f64)]).unwrap_or_default()),
                        c.iam_summary.as_ref().and_then(|s| s.as_ref().ok()?.get(quota)).map(|v| *v as f64),
                    ),
                    Count::Buckets => (total(&c.buckets), None),
                    // regional, counted above
                    Count::Vpcs
                    | Count::InternetGateways
                    | Count::ElasticIps
                    | Count::SecurityGroups
                    | Count::RulesPerSecurityGroup
                    | Count::SubnetsPerVpc
                    | Count::RouteTablesPerVpc
                    | Count::RoutesPerTable
                    | Count::NetworkAclsPerVpc
                    | Count::NetworkInterfaces
                    | Count::SecurityGroupsPerInterface
                    | Count::NatGatewaysPerAz
                    | Count::OnDemandVcpus
                    | Count::EbsStorage(_)
                    | Count::Snapshots
                    | Count::LoadBalancers(_)
                    | Count::TargetGroups
                    | Count::ListenersPerLb(_)
                    | Count::CertificatesPerLb(_)
                    | Count::AutoScalingGroups
                    | Count::LaunchConfigurations => (vec![], None),
                };
                let region = if q.global { "global" } else { home.as_str() };
                evaluate(q, &t.id, region, found, sq, api);
            }
        }

        let mut covered: BTreeMap<(String, String, String), bool> = BTreeMap::new();
        for e in &evaluations {
            let k = &e.key;
            let scope = (format!("limits:{}", k.id()), k.account.clone(), k.region.clone());
            let entry = covered.entry(scope).or_insert(true);
            *entry &= e.conclusive();
            if let Some(f) = limits::finding(e) {
                report.findings.push(f);
            }
            let mut labels = BTreeMap::new();
            labels.insert("account".to_string(), k.account.clone());
            labels.insert("region".to_string(), k.region.clone());
            labels.insert("service".to_string(), k.service.clone());
            labels.insert("quota_code".to_string(), k.quota_code.clone());
            labels.insert("resource".to_string(), k.resource.clone().unwrap_or_default());
            if let Usage::Known(u) = e.usage {
                report.gauges.push(Gauge { name: "troop_quota_usage".into(), labels: labels.clone(), value: u });
            }
            if let Some((l, _)) = e.limit {
                report.gauges.push(Gauge { name: "troop_quota_limit".into(), labels, value: l });
            }
            let key = format!(
                "{}/{}/{}{}",
                k.account,
                k.region,
                k.id(),
                k.resource.as_ref().map(|r| format!("/{r}")).unwrap_or_default()
            );
            report.observations.push(Observed {
                kind: "quota".into(),
                key,
                data: serde_json::to_value(e.row()).unwrap_or_default(),
            });
        }
        // Only a quota whose every usage and limit is known can resolve its findings.
        for ((scope, account, region), conclusive) in covered {
            if conclusive {
                report.coverage.push(Coverage { scope, account, region });
            }
        }
        Ok(report)
    }
}
