//! The `troop` binary: argument parsing, wiring, exit codes. The logic lives in
//! the library crates (see ARCHITECTURE.md).
//!
//! Exit codes: 0 ok; 1 a monkey failed; 2 usage or configuration error;
//! 3 `scan --fail-on` found open findings at or above the threshold.

mod cli;
mod gateway_cli;
mod output;
mod progress;
mod views;

use anyhow::{Context, anyhow};
use clap::Parser;
use cli::{AlertsCommand, Cli, Command, ConfigCommand, Format, SilenceCommand, StoreCommand};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use troop_config::{Config, LoadError};
use troop_core::clock::SystemClock;
use troop_core::engine::ShardStatus;
use troop_core::metrics::Metrics;
use troop_core::monkey::{NoProgress, Progress};
use troop_core::shutdown::{self, Shutdown, ShutdownTrigger};
use troop_core::store::FindingFilter;
use troop_core::store::StoreHandle;
use troop_core::{Engine, FindingState, PassStatus, Severity};
use troop_monkeys::aws::AwsContext;

/// An error and the exit code it maps to.
pub(crate) enum Fail {
    /// Exit 2: bad usage, bad config, a store or sink that cannot be opened.
    Usage(anyhow::Error),
    /// Exit 2 with the message already printed (config diagnostics).
    UsageReported,
    /// Exit 1.
    Runtime(anyhow::Error),
    /// Exit with this code, message already printed.
    Code(u8),
}

pub(crate) fn usage<E: Into<anyhow::Error>>(e: E) -> Fail {
    Fail::Usage(e.into())
}

/// Exit 1 with `e` (a store that could not be read or written, output that failed).
pub(crate) fn runtime<E: Into<anyhow::Error>>(e: E) -> Fail {
    Fail::Runtime(e.into())
}

fn main() -> ExitCode {
    // Like other Unix filters: a reader that goes away (`troop history | head`)
    // ends troop quietly by SIGPIPE, not with a panic in println!.
    // SAFETY: called first, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    init_logging(cli.verbose, matches!(cli.command, Command::Run), cli.log_format);
    output::init(cli.wide, cli.color);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("troop: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(dispatch(cli));
    // Do not wait for blocking tasks (e.g. an abandoned pass) at exit.
    rt.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(e)) => {
            eprintln!("troop: {}", output::clean(&format!("{e:#}")));
            ExitCode::from(2)
        }
        Err(Fail::UsageReported) => ExitCode::from(2),
        Err(Fail::Runtime(e)) => {
            eprintln!("troop: {}", output::clean(&format!("{e:#}")));
            ExitCode::from(1)
        }
        Err(Fail::Code(c)) => ExitCode::from(c),
    }
}

/// One-shot verbs report failures themselves, so by default they log only
/// errors; the daemon logs warnings too.
/// Logs on stderr: text (escape codes only on a terminal without
/// `NO_COLOR`) or one JSON object per line (`--log-format json`).
fn init_logging(verbose: u8, daemon: bool, format: cli::LogFormat) {
    let default = match verbose {
        0 if daemon => "warn,aws_config=error,aws_smithy_runtime=error",
        0 => "error",
        1 => "info,aws=warn",
        _ => "debug,aws_smithy_runtime=info,aws_config=info,hyper=info",
    };
    let filter = std::env::var("TROOP_LOG").unwrap_or_else(|_| default.to_string());
    let env_filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(env_filter).with_writer(std::io::stderr).with_target(false);
    let _ = match format {
        cli::LogFormat::Json => builder.json().with_current_span(false).try_init(),
        cli::LogFormat::Text => {
            use std::io::IsTerminal;
            builder.with_ansi(std::io::stderr().is_terminal() && !output::no_color()).try_init()
        }
    };
}

