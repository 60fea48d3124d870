//! SQS queues of one region: paginated ListQueues (1,000 a page), then one
//! GetQueueAttributes per queue (SQS has no call that returns many queues'
//! attributes).

use super::{Found, Part, Reader, Scope, per_item, record_items};
use crate::aws::classify;
use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use troop_core::security::{policy, sqs};

pub(crate) struct Sqs;

#[async_trait]
impl super::Source for Sqs {
    fn technologies(&self) -> &'static [&'static str] {
        &[sqs::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &["sqs:ListQueues", "sqs:GetQueueAttributes"]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let client = r.aws.sqs(r.target, r.region, r.calls);
        let endpoint = r.aws.endpoint_for("sqs");
        let mut urls = Vec::new();
        let mut pages = client.list_queues().max_results(1000).into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => urls.extend(p.queue_urls().iter().cloned()),
                Err(e) => {
                    return part.failed(
                        self.technologies(),
                        r.account(),
                        r.region,
                        classify("sqs:ListQueues", endpoint, e),
                    );
                }
            }
        }
        let found = per_item(urls, r.concurrency, |url| {
            let client = client.clone();
            async move { queue(&client, &url, endpoint).await }
        })
        .await;
        // a queue is named by its name, not its URL
        let found = found.into_iter().map(|(url, q)| (queue_name(&url).to_string(), q)).collect();
        record_items(part, sqs::TECHNOLOGY, r, found, |part, q| {
            part.report.findings.extend(sqs::audit(&q, r.region, &r.audit));
            part.report.snapshots.push(q.snapshot(r.account(), r.region));
        });
    }
}

/// The last path segment of a queue URL.
fn queue_name(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

async fn queue(client: &aws_sdk_sqs::Client, url: &str, endpoint: Option<&str>) -> Found<sqs::Queue> {
    let answer =
        match client.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::All).send().await {
            Ok(a) => a,
            Err(e) if matches!(e.code(), Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist")) => {
                return Ok(None);
            }
            Err(e) => return Err(classify("sqs:GetQueueAttributes", endpoint, e)),
        };
    let attrs = answer.attributes();
    let get = |name: QueueAttributeName| attrs.and_then(|a| a.get(&name)).filter(|v| !v.is_empty()).cloned();
    let doc = policy::content(get(QueueAttributeName::Policy).as_deref());
    Ok(Some(sqs::Queue {
        name: queue_name(url).to_string(),
        arn: get(QueueAttributeName::QueueArn).unwrap_or_default(),
        policy: doc,
        kms_master_key_id: get(QueueAttributeName::KmsMasterKeyId),
        sqs_managed_sse: get(QueueAttributeName::SqsManagedSseEnabled).as_deref() == Some("true"),
    }))
}
