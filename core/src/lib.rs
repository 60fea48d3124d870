//! troop-core: the vocabulary every other crate speaks.
//!
//! Owns the finding model and its fingerprint, the `Monkey`, `Store` and `Sink`
//! traits, the pass engine (run a monkey, commit its report atomically, hand the
//! resulting events to sinks), the scheduler, shutdown signalling and metrics.
//!
//! Invariant: nothing here talks to AWS or the network. Everything that needs IO
//! comes in through a trait object.

pub mod alerting;
pub mod api_access;
pub mod budget;
pub mod canonical;
pub mod certs;
pub mod clock;
pub mod engine;
pub mod finding;
pub mod finding_query;
pub mod history;
pub mod lifecycle;
pub mod limits;
pub mod metrics;
pub mod monkey;
pub mod properties;
pub mod proxy;
pub mod scheduler;
pub mod security;
pub mod shutdown;
pub mod sink;
pub mod status;
pub mod store;
pub mod timeline;

pub use clock::{Clock, SystemClock};

/// Every monkey troop knows, in the order passes are reported: the one list
/// (the registry builds them, filters check names against it).
pub const MONKEYS: &[&str] = &[security::MONKEY, certs::MONKEY, limits::MONKEY];

/// The monkeys findings come from: [`MONKEYS`], then the source posted
/// alerts are filed under (`[alerts.posted] source`).
pub fn finding_sources(posted_source: &str) -> Vec<&str> {
    MONKEYS.iter().copied().chain(std::iter::once(posted_source)).collect()
}

/// The name of `known` closest to `name` (Levenshtein distance at most 3), for
/// "did you mean" hints.
pub fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    // names are lower case: `IAM` is closest to `iam`
    let name = name.to_lowercase();
    known.iter().copied().min_by_key(|k| strsim::levenshtein(k, &name)).filter(|k| strsim::levenshtein(k, &name) <= 3)
}

/// `name` is one of `known`, or an error that lists them and names the
/// closest (for typos in filters: an unknown name must never read as an
/// empty answer).
pub fn known_name(what: &str, name: &str, known: &[&str]) -> Result<(), String> {
    if known.contains(&name) {
        return Ok(());
    }
    let hint = closest(name, known).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
    Err(format!("unknown {what} `{name}` (known: {}){hint}", known.join(", ")))
}

/// Text from outside (a receiver's answer, a certificate subject, an SMTP
/// greeting) made safe for a terminal, a log line or a page: every C0/C1
/// control character becomes U+FFFD (newlines and tabs become spaces), so
/// nothing clears a screen or sets a window title. The one place this is
/// decided; the binary's output and the web page both use it.
pub fn clean_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\n' | '\t' => ' ',
                c if c.is_control() => '\u{FFFD}',
                c => c,
            })
            .collect(),
    )
}

/// [`clean_controls`] for a page, where a line break or a tab is text (a
/// form's lines): those stay, every other control character becomes
/// U+FFFD.
pub fn clean_controls_keeping_lines(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t');
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(s.chars().map(|c| if bad(c) { '\u{FFFD}' } else { c }).collect())
}

/// The minijinja formatter of every template troop renders (the pages,
/// the sinks' messages): a value loses its control characters
/// ([`clean_controls_keeping_lines`]) and is then written as the template's
/// auto-escaping says (HTML for a `.html` name).
pub fn template_formatter(
    out: &mut minijinja::Output<'_>,
    state: &minijinja::State<'_, '_>,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    if !value.is_safe()
        && let Some(s) = value.as_str()
        && let std::borrow::Cow::Owned(cleaned) = clean_controls_keeping_lines(s)
    {
        return minijinja::escape_formatter(out, state, &minijinja::Value::from(cleaned));
    }
    minijinja::escape_formatter(out, state, value)
}

pub use engine::{Engine, PassStatus, PassSummary};
pub use finding::{EventKind, Finding, FindingEvent, FindingState, Severity, StoredFinding};
pub use monkey::{
    Attribution, Coverage, Gauge, Monkey, MonkeyError, Observed, PassContext, Progress, Report, Snapshot, Written,
};
pub use shutdown::Shutdown;
pub use sink::{Sink, SinkError};
pub use store::{Store, StoreError};
