//! Secrets Manager secrets of one region: paginated ListSecrets (100 a
//! page; never a value), then one GetResourcePolicy per secret (no call
//! returns many secrets' policies).

use super::{Found, Part, Reader, Scope, per_listed, record_items};
use crate::aws::classify;
use async_trait::async_trait;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use troop_core::security::{policy, secretsmanager};

pub(crate) struct SecretsManager;

#[async_trait]
impl super::Source for SecretsManager {
    fn technologies(&self) -> &'static [&'static str] {
        &[secretsmanager::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &["secretsmanager:ListSecrets", "secretsmanager:GetResourcePolicy"]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let client = r.aws.secretsmanager(r.target, r.region, r.calls);
        let endpoint = r.aws.endpoint_for("secretsmanager");
        let mut secrets = Vec::new();
        let mut pages = client.list_secrets().max_results(100).into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => secrets.extend(p.secret_list().iter().map(|x| secretsmanager::Secret {
                    name: x.name().unwrap_or_default().to_string(),
                    arn: x.arn().unwrap_or_default().to_string(),
                    policy: serde_json::Value::Null,
                    kms_key_id: x.kms_key_id().map(str::to_string),
                    rotation_enabled: x.rotation_enabled().unwrap_or(false),
                })),
                Err(e) => {
                    let e = classify("secretsmanager:ListSecrets", endpoint, e);
                    return part.failed(self.technologies(), r.account(), r.region, e);
                }
            }
        }
        let found = per_listed(
            secrets,
            |x| x.name.clone(),
            r.concurrency,
            |secret| {
                let client = client.clone();
                async move { resource_policy(&client, secret, endpoint).await }
            },
        )
        .await;
        record_items(part, secretsmanager::TECHNOLOGY, r, found, |part, x| {
            part.report.findings.extend(secretsmanager::audit(&x, r.region, &r.audit));
            part.report.snapshots.push(x.snapshot(r.account(), r.region));
        });
    }
}

async fn resource_policy(
    client: &aws_sdk_secretsmanager::Client,
    mut secret: secretsmanager::Secret,
    endpoint: Option<&str>,
) -> Found<secretsmanager::Secret> {
    // by ARN: a name may be reused after a deletion
    match client.get_resource_policy().secret_id(&secret.arn).send().await {
        Ok(p) => secret.policy = policy::content(p.resource_policy()),
        Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(None),
        Err(e) => return Err(classify("secretsmanager:GetResourcePolicy", endpoint, e)),
    }
    Ok(Some(secret))
}
