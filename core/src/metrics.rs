//! Per-monkey pass metrics, rendered in the Prometheus text exposition
//! format (<https://prometheus.io/docs/instrumenting/exposition_formats/>):
//! every family with HELP and TYPE, pass durations as a histogram,
//! `troop_build_info`. `promtool check metrics` passes on the output (tested).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the pass-duration histogram's buckets: passes
/// run from seconds (one account) to an hour (an organization).
pub const DURATION_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];

/// HELP text of the gauges monkeys and the gateway export.
fn gauge_help(name: &str) -> &'static str {
    match name {
        "troop_cert_not_after_timestamp_seconds" => "Unix time a certificate (or one in its chain) expires.",
        "troop_quota_usage" => "Usage of an AWS service quota, counted as AWS enforces it.",
        "troop_quota_limit" => "The limit of an AWS service quota (see limit_source in troop limits).",
        "troop_outbox_pending" => "Notifications waiting in a sink's outbox.",
        "troop_outbox_failed" => "Notifications a sink failed for good.",
        "troop_notifications_delivered" => "Notifications a sink has delivered (from the store).",
        "troop_delivery_failures" => "Failed delivery attempts of a sink (from the store).",
        "troop_delivery_task_restarts" => "Times a sink's delivery task died and was restarted (from the store).",
        _ => "A gauge reported by a monkey.",
    }
}

#[derive(Debug, Default, Clone)]
struct MonkeyStats {
    passes_ok: u64,
    passes_failed: u64,
    duration_sum: f64,
    duration_count: u64,
    /// Cumulative counts per bucket of [`DURATION_BUCKETS`].
    duration_buckets: Vec<u64>,
    last_success_unix: Option<i64>,
    /// Passes whose commit the store refused (a newer pass superseded them).
    commits_refused: u64,
    /// Shard leases this process took over from another replica's lapsed one.
    takeovers: u64,
    /// Shard leases this process holds now (shards being read).
    leases_held: u64,
    open_findings: u64,
    counters: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
pub struct Metrics {
    monkeys: Mutex<BTreeMap<String, MonkeyStats>>,
    gauges: Mutex<BTreeMap<String, Vec<crate::monkey::Gauge>>>,
    /// The last configuration (re)load: whether it took, and when one last did.
    reload: Mutex<Option<(bool, i64)>>,
    /// version, commit, build date (`troop_build_info`).
    build: Mutex<Option<(String, String, String)>>,
    /// When each shard's last successful read committed (Unix seconds).
    shard_success: Mutex<BTreeMap<String, i64>>,
    /// HTTP requests refused, per [`crate::api_access::REJECTIONS`] reason.
    http_rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn record_pass(
        &self,
        monkey: &str,
        ok: bool,
        duration: Duration,
        finished_unix: i64,
        open_findings: Option<usize>,
        counters: &BTreeMap<String, u64>,
    ) {
        let mut m = self.monkeys.lock().unwrap_or_else(|e| e.into_inner());
        let s = m.entry(monkey.to_string()).or_default();
        if ok {
            s.passes_ok += 1;
            s.last_success_unix = Some(finished_unix);
        } else {
            s.passes_failed += 1;
        }
        let secs = duration.as_secs_f64();
        s.duration_sum += secs;
        s.duration_count += 1;
        if s.duration_buckets.len() != DURATION_BUCKETS.len() {
            s.duration_buckets = vec![0; DURATION_BUCKETS.len()];
        }
        for (b, le) in s.duration_buckets.iter_mut().zip(DURATION_BUCKETS) {
            if secs <= *le {
                *b += 1;
            }
        }
        if let Some(n) = open_findings {
            s.open_findings = n as u64;
        }
        for (k, v) in counters {
            *s.counters.entry(k.clone()).or_default() += v;
        }
    }

    /// A pass of `monkey` was read but its commit refused: a newer pass of
    /// the monkey began first (`troop_pass_commits_refused_total`).
    /// A shard of `monkey` was taken over from another replica's lease
    /// (`troop_shard_takeovers_total`).
    pub fn record_takeover(&self, monkey: &str) {
        self.monkeys.lock().unwrap_or_else(|e| e.into_inner()).entry(monkey.to_string()).or_default().takeovers += 1;
    }

