//! Silences: matchers with a time window, an author and a reason. A finding
//! an active silence matches is shown `silenced` and notifies nobody; when
//! the silence ends while the finding still fires, it is notified again.

use super::Millis;
use super::matcher::{Matcher, all_match};
use crate::finding::{FindingState, StoredFinding};
use crate::store::{AlertStore, FindingFilter, SilenceRecord, Store, StoreError};
use std::collections::BTreeMap;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub author: String,
    pub reason: String,
}

impl Silence {
    pub fn active(&self, now: Millis) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    pub fn silences(&self, labels: &BTreeMap<String, String>, now: Millis) -> bool {
        self.active(now) && all_match(&self.matchers, labels)
    }
}

/// A new silence's id, made at `now`: `s-<unix seconds, hex>-<random>`.
pub fn new_id(now: OffsetDateTime) -> String {
    format!("s-{:x}-{:04x}", now.unix_timestamp(), fastrand::u16(..))
}

/// Why a silence with these matchers would be refused: none at all, or
/// every one matching the empty string, which a label that is absent has
/// (`team=`, `team!=x`, `name=~".*"`): such a silence mutes every finding.
/// Alertmanager refuses the same ("at least one matcher must not match the
/// empty string").
pub fn too_broad(matchers: &[Matcher]) -> Option<String> {
    let nothing = BTreeMap::new();
    if matchers.is_empty() {
        return Some("at least one matcher is needed (a silence without matchers would mute everything)".into());
    }
    matchers.iter().all(|m| m.matches(&nothing)).then(|| {
        "at least one matcher must not match an empty or absent label (as written, the silence would mute every finding)"
            .to_string()
    })
}

/// A new silence from now for `duration`: what `troop silence add` and the
/// page's silence form store. Errors (matchers [`too_broad`], a duration
/// under a second or too long to represent) say what to change.
pub fn record(
    matchers: &[Matcher],
    duration: std::time::Duration,
    author: &str,
    reason: &str,
    now: OffsetDateTime,
) -> Result<SilenceRecord, String> {
    if let Some(why) = too_broad(matchers) {
        return Err(why);
    }
    // times are kept to the second: a shorter silence would end as it starts
    if duration < std::time::Duration::from_secs(1) {
        return Err("must be at least a second".into());
    }
    let ends = time::Duration::try_from(duration)
        .ok()
        .and_then(|d| now.checked_add(d))
        .ok_or("too long to represent; use a shorter duration")?;
    let at = crate::clock::rfc3339(now);
    Ok(SilenceRecord {
        id: new_id(now),
        matchers: matchers.iter().map(|m| m.to_string()).collect(),
        starts_at: at.clone(),
        ends_at: crate::clock::rfc3339(ends),
        author: author.to_string(),
        reason: reason.to_string(),
        created_at: at,
    })
}

/// The first active silence matching `labels`.
pub fn silenced_by<'a>(silences: &'a [Silence], labels: &BTreeMap<String, String>, now: Millis) -> Option<&'a Silence> {
    silences.iter().find(|s| s.silences(labels, now))
}

fn parse_time(s: &str) -> Option<Millis> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(super::millis)
}

/// Silences as stored, ready to match; a record that no longer parses is
/// skipped with a warning rather than silencing everything or nothing.
pub fn from_records(records: &[SilenceRecord]) -> Vec<Silence> {
    records
        .iter()
        .filter_map(|r| {
            let matchers: Result<Vec<Matcher>, String> = r.matchers.iter().map(|m| Matcher::parse(m)).collect();
            match (matchers, parse_time(&r.starts_at), parse_time(&r.ends_at)) {
                (Ok(matchers), Some(starts_at), Some(ends_at)) => Some(Silence {
                    id: r.id.clone(),
                    matchers,
                    starts_at,
                    ends_at,
                    author: r.author.clone(),
                    reason: r.reason.clone(),
                }),
                _ => {
                    tracing::warn!(silence = %r.id, "stored silence does not parse; ignored");
                    None
                }
            }
        })
        .collect()
}

/// Findings as users see them: an open finding an active silence matches is
/// `silenced` (with the silence's id). `state` filters on that view.
pub fn findings_view(
    store: &dyn Store,
    alerts: &dyn AlertStore,
    filter: FindingFilter,
    now: Millis,
) -> Result<Vec<(StoredFinding, Option<String>)>, StoreError> {
    let state = filter.state;
    let stored = match state {
        Some(FindingState::Open | FindingState::Silenced) => Some(FindingState::Open),
        other => other,
    };
    view(store, alerts, FindingFilter { state: stored, ..filter }, now, |s| state.is_none_or(|want| want == s))
}

