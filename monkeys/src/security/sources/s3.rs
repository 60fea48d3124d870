//! IO: S3 buckets. One paginated ListBuckets per account, then the ACL, policy
//! and public-access block of each bucket, at bounded concurrency, from a
//! client in the bucket's own region.

use super::{Part, Reader, Scope};
use crate::aws::{AccountTarget, AwsContext, AwsError, Counters, classify};
use async_trait::async_trait;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use futures::StreamExt;
use std::sync::Arc;
use troop_core::security::AuditContext;
use troop_core::security::policy;
use troop_core::security::s3::{self as model, Bucket, Grant, PublicAccessBlock, grantee_name};

/// S3: every bucket, audited with the account's block combined with the
/// bucket's.
pub(crate) struct S3;

#[async_trait]
impl super::Source for S3 {
    fn technologies(&self) -> &'static [&'static str] {
        &[model::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Account
    }
    fn actions(&self) -> &'static [&'static str] {
        &[
            "s3:ListAllMyBuckets",
            "s3:GetBucketLocation",
            "s3:GetBucketAcl",
            "s3:GetBucketPolicy",
            "s3:GetBucketPublicAccessBlock",
        ]
    }
    /// Buckets are judged with the account's own block, which the account
    /// source (before this one in `SOURCES`) read; unknown, they are judged
    /// as if nothing were blocked account-wide.
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let acct = r.account();
        let settings = part.account_settings.clone();
        match buckets(r.aws, r.target, r.region, r.calls, r.concurrency).await {
            Ok(l) => {
                let ctx = AuditContext { account_settings: settings, ..r.audit.clone() };
                for b in &l.buckets {
                    part.report.findings.extend(model::audit(b, &ctx));
                    part.report.snapshots.push(b.snapshot(acct));
                }
                for (name, region, why) in &l.unreadable {
                    part.unreadable(model::TECHNOLOGY, acct, region, name, why);
                }
                part.covered(&[model::TECHNOLOGY], acct, "*");
            }
            Err(e) => part.failed(&[model::TECHNOLOGY], acct, "*", e),
        }
    }
}

/// A public-access block as S3 and S3 Control return it (two SDK types of
/// one shape): an unset setting is off.
macro_rules! block {
    ($c:expr) => {
        PublicAccessBlock {
            block_public_acls: $c.block_public_acls().unwrap_or(false),
            ignore_public_acls: $c.ignore_public_acls().unwrap_or(false),
            block_public_policy: $c.block_public_policy().unwrap_or(false),
            restrict_public_buckets: $c.restrict_public_buckets().unwrap_or(false),
        }
    };
}

struct S3Listing {
    pub buckets: Vec<Bucket>,
    /// Buckets whose details could not be read: (name, region, reason).
    pub unreadable: Vec<(String, String, String)>,
}

async fn buckets(
    aws: &AwsContext,
    t: &AccountTarget,
    home_region: &str,
    calls: &Arc<Counters>,
    concurrency: usize,
) -> Result<S3Listing, AwsError> {
    let endpoint = aws.endpoint();
    let client = aws.s3(t, home_region, calls);
    let mut names: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    let mut pages = client.list_buckets().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("s3:ListBuckets", endpoint, e))?;
        let owner = page.owner().and_then(|o| o.id().or(o.display_name())).map(str::to_string);
        for b in page.buckets() {
            names.push((
                b.name().unwrap_or_default().to_string(),
                b.bucket_region().map(str::to_string),
                owner.clone(),
            ));
        }
    }
    let results: Vec<Result<Bucket, (String, String, String)>> = futures::stream::iter(names)
        .map(|(name, region, owner)| {
            let client = client.clone();
            async move {
                let region = match region {
                    Some(r) if !r.is_empty() => r,
                    _ => match client.get_bucket_location().bucket(&name).send().await {
                        Ok(l) => match l.location_constraint().map(|c| c.as_str().to_string()) {
                            None => "us-east-1".to_string(),
                            Some(c) if c.is_empty() => "us-east-1".to_string(),
                            Some(c) if c == "EU" => "eu-west-1".to_string(),
                            Some(c) => c,
                        },
                        Err(e) => {
                            let e = classify("s3:GetBucketLocation", endpoint, e);
                            return Err((name, home_region.to_string(), e.message));
                        }
                    },
                };
                let regional = aws.s3(t, &region, calls);
                bucket(&regional, name.clone(), region.clone(), owner, endpoint)
                    .await
                    .map_err(|e| (name, region, e.message))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut out = S3Listing { buckets: vec![], unreadable: vec![] };
    for r in results {
        match r {
            Ok(b) => out.buckets.push(b),
            Err(u) => out.unreadable.push(u),
        }
    }
    out.buckets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

async fn bucket(
    client: &aws_sdk_s3::Client,
    name: String,
    region: String,
    owner: Option<String>,
    endpoint: Option<&str>,
) -> Result<Bucket, AwsError> {
    let acl =
        client.get_bucket_acl().bucket(&name).send().await.map_err(|e| classify("s3:GetBucketAcl", endpoint, e))?;
    let mut grants: Vec<Grant> = acl
        .grants()
        .iter()
        .map(|g| {
            let who = g.grantee();
            Grant {
                grantee: grantee_name(
                    who.and_then(|w| w.uri()),
                    who.and_then(|w| w.id()),
                    who.and_then(|w| w.email_address()),
                ),
                permission: g.permission().map(|p| p.as_str().to_string()).unwrap_or_default(),
            }
        })
        .collect();
    grants.sort();
    grants.dedup();
    let owner = acl.owner().and_then(|o| o.id()).map(str::to_string).or(owner);

    let policy = match client.get_bucket_policy().bucket(&name).send().await {
        Ok(p) => p.policy().map(|raw| policy::content(Some(raw))),
        Err(e) if e.code() == Some("NoSuchBucketPolicy") => None,
        Err(e) => return Err(classify("s3:GetBucketPolicy", endpoint, e)),
    };
    let public_access_block = match client.get_public_access_block().bucket(&name).send().await {
        Ok(p) => p.public_access_block_configuration().map(|c| block!(c)),
        Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => None,
        Err(e) => return Err(classify("s3:GetPublicAccessBlock", endpoint, e)),
    };
    Ok(Bucket { name, region, owner, acl: grants, policy, public_access_block })
}

/// The account's own S3 Block Public Access (S3 Control GetPublicAccessBlock,
/// asked in the account's home region); `None` when none is configured.
pub(super) async fn account_block(
    aws: &AwsContext,
    t: &AccountTarget,
    calls: &Arc<Counters>,
) -> Result<Option<PublicAccessBlock>, AwsError> {
    let endpoint = aws.endpoint_for("s3control");
    let client = aws.s3control(t, calls);
    match client.get_public_access_block().account_id(&t.id).send().await {
        Ok(p) => Ok(p.public_access_block_configuration().map(|c| block!(c))),
        Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => Ok(None),
        Err(e) => Err(classify("s3control:GetPublicAccessBlock", endpoint, e)),
    }
}