/// Run synchronous store work off the runtime's scheduling (the store's
/// calls block; see `troop_core::store::Backend`).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn dispatch(cli: Cli) -> Result<(), Fail> {
    match &cli.command {
        Command::Config(ConfigCommand::Example) => {
            print!("{}", troop_config::EXAMPLE);
            Ok(())
        }
        Command::Store(StoreCommand::Migrate { from, to }) => blocking(|| store_migrate(&cli, from, to)),
        Command::Config(ConfigCommand::Check { path }) => {
            config_check(path.as_ref().or(cli.config.as_ref()), cli.format)
        }
        // Reads never create a store: see `read_store`.
        // The store is synchronous: its calls leave the runtime's workers
        // (`block_in_place`; see `troop_core::store::Backend`).
        Command::Findings(args) => blocking(|| {
            let cfg = load_config(&cli)?;
            let store = read_store(&cfg)?;
            views::findings(&*store, &*store, args, &cfg.alerts.posted.source, cli.format)
        }),
        Command::Silence(cmd) => blocking(|| {
            let cfg = load_config(&cli)?;
            let store = if matches!(cmd, SilenceCommand::List { .. }) { read_store(&cfg)? } else { open_store(&cfg)? };
            gateway_cli::silence(&*store, &*store, cmd, cli.format)
        }),
        Command::Alerts(cmd) => {
            let cfg = if matches!(cmd, AlertsCommand::Test { .. }) { start_config(&cli)? } else { load_config(&cli)? };
            let store = if matches!(cmd, AlertsCommand::Status) { read_store(&cfg)? } else { open_store(&cfg)? };
            gateway_cli::alerts(&cfg, store, cmd, cli.format).await
        }
        Command::Changes(args) => blocking(|| views::changes(&*read_store(&load_config(&cli)?)?, args, cli.format)),
        Command::Timeline(args) => blocking(|| views::timeline(&*read_store(&load_config(&cli)?)?, args, cli.format)),
        Command::History(args) => blocking(|| views::history(&*read_store(&load_config(&cli)?)?, args, cli.format)),
        Command::Diff(args) => blocking(|| views::diff(&*read_store(&load_config(&cli)?)?, args, cli.format)),
        Command::Certs => blocking(|| views::certs(&*read_store(&load_config(&cli)?)?, cli.format)),
        Command::Limits => blocking(|| views::limits(&*read_store(&load_config(&cli)?)?, cli.format)),
        Command::Status => blocking(|| views::status(&*read_store(&load_config(&cli)?)?, cli.format)),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(*shell, &mut Cli::command(), "troop", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()).map_err(runtime)
        }
        Command::Scan(args) => scan(&cli, args).await,
        Command::Run => run(&cli).await,
    }
}

/// The rules of other crates `troop_config::check_needs` applies.
const JUDGES: troop_config::Judges<'static> = troop_config::Judges {
    store: &troop_store::supported,
    template: &troop_alerts::template::Template::check_file,
    mailbox: &troop_alerts::sinks::smtp::check_mailbox,
    tls: &troop_server::tls::check,
};

fn config_check(path: Option<&std::path::PathBuf>, format: Format) -> Result<(), Fail> {
    let path = path.cloned().unwrap_or_else(|| troop_config::DEFAULT_FILE.into());
    match troop_config::load(Some(&path)).and_then(|cfg| {
        // What start-up resolves: secrets, files, the store URL.
        troop_config::check_needs(&cfg, &JUDGES).map(|_| cfg).map_err(LoadError::Invalid)
    }) {
        Ok(cfg) => {
            let origin = path.display().to_string();
            print_warnings(&origin, &cfg.warnings);
            match format {
                Format::Json => {
                    let warnings: Vec<serde_json::Value> = cfg
                        .warnings
                        .iter()
                        .map(|d| {
                            let mut v = diagnostic_json(&origin, d);
                            v["severity"] = "warning".into();
                            v
                        })
                        .collect();
                    output::print_json(&warnings).map_err(Fail::Runtime)?
                }
                Format::Table if cfg.warnings.is_empty() => println!("{origin}: ok"),
                Format::Table => println!(
                    "{origin}: ok, with {} warning(s): `troop run` and `troop scan` refuse to start until they are fixed or allowed",
                    cfg.warnings.len()
                ),
            }
            Ok(())
        }
        Err(LoadError::Unreadable { path, source }) => {
            Err(usage(anyhow!("cannot read config file {}: {source}", path.display())))
        }
        Err(LoadError::Invalid(errs)) => {
            if format == Format::Json {
                let diags: Vec<serde_json::Value> =
                    errs.diagnostics.iter().map(|d| diagnostic_json(&errs.origin, d)).collect();
                output::print_json(&diags).map_err(Fail::Runtime)?;
            }
            eprintln!("{errs}");
            eprintln!("troop: {} error(s) in {}", errs.diagnostics.len(), errs.origin);
            Err(Fail::UsageReported)
        }
    }
}

