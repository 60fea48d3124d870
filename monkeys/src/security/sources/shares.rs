//! EBS snapshots and AMIs of one region and who they are shared with:
//! paginated DescribeSnapshots and DescribeImages (the account's own,
//! 1,000 a page), then per item DescribeSnapshotAttribute
//! (`createVolumePermission`) or DescribeImageAttribute
//! (`launchPermission`): no bulk call says whom an item is shared with.

use super::{Found, Part, Reader, Scope, per_listed, record_items};
use crate::aws::{AwsError, classify};
use async_trait::async_trait;
use aws_sdk_ec2::types::{ImageAttributeName, SnapshotAttributeName};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use troop_core::security::shares::{self, Copy, EBS_SNAPSHOT, IMAGE, Sharing};

pub(crate) struct Ec2Shares;

#[async_trait]
impl super::Source for Ec2Shares {
    fn technologies(&self) -> &'static [&'static str] {
        &[EBS_SNAPSHOT, IMAGE]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &["ec2:DescribeSnapshots", "ec2:DescribeSnapshotAttribute", "ec2:DescribeImages", "ec2:DescribeImageAttribute"]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let client = r.aws.ec2(r.target, r.region, r.calls);
        let endpoint = r.aws.endpoint();
        if r.records(EBS_SNAPSHOT) {
            let listed = snapshots(&client, r.account(), endpoint).await;
            read_copies(part, r, EBS_SNAPSHOT, listed, |copy| {
                let client = client.clone();
                async move { snapshot_sharing(&client, copy, endpoint).await }
            })
            .await;
        }
        if r.records(IMAGE) {
            let listed = images(&client, r.account(), endpoint).await;
            read_copies(part, r, IMAGE, listed, |copy| {
                let client = client.clone();
                async move { image_sharing(&client, copy, endpoint).await }
            })
            .await;
        }
    }
}

/// The copies a listing found, each completed by `sharing` (whom it is
/// shared with), audited and recorded as items of `technology`; a failed
/// listing is a `read-error`.
pub(super) async fn read_copies<F, Fut>(
    part: &mut Part,
    r: &Reader<'_>,
    technology: &'static str,
    listed: Result<Vec<Copy>, AwsError>,
    sharing: F,
) where
    F: Fn(Copy) -> Fut,
    Fut: std::future::Future<Output = Found<Copy>>,
{
    let listed = match listed {
        Ok(l) => l,
        Err(e) => return part.failed(&[technology], r.account(), r.region, e),
    };
    let found = per_listed(listed, |c| c.id.clone(), r.concurrency, sharing).await;
    record_items(part, technology, r, found, |part, c| {
        part.report.findings.extend(shares::audit(technology, &c, r.region, &r.audit));
        part.report.snapshots.push(c.snapshot(technology, r.account(), r.region));
    });
}

/// The account's own snapshots. `OwnerIds=self` asks for exactly those;
/// the owner is checked again, as a snapshot another account owns (one the
/// emulator returns regardless) is not this account's to judge.
async fn snapshots(client: &aws_sdk_ec2::Client, account: &str, endpoint: Option<&str>) -> Result<Vec<Copy>, AwsError> {
    let mut out = Vec::new();
    let mut pages = client.describe_snapshots().owner_ids("self").max_results(1000).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ec2:DescribeSnapshots", endpoint, e))?;
        let own = page.snapshots().iter().filter(|s| s.owner_id().is_none_or(|o| o == account));
        out.extend(own.map(|s| Copy {
            id: s.snapshot_id().unwrap_or_default().to_string(),
            description: s.description().filter(|d| !d.is_empty()).map(str::to_string),
            encrypted: s.encrypted().unwrap_or(false),
            sharing: Sharing::default(),
        }));
    }
    Ok(out)
}

/// The account's own AMIs (`Owners=self`, the owner checked again).
async fn images(client: &aws_sdk_ec2::Client, account: &str, endpoint: Option<&str>) -> Result<Vec<Copy>, AwsError> {
    let mut out = Vec::new();
    let mut pages = client.describe_images().owners("self").max_results(1000).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ec2:DescribeImages", endpoint, e))?;
        let own = page.images().iter().filter(|i| i.owner_id().is_none_or(|o| o == account));
        out.extend(own.map(|i| Copy {
            id: i.image_id().unwrap_or_default().to_string(),
            description: i.name().map(str::to_string),
            encrypted: i.block_device_mappings().iter().any(|b| b.ebs().and_then(|e| e.encrypted()) == Some(true)),
            sharing: Sharing { public: i.public().unwrap_or(false), ..Default::default() },
        }));
    }
    Ok(out)
}

fn gone(code: Option<&str>) -> bool {
    matches!(code, Some("InvalidSnapshot.NotFound" | "InvalidAMIID.NotFound" | "InvalidAMIID.Unavailable"))
}

async fn snapshot_sharing(client: &aws_sdk_ec2::Client, mut c: Copy, endpoint: Option<&str>) -> Found<Copy> {
    let answer = match client
        .describe_snapshot_attribute()
        .snapshot_id(&c.id)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
    {
        Ok(a) => a,
        Err(e) if gone(e.code()) => return Ok(None),
        Err(e) => return Err(classify("ec2:DescribeSnapshotAttribute", endpoint, e)),
    };
    let values = answer
        .create_volume_permissions()
        .iter()
        .filter_map(|p| p.group().map(|g| g.as_str().to_string()).or_else(|| p.user_id().map(str::to_string)));
    c.sharing = Sharing::of(values, []);
    Ok(Some(c))
}

async fn image_sharing(client: &aws_sdk_ec2::Client, mut c: Copy, endpoint: Option<&str>) -> Found<Copy> {
    let answer = match client
        .describe_image_attribute()
        .image_id(&c.id)
        .attribute(ImageAttributeName::LaunchPermission)
        .send()
        .await
    {
        Ok(a) => a,
        Err(e) if gone(e.code()) => return Ok(None),
        Err(e) => return Err(classify("ec2:DescribeImageAttribute", endpoint, e)),
    };
    let perms = answer.launch_permissions();
    let values = perms
        .iter()
        .filter_map(|p| p.group().map(|g| g.as_str().to_string()).or_else(|| p.user_id().map(str::to_string)));
    let orgs = perms
        .iter()
        .filter_map(|p| p.organization_arn().or(p.organizational_unit_arn()).map(str::to_string))
        .collect::<Vec<_>>();
    let public = c.sharing.public;
    c.sharing = Sharing::of(values, orgs);
    c.sharing.public |= public;
    Ok(Some(c))
}
