//! What each page shows, read from the store through the views the CLI and
//! the JSON API use, arranged for its template. Each returns the page's
//! template context; store failures become error pages.

use crate::{ApiError, bad_request, unreadable};
use axum::http::StatusCode;
use minijinja::{Value, context};
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use troop_core::FindingState;
use troop_core::alerting::Matcher;
use troop_core::alerting::silence::findings_view;
use troop_core::finding::{Severity, StoredFinding};
use troop_core::finding_query::{FindingQuery, PAGE_SIZE, SORTS, count_by_severity, encode};
use troop_core::store::{Backend, FindingFilter, Revision, SilenceRecord};

/// How many rows the overview shows of each list.
const OVERVIEW_ROWS: usize = 10;

/// The most changes one page lists (newest first; a narrower window or a
/// filter, or `/api/v1/changes`, gives the rest).
const CHANGES_ROWS: usize = 1_000;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// "3m", "2h", "5d": how long ago `secs` was, as people glance at it.
fn age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7_200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    }
}

/// The link to an item's page.
pub(crate) fn item_href(item: &str) -> String {
    format!("/items/{}", encode(item))
}

/// A matcher's text as the silence form takes it (`name="value"`, quoted
/// and escaped as [`Matcher`] writes it, so a value with a quote or a line
/// break survives the form).
fn matcher_text(label: &str, value: &str) -> Option<String> {
    Matcher::new(label, troop_core::alerting::matcher::Op::Eq, value).ok().map(|m| m.to_string())
}

/// The silence form, prefilled with `matchers` and a `reason`.
fn silence_form_href(matchers: &[String], reason: Option<&str>) -> String {
    let mut q: Vec<String> = matchers.iter().map(|m| format!("matcher={}", encode(m))).collect();
    q.extend(reason.map(|r| format!("reason={}", encode(r))));
    format!("/silences?{}", q.join("&"))
}

/// The silence form, prefilled with matchers on a finding's identity.
fn silence_href(f: &StoredFinding) -> String {
    let matchers: Vec<String> =
        [("monkey", &f.monkey), ("kind", &f.kind), ("account", &f.account), ("resource", &f.resource)]
            .iter()
            .filter_map(|(k, v)| matcher_text(k, v))
            .collect();
    silence_form_href(&matchers, Some(&format!("{}: ", f.title)))
}

/// The silence form, prefilled with matchers for everything a findings
/// filter shows: `None` when the filter has none that are labels (or asks
/// for a technology or text, which no matcher expresses).
fn silence_filter_href(q: &FindingQuery) -> Option<String> {
    if q.technology.is_some() || q.text.is_some() {
        return None;
    }
    let mut matchers: Vec<String> =
        [("monkey", &q.monkey), ("kind", &q.kind), ("account", &q.account), ("region", &q.region), ("owner", &q.owner)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().and_then(|v| matcher_text(k, v)))
            .collect();
    if let Some((k, v)) = &q.label {
        matchers.push(matcher_text(k, v)?);
    }
    match (q.min_severity, q.exact_severity) {
        (Some(s), true) | (Some(s @ Severity::Critical), false) => matchers.push(format!("severity={s}")),
        (Some(Severity::Warning), false) => matchers.push("severity=~warning|critical".into()),
        _ => {}
    }
    (!matchers.is_empty()).then(|| silence_form_href(&matchers, None))
}

/// One finding as a row of a page: the finding as stored (its state as
/// shown) and the links a page adds.
#[derive(Serialize)]
struct FindingLine<'a> {
    #[serde(flatten)]
    finding: &'a StoredFinding,
    owner: Option<&'a str>,
    /// The item's page, for findings about a security item.
    item_href: Option<String>,
    silenced_by: Option<&'a str>,
    silence_href: String,
}

impl<'a> FindingLine<'a> {
    fn new(f: &'a StoredFinding, silenced_by: Option<&'a str>) -> FindingLine<'a> {
        FindingLine {
            finding: f,
            owner: f.labels.get("owner").map(String::as_str),
            item_href: f.details.get("item").and_then(|i| i.as_str()).map(item_href),
            silenced_by,
            silence_href: silence_href(f),
        }
    }
}

