//! Where the security monkey reads: one source per file, each reading one
//! service's technologies (names in [`troop_core::security::REGISTRY`]) for
//! one account or one region of it, listed once in [`SOURCES`].
//!
//! A source says what it records, where it reads, which IAM actions its
//! reads need (`deploy/iam/troop-readonly.json` allows exactly their union,
//! a test checks it) and where CloudTrail files its technologies' events.
//! Its `read` converts SDK answers into the pure models, audits them and
//! pushes snapshots, findings and coverage into a [`Part`]; a listing that
//! fails pushes a `read-error` for its technologies instead of coverage, so
//! nothing in their scope is deleted or resolved.

pub(crate) mod account;
pub(crate) mod cloudtrail;
pub(crate) mod ecr;
pub(crate) mod elbv2;
pub(crate) mod iam;
pub(crate) mod kms;
pub(crate) mod lambda;
pub(crate) mod nacl;
pub(crate) mod rds;
pub(crate) mod s3;
pub(crate) mod secretsmanager;
pub(crate) mod sg;
pub(crate) mod shares;
pub(crate) mod sns;
pub(crate) mod sqs;

use crate::aws::{AccountTarget, AwsContext, AwsError, Counters};
use async_trait::async_trait;
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use troop_core::monkey::{Coverage, Report};
use troop_core::security::AuditContext;
use troop_core::{Finding, Severity};

/// Every source of the security monkey: adding a technology's reads is one
/// file here and one line in this list. A shard runs its scope's sources in
/// this order: the account source comes before S3, whose audits combine the
/// account's block ([`Part::account_settings`]).
pub(crate) const SOURCES: &[&dyn Source] = &[
    &account::Account,
    &account::AccountRegion,
    &sg::SecurityGroups,
    &nacl::NetworkAcls,
    &iam::Iam,
    &s3::S3,
    &kms::Kms,
    &sqs::Sqs,
    &sns::Sns,
    &lambda::Lambda,
    &ecr::Ecr,
    &secretsmanager::SecretsManager,
    &cloudtrail::Trails,
    &elbv2::Listeners,
    &shares::Ec2Shares,
    &rds::RdsSnapshots,
];

/// Where a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Once per account, in the account's shard (IAM, S3, account-wide
    /// settings): [`Reader::region`] is the account's home region.
    Account,
    /// Once per region of each account, in that region's shard.
    Regional,
}

/// What a source reads with.
pub(crate) struct Reader<'a> {
    pub aws: &'a AwsContext,
    pub target: &'a AccountTarget,
    /// The shard's region ([`Scope::Regional`]) or the account's home
    /// region, where account-wide APIs are asked ([`Scope::Account`]).
    pub region: &'a str,
    pub calls: &'a Arc<Counters>,
    /// `[aws] concurrency`: per-item reads at once, at least 1.
    pub concurrency: usize,
    /// What audits judge by (`known_accounts`, the organization's accounts);
    /// its account settings are unset (the S3 source reads them).
    pub audit: AuditContext,
    /// `[monkeys.security] technologies`: what is recorded.
    pub technologies: &'a [String],
}

impl Reader<'_> {
    /// The account's id.
    pub fn account(&self) -> &str {
        &self.target.id
    }

    /// `technology` is recorded (`[monkeys.security] technologies`).
    pub fn records(&self, technology: &str) -> bool {
        self.technologies.iter().any(|t| t == technology)
    }

    /// `source` has something to do: it records a technology that is
    /// recorded, or reads what one of those needs.
    pub fn needs(&self, source: &dyn Source) -> bool {
        source.technologies().iter().chain(source.needed_by()).any(|t| self.records(t))
    }
}