/// The config for a command that starts something (`scan`, `run`, a reload,
/// `alerts test`): parsed, and what start-up resolves checked the way `troop
/// config check` checks it, with the same located diagnostics.
fn start_config(cli: &Cli) -> Result<Config, Fail> {
    let cfg = load_config(cli)?;
    troop_config::check_needs(&cfg, &JUDGES).map_err(config_errors)?;
    // What `config check` warns about, nothing starts with.
    if !cfg.warnings.is_empty() {
        let origin = cfg.source.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "the configuration".into());
        return Err(config_errors(troop_config::ConfigErrors { origin, diagnostics: cfg.warnings.clone() }));
    }
    Ok(cfg)
}

/// One diagnostic as `config check --format json` prints it.
fn diagnostic_json(file: &str, d: &troop_config::Diagnostic) -> serde_json::Value {
    serde_json::json!({"file": file, "line": d.line, "column": d.column, "code": d.code, "message": d.message})
}

/// `origin:line:column: warning[code]: message`, one per line.
fn print_warnings(origin: &str, warnings: &[troop_config::Diagnostic]) {
    for d in warnings {
        eprintln!("{origin}:{}:{}: warning[{}]: {}", d.line, d.column, d.code, output::clean(&d.message));
    }
}

/// Every located diagnostic on stderr, and what to do.
fn config_errors(errs: troop_config::ConfigErrors) -> Fail {
    eprintln!("{errs}");
    eprintln!(
        "troop: {} error(s) in {}; run `troop config check` after fixing them",
        errs.diagnostics.len(),
        errs.origin
    );
    Fail::UsageReported
}

fn load_config(cli: &Cli) -> Result<Config, Fail> {
    match troop_config::load(cli.config.as_deref()) {
        Ok(c) => Ok(c),
        Err(LoadError::Invalid(errs)) => Err(config_errors(errs)),
        Err(e) => Err(usage(e)),
    }
}

fn open_store(cfg: &Config) -> Result<StoreHandle, Fail> {
    let password = store_password(cfg)?;
    tokio::task::block_in_place(|| troop_store::open(&cfg.agent.store, password.as_deref())).map_err(usage)
}

/// The store for a read verb: it must exist (exit 2 with the path tried and
/// what to do otherwise).
fn read_store(cfg: &Config) -> Result<StoreHandle, Fail> {
    let password = store_password(cfg)?;
    tokio::task::block_in_place(|| troop_store::open_existing(&cfg.agent.store, password.as_deref())).map_err(usage)
}

