//! Quotas, pure: where a limit comes from, how full it is, and how loudly to
//! say so. Keyed on (service code, quota code), never on names. The limits
//! monkey does the counting and the API calls.

use crate::finding::{Finding, Severity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MONKEY: &str = "limits";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitSource {
    /// `[monkeys.limits.overrides."svc/code"] limit`
    Override,
    /// Service Quotas: the value applied to this account.
    Applied,
    /// Service Quotas: the AWS default.
    Default,
    /// A service API that states the limit (IAM GetAccountSummary, EC2 DescribeAccountAttributes).
    Api,
    /// troop's built-in table of documented defaults.
    Builtin,
}

impl LimitSource {
    /// Its name in rows and on the page (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            LimitSource::Override => "override",
            LimitSource::Applied => "applied",
            LimitSource::Default => "default",
            LimitSource::Api => "api",
            LimitSource::Builtin => "builtin",
        }
    }
}

/// Every value known for one quota's limit; the first present wins, in the
/// order of the fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitCandidates {
    pub override_: Option<f64>,
    pub applied: Option<f64>,
    pub default: Option<f64>,
    pub api: Option<f64>,
    pub builtin: Option<f64>,
}

impl LimitCandidates {
    pub fn resolve(&self) -> Option<(f64, LimitSource)> {
        [
            (self.override_, LimitSource::Override),
            (self.applied, LimitSource::Applied),
            (self.default, LimitSource::Default),
            (self.api, LimitSource::Api),
            (self.builtin, LimitSource::Builtin),
        ]
        .into_iter()
        .find_map(|(v, s)| v.map(|v| (v, s)))
    }
}

/// How much of a quota is used, or why that is not known. Never a guessed 0.
#[derive(Debug, Clone, PartialEq)]
pub enum Usage {
    Known(f64),
    Unknown(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub warning: f64,
    pub critical: f64,
}

/// One quota, possibly for one resource (rules per security group...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QuotaKey {
    pub account: String,
    pub region: String,
    pub service: String,
    pub quota_code: String,
    pub quota_name: String,
    /// `None` for account-wide quotas.
    pub resource: Option<String>,
}

impl QuotaKey {
    /// `service/quota_code`, the key of `[monkeys.limits.overrides]`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.service, self.quota_code)
    }
}

/// One quota evaluated: the `troop limits` row.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub key: QuotaKey,
    pub usage: Usage,
    pub limit: Option<(f64, LimitSource)>,
    pub ratio: Option<f64>,
    pub severity: Option<Severity>,
}

impl Evaluation {
    /// Whether this evaluation can resolve an earlier finding: only when both
    /// usage and limit are known.
    pub fn conclusive(&self) -> bool {
        self.ratio.is_some()
    }

    /// Its `troop limits` row.
    pub fn row(&self) -> QuotaRow {
        let (usage, reason) = match &self.usage {
            Usage::Known(u) => (Some(*u), None),
            Usage::Unknown(r) => (None, Some(r.clone())),
        };
        QuotaRow {
            key: self.key.clone(),
            usage,
            limit: self.limit.map(|l| l.0),
            ratio: self.ratio,
            limit_source: self.limit.map(|l| l.1),
            unknown_reason: reason.or_else(|| self.limit.is_none().then(|| "no limit known".to_string())),
            severity: self.severity,
        }
    }
}

/// One `troop limits` row (SPEC.md's quota shape): what a pass stores as
/// the `quota` observation of one quota, and what the CLI, `/api/v1/limits`
/// and the page show. `ratio` is usage over limit (`null` when either is
/// unknown; JSON has no infinity, so a zero limit in use reads `null` too).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QuotaRow {
    /// Which quota (its fields at the row's top level: `account`, `region`,
    /// `service`, `quota_code`, `quota_name`, `resource`).
    #[serde(flatten)]
    pub key: QuotaKey,
    pub usage: Option<f64>,
    pub limit: Option<f64>,
    pub ratio: Option<f64>,
    pub limit_source: Option<LimitSource>,
    /// Why usage or the limit is unknown.
    pub unknown_reason: Option<String>,
    /// At or above a threshold: its severity.
    pub severity: Option<Severity>,
}

