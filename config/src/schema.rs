//! The configuration model and the walk that builds and validates it.

use crate::diag::{ConfigErrors, Needed, Sink, codes};
use crate::secret::Secret;
use crate::walk::{Sp, Tbl, type_name};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use toml::de::{DeTable, DeValue};

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub agent: Agent,
    pub aws: Aws,
    pub monkeys: Monkeys,
    pub alerts: Alerts,
    /// The file this came from, if any.
    pub source: Option<PathBuf>,
    /// What start-up reads outside the file (environment, files, the store),
    /// with where the file asks for it; see `troop_config::check_needs`.
    pub needs: Vec<crate::diag::Need>,
    /// Settings that work but are unsafe unless the file explicitly allows
    /// them (a password sent in clear): `troop config check` prints them as
    /// warnings and exits 0; commands that start something refuse them.
    pub warnings: Vec<crate::diag::Diagnostic>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// `sqlite://PATH` or `postgres://USER@HOST[:PORT]/DB[?sslmode=…]`
    /// (`postgresql://` too); a relative PATH is relative to the config
    /// file's directory once [`Config::resolve_paths`] ran.
    pub store: String,
    /// The PostgreSQL password (`store_password`), as a secret; wins over
    /// one written in the URL.
    pub store_password: Option<Secret>,
    pub listen: SocketAddr,
    /// How long a running pass may finish after SIGTERM before it is abandoned.
    pub shutdown_grace: Duration,
    /// How long a shard's lease lasts without renewal (`lease`, default 60 s):
    /// how soon another replica takes over the shards of one that died.
    pub lease: Duration,
    /// How often a held lease is renewed while its shard is read
    /// (`lease_renewal`, default a third of `lease`; shorter than `lease`).
    pub lease_renewal: Duration,
    /// Limits of the HTTP listener (`[agent.http]`).
    pub http: HttpLimits,
    /// TLS and who may do what on the HTTP surface (`[agent.http]`).
    pub http_access: HttpAccess,
}

/// `[agent.http]`: what one HTTP client may hold of the process. The names
/// follow Go's `net/http.Server` (`ReadHeaderTimeout`, `IdleTimeout`).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpLimits {
    /// A connection that has not sent a whole request head within this is
    /// closed (slow-header clients). Default 10 s.
    pub read_header_timeout: Duration,
    /// A connection with no bytes moving either way for this long is closed
    /// (a client or handler stalled mid-request; between requests the
    /// header timeout already applies). Default 60 s.
    pub idle_timeout: Duration,
    /// At most this many connections at once; more wait in the kernel's
    /// accept queue, holding no descriptor of troop's. Default 256, and never
    /// more than a quarter of the process's descriptor limit.
    pub max_connections: usize,
    /// A request body longer than this is refused with 413
    /// (`max_body_bytes`). Default 4 MiB: Prometheus sends at most 64
    /// alerts per request, a few tens of KiB.
    pub max_body_bytes: usize,
    /// Requests per second one client (its IP address) may make on average
    /// (`rate_limit`, default 50); over it the answer is 429 with
    /// `Retry-After`.
    pub rate_limit: f64,
    /// How many requests a client may make at once above the rate
    /// (`rate_burst`, default 100).
    pub rate_burst: u32,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 256,
            max_body_bytes: 4 << 20,
            rate_limit: 50.0,
            rate_burst: 100,
        }
    }
}

/// `[agent.http]`: TLS and authentication of the HTTP surface (SPEC "HTTP").
/// Field names follow Prometheus's exporter-toolkit web configuration
/// (`tls_server_config`, `basic_auth_users`), so one file's values carry over.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpAccess {
    /// Reads without a credential even though credentials are configured,
    /// or on a non-loopback `listen` without any.
    pub allow_anonymous_reads: bool,
    /// `[agent.http.tls_server_config]`: serve HTTPS only.
    pub tls: Option<TlsServer>,
    /// `[agent.http.basic_auth_users]`: user → bcrypt hash (`$2a$`, `$2b$`
    /// or `$2y$`, as `htpasswd -B` and exporter-toolkit write them).
    pub basic_auth_users: BTreeMap<String, String>,
    /// `[agent.http.user_scopes]`: a basic-auth user's scopes; a user not
    /// listed has `read` only.
    pub user_scopes: BTreeMap<String, Vec<Scope>>,
    /// `[[agent.http.tokens]]`: bearer tokens (RFC 6750) with their scopes.
    pub tokens: Vec<HttpToken>,
}

impl HttpAccess {
    /// Whether any credential (a basic-auth user or a token) is configured.
    pub fn credentials_configured(&self) -> bool {
        !self.basic_auth_users.is_empty() || !self.tokens.is_empty()
    }

    /// Whether every connection must present a client certificate that the
    /// client CA verifies (mTLS).
    pub fn mtls_required(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.client_auth_type == ClientAuthType::RequireAndVerifyClientCert)
    }

    /// The scopes of basic-auth user `user` (`read` unless
    /// `[agent.http.user_scopes]` says otherwise).
    pub fn user_scopes(&self, user: &str) -> Vec<Scope> {
        self.user_scopes.get(user).cloned().unwrap_or_else(|| vec![Scope::Read])
    }
}

pub use troop_core::api_access::Scope;

/// One `[[agent.http.tokens]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpToken {
    /// Who the token is, in logs and 403 messages (never the token).
    pub name: String,
    pub token: Secret,
    pub scopes: Vec<Scope>,
}

/// `[agent.http.tls_server_config]` (exporter-toolkit's names).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsServer {
    /// PEM: the server's certificate, then its chain.
    pub cert_file: PathBuf,
    /// PEM: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM: the CAs that sign client certificates (mTLS).
    pub client_ca_file: Option<PathBuf>,
    /// Default `RequireAndVerifyClientCert` with a `client_ca_file`,
    /// `NoClientCert` without.
    pub client_auth_type: ClientAuthType,
    /// `TLS12` (default) or `TLS13`.
    pub min_version: TlsVersion,
}

/// exporter-toolkit's `client_auth_type` values (Go's `tls.ClientAuthType`)
/// that troop serves: those that verify what they accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthType {
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// The lowest TLS version accepted (`min_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aws {
    /// Empty = the ambient region.
    pub regions: Vec<String>,
    pub endpoint_url: Option<String>,
    /// Empty = the account of the ambient credentials.
    pub accounts: Vec<Account>,
    /// Accounts trusted in IAM trust policies besides the configured ones.
    pub known_accounts: Vec<String>,
    /// At most this many account × region tasks at once.
    pub concurrency: usize,
    /// SDK attempts per call (adaptive retry mode), 1 = no retries.
    pub max_attempts: u32,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
    /// Per-service endpoint overrides (`cloudtrail`, `servicequotas`, ...),
    /// taking precedence over `endpoint_url` for that service.
    pub endpoints: BTreeMap<String, String>,
    /// Requests per second per service, per account and region
    /// (`[aws.request_rate] ec2 = 20`); services not named keep troop's default.
    pub request_rate: BTreeMap<String, f64>,
    /// `[aws.organization]`: the accounts of an AWS Organization, besides
    /// (and under) `accounts`.
    pub organization: Option<Organization>,
}