/// `troop store migrate`: copy `from` into the empty PostgreSQL store `to`
/// and show each table's rows in both.
fn store_migrate(cli: &Cli, from: &str, to: &str) -> Result<(), Fail> {
    // the configured store's password serves its own URL
    let cfg = match (&cli.config, std::path::Path::new(troop_config::DEFAULT_FILE).exists()) {
        (None, false) if std::env::var_os("TROOP_CONFIG").is_none() => None,
        _ => Some(load_config(cli)?),
    };
    let password_of = |url: &str| -> Result<Option<String>, Fail> {
        match &cfg {
            Some(c) if c.agent.store == url => store_password(c),
            _ => Ok(None),
        }
    };
    let (from_pw, to_pw) = (password_of(from)?, password_of(to)?);
    let term = progress::TermProgress::detect();
    let counts = troop_store::copy::migrate(from, to, from_pw.as_deref(), to_pw.as_deref(), &|table, n| {
        if let Some(t) = &term {
            t.update("store", &format!("{table}: {n} rows copied"));
        }
    });
    if let Some(t) = &term {
        t.clear();
    }
    let counts = counts.map_err(|e| match e {
        troop_store::copy::CopyError::Open(e) => usage(e),
        e @ troop_store::copy::CopyError::Refused(_) => usage(e),
        other => Fail::Runtime(other.into()),
    })?;
    match cli.format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = counts
                .iter()
                .map(
                    |(table, (source, target))| serde_json::json!({"table": table, "source": source, "target": target}),
                )
                .collect();
            output::print_json(&rows).map_err(Fail::Runtime)
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = counts
                .iter()
                .map(|(table, (source, target))| vec![table.clone(), source.to_string(), target.to_string()])
                .collect();
            print!("{}", output::table(&["TABLE", "SOURCE ROWS", "COPIED"], &rows));
            eprintln!("troop: copied and verified; point [agent] store at {}", troop_store::shown(to));
            Ok(())
        }
    }
}

/// `[agent] store_password`, resolved (exit 2 naming the secret when it
/// cannot be).
fn store_password(cfg: &Config) -> Result<Option<String>, Fail> {
    cfg.agent
        .store_password
        .as_ref()
        .map(|s| s.resolve())
        .transpose()
        .map_err(|e| usage(anyhow::anyhow!("[agent] store_password: {e}")))
}

/// Everything a scan or the daemon needs, built from the config.
struct Wired {
    engine: Arc<Engine>,
    gateway: Arc<troop_alerts::gateway::Gateway>,
    monkeys: Vec<troop_monkeys::registry::Built>,
    store: StoreHandle,
    metrics: Arc<Metrics>,
}

async fn wire(cfg: &Config, only: &[String], progress: Arc<dyn Progress>, json_stdout: bool) -> Result<Wired, Fail> {
    let store = open_store(cfg)?;
    let committed = Arc::new(tokio::sync::Notify::new());
    wire_on(cfg, only, progress, json_stdout, store, Arc::new(Metrics::default()), committed).await
}

/// Wire `cfg` onto a store, metrics and commit signal already there (a
/// reload keeps all three: the HTTP server wakes the gateway through the
/// signal).
async fn wire_on(
    cfg: &Config,
    only: &[String],
    progress: Arc<dyn Progress>,
    json_stdout: bool,
    store: StoreHandle,
    metrics: Arc<Metrics>,
    committed: Arc<tokio::sync::Notify>,
) -> Result<Wired, Fail> {
    let sinks = troop_alerts::registry::build(&cfg.alerts, json_stdout).map_err(usage)?;
    let aws = Arc::new(AwsContext::new(&cfg.aws).await);
    let monkeys = troop_monkeys::registry::build(cfg, &aws, only).map_err(usage)?;
    for m in &monkeys {
        metrics.register(m.monkey.name());
    }
    let engine = Arc::new(
        Engine::new(store.clone(), metrics.clone(), Arc::new(SystemClock), progress)
            .with_account_labels(aws.account_labels())
            .with_lease(cfg.agent.lease)
            .with_renewal(cfg.agent.lease_renewal)
            .with_committed(committed),
    );
    let retry = troop_alerts::retry::RetryPolicy { initial: cfg.alerts.retry_initial, max: cfg.alerts.retry_max };
    let gateway = troop_alerts::gateway::Gateway::new(
        store.clone(),
        troop_alerts::registry::route_tree(&cfg.alerts),
        sinks,
        retry,
        Arc::new(troop_core::clock::TokioClock::new()),
    )
    .with_metrics(metrics.clone());
    let gateway = Arc::new(gateway);
    Ok(Wired { engine, gateway, monkeys, store, metrics })
}

