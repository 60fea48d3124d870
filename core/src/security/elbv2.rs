//! Load-balancer listeners (Application, Network and Gateway Load
//! Balancers): their protocol, TLS policy and default action, from
//! `DescribeLoadBalancers`, `DescribeListeners` and `DescribeSSLPolicies`
//! (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html>).
//! A listener is named `LOAD-BALANCER:PORT` (one listener per port).

use super::{AuditContext, item_finding};
use crate::finding::{Finding, Severity};
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const TECHNOLOGY: &str = "elbv2:listener";
/// Listener protocols that terminate TLS: only these have a TLS policy.
pub const TLS_LISTENER_PROTOCOLS: &[&str] = &["HTTPS", "TLS"];
/// TLS versions older than 1.2 (what `SslProtocols` calls them).
pub const OLD_TLS: &[&str] = &["TLSv1", "TLSv1.1"];

pub mod rules {
    pub const HTTP_NO_REDIRECT: &str = "elbv2-listener-http-no-redirect";
    pub const TLS_OLD: &str = "elbv2-listener-tls-old";
}

/// A listener's default action.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Action {
    /// `forward`, `redirect`, `fixed-response`, `authenticate-oidc`, ...
    pub r#type: String,
    /// For `redirect`: the protocol redirected to (`HTTPS`, `#{protocol}`).
    pub redirect_protocol: Option<String>,
}