/// One revision as a line of the changes list or an item's timeline.
#[derive(Serialize)]
struct ChangeLine {
    at: String,
    /// `revision` or `event`.
    kind: String,
    /// The technology, or a posted event's `type`.
    what: String,
    account: String,
    region: String,
    name: String,
    /// Who made it, or the event's source.
    who: String,
    summary: Vec<String>,
    change: String,
    href: Option<String>,
    revision: Option<i64>,
}

impl ChangeLine {
    fn revision(r: &Revision) -> ChangeLine {
        ChangeLine {
            at: r.at.clone(),
            kind: "revision".into(),
            what: r.technology.clone(),
            account: r.account.clone(),
            region: r.region.clone(),
            name: r.name.clone(),
            who: troop_core::history::who_text(r.who.as_ref()),
            summary: r.summary.clone(),
            change: r.change.clone(),
            href: Some(item_href(&r.item)),
            revision: Some(r.revision),
        }
    }

    fn event(e: &troop_core::timeline::ChangeEvent) -> ChangeLine {
        ChangeLine {
            at: e.at.clone(),
            kind: "event".into(),
            what: e.kind.clone(),
            account: e.account.clone().unwrap_or_default(),
            region: String::new(),
            name: e.resource.clone().unwrap_or_default(),
            who: e.source.clone(),
            summary: vec![e.summary.clone()],
            change: String::new(),
            href: None,
            revision: None,
        }
    }
}

/// `/`: open findings by severity and monkey, the last hour's changes, the
/// soonest certificate expiries, quotas at or above warning, each monkey's
/// last successful pass (stale past twice its interval), each sink's outbox.
pub(super) fn overview(st: &dyn Backend, intervals: &BTreeMap<String, i64>) -> Result<Value, ApiError> {
    let now = now();
    let unix = now.unix_timestamp();
    let (open, silenced): (Vec<_>, Vec<_>) = troop_core::alerting::silence::unresolved_view(st, st, ms(now))?
        .into_iter()
        .partition(|(f, _)| f.state == FindingState::Open);
    let by_severity: Vec<Value> = count_by_severity(open.iter().map(|(f, _)| f))
        .into_iter()
        .map(|(s, n)| context! { severity => s, n => n, href => format!("/findings?severity={s}&only=1") })
        .collect();
    let mut monkeys: BTreeMap<String, usize> = BTreeMap::new();
    for (f, _) in &open {
        *monkeys.entry(f.monkey.clone()).or_default() += 1;
    }
    let by_monkey: Vec<Value> = monkeys
        .into_iter()
        .map(|(m, n)| context! { href => format!("/findings?monkey={}", encode(&m)), monkey => m, n => n })
        .collect();
    let (changes_total, changes) = st.revisions_latest(now - time::Duration::hours(1), OVERVIEW_ROWS)?;
    let changes: Vec<ChangeLine> = changes.iter().map(ChangeLine::revision).collect();
    let certs = troop_core::certs::rows_as_of(st.observations("cert")?, unix).map_err(unreadable)?;
    let certs: Vec<_> =
        certs.into_iter().filter(|c| c.expiry().is_some() || c.error.is_some()).take(OVERVIEW_ROWS).collect();
    let quotas: Vec<_> = troop_core::limits::rows(st.observations("quota")?)
        .map_err(unreadable)?
        .into_iter()
        .filter(|q| q.severity.is_some())
        .collect();
    let successes = st.last_successes()?;
    let mut names: Vec<String> = intervals.keys().cloned().collect();
    names.extend(successes.keys().filter(|k| !intervals.contains_key(*k)).cloned());
    let passes: Vec<Value> = names
        .iter()
        .map(|m| {
            let last = successes.get(m).map(|t| t.unix_timestamp());
            let stale = match (last, intervals.get(m)) {
                (Some(t), Some(i)) => unix - t > 2 * i,
                (None, Some(_)) => true,
                _ => false,
            };
            context! {
                monkey => m,
                last_success => last.map(troop_core::clock::rfc3339_unix),
                age => last.map(|t| age(unix - t)),
                interval => intervals.get(m).map(|i| age(*i)),
                stale => stale,
            }
        })
        .collect();
    let outboxes = st.outbox_stats()?;
    Ok(context! {
        open_total => open.len(),
        silenced_total => silenced.len(),
        by_severity => by_severity,
        by_monkey => by_monkey,
        changes => changes,
        changes_total => changes_total,
        certs => certs,
        quotas => quotas,
        passes => passes,
        outboxes => outboxes,
        now => troop_core::clock::rfc3339(now),
    })
}

