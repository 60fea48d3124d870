//! The AWS context every AWS-reading monkey shares: credentials (default chain,
//! or STS AssumeRole per configured account), regions, endpoint override, the
//! SDK's adaptive retry mode, API call counting, and fan-out over
//! accounts × regions with bounded concurrency.

mod budget;
mod calls;
mod error;
pub mod organization;

pub use budget::{Budgets, DEFAULT_RATES};
pub use error::{AwsError, ErrorKind, classify};
pub use troop_core::monkey::Counters;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// A client of one AWS service: the account's credentials and region, its
/// request budget, the call counter, extra builder settings, and
/// `[aws.endpoints]` when set for `service`
/// (the global endpoint override is already in the SDK config).
macro_rules! client {
    ($ctx:expr, $krate:ident, $service:literal, $sdk:expr, $account:expr, $region:expr, $calls:expr $(, $setting:ident($($arg:expr),*))*) => {{
        let region: String = $region.to_string();
        let mut conf = $krate::config::Builder::from($sdk)
            .http_client($ctx.budgets.client(&$ctx.http, $service, $account, &region))
            .region(Region::new(region))
            .interceptor(calls::interceptor($calls))
            $(.$setting($($arg),*))*;
        if let Some(e) = $ctx.cfg.endpoints.get($service) {
            conf = conf.endpoint_url(e.clone());
        }
        $krate::Client::from_conf(conf.build())
    }};
}

/// S3 Control's endpoints: AWS's rules, except that an override is taken as
/// it is (no account-id host label), signed for `s3` in the client's region.
/// Public so that tests seed an emulator the way troop reads it.
#[derive(Debug)]
pub struct S3ControlEndpoint(aws_sdk_s3control::config::endpoint::DefaultResolver);

impl Default for S3ControlEndpoint {
    fn default() -> Self {
        S3ControlEndpoint(aws_sdk_s3control::config::endpoint::DefaultResolver::new())
    }
}

impl aws_sdk_s3control::config::endpoint::ResolveEndpoint for S3ControlEndpoint {
    fn resolve_endpoint<'a>(
        &'a self,
        params: &'a aws_sdk_s3control::config::endpoint::Params,
    ) -> aws_sdk_s3control::config::endpoint::EndpointFuture<'a> {
        use aws_sdk_s3control::config::endpoint::{Endpoint, EndpointFuture};
        use aws_smithy_types::endpoint::EndpointAuthScheme;
        match params.endpoint() {
            Some(url) => EndpointFuture::ready(Ok(Endpoint::builder()
                .url(url.trim_end_matches('/').to_string())
                .auth_scheme(
                    EndpointAuthScheme::with_capacity("sigv4".to_string(), 3)
                        .put("disableDoubleEncoding", true)
                        .put("signingName", "s3")
                        .put("signingRegion", params.region().unwrap_or("us-east-1")),
                )
                .build())),
            None => self.0.resolve_endpoint(params),
        }
    }
}

/// The region an account's global services are asked in.
fn home_region(t: &AccountTarget) -> String {
    t.sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into())
}

/// The HTTPS client every AWS SDK client of troop uses (rustls with ring),
/// through the proxy `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` name, except for
/// hosts `NO_PROXY` lists.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut b = aws_smithy_http_client::Connector::builder();
        b.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            b.set_sleep_impl(c.sleep_impl());
        }
        b.tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .proxy_config(aws_smithy_http_client::proxy::ProxyConfig::from_env())
            .build()
    })
}

/// One account to read, with the SDK config (credentials) to read it with.
#[derive(Clone, Debug)]
pub struct AccountTarget {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub sdk: SdkConfig,
    /// The role `sdk` assumes (STS AssumeRole); `None`: the ambient credentials.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
}

/// The accounts as last resolved, and when.
struct Resolved {
    at: std::time::Instant,
    list: Arc<Vec<AccountTarget>>,
}

/// How long a successful AssumeRole check of an account is trusted when no
/// `[aws.organization] refresh` says otherwise.
const ACCESS_TTL: Duration = Duration::from_secs(3600);

