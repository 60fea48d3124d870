//! The web page at `/`: open findings (silenced ones marked), the last day's
//! changes, certificates, active silences and each sink's outbox.
//! Server-rendered, no scripts; every value is HTML-escaped.

use troop_core::FindingState;
use troop_core::store::{AlertStore, Store};

/// HTML-escaped, control characters neutralised (`troop_core::clean_controls`).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in troop_core::clean_controls(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "<p class=empty>nothing</p>".into();
    }
    let mut t = String::from("<table><tr>");
    for h in headers {
        t.push_str(&format!("<th>{}</th>", escape(h)));
    }
    t.push_str("</tr>");
    for r in rows {
        t.push_str("<tr>");
        for c in r {
            t.push_str(&format!("<td>{}</td>", escape(c)));
        }
        t.push_str("</tr>");
    }
    t.push_str("</table>");
    t
}

pub(crate) fn render(
    store: &dyn Store,
    alerts: &dyn AlertStore,
    now: time::OffsetDateTime,
) -> Result<String, troop_core::StoreError> {
    let now_ms = troop_core::alerting::millis(now);
    let findings: Vec<troop_core::StoredFinding> =
        troop_core::alerting::silence::findings_view(store, alerts, Default::default(), now_ms)?
            .into_iter()
            .map(|(f, _)| f)
            .filter(|f| matches!(f.state, FindingState::Open | FindingState::Silenced))
            .collect();
    let now_text = troop_core::clock::rfc3339(now);
    let silences: Vec<Vec<String>> = alerts
        .silences()?
        .into_iter()
        .filter(|s| s.ends_at > now_text)
        .map(|s| vec![s.id, s.matchers.join(", "), s.ends_at, s.author, s.reason])
        .collect();
    let outboxes: Vec<Vec<String>> = alerts
        .outbox_stats()?
        .into_iter()
        .map(|o| {
            vec![
                o.sink,
                o.pending.to_string(),
                o.failed.to_string(),
                o.delivered.to_string(),
                o.last_error.or(o.task_error.map(|e| format!("delivery task died: {e}"))).unwrap_or_default(),
            ]
        })
        .collect();
    let changes = store.revisions_since(now - time::Duration::days(1))?;
    let certs = store.observations("cert")?;
    let f_rows: Vec<Vec<String>> = findings
        .iter()
        .map(|f| {
            vec![
                f.severity.to_string(),
                f.state.as_str().to_string(),
                f.monkey.clone(),
                f.kind.clone(),
                format!("{}/{}", f.account, f.region),
                f.title.clone(),
            ]
        })
        .collect();
    let c_rows: Vec<Vec<String>> = changes
        .iter()
        .rev()
        .map(|r| vec![r.at.clone(), r.item.clone(), r.change.clone(), r.summary.join("; ")])
        .collect();
    let s = |v: &serde_json::Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    let mut cert_rows: Vec<(i64, Vec<String>)> = certs
        .iter()
        .map(|c| {
            let expiry = c["not_after_unix"].as_i64().unwrap_or(i64::MAX);
            let days =
                c["not_after_unix"].as_i64().map(|t| troop_core::certs::days_left(t, now.unix_timestamp()).to_string());
            let problems: Vec<String> = c["problems"].as_array().into_iter().flatten().map(s).collect();
            (
                expiry,
                vec![
                    days.unwrap_or_else(|| "-".into()),
                    s(&c["host"]),
                    s(&c["address"]),
                    s(&c["source"]),
                    problems.join(", "),
                ],
            )
        })
        .collect();
    cert_rows.sort_by_key(|(e, _)| *e);
    let cert_rows: Vec<Vec<String>> = cert_rows.into_iter().map(|(_, r)| r).collect();
    Ok(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>troop</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}}.empty{{color:#888}}</style></head><body>\
         <h1>troop</h1><h2>Open findings ({})</h2>{}<h2>Changes in the last 24 hours ({})</h2>{}<h2>Certificates ({})</h2>{}\
         <h2>Silences ({})</h2>{}<h2>Alert outboxes</h2>{}\
         <p>JSON: <a href=/api/v1/findings>/api/v1/findings</a> · <a href=/api/v1/changes>/api/v1/changes</a> · \
         <a href=/metrics>/metrics</a></p></body></html>",
        findings.len(),
        table(&["severity", "state", "monkey", "kind", "account/region", "title"], &f_rows),
        changes.len(),
        table(&["at", "item", "change", "summary"], &c_rows),
        certs.len(),
        table(&["days left", "host", "address", "source", "problems"], &cert_rows),
        silences.len(),
        table(&["id", "matchers", "ends", "author", "reason"], &silences),
        table(&["sink", "pending", "failed", "delivered", "last error"], &outboxes),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_everything_a_page_could_be_fooled_by() {
        assert_eq!(
            super::escape("<script>alert('x')&\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;"
        );
        assert_eq!(super::escape("down\x1b[2J\x1b]0;owned\x07"), "down\u{FFFD}[2J\u{FFFD}]0;owned\u{FFFD}");
    }
}
