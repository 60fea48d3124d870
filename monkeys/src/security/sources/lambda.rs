//! Lambda functions of one region: paginated ListFunctions (50 a page),
//! then per function GetPolicy and GetFunctionUrlConfig (Lambda has no call
//! that returns many functions' policies; ListFunctionUrlConfigs is per
//! function too, and the emulator lacks it).

use super::{Found, Part, Reader, Scope, per_item, record_items};
use crate::aws::classify;
use async_trait::async_trait;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use troop_core::security::{lambda, policy};

pub(crate) struct Lambda;

#[async_trait]
impl super::Source for Lambda {
    fn technologies(&self) -> &'static [&'static str] {
        &[lambda::TECHNOLOGY]
    }
    fn scope(&self) -> Scope {
        Scope::Regional
    }
    fn actions(&self) -> &'static [&'static str] {
        &["lambda:ListFunctions", "lambda:GetPolicy", "lambda:GetFunctionUrlConfig"]
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let client = r.aws.lambda(r.target, r.region, r.calls);
        let endpoint = r.aws.endpoint_for("lambda");
        let mut listed = Vec::new();
        let mut pages = client.list_functions().max_items(50).into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => listed.extend(p.functions().iter().map(|f| {
                    let name = f.function_name().unwrap_or_default().to_string();
                    (name, f.function_arn().unwrap_or_default().to_string(), f.role().unwrap_or_default().to_string())
                })),
                Err(e) => {
                    let e = classify("lambda:ListFunctions", endpoint, e);
                    return part.failed(self.technologies(), r.account(), r.region, e);
                }
            }
        }
        let names = listed.iter().map(|(n, _, _)| n.clone()).collect();
        let found = per_item(names, r.concurrency, |name| {
            let client = client.clone();
            let (arn, role) =
                listed.iter().find(|(n, _, _)| *n == name).map(|(_, a, r)| (a.clone(), r.clone())).unwrap_or_default();
            async move { function(&client, name, arn, role, endpoint).await }
        })
        .await;
        record_items(part, lambda::TECHNOLOGY, r, found, |part, f| {
            part.report.findings.extend(lambda::audit(&f, r.region, &r.audit));
            part.report.snapshots.push(f.snapshot(r.account(), r.region));
        });
    }
}

async fn function(
    client: &aws_sdk_lambda::Client,
    name: String,
    arn: String,
    role: String,
    endpoint: Option<&str>,
) -> Found<lambda::Function> {
    let missing = |code: Option<&str>| code == Some("ResourceNotFoundException");
    let raw = match client.get_policy().function_name(&name).send().await {
        Ok(p) => p.policy,
        Err(e) if missing(e.code()) => None, // no policy (or the function is gone: the URL read says which)
        Err(e) => return Err(classify("lambda:GetPolicy", endpoint, e)),
    };
    let url = match client.get_function_url_config().function_name(&name).send().await {
        Ok(u) => Some(lambda::FunctionUrl { url: u.function_url, auth_type: u.auth_type.as_str().to_string() }),
        Err(e) if missing(e.code()) => None,
        Err(e) => return Err(classify("lambda:GetFunctionUrlConfig", endpoint, e)),
    };
    Ok(Some(lambda::Function { name, arn, role, policy: policy::content(raw.as_deref()), url }))
}