/// SIGTERM or SIGINT fires the trigger.
fn on_signals(trigger: ShutdownTrigger) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("signal received: shutting down");
        trigger.trigger();
    });
    Ok(())
}

async fn scan(cli: &Cli, args: &cli::ScanArgs) -> Result<(), Fail> {
    let cfg = start_config(cli)?;
    let term = progress::TermProgress::detect().map(Arc::new);
    let progress: Arc<dyn Progress> = match &term {
        Some(t) => t.clone(),
        None => Arc::new(NoProgress),
    };
    let w = wire(&cfg, &args.monkeys, progress, cli.format == Format::Json).await?;
    let (trigger, sd) = shutdown::channel();
    on_signals(trigger).map_err(Fail::Runtime)?;
    let passes = w
        .monkeys
        .iter()
        .map(|b| w.engine.run_pass(b.monkey.clone(), b.schedule.timeout, sd.clone(), cfg.agent.shutdown_grace));
    let summaries = futures::future::join_all(passes).await;
    if let Some(t) = &term {
        t.clear();
    }
    let mut failed = false;
    for s in &summaries {
        match &s.status {
            PassStatus::Ok => {}
            PassStatus::Failed(msg) => {
                failed = true;
                eprintln!("troop: {} failed: {}", s.monkey, output::clean(msg));
            }
            PassStatus::TimedOut(d) => {
                failed = true;
                eprintln!("troop: {} failed: timed out after {}", s.monkey, humantime::format_duration(*d));
            }
            PassStatus::Abandoned => {
                failed = true;
                eprintln!("troop: {} interrupted; what it had not committed was not stored", s.monkey);
            }
            PassStatus::Skipped => eprintln!("troop: {} skipped: a pass was already running", s.monkey),
            PassStatus::Superseded(reason) => {
                failed = true;
                eprintln!(
                    "troop: {}: this pass was not stored: {}; run the scan again",
                    s.monkey,
                    output::clean(reason)
                );
            }
            PassStatus::Busy(why) => {
                failed = true;
                eprintln!(
                    "troop: {} not run: {}; what that process reads reaches the store when it finishes (run the scan again after it)",
                    s.monkey,
                    output::clean(why)
                );
            }
        }
    }
    let stored = summaries.iter().any(|s| s.shards.iter().any(|sh| sh.status.committed()));
    alert(&w.gateway, stored).await;
    match cli.format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = summaries
                .iter()
                .map(|s| {
                    let (status, error) = match &s.status {
                        PassStatus::Ok => ("ok", None),
                        PassStatus::Failed(m) => ("failed", Some(m.clone())),
                        PassStatus::TimedOut(_) => ("timed_out", None),
                        PassStatus::Abandoned => ("abandoned", None),
                        PassStatus::Skipped => ("skipped", None),
                        PassStatus::Superseded(m) => ("superseded", Some(m.clone())),
                        PassStatus::Busy(m) => ("busy", Some(m.clone())),
                    };
                    serde_json::json!({
                        "monkey": s.monkey,
                        "status": status,
                        "error": error,
                        "duration_seconds": s.duration.as_secs_f64(),
                        "items": s.items_seen,
                        "revisions": s.revisions_written,
                        "open_findings": s.open_findings,
                        "events": s.changes,
                        "shards": s.shards.iter().map(|sh| {
                            let (status, error) = sh.status.word();
                            serde_json::json!({"shard": sh.shard, "status": status, "error": error})
                        }).collect::<Vec<_>>(),
                        "aws_api_calls": s.counters.get("aws_api_calls").copied().unwrap_or(0),
                        "aws_api_calls_by_operation": s
                            .counters
                            .iter()
                            .filter_map(|(k, v)| k.strip_prefix("aws_api_calls:").map(|op| (op.to_string(), *v)))
                            .collect::<std::collections::BTreeMap<_, _>>(),
                    })
                })
                .collect();
            output::print_json(&rows).map_err(Fail::Runtime)?;
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = summaries
                .iter()
                .map(|s| {
                    vec![
                        s.monkey.clone(),
                        match &s.status {
                            PassStatus::Ok => "ok".into(),
                            PassStatus::Failed(_) => "FAILED".into(),
                            PassStatus::TimedOut(_) => "TIMED OUT".into(),
                            PassStatus::Abandoned => "INTERRUPTED".into(),
                            PassStatus::Skipped => "skipped".into(),
                            PassStatus::Superseded(_) => "SUPERSEDED".into(),
                            PassStatus::Busy(_) => "BUSY".into(),
                        },
                        format!("{:.1}s", s.duration.as_secs_f64()),
                        format!(
                            "{}/{}",
                            s.shards.iter().filter(|sh| sh.status == ShardStatus::Committed).count(),
                            s.shards.len()
                        ),
                        s.items_seen.to_string(),
                        s.revisions_written.to_string(),
                        s.open_findings.to_string(),
                        s.counters.get("aws_api_calls").copied().unwrap_or(0).to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(
                    &["MONKEY", "STATUS", "TIME", "SHARDS", "ITEMS", "REVISIONS", "OPEN FINDINGS", "AWS CALLS"],
                    &rows
                )
            );
        }
    }
    if failed {
        return Err(Fail::Code(1));
    }
    if let Some(threshold) = args.fail_on {
        let min = Severity::from(threshold);
        // Open as users see them: a silenced finding is a reviewed justification.
        let filter =
            FindingFilter { state: Some(FindingState::Open), monkey: None, min_severity: Some(min), item: None };
        let now = troop_core::alerting::millis(time::OffsetDateTime::now_utc());
        let view = blocking(|| troop_core::alerting::silence::findings_view(&*w.store, &*w.store, filter, now));
        let n = view.map_err(runtime)?.len();
        if n > 0 {
            eprintln!("troop: {n} open finding(s) at or above {min} (silenced ones not counted)");
            return Err(Fail::Code(3));
        }
    }
    Ok(())
}

