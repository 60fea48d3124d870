//! The security monkey: snapshots security-relevant configuration (EC2
//! security groups per region; IAM roles, users, groups and customer-managed
//! policies, and S3 buckets once per account), lets the store keep a revision
//! per change, and audits what it sees (rules in `troop_core::security`).
//!
//! A listing that fails never invents deletions: its scope gets no coverage
//! (so nothing in it is deleted or resolved) and a `read-error` finding says
//! what could not be read. A pass where nothing at all could be read fails.

mod attribution;
pub(crate) mod collect;
mod collect_iam;
mod collect_s3;

use crate::aws::{AccountTarget, AwsContext, AwsError, Counters};
use async_trait::async_trait;
use std::sync::Arc;
use troop_core::monkey::{Attribution, Coverage, Monkey, MonkeyError, PassContext, Report, Shard, Snapshot, Written};
use troop_core::security::{AuditContext, MONKEY, account, iam, s3, sg};
use troop_core::{Finding, Severity};

pub const NAME: &str = MONKEY;

pub struct SecurityMonkey {
    aws: Arc<AwsContext>,
    known_accounts: Vec<String>,
    concurrency: usize,
}

impl SecurityMonkey {
    /// `known_accounts`: accounts trusted in IAM trust policies besides the
    /// item's own (`[aws] known_accounts` and every configured account).
    pub fn new(aws: Arc<AwsContext>, known_accounts: Vec<String>, concurrency: usize) -> Self {
        SecurityMonkey { aws, known_accounts, concurrency }
    }

    /// What the audits judge by: `known_accounts` and, with
    /// `[aws.organization]`, the organization's accounts.
    fn audit_ctx(&self, account: &str, settings: Option<&account::Settings>) -> AuditContext {
        let mut known_accounts = self.known_accounts.clone();
        known_accounts.extend(self.aws.organization_accounts());
        AuditContext { account: account.into(), known_accounts, account_settings: settings.cloned() }
    }
}

/// The finding raised instead of inventing deletions when a listing fails.
pub(crate) fn read_error(technology: &str, account: &str, region: &str, resource: &str, reason: &str) -> Finding {
    let what = if resource == technology { technology.to_string() } else { format!("{technology} {resource}") };
    Finding {
        monkey: NAME.into(),
        kind: "read-error".into(),
        severity: Severity::Warning,
        account: account.into(),
        region: region.into(),
        resource: resource.into(),
        title: format!("security monkey could not read {what} in {account}/{region}: {reason}"),
        details: serde_json::json!({ "technology": technology, "reason": reason }),
        labels: Default::default(),
        scope: technology.into(),
    }
}

/// What one read contributes to the report.
#[derive(Default)]
struct Part {
    report: Report,
    failures: Vec<AwsError>,
    reads: usize,
}

impl Part {
    fn failed(&mut self, technology: &str, account: &str, region: &str, e: AwsError) {
        self.report.findings.push(read_error(technology, account, region, technology, &e.message));
        self.failures.push(e);
        self.reads += 1;
    }
    fn covered(&mut self, technologies: &[&str], account: &str, region: &str) {
        for t in technologies {
            self.report.coverage.push(Coverage { scope: (*t).into(), account: account.into(), region: region.into() });
        }
        self.reads += 1;
    }
}

impl SecurityMonkey {
    /// The security groups of one account's region.
    async fn security_groups(&self, t: &AccountTarget, region: &str, calls: &Arc<Counters>, part: &mut Part) {
        let client = self.aws.ec2(t, region, calls);
        match collect::security_groups(&client, self.aws.endpoint()).await {
            Ok(groups) => {
                for g in groups {
                    part.report.findings.extend(sg::audit(&g, &t.id, region));
                    part.report.snapshots.push(g.snapshot(&t.id, region));
                }
                part.covered(&[sg::TECHNOLOGY], &t.id, region);
            }
            Err(e) => part.failed(sg::TECHNOLOGY, &t.id, region, e),
        }
    }