/// `[aws.organization]`: read the organization's accounts with the ambient
/// credentials (its management account or a delegated administrator:
/// Organizations `ListAccounts`, or `ListAccountsForParent` and
/// `ListOrganizationalUnitsForParent` under `ou_ids`; `ListTagsForResource`
/// per account) and assume `role_name` in each.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    /// The role assumed in each member account, `[path/]name`; `{account_id}`
    /// and `{account_name}` in it are replaced by the account's. The role
    /// ARN is `arn:{partition}:iam::{account_id}:role/{role_name}`.
    pub role_name: String,
    /// `sts:ExternalId` of the AssumeRole calls, when the roles require one.
    pub external_id: Option<String>,
    /// Only accounts under these OUs (or roots), at any depth; empty = all.
    pub ou_ids: Vec<String>,
    /// Only accounts with every one of these tags (key = value).
    pub account_tags: BTreeMap<String, String>,
    /// How long one reading of the organization is used before it is read again.
    pub refresh: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    /// Extra labels attached to every finding of this account.
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonkeyCommon {
    pub enabled: bool,
    pub interval: Duration,
    pub timeout: Duration,
    /// Fraction of the interval, 0 to 0.5.
    pub jitter: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Monkeys {
    pub security: Security,
    pub certs: Certs,
    pub limits: Limits,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Security {
    pub common: MonkeyCommon,
    /// `technologies`: the technologies to read, as full names
    /// (`troop_core::security::TECHNOLOGIES`, in that order); the config may
    /// name a service for all of its own (`iam`). Default: every one.
    pub technologies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Certs {
    pub common: MonkeyCommon,
    /// Descending, distinct, positive.
    pub thresholds_days: Vec<u32>,
    pub endpoints: Vec<String>,
    pub nameservers: Vec<SocketAddr>,
    pub extra_ca_files: Vec<PathBuf>,
    /// Connect, STARTTLS and handshake of one address, together.
    pub probe_timeout: Duration,
    /// Probes in flight at once, in all.
    pub concurrency: usize,
    /// Probes in flight at once against one host name.
    pub per_host_concurrency: usize,
    /// PEM files or globs on the agent's host.
    pub files: Vec<String>,
    pub owners: Vec<CertOwner>,
    /// Where to look: endpoints, files, route53, acm, iam, elbv2, cloudfront.
    pub sources: Vec<String>,
    /// Ports probed on names found in AWS (Route53 records, CloudFront aliases).
    pub aws_probe_ports: Vec<u16>,
    /// Probe load balancers' DNS names on their listener ports (elbv2 source).
    pub probe_load_balancers: bool,
}

/// Service Quotas service codes the limits monkey knows.
pub const LIMIT_SERVICES: &[&str] = &["vpc", "ec2", "ebs", "elasticloadbalancing", "autoscaling", "iam", "s3"];

pub const CERT_SOURCES: &[&str] = &["endpoints", "files", "route53", "acm", "iam", "elbv2", "cloudfront"];

impl Certs {
    pub fn source_enabled(&self, s: &str) -> bool {
        self.sources.iter().any(|x| x == s)
    }
}

/// Who to tell about a certificate: the first entry whose every given
/// matcher matches names the contact.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CertOwner {
    /// A glob over the certificate's host or SANs: `*.example.com`, `example.com`.
    pub domain: Option<String>,
    pub account: Option<String>,
    pub contact: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub common: MonkeyCommon,
    pub warning: f64,
    pub critical: f64,
    /// Per quota, keyed `service/quota_code` (e.g. `ec2/L-1216C47A`).
    pub overrides: BTreeMap<String, QuotaOverride>,
    /// Read applied and default values from Service Quotas (off: limits come
    /// from overrides, service APIs and the built-in table).
    pub service_quotas: bool,
    /// The services whose quotas are checked (Service Quotas service codes).
    pub services: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuotaOverride {
    pub limit: Option<f64>,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    pub ignore: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alerts {
    pub sinks: Vec<SinkConfig>,
    pub routes: Vec<RouteConfig>,
    /// Where findings no route takes go. `None` = every sink when no routes
    /// are configured, nowhere otherwise.
    pub default_sinks: Option<Vec<String>>,
    /// Grouping and timing of routes that do not set their own.
    pub group_by: Vec<String>,
    pub timing: troop_core::alerting::Timing,
    /// Delivery retries: first wait, longest wait.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// `[alerts.posted]`: alerts posted to `POST /api/v2/alerts`.
    pub posted: Posted,
}

/// `[alerts.posted]`: how posted alerts become findings.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    /// Their monkey name (`source`, default `external`); never one of the
    /// monkeys', so a post cannot pass for a monkey's finding.
    pub source: String,
    /// How long an alert posted without `endsAt` fires unless posted again
    /// (`resolve_timeout`, Alertmanager's name; default 5m).
    pub resolve_timeout: Duration,
}

impl Default for Posted {
    fn default() -> Self {
        Posted { source: troop_core::alerting::posted::EXTERNAL.into(), resolve_timeout: Duration::from_secs(300) }
    }
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            sinks: Alerts::default_sinks(),
            routes: vec![],
            default_sinks: None,
            group_by: troop_core::alerting::DEFAULT_GROUP_BY.iter().map(|s| s.to_string()).collect(),
            timing: troop_core::alerting::Timing::default(),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            posted: Posted::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    pub name: String,
    pub kind: SinkKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SinkKind {
    Stdout,
    Jsonl {
        path: PathBuf,
    },
    /// `secret`: HMAC-SHA256 key; the signature goes in `X-Troop-Signature`.
    Webhook {
        url: Secret,
        secret: Option<Secret>,
    },
    /// Incoming webhook; `template`: a minijinja file for the message text.
    Slack {
        url: Secret,
        template: Option<PathBuf>,
    },
    /// Events API v2; `url` defaults to PagerDuty's.
    Pagerduty {
        routing_key: Secret,
        url: String,
    },
    Smtp {
        /// host:port
        server: String,
        /// `starttls` (default), `tls` (implicit TLS, port 465) or `none`.
        security: SmtpSecurity,
        /// A PEM CA trusted beside the system roots (an internal relay).
        ca_file: Option<PathBuf>,
        from: String,
        /// Always receive (the route's recipients); also the fallback when no
        /// finding names an owner address.
        to: Vec<String>,
        /// Also send to each finding's `owner` label when it is an address.
        to_owners: bool,
        /// When no one else would receive a message.
        fallback: Option<String>,
        username: Option<String>,
        password: Option<Secret>,
        /// minijinja files overriding the subject, text and HTML bodies.
        subject_template: Option<PathBuf>,
        text_template: Option<PathBuf>,
        html_template: Option<PathBuf>,
    },
    /// POST /api/v2/alerts; firing alerts are re-posted every `resend_interval`
    /// with `endsAt` four intervals ahead, resolved ones with `endsAt` = now.
    Alertmanager {
        url: String,
        resend_interval: Duration,
    },
    /// Runs a program with the notification JSON on stdin (the remediation hook).
    Command {
        command: Vec<String>,
        timeout: Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    StartTls,
    Tls,
    None,
}

impl SinkKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkKind::Stdout => "stdout",
            SinkKind::Jsonl { .. } => "jsonl",
            SinkKind::Webhook { .. } => "webhook",
            SinkKind::Slack { .. } => "slack",
            SinkKind::Pagerduty { .. } => "pagerduty",
            SinkKind::Smtp { .. } => "smtp",
            SinkKind::Alertmanager { .. } => "alertmanager",
            SinkKind::Command { .. } => "command",
        }
    }
}

pub const SINK_TYPES: &[&str] =
    &["stdout", "jsonl", "webhook", "slack", "pagerduty", "smtp", "alertmanager", "command"];

#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// `match = { k = "v" }` entries as `k=v`, then `matchers = [...]`.
    pub matchers: Vec<troop_core::alerting::Matcher>,
    pub sinks: Vec<String>,
    pub continue_: bool,
    /// `None` = `[alerts] group_by`.
    pub group_by: Option<Vec<String>>,
    pub group_wait: Option<Duration>,
    pub group_interval: Option<Duration>,
    pub repeat_interval: Option<Duration>,
    pub send_resolved: Option<bool>,
}

fn common(enabled: bool, interval_secs: u64) -> MonkeyCommon {
    MonkeyCommon {
        enabled,
        interval: Duration::from_secs(interval_secs),
        timeout: Duration::from_secs((interval_secs / 2).clamp(60, 1800)),
        jitter: 0.1,
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            agent: Agent {
                store: "sqlite://troop.db".into(),
                store_password: None,
                listen: SocketAddr::from(([127, 0, 0, 1], 9477)),
                shutdown_grace: Duration::from_secs(3),
                lease: Duration::from_secs(60),
                lease_renewal: Duration::from_secs(20),
                http: HttpLimits::default(),
                http_access: HttpAccess::default(),
            },
            aws: Aws {
                regions: vec![],
                endpoint_url: None,
                accounts: vec![],
                known_accounts: vec![],
                concurrency: 8,
                max_attempts: 4,
                max_backoff: Duration::from_secs(20),
                endpoints: BTreeMap::new(),
                request_rate: BTreeMap::new(),
                organization: None,
            },
            monkeys: Monkeys {
                security: Security {
                    common: common(true, 15 * 60),
                    technologies: troop_core::security::TECHNOLOGIES.iter().map(|t| t.to_string()).collect(),
                },
                certs: Certs {
                    common: common(true, 6 * 3600),
                    thresholds_days: vec![30, 14, 7, 1],
                    endpoints: vec![],
                    nameservers: vec![],
                    extra_ca_files: vec![],
                    probe_timeout: Duration::from_secs(5),
                    concurrency: 64,
                    per_host_concurrency: 4,
                    files: vec![],
                    owners: vec![],
                    sources: CERT_SOURCES.iter().map(|s| s.to_string()).collect(),
                    aws_probe_ports: vec![443],
                    probe_load_balancers: true,
                },
                limits: Limits {
                    common: common(true, 3600),
                    warning: 0.80,
                    critical: 0.95,
                    overrides: BTreeMap::new(),
                    service_quotas: true,
                    services: LIMIT_SERVICES.iter().map(|s| s.to_string()).collect(),
                },
            },
            alerts: Alerts::default(),
            source: None,
            needs: vec![],
            warnings: vec![],
        }
    }
}

pub(crate) fn parse(src: &str, origin: &str) -> Result<Config, ConfigErrors> {
    let mut sink = Sink::new(src);
    let doc = match DeTable::parse(src) {
        Ok(d) => d,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let msg = e.message().trim().to_string();
            sink.error(codes::SYNTAX, span, format!("invalid TOML: {msg}"));
            return Err(sink.finish(origin).unwrap_err());
        }
    };
    let mut root = Tbl::new(doc.get_ref(), doc.span(), String::new());
    let mut cfg = Config::default();
    if let Some(mut t) = root.table(&mut sink, "agent") {
        agent(&mut t, &mut sink, &mut cfg.agent);
        t.finish(&mut sink);
    }
    if let Some(mut t) = root.table(&mut sink, "aws") {
        aws(&mut t, &mut sink, &mut cfg.aws);
        t.finish(&mut sink);
    }
    if let Some(mut t) = root.table(&mut sink, "monkeys") {
        monkeys(&mut t, &mut sink, &mut cfg.monkeys);
        t.finish(&mut sink);
    }
    if let Some(mut t) = root.table(&mut sink, "alerts") {
        cfg.alerts = alerts(&mut t, &mut sink);
        t.finish(&mut sink);
    }
    root.finish(&mut sink);
    cfg.needs = std::mem::take(&mut sink.needs);
    cfg.warnings = std::mem::take(&mut sink.warnings);
    sink.finish(origin)?;
    Ok(cfg)
}

fn duration(t: &mut Tbl, sink: &mut Sink, key: &'static str, min: Duration) -> Option<Duration> {
    let s = t.string(sink, key)?;
    match humantime::parse_duration(s.v.trim()) {
        Ok(d) if d >= min => Some(d),
        Ok(_) => {
            sink.error(
                codes::INVALID_DURATION,
                s.span,
                format!("`{key}` must be at least {}", humantime::format_duration(min)),
            );
            None
        }
        Err(e) => {
            sink.error(
                codes::INVALID_DURATION,
                s.span,
                format!("`{key}` = \"{}\" is not a duration ({e}); write e.g. \"90s\", \"15m\", \"6h\", \"7d\"", s.v),
            );
            None
        }
    }
}