    /// A shard lease of `monkey` taken (`held`) or given up
    /// (`troop_shard_leases_held`).
    pub fn lease_held(&self, monkey: &str, held: bool) {
        let mut m = self.monkeys.lock().unwrap_or_else(|e| e.into_inner());
        let s = m.entry(monkey.to_string()).or_default();
        s.leases_held = if held { s.leases_held + 1 } else { s.leases_held.saturating_sub(1) };
    }

    pub fn record_refused(&self, monkey: &str) {
        self.monkeys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(monkey.to_string())
            .or_default()
            .commits_refused += 1;
    }

    /// `troop_build_info{version, commit, build_date} 1`.
    pub fn set_build_info(&self, version: &str, commit: &str, build_date: &str) {
        *self.build.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((version.to_string(), commit.to_string(), build_date.to_string()));
    }

    /// What the store knows from before this process started, so the first
    /// scrape is honest: open findings and the last successful pass per
    /// monkey, and the gauges of each monkey's last successful pass. A pass
    /// of this process replaces them.
    pub fn restore(
        &self,
        open_findings: &BTreeMap<String, usize>,
        last_success_unix: &BTreeMap<String, i64>,
        gauges: BTreeMap<String, Vec<crate::monkey::Gauge>>,
    ) {
        let mut m = self.monkeys.lock().unwrap_or_else(|e| e.into_inner());
        // every monkey the store knows of, running or not
        for monkey in open_findings.keys().chain(last_success_unix.keys()) {
            m.entry(monkey.clone()).or_default();
        }
        for (monkey, s) in m.iter_mut() {
            if s.duration_count == 0 {
                s.open_findings = open_findings.get(monkey).copied().unwrap_or(0) as u64;
                s.last_success_unix = s.last_success_unix.or(last_success_unix.get(monkey).copied());
            }
        }
        drop(m);
        let mut g = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        for (monkey, gs) in gauges {
            g.entry(monkey).or_insert(gs);
        }
    }

    /// Each shard's last success as the store knows it (at start).
    pub fn restore_shards(&self, last_success: impl IntoIterator<Item = (String, i64)>) {
        for (shard, at) in last_success {
            self.shard_succeeded(&shard, at);
        }
    }

    /// Make a monkey visible with zero counts before its first pass.
    pub fn register(&self, monkey: &str) {
        let mut m = self.monkeys.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(monkey.to_string()).or_default();
    }

    /// An HTTP request (or a TLS handshake) was refused for `reason`, one of
    /// [`crate::api_access::REJECTIONS`] (`troop_http_requests_rejected_total`).
    pub fn record_http_rejection(&self, reason: &'static str) {
        debug_assert!(crate::api_access::REJECTIONS.contains(&reason), "{reason}");
        *self.http_rejected.lock().unwrap_or_else(|e| e.into_inner()).entry(reason).or_default() += 1;
    }

    /// A configuration load (at start, or on SIGHUP) took or was refused.
    pub fn record_reload(&self, ok: bool, at_unix: i64) {
        let mut r = self.reload.lock().unwrap_or_else(|e| e.into_inner());
        let last_ok = match *r {
            _ if ok => at_unix,
            Some((_, t)) => t,
            None => 0,
        };
        *r = Some((ok, last_ok));
    }

    /// A shard's read committed at `at` (Unix seconds).
    pub fn shard_succeeded(&self, shard: &str, at: i64) {
        let mut m = self.shard_success.lock().unwrap_or_else(|e| e.into_inner());
        let t = m.entry(shard.to_string()).or_insert(at);
        *t = (*t).max(at);
    }

    /// Drop the gauges of monkeys no longer running (a reload disabled them).
    pub fn keep_gauges_of(&self, monkeys: &[&str]) {
        let monkey_of = crate::monkey::Shard::monkey_of;
        self.gauges.lock().unwrap_or_else(|e| e.into_inner()).retain(|shard, _| monkeys.contains(&monkey_of(shard)));
    }

    /// Drop the gauges of `monkey`'s shards not in `shards` (keys): shards a
    /// pass no longer lists.
    pub fn keep_shards(&self, monkey: &str, shards: &[String]) {
        let monkey_of = crate::monkey::Shard::monkey_of;
        let keep = |shard: &String| monkey_of(shard) != monkey || shards.iter().any(|k| k == shard);
        self.gauges.lock().unwrap_or_else(|e| e.into_inner()).retain(|shard, _| keep(shard));
        self.shard_success.lock().unwrap_or_else(|e| e.into_inner()).retain(|shard, _| keep(shard));
    }

