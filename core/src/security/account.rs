//! Account posture: the account-wide switches that quietly turn protection
//! off, one item per account (`account:settings/ACCOUNT/global/account`)
//! and one per account and region (`account:settings/ACCOUNT/REGION/account`).
//!
//! The account-wide item holds S3 Block Public Access set on the account
//! (S3 Control `GetPublicAccessBlock`, combined with every bucket's own,
//! most restrictive wins:
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html>),
//! the root user's MFA and access keys (IAM `GetAccountSummary`:
//! `AccountMFAEnabled`, `AccountAccessKeysPresent`) and the IAM password
//! policy (`GetAccountPasswordPolicy`). A region's item holds EBS
//! encryption by default (EC2 `GetEbsEncryptionByDefault`).
//!
//! Turning a setting off is a revision a reviewer sees like any other
//! change; the audits follow the CIS AWS Foundations Benchmark (1.4 root
//! access keys, 1.5 root MFA, 1.8/1.9 password length and reuse, 2.2.1 EBS
//! encryption by default).

use super::s3::PublicAccessBlock;
use super::{AuditContext, item_finding};
use crate::finding::{Finding, Severity};
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const TECHNOLOGY: &str = "account:settings";
/// Account-wide settings live in this region.
pub const GLOBAL: &str = "global";
/// The item's name.
pub const NAME: &str = "account";

/// CIS 1.8: passwords of at least this many characters.
pub const MIN_PASSWORD_LENGTH: i32 = 14;
/// CIS 1.9: at least this many previous passwords may not be reused.
pub const MIN_PASSWORD_REUSE_PREVENTION: i32 = 24;

pub mod rules {
    pub const ROOT_ACCESS_KEYS: &str = "account-root-access-keys";
    pub const ROOT_MFA_OFF: &str = "account-root-mfa-off";
    pub const PASSWORD_POLICY_WEAK: &str = "account-password-policy-weak";
    pub const EBS_ENCRYPTION_OFF: &str = "account-ebs-encryption-by-default-off";
}

/// The root user, as `GetAccountSummary` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Root {
    /// `AccountMFAEnabled` = 1.
    pub mfa_enabled: bool,
    /// `AccountAccessKeysPresent` = 1.
    pub access_keys_present: bool,
}

/// The IAM password policy (`GetAccountPasswordPolicy`), the fields that
/// make a password guessable or reusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    pub minimum_password_length: Option<i32>,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase_characters: bool,
    pub require_lowercase_characters: bool,
    /// Days; `None`: passwords never expire.
    pub max_password_age: Option<i32>,
    /// `None`: any previous password may be reused.
    pub password_reuse_prevention: Option<i32>,
}

/// One posture item. The account-wide item (region [`GLOBAL`]) fills the S3
/// block, `root` and `password_policy`; a region's item fills
/// `ebs_encryption_by_default` only. Fields a revision did not record
/// (older revisions had only the S3 block) read as `None`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// S3 Block Public Access on the account; None when none is configured
    /// (S3 Control answers `NoSuchPublicAccessBlockConfiguration`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_public_access_block: Option<PublicAccessBlock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    /// `None` on the account-wide item: no password policy is set (IAM
    /// answers `NoSuchEntity`); IAM's defaults then apply (8 characters,
    /// no reuse prevention).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_policy: Option<PasswordPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ebs_encryption_by_default: Option<bool>,
}

impl Settings {
    /// The account-wide item.
    pub fn snapshot(&self, account: &str) -> Snapshot {
        self.snapshot_in(account, GLOBAL)
    }