/// A one-shot scan's alerting: queue what the passes changed (without
/// waiting for group_wait), then give every sink one delivery run. What a
/// sink could not take stays in its outbox for the next scan or the daemon.
/// Route and deliver what the store holds for the sinks, if this process
/// gets the alert lease; `stored`: this scan committed something.
async fn alert(gateway: &Arc<troop_alerts::gateway::Gateway>, stored: bool) {
    let gw = gateway.clone();
    let queued = tokio::task::spawn_blocking(move || {
        if !gw.lease(Duration::from_secs(120))? {
            return Ok(false);
        }
        gw.round(gw.now(), true).map(|_| true)
    })
    .await;
    match queued {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            if stored {
                eprintln!(
                    "troop: another troop process (`troop run`, or another scan) holds this store's alert lease; it sends this scan's alerts"
                );
            }
            return;
        }
        Ok(Err(e)) => eprintln!("troop: alerts not queued: {e}"),
        Err(e) => eprintln!("troop: alerts not queued: {e}"),
    }
    let runs = gateway.sinks().iter().map(|s| async move { (s.name().to_string(), gateway.deliver(&**s).await) });
    for (sink, result) in futures::future::join_all(runs).await {
        match result {
            Ok(d) if d.retry_at.is_some() || d.failed > 0 => eprintln!(
                "troop: sink {sink}: {}; {}",
                output::clean(&d.last_error.unwrap_or_default()),
                if d.retry_at.is_some() {
                    "kept in its outbox, delivered by the next scan or `troop run`"
                } else {
                    "failed for good (see `troop alerts status`)"
                }
            ),
            Ok(_) => {}
            Err(e @ troop_core::StoreError::Superseded { .. }) => eprintln!("troop: sink {sink}: {e}"),
            Err(e) => eprintln!("troop: sink {sink}: outbox unreadable: {}", output::clean(&e.to_string())),
        }
    }
    gateway.release().await;
}