pub struct AwsContext {
    base: SdkConfig,
    http: aws_smithy_runtime_api::client::http::SharedHttpClient,
    budgets: Budgets,
    cfg: troop_config::Aws,
    endpoint: Option<String>,
    accounts: tokio::sync::Mutex<Option<Resolved>>,
    /// The account of the ambient credentials (STS GetCallerIdentity), once read.
    caller: OnceCell<String>,
    /// Per account, until when its role was last found assumable.
    access: std::sync::Mutex<BTreeMap<String, std::time::Instant>>,
    /// Labels of every account's findings, for the engine.
    labels: Arc<troop_core::engine::AccountLabels>,
    /// The organization's accounts troop knows of (its members read, its
    /// management account), trusted in IAM trust policies.
    organization_accounts: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Per account, the regions AWS knows (EC2 DescribeRegions), once read.
    known_regions: std::sync::Mutex<BTreeMap<String, Arc<Vec<String>>>>,
}

/// The coverage scope of an account's access check: a `read-error` of this
/// scope says the account's role could not be assumed, and resolves once a
/// pass assumes it.
pub const ACCESS_SCOPE: &str = "account-access";

/// The coverage scope of the configured-regions check: one per account
/// (region `*`), so a `read-error` for a region that is not one resolves once
/// the configuration no longer names it.
pub const REGIONS_SCOPE: &str = "regions";

