//! KMS customer-managed keys of one region: paginated ListKeys (1,000 a
//! page) and ListAliases (bulk), then per key DescribeKey, GetKeyPolicy and,
//! where rotation applies, GetKeyRotationStatus (KMS has no call that
//! returns many keys' metadata or policies). AWS-managed keys are skipped
//! after DescribeKey.

use super::{Found, Part, Reader, Scope, per_item, record_items};
use crate::aws::{AwsError, classify};
use async_trait::async_trait;
use aws_sdk_kms::types::{KeyManagerType, KeyState};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::BTreeMap;
use troop_core::security::{kms, policy};

pub(crate) struct Kms;

#[async_trait]
impl super::Source for Kms {
    fn technologies(&self) -> &'static [&'static str] {
        &[kms::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &["kms:ListKeys", "kms:ListAliases", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus"]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let client = r.aws.kms(r.target, r.region, r.calls);
        let endpoint = r.aws.endpoint_for("kms");
        let listed = async {
            let mut ids = Vec::new();
            let mut pages = client.list_keys().limit(1000).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("kms:ListKeys", endpoint, e))?;
                ids.extend(page.keys().iter().filter_map(|k| k.key_id().map(str::to_string)));
            }
            let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut pages = client.list_aliases().limit(100).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("kms:ListAliases", endpoint, e))?;
                for a in page.aliases() {
                    if let (Some(name), Some(key)) = (a.alias_name(), a.target_key_id()) {
                        aliases.entry(key.to_string()).or_default().push(name.to_string());
                    }
                }
            }
            Ok::<_, AwsError>((ids, aliases))
        };
        let (ids, aliases) = match listed.await {
            Ok(l) => l,
            Err(e) => return part.failed(self.technologies(), r.account(), r.region, e),
        };
        let found = per_item(ids, r.concurrency, |id| {
            let client = client.clone();
            let mut names = aliases.get(&id).cloned().unwrap_or_default();
            names.sort();
            async move { key(&client, &id, names, endpoint).await }
        })
        .await;
        record_items(part, kms::TECHNOLOGY, r, found, |part, k| {
            part.report.findings.extend(kms::audit(&k, r.region, &r.audit));
            part.report.snapshots.push(k.snapshot(r.account(), r.region));
        });
    }
}

/// One key, or `None` when it is AWS-managed or gone.
async fn key(client: &aws_sdk_kms::Client, id: &str, aliases: Vec<String>, endpoint: Option<&str>) -> Found<kms::Key> {
    let gone = |code: Option<&str>| code == Some("NotFoundException");
    let meta = match client.describe_key().key_id(id).send().await {
        Ok(d) => d.key_metadata,
        Err(e) if gone(e.code()) => return Ok(None),
        Err(e) => return Err(classify("kms:DescribeKey", endpoint, e)),
    };
    let Some(meta) = meta.filter(|m| m.key_manager() == Some(&KeyManagerType::Customer)) else { return Ok(None) };
    let raw = match client.get_key_policy().key_id(id).policy_name("default").send().await {
        Ok(p) => p.policy,
        Err(e) if gone(e.code()) => return Ok(None),
        Err(e) => return Err(classify("kms:GetKeyPolicy", endpoint, e)),
    };
    let mut k = kms::Key {
        key_id: meta.key_id().to_string(),
        arn: meta.arn().unwrap_or_default().to_string(),
        aliases,
        description: meta.description().filter(|d| !d.is_empty()).map(str::to_string),
        key_state: meta.key_state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        key_spec: meta.key_spec().map(|s| s.as_str().to_string()).unwrap_or_default(),
        origin: meta.origin().map(|s| s.as_str().to_string()).unwrap_or_default(),
        deletion_date: meta
            .deletion_date()
            .and_then(|d| time::OffsetDateTime::from_unix_timestamp(d.secs()).ok())
            .map(troop_core::clock::rfc3339),
        rotation_enabled: None,
        policy: policy::content(raw.as_deref()),
    };
    // KMS refuses GetKeyRotationStatus where rotation does not apply, and
    // answers it only for an enabled or disabled key.
    let askable = matches!(meta.key_state(), Some(KeyState::Enabled | KeyState::Disabled));
    if k.rotation_applies() && askable {
        match client.get_key_rotation_status().key_id(id).send().await {
            Ok(s) => k.rotation_enabled = Some(s.key_rotation_enabled()),
            Err(e) if gone(e.code()) => return Ok(None),
            Err(e) => return Err(classify("kms:GetKeyRotationStatus", endpoint, e)),
        }
    }
    Ok(Some(k))
}