/// [`findings_view`] of every finding not resolved, open and silenced
/// alike, in one read (the overview counts both).
pub fn unresolved_view(
    store: &dyn Store,
    alerts: &dyn AlertStore,
    now: Millis,
) -> Result<Vec<(StoredFinding, Option<String>)>, StoreError> {
    let open = FindingFilter { state: Some(FindingState::Open), ..Default::default() };
    view(store, alerts, open, now, |_| true)
}

fn view(
    store: &dyn Store,
    alerts: &dyn AlertStore,
    stored: FindingFilter,
    now: Millis,
    keep: impl Fn(FindingState) -> bool,
) -> Result<Vec<(StoredFinding, Option<String>)>, StoreError> {
    // only the silences in force now can silence (and with none, no
    // finding's labels need building)
    let silences: Vec<Silence> = from_records(&alerts.silences()?).into_iter().filter(|s| s.active(now)).collect();
    let mut out = Vec::new();
    for mut f in store.findings(&stored)? {
        let mut by = None;
        if f.state == FindingState::Open
            && !silences.is_empty()
            && let Some(s) = silenced_by(&silences, &f.routing_labels(), now)
        {
            f.state = FindingState::Silenced;
            by = Some(s.id.clone());
        }
        if keep(f.state) {
            out.push((f, by));
        }
    }
    Ok(out)
}