    /// Replace a shard's gauges ([`crate::monkey::Shard::key`]) with those
    /// of its latest committed read.
    pub fn set_gauges(&self, shard: &str, gauges: Vec<crate::monkey::Gauge>) {
        let mut all = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        if gauges.is_empty() {
            all.remove(shard);
        } else {
            all.insert(shard.to_string(), gauges);
        }
    }

    /// The exposition, lags as of the system clock now.
    pub fn render(&self) -> String {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        self.render_at(now)
    }

    /// The exposition, `troop_shard_lag_seconds` as of `now` (Unix seconds).
    pub fn render_at(&self, now: i64) -> String {
        let mut out = String::new();
        {
            let rejected = self.http_rejected.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(
                out,
                "# HELP troop_http_requests_rejected_total HTTP requests refused, by reason (TLS handshakes included)."
            );
            let _ = writeln!(out, "# TYPE troop_http_requests_rejected_total counter");
            for reason in crate::api_access::REJECTIONS {
                let n = rejected.get(reason).copied().unwrap_or(0);
                let _ = writeln!(out, "troop_http_requests_rejected_total{{reason=\"{reason}\"}} {n}");
            }
        }
        {
            let shards = self.shard_success.lock().unwrap_or_else(|e| e.into_inner());
            if !shards.is_empty() {
                let _ = writeln!(
                    out,
                    "# HELP troop_shard_lag_seconds Seconds since a shard's (monkey/account[/region]) last successful read committed."
                );
                let _ = writeln!(out, "# TYPE troop_shard_lag_seconds gauge");
                for (shard, at) in shards.iter() {
                    let monkey = crate::monkey::Shard::monkey_of(shard);
                    let _ = writeln!(
                        out,
                        "troop_shard_lag_seconds{{monkey=\"{}\",shard=\"{}\"}} {}",
                        escape(monkey),
                        escape(shard),
                        (now - at).max(0)
                    );
                }
            }
        }
        let m = self.monkeys.lock().unwrap_or_else(|e| e.into_inner());
        let gauges = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_name: BTreeMap<&str, Vec<&crate::monkey::Gauge>> = BTreeMap::new();
        for g in gauges.values().flatten() {
            by_name.entry(g.name.as_str()).or_default().push(g);
        }
        for (name, gs) in by_name {
            let _ = writeln!(out, "# HELP {name} {}", gauge_help(name));
            let _ = writeln!(out, "# TYPE {name} gauge");
            for g in gs {
                let labels: Vec<String> = g.labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {}", g.value);
                } else {
                    let _ = writeln!(out, "{name}{{{}}} {}", labels.join(","), g.value);
                }
            }
        }
        family(
            &mut out,
            "troop_passes_total",
            "counter",
            "Monkey passes by result.",
            &mut m.iter().flat_map(|(k, s)| {
                [
                    (format!("monkey=\"{k}\",result=\"ok\""), s.passes_ok.to_string()),
                    (format!("monkey=\"{k}\",result=\"failed\""), s.passes_failed.to_string()),
                ]
            }),
        );
        family(
            &mut out,
            "troop_pass_errors_total",
            "counter",
            "Monkey passes that failed or timed out.",
            &mut m.iter().map(|(k, s)| (format!("monkey=\"{k}\""), s.passes_failed.to_string())),
        );
        family(
            &mut out,
            "troop_pass_commits_refused_total",
            "counter",
            "Monkey passes read but not applied: a newer pass of the monkey began before they committed.",
            &mut m.iter().map(|(k, s)| (format!("monkey=\"{k}\""), s.commits_refused.to_string())),
        );
        let _ = writeln!(out, "# HELP troop_pass_duration_seconds Wall time of monkey passes.");
        let _ = writeln!(out, "# TYPE troop_pass_duration_seconds histogram");
        for (k, s) in m.iter() {
            for (i, le) in DURATION_BUCKETS.iter().enumerate() {
                let n = s.duration_buckets.get(i).copied().unwrap_or(0);
                let _ = writeln!(out, "troop_pass_duration_seconds_bucket{{monkey=\"{k}\",le=\"{le}\"}} {n}");
            }
            let _ =
                writeln!(out, "troop_pass_duration_seconds_bucket{{monkey=\"{k}\",le=\"+Inf\"}} {}", s.duration_count);
            let _ = writeln!(out, "troop_pass_duration_seconds_sum{{monkey=\"{k}\"}} {}", s.duration_sum);
            let _ = writeln!(out, "troop_pass_duration_seconds_count{{monkey=\"{k}\"}} {}", s.duration_count);
        }
        family(
            &mut out,
            "troop_shard_takeovers_total",
            "counter",
            "Shard leases this replica took over from another's that lapsed or whose process died.",
            &mut m.iter().map(|(k, s)| (format!("monkey=\"{k}\""), s.takeovers.to_string())),
        );
        family(
            &mut out,
            "troop_shard_leases_held",
            "gauge",
            "Shard leases this replica holds now (shards being read).",
            &mut m.iter().map(|(k, s)| (format!("monkey=\"{k}\""), s.leases_held.to_string())),
        );
        family(
            &mut out,
            "troop_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful pass.",
            &mut m.iter().filter_map(|(k, s)| s.last_success_unix.map(|t| (format!("monkey=\"{k}\""), t.to_string()))),
        );
        family(
            &mut out,
            "troop_open_findings",
            "gauge",
            "Open findings after the last successful pass.",
            &mut m.iter().map(|(k, s)| (format!("monkey=\"{k}\""), s.open_findings.to_string())),
        );
        family(
            &mut out,
            "troop_monkey_operations_total",
            "counter",
            "Operations monkeys performed (AWS API calls by operation, certificate probes, ...).",
            &mut m.iter().flat_map(|(k, s)| {
                s.counters
                    .iter()
                    .map(move |(c, v)| (format!("monkey=\"{k}\",operation=\"{}\"", escape(c)), v.to_string()))
            }),
        );
        if let Some((version, commit, date)) = &*self.build.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = writeln!(out, "# HELP troop_build_info The troop build: version, commit and build date.");
            let _ = writeln!(out, "# TYPE troop_build_info gauge");
            let _ = writeln!(
                out,
                "troop_build_info{{version=\"{}\",commit=\"{}\",build_date=\"{}\"}} 1",
                escape(version),
                escape(commit),
                escape(date)
            );
        }
        if let Some((ok, at)) = *self.reload.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ =
                writeln!(out, "# HELP troop_config_last_reload_successful Whether the last configuration reload took.");
            let _ = writeln!(out, "# TYPE troop_config_last_reload_successful gauge");
            let _ = writeln!(out, "troop_config_last_reload_successful {}", u8::from(ok));
            let _ = writeln!(
                out,
                "# HELP troop_config_last_reload_success_timestamp_seconds Unix time of the last reload that took."
            );
            let _ = writeln!(out, "# TYPE troop_config_last_reload_success_timestamp_seconds gauge");
            let _ = writeln!(out, "troop_config_last_reload_success_timestamp_seconds {at}");
        }
        out
    }
}

