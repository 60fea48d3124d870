//! The security monkey: snapshots security-relevant configuration, lets the
//! store keep a revision per change, and audits what it sees (rules in
//! `troop_core::security`). What it reads is [`sources::SOURCES`]: an
//! account's shard runs the account-wide sources (IAM, S3 and account
//! settings), each region's shard the regional ones (security groups).
//!
//! A listing that fails never invents deletions: its scope gets no coverage
//! (so nothing in it is deleted or resolved) and a `read-error` finding says
//! what could not be read. A pass where nothing at all could be read fails.

mod attribution;
pub(crate) mod sources;

use crate::aws::AwsContext;
use async_trait::async_trait;
use sources::{Part, Reader, SOURCES, Scope};
use std::sync::Arc;
use troop_core::monkey::{Attribution, Monkey, MonkeyError, PassContext, Report, Shard, Written};
use troop_core::security::{AuditContext, MONKEY};

pub const NAME: &str = MONKEY;

pub struct SecurityMonkey {
    aws: Arc<AwsContext>,
    known_accounts: Vec<String>,
    concurrency: usize,
    technologies: Vec<String>,
}

impl SecurityMonkey {
    /// `known_accounts`: accounts trusted in IAM trust policies besides the
    /// item's own (`[aws] known_accounts` and every configured account);
    /// `technologies`: what to record (`[monkeys.security] technologies`).
    pub fn new(
        aws: Arc<AwsContext>,
        known_accounts: Vec<String>,
        concurrency: usize,
        technologies: Vec<String>,
    ) -> Self {
        SecurityMonkey { aws, known_accounts, concurrency, technologies }
    }

    /// What the audits judge by: `known_accounts` and, with
    /// `[aws.organization]`, the organization's accounts.
    fn audit_ctx(&self, account: &str) -> AuditContext {
        let mut known_accounts = self.known_accounts.clone();
        known_accounts.extend(self.aws.organization_accounts());
        AuditContext { account: account.into(), known_accounts, account_settings: None }
    }
}

#[async_trait]
impl Monkey for SecurityMonkey {
    fn name(&self) -> &'static str {
        NAME
    }

    /// An account's shard (its account-wide sources, and which of the
    /// configured regions it has) and one shard per region of it (its
    /// regional sources).
    async fn shards(&self, ctx: &PassContext) -> Result<Vec<Shard>, MonkeyError> {
        ctx.progress.update(NAME, "resolving accounts");
        self.aws.shards(NAME, true, &ctx.counters).await
    }

    fn parallel_shards(&self) -> usize {
        self.aws.concurrency()
    }

    async fn run(&self, ctx: &PassContext, shard: &Shard) -> Result<Report, MonkeyError> {
        let calls = &ctx.counters;
        let t = self.aws.account(shard, calls).await?;
        let mut part = Part::default();
        match self.aws.access(NAME, shard, &t, calls).await {
            Ok(coverage) => part.report.coverage.extend(coverage),
            Err(unreadable) => return Ok(unreadable),
        }
        let (scope, region) = match &shard.region {
            Some(region) => (Scope::Regional, region.clone()),
            None => {
                let one = std::slice::from_ref(&t);
                let (bad_regions, checked) = self.aws.check_regions(NAME, one, calls).await;
                part.report.findings.extend(bad_regions);
                part.report.coverage.extend(checked);
                (Scope::Account, self.aws.regions().map_err(|e| MonkeyError::Failed(e.message))?.remove(0))
            }
        };
        let reader = Reader {
            aws: &self.aws,
            target: &t,
            region: &region,
            calls,
            concurrency: self.concurrency,
            audit: self.audit_ctx(&t.id),
            technologies: &self.technologies,
        };
        for source in SOURCES.iter().filter(|s| s.scope() == scope && reader.needs(**s)) {
            let what = source.technologies().join(", ");
            ctx.progress.update(NAME, &format!("reading {what} of {}/{region}", t.id));
            source.read(&reader, &mut part).await;
        }
        part.keep_recorded(&reader);
        let mut report = part.report;
        if !part.failures.is_empty() && part.failures.len() == part.reads {
            // Nothing of the shard could be read: its read-error findings only.
            report.error = Some(part.failures.remove(0).message);
        }
        Ok(report)
    }

    async fn attribute(&self, ctx: &PassContext, written: &[Written]) -> Vec<Attribution> {
        match self.aws.accounts(&ctx.counters).await {
            Ok(accounts) => attribution::attribute(&self.aws, &accounts, written, &ctx.counters).await,
            Err(e) => written
                .iter()
                .map(|w| Attribution {
                    item: w.item.clone(),
                    revision: w.revision,
                    who: serde_json::json!({"status": "unknown", "reason": e.message}),
                })
                .collect(),
        }
    }
}