fn agent(t: &mut Tbl, sink: &mut Sink, a: &mut Agent) {
    if let Some(s) = t.string(sink, "store") {
        let postgres = s.v.starts_with("postgres://") || s.v.starts_with("postgresql://");
        if s.v.starts_with("sqlite://") && s.v.len() > "sqlite://".len() || postgres {
            sink.need(s.span, Needed::Store(s.v.clone()));
            a.store = s.v;
        } else {
            sink.error(codes::INVALID_URL, s.span, "`store` must be `sqlite://PATH` or `postgres://USER@HOST/DB`");
        }
    }
    a.store_password = secret(t, sink, "store_password");
    let mut listen_span = None;
    if let Some(s) = t.string(sink, "listen") {
        match s.v.parse::<SocketAddr>() {
            Ok(addr) => {
                a.listen = addr;
                listen_span = Some(s.span);
            }
            Err(_) => {
                sink.error(codes::INVALID_VALUE, s.span, format!("`listen` = \"{}\" is not an IP:PORT address", s.v))
            }
        }
    }
    if let Some(d) = duration(t, sink, "shutdown_grace", Duration::ZERO) {
        a.shutdown_grace = d;
    }
    if let Some(d) = duration(t, sink, "lease", Duration::from_secs(3)) {
        a.lease = d;
        a.lease_renewal = d / 3;
    }
    if let Some(s) = t.string(sink, "lease_renewal") {
        match humantime::parse_duration(s.v.trim()) {
            Ok(d) if d >= Duration::from_millis(100) && d < a.lease => a.lease_renewal = d,
            Ok(_) => sink.error(
                codes::INVALID_DURATION,
                s.span,
                format!(
                    "`lease_renewal` must be at least 100ms and shorter than `lease` ({}), or the lease lapses while held",
                    humantime::format_duration(a.lease)
                ),
            ),
            Err(e) => sink.error(codes::INVALID_DURATION, s.span, format!("\"{}\" is not a duration: {e}", s.v)),
        }
    }
    if let Some(mut h) = t.table(sink, "http") {
        let floor = Duration::from_millis(100);
        if let Some(d) = duration(&mut h, sink, "read_header_timeout", floor) {
            a.http.read_header_timeout = d;
        }
        if let Some(d) = duration(&mut h, sink, "idle_timeout", floor) {
            a.http.idle_timeout = d;
        }
        if let Some(n) = h.integer(sink, "max_connections") {
            if (1..=65_536).contains(&n.v) {
                a.http.max_connections = n.v as usize;
            } else {
                sink.error(codes::INVALID_VALUE, n.span, "`max_connections` must be between 1 and 65536");
            }
        }
        if let Some(n) = h.integer(sink, "max_body_bytes") {
            if (1024..=1 << 30).contains(&n.v) {
                a.http.max_body_bytes = n.v as usize;
            } else {
                sink.error(codes::INVALID_VALUE, n.span, "`max_body_bytes` must be between 1024 and 1073741824");
            }
        }
        if let Some(n) = h.number(sink, "rate_limit") {
            if n.v > 0.0 && n.v.is_finite() {
                a.http.rate_limit = n.v;
            } else {
                sink.error(
                    codes::INVALID_VALUE,
                    n.span,
                    "`rate_limit` (requests per second per client) must be above 0",
                );
            }
        }
        if let Some(n) = h.integer(sink, "rate_burst") {
            if (1..=1_000_000).contains(&n.v) {
                a.http.rate_burst = n.v as u32;
            } else {
                sink.error(codes::INVALID_VALUE, n.span, "`rate_burst` must be between 1 and 1000000");
            }
        }
        a.http_access = http_access(&mut h, sink);
        h.finish(sink);
    }
    if let Some(span) = listen_span
        && !a.listen.ip().is_loopback()
        && !a.http_access.credentials_configured()
        && !a.http_access.mtls_required()
        && !a.http_access.allow_anonymous_reads
    {
        sink.error(
            codes::UNAUTHENTICATED_LISTEN,
            span,
            format!(
                "`listen` = \"{}\" is reachable from the network, and [agent.http] configures no credential: \
                 anyone who reaches it could read every finding. Configure [agent.http.basic_auth_users] or \
                 [[agent.http.tokens]] (see `troop config example`), or set [agent.http] \
                 allow_anonymous_reads = true to publish it on purpose",
                a.listen
            ),
        );
    }
}

/// The TLS and authentication keys of `[agent.http]`.
fn http_access(h: &mut Tbl, sink: &mut Sink) -> HttpAccess {
    let mut out = HttpAccess::default();
    if let Some(b) = h.boolean(sink, "allow_anonymous_reads") {
        out.allow_anonymous_reads = b;
    }
    if let Some(mut t) = h.table(sink, "tls_server_config") {
        let span = t.span.clone();
        let cert = t.string(sink, "cert_file");
        let cert = t.require(sink, "cert_file", cert);
        let key = t.string(sink, "key_file");
        let key = t.require(sink, "key_file", key);
        let ca = t.string(sink, "client_ca_file");
        let auth = t.string(sink, "client_auth_type");
        let version = t.string(sink, "min_version");
        let client_auth_type = match (auth, &ca) {
            (None, Some(_)) => Some(ClientAuthType::RequireAndVerifyClientCert),
            (None, None) => Some(ClientAuthType::NoClientCert),
            (Some(a), ca) => match (a.v.as_str(), ca) {
                ("NoClientCert", _) => Some(ClientAuthType::NoClientCert),
                ("VerifyClientCertIfGiven", Some(_)) => Some(ClientAuthType::VerifyClientCertIfGiven),
                ("RequireAndVerifyClientCert", Some(_)) => Some(ClientAuthType::RequireAndVerifyClientCert),
                ("VerifyClientCertIfGiven" | "RequireAndVerifyClientCert", None) => {
                    sink.error(
                        codes::MISSING_KEY,
                        a.span,
                        format!("`client_auth_type` = \"{}\" needs `client_ca_file` (the CAs that sign client certificates)", a.v),
                    );
                    None
                }
                ("RequestClientCert" | "RequireAnyClientCert", _) => {
                    sink.error(
                        codes::INVALID_VALUE,
                        a.span,
                        format!(
                            "`client_auth_type` = \"{}\" accepts certificates nobody verified; troop serves \
                             NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert",
                            a.v
                        ),
                    );
                    None
                }
                (other, _) => {
                    sink.error(
                        codes::INVALID_VALUE,
                        a.span,
                        format!(
                            "unknown `client_auth_type` \"{other}\" (one of: NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
                        ),
                    );
                    None
                }
            },
        };
        let min_version = match version.as_ref().map(|v| v.v.as_str()) {
            None | Some("TLS12") => Some(TlsVersion::Tls12),
            Some("TLS13") => Some(TlsVersion::Tls13),
            Some(other) => {
                let v = version.as_ref().expect("matched Some");
                let why = if matches!(other, "TLS10" | "TLS11") { "TLS 1.0 and 1.1 are not served" } else { "unknown" };
                sink.error(
                    codes::INVALID_VALUE,
                    v.span.clone(),
                    format!("`min_version` = \"{other}\": {why} (one of: TLS12, TLS13)"),
                );
                None
            }
        };
        t.finish(sink);
        if let (Some(cert), Some(key), Some(client_auth_type), Some(min_version)) =
            (cert, key, client_auth_type, min_version)
        {
            let mut files =
                vec![(cert.span.clone(), PathBuf::from(&cert.v)), (key.span.clone(), PathBuf::from(&key.v))];
            if let Some(ca) = &ca {
                files.push((ca.span.clone(), PathBuf::from(&ca.v)));
            }
            for (span, path) in files {
                sink.need(span, Needed::File(path));
            }
            let tls = TlsServer {
                cert_file: PathBuf::from(cert.v),
                key_file: PathBuf::from(key.v),
                client_ca_file: ca.map(|c| PathBuf::from(c.v)),
                client_auth_type,
                min_version,
            };
            sink.need(span, Needed::TlsServer(tls.clone()));
            out.tls = Some(tls);
        }
    }
    for (user, hash) in h.string_map(sink, "basic_auth_users").unwrap_or_default() {
        if is_bcrypt_hash(&hash.v) {
            out.basic_auth_users.insert(user.v, hash.v);
        } else {
            // never echo the value: it may be a password put there by mistake
            sink.error(
                codes::INVALID_VALUE,
                hash.span,
                format!(
                    "the password of `{}` must be a bcrypt hash (\"$2y$10$…\", 60 characters), as `htpasswd -nB {}` prints",
                    user.v, user.v
                ),
            );
        }
    }
    for (user, names) in h.strings_map(sink, "user_scopes").unwrap_or_default() {
        if !out.basic_auth_users.contains_key(&user.v) {
            sink.error(
                codes::INVALID_VALUE,
                user.span.clone(),
                format!("`{}` is not a user of [agent.http.basic_auth_users]", user.v),
            );
        }
        out.user_scopes.insert(user.v, scopes(sink, names));
    }
    let mut token_names = BTreeMap::new();
    for mut t in h.tables(sink, "tokens") {
        let name = t.string(sink, "name");
        let name = t.require(sink, "name", name);
        let token = secret(&mut t, sink, "token");
        let token = t.require(sink, "token", token);
        let names = t.strings(sink, "scopes");
        let names = t.require(sink, "scopes", names);
        t.finish(sink);
        if let Some(n) = &name
            && token_names.insert(n.v.clone(), ()).is_some()
        {
            sink.error(codes::DUPLICATE_NAME, n.span.clone(), format!("token name \"{}\" is used twice", n.v));
        } else if let Some(n) = &name
            && out.basic_auth_users.contains_key(&n.v)
        {
            // one name, one caller: the name authors silences and binds the
            // page's form tokens
            sink.error(
                codes::DUPLICATE_NAME,
                n.span.clone(),
                format!(
                    "token name \"{}\" is also a user of [agent.http.basic_auth_users]: a name is one caller (the author of its silences); rename one",
                    n.v
                ),
            );
        }
        if let (Some(name), Some(token), Some(names)) = (name, token, names) {
            out.tokens.push(HttpToken { name: name.v, token, scopes: scopes(sink, names) });
        }
    }
    out
}

/// Scope names, each one of [`troop_core::api_access::SCOPES`].
fn scopes(sink: &mut Sink, names: Vec<Sp<String>>) -> Vec<Scope> {
    let mut out = Vec::new();
    for n in names {
        match Scope::parse(&n.v) {
            Some(s) if !out.contains(&s) => out.push(s),
            Some(_) => {}
            None => {
                let e = troop_core::known_name("scope", &n.v, troop_core::api_access::SCOPES).unwrap_err();
                sink.error(codes::INVALID_VALUE, n.span, e);
            }
        }
    }
    out
}

