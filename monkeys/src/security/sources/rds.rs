//! RDS snapshots of one region and who may restore them: paginated
//! DescribeDBSnapshots and DescribeDBClusterSnapshots (manual snapshots,
//! 100 a page), then per snapshot DescribeDBSnapshotAttributes or
//! DescribeDBClusterSnapshotAttributes (the `restore` attribute: no bulk call
//! gives it). A cluster snapshot is named `cluster:IDENTIFIER`.

use super::{Found, Part, Reader, Scope};
use crate::aws::{AwsError, classify};
use async_trait::async_trait;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use troop_core::security::shares::{Copy, RDS_SNAPSHOT, Sharing};

pub(crate) struct RdsSnapshots;

/// The prefix of a cluster snapshot's item name.
const CLUSTER: &str = "cluster:";

#[async_trait]
impl super::Source for RdsSnapshots {
    fn technologies(&self) -> &'static [&'static str] {
        &[RDS_SNAPSHOT]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &[
            "rds:DescribeDBSnapshots",
            "rds:DescribeDBSnapshotAttributes",
            "rds:DescribeDBClusterSnapshots",
            "rds:DescribeDBClusterSnapshotAttributes",
        ]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let client = r.aws.rds(r.target, r.region, r.calls);
        let endpoint = r.aws.endpoint_for("rds");
        let listed = snapshots(&client, endpoint).await;
        super::shares::read_copies(part, r, RDS_SNAPSHOT, listed, |copy| {
            let client = client.clone();
            async move { restore_attribute(&client, copy, endpoint).await }
        })
        .await;
    }
}

async fn snapshots(client: &aws_sdk_rds::Client, endpoint: Option<&str>) -> Result<Vec<Copy>, AwsError> {
    let mut out = Vec::new();
    let mut pages = client.describe_db_snapshots().snapshot_type("manual").max_records(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("rds:DescribeDBSnapshots", endpoint, e))?;
        out.extend(page.db_snapshots().iter().map(|s| Copy {
            id: s.db_snapshot_identifier().unwrap_or_default().to_string(),
            description: s.db_instance_identifier().map(str::to_string),
            encrypted: s.encrypted().unwrap_or(false),
            sharing: Sharing::default(),
        }));
    }
    let mut pages =
        client.describe_db_cluster_snapshots().snapshot_type("manual").max_records(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("rds:DescribeDBClusterSnapshots", endpoint, e))?;
        out.extend(page.db_cluster_snapshots().iter().map(|s| Copy {
            id: format!("{CLUSTER}{}", s.db_cluster_snapshot_identifier().unwrap_or_default()),
            description: s.db_cluster_identifier().map(str::to_string),
            encrypted: s.storage_encrypted().unwrap_or(false),
            sharing: Sharing::default(),
        }));
    }
    Ok(out)
}

fn restore_values<'a>(name: Option<&str>, values: &'a [String]) -> impl Iterator<Item = String> + 'a {
    let restore = name == Some("restore");
    values.iter().filter(move |_| restore).cloned()
}

async fn restore_attribute(client: &aws_sdk_rds::Client, mut c: Copy, endpoint: Option<&str>) -> Found<Copy> {
    let gone = |code: Option<&str>| matches!(code, Some("DBSnapshotNotFound" | "DBClusterSnapshotNotFoundFault"));
    let values: Vec<String> = match c.id.strip_prefix(CLUSTER) {
        Some(id) => {
            match client.describe_db_cluster_snapshot_attributes().db_cluster_snapshot_identifier(id).send().await {
                Ok(a) => a
                    .db_cluster_snapshot_attributes_result()
                    .map(|r| r.db_cluster_snapshot_attributes())
                    .unwrap_or_default()
                    .iter()
                    .flat_map(|a| restore_values(a.attribute_name(), a.attribute_values()))
                    .collect(),
                Err(e) if gone(e.code()) => return Ok(None),
                Err(e) => return Err(classify("rds:DescribeDBClusterSnapshotAttributes", endpoint, e)),
            }
        }
        None => match client.describe_db_snapshot_attributes().db_snapshot_identifier(&c.id).send().await {
            Ok(a) => a
                .db_snapshot_attributes_result()
                .map(|r| r.db_snapshot_attributes())
                .unwrap_or_default()
                .iter()
                .flat_map(|a| restore_values(a.attribute_name(), a.attribute_values()))
                .collect(),
            Err(e) if gone(e.code()) => return Ok(None),
            Err(e) => return Err(classify("rds:DescribeDBSnapshotAttributes", endpoint, e)),
        },
    };
    c.sharing = Sharing::of(values, []);
    Ok(Some(c))
}
