//! The certs monkey: finds TLS certificates (configured endpoints, PEM files;
//! AWS sources come next), probes **every** address behind a name, and warns
//! before expiry. Evaluation (problems, thresholds, stale deployments) is pure
//! and lives in `troop_core::certs`; this folder does the IO.

mod aws_sources;
mod files;
mod probe;
mod targets;
mod trust;
mod x509;

use async_trait::async_trait;
use futures::StreamExt;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use troop_core::certs::{self, CertInfo, MONKEY, Observation, Trust};
use troop_core::monkey::{Coverage, Gauge, Monkey, MonkeyError, Observed, PassContext, Report, Shard};

/// Parsed chains and their verdicts, by a digest of the chain's bytes; one per pass.
type JudgeCache = Mutex<HashMap<[u8; 32], (Vec<CertInfo>, Option<trust::Verdict>)>>;

pub struct CertsMonkey {
    cfg: troop_config::Certs,
    aws: Arc<crate::aws::AwsContext>,
    resolver: TokioResolver,
    trust: trust::TrustStore,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl CertsMonkey {
    pub fn new(cfg: &troop_config::Certs, aws: Arc<crate::aws::AwsContext>) -> Result<CertsMonkey, String> {
        let trust = trust::TrustStore::load(&cfg.extra_ca_files, true)?;
        let mut builder = if cfg.nameservers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| format!("system resolver: {e}"))?
        } else {
            let servers = cfg
                .nameservers
                .iter()
                .map(|a| {
                    let (mut udp, mut tcp) = (ConnectionConfig::udp(), ConnectionConfig::tcp());
                    udp.port = a.port();
                    tcp.port = a.port();
                    NameServerConfig::new(a.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], servers),
                TokioRuntimeProvider::default(),
            )
        };
        let opts = builder.options_mut();
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.timeout = cfg.probe_timeout;
        opts.attempts = 2;
        let resolver = builder.build().map_err(|e| format!("DNS resolver: {e}"))?;
        Ok(CertsMonkey {
            cfg: cfg.clone(),
            aws,
            resolver,
            trust,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        })
    }

    fn owner_for(&self, host: &str, leaf: Option<&CertInfo>, account: Option<&str>) -> Option<String> {
        self.cfg
            .owners
            .iter()
            .find(|o| {
                let domain_ok = o.domain.as_ref().is_none_or(|d| {
                    let names =
                        std::iter::once(host).chain(leaf.into_iter().flat_map(|l| l.sans.iter().map(String::as_str)));
                    names.into_iter().any(|n| domain_matches(d, n))
                });
                let account_ok = o.account.as_ref().is_none_or(|a| Some(a.as_str()) == account);
                domain_ok && account_ok
            })
            .map(|o| o.contact.clone())
    }

    /// Every address of `host` (A and AAAA), or the host itself if it is an IP.
    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let found = self.resolver.lookup_ip(host).await.map_err(|e| format!("cannot resolve {host}: {e}"))?;
        let mut ips: Vec<IpAddr> = found.iter().collect();
        ips.sort();
        ips.dedup();
        if ips.is_empty() {
            return Err(format!("{host} has no A or AAAA record"));
        }
        Ok(ips)
    }

    /// Parse and judge a chain, once per distinct chain in a pass (fleets
    /// behind one name usually serve the very same bytes).
    fn judged(
        &self,
        chain: &[rustls_pki_types::CertificateDer<'_>],
        now: i64,
        cache: &JudgeCache,
    ) -> (Vec<CertInfo>, Option<trust::Verdict>) {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for c in chain {
            h.update((c.len() as u64).to_be_bytes());
            h.update(c.as_ref());
        }
        let key: [u8; 32] = h.finalize().into();
        if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return hit.clone();
        }
        let infos: Vec<CertInfo> = chain.iter().filter_map(|c| x509::parse(c).ok()).collect();
        let verdict = (infos.len() == chain.len() && !infos.is_empty()).then(|| self.trust.judge(chain, &infos, now));
        let out = (infos, verdict);
        cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, out.clone());
        out
    }

    fn observe(
        &self,
        host: &str,
        addr: Option<SocketAddr>,
        source: &str,
        p: probe::Probe,
        now: i64,
        cache: &JudgeCache,
    ) -> Observation {
        let (infos, verdict) = self.judged(&p.chain, now, cache);
        let mut o = Observation {
            host: host.to_string(),
            address: addr.map(|a| a.ip().to_string()),
            port: addr.map(|a| a.port()),
            source: source.into(),
            account: None,
            region: None,
            reference: None,
            leaf: None,
            chain_not_after: None,
            sha1_in_path: false,
            trust: Trust::NotChecked,
            error: p.error,
            owner: None,
        };
        if let Some(v) = verdict {
            o.trust = v.trust;
            o.chain_not_after = v.chain_not_after;
            o.sha1_in_path = v.sha1_in_path;
            o.leaf = Some(infos[0].clone());
        } else if !p.chain.is_empty() && o.error.is_none() {
            o.error = Some("the peer sent a certificate that does not parse".into());
        }
        o
    }
}