/// A bcrypt hash in the modular crypt format: `$2a$`, `$2b$`, `$2x$` or
/// `$2y$`, a two-digit cost from 04 to 31, then 53 characters of bcrypt's
/// base64 (22 of salt, 31 of hash).
fn is_bcrypt_hash(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 60
        && s.starts_with("$2")
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && s[4..6].parse::<u8>().is_ok_and(|c| (4..=31).contains(&c))
        && b[6] == b'$'
        && b[7..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/')
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn http_url(sink: &mut Sink, key: &str, s: &Sp<String>) -> bool {
    check_http_url(sink, key, s, false)
}

/// [`http_url`] for a value that may hold a token (a webhook URL given as a
/// literal secret): its diagnostics never show the value.
fn secret_http_url(sink: &mut Sink, key: &str, s: &Sp<String>) -> bool {
    check_http_url(sink, key, s, true)
}

fn check_http_url(sink: &mut Sink, key: &str, s: &Sp<String>, secret: bool) -> bool {
    match url::Url::parse(&s.v) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => true,
        Ok(u) => {
            sink.error(
                codes::INVALID_URL,
                s.span.clone(),
                format!("`{key}` must be an http(s) URL, not `{}:`", u.scheme()),
            );
            false
        }
        Err(e) if secret => {
            let msg = format!("`{key}` is not a URL ({e}); its value is not shown, as it may hold a token");
            sink.error(codes::INVALID_URL, s.span.clone(), msg);
            false
        }
        Err(e) => {
            sink.error(codes::INVALID_URL, s.span.clone(), format!("`{key}` = \"{}\" is not a URL ({e})", s.v));
            false
        }
    }
}

/// A list whose every entry must be one of `known`; unknown ones are errors.
fn known_names(t: &mut Tbl, sink: &mut Sink, key: &'static str, known: &[&str], what: &str) -> Option<Vec<String>> {
    let items = t.strings(sink, key)?;
    let mut out = Vec::new();
    for item in items {
        if known.contains(&item.v.as_str()) {
            out.push(item.v);
        } else {
            let hint =
                troop_core::closest(&item.v, known).map(|k| format!("; did you mean \"{k}\"?")).unwrap_or_default();
            sink.error(
                codes::INVALID_VALUE,
                item.span,
                format!("unknown {what} \"{}\"{hint} (known: {})", item.v, known.join(", ")),
            );
        }
    }
    Some(out)
}

fn is_service_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn aws(t: &mut Tbl, sink: &mut Sink, a: &mut Aws) {
    if let Some(regions) = t.strings(sink, "regions") {
        a.regions.clear();
        for r in regions {
            if is_region(&r.v) {
                if !a.regions.contains(&r.v) {
                    a.regions.push(r.v);
                }
            } else {
                sink.error(
                    codes::INVALID_VALUE,
                    r.span,
                    format!("\"{}\" is not an AWS region name (like \"us-east-1\")", r.v),
                );
            }
        }
    }
    if let Some(u) = t.string(sink, "endpoint_url")
        && http_url(sink, "endpoint_url", &u)
    {
        a.endpoint_url = Some(u.v);
    }
    if let Some(n) = t.integer(sink, "concurrency") {
        if (1..=256).contains(&n.v) {
            a.concurrency = n.v as usize;
        } else {
            sink.error(codes::INVALID_VALUE, n.span, "`concurrency` must be between 1 and 256");
        }
    }
    if let Some(n) = t.integer(sink, "max_attempts") {
        if (1..=20).contains(&n.v) {
            a.max_attempts = n.v as u32;
        } else {
            sink.error(codes::INVALID_VALUE, n.span, "`max_attempts` must be between 1 and 20");
        }
    }
    if let Some(d) = duration(t, sink, "max_backoff", Duration::from_millis(1)) {
        a.max_backoff = d;
    }
    if let Some(eps) = t.string_map(sink, "endpoints") {
        for (service, url) in eps {
            if !is_service_name(&service.v) {
                sink.error(
                    codes::INVALID_VALUE,
                    service.span,
                    format!("\"{}\" is not a service name (like \"cloudtrail\")", service.v),
                );
            } else if http_url(sink, "endpoints", &url) {
                a.endpoints.insert(service.v, url.v);
            }
        }
    }
    if let Some(mut rates) = t.table(sink, "request_rate") {
        for service in rates.keys() {
            let Some(n) = rates.number_dyn(sink, &service) else { continue };
            if !is_service_name(&service) {
                sink.error(codes::INVALID_VALUE, n.span, format!("\"{service}\" is not a service name (like \"ec2\")"));
            } else if n.v > 0.0 && n.v <= 10_000.0 {
                a.request_rate.insert(service, n.v);
            } else {
                sink.error(
                    codes::INVALID_VALUE,
                    n.span,
                    format!("`request_rate.{service}` must be between 0 and 10000 requests per second"),
                );
            }
        }
        rates.finish_all_known();
    }
    if let Some(ids) = t.strings(sink, "known_accounts") {
        for id in ids {
            if is_account_id(&id.v) {
                a.known_accounts.push(id.v);
            } else {
                sink.error(codes::INVALID_VALUE, id.span, format!("\"{}\" is not a 12-digit AWS account id", id.v));
            }
        }
    }
    if let Some(mut o) = t.table(sink, "organization") {
        a.organization = organization(&mut o, sink);
        o.finish(sink);
    }
    let mut names: BTreeMap<String, ()> = BTreeMap::new();
    for mut acc in t.tables(sink, "accounts") {
        let id = acc.string(sink, "id");
        let id = acc.require(sink, "id", id);
        let name = acc.string(sink, "name");
        let role_arn = acc.string(sink, "role_arn");
        let external_id = acc.string(sink, "external_id").map(|s| s.v);
        let labels = acc.string_map(sink, "labels").unwrap_or_default();
        let mut ok = true;
        if let Some(id) = &id {
            if !is_account_id(&id.v) {
                sink.error(
                    codes::INVALID_VALUE,
                    id.span.clone(),
                    format!("\"{}\" is not a 12-digit AWS account id", id.v),
                );
                ok = false;
            }
        } else {
            ok = false;
        }
        if let Some(n) = &name
            && names.insert(n.v.clone(), ()).is_some()
        {
            sink.error(codes::DUPLICATE_NAME, n.span.clone(), format!("account name \"{}\" is used twice", n.v));
        }
        if let Some(r) = &role_arn
            && !(r.v.starts_with("arn:aws") && r.v.contains(":role/"))
        {
            sink.error(codes::INVALID_VALUE, r.span.clone(), format!("\"{}\" is not an IAM role ARN", r.v));
            ok = false;
        }
        acc.finish(sink);
        if ok {
            let id = id.map(|i| i.v).unwrap_or_default();
            a.accounts.push(Account {
                name: name.map(|n| n.v).unwrap_or_else(|| id.clone()),
                id,
                role_arn: role_arn.map(|r| r.v),
                external_id,
                labels: labels.into_iter().map(|(k, v)| (k.v, v.v)).collect(),
            });
        }
    }
}

/// An IAM role's `[path/]name` (IAM's CreateRole: names of `\w+=,.@-`, at
/// most 64 characters), with `{account_id}` and `{account_name}` allowed.
fn is_role_name(s: &str) -> bool {
    let bare = s.replace("{account_id}", "a").replace("{account_name}", "a");
    let name = bare.rsplit('/').next().unwrap_or_default();
    !name.is_empty()
        && name.len() <= 64
        && !bare.starts_with('/')
        && bare.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-/".contains(c))
}

/// An OU id (`ou-` root part `-` id) or a root id (`r-…`), as Organizations
/// writes them.
fn is_ou_id(s: &str) -> bool {
    let lower = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    match s.split('-').collect::<Vec<_>>()[..] {
        ["ou", root, id] => lower(root) && lower(id) && root.len() >= 4 && id.len() >= 8,
        ["r", root] => lower(root) && root.len() >= 4,
        _ => false,
    }
}

fn organization(t: &mut Tbl, sink: &mut Sink) -> Option<Organization> {
    let role = t.string(sink, "role_name");
    let role = t.require(sink, "role_name", role);
    let external_id = t.string(sink, "external_id").map(|s| s.v);
    let mut ok = true;
    if let Some(r) = &role
        && !is_role_name(&r.v)
    {
        sink.error(
            codes::INVALID_VALUE,
            r.span.clone(),
            format!(
                "\"{}\" is not an IAM role name (letters, digits and _+=,.@-, a path before a /; {{account_id}} and {{account_name}} are replaced)",
                r.v
            ),
        );
        ok = false;
    }
    let mut ou_ids = Vec::new();
    for ou in t.strings(sink, "ou_ids").unwrap_or_default() {
        if is_ou_id(&ou.v) {
            ou_ids.push(ou.v);
        } else {
            sink.error(
                codes::INVALID_VALUE,
                ou.span,
                format!(
                    "\"{}\" is not an organizational unit id (like \"ou-ab12-cdef3456\") or root id (\"r-ab12\")",
                    ou.v
                ),
            );
            ok = false;
        }
    }
    let account_tags = t.string_map(sink, "account_tags").unwrap_or_default();
    let refresh = duration(t, sink, "refresh", Duration::from_secs(1)).unwrap_or(Duration::from_secs(3600));
    let role = role?;
    ok.then(|| Organization {
        role_name: role.v,
        external_id,
        ou_ids,
        account_tags: account_tags.into_iter().map(|(k, v)| (k.v, v.v)).collect(),
        refresh,
    })
}

fn monkey_common(t: &mut Tbl, sink: &mut Sink, c: &mut MonkeyCommon) {
    if let Some(b) = t.boolean(sink, "enabled") {
        c.enabled = b;
    }
    if let Some(d) = duration(t, sink, "interval", Duration::from_secs(1)) {
        c.interval = d;
    }
    if let Some(d) = duration(t, sink, "timeout", Duration::from_secs(1)) {
        c.timeout = d;
    }
    if let Some(j) = t.number(sink, "jitter") {
        if (0.0..=0.5).contains(&j.v) {
            c.jitter = j.v;
        } else {
            sink.error(codes::INVALID_VALUE, j.span, "`jitter` is a fraction of the interval between 0 and 0.5");
        }
    }
}

fn monkeys(t: &mut Tbl, sink: &mut Sink, m: &mut Monkeys) {
    if let Some(mut s) = t.table(sink, "security") {
        monkey_common(&mut s, sink, &mut m.security.common);
        security(&mut s, sink, &mut m.security);
        s.finish(sink);
    }
    if let Some(mut c) = t.table(sink, "certs") {
        monkey_common(&mut c, sink, &mut m.certs.common);
        certs(&mut c, sink, &mut m.certs);
        c.finish(sink);
    }
    if let Some(mut l) = t.table(sink, "limits") {
        monkey_common(&mut l, sink, &mut m.limits.common);
        limits(&mut l, sink, &mut m.limits);
        l.finish(sink);
    }
}

fn security(t: &mut Tbl, sink: &mut Sink, s: &mut Security) {
    let raw = t.raw("technologies");
    let span = raw.map(|v| v.span());
    let listed_none = raw.is_some_and(|v| matches!(v.get_ref(), DeValue::Array(a) if a.is_empty()));
    let filters = troop_core::security::technology_filters();
    if let Some(named) = known_names(t, sink, "technologies", &filters, "technology") {
        if named.is_empty() && !listed_none {
            return; // every name was wrong: each has its error
        }
        if named.is_empty() {
            sink.error(
                codes::INVALID_VALUE,
                span.unwrap_or(0..0),
                "`technologies` is empty: name at least one, or set `enabled = false` to stop the monkey",
            );
            return;
        }
        let wanted = |t: &str| named.iter().any(|n| n == t || t.split_once(':').is_some_and(|(svc, _)| svc == n));
        s.technologies =
            troop_core::security::TECHNOLOGIES.iter().filter(|t| wanted(t)).map(|t| t.to_string()).collect();
    }
}

fn certs(t: &mut Tbl, sink: &mut Sink, c: &mut Certs) {
    if let Some(days) = t.integers(sink, "thresholds_days") {
        let mut out: Vec<u32> = Vec::new();
        let mut ok = true;
        for d in days {
            if d.v <= 0 || d.v > 3650 {
                sink.error(codes::INVALID_THRESHOLD, d.span, "each of `thresholds_days` must be between 1 and 3650");
                ok = false;
            } else if out.contains(&(d.v as u32)) {
                sink.error(codes::INVALID_THRESHOLD, d.span, format!("threshold {} days is listed twice", d.v));
                ok = false;
            } else {
                out.push(d.v as u32);
            }
        }
        if ok {
            out.sort_unstable_by(|a, b| b.cmp(a));
            c.thresholds_days = out;
        }
    }
    if let Some(eps) = t.strings(sink, "endpoints") {
        for e in eps {
            match validate_endpoint(&e.v) {
                Ok(()) => c.endpoints.push(e.v),
                Err(msg) => sink.error(codes::INVALID_VALUE, e.span, msg),
            }
        }
    }
    if let Some(ns) = t.strings(sink, "nameservers") {
        for n in ns {
            let parsed =
                n.v.parse::<SocketAddr>()
                    .or_else(|_| n.v.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)));
            match parsed {
                Ok(a) => c.nameservers.push(a),
                Err(_) => {
                    sink.error(codes::INVALID_VALUE, n.span, format!("nameserver \"{}\" is not IP or IP:PORT", n.v))
                }
            }
        }
    }
    if let Some(files) = t.strings(sink, "extra_ca_files") {
        for f in &files {
            sink.need(f.span.clone(), Needed::File(PathBuf::from(&f.v)));
        }
        c.extra_ca_files = files.into_iter().map(|f| PathBuf::from(f.v)).collect();
    }
    if let Some(d) = duration(t, sink, "probe_timeout", Duration::from_millis(100)) {
        c.probe_timeout = d;
    }
    for (key, slot) in [("concurrency", &mut c.concurrency), ("per_host_concurrency", &mut c.per_host_concurrency)] {
        if let Some(n) = t.integer(sink, key) {
            if (1..=10_000).contains(&n.v) {
                *slot = n.v as usize;
            } else {
                sink.error(codes::INVALID_VALUE, n.span, format!("`{key}` must be between 1 and 10000"));
            }
        }
    }
    if let Some(files) = t.strings(sink, "files") {
        for f in files {
            match glob::Pattern::new(&f.v) {
                Ok(_) => c.files.push(f.v),
                Err(e) => {
                    sink.error(codes::INVALID_VALUE, f.span, format!("`{}` is not a valid path or glob: {e}", f.v))
                }
            }
        }
    }
    if let Some(sources) = known_names(t, sink, "sources", CERT_SOURCES, "certificate source") {
        c.sources = sources;
    }
    if let Some(ports) = t.integers(sink, "aws_probe_ports") {
        c.aws_probe_ports.clear();
        for p in ports {
            match u16::try_from(p.v) {
                Ok(port) if port > 0 => c.aws_probe_ports.push(port),
                _ => sink.error(codes::INVALID_VALUE, p.span, "ports are 1 to 65535"),
            }
        }
    }
    if let Some(b) = t.boolean(sink, "probe_load_balancers") {
        c.probe_load_balancers = b;
    }
    for mut o in t.tables(sink, "owners") {
        let domain = o.string(sink, "domain").map(|d| d.v);
        let account = o.string(sink, "account");
        let contact = o.string(sink, "contact");
        let contact = o.require(sink, "contact", contact);
        if let Some(a) = &account
            && !is_account_id(&a.v)
        {
            sink.error(codes::INVALID_VALUE, a.span.clone(), format!("\"{}\" is not a 12-digit AWS account id", a.v));
        }
        o.finish(sink);
        if let Some(contact) = contact {
            c.owners.push(CertOwner { domain, account: account.map(|a| a.v), contact: contact.v });
        }
    }
}