/// One service's reads for the security monkey.
#[async_trait]
pub(crate) trait Source: Send + Sync {
    /// The technologies it records (each in `troop_core::security::REGISTRY`,
    /// each read by exactly one source per scope).
    fn technologies(&self) -> &'static [&'static str];
    fn scope(&self) -> Scope;
    /// Technologies of other sources whose audits need what this one reads
    /// (S3 buckets need the account's block): it runs for them too.
    fn needed_by(&self) -> &'static [&'static str] {
        &[]
    }
    /// The IAM actions its reads need (`service:Action`, as IAM spells
    /// them): what the policy test holds `deploy/iam/troop-readonly.json` to.
    #[cfg_attr(not(test), allow(dead_code))]
    fn actions(&self) -> &'static [&'static str];
    /// The region whose CloudTrail event history holds the write events of
    /// an item of `technology` recorded in `item_region`: the item's own
    /// unless the service is global (IAM's events are in us-east-1).
    fn events_region(&self, _technology: &str, item_region: &str) -> String {
        item_region.to_string()
    }
    /// Read, audit and snapshot what it sees into `part`.
    async fn read(&self, r: &Reader<'_>, part: &mut Part);
}

/// The source that reads the items of `technology` in `region`: where two
/// scopes share a technology (account settings), the account-wide one
/// reads region `global`.
pub(crate) fn source_of(technology: &str, region: &str) -> Option<&'static dyn Source> {
    let mut of = SOURCES.iter().copied().filter(|s| s.technologies().contains(&technology));
    let first = of.next()?;
    let scope = if region == troop_core::security::account::GLOBAL { Scope::Account } else { Scope::Regional };
    Some(std::iter::once(first).chain(of).find(|s| s.scope() == scope).unwrap_or(first))
}

/// What a per-item read found: the item, or nothing when it went away
/// between the listing and the read (not an error: the next listing will
/// not have it).
pub(crate) type Found<T> = Result<Option<T>, AwsError>;

