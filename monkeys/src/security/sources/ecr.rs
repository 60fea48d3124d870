//! ECR repositories of one region: paginated DescribeRepositories (1,000 a
//! page), then one GetRepositoryPolicy per repository (ECR has no call that
//! returns many repositories' policies).

use super::{Found, Part, Reader, Scope, per_listed, record_items};
use crate::aws::classify;
use async_trait::async_trait;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use troop_core::security::{ecr, policy};

pub(crate) struct Ecr;

#[async_trait]
impl super::Source for Ecr {
    fn technologies(&self) -> &'static [&'static str] {
        &[ecr::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &["ecr:DescribeRepositories", "ecr:GetRepositoryPolicy"]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let client = r.aws.ecr(r.target, r.region, r.calls);
        let endpoint = r.aws.endpoint_for("ecr");
        let mut repos = Vec::new();
        let mut pages = client.describe_repositories().max_results(1000).into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => repos.extend(p.repositories().iter().map(|x| ecr::Repository {
                    name: x.repository_name().unwrap_or_default().to_string(),
                    arn: x.repository_arn().unwrap_or_default().to_string(),
                    policy: serde_json::Value::Null,
                    image_tag_mutability: x.image_tag_mutability().map(|m| m.as_str().to_string()).unwrap_or_default(),
                })),
                Err(e) => {
                    let e = classify("ecr:DescribeRepositories", endpoint, e);
                    return part.failed(self.technologies(), r.account(), r.region, e);
                }
            }
        }
        let found = per_listed(
            repos,
            |x| x.name.clone(),
            r.concurrency,
            |repo| {
                let client = client.clone();
                async move { repository(&client, repo, endpoint).await }
            },
        )
        .await;
        record_items(part, ecr::TECHNOLOGY, r, found, |part, x| {
            part.report.findings.extend(ecr::audit(&x, r.region, &r.audit));
            part.report.snapshots.push(x.snapshot(r.account(), r.region));
        });
    }
}

async fn repository(
    client: &aws_sdk_ecr::Client,
    mut repo: ecr::Repository,
    endpoint: Option<&str>,
) -> Found<ecr::Repository> {
    match client.get_repository_policy().repository_name(&repo.name).send().await {
        Ok(p) => repo.policy = policy::content(p.policy_text()),
        Err(e) if e.code() == Some("RepositoryPolicyNotFoundException") => {}
        Err(e) if e.code() == Some("RepositoryNotFoundException") => return Ok(None),
        Err(e) => return Err(classify("ecr:GetRepositoryPolicy", endpoint, e)),
    }
    Ok(Some(repo))
}
