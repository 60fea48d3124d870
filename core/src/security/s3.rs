//! S3 buckets: ACL grants, bucket policy, public-access block.

use super::AuditContext;
use super::policy;
use crate::finding::{Finding, Severity};
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const TECHNOLOGY: &str = "s3:bucket";
pub const ALL_USERS: &str = "AllUsers";
pub const AUTHENTICATED_USERS: &str = "AuthenticatedUsers";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Grant {
    /// `AllUsers`, `AuthenticatedUsers`, `LogDelivery`, `id:<canonical id>` or `email:<address>`.
    pub grantee: String,
    pub permission: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    fn flags(&self) -> [(&'static str, bool); 4] {
        [
            ("BlockPublicAcls", self.block_public_acls),
            ("IgnorePublicAcls", self.ignore_public_acls),
            ("BlockPublicPolicy", self.block_public_policy),
            ("RestrictPublicBuckets", self.restrict_public_buckets),
        ]
    }
    pub fn all_on(&self) -> bool {
        self.flags().iter().all(|(_, on)| *on)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Bucket {
    pub name: String,
    pub region: String,
    pub owner: Option<String>,
    /// Sorted.
    pub acl: Vec<Grant>,
    pub policy: Option<Value>,
    pub public_access_block: Option<PublicAccessBlock>,
}

/// Grantee URI or id → the short name used in content and sentences.
pub fn grantee_name(uri: Option<&str>, id: Option<&str>, email: Option<&str>) -> String {
    match (uri, id, email) {
        (Some(u), _, _) => u.rsplit('/').next().unwrap_or(u).to_string(),
        (None, Some(i), _) => format!("id:{i}"),
        (None, None, Some(e)) => format!("email:{e}"),
        _ => "unknown".into(),
    }
}

impl Bucket {
    /// S3 buckets are listed once per account; the item's region is where the bucket lives.
    pub fn snapshot(&self, account: &str) -> Snapshot {
        Snapshot::new(TECHNOLOGY, account, &self.region, &self.name, &serde_json::to_value(self).unwrap_or_default())
    }
}

pub fn summarize(old: &Bucket, new: &Bucket) -> (Vec<String>, &'static [&'static str]) {
    let mut out = Vec::new();
    for g in new.acl.iter().filter(|g| !old.acl.contains(g)) {
        out.push(format!("ACL grant {} to {} added", g.permission, g.grantee));
    }
    for g in old.acl.iter().filter(|g| !new.acl.contains(g)) {
        out.push(format!("ACL grant {} to {} removed", g.permission, g.grantee));
    }
    match (&old.policy, &new.policy) {
        (None, Some(p)) => {
            out.push("bucket policy added".into());
            for st in policy::statements(p) {
                out.push(format!("statement {} added to the bucket policy", policy::describe(st)));
            }
        }
        (Some(_), None) => out.push("bucket policy removed".into()),
        (Some(a), Some(b)) if a != b => {
            let sa: Vec<String> = policy::statements(a).iter().map(|s| crate::canonical::to_string(s)).collect();
            let sb: Vec<String> = policy::statements(b).iter().map(|s| crate::canonical::to_string(s)).collect();
            for st in policy::statements(b) {
                if !sa.contains(&crate::canonical::to_string(st)) {
                    out.push(format!("statement {} added to the bucket policy", policy::describe(st)));
                }
            }
            for st in policy::statements(a) {
                if !sb.contains(&crate::canonical::to_string(st)) {
                    out.push(format!("statement {} removed from the bucket policy", policy::describe(st)));
                }
            }
        }
        _ => {}
    }
    let off = PublicAccessBlock::default();
    let (a, b) = (old.public_access_block.unwrap_or(off), new.public_access_block.unwrap_or(off));
    for ((name, was), (_, now)) in a.flags().into_iter().zip(b.flags()) {
        if was != now {
            out.push(format!("public-access block {name} turned {}", if now { "on" } else { "off" }));
        }
    }
    (out, &["acl", "policy", "public_access_block"])
}

pub mod rules {
    pub const ACL_PUBLIC: &str = "s3-acl-public";
    pub const POLICY_PUBLIC: &str = "s3-policy-public";
    pub const PUBLIC_ACCESS_BLOCK_OFF: &str = "s3-public-access-block-off";
}

pub fn audit(b: &Bucket, ctx: &AuditContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut finding = |rule: &str, severity: Severity, reasons: Vec<String>| {
        out.push(Finding {
            monkey: super::MONKEY.into(),
            kind: rule.into(),
            severity,
            account: ctx.account.clone(),
            region: b.region.clone(),
            resource: b.name.clone(),
            title: format!("bucket {}: {}", b.name, reasons.join("; ")),
            details: serde_json::json!({
                "item": Snapshot::item_id(TECHNOLOGY, &ctx.account, &b.region, &b.name),
                "technology": TECHNOLOGY,
                "rule": rule,
                "reasons": reasons,
            }),
            labels: Default::default(),
            scope: TECHNOLOGY.into(),
        });
    };
    let public: Vec<String> = b
        .acl
        .iter()
        .filter(|g| g.grantee == ALL_USERS || g.grantee == AUTHENTICATED_USERS)
        .map(|g| format!("ACL grants {} to {}", g.permission, g.grantee))
        .collect();
    if !public.is_empty() {
        finding(rules::ACL_PUBLIC, Severity::Critical, public);
    }
    if let Some(p) = &b.policy {
        let open: Vec<String> = policy::statements(p)
            .into_iter()
            .filter(|st| {
                policy::is_allow(st)
                    && !policy::has_condition(st)
                    && policy::principals(st).iter().any(|(_, who)| who == "*")
            })
            .map(|st| format!("bucket policy: {}", policy::describe(st)))
            .collect();
        if !open.is_empty() {
            finding(rules::POLICY_PUBLIC, Severity::Critical, open);
        }
    }
    let off: Vec<String> = match &b.public_access_block {
        None => vec!["no public-access block".into()],
        Some(pab) => pab.flags().iter().filter(|(_, on)| !on).map(|(n, _)| format!("{n} is off")).collect(),
    };
    if !off.is_empty() {
        finding(rules::PUBLIC_ACCESS_BLOCK_OFF, Severity::Warning, off);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn private() -> Bucket {
        Bucket {
            name: "b".into(),
            region: "us-east-1".into(),
            owner: Some("owner".into()),
            acl: vec![Grant { grantee: "id:owner".into(), permission: "FULL_CONTROL".into() }],
            policy: None,
            public_access_block: Some(PublicAccessBlock {
                block_public_acls: true,
                ignore_public_acls: true,
                block_public_policy: true,
                restrict_public_buckets: true,
            }),
        }
    }

    fn public_policy(condition: bool) -> Value {
        let mut st =
            json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"});
        if condition {
            st["Condition"] = json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}});
        }
        policy::normalize(&json!({"Statement": [st]}))
    }

    #[test]
    fn summary_table() {
        let base = private();
        let mut acl = base.clone();
        acl.acl.push(Grant { grantee: ALL_USERS.into(), permission: "READ".into() });
        let mut pab = base.clone();
        pab.public_access_block.as_mut().unwrap().block_public_acls = false;
        let mut nopab = base.clone();
        nopab.public_access_block = None;
        let mut pol = base.clone();
        pol.policy = Some(public_policy(false));
        let cases: Vec<(&Bucket, &Bucket, Vec<&str>)> = vec![
            (&base, &base, vec![]),
            (&base, &acl, vec!["ACL grant READ to AllUsers added"]),
            (&acl, &base, vec!["ACL grant READ to AllUsers removed"]),
            (&base, &pab, vec!["public-access block BlockPublicAcls turned off"]),
            (
                &base,
                &nopab,
                vec![
                    "public-access block BlockPublicAcls turned off",
                    "public-access block IgnorePublicAcls turned off",
                    "public-access block BlockPublicPolicy turned off",
                    "public-access block RestrictPublicBuckets turned off",
                ],
            ),
            (
                &base,
                &pol,
                vec![
                    "bucket policy added",
                    "statement Allow s3:GetObject on arn:aws:s3:::b/* to * added to the bucket policy",
                ],
            ),
            (&pol, &base, vec!["bucket policy removed"]),
        ];
        for (a, b, want) in cases {
            assert_eq!(summarize(a, b).0, want);
        }
    }

    #[test]
    fn audit_table() {
        let ctx = AuditContext { account: "1".into(), known_accounts: vec![] };
        let with = |f: &dyn Fn(&mut Bucket)| {
            let mut b = private();
            f(&mut b);
            b
        };
        let cases: Vec<(Bucket, Vec<(&str, Severity)>)> = vec![
            (private(), vec![]),
            (
                with(&|b| b.acl.push(Grant { grantee: ALL_USERS.into(), permission: "READ".into() })),
                vec![(rules::ACL_PUBLIC, Severity::Critical)],
            ),
            (
                with(&|b| b.acl.push(Grant { grantee: AUTHENTICATED_USERS.into(), permission: "WRITE".into() })),
                vec![(rules::ACL_PUBLIC, Severity::Critical)],
            ),
            (with(&|b| b.policy = Some(public_policy(false))), vec![(rules::POLICY_PUBLIC, Severity::Critical)]),
            (with(&|b| b.policy = Some(public_policy(true))), vec![]),
            (with(&|b| b.public_access_block = None), vec![(rules::PUBLIC_ACCESS_BLOCK_OFF, Severity::Warning)]),
            (
                with(&|b| b.public_access_block.as_mut().unwrap().restrict_public_buckets = false),
                vec![(rules::PUBLIC_ACCESS_BLOCK_OFF, Severity::Warning)],
            ),
        ];
        for (b, want) in cases {
            let got: Vec<(String, Severity)> = audit(&b, &ctx).into_iter().map(|f| (f.kind, f.severity)).collect();
            let want: Vec<(String, Severity)> = want.into_iter().map(|(k, s)| (k.to_string(), s)).collect();
            assert_eq!(got, want, "{b:?}");
        }
        assert_eq!(grantee_name(Some("http://acs.amazonaws.com/groups/global/AllUsers"), None, None), "AllUsers");
        assert_eq!(grantee_name(None, Some("abc"), None), "id:abc");
    }
}