/// Read every listed item with `read`, at most `concurrency` at once, in
/// the listing's order: for services with no bulk call that returns what
/// the security monkey records (docs/security.md names them).
pub(crate) async fn per_item<T, F, Fut>(names: Vec<String>, concurrency: usize, read: F) -> Vec<(String, Found<T>)>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Found<T>>,
{
    futures::stream::iter(names)
        .map(|name| {
            let found = read(name.clone());
            async move { (name, found.await) }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// [`per_item`] over items a listing returned whole (`key` names each):
/// `read` completes one (its policy, its sharing) or says it is gone.
pub(crate) async fn per_listed<T, F, Fut>(
    listed: Vec<T>,
    key: impl Fn(&T) -> String,
    concurrency: usize,
    read: F,
) -> Vec<(String, Found<T>)>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Found<T>>,
{
    futures::stream::iter(listed)
        .map(|item| {
            let name = key(&item);
            let found = read(item);
            async move { (name, found.await) }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// Push what [`per_item`] found: each item's snapshot and findings (from
/// `record`), an unreadable item kept as stored with its `read-error`; the
/// listing covers its technology in the region.
pub(crate) fn record_items<T>(
    part: &mut Part,
    technology: &str,
    r: &Reader<'_>,
    found: Vec<(String, Found<T>)>,
    mut record: impl FnMut(&mut Part, T),
) {
    for (name, item) in found {
        match item {
            Ok(Some(item)) => record(part, item),
            Ok(None) => {}
            Err(e) => part.unreadable(technology, r.account(), r.region, &name, &e.message),
        }
    }
    part.covered(&[technology], r.account(), r.region);
}

/// The finding raised instead of inventing deletions when a listing fails.
pub(crate) fn read_error(technology: &str, account: &str, region: &str, resource: &str, reason: &str) -> Finding {
    let what = if resource == technology { technology.to_string() } else { format!("{technology} {resource}") };
    Finding {
        monkey: super::NAME.into(),
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

/// What the reads of one shard contribute to its report.
#[derive(Default)]
pub(crate) struct Part {
    pub report: Report,
    pub failures: Vec<AwsError>,
    /// Listings attempted (a failed one counts): when every one failed,
    /// the shard read nothing.
    pub reads: usize,
    /// The account's settings as the account source read them (its S3
    /// block even when the rest failed), for the audits that combine them.
    pub account_settings: Option<troop_core::security::account::Settings>,
}

impl Part {
    /// Keep only what concerns recorded technologies: a source that reads
    /// several (IAM's four) or runs for another's sake reports them all.
    pub fn keep_recorded(&mut self, r: &Reader<'_>) {
        // scopes that are not technologies (account access, regions) stay
        let keep = |scope: &str| !troop_core::security::TECHNOLOGIES.contains(&scope) || r.records(scope);
        let report = &mut self.report;
        report.snapshots.retain(|s| keep(&s.technology));
        report.findings.retain(|f| keep(&f.scope));
        report.coverage.retain(|c| keep(&c.scope));
        report.untouched.retain(|item| keep(troop_core::monkey::Snapshot::item_scope(item).0));
    }

    /// A listing of `technologies` in `account`/`region` failed: a
    /// `read-error` for each, no coverage.
    pub fn failed(&mut self, technologies: &[&str], account: &str, region: &str, e: AwsError) {
        for t in technologies {
            self.report.findings.push(read_error(t, account, region, t, &e.message));
        }
        self.failures.push(e);
        self.reads += 1;
    }

    /// A listing of `technologies` in `account`/`region` was read whole:
    /// what it did not return is gone.
    pub fn covered(&mut self, technologies: &[&str], account: &str, region: &str) {
        for t in technologies {
            self.report.coverage.push(Coverage { scope: (*t).into(), account: account.into(), region: region.into() });
        }
        self.reads += 1;
    }

    /// An item that exists but could not be read this pass: kept as stored,
    /// with a `read-error` saying why.
    pub fn unreadable(&mut self, technology: &str, account: &str, region: &str, name: &str, why: &str) {
        self.report.untouched.push(troop_core::monkey::Snapshot::item_id(technology, account, region, name));
        self.report.findings.push(read_error(technology, account, region, name, why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use troop_core::security::TECHNOLOGIES;

    #[test]
    fn every_technology_is_read_by_exactly_one_source_per_scope() {
        let mut read: Vec<(&str, bool)> =
            SOURCES.iter().flat_map(|s| s.technologies().iter().map(|t| (*t, s.scope() == Scope::Account))).collect();
        read.sort_unstable();
        let pairs = read.len();
        read.dedup();
        assert_eq!(read.len(), pairs, "a technology has two sources of one scope");
        let mut names: Vec<&str> = read.iter().map(|(t, _)| *t).collect();
        names.dedup();
        let mut registered = TECHNOLOGIES.to_vec();
        registered.sort_unstable();
        assert_eq!(names, registered, "REGISTRY and SOURCES disagree");
        // the account source runs before S3, which reads what it found
        let at = |name: &str| SOURCES.iter().position(|s| s.technologies().contains(&name)).unwrap();
        assert!(at(troop_core::security::account::TECHNOLOGY) < at(troop_core::security::s3::TECHNOLOGY));
        assert_eq!(source_of("account:settings", "global").map(|s| s.scope()), Some(Scope::Account));
        assert_eq!(source_of("account:settings", "eu-west-1").map(|s| s.scope()), Some(Scope::Regional));
        assert_eq!(source_of("s3:bucket", "eu-west-1").map(|s| s.scope()), Some(Scope::Account));
    }

    /// `deploy/iam/troop-readonly.json`'s SecurityMonkey statement allows
    /// exactly what the sources call, plus the region check and CloudTrail.
    #[test]
    fn the_policy_allows_exactly_the_sources_actions() {
        let policy: serde_json::Value =
            serde_json::from_str(include_str!("../../../../deploy/iam/troop-readonly.json")).unwrap();
        let statement = policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "SecurityMonkey").unwrap();
        let allowed: BTreeSet<&str> =
            statement["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        let mut used: BTreeSet<&str> = SOURCES.iter().flat_map(|s| s.actions().iter().copied()).collect();
        used.extend(["ec2:DescribeRegions", "cloudtrail:LookupEvents"]);
        assert_eq!(allowed, used);
    }
}