/// Evaluate one quota. `None` thresholds mean the quota is ignored.
pub fn evaluate(key: QuotaKey, usage: Usage, limit: &LimitCandidates, thresholds: Option<Thresholds>) -> Evaluation {
    let limit = limit.resolve();
    let ratio = match (&usage, limit) {
        (Usage::Known(u), Some((l, _))) if l > 0.0 => Some(u / l),
        (Usage::Known(u), Some((_, _))) => Some(if *u > 0.0 { f64::INFINITY } else { 0.0 }),
        _ => None,
    };
    let severity = match (ratio, thresholds) {
        (Some(r), Some(t)) if r >= t.critical => Some(Severity::Critical),
        (Some(r), Some(t)) if r >= t.warning => Some(Severity::Warning),
        _ => None,
    };
    Evaluation { key, usage, limit, ratio, severity }
}

/// The On-Demand vCPU quota (EC2 quota code) an instance type counts against,
/// from its family prefix: the letters before the first digit
/// (`m7i-flex.large` → `m`, `u-6tb1.metal` → `u-`, `inf2.xlarge` → `inf`).
/// `None` for a family troop does not know: the caller must say so, not
/// guess a class.
pub fn on_demand_class(instance_type: &str) -> Option<&'static str> {
    let family: String = instance_type.chars().take_while(|c| !c.is_ascii_digit() && *c != '.').collect();
    Some(match family.as_str() {
        // Standard (A, C, D, H, I, M, R, T, Z); im4gn / is4gen are I-family.
        "a" | "c" | "d" | "h" | "i" | "im" | "is" | "m" | "r" | "t" | "z" => "L-1216C47A",
        "g" | "gr" | "vt" => "L-DB2E81BA",
        "p" => "L-417A185B",
        "f" => "L-74FC7D96",
        "x" => "L-7295265B",
        "inf" => "L-1945791B",
        "dl" => "L-6E869C2A",
        "trn" => "L-2C3B7624",
        "hpc" => "L-F7808C92",
        // High Memory: u-6tb1.metal and u7i-12tb.224xlarge
        "u-" | "u" => "L-43DA4232",
        _ => return None,
    })
}

/// A managed prefix list as the security-group rules quota weighs it
/// (EC2 DescribeManagedPrefixLists: `AddressFamily`, `MaxEntries`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixListWeight {
    pub ipv6: bool,
    pub max_entries: usize,
}

/// The weight of an AWS-managed prefix list, by name: what one reference
/// to it counts toward a security group's rules or a route table's routes.
/// DescribeManagedPrefixLists states no `MaxEntries` for these lists; the
/// weights are AWS's table
/// (<https://docs.aws.amazon.com/vpc/latest/userguide/working-with-aws-managed-prefix-lists.html#aws-managed-prefix-list-weights>).
/// `None` for a name troop does not know.
pub fn aws_managed_prefix_list_weight(name: &str) -> Option<PrefixListWeight> {
    let rest = name.strip_prefix("com.amazonaws.")?;
    let (_scope, service) = rest.split_once('.')?; // a region, or `global`
    let (ipv6, service) = match service.strip_prefix("ipv6.") {
        Some(s) => (true, s),
        None => (false, service),
    };
    let max_entries = match service {
        "cloudfront.origin-facing" => 55,
        "dynamodb" | "s3" => 1,
        "ec2-instance-connect" => 2,
        "groundstation" => 5,
        "route53-healthchecks" => 25,
        "s3express" => 6,
        "secretsmanager-managed-external-secrets" => 20,
        "vpc-lattice" => 10,
        _ => return None,
    };
    Some(PrefixListWeight { ipv6, max_entries })
}

/// A prefix-list reference counts its weight toward its family; a list of
/// unknown weight counts 1 toward both.
fn count_prefix_list(weight: Option<PrefixListWeight>, v4: &mut usize, v6: &mut usize) {
    match weight {
        Some(w) if w.ipv6 => *v6 += w.max_entries,
        Some(w) => *v4 += w.max_entries,
        None => {
            *v4 += 1;
            *v6 += 1;
        }
    }
}