/// `host[:port]`, `[v6]:port`, or `smtp|imap|pop3://host[:port]`.
pub fn validate_endpoint(s: &str) -> Result<(), String> {
    let rest = match s.split_once("://") {
        Some((scheme, rest)) if ["smtp", "imap", "pop3", "https", "tls"].contains(&scheme) => rest,
        Some((scheme, _)) => {
            return Err(format!("endpoint \"{s}\": unsupported scheme `{scheme}` (use smtp, imap, pop3 or none)"));
        }
        None => s,
    };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err(format!("endpoint \"{s}\": unclosed `[`")),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() || host.contains('/') || host.contains(' ') {
        return Err(format!("endpoint \"{s}\" must be host[:port]"));
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(format!("endpoint \"{s}\": port must be 1-65535")),
        }
    }
    Ok(())
}

/// Read `warning`/`critical` from `t`, check 0 < warning < critical <= 1
/// against the defaults given, and return the pair when valid.
fn thresholds(t: &mut Tbl, sink: &mut Sink, warning: f64, critical: f64) -> Option<(Option<f64>, Option<f64>)> {
    let w = t.number(sink, "warning");
    let c = t.number(sink, "critical");
    let wv = w.as_ref().map_or(warning, |w| w.v);
    let cv = c.as_ref().map_or(critical, |c| c.v);
    let span = c.as_ref().or(w.as_ref()).map(|s| s.span.clone());
    if let Some(span) = span
        && !(0.0 < wv && wv < cv && cv <= 1.0)
    {
        sink.error(
            codes::INVALID_THRESHOLD,
            span,
            format!("thresholds must satisfy 0 < warning < critical <= 1 (warning = {wv}, critical = {cv})"),
        );
        return None;
    }
    Some((w.map(|w| w.v), c.map(|c| c.v)))
}

fn limits(t: &mut Tbl, sink: &mut Sink, l: &mut Limits) {
    if let Some(b) = t.boolean(sink, "service_quotas") {
        l.service_quotas = b;
    }
    if let Some(services) = known_names(t, sink, "services", LIMIT_SERVICES, "limits service") {
        l.services = services;
    }
    if let Some((w, c)) = thresholds(t, sink, l.warning, l.critical) {
        l.warning = w.unwrap_or(l.warning);
        l.critical = c.unwrap_or(l.critical);
    }
    if let Some(mut overrides) = t.table(sink, "overrides") {
        for key in overrides.keys() {
            let Some(mut o) = overrides.table_dyn(sink, &key) else { continue };
            let valid_key = key.split_once('/').is_some_and(|(svc, code)| !svc.is_empty() && !code.is_empty());
            if !valid_key {
                sink.error(
                    codes::INVALID_VALUE,
                    o.span.clone(),
                    format!("override key \"{key}\" must be service/quota_code, like \"ec2/L-1216C47A\""),
                );
            }
            let limit = o.number(sink, "limit");
            if let Some(l) = &limit
                && l.v < 0.0
            {
                sink.error(codes::INVALID_VALUE, l.span.clone(), "`limit` cannot be negative");
            }
            let ignore = o.boolean(sink, "ignore").unwrap_or(false);
            let th = thresholds(&mut o, sink, l.warning, l.critical);
            o.finish(sink);
            if let (true, Some((warning, critical))) = (valid_key, th) {
                l.overrides.insert(key.clone(), QuotaOverride { limit: limit.map(|l| l.v), warning, critical, ignore });
            }
        }
        overrides.finish_all_known();
    }
}

fn secret(t: &mut Tbl, sink: &mut Sink, key: &'static str) -> Option<Secret> {
    let v = t.raw(key)?;
    match v.get_ref() {
        DeValue::String(s) => Some(Secret::Literal(s.to_string())),
        DeValue::Table(tab) => {
            let mut st = Tbl::new(tab, v.span(), format!("{}.{key}", t.path));
            let env = st.string(sink, "env");
            let file = st.string(sink, "file");
            st.finish(sink);
            match (env, file) {
                (Some(e), None) => {
                    sink.need(e.span, Needed::Env(e.v.clone()));
                    Some(Secret::Env(e.v))
                }
                (None, Some(f)) => {
                    sink.need(f.span, Needed::File(PathBuf::from(&f.v)));
                    Some(Secret::File(PathBuf::from(f.v)))
                }
                _ => {
                    sink.error(
                        codes::INVALID_VALUE,
                        v.span(),
                        format!("`{key}` must be a string, {{ env = \"VAR\" }} or {{ file = \"/path\" }}"),
                    );
                    None
                }
            }
        }
        other => {
            sink.error(
                codes::WRONG_TYPE,
                v.span(),
                format!("`{key}` must be a string or a secret table, found {}", type_name(other)),
            );
            None
        }
    }
}