fn ms(t: OffsetDateTime) -> troop_core::alerting::Millis {
    troop_core::alerting::millis(t)
}

/// `/findings?…`: [`FindingQuery`]'s filters, sorted, a page of
/// [`PAGE_SIZE`], with counts.
pub(super) fn findings(st: &dyn Backend, pairs: &[(String, String)], source: &str) -> Result<Value, ApiError> {
    let q = FindingQuery::parse(pairs).map_err(bad_request)?;
    if let Some(m) = &q.monkey {
        troop_core::known_name("monkey", m, &troop_core::finding_sources(source)).map_err(bad_request)?;
    }
    // the store narrows by state, monkey and severity; the rest here
    let filter = FindingFilter { state: q.state, monkey: q.monkey.clone(), min_severity: q.min_severity, item: None };
    let mut found = findings_view(st, st, filter, ms(now()))?;
    found.retain(|(f, _)| q.keeps(f));
    q.sort(&mut found, |(f, _)| f);
    let total = found.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = q.page.min(pages);
    let rows: Vec<FindingLine> = found
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|(f, by)| FindingLine::new(f, by.as_deref()))
        .collect();
    let counts: Vec<Value> = count_by_severity(found.iter().map(|(f, _)| f))
        .into_iter()
        .map(|(s, n)| context! { severity => s, n => n })
        .collect();
    let sorts: BTreeMap<&str, Value> = SORTS
        .iter()
        .map(|s| {
            // a column's link sorts by it; on the current one, flips it
            let dir = if q.sort == *s && q.descending {
                "asc"
            } else if q.sort == *s {
                "desc"
            } else {
                ""
            };
            let link = context! {
                current => q.sort == *s,
                descending => q.descending,
                href => format!("/findings{}", q.href(&[("sort", s), ("dir", dir), ("page", "")])),
            };
            (*s, link)
        })
        .collect();
    let label = q.label.as_ref().map(|(k, v)| format!("{k}={v}"));
    Ok(context! {
        rows => rows,
        total => total,
        counts => counts,
        page => page,
        pages => pages,
        prev => (page > 1).then(|| format!("/findings{}", q.href(&[("page", &(page - 1).to_string())]))),
        next => (page < pages).then(|| format!("/findings{}", q.href(&[("page", &(page + 1).to_string())]))),
        sorts => sorts,
        silence_filter => silence_filter_href(&q),
        f => context! {
            state => q.state.map(|s| s.as_str()).unwrap_or("all"),
            severity => q.min_severity.map(|s| s.as_str()).unwrap_or(""),
            monkey => q.monkey, kind => q.kind, account => q.account, region => q.region,
            technology => q.technology, owner => q.owner, label => label, q => q.text,
        },
        states => ["open", "silenced", "resolved", "all"],
        severities => troop_core::finding_query::SEVERITIES,
        only => q.exact_severity,
        monkeys => troop_core::finding_sources(source),
    })
}

/// One line of an item's unified diff, classified for colour: `add`,
/// `del`, `hunk` (a jump over unchanged lines) or `same`; the file headers
/// are left out (the page names the revisions).
#[derive(Debug, PartialEq, Serialize)]
pub(crate) struct DiffLine {
    pub class: &'static str,
    pub text: String,
}

pub(crate) fn diff_lines(diff: &str) -> Vec<DiffLine> {
    diff.lines()
        .filter(|l| !l.starts_with("--- ") && !l.starts_with("+++ "))
        .map(|l| {
            let class = match l.chars().next() {
                Some('+') => "add",
                Some('-') => "del",
                Some('@') => "hunk",
                _ => "same",
            };
            DiffLine { class, text: l.to_string() }
        })
        .collect()
}