impl AwsContext {
    /// Load the ambient configuration (environment, profile, default credential
    /// chain). Does no network IO: accounts are resolved on first use.
    pub async fn new(cfg: &troop_config::Aws) -> AwsContext {
        let http = http_client();
        let endpoint =
            cfg.endpoint_url.clone().or_else(|| std::env::var("AWS_ENDPOINT_URL").ok().filter(|s| !s.is_empty()));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http.clone())
            .retry_config(RetryConfig::adaptive().with_max_attempts(cfg.max_attempts).with_max_backoff(cfg.max_backoff))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .read_timeout(Duration::from_secs(30))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(e) = &endpoint {
            loader = loader.endpoint_url(e.clone());
        }
        if let Some(r) = cfg.regions.first() {
            loader = loader.region(Region::new(r.clone()));
        }
        let base = loader.load().await;
        let labels = Arc::new(troop_core::engine::AccountLabels::default());
        labels.set(cfg.accounts.iter().map(|a| (a.id.clone(), static_labels(a))).collect());
        AwsContext {
            base,
            http,
            budgets: Budgets::new(&cfg.request_rate),
            cfg: cfg.clone(),
            endpoint,
            accounts: Default::default(),
            caller: OnceCell::new(),
            access: Default::default(),
            labels,
            organization_accounts: Default::default(),
            known_regions: Default::default(),
        }
    }

    /// The labels of every account's findings (`[[aws.accounts]]` name and
    /// labels; an organization's account names and tags once read), for
    /// [`troop_core::Engine::with_account_labels`].
    pub fn account_labels(&self) -> Arc<troop_core::engine::AccountLabels> {
        self.labels.clone()
    }

    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The endpoint for one service: `[aws.endpoints]`, else the global override.
    pub fn endpoint_for(&self, service: &str) -> Option<&str> {
        self.cfg.endpoints.get(service).map(String::as_str).or(self.endpoint())
    }

    /// Check the configured regions against the regions AWS knows for each
    /// account (EC2 DescribeRegions with AllRegions, asked once per account
    /// per process, from the first configured region that answers). A name
    /// that is not a region gets a `read-error` finding naming the closest
    /// real one, and is skipped by [`Self::for_each_region`] from then on;
    /// without an answer nothing is judged. Returns the findings and the
    /// coverage (scope [`REGIONS_SCOPE`]) of the accounts that were checked.
    pub async fn check_regions(
        &self,
        monkey: &str,
        accounts: &[AccountTarget],
        calls: &Arc<Counters>,
    ) -> (Vec<troop_core::Finding>, Vec<troop_core::monkey::Coverage>) {
        let Ok(configured) = self.regions() else { return (vec![], vec![]) };
        let (mut findings, mut coverage) = (Vec::new(), Vec::new());
        for t in accounts {
            let known = self.known_regions.lock().unwrap_or_else(|e| e.into_inner()).get(&t.id).cloned();
            let known = match known {
                Some(k) => k,
                None => {
                    let mut found = None;
                    for region in std::iter::once(home_region(t)).chain(configured.iter().cloned()) {
                        let ec2 = self.ec2(t, &region, calls);
                        if let Ok(out) = ec2.describe_regions().all_regions(true).send().await {
                            let names: Vec<String> =
                                out.regions().iter().filter_map(|r| r.region_name().map(str::to_string)).collect();
                            if !names.is_empty() {
                                found = Some(Arc::new(names));
                                break;
                            }
                        }
                    }
                    let Some(names) = found else { continue };
                    self.known_regions.lock().unwrap_or_else(|e| e.into_inner()).insert(t.id.clone(), names.clone());
                    names
                }
            };
            coverage.push(troop_core::monkey::Coverage {
                scope: REGIONS_SCOPE.into(),
                account: t.id.clone(),
                region: "*".into(),
            });
            for region in configured.iter().filter(|r| !known.contains(r)) {
                let names: Vec<&str> = known.iter().map(String::as_str).collect();
                let hint =
                    troop_core::closest(region, &names).map(|c| format!("; did you mean `{c}`?")).unwrap_or_default();
                let reason =
                    format!("`{region}` is not an AWS region of account {}{hint} (nothing was read there)", t.id);
                findings.push(troop_core::Finding {
                    monkey: monkey.into(),
                    kind: "read-error".into(),
                    severity: troop_core::Severity::Warning,
                    account: t.id.clone(),
                    region: region.clone(),
                    resource: region.clone(),
                    title: format!("{monkey} monkey could not read region {region}: {reason}"),
                    details: serde_json::json!({"technology": REGIONS_SCOPE, "reason": reason}),
                    labels: Default::default(),
                    scope: REGIONS_SCOPE.into(),
                });
            }
        }
        (findings, coverage)
    }

    /// The configured regions an account is read in: all of them, less those
    /// [`Self::check_regions`] found AWS does not know.
    pub fn regions_of(&self, account: &str) -> Result<Vec<String>, AwsError> {
        let all = self.regions()?;
        let known = self.known_regions.lock().unwrap_or_else(|e| e.into_inner()).get(account).cloned();
        Ok(match known {
            Some(k) => all.into_iter().filter(|r| k.contains(r)).collect(),
            None => all,
        })
    }

    /// Configured regions, else the ambient one.
    pub fn regions(&self) -> Result<Vec<String>, AwsError> {
        if !self.cfg.regions.is_empty() {
            return Ok(self.cfg.regions.clone());
        }
        match self.base.region() {
            Some(r) => Ok(vec![r.to_string()]),
            None => Err(AwsError::config("no AWS region: set [aws] regions in the config, or AWS_REGION")),
        }
    }

    /// The accounts to read: `[[aws.accounts]]`, then the members of
    /// `[aws.organization]` not listed there; with neither, the account of
    /// the ambient credentials (one STS GetCallerIdentity call). Kept once
    /// resolved; an organization is read again after its `refresh`, and a
    /// failed reading keeps the last list (retried after `refresh`). A first
    /// resolution that fails is retried on the next call.
    pub async fn accounts(&self, calls: &Arc<Counters>) -> Result<Arc<Vec<AccountTarget>>, AwsError> {
        let mut held = self.accounts.lock().await;
        let refresh = self.cfg.organization.as_ref().map(|o| o.refresh);
        if let Some(r) = held.as_mut() {
            match refresh {
                Some(every) if r.at.elapsed() >= every => {}
                _ => return Ok(r.list.clone()),
            }
        }
        match self.resolve(calls).await {
            Ok(list) => {
                let list = Arc::new(list);
                self.labels.set(list.iter().map(|t| (t.id.clone(), t.labels.clone())).collect());
                *held = Some(Resolved { at: std::time::Instant::now(), list: list.clone() });
                Ok(list)
            }
            Err(e) => match held.as_mut() {
                Some(r) => {
                    tracing::warn!(error = %e, "could not read the organization again; reading the accounts it had");
                    r.at = std::time::Instant::now();
                    Ok(r.list.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn resolve(&self, calls: &Arc<Counters>) -> Result<Vec<AccountTarget>, AwsError> {
        let mut out: Vec<AccountTarget> = Vec::new();
        for a in &self.cfg.accounts {
            out.push(self.target(&a.id, &a.name, static_labels(a), a.role_arn.clone(), a.external_id.clone()).await);
        }
        match &self.cfg.organization {
            Some(org) => {
                let caller = self.caller(calls).await?;
                let members = organization::members(self, org, calls).await?;
                let mut known: std::collections::BTreeSet<String> = members.iter().map(|m| m.id.clone()).collect();
                known.extend(members.iter().filter_map(|m| organization::management_account(&m.arn)));
                known.insert(caller.clone());
                *self.organization_accounts.lock().unwrap_or_else(|e| e.into_inner()) = known;
                for m in members {
                    if out.iter().any(|t| t.id == m.id) {
                        continue; // [[aws.accounts]] says how to read it
                    }
                    // the account troop runs in is read with its own credentials
                    let role = (m.id != caller).then(|| organization::role_arn(&org.role_name, &m));
                    out.push(
                        self.target(&m.id, &m.name, organization::labels(&m), role, org.external_id.clone()).await,
                    );
                }
            }
            None if out.is_empty() => {
                let id = self.caller(calls).await?;
                out.push(self.target(&id, &id, BTreeMap::new(), None, None).await);
            }
            None => {}
        }
        Ok(out)
    }

    /// The account of the ambient credentials (STS GetCallerIdentity, once).
    async fn caller(&self, calls: &Arc<Counters>) -> Result<String, AwsError> {
        self.caller
            .get_or_try_init(|| async {
                let region = self.regions()?.remove(0);
                let sts = self.sts(&self.base, &region, calls);
                let out = sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| classify("sts:GetCallerIdentity", self.endpoint_for("sts"), e))?;
                Ok(out.account.unwrap_or_default())
            })
            .await
            .cloned()
    }

    /// An account to read, through `role_arn` when given (STS AssumeRole,
    /// at `[aws.endpoints] sts` when set), else with the ambient credentials.
    async fn target(
        &self,
        id: &str,
        name: &str,
        labels: BTreeMap<String, String>,
        role_arn: Option<String>,
        external_id: Option<String>,
    ) -> AccountTarget {
        let sdk = match &role_arn {
            None => self.base.clone(),
            Some(arn) => {
                let region = self.first_region();
                let mut via = self.base.to_builder();
                if let Some(e) = self.cfg.endpoints.get("sts") {
                    via.set_endpoint_url(Some(e.clone()));
                }
                let mut b = aws_config::sts::AssumeRoleProvider::builder(arn.clone())
                    .session_name("troop")
                    .region(Region::new(region))
                    .configure(&via.build());
                if let Some(x) = &external_id {
                    b = b.external_id(x.clone());
                }
                let provider = aws_credential_types::provider::SharedCredentialsProvider::new(b.build().await);
                self.base.to_builder().credentials_provider(provider).build()
            }
        };
        AccountTarget { id: id.into(), name: name.into(), labels, sdk, role_arn, external_id }
    }

    /// Accounts of the organization troop reads (its members as last read,
    /// its management account): as much the estate's own as configured
    /// accounts, for audits of who a policy trusts. Empty without
    /// `[aws.organization]`.
    pub fn organization_accounts(&self) -> Vec<String> {
        self.organization_accounts.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    /// Whether `t`'s role can be assumed now (one STS AssumeRole call; a
    /// success is trusted for the organization's `refresh`, or an hour).
    /// `Err` is the reason, as STS gave it.
    pub async fn check_access(&self, t: &AccountTarget, calls: &Arc<Counters>) -> Result<(), String> {
        let Some(arn) = &t.role_arn else { return Ok(()) };
        let now = std::time::Instant::now();
        if self.access.lock().unwrap_or_else(|e| e.into_inner()).get(&t.id).is_some_and(|until| *until > now) {
            return Ok(());
        }
        let region = self.regions().map_err(|e| e.message)?.remove(0);
        let sts = self.sts(&self.base, &region, calls);
        let mut ask = sts.assume_role().role_arn(arn).role_session_name("troop-access-check");
        if let Some(x) = &t.external_id {
            ask = ask.external_id(x);
        }
        match ask.send().await {
            Ok(_) => {
                let ttl = self.cfg.organization.as_ref().map(|o| o.refresh).unwrap_or(ACCESS_TTL);
                self.access.lock().unwrap_or_else(|e| e.into_inner()).insert(t.id.clone(), now + ttl);
                Ok(())
            }
            Err(e) => {
                self.access.lock().unwrap_or_else(|e| e.into_inner()).remove(&t.id);
                Err(format!(
                    "could not assume {arn} in account {}: {}",
                    t.id,
                    classify("sts:AssumeRole", self.endpoint_for("sts"), e).message
                ))
            }
        }
    }

    /// Of `accounts`, those whose role can be assumed now; for each of the
    /// others, its one access `read-error` (for a monkey that reads every
    /// account in one shard); and the access coverage of all of them.
    pub async fn reachable(
        &self,
        monkey: &str,
        accounts: &[AccountTarget],
        calls: &Arc<Counters>,
    ) -> (Vec<AccountTarget>, Vec<troop_core::Finding>, Vec<troop_core::monkey::Coverage>) {
        let checked = self.for_each_account(accounts, |t| async move { self.check_access(&t, calls).await }).await;
        let (mut ok, mut errors, mut coverage) = (Vec::new(), Vec::new(), Vec::new());
        for (t, access) in checked {
            coverage.push(access_coverage(&t));
            match access {
                Ok(()) => ok.push(t),
                Err(reason) => errors.push(access_error(monkey, &t, &reason)),
            }
        }
        (ok, errors, coverage)
    }

    /// Before a shard of `t` is read: its role is assumed
    /// ([`Self::check_access`]). `Ok`: the coverage the shard's report
    /// carries (the account shard covers [`ACCESS_SCOPE`], so an earlier
    /// access `read-error` resolves). `Err`: the report of the shard, an
    /// unreadable one with, for the account's shard, the one `read-error`
    /// finding that says why (its regional shards add none).
    pub async fn access(
        &self,
        monkey: &str,
        shard: &troop_core::monkey::Shard,
        t: &AccountTarget,
        calls: &Arc<Counters>,
    ) -> Result<Vec<troop_core::monkey::Coverage>, troop_core::monkey::Report> {
        match self.check_access(t, calls).await {
            Ok(()) if shard.region.is_none() => Ok(vec![access_coverage(t)]),
            Ok(()) => Ok(vec![]),
            Err(reason) => {
                let mut report = troop_core::monkey::Report { error: Some(reason.clone()), ..Default::default() };
                if shard.region.is_none() {
                    report.findings.push(access_error(monkey, t, &reason));
                }
                Err(report)
            }
        }
    }

    /// The account a shard reads ([`troop_core::monkey::Shard`]): one of
    /// [`Self::accounts`]; `Failed` when the shard names none (the account
    /// left the configuration since its shards were listed).
    pub async fn account(
        &self,
        shard: &troop_core::monkey::Shard,
        calls: &Arc<Counters>,
    ) -> Result<AccountTarget, troop_core::monkey::MonkeyError> {
        let fail = troop_core::monkey::MonkeyError::Failed;
        let accounts = self.accounts(calls).await.map_err(|e| fail(e.message))?;
        let id = shard.account.as_deref().unwrap_or_default();
        accounts
            .iter()
            .find(|t| t.id == id)
            .cloned()
            .ok_or_else(|| fail(format!("account `{id}` of shard {} is not configured", shard.key())))
    }

    /// The shards of a monkey over the configured accounts: each account's
    /// (`monkey/account`) and, when `regional`, one per region it has
    /// (`monkey/account/region`; which configured regions it has is asked
    /// once, [`Self::check_regions`]).
    pub async fn shards(
        &self,
        monkey: &str,
        regional: bool,
        calls: &Arc<Counters>,
    ) -> Result<Vec<troop_core::monkey::Shard>, troop_core::monkey::MonkeyError> {
        use troop_core::monkey::{MonkeyError, Shard};
        let accounts = self.accounts(calls).await.map_err(|e| MonkeyError::Failed(e.message))?;
        if regional {
            self.check_regions(monkey, &accounts, calls).await;
        }
        // an account whose role cannot be assumed is one shard, which says so
        let reachable: Vec<bool> = self
            .for_each_account(&accounts, |t| async move { self.check_access(&t, calls).await.is_ok() })
            .await
            .into_iter()
            .map(|(_, ok)| ok)
            .collect();
        let mut shards = Vec::new();
        for (t, reachable) in accounts.iter().zip(reachable) {
            shards.push(Shard::account(monkey, &t.id));
            if regional && reachable {
                for region in self.regions_of(&t.id).map_err(|e| MonkeyError::Failed(e.message))? {
                    shards.push(Shard::region(monkey, &t.id, &region));
                }
            }
        }
        Ok(shards)
    }

    /// `[aws] concurrency`: reads of one kind at once (accounts, regions,
    /// shards), at least 1.
    pub fn concurrency(&self) -> usize {
        self.cfg.concurrency.max(1)
    }

    fn sts(&self, sdk: &SdkConfig, region: &str, calls: &Arc<Counters>) -> aws_sdk_sts::Client {
        client!(self, aws_sdk_sts, "sts", sdk, "caller", region, calls)
    }

    /// The first configured region, else us-east-1: where STS (for an
    /// assumed role) and Organizations are asked.
    fn first_region(&self) -> String {
        self.cfg.regions.first().cloned().unwrap_or_else(|| "us-east-1".into())
    }

    /// Organizations, asked with the ambient credentials (its endpoint is
    /// global; the SDK resolves it from the region).
    pub fn organizations(&self, calls: &Arc<Counters>) -> aws_sdk_organizations::Client {
        let region = self.first_region();
        client!(self, aws_sdk_organizations, "organizations", &self.base, "organization", region, calls)
    }

    pub fn ec2(&self, t: &AccountTarget, region: &str, calls: &Arc<Counters>) -> aws_sdk_ec2::Client {
        client!(self, aws_sdk_ec2, "ec2", &t.sdk, &t.id, region, calls)
    }

    /// IAM is global: the SDK resolves its endpoint (per partition) from the
    /// account's home region.
    pub fn iam(&self, t: &AccountTarget, calls: &Arc<Counters>) -> aws_sdk_iam::Client {
        client!(self, aws_sdk_iam, "iam", &t.sdk, &t.id, home_region(t), calls)
    }

    /// S3 uses path-style addressing whenever an endpoint override is set
    /// (emulators and VPC endpoints do not serve virtual-hosted buckets).
    pub fn s3(&self, t: &AccountTarget, region: &str, calls: &Arc<Counters>) -> aws_sdk_s3::Client {
        let path_style = self.endpoint_for("s3").is_some();
        client!(self, aws_sdk_s3, "s3", &t.sdk, &t.id, region, calls, force_path_style(path_style))
    }

    /// S3 Control, asked in the account's home region. AWS's endpoint rules
    /// put the account id in the host (`{AccountId}.s3-control.{region}...`);
    /// an endpoint override (`[aws] endpoint_url`, `[aws.endpoints]
    /// s3control`) is used as given, as for every other service.
    pub fn s3control(&self, t: &AccountTarget, calls: &Arc<Counters>) -> aws_sdk_s3control::Client {
        let resolver = S3ControlEndpoint::default();
        client!(self, aws_sdk_s3control, "s3control", &t.sdk, &t.id, home_region(t), calls, endpoint_resolver(resolver))
    }

    pub fn acm(&self, t: &AccountTarget, region: &str, calls: &Arc<Counters>) -> aws_sdk_acm::Client {
        client!(self, aws_sdk_acm, "acm", &t.sdk, &t.id, region, calls)
    }

    pub fn elbv2(
        &self,
        t: &AccountTarget,
        region: &str,
        calls: &Arc<Counters>,
    ) -> aws_sdk_elasticloadbalancingv2::Client {
        client!(self, aws_sdk_elasticloadbalancingv2, "elbv2", &t.sdk, &t.id, region, calls)
    }

    pub fn autoscaling(&self, t: &AccountTarget, region: &str, calls: &Arc<Counters>) -> aws_sdk_autoscaling::Client {
        client!(self, aws_sdk_autoscaling, "autoscaling", &t.sdk, &t.id, region, calls)
    }

    /// Route53 and CloudFront are global too.
    pub fn route53(&self, t: &AccountTarget, calls: &Arc<Counters>) -> aws_sdk_route53::Client {
        client!(self, aws_sdk_route53, "route53", &t.sdk, &t.id, home_region(t), calls)
    }

    pub fn cloudfront(&self, t: &AccountTarget, calls: &Arc<Counters>) -> aws_sdk_cloudfront::Client {
        client!(self, aws_sdk_cloudfront, "cloudfront", &t.sdk, &t.id, home_region(t), calls)
    }

    pub fn servicequotas(
        &self,
        t: &AccountTarget,
        region: &str,
        calls: &Arc<Counters>,
    ) -> aws_sdk_servicequotas::Client {
        client!(self, aws_sdk_servicequotas, "servicequotas", &t.sdk, &t.id, region, calls)
    }

    pub fn kms(&self, t: &AccountTarget, region: &str, calls: &Arc<Counters>) -> aws_sdk_kms::Client {
        client!(self, aws_sdk_kms, "kms", &t.sdk, &t.id, region, calls)
    }

    pub fn sqs(&self, t: &AccountTarget, region: &str, calls: &Arc<Counters>) -> aws_sdk_sqs::Client {
        client!(self, aws_sdk_sqs, "sqs", &t.sdk, &t.id, region, calls)
    }

    pub fn sns(&self, t: &AccountTarget, region: &str, calls: &Arc<Counters>) -> aws_sdk_sns::Client {
        client!(self, aws_sdk_sns, "sns", &t.sdk, &t.id, region, calls)
    }

    pub fn lambda(&self, t: &AccountTarget, region: &str, calls: &Arc<Counters>) -> aws_sdk_lambda::Client {
        client!(self, aws_sdk_lambda, "lambda", &t.sdk, &t.id, region, calls)
    }

    pub fn ecr(&self, t: &AccountTarget, region: &str, calls: &Arc<Counters>) -> aws_sdk_ecr::Client {
        client!(self, aws_sdk_ecr, "ecr", &t.sdk, &t.id, region, calls)
    }

    pub fn secretsmanager(
        &self,
        t: &AccountTarget,
        region: &str,
        calls: &Arc<Counters>,
    ) -> aws_sdk_secretsmanager::Client {
        client!(self, aws_sdk_secretsmanager, "secretsmanager", &t.sdk, &t.id, region, calls)
    }

    pub fn rds(&self, t: &AccountTarget, region: &str, calls: &Arc<Counters>) -> aws_sdk_rds::Client {
        client!(self, aws_sdk_rds, "rds", &t.sdk, &t.id, region, calls)
    }

    /// CloudTrail answers are best-effort extras: two attempts, short waits.
    pub fn cloudtrail(&self, t: &AccountTarget, region: &str, calls: &Arc<Counters>) -> aws_sdk_cloudtrail::Client {
        let retry = RetryConfig::standard().with_max_attempts(2).with_max_backoff(Duration::from_secs(2));
        client!(self, aws_sdk_cloudtrail, "cloudtrail", &t.sdk, &t.id, region, calls, retry_config(retry))
    }

    /// Run `f` for every account × region, at most `[aws] concurrency` at once.
    /// Results come back in account, region order.
    pub async fn for_each_region<T, F, Fut>(
        &self,
        accounts: &[AccountTarget],
        f: F,
    ) -> Result<Vec<(AccountTarget, String, T)>, AwsError>
    where
        F: Fn(AccountTarget, String) -> Fut,
        Fut: Future<Output = T>,
    {
        let mut per_account = Vec::new();
        for a in accounts {
            per_account.push((a, self.regions_of(&a.id)?));
        }
        let jobs: Vec<(usize, AccountTarget, String)> = per_account
            .into_iter()
            .flat_map(|(a, regions)| regions.into_iter().map(move |r| (a.clone(), r)))
            .enumerate()
            .map(|(i, (a, r))| (i, a, r))
            .collect();
        let f = &f;
        let mut out: Vec<(usize, AccountTarget, String, T)> = futures::stream::iter(jobs)
            .map(|(i, a, r)| async move {
                let v = f(a.clone(), r.clone()).await;
                (i, a, r, v)
            })
            .buffer_unordered(self.cfg.concurrency.max(1))
            .collect()
            .await;
        out.sort_by_key(|(i, ..)| *i);
        Ok(out.into_iter().map(|(_, a, r, v)| (a, r, v)).collect())
    }

    /// Run `f` once per account (global services: IAM, S3 listing).
    pub async fn for_each_account<T, F, Fut>(&self, accounts: &[AccountTarget], f: F) -> Vec<(AccountTarget, T)>
    where
        F: Fn(AccountTarget) -> Fut,
        Fut: Future<Output = T>,
    {
        let f = &f;
        futures::stream::iter(accounts.iter().cloned())
            .map(|a| async move { (a.clone(), f(a).await) })
            .buffered(self.cfg.concurrency.max(1))
            .collect()
            .await
    }
}

/// Labels of a `[[aws.accounts]]` account's findings: its labels, and its
/// name as `account_name` when it has one besides its id.
fn static_labels(a: &troop_config::Account) -> BTreeMap<String, String> {
    let mut l = a.labels.clone();
    if a.name != a.id {
        l.insert("account_name".into(), a.name.clone());
    }
    l
}

/// The access coverage of an account: its [`ACCESS_SCOPE`], every region.
fn access_coverage(t: &AccountTarget) -> troop_core::monkey::Coverage {
    troop_core::monkey::Coverage { scope: ACCESS_SCOPE.into(), account: t.id.clone(), region: "*".into() }
}

/// The one `read-error` of an account whose role could not be assumed.
fn access_error(monkey: &str, t: &AccountTarget, reason: &str) -> troop_core::Finding {
    troop_core::Finding {
        monkey: monkey.into(),
        kind: "read-error".into(),
        severity: troop_core::Severity::Warning,
        account: t.id.clone(),
        region: "*".into(),
        resource: t.id.clone(),
        title: format!("{monkey} monkey could not read account {}: {reason}", t.id),
        details: serde_json::json!({"technology": ACCESS_SCOPE, "reason": reason}),
        labels: Default::default(),
        scope: ACCESS_SCOPE.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn target(id: &str) -> AccountTarget {
        AccountTarget {
            id: id.into(),
            name: id.into(),
            labels: BTreeMap::new(),
            sdk: SdkConfig::builder().build(),
            role_arn: None,
            external_id: None,
        }
    }

    #[tokio::test]
    async fn fan_out_is_bounded_ordered_and_global_work_runs_once_per_account() {
        let cfg = troop_config::Aws {
            regions: vec!["r1".into(), "r2".into(), "r3".into()],
            endpoint_url: Some("http://127.0.0.1:9".into()),
            accounts: vec![],
            known_accounts: vec![],
            concurrency: 2,
            max_attempts: 4,
            max_backoff: Duration::from_secs(20),
            endpoints: [("cloudtrail".to_string(), "http://127.0.0.1:7".to_string())].into(),
            request_rate: BTreeMap::new(),
            organization: None,
        };
        let ctx = AwsContext::new(&cfg).await;
        let accounts = vec![target("a"), target("b")];
        let active = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let out = ctx
            .for_each_region(&accounts, |t, r| {
                let (active, peak) = (&active, &peak);
                async move {
                    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    // later jobs finish first: order must still come back sorted
                    let ms = if t.id == "a" { 30 } else { 5 };
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    active.fetch_sub(1, Ordering::SeqCst);
                    format!("{}/{r}", t.id)
                }
            })
            .await
            .unwrap();
        let got: Vec<String> = out.into_iter().map(|(_, _, v)| v).collect();
        assert_eq!(got, ["a/r1", "a/r2", "a/r3", "b/r1", "b/r2", "b/r3"]);
        assert_eq!(peak.load(Ordering::SeqCst), 2);

        let calls = AtomicUsize::new(0);
        let per_account = ctx
            .for_each_account(&accounts, |t| {
                let calls = &calls;
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    t.id
                }
            })
            .await;
        assert_eq!(per_account.into_iter().map(|(_, v)| v).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(ctx.endpoint(), Some("http://127.0.0.1:9"));
        assert_eq!(ctx.endpoint_for("cloudtrail"), Some("http://127.0.0.1:7"));
        assert_eq!(ctx.endpoint_for("ec2"), Some("http://127.0.0.1:9"));
    }
}
