//! The security monkey: snapshots security-relevant configuration, keeps every
//! revision (through the store), audits what it sees.
//!
//! Technologies so far: `ec2:security-group`.

mod collect;

use crate::aws::{AwsContext, CallCounter};
use async_trait::async_trait;
use std::sync::Arc;
use troop_core::monkey::{Coverage, Monkey, MonkeyError, PassContext, Report};
use troop_core::security::sg;
use troop_core::{Finding, Severity};

pub const NAME: &str = "security";

pub struct SecurityMonkey {
    aws: Arc<AwsContext>,
    calls: Arc<CallCounter>,
}

impl SecurityMonkey {
    pub fn new(aws: Arc<AwsContext>) -> Self {
        SecurityMonkey { aws, calls: Arc::new(CallCounter::default()) }
    }
}

/// The finding raised instead of inventing deletions when a listing fails.
pub(crate) fn read_error(technology: &str, account: &str, region: &str, reason: &str) -> Finding {
    Finding {
        monkey: NAME.into(),
        kind: "read-error".into(),
        severity: Severity::Warning,
        account: account.into(),
        region: region.into(),
        resource: technology.into(),
        title: format!("security monkey could not read {technology} in {account}/{region}: {reason}"),
        details: serde_json::json!({ "technology": technology, "reason": reason }),
        labels: Default::default(),
        scope: technology.into(),
    }
}

#[async_trait]
impl Monkey for SecurityMonkey {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(&self, ctx: &PassContext) -> Result<Report, MonkeyError> {
        let before = self.calls.snapshot();
        let fail = |e: crate::aws::AwsError| MonkeyError::Failed(e.to_string());
        ctx.progress.update(NAME, "resolving accounts");
        let accounts = self.aws.accounts(&self.calls).await.map_err(fail)?;
        ctx.progress.update(NAME, "listing security groups");
        let listings = self
            .aws
            .for_each_region(&accounts, |t, region| {
                let client = self.aws.ec2(&t, &region, &self.calls);
                let endpoint = self.aws.endpoint().map(str::to_string);
                async move { collect::security_groups(&client, &t.id, &region, endpoint.as_deref()).await }
            })
            .await
            .map_err(fail)?;

        let mut report = Report::default();
        let mut errors = Vec::new();
        for (t, region, listing) in listings {
            match listing {
                Ok(groups) => {
                    for g in groups {
                        if let Some(f) = sg::audit(&g, &t.id, &region) {
                            report.findings.push(with_account_labels(f, &t));
                        }
                        report.snapshots.push(g.snapshot(&t.id, &region));
                    }
                    report.coverage.push(Coverage { scope: sg::TECHNOLOGY.into(), account: t.id.clone(), region });
                }
                Err(e) => {
                    report
                        .findings
                        .push(with_account_labels(read_error(sg::TECHNOLOGY, &t.id, &region, &e.message), &t));
                    errors.push(e);
                }
            }
        }
        if !errors.is_empty() && report.coverage.is_empty() {
            // Nothing could be read anywhere: a failed pass, not a report.
            return Err(MonkeyError::Failed(errors.remove(0).message));
        }
        report.counters = self.calls.counters_since(&before);
        tracing::debug!(calls = ?report.counters, "security pass AWS calls");
        Ok(report)
    }
}

fn with_account_labels(mut f: Finding, t: &crate::aws::AccountTarget) -> Finding {
    if t.name != t.id {
        f.labels.insert("account_name".into(), t.name.clone());
    }
    for (k, v) in &t.labels {
        f.labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    f
}