fn alerts(t: &mut Tbl, sink: &mut Sink) -> Alerts {
    let mut out = Alerts { sinks: vec![], ..Alerts::default() };
    let mut sink_tables = t.tables(sink, "sinks");
    let sinks_given = t.raw("sinks").is_some();
    for st in sink_tables.iter_mut() {
        let name = st.string(sink, "name");
        let name = st.require(sink, "name", name);
        let ty = st.string(sink, "type");
        let ty = st.require(sink, "type", ty);
        let kind = ty.and_then(|ty| sink_kind(st, sink, ty));
        if let Some(n) = &name
            && out.sinks.iter().any(|s: &SinkConfig| s.name == n.v)
        {
            sink.error(codes::DUPLICATE_NAME, n.span.clone(), format!("sink name \"{}\" is used twice", n.v));
        }
        if let (Some(name), Some(kind)) = (name, kind) {
            out.sinks.push(SinkConfig { name: name.v, kind });
        }
    }
    for st in sink_tables {
        st.finish(sink);
    }
    if !sinks_given {
        out.sinks = Alerts::default_sinks();
    }
    let known_sink = |sink: &mut Sink, s: &Sp<String>, sinks: &[SinkConfig]| {
        if !sinks.iter().any(|k| k.name == s.v) {
            let known: Vec<&str> = sinks.iter().map(|k| k.name.as_str()).collect();
            sink.error(
                codes::UNKNOWN_SINK,
                s.span.clone(),
                format!("route names sink \"{}\", which is not defined (defined: {})", s.v, known.join(", ")),
            );
        }
    };
    for mut rt in t.tables(sink, "routes") {
        let mut matchers = Vec::new();
        for (k, v) in rt.string_map(sink, "match").unwrap_or_default() {
            match troop_core::alerting::Matcher::new(&k.v, troop_core::alerting::Op::Eq, &v.v) {
                Ok(m) => matchers.push(m),
                Err(e) => sink.error(codes::INVALID_VALUE, k.span, e),
            }
        }
        for m in rt.strings(sink, "matchers").unwrap_or_default() {
            match troop_core::alerting::Matcher::parse(&m.v) {
                Ok(m) => matchers.push(m),
                Err(e) => sink.error(codes::INVALID_VALUE, m.span, e),
            }
        }
        let sinks = rt.strings(sink, "sinks");
        let sinks = rt.require(sink, "sinks", sinks).unwrap_or_default();
        for s in &sinks {
            known_sink(sink, s, &out.sinks);
        }
        let continue_ = rt.boolean(sink, "continue").unwrap_or(false);
        let group_by = rt.strings(sink, "group_by").map(|g| g.into_iter().map(|s| s.v).collect());
        let group_wait = duration(&mut rt, sink, "group_wait", Duration::ZERO);
        let group_interval = duration(&mut rt, sink, "group_interval", Duration::ZERO);
        let repeat_interval = duration(&mut rt, sink, "repeat_interval", Duration::from_secs(1));
        let send_resolved = rt.boolean(sink, "send_resolved");
        rt.finish(sink);
        out.routes.push(RouteConfig {
            matchers,
            sinks: sinks.into_iter().map(|s| s.v).collect(),
            continue_,
            group_by,
            group_wait,
            group_interval,
            repeat_interval,
            send_resolved,
        });
    }
    if let Some(d) = t.strings(sink, "default_sinks") {
        for s in &d {
            known_sink(sink, s, &out.sinks);
        }
        out.default_sinks = Some(d.into_iter().map(|s| s.v).collect());
    }
    if let Some(g) = t.strings(sink, "group_by") {
        out.group_by = g.into_iter().map(|s| s.v).collect();
    }
    if let Some(d) = duration(t, sink, "group_wait", Duration::ZERO) {
        out.timing.group_wait = d;
    }
    if let Some(d) = duration(t, sink, "group_interval", Duration::ZERO) {
        out.timing.group_interval = d;
    }
    if let Some(d) = duration(t, sink, "repeat_interval", Duration::from_secs(1)) {
        out.timing.repeat_interval = d;
    }
    if let Some(b) = t.boolean(sink, "send_resolved") {
        out.timing.send_resolved = b;
    }
    if let Some(d) = duration(t, sink, "retry_initial", Duration::from_millis(1)) {
        out.retry_initial = d;
    }
    if let Some(d) = duration(t, sink, "retry_max", Duration::from_millis(1)) {
        out.retry_max = d;
    }
    if let Some(mut p) = t.table(sink, "posted") {
        if let Some(s) = p.string(sink, "source") {
            let valid = !s.v.is_empty()
                && s.v.len() <= 64
                && s.v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
            if troop_core::MONKEYS.contains(&s.v.as_str()) {
                sink.error(
                    codes::INVALID_VALUE,
                    s.span,
                    format!("`source` = \"{}\" is a monkey's name: posted alerts must not pass for its findings", s.v),
                );
            } else if !valid {
                sink.error(
                    codes::INVALID_VALUE,
                    s.span,
                    format!("`source` = \"{}\" must be a short lower-case name (a-z, 0-9, - and _)", s.v),
                );
            } else {
                out.posted.source = s.v;
            }
        }
        if let Some(d) = duration(&mut p, sink, "resolve_timeout", Duration::from_secs(1)) {
            out.posted.resolve_timeout = d;
        }
        p.finish(sink);
    }
    out
}

impl Alerts {
    pub fn default_sinks() -> Vec<SinkConfig> {
        vec![SinkConfig { name: "stdout".into(), kind: SinkKind::Stdout }]
    }
}

