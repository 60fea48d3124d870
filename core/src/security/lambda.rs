//! Lambda functions: the function's resource policy (who may invoke it)
//! and its function URL, from `ListFunctions`, `GetPolicy` and
//! `GetFunctionUrlConfig`
//! (<https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html>).
//!
//! Invoking a function is a signed request, so a grant to `*` opens it to
//! any AWS principal. A function URL with auth type `NONE` takes unsigned
//! requests: when the policy also lets everyone `lambda:InvokeFunctionUrl`,
//! anyone on the internet can run the function.

use super::exposure::{self, Callers, Subject};
use super::{AuditContext, item_finding};
use crate::finding::{Finding, Severity};
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const TECHNOLOGY: &str = "lambda:function";
const CALLERS: Callers = Callers::SignedOnly;
const POLICY: &str = "function policy";

pub mod rules {
    pub const URL_AUTH_NONE: &str = "lambda-url-auth-none";
}

/// A function URL (the unqualified function's).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FunctionUrl {
    pub url: String,
    /// `AWS_IAM` or `NONE`.
    pub auth_type: String,
}

/// One function, named by its name, in its region.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Function {
    pub name: String,
    pub arn: String,
    /// The execution role's ARN.
    pub role: String,
    /// The resource policy, normalised; `Null` when none is set.
    pub policy: Value,
    pub url: Option<FunctionUrl>,
}

impl Function {
    pub fn snapshot(&self, account: &str, region: &str) -> Snapshot {
        Snapshot::new(TECHNOLOGY, account, region, &self.name, &serde_json::to_value(self).unwrap_or_default())
    }

    /// The function URL takes unsigned requests.
    pub fn url_unauthenticated(&self) -> bool {
        self.url.as_ref().is_some_and(|u| u.auth_type == "NONE")
    }
}

pub fn summarize(old: &Function, new: &Function) -> (Vec<String>, &'static [&'static str]) {
    let mut out = exposure::policy_sentences(POLICY, &new.arn, &old.policy, &new.policy, CALLERS);
    match (&old.url, &new.url) {
        (None, Some(u)) => out.push(format!("function URL {} added (auth type {})", u.url, u.auth_type)),
        (Some(u), None) => out.push(format!("function URL {} removed", u.url)),
        (Some(a), Some(b)) if a.auth_type != b.auth_type => {
            out.push(format!("function URL auth type changed from {} to {}", a.auth_type, b.auth_type))
        }
        _ => {}
    }
    if old.role != new.role {
        out.push(format!("execution role changed from {} to {}", old.role, new.role));
    }
    (out, &["policy", "url", "role"])
}

/// `lambda-policy-public`, `lambda-policy-foreign-account`, and
/// `lambda-url-auth-none`: critical when the policy lets anyone invoke the
/// URL (the function is open to the internet), warning otherwise (one
/// statement away from it).
pub fn audit(f: &Function, region: &str, ctx: &AuditContext) -> Vec<Finding> {
    let ways = exposure::exposure(&f.policy, &f.arn, CALLERS, ctx.into());
    let subject = Subject {
        technology: TECHNOLOGY,
        service: "lambda",
        policy: POLICY,
        account: &ctx.account,
        region,
        name: &f.name,
    };
    let mut out = exposure::findings(subject, &ways);
    if let Some(url) = f.url.as_ref().filter(|_| f.url_unauthenticated()) {
        let open_to_all = super::access::grants_on(
            &f.policy,
            "lambda:InvokeFunctionUrl",
            Some(f.arn.as_str()).filter(|a| !a.is_empty()),
        )
        .iter()
        .any(|g| g.reach == super::access::Reach::Public);
        let (severity, reason) = if open_to_all {
            (
                Severity::Critical,
                format!("function URL {} has auth type NONE and the policy lets anyone invoke it", url.url),
            )
        } else {
            (
                Severity::Warning,
                format!("function URL {} has auth type NONE (no statement lets anyone invoke it yet)", url.url),
            )
        };
        let at = (ctx.account.as_str(), region, f.name.as_str());
        out.push(item_finding(TECHNOLOGY, rules::URL_AUTH_NONE, severity, at, &[reason], json!({"url": url.url})));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::policy;

    fn function(policy: Value, auth: Option<&str>) -> Function {
        Function {
            name: "hook".into(),
            arn: "arn:aws:lambda:us-east-1:111111111111:function:hook".into(),
            role: "arn:aws:iam::111111111111:role/hook".into(),
            policy,
            url: auth
                .map(|a| FunctionUrl { url: "https://abc.lambda-url.us-east-1.on.aws/".into(), auth_type: a.into() }),
        }
    }

    #[test]
    fn audit_table() {
        let ctx = AuditContext { account: "111111111111".into(), ..Default::default() };
        let url_for_all = policy::normalize(&json!({"Statement": [{"Sid": "FunctionURLAllowPublicAccess",
            "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl",
            "Resource": "arn:aws:lambda:us-east-1:111111111111:function:hook",
            "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}}]}));
        let s3_only =
            policy::normalize(&json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "lambda:InvokeFunction", "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"}}}]}));
        type Case<'a> = (&'a str, Function, Vec<(&'a str, Severity)>);
        let cases: Vec<Case> = vec![
            ("private", function(s3_only.clone(), None), vec![]),
            ("IAM-authenticated URL", function(s3_only.clone(), Some("AWS_IAM")), vec![]),
            (
                "URL NONE, no grant yet",
                function(s3_only, Some("NONE")),
                vec![(rules::URL_AUTH_NONE, Severity::Warning)],
            ),
            (
                "URL NONE open to all",
                function(url_for_all.clone(), Some("NONE")),
                vec![("lambda-policy-public", Severity::Critical), (rules::URL_AUTH_NONE, Severity::Critical)],
            ),
            ("the grant alone", function(url_for_all, None), vec![("lambda-policy-public", Severity::Critical)]),
        ];
        for (name, f, want) in cases {
            let got: Vec<(String, Severity)> =
                audit(&f, "us-east-1", &ctx).into_iter().map(|f| (f.kind, f.severity)).collect();
            let want: Vec<(String, Severity)> = want.into_iter().map(|(k, s)| (k.to_string(), s)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn summary_table() {
        let a = function(Value::Null, None);
        let b = function(Value::Null, Some("NONE"));
        assert_eq!(
            summarize(&a, &b).0,
            ["function URL https://abc.lambda-url.us-east-1.on.aws/ added (auth type NONE)"]
        );
        let c = function(Value::Null, Some("AWS_IAM"));
        assert_eq!(summarize(&b, &c).0, ["function URL auth type changed from NONE to AWS_IAM"]);
    }
}