/// One family: HELP, TYPE, then a sample per (labels, value).
fn family(out: &mut String, name: &str, kind: &str, help: &str, rows: &mut dyn Iterator<Item = (String, String)>) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in rows {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// Escape a Prometheus label value.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_per_monkey() {
        let m = Metrics::default();
        m.register("limits");
        let mut c = BTreeMap::new();
        c.insert("aws_api_calls".to_string(), 3);
        m.record_pass("security", true, Duration::from_millis(1500), 100, Some(2), &c);
        m.record_pass("security", false, Duration::from_millis(500), 200, None, &BTreeMap::new());
        let mut labels = BTreeMap::new();
        labels.insert("host".to_string(), "a\"b".to_string());
        m.set_gauges(
            "certs",
            vec![crate::monkey::Gauge { name: "troop_cert_not_after_timestamp_seconds".into(), labels, value: 5.0 }],
        );
        let text = m.render();
        for want in [
            "# TYPE troop_cert_not_after_timestamp_seconds gauge",
            "troop_cert_not_after_timestamp_seconds{host=\"a\\\"b\"} 5",
            "troop_passes_total{monkey=\"security\",result=\"ok\"} 1",
            "troop_passes_total{monkey=\"security\",result=\"failed\"} 1",
            "troop_passes_total{monkey=\"limits\",result=\"ok\"} 0",
            "troop_pass_errors_total{monkey=\"security\"} 1",
            "# HELP troop_cert_not_after_timestamp_seconds ",
            "# TYPE troop_pass_duration_seconds histogram",
            "troop_pass_duration_seconds_bucket{monkey=\"security\",le=\"1\"} 1",
            "troop_pass_duration_seconds_bucket{monkey=\"security\",le=\"5\"} 2",
            "troop_pass_duration_seconds_bucket{monkey=\"security\",le=\"+Inf\"} 2",
            "troop_pass_duration_seconds_sum{monkey=\"security\"} 2",
            "troop_pass_duration_seconds_count{monkey=\"security\"} 2",
            "troop_pass_duration_seconds_bucket{monkey=\"limits\",le=\"+Inf\"} 0",
            "troop_last_success_timestamp_seconds{monkey=\"security\"} 100",
            "troop_open_findings{monkey=\"security\"} 2",
            "troop_monkey_operations_total{monkey=\"security\",operation=\"aws_api_calls\"} 3",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }

    #[test]
    fn a_restarted_process_exports_what_the_store_knows_until_its_own_passes() {
        let m = Metrics::default();
        m.register("security");
        m.register("certs");
        m.set_build_info("0.1.0", "abc", "2026-11-29");
        let gauge = crate::monkey::Gauge {
            name: "troop_cert_not_after_timestamp_seconds".into(),
            labels: BTreeMap::new(),
            value: 7.0,
        };
        m.restore(
            &[("security".to_string(), 4)].into(),
            &[("security".to_string(), 1000)].into(),
            [("certs".to_string(), vec![gauge])].into(),
        );
        let text = m.render();
        for want in [
            "troop_open_findings{monkey=\"security\"} 4",
            "troop_open_findings{monkey=\"certs\"} 0",
            "troop_last_success_timestamp_seconds{monkey=\"security\"} 1000",
            "troop_cert_not_after_timestamp_seconds 7",
            "troop_build_info{version=\"0.1.0\",commit=\"abc\",build_date=\"2026-11-29\"} 1",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
        // a pass of this process replaces what was restored
        m.record_pass("security", true, Duration::from_secs(1), 2000, Some(1), &BTreeMap::new());
        assert!(m.render().contains("troop_open_findings{monkey=\"security\"} 1"));
    }

    #[test]
    fn reloads_keep_the_time_of_the_last_one_that_took() {
        let m = Metrics::default();
        assert!(!m.render().contains("troop_config_last_reload"), "nothing before the first load");
        for (ok, at, want_ok, want_at) in [(true, 100, 1, 100), (false, 200, 0, 100), (true, 300, 1, 300)] {
            m.record_reload(ok, at);
            let text = m.render();
            assert!(text.contains(&format!("troop_config_last_reload_successful {want_ok}\n")), "{text}");
            assert!(
                text.contains(&format!("troop_config_last_reload_success_timestamp_seconds {want_at}\n")),
                "{text}"
            );
        }
    }

    #[test]
    fn shard_lag_is_seconds_since_the_last_success_and_goes_with_the_shard() {
        let m = Metrics::default();
        m.shard_succeeded("security/111", 1_000);
        m.shard_succeeded("security/111", 900); // an older commit never moves it back
        m.restore_shards([("security/222/eu-west-1".to_string(), 1_050)]);
        let text = m.render_at(1_100);
        assert!(text.contains("# TYPE troop_shard_lag_seconds gauge"), "{text}");
        assert!(text.contains("troop_shard_lag_seconds{monkey=\"security\",shard=\"security/111\"} 100"), "{text}");
        assert!(
            text.contains("troop_shard_lag_seconds{monkey=\"security\",shard=\"security/222/eu-west-1\"} 50"),
            "{text}"
        );
        m.keep_shards("security", &["security/111".to_string()]);
        assert!(!m.render_at(1_100).contains("security/222"));
    }

    #[test]
    fn a_monkey_turned_off_loses_its_gauges() {
        let m = Metrics::default();
        let g = |name: &str| vec![crate::monkey::Gauge { name: name.into(), labels: BTreeMap::new(), value: 1.0 }];
        m.set_gauges("certs", g("troop_cert_not_after_timestamp_seconds"));
        m.set_gauges("limits", g("troop_quota_usage"));
        m.keep_gauges_of(&["limits"]);
        let text = m.render();
        assert!(!text.contains("troop_cert_not_after") && text.contains("troop_quota_usage"), "{text}");
    }
}