/// `/items/{item}[?from=N&to=N]`: identity, state, every revision with who
/// and the reviewer's sentences, the diff between two revisions (default:
/// the latest and the one before), the findings on it.
pub(super) fn item(st: &dyn Backend, query: &str, pairs: &[(String, String)]) -> Result<Value, ApiError> {
    let num = |k: &str| -> Result<Option<i64>, ApiError> {
        pairs
            .iter()
            .find(|(n, v)| n == k && !v.is_empty())
            .map(|(_, v)| v.parse::<i64>().map_err(|_| bad_request(format!("`{k}` must be a revision number"))))
            .transpose()
    };
    let (mut from, to) = (num("from")?, num("to")?);
    // the compare form may pair a revision with itself or a later one:
    // compare with the one before instead
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        from = None;
    }
    let (item, history) = crate::item_history(st, query)?;
    let view = troop_core::history::diff_view(&history, from, to).map_err(bad_request)?;
    let last = history.last().ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("`{item}` has no revisions")))?;
    let mut timeline: Vec<ChangeLine> = history.iter().map(ChangeLine::revision).collect();
    timeline.reverse();
    let on_item = FindingFilter { state: None, item: Some(item.clone()), ..Default::default() };
    let on_it = findings_view(st, st, on_item, ms(now()))?;
    let (open, past): (Vec<FindingLine>, Vec<FindingLine>) = on_it
        .iter()
        .map(|(f, by)| FindingLine::new(f, by.as_deref()))
        .partition(|l| l.finding.state != FindingState::Resolved);
    let revisions: Vec<i64> = history.iter().map(|r| r.revision).rev().collect();
    Ok(context! {
        item => item,
        technology => last.technology,
        account => last.account,
        region => last.region,
        name => last.name,
        deleted => last.content.is_none(),
        current => context! { revision => last.revision, change => last.change, at => last.at },
        timeline => timeline,
        from => view.from.as_ref().map(|r| r.revision),
        to => view.to.revision,
        from_label => view.from.as_ref().map(|r| r.label()),
        to_label => view.to.label(),
        summary => view.summary,
        diff => diff_lines(&view.diff),
        revisions => revisions,
        open => open,
        past => past,
        href => item_href(&item),
    })
}

/// `/changes?since=1h&technology=…&account=…`: revisions with name and who,
/// and posted change events, newest first.
pub(super) fn changes(st: &dyn Backend, pairs: &[(String, String)]) -> Result<Value, ApiError> {
    let get = |k: &str| pairs.iter().find(|(n, v)| n == k && !v.trim().is_empty()).map(|(_, v)| v.trim().to_string());
    // the form's own entry ("or since") comes after the window's choice
    let since = pairs
        .iter()
        .rev()
        .find(|(n, v)| n == "since" && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "1h".into());
    let from = troop_core::history::parse_since(&since, now()).map_err(|e| bad_request(format!("since: {e}")))?;
    let list = |k: &str| -> Vec<String> {
        get(k)
            .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    };
    let filter = troop_core::history::ChangeFilter::new(list("technology"), list("account")).map_err(bad_request)?;
    // unfiltered, the store counts and reads only the newest; a filter
    // reads the window and keeps what it asks for
    let (mut total, revisions) = if filter == Default::default() {
        let (n, newest) = st.revisions_latest(from, CHANGES_ROWS)?;
        (n as usize, newest)
    } else {
        let kept: Vec<Revision> = st.revisions_since(from)?.into_iter().filter(|r| filter.keeps(r)).collect();
        (kept.len(), kept)
    };
    let mut lines: Vec<ChangeLine> = revisions.iter().map(ChangeLine::revision).collect();
    let revision_lines = lines.len();
    // events carry no technology: shown unless a technology is asked for
    if filter.technologies.is_empty() {
        lines.extend(
            st.events_since(from)?
                .iter()
                .filter(|e| {
                    filter.accounts.is_empty() || e.account.as_ref().is_some_and(|a| filter.accounts.contains(a))
                })
                .map(ChangeLine::event),
        );
    }
    total += lines.len() - revision_lines;
    lines.sort_by(|a, b| b.at.cmp(&a.at));
    lines.truncate(CHANGES_ROWS);
    Ok(context! {
        total => total,
        rows => lines,
        since => since,
        technology => get("technology"),
        account => get("account"),
        windows => [("1h", "last hour"), ("24h", "last day"), ("7d", "last week")],
        technologies => troop_core::security::TECHNOLOGIES,
    })
}