impl Action {
    fn describe(&self) -> String {
        match &self.redirect_protocol {
            Some(p) => format!("{} to {p}", self.r#type),
            None => self.r#type.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Listener {
    pub arn: String,
    pub load_balancer: String,
    /// `internet-facing` or `internal`.
    pub scheme: String,
    pub port: i32,
    /// `HTTP`, `HTTPS`, `TCP`, `TLS`, `UDP`, `TCP_UDP`, `GENEVE`.
    pub protocol: String,
    /// Only for a listener that terminates TLS (an HTTP listener has none,
    /// whatever an API echoes).
    pub ssl_policy: Option<String>,
    /// The TLS versions the policy allows (`DescribeSSLPolicies`
    /// `SslProtocols`), sorted; empty when unknown.
    pub tls_protocols: Vec<String>,
    pub default_actions: Vec<Action>,
}

impl Listener {
    /// `LOAD-BALANCER:PORT`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.load_balancer, self.port)
    }

    pub fn snapshot(&self, account: &str, region: &str) -> Snapshot {
        Snapshot::new(TECHNOLOGY, account, region, &self.name(), &serde_json::to_value(self).unwrap_or_default())
    }

    /// The default action sends plain HTTP on to HTTPS.
    pub fn redirects_to_https(&self) -> bool {
        self.default_actions.iter().any(|a| a.r#type == "redirect" && a.redirect_protocol.as_deref() == Some("HTTPS"))
    }

    /// The listener terminates TLS (HTTPS, TLS).
    pub fn terminates_tls(&self) -> bool {
        TLS_LISTENER_PROTOCOLS.contains(&self.protocol.as_str())
    }

    fn old_tls(&self) -> Vec<&str> {
        if !self.terminates_tls() {
            return vec![];
        }
        self.tls_protocols.iter().map(String::as_str).filter(|p| OLD_TLS.contains(p)).collect()
    }
}

pub fn summarize(old: &Listener, new: &Listener) -> (Vec<String>, &'static [&'static str]) {
    let mut out = Vec::new();
    if old.protocol != new.protocol {
        out.push(format!("protocol changed from {} to {}", old.protocol, new.protocol));
    }
    if old.ssl_policy != new.ssl_policy {
        let name = |p: &Option<String>| p.clone().unwrap_or_else(|| "none".into());
        let allows = if new.tls_protocols.is_empty() {
            String::new()
        } else {
            format!(" (allows {})", new.tls_protocols.join(", "))
        };
        out.push(format!("TLS policy changed from {} to {}{allows}", name(&old.ssl_policy), name(&new.ssl_policy)));
    }
    if old.default_actions != new.default_actions {
        let said = |a: &[Action]| a.iter().map(Action::describe).collect::<Vec<_>>().join(", ");
        out.push(format!(
            "default action changed from {} to {}",
            said(&old.default_actions),
            said(&new.default_actions)
        ));
    }
    (out, &["protocol", "ssl_policy", "tls_protocols", "default_actions"])
}

/// `elbv2-listener-http-no-redirect` (warning on an internet-facing load
/// balancer, info on an internal one): plain HTTP served rather than
/// redirected to HTTPS. `elbv2-listener-tls-old` (warning): the TLS policy
/// allows TLS 1.0 or 1.1 (Security Hub ELB.17's spirit: TLS 1.2 at least).
pub fn audit(l: &Listener, region: &str, ctx: &AuditContext) -> Vec<Finding> {
    let name = l.name();
    let at = (ctx.account.as_str(), region, name.as_str());
    let mut out = Vec::new();
    if l.protocol == "HTTP" && !l.redirects_to_https() {
        let severity = if l.scheme == "internal" { Severity::Info } else { Severity::Warning };
        let reason = format!("port {} serves plain HTTP without a redirect to HTTPS", l.port);
        out.push(item_finding(TECHNOLOGY, rules::HTTP_NO_REDIRECT, severity, at, &[reason], json!({"arn": l.arn})));
    }
    let old = l.old_tls();
    if !old.is_empty() {
        let policy = l.ssl_policy.as_deref().unwrap_or("?");
        let reason = format!("TLS policy {policy} allows {}", old.join(", "));
        out.push(item_finding(TECHNOLOGY, rules::TLS_OLD, Severity::Warning, at, &[reason], json!({"arn": l.arn})));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn https(policy: &str, protocols: &[&str]) -> Listener {
        Listener {
            load_balancer: "web".into(),
            scheme: "internet-facing".into(),
            port: 443,
            protocol: "HTTPS".into(),
            ssl_policy: Some(policy.into()),
            tls_protocols: protocols.iter().map(|p| p.to_string()).collect(),
            default_actions: vec![Action { r#type: "forward".into(), redirect_protocol: None }],
            ..Default::default()
        }
    }

    fn http(scheme: &str, redirect: Option<&str>) -> Listener {
        let action = match redirect {
            Some(p) => Action { r#type: "redirect".into(), redirect_protocol: Some(p.into()) },
            None => Action { r#type: "forward".into(), redirect_protocol: None },
        };
        Listener {
            load_balancer: "web".into(),
            scheme: scheme.into(),
            port: 80,
            protocol: "HTTP".into(),
            default_actions: vec![action],
            ..Default::default()
        }
    }

    #[test]
    fn audit_table() {
        let ctx = AuditContext { account: "1".into(), ..Default::default() };
        type Case<'a> = (&'a str, Listener, Vec<(&'a str, Severity)>);
        let cases: Vec<Case> = vec![
            ("modern TLS", https("ELBSecurityPolicy-TLS13-1-2-2021-06", &["TLSv1.2", "TLSv1.3"]), vec![]),
            (
                "2016-08 allows 1.0 and 1.1",
                https("ELBSecurityPolicy-2016-08", &["TLSv1", "TLSv1.1", "TLSv1.2"]),
                vec![(rules::TLS_OLD, Severity::Warning)],
            ),
            ("an unknown policy says nothing", https("custom", &[]), vec![]),
            (
                "a policy on plain TCP means nothing",
                Listener { protocol: "TCP".into(), ..https("ELBSecurityPolicy-2016-08", &["TLSv1"]) },
                vec![],
            ),
            ("HTTP redirected", http("internet-facing", Some("HTTPS")), vec![]),
            ("HTTP served", http("internet-facing", None), vec![(rules::HTTP_NO_REDIRECT, Severity::Warning)]),
            ("HTTP served inside", http("internal", None), vec![(rules::HTTP_NO_REDIRECT, Severity::Info)]),
            (
                "a redirect that keeps the protocol",
                http("internet-facing", Some("#{protocol}")),
                vec![(rules::HTTP_NO_REDIRECT, Severity::Warning)],
            ),
        ];
        for (name, l, want) in cases {
            let got: Vec<(String, Severity)> =
                audit(&l, "us-east-1", &ctx).into_iter().map(|f| (f.kind, f.severity)).collect();
            let want: Vec<(String, Severity)> = want.into_iter().map(|(k, s)| (k.to_string(), s)).collect();
            assert_eq!(got, want, "{name}");
        }
        assert_eq!(http("internal", None).name(), "web:80");
    }

    #[test]
    fn summary_table() {
        let a = https("ELBSecurityPolicy-TLS13-1-2-2021-06", &["TLSv1.2", "TLSv1.3"]);
        let b = https("ELBSecurityPolicy-2016-08", &["TLSv1", "TLSv1.1", "TLSv1.2"]);
        assert_eq!(
            summarize(&a, &b).0,
            [
                "TLS policy changed from ELBSecurityPolicy-TLS13-1-2-2021-06 to ELBSecurityPolicy-2016-08 (allows TLSv1, TLSv1.1, TLSv1.2)"
            ]
        );
        assert_eq!(
            summarize(&http("internal", Some("HTTPS")), &http("internal", None)).0,
            ["default action changed from redirect to HTTPS to forward"]
        );
    }
}