/// Usage of "Inbound or outbound rules per security group" (vpc
/// `L-0EA8095F`) for one group, counted as AWS enforces it
/// (<https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups>,
/// "Security group size" in
/// <https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html>):
/// - separately for inbound and outbound rules, and separately for IPv4 and
///   IPv6 rules: the quota applies to each of the four counts, so usage is the
///   largest of them;
/// - one rule per source: an IPv4 CIDR counts 1 toward IPv4, an IPv6 CIDR 1
///   toward IPv6, a security-group reference 1 toward both;
/// - a prefix-list reference counts the list's maximum entries toward its
///   address family; a list whose weight `prefix_list` does not know counts 1
///   toward both (the rule AWS documented before weights).
pub fn sg_rules_usage(g: &crate::security::sg::Group, prefix_list: impl Fn(&str) -> Option<PrefixListWeight>) -> usize {
    use crate::security::sg::Source;
    let count = |rules: &[crate::security::sg::Rule]| {
        let (mut v4, mut v6) = (0usize, 0usize);
        for r in rules {
            match &r.source {
                Source::Cidr { .. } => v4 += 1,
                Source::Cidr6 { .. } => v6 += 1,
                Source::Group { .. } => {
                    v4 += 1;
                    v6 += 1;
                }
                Source::PrefixList { id } => count_prefix_list(prefix_list(id), &mut v4, &mut v6),
            }
        }
        v4.max(v6)
    };
    count(&g.ingress).max(count(&g.egress))
}

/// Where one route of a route table sends traffic from, as the routes quota
/// sees it (EC2 DescribeRouteTables: `DestinationCidrBlock`,
/// `DestinationIpv6CidrBlock`, `DestinationPrefixListId`, `Origin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDestination {
    Ipv4,
    Ipv6,
    PrefixList(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination: RouteDestination,
    /// `Origin = EnableVgwRoutePropagation`: a propagated route, which has a
    /// quota of its own (100, not adjustable).
    pub propagated: bool,
}

/// Usage of "Routes per route table" (vpc `L-93826ACB`) for one table, as
/// AWS enforces it
/// (<https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-route-tables>):
/// non-propagated routes only, separately for IPv4 and IPv6 routes (usage is
/// the larger); a prefix-list destination counts the list's maximum entries
/// toward its family (unknown lists: 1 toward both), as every reference to a
/// prefix list does.
pub fn routes_usage(routes: &[Route], prefix_list: impl Fn(&str) -> Option<PrefixListWeight>) -> usize {
    let (mut v4, mut v6) = (0usize, 0usize);
    for r in routes.iter().filter(|r| !r.propagated) {
        match &r.destination {
            RouteDestination::Ipv4 => v4 += 1,
            RouteDestination::Ipv6 => v6 += 1,
            RouteDestination::PrefixList(id) => count_prefix_list(prefix_list(id), &mut v4, &mut v6),
        }
    }
    v4.max(v6)
}

/// A NAT gateway in this state (EC2 `NatGatewayState`) counts toward "NAT
/// gateways per Availability Zone" (vpc `L-FE5A380F`): pending, available
/// and deleting do; failed and deleted do not
/// (<https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-gateways>).
pub fn nat_gateway_counts(state: &str) -> bool {
    matches!(state, "pending" | "available" | "deleting")
}

/// A usage or limit as people read it: whole numbers without a fraction,
/// others to one decimal.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v:.1}") }
}

/// The finding for a quota at or above its warning threshold.
pub fn finding(e: &Evaluation) -> Option<Finding> {
    let severity = e.severity?;
    let (Usage::Known(usage), Some((limit, source)), Some(ratio)) = (&e.usage, e.limit, e.ratio) else { return None };
    let k = &e.key;
    let resource = match &k.resource {
        Some(r) => format!("{}:{r}", k.id()),
        None => k.id(),
    };
    let mut labels = BTreeMap::new();
    labels.insert("service".to_string(), k.service.clone());
    labels.insert("quota_code".to_string(), k.quota_code.clone());
    let on = k.resource.as_ref().map(|r| format!(" for {r}")).unwrap_or_default();
    Some(Finding {
        monkey: MONKEY.into(),
        kind: "quota".into(),
        severity,
        account: k.account.clone(),
        region: k.region.clone(),
        resource,
        title: format!(
            "{} ({}){on}: {} of {} used ({:.0}%)",
            k.quota_name,
            k.id(),
            fmt_num(*usage),
            fmt_num(limit),
            ratio * 100.0
        ),
        details: serde_json::json!({
            "usage": usage, "limit": limit, "ratio": ratio, "limit_source": source,
            "quota_name": k.quota_name, "quota_code": k.quota_code, "service": k.service, "resource": k.resource,
        }),
        labels,
        scope: format!("limits:{}", k.id()),
    })
}