/// `/certs`: every certificate, soonest expiry first.
pub(super) fn certs(st: &dyn Backend) -> Result<Value, ApiError> {
    let rows = troop_core::certs::rows_as_of(st.observations("cert")?, now().unix_timestamp()).map_err(unreadable)?;
    let rows: Vec<Value> = rows.iter().map(|r| context! { row => r, place => r.place() }).collect();
    Ok(context! { rows => rows })
}

/// `/limits`: every quota, highest usage first, with a bar.
pub(super) fn limits(st: &dyn Backend) -> Result<Value, ApiError> {
    let rows = troop_core::limits::rows(st.observations("quota")?).map_err(unreadable)?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let num = |v: Option<f64>| v.map(troop_core::limits::fmt_num).unwrap_or_else(|| "?".into());
            context! {
                row => r,
                percent => r.ratio.map(|x| (x * 100.0).round() as i64),
                // the bar's width in 5% steps (the stylesheet has a class per step: no inline style)
                step => r.ratio.map(|x| ((x.clamp(0.0, 1.0) * 20.0).round() as i64) * 5),
                used => format!("{} / {}", num(r.usage), num(r.limit)),
                source => r.limit_source.map(|s| s.as_str()),
            }
        })
        .collect();
    Ok(context! { rows => rows })
}

/// `/silences[?matcher=…&reason=…]`: silences in force (and recently
/// ended), and the form to add one, prefilled, for a caller who may write
/// (`writer`: who, and their form token).
pub(super) fn silences(
    st: &dyn Backend,
    pairs: &[(String, String)],
    writer: Option<(String, String)>,
) -> Result<Value, ApiError> {
    let now_text = troop_core::clock::rfc3339(now());
    let mut records: Vec<SilenceRecord> = st.silences()?;
    records.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let (active, ended): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r.ends_at > now_text);
    let matchers: Vec<&str> = pairs.iter().filter(|(k, _)| k == "matcher").map(|(_, v)| v.as_str()).collect();
    let reason = pairs.iter().find(|(k, _)| k == "reason").map(|(_, v)| v.as_str()).unwrap_or("");
    // only a silence that exists is announced (the parameter is anyone's)
    let added = pairs
        .iter()
        .find(|(k, _)| k == "added")
        .map(|(_, v)| v.as_str())
        .filter(|id| active.iter().any(|r| r.id == *id));
    Ok(context! {
        active => active,
        ended => ended.into_iter().take(20).collect::<Vec<_>>(),
        matchers => matchers.join("\n"),
        reason => reason,
        added => added,
        who => writer.as_ref().map(|w| w.0.clone()),
        csrf => writer.map(|w| w.1),
    })
}

/// The silence a form asks for: `matchers` (one per line, Alertmanager's
/// `name="value"`, `=~`, `!=`, `!~`), `duration` (`2h`, `7d`), `reason`
/// (required: a justification). Errors name the field.
pub(super) fn silence_from_form(
    form: &[(String, String)],
    who: &str,
    now: OffsetDateTime,
) -> Result<SilenceRecord, String> {
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim()).unwrap_or("");
    let matchers: Vec<Matcher> = field("matchers")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| Matcher::parse(l).map_err(|e| format!("matchers: `{l}`: {e}")))
        .collect::<Result<_, _>>()?;
    if let Some(why) = troop_core::alerting::silence::too_broad(&matchers) {
        return Err(format!("matchers: {why}"));
    }
    let reason = field("reason");
    if reason.is_empty() {
        return Err("reason: say why (it is shown to everyone the silence mutes)".into());
    }
    let text = field("duration");
    let duration = humantime::parse_duration(text).map_err(|e| format!("duration: `{text}`: {e} (like 2h, 7d)"))?;
    troop_core::alerting::silence::record(&matchers, duration, who, reason, now).map_err(|e| format!("duration: {e}"))
}