/// A finding's JSON (`troop findings`, `/api/v1/findings`), with
/// `silenced_by` when a silence mutes it.
pub fn finding_json(f: &StoredFinding, silenced_by: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::to_value(f).unwrap_or_default();
    if let (Some(id), Some(o)) = (silenced_by, v.as_object_mut()) {
        o.insert("silenced_by".into(), serde_json::Value::String(id.to_string()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silence_that_would_mute_everything_or_nothing_in_time_is_refused() {
        let m = |s: &str| Matcher::parse(s).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let hour = std::time::Duration::from_secs(3600);
        // (matchers, duration, refused because)
        let cases: Vec<(Vec<Matcher>, std::time::Duration, Option<&str>)> = vec![
            (vec![m("kind=DiskFull")], hour, None),
            (vec![m("team="), m("kind=DiskFull")], hour, None),
            (vec![], hour, Some("at least one matcher is needed")),
            (vec![m("alertname=")], hour, Some("must not match an empty")),
            (vec![m("team!=x")], hour, Some("must not match an empty")),
            (vec![m("alertname=~\".*\""), m("team!=x")], hour, Some("must not match an empty")),
            (vec![m("kind=DiskFull")], std::time::Duration::from_nanos(1), Some("at least a second")),
        ];
        for (matchers, d, want) in cases {
            let got = record(&matchers, d, "ana", "why", now);
            match want {
                None => assert!(got.is_ok(), "{matchers:?}: {got:?}"),
                Some(w) => assert!(got.as_ref().is_err_and(|e| e.contains(w)), "{matchers:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn window_and_matchers() {
        let s = Silence {
            id: "s1".into(),
            matchers: vec![Matcher::parse("monkey=certs").unwrap(), Matcher::parse("owner=~shop.*").unwrap()],
            starts_at: 100,
            ends_at: 200,
            author: "ana".into(),
            reason: "renewal booked".into(),
        };
        let l: BTreeMap<String, String> =
            [("monkey", "certs"), ("owner", "shop-team")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut other = l.clone();
        other.insert("owner".into(), "payments".into());
        for (labels, now, want) in
            [(&l, 99, false), (&l, 100, true), (&l, 199, true), (&l, 200, false), (&other, 150, false)]
        {
            assert_eq!(s.silences(labels, now), want, "{labels:?} at {now}");
        }
        assert_eq!(silenced_by(std::slice::from_ref(&s), &l, 150).map(|s| s.id.as_str()), Some("s1"));
    }
}

/// Alertmanager's API v2 silences (`GET/POST /api/v2/silences`,
/// `DELETE /api/v2/silence/{id}`), so `amtool silence add|query|expire`
/// work on troop's silences, the same `troop silence` keeps. Shapes:
/// <https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml>
/// (`postableSilence`, `gettableSilence`, `matcher`).
pub mod api {
    use super::super::matcher::{Matcher, Op};
    use crate::alerting::posted::FieldError;
    use crate::store::SilenceRecord;
    use serde_json::{Value, json};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    fn bad(field: impl Into<String>, why: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), why: why.into() }
    }

    fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, FieldError> {
        match v.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
            Some(Value::String(_)) | None | Some(Value::Null) => Err(bad(key, "is required")),
            Some(_) => Err(bad(key, "must be a string")),
        }
    }

    fn time_of(v: &Value, key: &str) -> Result<OffsetDateTime, FieldError> {
        let s = text(v, key)?;
        OffsetDateTime::parse(s, &Rfc3339).map_err(|e| bad(key, format!("`{s}` is not an RFC 3339 time ({e})")))
    }

    /// What a `POST /api/v2/silences` body asks: the silence to store, and
    /// the id of the one it replaces (`id` given: Alertmanager's update).
    #[derive(Debug, Clone, PartialEq)]
    pub struct Posted {
        pub record: SilenceRecord,
        pub replaces: Option<String>,
    }

    /// Judge a `postableSilence` at `now`; `new_id` names a new silence.
    /// As Alertmanager: at least one matcher, `createdBy` and `comment`
    /// required, `endsAt` after `startsAt` and not in the past; a `startsAt`
    /// in the past starts now. Errors name the field (`matchers[1].name`).
    pub fn parse_postable(body: &[u8], now: OffsetDateTime, new_id: String) -> Result<Posted, FieldError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| bad("body", format!("not JSON: {e}")))?;
        if !v.is_object() {
            return Err(bad("body", "must be a silence object"));
        }
        let Some(Value::Array(ms)) = v.get("matchers") else { return Err(bad("matchers", "must be an array")) };
        if ms.is_empty() {
            return Err(bad("matchers", "at least one matcher is required"));
        }
        let mut matchers = Vec::new();
        for (i, m) in ms.iter().enumerate() {
            let at = |k: &str| format!("matchers[{i}].{k}");
            let name = m.get("name").and_then(Value::as_str).ok_or_else(|| bad(at("name"), "must be a string"))?;
            let value = m.get("value").and_then(Value::as_str).ok_or_else(|| bad(at("value"), "must be a string"))?;
            let flag = |k: &str, default: bool| match m.get(k) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(bad(at(k), "must be true or false")),
            };
            let op = match (flag("isRegex", false)?, flag("isEqual", true)?) {
                (false, true) => Op::Eq,
                (false, false) => Op::Ne,
                (true, true) => Op::Re,
                (true, false) => Op::NotRe,
            };
            let matcher = Matcher::new(name, op, value).map_err(|e| {
                // the name is good on its own: the value is the regex at fault
                let field = if Matcher::new(name, Op::Eq, "").is_ok() { "value" } else { "name" };
                bad(at(field), e)
            })?;
            matchers.push(matcher.to_string());
        }
        let starts = time_of(&v, "startsAt")?.max(now);
        let ends = time_of(&v, "endsAt")?;
        if ends <= now {
            return Err(bad("endsAt", "is in the past"));
        }
        if ends <= starts {
            return Err(bad("endsAt", "must be after startsAt"));
        }
        let author = text(&v, "createdBy")?.to_string();
        let reason = text(&v, "comment")?.to_string();
        let replaces = match v.get("id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("id", "must be a string")),
        };
        let rfc = |t: OffsetDateTime| crate::clock::rfc3339(t);
        Ok(Posted {
            record: SilenceRecord {
                id: new_id,
                matchers,
                starts_at: rfc(starts),
                ends_at: rfc(ends),
                author,
                reason,
                created_at: rfc(now),
            },
            replaces,
        })
    }

    /// A silence as `GET /api/v2/silences` shows it at `now`: `status.state`
    /// is `pending`, `active` or `expired`. `None` for a record whose
    /// matchers or times no longer parse.
    pub fn gettable(r: &SilenceRecord, now: OffsetDateTime) -> Option<Value> {
        let starts = OffsetDateTime::parse(&r.starts_at, &Rfc3339).ok()?;
        let ends = OffsetDateTime::parse(&r.ends_at, &Rfc3339).ok()?;
        let state = if now < starts {
            "pending"
        } else if now < ends {
            "active"
        } else {
            "expired"
        };
        let mut matchers = Vec::new();
        for m in &r.matchers {
            let m = Matcher::parse(m).ok()?;
            let (is_regex, is_equal) = match m.op {
                Op::Eq => (false, true),
                Op::Ne => (false, false),
                Op::Re => (true, true),
                Op::NotRe => (true, false),
            };
            matchers.push(json!({"name": m.label, "value": m.value, "isRegex": is_regex, "isEqual": is_equal}));
        }
        Some(json!({
            "id": r.id,
            "status": {"state": state},
            "updatedAt": r.created_at,
            "matchers": matchers,
            "startsAt": r.starts_at,
            "endsAt": r.ends_at,
            "createdBy": r.author,
            "comment": r.reason,
        }))
    }

    /// Whether `r` has every matcher of `filter` (`GET /api/v2/silences
    /// ?filter=…`, each as `name="value"`, `name=~"re"`…, compared as
    /// written).
    pub fn has_matchers(r: &SilenceRecord, filter: &[Matcher]) -> bool {
        filter.iter().all(|f| r.matchers.iter().any(|m| Matcher::parse(m).is_ok_and(|m| &m == f)))
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use time::macros::datetime;

        const NOW: OffsetDateTime = datetime!(2026-11-30 10:00 UTC);

        fn body(matchers: &str, starts: &str, ends: &str, extra: &str) -> String {
            format!(
                r#"{{"matchers": {matchers}, "startsAt": "{starts}", "endsAt": "{ends}", "createdBy": "ana", "comment": "maintenance"{extra}}}"#
            )
        }

        #[test]
        fn a_postable_silence_is_judged_as_alertmanager_does() {
            let m = r#"[{"name": "alertname", "value": "DiskFull", "isRegex": false},
                        {"name": "host", "value": "db-.*", "isRegex": true, "isEqual": false}]"#;
            let p = parse_postable(
                body(m, "2026-11-30T09:00:00Z", "2026-11-30T12:00:00Z", "").as_bytes(),
                NOW,
                "s-1".into(),
            )
            .unwrap();
            assert_eq!(p.record.matchers, ["alertname=DiskFull", "host!~db-.*"]);
            assert_eq!(p.record.starts_at, "2026-11-30T10:00:00Z", "a start in the past starts now");
            assert_eq!((p.record.author.as_str(), p.record.reason.as_str()), ("ana", "maintenance"));
            assert_eq!(p.replaces, None);
            let g = gettable(&p.record, NOW).unwrap();
            assert_eq!(g["status"]["state"], "active");
            assert_eq!(g["matchers"][1], json!({"name": "host", "value": "db-.*", "isRegex": true, "isEqual": false}));
            assert_eq!(gettable(&p.record, NOW + time::Duration::hours(3)).unwrap()["status"]["state"], "expired");
            let later = parse_postable(
                body(m, "2026-11-30T11:00:00Z", "2026-11-30T12:00:00Z", r#", "id": "s-0""#).as_bytes(),
                NOW,
                "s-2".into(),
            )
            .unwrap();
            assert_eq!(gettable(&later.record, NOW).unwrap()["status"]["state"], "pending");
            assert_eq!(later.replaces.as_deref(), Some("s-0"));
            let filter = [Matcher::parse("alertname=DiskFull").unwrap()];
            assert!(has_matchers(&p.record, &filter));
            assert!(!has_matchers(&p.record, &[Matcher::parse("alertname=Other").unwrap()]));
        }

        #[test]
        fn bad_silences_name_their_field() {
            let ok = r#"[{"name": "a", "value": "b", "isRegex": false}]"#;
            let (s, e) = ("2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z");
            // (body, field)
            let cases = [
                ("[]".to_string(), "body"),
                (body("[]", s, e, ""), "matchers"),
                (body(r#"[{"name": "a"}]"#, s, e, ""), "matchers[0].value"),
                (body(r#"[{"name": "1a", "value": "b"}]"#, s, e, ""), "matchers[0].name"),
                (body(r#"[{"name": "a", "value": "(", "isRegex": true}]"#, s, e, ""), "matchers[0].value"),
                (body(r#"[{"name": "a", "value": "b", "isRegex": "yes"}]"#, s, e, ""), "matchers[0].isRegex"),
                (body(ok, s, "2026-11-30T09:00:00Z", ""), "endsAt"),
                (body(ok, "2026-11-30T12:00:00Z", e, ""), "endsAt"),
                (body(ok, "soon", e, ""), "startsAt"),
                (body(ok, s, e, "").replace(r#""createdBy": "ana""#, r#""createdBy": """#), "createdBy"),
                (body(ok, s, e, "").replace(r#", "comment": "maintenance""#, ""), "comment"),
                (body(ok, s, e, r#", "id": 7"#), "id"),
            ];
            for (b, field) in cases {
                let err = parse_postable(b.as_bytes(), NOW, "s".into()).expect_err(&b);
                assert_eq!(err.field, field, "{b}: {err}");
            }
        }
    }
}
