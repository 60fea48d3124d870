//! S3 buckets: ACL grants, bucket policy, public-access block.

use super::AuditContext;
use super::{access, policy};
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
    /// The four settings by their API names, in the API's order.
    pub fn flags(&self) -> [(&'static str, bool); 4] {
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

    /// The block in force when a bucket's and its account's settings
    /// combine: each setting is on when either turns it on (S3 applies the
    /// most restrictive combination).
    pub fn combine(bucket: Option<&PublicAccessBlock>, account: Option<&PublicAccessBlock>) -> PublicAccessBlock {
        let (b, a) = (bucket.copied().unwrap_or_default(), account.copied().unwrap_or_default());
        PublicAccessBlock {
            block_public_acls: b.block_public_acls || a.block_public_acls,
            ignore_public_acls: b.ignore_public_acls || a.ignore_public_acls,
            block_public_policy: b.block_public_policy || a.block_public_policy,
            restrict_public_buckets: b.restrict_public_buckets || a.restrict_public_buckets,
        }
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
    let account_block = ctx.account_settings.as_ref().and_then(|s| s.s3_public_access_block.as_ref());
    let effective = PublicAccessBlock::combine(b.public_access_block.as_ref(), account_block);
    // IgnorePublicAcls makes ACL grants moot.
    let public: Vec<String> = b
        .acl
        .iter()
        .filter(|g| !effective.ignore_public_acls && (g.grantee == ALL_USERS || g.grantee == AUTHENTICATED_USERS))
        .map(|g| format!("ACL grants {} to {}", g.permission, g.grantee))
        .collect();
    if !public.is_empty() {
        finding(rules::ACL_PUBLIC, Severity::Critical, public);
    }
    // RestrictPublicBuckets makes a public policy moot (only AWS services and
    // the owner's account get in).
    if let Some(p) = &b.policy
        && !effective.restrict_public_buckets
    {
        // Any grant to everyone is public, whatever the action (S3's "meaning
        // of public" exempts no action for a grant to `*`).
        let open: Vec<String> =
            access::public_grants(p, "*").into_iter().map(|g| format!("bucket policy: {}", g.statement)).collect();
        if !open.is_empty() {
            finding(rules::POLICY_PUBLIC, Severity::Critical, open);
        }
    }
    let off: Vec<String> = match (&b.public_access_block, account_block) {
        (None, None) => vec!["no public-access block".into()],
        _ => effective.flags().iter().filter(|(_, on)| !on).map(|(n, _)| format!("{n} is off")).collect(),
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
        let ctx = AuditContext { account: "1".into(), ..Default::default() };
        let with = |f: &dyn Fn(&mut Bucket)| {
            let mut b = private();
            f(&mut b);
            b
        };
        // Without a block of its own (and none on the account), what the
        // ACL and the policy grant is what the world gets.
        let exposed = |f: &dyn Fn(&mut Bucket)| {
            let mut b = private();
            b.public_access_block = None;
            f(&mut b);
            b
        };
        let off = (rules::PUBLIC_ACCESS_BLOCK_OFF, Severity::Warning);
        let cases: Vec<(Bucket, Vec<(&str, Severity)>)> = vec![
            (private(), vec![]),
            (
                exposed(&|b| b.acl.push(Grant { grantee: ALL_USERS.into(), permission: "READ".into() })),
                vec![(rules::ACL_PUBLIC, Severity::Critical), off],
            ),
            (
                exposed(&|b| b.acl.push(Grant { grantee: AUTHENTICATED_USERS.into(), permission: "WRITE".into() })),
                vec![(rules::ACL_PUBLIC, Severity::Critical), off],
            ),
            // the bucket's own IgnorePublicAcls makes the grant moot
            (with(&|b| b.acl.push(Grant { grantee: ALL_USERS.into(), permission: "READ".into() })), vec![]),
            (
                with(&|b| {
                    b.acl.push(Grant { grantee: ALL_USERS.into(), permission: "READ".into() });
                    b.public_access_block.as_mut().unwrap().ignore_public_acls = false;
                }),
                vec![(rules::ACL_PUBLIC, Severity::Critical), off],
            ),
            (
                exposed(&|b| b.policy = Some(public_policy(false))),
                vec![(rules::POLICY_PUBLIC, Severity::Critical), off],
            ),
            // the bucket's own RestrictPublicBuckets makes the policy moot
            (with(&|b| b.policy = Some(public_policy(false))), vec![]),
            (exposed(&|b| b.policy = Some(public_policy(true))), vec![off]),
            (with(&|b| b.public_access_block = None), vec![off]),
            (
                // a condition that does not pin identity or network leaves it public
                exposed(&|b| {
                    b.policy = Some(policy::normalize(&json!({"Statement": [{"Effect": "Allow", "Principal": "*",
                        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
                        "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]})))
                }),
                vec![(rules::POLICY_PUBLIC, Severity::Critical), off],
            ),
            (
                // any action to everyone is public: ReplicateObject is a public write
                exposed(&|b| {
                    b.policy = Some(policy::normalize(&json!({"Statement": [{"Effect": "Allow", "Principal": "*",
                        "Action": "s3:ReplicateObject", "Resource": "arn:aws:s3:::b/*"}]})))
                }),
                vec![(rules::POLICY_PUBLIC, Severity::Critical), off],
            ),
            (
                exposed(&|b| {
                    b.policy =
                        Some(policy::normalize(&json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                        "Action": "s3:*", "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}]})))
                }),
                vec![off],
            ),
            (with(&|b| b.public_access_block.as_mut().unwrap().restrict_public_buckets = false), vec![off]),
        ];
        for (b, want) in cases {
            let got: Vec<(String, Severity)> = audit(&b, &ctx).into_iter().map(|f| (f.kind, f.severity)).collect();
            let want: Vec<(String, Severity)> = want.into_iter().map(|(k, s)| (k.to_string(), s)).collect();
            assert_eq!(got, want, "{b:?}");
        }
        assert_eq!(grantee_name(Some("http://acs.amazonaws.com/groups/global/AllUsers"), None, None), "AllUsers");
    }

    #[test]
    fn account_block_combines_with_the_bucket_block() {
        let all = PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        };
        let only = |f: &dyn Fn(&mut PublicAccessBlock)| {
            let mut p = PublicAccessBlock::default();
            f(&mut p);
            p
        };
        let open = |acl: bool, pol: bool| {
            let mut b = private();
            b.public_access_block = None;
            if acl {
                b.acl.push(Grant { grantee: ALL_USERS.into(), permission: "READ".into() });
            }
            if pol {
                b.policy = Some(public_policy(false));
            }
            b
        };
        let cases: Vec<(Bucket, Option<PublicAccessBlock>, Vec<&str>)> = vec![
            // the example: all four on the account, none on the bucket, public-read ACL
            (open(true, false), Some(all), vec![]),
            (open(true, true), Some(all), vec![]),
            (open(true, true), None, vec![rules::ACL_PUBLIC, rules::POLICY_PUBLIC, rules::PUBLIC_ACCESS_BLOCK_OFF]),
            // IgnorePublicAcls makes the ACL moot, not the policy
            (
                open(true, true),
                Some(only(&|p| p.ignore_public_acls = true)),
                vec![rules::POLICY_PUBLIC, rules::PUBLIC_ACCESS_BLOCK_OFF],
            ),
            // RestrictPublicBuckets makes the policy moot, not the ACL
            (
                open(true, true),
                Some(only(&|p| p.restrict_public_buckets = true)),
                vec![rules::ACL_PUBLIC, rules::PUBLIC_ACCESS_BLOCK_OFF],
            ),
            // the bucket's and the account's settings add up
            (
                {
                    let mut b = open(true, true);
                    b.public_access_block = Some(only(&|p| {
                        p.block_public_acls = true;
                        p.ignore_public_acls = true
                    }));
                    b
                },
                Some(only(&|p| {
                    p.block_public_policy = true;
                    p.restrict_public_buckets = true
                })),
                vec![],
            ),
        ];
        for (b, account, want) in cases {
            let ctx = AuditContext {
                account: "1".into(),
                account_settings: Some(super::super::account::Settings {
                    s3_public_access_block: account,
                    ..Default::default()
                }),
                ..Default::default()
            };
            let got: Vec<String> = audit(&b, &ctx).into_iter().map(|f| f.kind).collect();
            assert_eq!(got, want, "{account:?} {b:?}");
        }
        assert_eq!(grantee_name(None, Some("abc"), None), "id:abc");
    }
}