/// The finding for a source that could not be read; cleared by a complete read.
fn read_error(scope: &str, account: &str, region: &str, what: &str, reason: &str) -> troop_core::Finding {
    troop_core::Finding {
        monkey: MONKEY.into(),
        kind: "read-error".into(),
        severity: troop_core::Severity::Warning,
        account: account.into(),
        region: region.into(),
        resource: what.into(),
        title: format!("certs monkey could not read {what} in {account}/{region}: {reason}"),
        details: serde_json::json!({"scope": scope, "reason": reason}),
        labels: BTreeMap::new(),
        scope: scope.into(),
    }
}

/// `*.example.com` matches any name under example.com (any depth); anything
/// else must be equal (case-insensitive).
fn domain_matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.to_ascii_lowercase(), name.trim_end_matches('.').to_ascii_lowercase());
    match p.strip_prefix("*.") {
        Some(suffix) => n.ends_with(&format!(".{suffix}")),
        None => p == n,
    }
}

#[async_trait]
impl Monkey for CertsMonkey {
    fn name(&self) -> &'static str {
        MONKEY
    }

    async fn run(&self, ctx: &PassContext, _: &Shard) -> Result<Report, MonkeyError> {
        let now = ctx.clock.now().unix_timestamp();
        let calls = &ctx.counters;
        let mut report = Report::default();
        // (what to probe, which source named it, the AWS account it came from)
        let mut targets: Vec<(targets::Target, String, Option<String>)> = Vec::new();
        if self.cfg.source_enabled("endpoints") {
            targets.extend(
                self.cfg
                    .endpoints
                    .iter()
                    .filter_map(|e| targets::parse(e).ok())
                    .map(|t| (t, "endpoint".to_string(), None)),
            );
        }
        let mut held: Vec<Observation> = Vec::new();
        let aws_sources = ["route53", "acm", "iam", "elbv2", "cloudfront"];
        if aws_sources.iter().any(|s| self.cfg.source_enabled(s)) {
            ctx.progress.update(MONKEY, "reading certificates held in AWS");
            match self.aws.accounts(calls).await {
                Ok(accounts) => {
                    let (accounts, unreachable, access) = self.aws.reachable(MONKEY, &accounts, calls).await;
                    report.findings.extend(unreachable);
                    report.coverage.extend(access);
                    let (bad_regions, checked) = self.aws.check_regions(MONKEY, &accounts, calls).await;
                    report.findings.extend(bad_regions);
                    report.coverage.extend(checked);
                    let found = self
                        .aws
                        .for_each_account(&accounts, |t| async move {
                            aws_sources::read(&self.aws, &t, &self.cfg, calls).await
                        })
                        .await;
                    for (t, f) in found {
                        for (source, region, reason) in f.failures {
                            report.findings.push(read_error(
                                &format!("certs:{source}"),
                                &t.id,
                                &region,
                                source,
                                &reason,
                            ));
                        }
                        for (source, region) in f.covered {
                            report.coverage.push(Coverage {
                                scope: format!("certs:{source}"),
                                account: t.id.clone(),
                                region,
                            });
                        }
                        targets.extend(
                            f.targets
                                .into_iter()
                                .map(|(target, source)| (target, source.to_string(), Some(t.id.clone()))),
                        );
                        held.extend(f.observations);
                    }
                }
                Err(e) => report.findings.push(read_error("certs:aws", "local", "global", "aws", &e.message)),
            }
        }
        // A name configured and also found in AWS is probed once, as configured;
        // a load balancer's probe for a name probed anyway (a Route53 alias to
        // it, an endpoint) is left out.
        targets.sort_by_key(|(t, _, _)| t.server_name.is_some());
        let mut seen = std::collections::HashSet::new();
        targets.retain(|(t, _, _)| seen.insert((t.name().to_ascii_lowercase(), t.port)));
        ctx.progress.update(MONKEY, &format!("resolving {} name(s)", targets.len()));

        // Every address of every name, each probed once, bounded in all and per host.
        let cache: JudgeCache = Mutex::new(HashMap::new());
        let cache = &cache;
        let global = Arc::new(Semaphore::new(self.cfg.concurrency));
        let per_host: Mutex<HashMap<String, Arc<Semaphore>>> = Mutex::new(HashMap::new());
        let done = std::sync::atomic::AtomicUsize::new(0);
        let total_targets = targets.len();
        let observations: Vec<Vec<Observation>> = futures::stream::iter(targets)
            .map(|(t, source, account): (targets::Target, String, Option<String>)| {
                let (global, per_host, done) = (global.clone(), &per_host, &done);
                async move {
                    let addrs = match self.addresses(&t.host).await {
                        Ok(a) => a,
                        Err(e) => {
                            let p = probe::Probe { chain: vec![], error: Some(e) };
                            let mut o = self.observe(t.name(), None, &source, p, now, cache);
                            o.port = Some(t.port);
                            o.address = Some("unresolved".into());
                            o.account = account;
                            o.reference = t.server_name.is_some().then(|| t.host.clone());
                            return vec![o];
                        }
                    };
                    let host_sem = per_host
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(t.host.to_ascii_lowercase())
                        .or_insert_with(|| Arc::new(Semaphore::new(self.cfg.per_host_concurrency)))
                        .clone();
                    let probes = addrs.into_iter().map(|ip| {
                        let (global, host_sem, t, account, source) =
                            (global.clone(), host_sem.clone(), t.clone(), account.clone(), source.clone());
                        async move {
                            let _h = host_sem.acquire_owned().await;
                            let _g = global.acquire_owned().await;
                            let addr = SocketAddr::new(ip, t.port);
                            let p =
                                probe::probe(addr, t.name(), t.starttls, self.cfg.probe_timeout, &self.provider).await;
                            let mut o = self.observe(t.name(), Some(addr), &source, p, now, cache);
                            o.account = account;
                            // the load balancer's DNS name, when it was asked for another
                            o.reference = t.server_name.is_some().then(|| t.host.clone());
                            o
                        }
                    });
                    let out = futures::future::join_all(probes).await;
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    ctx.progress.update(MONKEY, &format!("probed {n}/{total_targets} name(s)"));
                    out
                }
            })
            .buffer_unordered(self.cfg.concurrency.max(1))
            .collect()
            .await;
        let mut all: Vec<Observation> = observations.into_iter().flatten().collect();
        all.extend(held);
        let file_obs = if self.cfg.source_enabled("files") {
            files::read(&self.cfg.files, now)
        } else {
            files::FileObservations { observations: vec![], errors: vec![] }
        };
        let files_ok = file_obs.errors.is_empty();
        for (path, reason) in &file_obs.errors {
            report.findings.push(read_error("certs:file", "local", "global", path, reason));
        }
        all.extend(file_obs.observations);

        let stale = certs::stale(&all);
        let thresholds = &self.cfg.thresholds_days;
        let mut probes_failed = 0;
        for (o, is_stale) in all.iter_mut().zip(stale) {
            // `[[monkeys.certs.owners]]` first, then the Owner/OwnerContact tags.
            o.owner = self.owner_for(&o.host, o.leaf.as_ref(), o.account.as_deref()).or(o.owner.take());
            let mut problems = certs::problems(o, now);
            if is_stale {
                problems.push("stale-deployment");
            }
            if o.leaf.is_none() {
                probes_failed += 1;
            }
            if let Some(f) = certs::finding(o, &problems, now, thresholds) {
                report.findings.push(f);
            }
            if let Some(l) = &o.leaf {
                let mut labels = BTreeMap::new();
                labels.insert("host".to_string(), o.host.clone());
                labels.insert("address".to_string(), o.address.clone().unwrap_or_default());
                labels.insert("serial".to_string(), l.serial.clone());
                labels.insert("source".to_string(), o.source.clone());
                report.gauges.push(Gauge {
                    name: "troop_cert_not_after_timestamp_seconds".into(),
                    labels,
                    value: l.not_after as f64,
                });
            }
            report.observations.push(Observed {
                kind: "cert".into(),
                key: certs::resource(o),
                data: serde_json::to_value(certs::CertRow::new(o, &problems, now)).unwrap_or_default(),
            });
        }
        report.coverage.push(Coverage {
            scope: "certs:endpoint".into(),
            account: "local".into(),
            region: "global".into(),
        });
        if files_ok {
            report.coverage.push(Coverage {
                scope: "certs:file".into(),
                account: "local".into(),
                region: "global".into(),
            });
        }
        calls.add("cert_probes", all.iter().filter(|o| o.address.is_some()).count() as u64);
        calls.add("cert_probe_failures", probes_failed);
        Ok(report)
    }
}
