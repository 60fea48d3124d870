//! Account posture: the account-wide item (S3 Control GetPublicAccessBlock;
//! IAM GetAccountSummary for the root user's MFA and keys;
//! GetAccountPasswordPolicy), once per account, and each region's item
//! (EC2 GetEbsEncryptionByDefault), once per region. One call each.

use super::{Part, Reader, Scope};
use crate::aws::{AwsError, classify};
use async_trait::async_trait;
use aws_sdk_iam::types::SummaryKeyType;
use troop_core::security::account::{self, PasswordPolicy, Root, Settings};

/// The account-wide item.
pub(crate) struct Account;

/// A region's item.
pub(crate) struct AccountRegion;

#[async_trait]
impl super::Source for Account {
    fn technologies(&self) -> &'static [&'static str] {
        &[account::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Account
    }
    fn needed_by(&self) -> &'static [&'static str] {
        &[troop_core::security::s3::TECHNOLOGY]
    }
    fn actions(&self) -> &'static [&'static str] {
        &["s3:GetAccountPublicAccessBlock", "iam:GetAccountSummary", "iam:GetAccountPasswordPolicy"]
    }
    /// IAM and S3 Control: global, their events are in us-east-1.
    fn events_region(&self, _technology: &str, _item_region: &str) -> String {
        "us-east-1".into()
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let (acct, region) = (r.account(), account::GLOBAL);
        let block = match super::s3::account_block(r.aws, r.target, r.calls).await {
            Ok(b) => b,
            Err(e) => return part.failed(self.technologies(), acct, region, e),
        };
        // Buckets are judged by the block even when the rest cannot be read.
        part.account_settings = Some(Settings { s3_public_access_block: block, ..Default::default() });
        if !r.records(account::TECHNOLOGY) {
            return; // read for the buckets' sake only
        }
        let iam = r.aws.iam(r.target, r.calls);
        let endpoint = r.aws.endpoint_for("iam");
        let rest = async { Ok::<_, AwsError>((root(&iam, endpoint).await?, password_policy(&iam, endpoint).await?)) };
        match rest.await {
            Ok((root, password_policy)) => {
                let s =
                    Settings { s3_public_access_block: block, root: Some(root), password_policy, ..Default::default() };
                part.report.findings.extend(account::audit(&s, region, &r.audit));
                part.report.snapshots.push(s.snapshot(acct));
                part.covered(self.technologies(), acct, region);
                part.account_settings = Some(s);
            }
            Err(e) => part.failed(self.technologies(), acct, region, e),
        }
    }
}

/// GetAccountSummary's `AccountMFAEnabled` and `AccountAccessKeysPresent`.
async fn root(iam: &aws_sdk_iam::Client, endpoint: Option<&str>) -> Result<Root, AwsError> {
    let summary = iam.get_account_summary().send().await.map_err(|e| classify("iam:GetAccountSummary", endpoint, e))?;
    let map = summary.summary_map.unwrap_or_default();
    let set = |k: SummaryKeyType| map.get(&k).copied().unwrap_or(0) > 0;
    Ok(Root {
        mfa_enabled: set(SummaryKeyType::AccountMfaEnabled),
        access_keys_present: set(SummaryKeyType::AccountAccessKeysPresent),
    })
}

/// The password policy, `None` when none is set (`NoSuchEntity`).
async fn password_policy(
    iam: &aws_sdk_iam::Client,
    endpoint: Option<&str>,
) -> Result<Option<PasswordPolicy>, AwsError> {
    match iam.get_account_password_policy().send().await {
        Ok(answer) => Ok(answer.password_policy.map(|p| PasswordPolicy {
            minimum_password_length: p.minimum_password_length,
            require_symbols: p.require_symbols,
            require_numbers: p.require_numbers,
            require_uppercase_characters: p.require_uppercase_characters,
            require_lowercase_characters: p.require_lowercase_characters,
            max_password_age: p.max_password_age.filter(|d| *d > 0),
            password_reuse_prevention: p.password_reuse_prevention.filter(|n| *n > 0),
        })),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(None),
        Err(e) => Err(classify("iam:GetAccountPasswordPolicy", endpoint, e)),
    }
}

#[async_trait]
impl super::Source for AccountRegion {
    fn technologies(&self) -> &'static [&'static str] {
        &[account::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &["ec2:GetEbsEncryptionByDefault"]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let ec2 = r.aws.ec2(r.target, r.region, r.calls);
        match ec2.get_ebs_encryption_by_default().send().await {
            Ok(answer) => {
                let s = Settings { ebs_encryption_by_default: answer.ebs_encryption_by_default, ..Default::default() };
                part.report.findings.extend(account::audit(&s, r.region, &r.audit));
                part.report.snapshots.push(s.snapshot_in(r.account(), r.region));
                part.covered(self.technologies(), r.account(), r.region);
            }
            Err(e) => {
                let e = classify("ec2:GetEbsEncryptionByDefault", r.aws.endpoint(), e);
                part.failed(self.technologies(), r.account(), r.region, e)
            }
        }
    }
}
