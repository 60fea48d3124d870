//! IO: S3 buckets. One paginated ListBuckets per account, then the ACL, policy
//! and public-access block of each bucket, at bounded concurrency, from a
//! client in the bucket's own region.

use crate::aws::{AccountTarget, AwsContext, AwsError, Counters, classify};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use futures::StreamExt;
use std::sync::Arc;
use troop_core::security::account::Settings;
use troop_core::security::policy;
use troop_core::security::s3::{Bucket, Grant, PublicAccessBlock, grantee_name};

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

pub(crate) struct S3Listing {
    pub buckets: Vec<Bucket>,
    /// Buckets whose details could not be read: (name, region, reason).
    pub unreadable: Vec<(String, String, String)>,
}

pub(crate) async fn buckets(
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
        Ok(p) => p
            .policy()
            .map(|raw| policy::parse(raw).unwrap_or_else(|e| serde_json::json!({"unparsed": raw, "error": e}))),
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
pub(crate) async fn account_settings(
    aws: &AwsContext,
    t: &AccountTarget,
    calls: &Arc<Counters>,
) -> Result<Settings, AwsError> {
    let endpoint = aws.endpoint_for("s3control");
    let client = aws.s3control(t, calls);
    let block = match client.get_public_access_block().account_id(&t.id).send().await {
        Ok(p) => p.public_access_block_configuration().map(|c| block!(c)),
        Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => None,
        Err(e) => return Err(classify("s3control:GetPublicAccessBlock", endpoint, e)),
    };
    Ok(Settings { s3_public_access_block: block })
}