/// `troop limits` rows (the `quota` observations a pass stored, read back
/// into [`QuotaRow`]): highest usage ratio first, unknown usage or limit
/// last. Errors: a stored observation that is not a row.
pub fn rows(stored: Vec<serde_json::Value>) -> Result<Vec<QuotaRow>, serde_json::Error> {
    let mut rows: Vec<QuotaRow> = stored.into_iter().map(serde_json::from_value).collect::<Result<_, _>>()?;
    let r = |v: &QuotaRow| v.ratio.unwrap_or(-1.0);
    rows.sort_by(|a, b| r(b).total_cmp(&r(a)));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use crate::security::sg::{Group, Rule, Source};

    fn rules(sources: &[Source]) -> Vec<Rule> {
        sources
            .iter()
            .map(|s| Rule {
                protocol: "tcp".into(),
                from_port: Some(443),
                to_port: Some(443),
                source: s.clone(),
                description: None,
            })
            .collect()
    }

    #[test]
    fn routes_usage_table() {
        use super::{Route, RouteDestination as D};
        let r = |d: D, propagated: bool| Route { destination: d, propagated };
        let weights = |id: &str| match id {
            "pl-v4" => Some(super::PrefixListWeight { ipv6: false, max_entries: 20 }),
            _ => None,
        };
        let many = |d: D, n: usize| (0..n).map(|_| r(d.clone(), false)).collect::<Vec<_>>();
        let cat = |a: Vec<Route>, b: Vec<Route>| a.into_iter().chain(b).collect::<Vec<_>>();
        let cases: Vec<(&str, Vec<Route>, usize)> = vec![
            ("local and a default route", many(D::Ipv4, 2), 2),
            ("IPv4 and IPv6 count on their own", cat(many(D::Ipv4, 40), many(D::Ipv6, 30)), 40),
            ("propagated routes have their own quota", cat(many(D::Ipv4, 3), vec![r(D::Ipv4, true); 90]), 3),
            (
                "a prefix list weighs its max entries",
                cat(many(D::Ipv4, 3), vec![r(D::PrefixList("pl-v4".into()), false)]),
                23,
            ),
            (
                "an unknown prefix list: 1 toward both",
                cat(many(D::Ipv6, 3), vec![r(D::PrefixList("pl-x".into()), false)]),
                4,
            ),
            ("empty", vec![], 0),
        ];
        for (name, routes, want) in cases {
            assert_eq!(super::routes_usage(&routes, weights), want, "{name}");
        }
    }

    #[test]
    fn aws_managed_prefix_list_weights_table() {
        let w = |ipv6, max_entries| Some(super::PrefixListWeight { ipv6, max_entries });
        let cases = [
            ("com.amazonaws.global.cloudfront.origin-facing", w(false, 55)),
            ("com.amazonaws.global.ipv6.cloudfront.origin-facing", w(true, 55)),
            ("com.amazonaws.us-east-1.s3", w(false, 1)),
            ("com.amazonaws.eu-west-1.s3express", w(false, 6)),
            ("com.amazonaws.us-east-1.ipv6.route53-healthchecks", w(true, 25)),
            ("com.amazonaws.us-east-1.vpc-lattice", w(false, 10)),
            ("com.amazonaws.global.groundstation", w(false, 5)),
            ("com.amazonaws.us-east-1.ec2-instance-connect", w(false, 2)),
            ("com.amazonaws.us-east-1.unknown-service", None),
            ("offices", None),
        ];
        for (name, want) in cases {
            assert_eq!(super::aws_managed_prefix_list_weight(name), want, "{name}");
        }
    }

    #[test]
    fn nat_gateway_states_table() {
        for (state, counts) in
            [("pending", true), ("available", true), ("deleting", true), ("failed", false), ("deleted", false)]
        {
            assert_eq!(super::nat_gateway_counts(state), counts, "{state}");
        }
    }

    #[test]
    fn sg_rules_usage_table() {
        let v4 = |n: usize| (0..n).map(|i| Source::Cidr { cidr: format!("10.0.{i}.0/24") }).collect::<Vec<_>>();
        let v6 = |n: usize| (0..n).map(|i| Source::Cidr6 { cidr: format!("2001:db8:{i:x}::/48") }).collect::<Vec<_>>();
        let grp =
            |n: usize| (0..n).map(|i| Source::Group { group_id: format!("sg-{i}"), account: None }).collect::<Vec<_>>();
        let pl = |id: &str| Source::PrefixList { id: id.into() };
        let weights = |id: &str| match id {
            "pl-v4" => Some(super::PrefixListWeight { ipv6: false, max_entries: 20 }),
            "pl-v6" => Some(super::PrefixListWeight { ipv6: true, max_entries: 10 }),
            _ => None,
        };
        let cat = |a: Vec<Source>, b: Vec<Source>| a.into_iter().chain(b).collect::<Vec<_>>();
        let cases: Vec<(&str, Vec<Source>, Vec<Source>, usize)> = vec![
            ("one permission, one IPv4 and one IPv6 CIDR", cat(v4(1), v6(1)), vec![], 1),
            ("30 IPv4 + 30 IPv6 is 30 of 60", cat(v4(30), v6(30)), vec![], 30),
            ("IPv4 and IPv6 each count on their own", cat(v4(58), v6(3)), vec![], 58),
            ("a group reference counts toward both", cat(v4(10), grp(5)), vec![], 15),
            ("and toward IPv6 as well", cat(v6(10), grp(5)), vec![], 15),
            ("outbound counts on its own", v4(3), v4(40), 40),
            ("prefix list weighs its max entries", cat(v4(5), vec![pl("pl-v4")]), vec![], 25),
            ("toward its own family", cat(v4(5), vec![pl("pl-v6")]), vec![], 10),
            ("unknown prefix list: 1 toward both", cat(v4(5), vec![pl("pl-unknown")]), vec![], 6),
            ("empty", vec![], vec![], 0),
        ];
        for (name, ingress, egress, want) in cases {
            let g = Group { ingress: rules(&ingress), egress: rules(&egress), ..Default::default() };
            assert_eq!(super::sg_rules_usage(&g, weights), want, "{name}");
        }
    }

    use super::*;

    fn key(resource: Option<&str>) -> QuotaKey {
        QuotaKey {
            account: "111".into(),
            region: "us-east-1".into(),
            service: "vpc".into(),
            quota_code: "L-F678F1CE".into(),
            quota_name: "VPCs per Region".into(),
            resource: resource.map(str::to_string),
        }
    }

    const T: Thresholds = Thresholds { warning: 0.8, critical: 0.95 };

    #[test]
    fn limit_precedence_table() {
        let c = |o, a, d, api, b| LimitCandidates { override_: o, applied: a, default: d, api, builtin: b };
        let cases = [
            (c(Some(20.0), Some(10.0), Some(5.0), Some(6.0), Some(5.0)), Some((20.0, LimitSource::Override))),
            (c(None, Some(10.0), Some(5.0), Some(6.0), Some(5.0)), Some((10.0, LimitSource::Applied))),
            (c(None, None, Some(5.0), Some(6.0), Some(5.0)), Some((5.0, LimitSource::Default))),
            (c(None, None, None, Some(6.0), Some(5.0)), Some((6.0, LimitSource::Api))),
            (c(None, None, None, None, Some(5.0)), Some((5.0, LimitSource::Builtin))),
            (c(None, None, None, None, None), None),
        ];
        for (cand, want) in cases {
            assert_eq!(cand.resolve(), want, "{cand:?}");
        }
    }

    #[test]
    fn thresholds_table() {
        let lim = LimitCandidates { default: Some(5.0), ..Default::default() };
        // (usage, thresholds, ratio, severity)
        type Case = (Usage, Option<Thresholds>, Option<f64>, Option<Severity>);
        let cases: Vec<Case> = vec![
            (Usage::Known(3.0), Some(T), Some(0.6), None),
            (Usage::Known(4.0), Some(T), Some(0.8), Some(Severity::Warning)),
            (Usage::Known(5.0), Some(T), Some(1.0), Some(Severity::Critical)),
            (Usage::Known(4.0), None, Some(0.8), None),
            (Usage::Known(4.0), Some(Thresholds { warning: 0.5, critical: 0.75 }), Some(0.8), Some(Severity::Critical)),
            (Usage::Unknown("throttled".into()), Some(T), None, None),
        ];
        for (usage, t, ratio, sev) in cases {
            let e = evaluate(key(None), usage.clone(), &lim, t);
            assert_eq!(e.ratio, ratio, "{usage:?}");
            assert_eq!(e.severity, sev, "{usage:?}");
            assert_eq!(e.conclusive(), ratio.is_some());
        }
        let zero = LimitCandidates { builtin: Some(0.0), ..Default::default() };
        assert_eq!(evaluate(key(None), Usage::Known(0.0), &zero, Some(T)).ratio, Some(0.0));
        assert_eq!(evaluate(key(None), Usage::Known(1.0), &zero, Some(T)).severity, Some(Severity::Critical));
        let none = evaluate(key(None), Usage::Known(1.0), &LimitCandidates::default(), Some(T));
        assert_eq!((none.ratio, none.severity), (None, None));
        assert_eq!(none.row().unknown_reason.as_deref(), Some("no limit known"));
    }

    #[test]
    fn findings_name_the_quota_and_the_resource() {
        let lim = LimitCandidates { applied: Some(60.0), ..Default::default() };
        let e = evaluate(key(Some("sg-1")), Usage::Known(58.0), &lim, Some(T));
        let f = finding(&e).unwrap();
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.resource, "vpc/L-F678F1CE:sg-1");
        assert_eq!(f.title, "VPCs per Region (vpc/L-F678F1CE) for sg-1: 58 of 60 used (97%)");
        assert_eq!(f.details["limit_source"], "applied");
        assert_eq!(f.scope, "limits:vpc/L-F678F1CE");
        // the stored row keeps SPEC.md's keys and reads back as it was
        let j = serde_json::to_value(e.row()).unwrap();
        assert_eq!(
            (j["usage"].clone(), j["limit"].clone(), j["limit_source"].clone(), j["ratio"].clone()),
            (58.0.into(), 60.0.into(), "applied".into(), (58.0 / 60.0).into())
        );
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec![
            "account",
            "region",
            "service",
            "quota_code",
            "quota_name",
            "resource",
            "usage",
            "limit",
            "ratio",
            "limit_source",
            "unknown_reason",
            "severity",
        ];
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(super::rows(vec![j]).unwrap(), vec![e.row()]);
        let unknown = evaluate(key(None), Usage::Unknown("AccessDenied".into()), &lim, Some(T));
        assert!(finding(&unknown).is_none());
        assert_eq!(serde_json::to_value(unknown.row()).unwrap()["usage"], serde_json::Value::Null);
        assert_eq!(unknown.row().unknown_reason.as_deref(), Some("AccessDenied"));
    }

    #[test]
    fn on_demand_class_table() {
        let cases = [
            ("t3.micro", Some("L-1216C47A")),
            ("m7i-flex.large", Some("L-1216C47A")),
            ("c7gn.16xlarge", Some("L-1216C47A")),
            ("im4gn.large", Some("L-1216C47A")),
            ("is4gen.medium", Some("L-1216C47A")),
            ("z1d.large", Some("L-1216C47A")),
            ("a1.medium", Some("L-1216C47A")),
            ("g4dn.xlarge", Some("L-DB2E81BA")),
            ("gr6.4xlarge", Some("L-DB2E81BA")),
            ("vt1.3xlarge", Some("L-DB2E81BA")),
            ("p4d.24xlarge", Some("L-417A185B")),
            ("p6-b200.48xlarge", Some("L-417A185B")),
            ("f1.2xlarge", Some("L-74FC7D96")),
            ("x2idn.16xlarge", Some("L-7295265B")),
            ("inf2.xlarge", Some("L-1945791B")),
            ("dl1.24xlarge", Some("L-6E869C2A")),
            ("trn1.2xlarge", Some("L-2C3B7624")),
            ("hpc7g.4xlarge", Some("L-F7808C92")),
            ("u-6tb1.metal", Some("L-43DA4232")),
            ("u7i-12tb.224xlarge", Some("L-43DA4232")),
            ("mac1.metal", None),
            ("", None),
            ("zz9.large", None),
        ];
        for (t, want) in cases {
            assert_eq!(on_demand_class(t), want, "{t}");
        }
    }
}