    async fn iam(&self, accounts: &[AccountTarget], calls: &Arc<Counters>, part: &mut Part) {
        let listings = self
            .aws
            .for_each_account(accounts, |t| {
                let client = self.aws.iam(&t, calls);
                let endpoint = self.aws.endpoint().map(str::to_string);
                let concurrency = self.concurrency;
                async move { collect_iam::iam(&client, endpoint.as_deref(), concurrency).await }
            })
            .await;
        for (t, listing) in listings {
            let acct = t.id.as_str();
            let listing = match listing {
                Ok(l) => l,
                Err(e) => {
                    for tech in [iam::ROLE, iam::USER, iam::GROUP, iam::POLICY] {
                        part.report.findings.push(read_error(tech, acct, iam::GLOBAL, tech, &e.message));
                    }
                    part.failures.push(e);
                    part.reads += 1;
                    continue;
                }
            };
            let ctx = self.audit_ctx(acct, None);
            for r in &listing.roles {
                part.report.findings.extend(iam::audit_role(r, &ctx));
                part.report.snapshots.push(iam::snapshot(iam::ROLE, acct, &r.name, r));
            }
            for u in &listing.users {
                if let Some((_, why)) = listing.unreadable_users.iter().find(|(n, _)| n == &u.name) {
                    // Keys/MFA unknown: keep the stored state and its findings.
                    part.report.untouched.push(Snapshot::item_id(iam::USER, acct, iam::GLOBAL, &u.name));
                    part.report.findings.push(read_error(iam::USER, acct, iam::GLOBAL, &u.name, why));
                    continue;
                }
                part.report.findings.extend(iam::audit_user(u, &ctx));
                part.report.snapshots.push(iam::snapshot(iam::USER, acct, &u.name, u));
            }
            for g in &listing.groups {
                part.report.findings.extend(iam::audit_group(g, &ctx));
                part.report.snapshots.push(iam::snapshot(iam::GROUP, acct, &g.name, g));
            }
            for p in &listing.policies {
                part.report.findings.extend(iam::audit_policy(p, &ctx));
                part.report.snapshots.push(iam::snapshot(iam::POLICY, acct, &p.name, p));
            }
            part.covered(&[iam::ROLE, iam::USER, iam::GROUP, iam::POLICY], acct, iam::GLOBAL);
        }
    }

    /// S3: the account's own settings (S3 Control), then every bucket,
    /// audited with the account's block combined with the bucket's.
    async fn s3(&self, accounts: &[AccountTarget], home_region: &str, calls: &Arc<Counters>, part: &mut Part) {
        let listings = self
            .aws
            .for_each_account(accounts, |t| async move {
                let settings = collect_s3::account_settings(&self.aws, &t, calls).await;
                let buckets = collect_s3::buckets(&self.aws, &t, home_region, calls, self.concurrency).await;
                (settings, buckets)
            })
            .await;
        for (t, (settings, listing)) in listings {
            let acct = t.id.as_str();
            let settings = match settings {
                Ok(s) => {
                    part.report.snapshots.push(s.snapshot(acct));
                    part.covered(&[account::TECHNOLOGY], acct, account::GLOBAL);
                    Some(s)
                }
                Err(e) => {
                    // Unknown: buckets are judged as if nothing were blocked account-wide.
                    part.failed(account::TECHNOLOGY, acct, account::GLOBAL, e);
                    None
                }
            };
            match listing {
                Ok(l) => {
                    let ctx = self.audit_ctx(acct, settings.as_ref());
                    for b in &l.buckets {
                        part.report.findings.extend(s3::audit(b, &ctx));
                        part.report.snapshots.push(b.snapshot(acct));
                    }
                    for (name, region, why) in &l.unreadable {
                        part.report.untouched.push(Snapshot::item_id(s3::TECHNOLOGY, acct, region, name));
                        part.report.findings.push(read_error(s3::TECHNOLOGY, acct, region, name, why));
                    }
                    part.covered(&[s3::TECHNOLOGY], acct, "*");
                }
                Err(e) => part.failed(s3::TECHNOLOGY, acct, "*", e),
            }
        }
    }
}

#[async_trait]
impl Monkey for SecurityMonkey {
    fn name(&self) -> &'static str {
        NAME
    }

    /// An account's shard (its IAM, S3 and account settings, and which of
    /// the configured regions it has) and one shard per region of it (its
    /// security groups).
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
        match &shard.region {
            Some(region) => {
                ctx.progress.update(NAME, &format!("listing security groups of {}/{region}", t.id));
                self.security_groups(&t, region, calls, &mut part).await;
            }
            None => {
                let one = std::slice::from_ref(&t);
                let (bad_regions, checked) = self.aws.check_regions(NAME, one, calls).await;
                part.report.findings.extend(bad_regions);
                part.report.coverage.extend(checked);
                let home = self.aws.regions().map_err(|e| MonkeyError::Failed(e.message))?.remove(0);
                ctx.progress.update(NAME, &format!("reading IAM of {}", t.id));
                self.iam(one, calls, &mut part).await;
                ctx.progress.update(NAME, &format!("reading S3 of {}", t.id));
                self.s3(one, &home, calls, &mut part).await;
            }
        }
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