/// Honest /metrics from the first scrape: the build, and what the store
/// knows from before this process (open findings, last successes, each
/// monkey's gauges of its last successful pass).
fn restore_metrics(w: &Wired) -> Result<(), troop_core::StoreError> {
    w.metrics.set_build_info(env!("CARGO_PKG_VERSION"), env!("TROOP_COMMIT"), env!("TROOP_BUILD_DATE"));
    let open = FindingFilter { state: Some(FindingState::Open), monkey: None, min_severity: None, item: None };
    let mut open_by_monkey = std::collections::BTreeMap::new();
    for f in w.store.findings(&open)? {
        *open_by_monkey.entry(f.monkey).or_insert(0usize) += 1;
    }
    let last = w.store.last_successes()?.into_iter().map(|(m, t)| (m, t.unix_timestamp())).collect();
    let mut gauges = std::collections::BTreeMap::new();
    for o in w.store.observations(troop_core::engine::GAUGES)? {
        // per shard (`shard`), or per monkey as stores before shards kept them
        let (Some(shard), Ok(gs)) = (
            o["shard"].as_str().or(o["monkey"].as_str()),
            serde_json::from_value::<Vec<troop_core::monkey::Gauge>>(o["gauges"].clone()),
        ) else {
            continue;
        };
        gauges.insert(shard.to_string(), gs);
    }
    w.metrics.restore(&open_by_monkey, &last, gauges);
    let shards = w.store.shard_records(time::OffsetDateTime::now_utc())?;
    w.metrics.restore_shards(shards.into_iter().filter_map(|r| Some((r.shard, r.last_success?))));
    Ok(())
}

/// Tell the store this replica is alive, every `HEARTBEAT`, until `stop`.
async fn heartbeat(store: StoreHandle, mut stop: Shutdown) {
    let started_at = troop_core::alerting::millis(time::OffsetDateTime::now_utc());
    let replica = troop_core::store::lease_owner();
    loop {
        let beat = troop_core::status::Replica {
            replica: replica.clone(),
            host: troop_core::store::host_name(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at,
            seen_at: troop_core::alerting::millis(time::OffsetDateTime::now_utc()),
        };
        if let Err(e) = troop_core::store::blocking(&store, move |s| s.heartbeat(&beat)).await {
            tracing::warn!(error = %e, "could not record this replica's heartbeat");
        }
        tokio::select! {
            _ = tokio::time::sleep(troop_core::status::HEARTBEAT) => {}
            _ = stop.recv() => break,
        }
    }
}

async fn run(cli: &Cli) -> Result<(), Fail> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut cfg = start_config(cli)?;
    let mut w = wire(&cfg, &[], Arc::new(NoProgress), false).await?;
    let http = troop_server::Http::new(&cfg.agent, w.metrics.clone()).map_err(usage)?;
    let scheme = http.scheme();
    let listener = troop_server::bind(cfg.agent.listen).await.map_err(usage)?;
    let (trigger, stop) = shutdown::channel();
    on_signals(trigger).map_err(Fail::Runtime)?;
    let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler").map_err(Fail::Runtime)?;
    w.metrics.record_reload(true, time::OffsetDateTime::now_utc().unix_timestamp());
    blocking(|| restore_metrics(&w)).map_err(runtime)?;
    eprintln!(
        "troop: running {} monkey(s); serving {scheme}://{} (/healthz, /metrics); SIGHUP reloads {}",
        w.monkeys.len(),
        listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        cli.config.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "the configuration".into()),
    );
    let posted = Arc::new(std::sync::RwLock::new(cfg.alerts.posted.clone()));
    let ui = Arc::new(troop_server::ui::Ui::new());
    ui.set_intervals(monkey_intervals(&w));
    let state = troop_server::AppState {
        store: w.store.clone(),
        metrics: w.metrics.clone(),
        posted: posted.clone(),
        // every generation's engine and gateway share this signal (wire_on)
        committed: w.engine.committed(),
        ui: ui.clone(),
    };
    let server = tokio::spawn(troop_server::serve(listener, state, http, stop.clone()));
    tokio::spawn(heartbeat(w.store.clone(), stop.clone()));
    // a reload keeps each monkey's rhythm
    let starts = troop_core::scheduler::Starts::default();
    loop {
        // One generation: the monkeys, scheduler and gateway of one configuration.
        let (gen_trigger, generation) = shutdown::channel();
        let monkeys = w.monkeys.iter().map(|b| (b.monkey.clone(), b.schedule)).collect();
        let grace = cfg.agent.shutdown_grace;
        let scheduler = tokio::spawn(troop_core::scheduler::run_keeping(
            w.engine.clone(),
            monkeys,
            generation.clone(),
            grace,
            starts.clone(),
        ));
        let gateway =
            tokio::spawn(w.gateway.clone().run(w.engine.committed(), Duration::from_secs(5), generation.clone()));
        let next = loop {
            let mut stopping = stop.clone();
            tokio::select! {
                _ = stopping.recv() => break None,
                _ = hangup.recv() => {
                    if let Some(new) = reload(cli, &cfg, &w).await {
                        break Some(new);
                    }
                }
            }
        };
        gen_trigger.trigger();
        // Passes get `grace` to finish; past that they are abandoned unwritten
        // (and whatever still runs is aborted, so no two generations overlap).
        let mut tasks = [scheduler, gateway];
        if tokio::time::timeout(grace + Duration::from_millis(500), async {
            for t in &mut tasks {
                let _ = t.await;
            }
        })
        .await
        .is_err()
        {
            tasks.iter().for_each(|t| t.abort());
            tracing::warn!("shutdown deadline passed; going on");
        }
        match next {
            Some((new_cfg, new_w)) => {
                (cfg, w) = (new_cfg, new_w);
                *posted.write().unwrap_or_else(|e| e.into_inner()) = cfg.alerts.posted.clone();
                ui.set_intervals(monkey_intervals(&w));
                let names: Vec<&str> = w.monkeys.iter().map(|b| b.monkey.name()).collect();
                w.metrics.keep_gauges_of(&names);
                eprintln!("troop: configuration reloaded; running {} monkey(s)", w.monkeys.len());
            }
            None => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(500), server).await;
    eprintln!("troop: stopped");
    Ok(())
}

