//! SNS topics of one region: paginated ListTopics (100 a page), then one
//! GetTopicAttributes per topic (SNS has no call that returns many topics'
//! attributes).

use super::{Found, Part, Reader, Scope, per_item, record_items};
use crate::aws::classify;
use async_trait::async_trait;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use troop_core::security::{policy, sns};

pub(crate) struct Sns;

#[async_trait]
impl super::Source for Sns {
    fn technologies(&self) -> &'static [&'static str] {
        &[sns::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &["sns:ListTopics", "sns:GetTopicAttributes"]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let client = r.aws.sns(r.target, r.region, r.calls);
        let endpoint = r.aws.endpoint_for("sns");
        let mut arns = Vec::new();
        let mut pages = client.list_topics().into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => arns.extend(p.topics().iter().filter_map(|t| t.topic_arn().map(str::to_string))),
                Err(e) => {
                    return part.failed(
                        self.technologies(),
                        r.account(),
                        r.region,
                        classify("sns:ListTopics", endpoint, e),
                    );
                }
            }
        }
        let found = per_item(arns, r.concurrency, |arn| {
            let client = client.clone();
            async move { topic(&client, &arn, endpoint).await }
        })
        .await;
        let found = found.into_iter().map(|(arn, t)| (topic_name(&arn).to_string(), t)).collect();
        record_items(part, sns::TECHNOLOGY, r, found, |part, t| {
            part.report.findings.extend(sns::audit(&t, r.region, &r.audit));
            part.report.snapshots.push(t.snapshot(r.account(), r.region));
        });
    }
}

/// The topic name: the ARN's last field.
fn topic_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

async fn topic(client: &aws_sdk_sns::Client, arn: &str, endpoint: Option<&str>) -> Found<sns::Topic> {
    let answer = match client.get_topic_attributes().topic_arn(arn).send().await {
        Ok(a) => a,
        Err(e) if e.code() == Some("NotFound") => return Ok(None),
        Err(e) => return Err(classify("sns:GetTopicAttributes", endpoint, e)),
    };
    let attrs = answer.attributes();
    let get = |name: &str| attrs.and_then(|a| a.get(name)).filter(|v| !v.is_empty()).cloned();
    let doc = policy::content(get("Policy").as_deref());
    Ok(Some(sns::Topic {
        name: topic_name(arn).to_string(),
        arn: arn.to_string(),
        policy: doc,
        kms_master_key_id: get("KmsMasterKeyId"),
    }))
}