fn sink_kind(t: &mut Tbl, sink: &mut Sink, ty: Sp<String>) -> Option<SinkKind> {
    let url = |t: &mut Tbl, sink: &mut Sink| -> Option<Secret> {
        let u = secret(t, sink, "url");
        let u = t.require(sink, "url", u)?;
        if let Secret::Literal(s) = &u {
            let span = t.raw("url").map(|v| v.span()).unwrap_or(0..0);
            if !secret_http_url(sink, "url", &Sp { v: s.clone(), span }) {
                return None;
            }
        }
        Some(u)
    };
    Some(match ty.v.as_str() {
        "stdout" => SinkKind::Stdout,
        "jsonl" => {
            let p = t.string(sink, "path");
            let p = t.require(sink, "path", p)?;
            sink.need(p.span.clone(), Needed::Writable(PathBuf::from(&p.v)));
            SinkKind::Jsonl { path: PathBuf::from(p.v) }
        }
        "webhook" => SinkKind::Webhook { url: url(t, sink)?, secret: secret(t, sink, "secret") },
        "slack" => {
            let template = t.string(sink, "template").map(|p| {
                sink.need(p.span.clone(), Needed::Template(PathBuf::from(&p.v)));
                PathBuf::from(p.v)
            });
            SinkKind::Slack { url: url(t, sink)?, template }
        }
        "pagerduty" => {
            let k = secret(t, sink, "routing_key");
            let u = t.string(sink, "url");
            let u = match u {
                Some(u) if !http_url(sink, "url", &u) => return None,
                Some(u) => u.v,
                None => "https://events.pagerduty.com/v2/enqueue".to_string(),
            };
            SinkKind::Pagerduty { routing_key: t.require(sink, "routing_key", k)?, url: u }
        }
        "alertmanager" => {
            let u = t.string(sink, "url");
            let u = t.require(sink, "url", u)?;
            if !http_url(sink, "url", &u) {
                return None;
            }
            let resend_interval =
                duration(t, sink, "resend_interval", Duration::from_secs(1)).unwrap_or(Duration::from_secs(300));
            SinkKind::Alertmanager { url: u.v.trim_end_matches('/').to_string(), resend_interval }
        }
        "smtp" => {
            let server = t.string(sink, "server");
            let server = t.require(sink, "server", server)?;
            let port_ok = server.v.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).is_some_and(|p| p > 0);
            if !port_ok {
                sink.error(
                    codes::INVALID_VALUE,
                    server.span.clone(),
                    "`server` must be host:port (port 1-65535), like \"smtp.example.com:587\" or \"[::1]:25\"",
                );
            }
            let security_key = t.string(sink, "security");
            let security_span = security_key.as_ref().map(|s| s.span.clone());
            let security = match security_key {
                None => SmtpSecurity::StartTls,
                Some(s) => match s.v.as_str() {
                    "starttls" => SmtpSecurity::StartTls,
                    "tls" => SmtpSecurity::Tls,
                    "none" => SmtpSecurity::None,
                    other => {
                        sink.error(
                            codes::INVALID_VALUE,
                            s.span,
                            format!("`security` \"{other}\" is not one of starttls, tls, none"),
                        );
                        SmtpSecurity::StartTls
                    }
                },
            };
            let ca_file = t.string(sink, "ca_file").map(|p| {
                sink.need(p.span.clone(), Needed::File(PathBuf::from(&p.v)));
                PathBuf::from(p.v)
            });
            let from = t.string(sink, "from");
            let to = t.strings(sink, "to").unwrap_or_default();
            for a in from.iter().chain(to.iter()) {
                sink.need(a.span.clone(), Needed::Mailbox(a.v.clone()));
            }
            let to_owners = t.boolean(sink, "to_owners").unwrap_or(true);
            let fallback = t.string(sink, "fallback").map(|f| {
                sink.need(f.span.clone(), Needed::Mailbox(f.v.clone()));
                f.v
            });
            let username_key = t.string(sink, "username");
            let username_span = username_key.as_ref().map(|u| u.span.clone());
            let username = username_key.map(|u| u.v);
            let password_span = t.raw("password").map(|v| v.span());
            let password = secret(t, sink, "password");
            match (&username_span, &password_span) {
                (Some(span), None) => {
                    sink.error(codes::MISSING_KEY, span.clone(), "`username` needs a `password` (they go together)")
                }
                (None, Some(span)) => {
                    sink.error(codes::MISSING_KEY, span.clone(), "`password` needs a `username` (they go together)")
                }
                _ => {}
            }
            let allow_plaintext_auth = t.boolean(sink, "allow_plaintext_auth").unwrap_or(false);
            // As Go's net/smtp PlainAuth: credentials go in clear only to loopback.
            let host = server.v.rsplit_once(':').map(|(h, _)| h.trim_matches(['[', ']'])).unwrap_or(&server.v);
            let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if security == SmtpSecurity::None && password.is_some() && !loopback && !allow_plaintext_auth {
                sink.warn(
                    codes::PLAINTEXT_AUTH,
                    security_span.unwrap_or(0..0),
                    format!(
                        "`security = \"none\"` with a `password` sends it in clear to {}; use \"starttls\" or \"tls\", \
                         or set `allow_plaintext_auth = true` to accept that (troop refuses to start otherwise)",
                        server.v
                    ),
                );
            }
            let file = |t: &mut Tbl, sink: &mut Sink, k: &'static str| {
                t.string(sink, k).map(|p| {
                    sink.need(p.span.clone(), Needed::Template(PathBuf::from(&p.v)));
                    PathBuf::from(p.v)
                })
            };
            SinkKind::Smtp {
                server: server.v,
                security,
                ca_file,
                from: t.require(sink, "from", from)?.v,
                to: to.into_iter().map(|s| s.v).collect(),
                to_owners,
                fallback,
                username,
                password,
                subject_template: file(t, sink, "subject_template"),
                text_template: file(t, sink, "text_template"),
                html_template: file(t, sink, "html_template"),
            }
        }
        "command" => {
            let c = t.strings(sink, "command");
            let c = t.require(sink, "command", c)?;
            if c.is_empty() {
                let span = t.raw("command").map(|v| v.span()).unwrap_or(0..0);
                sink.error(codes::INVALID_VALUE, span, "`command` needs at least the program to run");
                return None;
            }
            let timeout = duration(t, sink, "timeout", Duration::from_millis(1)).unwrap_or(Duration::from_secs(30));
            SinkKind::Command { command: c.into_iter().map(|s| s.v).collect(), timeout }
        }
        other => {
            sink.error(
                codes::INVALID_VALUE,
                ty.span,
                format!("unknown sink type \"{other}\" (known: {})", SINK_TYPES.join(", ")),
            );
            return None;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(src: &str) -> Vec<(usize, usize, &'static str)> {
        match parse(src, "t.toml") {
            Ok(_) => vec![],
            Err(e) => e.diagnostics.iter().map(|d| (d.line, d.column, d.code)).collect(),
        }
    }

    #[test]
    fn the_example_is_valid() {
        let cfg = parse(crate::EXAMPLE, "example.toml").unwrap_or_else(|e| panic!("{e}"));
        assert!(cfg.monkeys.security.common.enabled);
        assert!(!cfg.alerts.sinks.is_empty());
    }

    #[test]
    fn a_bad_secret_url_is_never_shown() {
        let token = "T0KEN-xyz";
        let src = format!(
            "[[alerts.sinks]]\nname = \"chat\"\ntype = \"slack\"\nurl = \"https://hooks.slack.com:99999/services/{token}\"\n"
        );
        let e = parse(&src, "t").unwrap_err();
        assert_eq!(e.diagnostics[0].code, codes::INVALID_URL);
        assert!(!e.to_string().contains(token), "{e}");
        assert!(e.to_string().contains("not shown"), "{e}");
        // a URL that is no secret is still quoted
        let e = parse("[aws]\nendpoint_url = \"http://[::1\"\n", "t").unwrap_err();
        assert!(e.to_string().contains("http://[::1"), "{e}");
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(parse("", "t").unwrap(), Config::default());
    }

    #[test]
    fn error_table() {
        type Case = (&'static str, Vec<(usize, usize, &'static str)>);
        let cases: Vec<Case> = vec![
            ("[agent]\nlisten = \"nope\"\n", vec![(2, 10, codes::INVALID_VALUE)]),
            ("[agent]\nstore = \"mysql://x\"\n", vec![(2, 9, codes::INVALID_URL)]),
            ("[agent.http]\nmax_connections = 0\n", vec![(2, 19, codes::INVALID_VALUE)]),
            (
                "[[alerts.sinks]]\nname = \"m\"\ntype = \"smtp\"\nserver = \"127.0.0.1:0\"\nfrom = \"t@x\"\n",
                vec![(4, 10, codes::INVALID_VALUE)],
            ),
            ("[agent.http]\nread_header_timeout = \"1ms\"\n", vec![(2, 23, codes::INVALID_DURATION)]),
            ("[agent.http]\nidle = \"1s\"\n", vec![(2, 1, codes::UNKNOWN_KEY)]),
            ("[agent]\nlisten = \"0.0.0.0:9477\"\n", vec![(2, 10, codes::UNAUTHENTICATED_LISTEN)]),
            (
                "[alerts.posted]\nsource = \"security\"\nresolve_timeout = \"0s\"\n",
                vec![(2, 10, codes::INVALID_VALUE), (3, 19, codes::INVALID_DURATION)],
            ),
            ("[alerts.posted]\nsource = \"Prom etheus\"\n", vec![(2, 10, codes::INVALID_VALUE)]),
            ("[agent]\nlisten = \"[::]:9477\"\n", vec![(2, 10, codes::UNAUTHENTICATED_LISTEN)]),
            ("[agent]\nlisten = \"0.0.0.0:9477\"\n[agent.http]\nallow_anonymous_reads = true\n", vec![]),
            ("[agent]\nlisten = \"[::1]:9477\"\n", vec![]),
            (
                "[agent]\nlisten = \"10.1.2.3:9477\"\n[[agent.http.tokens]]\nname = \"p\"\ntoken = \"s3cret\"\nscopes = [\"read\"]\n",
                vec![],
            ),
            (
                "[agent.http.basic_auth_users]\nprom = \"hunter2\"\nok = \"$2y$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W\"\n",
                vec![(2, 8, codes::INVALID_VALUE)],
            ),
            (
                "[agent.http.basic_auth_users]\nok = \"$2y$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W\"\n[agent.http.user_scopes]\nok = [\"read\", \"alerts:writ\"]\nnobody = [\"read\"]\n",
                vec![(4, 15, codes::INVALID_VALUE), (5, 1, codes::INVALID_VALUE)],
            ),
            (
                "[[agent.http.tokens]]\nname = \"a\"\ntoken = { env = \"T\" }\nscopes = [\"write\"]\n[[agent.http.tokens]]\nname = \"a\"\nscopes = []\n",
                vec![(4, 11, codes::INVALID_VALUE), (5, 1, codes::MISSING_KEY), (6, 8, codes::DUPLICATE_NAME)],
            ),
            (
                "[agent.http.basic_auth_users]\nana = \"$2y$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W\"\n[[agent.http.tokens]]\nname = \"ana\"\ntoken = \"t\"\nscopes = [\"read\"]\n",
                vec![(4, 8, codes::DUPLICATE_NAME)],
            ),
            (
                "[agent.http.tls_server_config]\ncert_file = \"c.pem\"\nmin_version = \"TLS11\"\nclient_auth_type = \"RequireAndVerifyClientCert\"\n",
                vec![(1, 1, codes::MISSING_KEY), (3, 15, codes::INVALID_VALUE), (4, 20, codes::MISSING_KEY)],
            ),
            (
                "[agent.http.tls_server_config]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\nclient_auth_type = \"RequireAnyClientCert\"\n",
                vec![(4, 20, codes::INVALID_VALUE)],
            ),
            (
                "[agent.http]\nmax_body_bytes = 10\nrate_limit = 0\nrate_burst = 0\n",
                vec![(2, 18, codes::INVALID_VALUE), (3, 14, codes::INVALID_VALUE), (4, 14, codes::INVALID_VALUE)],
            ),
            ("[agnet]\n", vec![(1, 2, codes::UNKNOWN_KEY)]),
            ("[monkeys.security]\ninterval = \"15 parsecs\"\n", vec![(2, 12, codes::INVALID_DURATION)]),
            ("[monkeys.security]\ninterval = 15\n", vec![(2, 12, codes::WRONG_TYPE)]),
            ("[monkeys.security]\nenabled = \"yes\"\n", vec![(2, 11, codes::WRONG_TYPE)]),
            ("[monkeys.security]\ntechnologies = [\"kms\", \"ec2:vpc\"]\n", vec![(2, 24, codes::INVALID_VALUE)]),
            ("[monkeys.security]\ntechnologies = [\"kms:keys\"]\n", vec![(2, 17, codes::INVALID_VALUE)]),
            ("[monkeys.security]\ntechnologies = []\n", vec![(2, 16, codes::INVALID_VALUE)]),
            ("[monkeys.limits]\nwarning = 0.9\ncritical = 0.8\n", vec![(3, 12, codes::INVALID_THRESHOLD)]),
            ("[monkeys.limits]\nwarning = 0\n", vec![(2, 11, codes::INVALID_THRESHOLD)]),
            ("[monkeys.limits]\ncritical = 1.5\n", vec![(2, 12, codes::INVALID_THRESHOLD)]),
            ("[monkeys.limits]\nwarning = 0.5\ncritical = 1\n", vec![]),
            (
                "[monkeys.limits.overrides.\"ec2/L-1216C47A\"]\nlimit = 64\nwarning = 0.9\n[monkeys.limits.overrides.nope]\nignore = true\n[monkeys.limits.overrides.\"vpc/L-F678F1CE\"]\ncritical = 0.5\nlimitt = 3\n",
                vec![(4, 1, codes::INVALID_VALUE), (7, 12, codes::INVALID_THRESHOLD), (8, 1, codes::UNKNOWN_KEY)],
            ),
            (
                "[monkeys.certs]\nthresholds_days = [30, 0, 30]\n",
                vec![(2, 24, codes::INVALID_THRESHOLD), (2, 27, codes::INVALID_THRESHOLD)],
            ),
            (
                "[monkeys.certs]\nendpoints = [\"a.com:99999\", \"b.com\", \"smtp://m.com:25\"]\n",
                vec![(2, 14, codes::INVALID_VALUE)],
            ),
            ("[aws]\nregions = [\"us-east-1\", \"Mars\"]\n", vec![(2, 25, codes::INVALID_VALUE)]),
            ("[aws]\nendpoint_url = \"ftp://x\"\n", vec![(2, 16, codes::INVALID_URL)]),
            (
                "[aws.endpoints]\ncloudtrail = \"nope\"\nBad_Name = \"http://x\"\n",
                vec![(2, 14, codes::INVALID_URL), (3, 1, codes::INVALID_VALUE)],
            ),
            ("[[aws.accounts]]\nname = \"prod\"\n", vec![(1, 1, codes::MISSING_KEY)]),
            ("[[aws.accounts]]\nid = \"12\"\n", vec![(2, 6, codes::INVALID_VALUE)]),
            (
                "[[alerts.sinks]]\nname = \"a\"\ntype = \"stdout\"\n[[alerts.sinks]]\nname = \"a\"\ntype = \"carrier-pigeon\"\n",
                vec![(5, 8, codes::DUPLICATE_NAME), (6, 8, codes::INVALID_VALUE)],
            ),
            ("[[alerts.sinks]]\nname = \"h\"\ntype = \"webhook\"\n", vec![(1, 1, codes::MISSING_KEY)]),
            (
                "[[alerts.sinks]]\nname = \"h\"\ntype = \"webhook\"\nurl = { env = \"HOOK\" }\n[[alerts.routes]]\nmatch = { monkey = \"limits\" }\nsinks = [\"h\", \"nope\"]\n",
                vec![(7, 15, codes::UNKNOWN_SINK)],
            ),
            (
                "[[alerts.sinks]]\nname = \"h\"\ntype = \"webhook\"\nurl = { vault = \"x\" }\n",
                vec![(4, 7, codes::INVALID_VALUE), (4, 9, codes::UNKNOWN_KEY)],
            ),
            (
                "[aws.request_rate]\nec2 = 0\nEC2 = 5\niam = \"fast\"\n",
                vec![(2, 7, codes::INVALID_VALUE), (3, 7, codes::INVALID_VALUE), (4, 7, codes::WRONG_TYPE)],
            ),
            ("[monkeys.limits]\nservices = [\"vpc\", \"lambda\"]\n", vec![(2, 20, codes::INVALID_VALUE)]),
            ("[aws.organization]\nrefresh = \"1h\"\n", vec![(1, 1, codes::MISSING_KEY)]),
            ("[agent]\nlease = \"30s\"\nlease_renewal = \"30s\"\n", vec![(3, 17, codes::INVALID_DURATION)]),
            ("[agent]\nlease = \"30s\"\nlease_renewal = \"10s\"\n", vec![]),
            (
                "[aws.organization]\nrole_name = \"arn:aws:iam::1:role/x\"\nou_ids = [\"ou-ab12-cdef3456\", \"OU-1\", \"r-ab12\"]\nrefresh = \"soon\"\nrole = \"x\"\n",
                vec![
                    (2, 13, codes::INVALID_VALUE),
                    (3, 31, codes::INVALID_VALUE),
                    (4, 11, codes::INVALID_DURATION),
                    (5, 1, codes::UNKNOWN_KEY),
                ],
            ),
            ("[aws.organization]\nrole_name = \"audit/troop-{account_id}\"\n", vec![]),
            (
                "[[alerts.sinks]]\nname = \"log\"\ntype = \"stdout\"\n[[alerts.routes]]\nmatchers = [\"severity=~(warning\", \"monkey\"]\nsinks = [\"log\", \"nope\"]\ngroup_wait = \"soon\"\n",
                vec![
                    (5, 13, codes::INVALID_VALUE),
                    (5, 35, codes::INVALID_VALUE),
                    (6, 17, codes::UNKNOWN_SINK),
                    (7, 14, codes::INVALID_DURATION),
                ],
            ),
            (
                "[[alerts.sinks]]\nname = \"m\"\ntype = \"smtp\"\nserver = \"mail\"\nfrom = \"t@x\"\nsecurity = \"ssl\"\n[[alerts.sinks]]\nname = \"c\"\ntype = \"command\"\ncommand = []\n",
                vec![(4, 10, codes::INVALID_VALUE), (6, 12, codes::INVALID_VALUE), (10, 11, codes::INVALID_VALUE)],
            ),
            ("[agent\n", vec![(1, 7, codes::SYNTAX)]),
        ];
        for (src, want) in cases {
            let got = errs(src);
            let want: Vec<(usize, usize, &str)> = want;
            assert_eq!(got, want, "for:\n{src}\n{:?}", parse(src, "t.toml").err().map(|e| e.to_string()));
        }
    }

    #[test]
    fn three_mistakes_three_errors() {
        let src = "[agent]\nlisten = \"127.0.0.1\"\n\n[monkeys.security]\nintervall = \"15m\"\n\n[monkeys.limits]\nwarning = 0.99\ncritical = 0.9\n";
        let e = parse(src, "troop.toml").unwrap_err();
        assert_eq!(e.diagnostics.len(), 3, "{e}");
        let text = e.to_string();
        assert!(text.contains("troop.toml:2:10: error[invalid-value]"), "{text}");
        assert!(
            text.contains("troop.toml:5:1: error[unknown-key]: unknown key `intervall` in [monkeys.security]"),
            "{text}"
        );
        assert!(text.contains("troop.toml:9:12: error[invalid-threshold]"), "{text}");
    }

    #[test]
    fn values_land_where_they_belong() {
        let src = r#"
[agent]
store = "sqlite:///var/lib/troop/troop.db"
listen = "0.0.0.0:9000"
[agent.http]
max_body_bytes = 65536
rate_limit = 2.5
[agent.http.tls_server_config]
cert_file = "tls/server.pem"
key_file = "/etc/troop/server.key"
client_ca_file = "ca.pem"
min_version = "TLS13"
[agent.http.basic_auth_users]
prometheus = "$2y$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"
grafana = "$2b$12$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"
[agent.http.user_scopes]
prometheus = ["read", "alerts:write"]
[[agent.http.tokens]]
name = "ci"
token = { file = "ci.token" }
scopes = ["events:write", "events:write"]
[aws]
regions = ["eu-west-1", "us-east-1", "eu-west-1"]
endpoint_url = "http://127.0.0.1:5000"
known_accounts = ["999999999999"]
endpoints = { cloudtrail = "http://127.0.0.1:5001" }
request_rate = { ec2 = 5, cloudtrail = 0.5 }
[[aws.accounts]]
id = "123456789012"
name = "prod"
role_arn = "arn:aws:iam::123456789012:role/troop-readonly"
labels = { team = "core" }
[monkeys.security]
interval = "5m"
jitter = 0
technologies = ["iam", "s3:bucket"]
[monkeys.limits]
service_quotas = false
services = ["vpc", "iam"]
[monkeys.limits.overrides."ec2/L-1216C47A"]
limit = 64
warning = 0.7
[monkeys.limits.overrides."vpc/L-F678F1CE"]
ignore = true
[monkeys.certs]
thresholds_days = [7, 30, 14]
nameservers = ["127.0.0.1:5353", "10.0.0.2"]
files = ["/etc/ssl/private/*.pem"]
probe_load_balancers = false
[[monkeys.certs.owners]]
domain = "*.shop.example.com"
contact = "shop-team@example.com"
[[alerts.sinks]]
name = "pd"
type = "pagerduty"
routing_key = { file = "/run/secrets/pd" }
[alerts]
group_wait = "10s"
default_sinks = ["pd"]
[[alerts.routes]]
match = { monkey = "certs" }
matchers = ["severity!=info"]
sinks = ["pd"]
continue = true
group_by = ["owner"]
repeat_interval = "1d"
"#;
        let c = parse(src, "t").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.agent.store, "sqlite:///var/lib/troop/troop.db");
        assert_eq!((c.agent.http.max_body_bytes, c.agent.http.rate_limit, c.agent.http.rate_burst), (65536, 2.5, 100));
        let access = &c.agent.http_access;
        let tls = access.tls.as_ref().unwrap();
        assert_eq!(tls.client_auth_type, ClientAuthType::RequireAndVerifyClientCert);
        assert_eq!(tls.min_version, TlsVersion::Tls13);
        assert!(access.mtls_required() && access.credentials_configured() && !access.allow_anonymous_reads);
        assert_eq!(access.user_scopes("prometheus"), vec![Scope::Read, Scope::AlertsWrite]);
        assert_eq!(access.user_scopes("grafana"), vec![Scope::Read]);
        assert_eq!(access.tokens[0].name, "ci");
        assert_eq!(access.tokens[0].scopes, vec![Scope::EventsWrite]);
        let mut moved = c.clone();
        moved.resolve_paths(std::path::Path::new("/etc/troop"));
        let tls = moved.agent.http_access.tls.as_ref().unwrap();
        assert_eq!(tls.cert_file, PathBuf::from("/etc/troop/tls/server.pem"));
        assert_eq!(tls.client_ca_file, Some(PathBuf::from("/etc/troop/ca.pem")));
        assert_eq!(moved.agent.http_access.tokens[0].token, Secret::File("/etc/troop/ci.token".into()));
        assert_eq!(c.aws.regions, vec!["eu-west-1", "us-east-1"]);
        assert_eq!(c.aws.endpoints["cloudtrail"], "http://127.0.0.1:5001");
        assert_eq!(c.aws.request_rate["ec2"], 5.0);
        assert_eq!(c.aws.request_rate["cloudtrail"], 0.5);
        assert_eq!(c.aws.accounts[0].labels["team"], "core");
        assert_eq!(c.monkeys.security.common.interval, Duration::from_secs(300));
        assert_eq!(c.monkeys.security.technologies, ["iam:role", "iam:user", "iam:group", "iam:policy", "s3:bucket"]);
        assert_eq!(c.monkeys.security.common.jitter, 0.0);
        assert_eq!(c.monkeys.certs.thresholds_days, vec![30, 14, 7]);
        assert_eq!(c.monkeys.certs.nameservers[1], "10.0.0.2:53".parse().unwrap());
        assert_eq!(c.monkeys.certs.files, ["/etc/ssl/private/*.pem"]);
        assert!(!c.monkeys.certs.probe_load_balancers);
        assert!(Config::default().monkeys.certs.probe_load_balancers, "on unless turned off");
        let o = &c.monkeys.limits.overrides["ec2/L-1216C47A"];
        assert_eq!((o.limit, o.warning, o.critical, o.ignore), (Some(64.0), Some(0.7), None, false));
        assert!(c.monkeys.limits.overrides["vpc/L-F678F1CE"].ignore);
        assert!(!c.monkeys.limits.service_quotas);
        assert_eq!(c.monkeys.limits.services, ["vpc", "iam"]);
        assert_eq!(c.monkeys.certs.owners[0].contact, "shop-team@example.com");
        assert_eq!(c.monkeys.certs.owners[0].domain.as_deref(), Some("*.shop.example.com"));
        let r = &c.alerts.routes[0];
        assert_eq!(r.matchers.iter().map(|m| m.to_string()).collect::<Vec<_>>(), ["monkey=certs", "severity!=info"]);
        assert!(r.continue_);
        assert_eq!(r.group_by.as_deref(), Some(&["owner".to_string()][..]));
        assert_eq!(r.repeat_interval, Some(Duration::from_secs(86400)));
        assert_eq!(c.alerts.timing.group_wait, Duration::from_secs(10));
        assert_eq!(c.alerts.default_sinks.as_deref(), Some(&["pd".to_string()][..]));
        assert_eq!(
            c.alerts.sinks[0].kind,
            SinkKind::Pagerduty {
                routing_key: Secret::File("/run/secrets/pd".into()),
                url: "https://events.pagerduty.com/v2/enqueue".into()
            }
        );
    }

    #[test]
    fn literal_secrets_never_reach_debug_output() {
        let src =
            "[[alerts.sinks]]\nname = \"h\"\ntype = \"slack\"\nurl = \"https://hooks.example.com/T000/SECRETTOKEN\"\n";
        let c = parse(src, "t").unwrap();
        assert!(!format!("{c:?}").contains("SECRETTOKEN"));
    }
}
