//! Command-line surface (see SPEC.md). Parsing only.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "troop",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("TROOP_COMMIT"), " ", env!("TROOP_BUILD_DATE"), ")"),
    about = "A troop of small periodic watchers over an AWS estate, behind one alert gateway"
)]
pub struct Cli {
    /// Config file (default: troop.toml in the working directory if present, else built-in
    /// defaults). Relative paths inside it are relative to its directory.
    #[arg(short, long, global = true, value_name = "PATH", env = "TROOP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format of listings.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// More log output on stderr (-v info, -vv debug). TROOP_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Tables at full width (by default they fit the terminal, or COLUMNS).
    #[arg(long, global = true)]
    pub wide: bool,
    /// Colour (severity, diff lines): auto = on a terminal unless NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,
    /// Log lines on stderr as text or as JSON objects (for log shippers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateArg {
    Open,
    Resolved,
    Silenced,
    All,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeverityArg {
    Warning,
    Critical,
}

impl From<SeverityArg> for troop_core::Severity {
    fn from(s: SeverityArg) -> Self {
        match s {
            SeverityArg::Warning => troop_core::Severity::Warning,
            SeverityArg::Critical => troop_core::Severity::Critical,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Daemon: run every enabled monkey on its interval and serve HTTP until SIGTERM/SIGINT.
    Run,
    /// One pass of the enabled monkeys (or only those named); store, alert, summarise.
    Scan(ScanArgs),
    /// Current findings.
    Findings(FindingsArgs),
    /// Security revisions recorded in a window ("what changed in the last hour?").
    Changes(ChangesArgs),
    /// One time-ordered list of security revisions, posted change events and alert transitions ("what happened in the last hour?").
    Timeline(TimelineArgs),
    /// Every revision of one item, or its state at a past time.
    History(HistoryArgs),
    /// A readable diff between two revisions of one item (default: the last two).
    Diff(DiffArgs),
    /// Every certificate observed by the last certs pass, soonest expiry first.
    Certs,
    /// Every quota evaluated by the last limits pass, highest usage first.
    Limits,
    /// Replicas alive, and each shard (monkey × account [× region]): who holds it, its last
    /// success and lag.
    Status,
    /// Silences: mute findings that match, for a time, with a reason.
    #[command(subcommand)]
    Silence(SilenceCommand),
    /// The alert gateway: test a sink, see each sink's outbox.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Validate a config, or print a commented example.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The store itself: copy it into PostgreSQL.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), e.g. `troop man > /usr/local/share/man/man1/troop.1`.
    Man,
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Copy every table of the store at --from (revisions with their history, findings, the
    /// alert log and its cursor, groups, outboxes, silences, observations, leases) into the empty
    /// PostgreSQL store at --to, in one transaction, then check every table's row count.
    /// Passwords: in the URL, `[agent] store_password` for the configured store's URL, or
    /// PGPASSWORD.
    Migrate {
        /// The store to copy (`sqlite://PATH` or `postgres://…`).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The empty PostgreSQL store to copy into (`postgres://USER@HOST/DB`).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SilenceCommand {
    /// Mute findings matching every --match for --for, with a reason.
    Add(SilenceAddArgs),
    /// Active silences (with --all, expired ones too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// End a silence now.
    Remove { id: String },
}

#[derive(Args, Debug)]
pub struct SilenceAddArgs {
    /// Label matcher (repeatable, all must match): KEY=VALUE, KEY!=VALUE, KEY=~REGEX, KEY!~REGEX.
    #[arg(long = "match", value_name = "KEY=VALUE", required = true)]
    pub matchers: Vec<String>,
    /// How long ("2h", "7d").
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: String,
    /// Why (shown in `silence list`).
    #[arg(long)]
    pub reason: String,
    /// Who (default: $USER).
    #[arg(long)]
    pub author: Option<String>,
    /// Accept matchers on label keys no stored finding carries (they would
    /// silence nothing today).
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// Send a test notification through SINK's real path (template, transport, credentials).
    Test { sink: String },
    /// Each sink's outbox: pending, failed for good, delivered, last error.
    Status,
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Run only this monkey (repeatable): security, certs, limits.
    #[arg(long = "monkey", value_name = "NAME")]
    pub monkeys: Vec<String>,
    /// Exit 3 when open findings at or above this severity exist after the scan.
    #[arg(long, value_enum)]
    pub fail_on: Option<SeverityArg>,
}

#[derive(Args, Debug)]
pub struct FindingsArgs {
    #[arg(long, value_enum, default_value_t = StateArg::Open)]
    pub state: StateArg,
    #[arg(long, value_name = "NAME")]
    pub monkey: Option<String>,
    /// Only findings at or above this severity.
    #[arg(long, value_enum)]
    pub severity: Option<SeverityArg>,
}

#[derive(Args, Debug)]
pub struct ChangesArgs {
    /// A duration back from now ("1h", "7d") or an RFC 3339 time.
    #[arg(long, default_value = "24h", value_name = "DURATION|RFC3339")]
    pub since: String,
    /// Only this technology (`iam` for every `iam:*`, or `iam:role`); repeatable.
    #[arg(long, value_name = "TECHNOLOGY")]
    pub technology: Vec<String>,
    /// Only this AWS account id; repeatable.
    #[arg(long, value_name = "ID")]
    pub account: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TimelineArgs {
    /// A duration back from now ("1h", "7d") or an RFC 3339 time.
    #[arg(long, default_value = "1h", value_name = "DURATION|RFC3339")]
    pub since: String,
    /// Only lines of this source (a monkey, or who posted an event).
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// Only posted events of this type (deployment, config, ...).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Item id as `troop changes` shows it, or a unique suffix / name (e.g. `sg-0abc`).
    pub item: String,
    /// Show the item as it was at this time (duration back from now, or RFC 3339).
    #[arg(long, value_name = "DURATION|RFC3339")]
    pub at: Option<String>,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Item id as `troop changes` shows it, or a unique suffix / name.
    pub item: String,
    /// Older revision (default: the one before --to).
    #[arg(long, value_name = "N")]
    pub from: Option<i64>,
    /// Newer revision (default: the latest).
    #[arg(long, value_name = "N")]
    pub to: Option<i64>,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate PATH (default: --config, else troop.toml); every error with line:column, exit 2 on error.
    Check { path: Option<PathBuf> },
    /// Print a commented example config.
    Example,
}
