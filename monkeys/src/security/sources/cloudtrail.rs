//! CloudTrail trails of one region: DescribeTrails (the region's own
//! trails, shadow copies of other regions' left out; one call, no paging),
//! then one GetTrailStatus per trail for whether it logs (no bulk form).

use super::{Found, Part, Reader, Scope, per_listed, record_items};
use crate::aws::classify;
use async_trait::async_trait;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use troop_core::security::cloudtrail::{self, Trail};

pub(crate) struct Trails;

#[async_trait]
impl super::Source for Trails {
    fn technologies(&self) -> &'static [&'static str] {
        &[cloudtrail::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus"]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let client = r.aws.cloudtrail(r.target, r.region, r.calls);
        let endpoint = r.aws.endpoint_for("cloudtrail");
        let listed = match client.describe_trails().include_shadow_trails(false).send().await {
            Ok(l) => l,
            Err(e) => {
                let e = classify("cloudtrail:DescribeTrails", endpoint, e);
                return part.failed(self.technologies(), r.account(), r.region, e);
            }
        };
        let trails: Vec<Trail> = listed
            .trail_list()
            .iter()
            .filter(|t| t.home_region().is_none_or(|h| h == r.region))
            .map(|t| Trail {
                name: t.name().unwrap_or_default().to_string(),
                arn: t.trail_arn().unwrap_or_default().to_string(),
                home_region: t.home_region().unwrap_or(r.region).to_string(),
                is_logging: false,
                is_multi_region_trail: t.is_multi_region_trail().unwrap_or(false),
                is_organization_trail: t.is_organization_trail().unwrap_or(false),
                log_file_validation_enabled: t.log_file_validation_enabled().unwrap_or(false),
                include_global_service_events: t.include_global_service_events().unwrap_or(false),
                s3_bucket_name: t.s3_bucket_name().unwrap_or_default().to_string(),
                kms_key_id: t.kms_key_id().map(str::to_string),
            })
            .collect();
        let found = per_listed(
            trails,
            |t| t.name.clone(),
            r.concurrency,
            |trail| {
                let client = client.clone();
                async move { status(&client, trail, endpoint).await }
            },
        )
        .await;
        record_items(part, cloudtrail::TECHNOLOGY, r, found, |part, t| {
            part.report.findings.extend(cloudtrail::audit(&t, r.region, &r.audit));
            part.report.snapshots.push(t.snapshot(r.account(), r.region));
        });
    }
}

async fn status(client: &aws_sdk_cloudtrail::Client, mut trail: Trail, endpoint: Option<&str>) -> Found<Trail> {
    // by ARN: a trail's name is unique only within its region
    let id = if trail.arn.is_empty() { trail.name.clone() } else { trail.arn.clone() };
    match client.get_trail_status().name(id).send().await {
        Ok(s) => trail.is_logging = s.is_logging().unwrap_or(false),
        Err(e) if e.code() == Some("TrailNotFoundException") => return Ok(None),
        Err(e) => return Err(classify("cloudtrail:GetTrailStatus", endpoint, e)),
    }
    Ok(Some(trail))
}