    /// The item of `region` ([`GLOBAL`] for the account-wide one).
    pub fn snapshot_in(&self, account: &str, region: &str) -> Snapshot {
        Snapshot::new(TECHNOLOGY, account, region, NAME, &serde_json::to_value(self).unwrap_or_default())
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn describe_policy(p: &PasswordPolicy) -> String {
    let mut parts = vec![format!("minimum length {}", p.minimum_password_length.unwrap_or(8))];
    parts.push(match p.password_reuse_prevention {
        Some(n) => format!("reuse of the last {n} prevented"),
        None => "reuse allowed".into(),
    });
    parts.push(match p.max_password_age {
        Some(d) => format!("expiry after {d} days"),
        None => "no expiry".into(),
    });
    parts.join(", ")
}

pub fn summarize(old: &Settings, new: &Settings) -> (Vec<String>, &'static [&'static str]) {
    let mut out = Vec::new();
    if old.s3_public_access_block.is_some() || new.s3_public_access_block.is_some() || old.root.is_some() {
        let off = PublicAccessBlock::default();
        let (a, b) = (old.s3_public_access_block.unwrap_or(off), new.s3_public_access_block.unwrap_or(off));
        for ((name, was), (_, now)) in a.flags().into_iter().zip(b.flags()) {
            if was != now {
                out.push(format!("account S3 public-access block {name} turned {}", on_off(now)));
            }
        }
    }
    if let (Some(a), Some(b)) = (old.root, new.root) {
        if a.mfa_enabled != b.mfa_enabled {
            out.push(format!("root user MFA turned {}", on_off(b.mfa_enabled)));
        }
        if a.access_keys_present != b.access_keys_present {
            out.push(
                if b.access_keys_present { "root user access key created" } else { "root user access keys removed" }
                    .into(),
            );
        }
    }
    if old.root.is_none() && new.root.is_some() {
        // a revision from before troop recorded them: nothing to compare
        out.push("root user and password policy now recorded".into());
    }
    // Only the account-wide item holds a password policy: `root` marks it.
    if old.root.is_some() && new.root.is_some() {
        match (&old.password_policy, &new.password_policy) {
            (None, Some(p)) => out.push(format!("password policy set ({})", describe_policy(p))),
            (Some(_), None) => out.push("password policy removed".into()),
            (Some(a), Some(b)) if a != b => {
                out.push(format!("password policy changed from ({}) to ({})", describe_policy(a), describe_policy(b)))
            }
            _ => {}
        }
    }
    if let (Some(a), Some(b)) = (old.ebs_encryption_by_default, new.ebs_encryption_by_default)
        && a != b
    {
        out.push(format!("EBS encryption by default turned {}", on_off(b)));
    }
    (out, &["s3_public_access_block", "root", "password_policy", "ebs_encryption_by_default"])
}

/// The weaknesses of a password policy against CIS 1.8 and 1.9 (none: it is
/// strong enough).
pub fn password_weaknesses(p: Option<&PasswordPolicy>) -> Vec<String> {
    let Some(p) = p else {
        return vec!["no password policy: IAM's default allows 8-character passwords and reuse".into()];
    };
    let mut out = Vec::new();
    let length = p.minimum_password_length.unwrap_or(8);
    if length < MIN_PASSWORD_LENGTH {
        out.push(format!("minimum password length {length} is below {MIN_PASSWORD_LENGTH}"));
    }
    match p.password_reuse_prevention {
        None => out.push("previous passwords may be reused".into()),
        Some(n) if n < MIN_PASSWORD_REUSE_PREVENTION => out.push(format!(
            "only the last {n} passwords may not be reused (fewer than {MIN_PASSWORD_REUSE_PREVENTION})"
        )),
        _ => {}
    }
    out
}

/// The posture findings of one item in `region` ([`GLOBAL`] or a region).
pub fn audit(s: &Settings, region: &str, ctx: &AuditContext) -> Vec<Finding> {
    let at = (ctx.account.as_str(), region, NAME);
    let mut out = Vec::new();
    let mut raise = |kind: &str, severity: Severity, reasons: Vec<String>| {
        out.push(item_finding(TECHNOLOGY, kind, severity, at, &reasons, json!({})));
    };
    if let Some(root) = s.root {
        if root.access_keys_present {
            raise(rules::ROOT_ACCESS_KEYS, Severity::Critical, vec!["the root user has an access key".into()]);
        }
        if !root.mfa_enabled {
            raise(rules::ROOT_MFA_OFF, Severity::Critical, vec!["the root user has no MFA device".into()]);
        }
        let weak = password_weaknesses(s.password_policy.as_ref());
        if !weak.is_empty() {
            raise(rules::PASSWORD_POLICY_WEAK, Severity::Warning, weak);
        }
    }
    if s.ebs_encryption_by_default == Some(false) {
        raise(
            rules::EBS_ENCRYPTION_OFF,
            Severity::Warning,
            vec![format!("EBS encryption by default is off in {region}")],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strong() -> PasswordPolicy {
        PasswordPolicy {
            minimum_password_length: Some(14),
            password_reuse_prevention: Some(24),
            require_symbols: true,
            ..Default::default()
        }
    }

    fn global(root: Root, password_policy: Option<PasswordPolicy>) -> Settings {
        Settings { root: Some(root), password_policy, ..Default::default() }
    }

    #[test]
    fn summary_table() {
        let all = PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        };
        let on = Settings { s3_public_access_block: Some(all), ..Default::default() };
        let none = Settings::default();
        let mut one_off = on.clone();
        one_off.s3_public_access_block.as_mut().unwrap().restrict_public_buckets = false;
        let safe = Root { mfa_enabled: true, access_keys_present: false };
        let keyed = Root { mfa_enabled: false, access_keys_present: true };
        let mut short = strong();
        short.minimum_password_length = Some(8);
        let region = |on: bool| Settings { ebs_encryption_by_default: Some(on), ..Default::default() };
        let cases: Vec<(Settings, Settings, Vec<&str>)> = vec![
            (on.clone(), on.clone(), vec![]),
            (on.clone(), one_off.clone(), vec!["account S3 public-access block RestrictPublicBuckets turned off"]),
            (one_off.clone(), on.clone(), vec!["account S3 public-access block RestrictPublicBuckets turned on"]),
            (
                none.clone(),
                on.clone(),
                vec![
                    "account S3 public-access block BlockPublicAcls turned on",
                    "account S3 public-access block IgnorePublicAcls turned on",
                    "account S3 public-access block BlockPublicPolicy turned on",
                    "account S3 public-access block RestrictPublicBuckets turned on",
                ],
            ),
            (global(safe, None), global(keyed, None), vec!["root user MFA turned off", "root user access key created"]),
            (global(keyed, None), global(safe, None), vec!["root user MFA turned on", "root user access keys removed"]),
            (
                global(safe, None),
                global(safe, Some(strong())),
                vec!["password policy set (minimum length 14, reuse of the last 24 prevented, no expiry)"],
            ),
            (global(safe, Some(strong())), global(safe, None), vec!["password policy removed"]),
            (
                global(safe, Some(strong())),
                global(safe, Some(short)),
                vec![
                    "password policy changed from (minimum length 14, reuse of the last 24 prevented, no expiry) to (minimum length 8, reuse of the last 24 prevented, no expiry)",
                ],
            ),
            (region(true), region(false), vec!["EBS encryption by default turned off"]),
            // a revision from before root and the password policy were recorded
            (
                Settings { s3_public_access_block: Some(all), ..Default::default() },
                Settings { s3_public_access_block: Some(all), ..global(safe, Some(strong())) },
                vec!["root user and password policy now recorded"],
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(summarize(&a, &b).0, want, "{a:?} → {b:?}");
        }
        assert_eq!(on.snapshot("111111111111").item, "account:settings/111111111111/global/account");
        assert_eq!(region(true).snapshot_in("1", "eu-west-1").item, "account:settings/1/eu-west-1/account");
        // the older content (the S3 block alone) is unchanged by the new fields
        assert_eq!(serde_json::to_value(&none).unwrap(), json!({}));
    }

    #[test]
    fn audit_table() {
        let ctx = AuditContext { account: "111111111111".into(), ..Default::default() };
        let safe = Root { mfa_enabled: true, access_keys_present: false };
        let kinds = |s: &Settings, region: &str| -> Vec<String> {
            audit(s, region, &ctx).into_iter().map(|f| f.kind).collect()
        };
        let mut reuse = strong();
        reuse.password_reuse_prevention = Some(5);
        let cases: Vec<(Settings, &str, Vec<&str>)> = vec![
            (global(safe, Some(strong())), GLOBAL, vec![]),
            (
                global(Root { mfa_enabled: false, access_keys_present: false }, Some(strong())),
                GLOBAL,
                vec![rules::ROOT_MFA_OFF],
            ),
            (
                global(Root { mfa_enabled: true, access_keys_present: true }, Some(strong())),
                GLOBAL,
                vec![rules::ROOT_ACCESS_KEYS],
            ),
            (global(safe, None), GLOBAL, vec![rules::PASSWORD_POLICY_WEAK]),
            (global(safe, Some(reuse)), GLOBAL, vec![rules::PASSWORD_POLICY_WEAK]),
            (
                Settings { ebs_encryption_by_default: Some(false), ..Default::default() },
                "eu-west-1",
                vec![rules::EBS_ENCRYPTION_OFF],
            ),
            (Settings { ebs_encryption_by_default: Some(true), ..Default::default() }, "eu-west-1", vec![]),
            // an older revision: nothing known of root or the password policy
            (Settings::default(), GLOBAL, vec![]),
        ];
        for (s, region, want) in cases {
            assert_eq!(kinds(&s, region), want, "{s:?}");
        }
        assert_eq!(password_weaknesses(Some(&reuse)), ["only the last 5 passwords may not be reused (fewer than 24)"]);
    }
}