/// Each running monkey's interval in seconds (the page marks a monkey whose
/// last success is older than twice it as stale).
fn monkey_intervals(w: &Wired) -> Vec<(String, i64)> {
    w.monkeys.iter().map(|b| (b.monkey.name().to_string(), b.schedule.interval.as_secs() as i64)).collect()
}

/// SIGHUP: read and check the configuration again and wire it onto the
/// running store and metrics. Anything wrong (errors in the file, a change
/// only a restart can make) keeps the running configuration, says why on
/// stderr, and shows in `troop_config_last_reload_successful`.
async fn reload(cli: &Cli, running: &Config, w: &Wired) -> Option<(Config, Wired)> {
    let now = || time::OffsetDateTime::now_utc().unix_timestamp();
    let refused = |why: String| {
        eprintln!("troop: reload refused, the running configuration stays: {why}");
        w.metrics.record_reload(false, now());
        None
    };
    let cfg = match start_config(cli) {
        Ok(c) => c,
        Err(_) => return refused("the configuration has errors (above)".into()),
    };
    if cfg.agent.store != running.agent.store
        || cfg.agent.listen != running.agent.listen
        || cfg.agent.http != running.agent.http
        || cfg.agent.http_access != running.agent.http_access
    {
        return refused("[agent] store, listen and [agent.http] change only with a restart".into());
    }
    match wire_on(&cfg, &[], Arc::new(NoProgress), false, w.store.clone(), w.metrics.clone(), w.engine.committed())
        .await
    {
        Ok(new) => {
            w.metrics.record_reload(true, now());
            Some((cfg, new))
        }
        Err(e) => refused(match e {
            Fail::Usage(e) | Fail::Runtime(e) => format!("{e:#}"),
            _ => "the configuration could not be wired".into(),
        }),
    }
}
