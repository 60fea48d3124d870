//! Certificates, pure: what troop records about a certificate it saw, the
//! problems that shows, how close expiry is, and how loudly to say so.
//! The certs monkey does the IO (DNS, TLS, AWS, files) and fills these in.

use crate::finding::{Finding, Severity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MONKEY: &str = "certs";
const DAY: i64 = 86_400;

/// Facts about one certificate, from its DER.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CertInfo {
    pub subject: String,
    /// DNS names and IP addresses.
    pub sans: Vec<String>,
    pub issuer: String,
    /// Hex, as `openssl x509 -serial` prints it.
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    /// `RSA`, `EC`, `Ed25519`, ...
    pub key_type: String,
    pub key_bits: u32,
    pub signature_algorithm: String,
    pub is_ca: bool,
    /// Subject equals issuer.
    pub self_issued: bool,
    pub sha256: String,
}

/// How the presented chain fared against the trust anchors (expiry aside:
/// that is judged from the dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    Trusted,
    /// The leaf is its own issuer and not a trust anchor.
    SelfSigned,
    /// The leaf's issuer was neither sent nor a trust anchor.
    IncompleteChain,
    /// A chain was sent but leads to no trust anchor.
    Untrusted,
    /// Read from an API or a file: nothing was presented to verify.
    NotChecked,
}

/// One look at one certificate: an address that served it, or an API or file holding it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The name probed or the name the certificate is for.
    pub host: String,
    /// The IP probed; `None` for certificates read from an API or a file.
    pub address: Option<String>,
    pub port: Option<u16>,
    /// `endpoint`, `route53`, `acm`, `iam`, `elbv2`, `cloudfront`, `file`.
    pub source: String,
    pub account: Option<String>,
    pub region: Option<String>,
    /// ARN or path for API and file sources.
    pub reference: Option<String>,
    pub leaf: Option<CertInfo>,
    /// Earliest expiry along the verified path (leaf, intermediates, root).
    pub chain_not_after: Option<i64>,
    /// Certificates the peer sent that are signed with SHA-1 (besides roots).
    pub sha1_in_path: bool,
    pub trust: Trust,
    /// Why the handshake (or the read) failed.
    pub error: Option<String>,
    pub owner: Option<String>,
}

/// Whether `name` is covered by a SAN entry (`*.example.com` covers one label).
pub fn name_matches(name: &str, san: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let san = san.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = san.strip_prefix("*.") {
        match name.split_once('.') {
            Some((label, tail)) => !label.is_empty() && tail == rest,
            None => false,
        }
    } else {
        name == san
    }
}

pub fn covers(leaf: &CertInfo, host: &str) -> bool {
    leaf.sans.iter().any(|s| name_matches(host, s))
}

/// The problem strings of SPEC.md, in a fixed order.
pub fn problems(o: &Observation, now: i64) -> Vec<&'static str> {
    let mut out = Vec::new();
    let Some(leaf) = &o.leaf else {
        out.push("handshake-failed");
        return out;
    };
    if leaf.not_after < now {
        out.push("expired");
    }
    if leaf.not_before > now {
        out.push("not-yet-valid");
    }
    // Only a name that was probed can mismatch; an API or file copy is for its own names.
    if o.address.is_some() && !covers(leaf, &o.host) {
        out.push("hostname-mismatch");
    }
    match o.trust {
        Trust::SelfSigned => out.push("self-signed"),
        Trust::IncompleteChain => out.push("incomplete-chain"),
        Trust::Untrusted => out.push("untrusted"),
        Trust::Trusted | Trust::NotChecked => {}
    }
    let weak = match leaf.key_type.as_str() {
        "RSA" => leaf.key_bits < 2048,
        "EC" => leaf.key_bits < 256,
        _ => false,
    };
    if weak {
        out.push("weak-key");
    }
    if o.sha1_in_path || leaf.signature_algorithm.to_ascii_lowercase().contains("sha1") {
        out.push("sha1-signature");
    }
    out
}

/// Whole days until `t` (negative once past).
pub fn days_left(t: i64, now: i64) -> i64 {
    (t - now).div_euclid(DAY)
}

/// The expiry that matters: the leaf's, or an earlier one on its path.
pub fn effective_not_after(o: &Observation) -> Option<i64> {
    let leaf = o.leaf.as_ref()?.not_after;
    Some(o.chain_not_after.map_or(leaf, |c| c.min(leaf)))
}

/// The smallest threshold (days, descending list) that `days` is inside.
pub fn crossed(days: i64, thresholds: &[u32]) -> Option<u32> {
    thresholds.iter().copied().filter(|t| days <= i64::from(*t)).min()
}

/// How loud: critical when invalid, expired or inside 7 days; warning inside
/// the first (largest) threshold or for lesser problems; nothing otherwise.
pub fn severity(problems: &[&str], days: Option<i64>, thresholds: &[u32]) -> Option<Severity> {
    const INVALID: &[&str] = &[
        "expired",
        "not-yet-valid",
        "hostname-mismatch",
        "self-signed",
        "untrusted",
        "incomplete-chain",
        "handshake-failed",
    ];
    if problems.iter().any(|p| INVALID.contains(p)) {
        return Some(Severity::Critical);
    }
    let first = thresholds.iter().copied().max().unwrap_or(30);
    match days {
        Some(d) if d <= 7 => Some(Severity::Critical),
        Some(d) if d <= i64::from(first) => Some(Severity::Warning),
        _ if !problems.is_empty() => Some(Severity::Warning),
        _ => None,
    }
}

/// Mark `stale-deployment`: an address serving a certificate older than one
/// ACM/IAM holds for that name, or the addresses of one name serving
/// different certificates (all but the newest are stale). Returns, per
/// observation, whether it is stale.
pub fn stale(observations: &[Observation]) -> Vec<bool> {
    let mut out = vec![false; observations.len()];
    let mut by_name: BTreeMap<(String, Option<u16>), Vec<usize>> = BTreeMap::new();
    for (i, o) in observations.iter().enumerate() {
        if o.address.is_some() && o.leaf.is_some() {
            by_name.entry((o.host.to_ascii_lowercase(), o.port)).or_default().push(i);
        }
    }
    for idx in by_name.values() {
        let newest = idx.iter().filter_map(|i| observations[*i].leaf.as_ref().map(|l| l.not_after)).max();
        let distinct: std::collections::BTreeSet<&str> =
            idx.iter().filter_map(|i| observations[*i].leaf.as_ref().map(|l| l.sha256.as_str())).collect();
        if distinct.len() > 1 {
            for i in idx {
                if observations[*i].leaf.as_ref().map(|l| l.not_after) < newest {
                    out[*i] = true;
                }
            }
        }
    }
    // A copy held in ACM/IAM that is newer than what an address serves.
    for (i, o) in observations.iter().enumerate() {
        let (Some(_), Some(served)) = (&o.address, &o.leaf) else { continue };
        let newer_held = observations.iter().any(|h| {
            h.address.is_none()
                && matches!(h.source.as_str(), "acm" | "iam")
                && h.leaf
                    .as_ref()
                    .is_some_and(|l| covers(l, &o.host) && l.not_after > served.not_after && l.sha256 != served.sha256)
        });
        if newer_held {
            out[i] = true;
        }
    }
    out
}

/// Where a finding about `o` points: `host:port@address`, or the ARN/path.
pub fn resource(o: &Observation) -> String {
    match (&o.address, &o.reference) {
        (Some(a), _) => format!("{}:{}@{}", o.host, o.port.unwrap_or(443), a),
        (None, Some(r)) => r.clone(),
        (None, None) => o.host.clone(),
    }
}

/// The finding for one observation, if it deserves one.
pub fn finding(o: &Observation, problems: &[&str], now: i64, thresholds: &[u32]) -> Option<Finding> {
    let days = effective_not_after(o).map(|t| days_left(t, now));
    let severity = severity(problems, days, thresholds)?;
    let mut labels = BTreeMap::new();
    let threshold = match days {
        Some(d) if d < 0 => Some("expired".to_string()),
        Some(d) => crossed(d, thresholds).map(|t| format!("{t}d")),
        None => None,
    };
    if let Some(t) = &threshold {
        labels.insert("threshold".to_string(), t.clone());
    }
    if let Some(owner) = &o.owner {
        labels.insert("owner".to_string(), owner.clone());
    }
    labels.insert("source".to_string(), o.source.clone());
    let what = match (&o.address, &o.leaf) {
        (Some(a), _) => format!("{}:{} ({a})", o.host, o.port.unwrap_or(443)),
        (None, _) => format!("{} ({})", o.host, o.source),
    };
    let title = match (problems.is_empty(), days) {
        (true, Some(d)) => format!("certificate for {what} expires in {d} days"),
        (false, Some(d)) if d >= 0 => format!("certificate for {what}: {} (expires in {d} days)", problems.join(", ")),
        (false, _) => format!("certificate for {what}: {}", problems.join(", ")),
        (true, None) => format!("certificate for {what}"),
    };
    Some(Finding {
        monkey: MONKEY.into(),
        kind: "certificate".into(),
        severity,
        account: o.account.clone().unwrap_or_else(|| "local".into()),
        region: o.region.clone().unwrap_or_else(|| "global".into()),
        resource: resource(o),
        title,
        details: serde_json::json!({
            "host": o.host,
            "address": o.address,
            "port": o.port,
            "source": o.source,
            "problems": problems,
            "days_left": days,
            "serial": o.leaf.as_ref().map(|l| l.serial.clone()),
            "subject": o.leaf.as_ref().map(|l| l.subject.clone()),
            "error": o.error,
        }),
        labels,
        scope: format!("certs:{}", o.source),
    })
}

/// One `troop certs` row (SPEC.md's certificate shape): what a pass stores
/// as the `cert` observation of one certificate at one place, and what the
/// CLI, `/api/v1/certs` and the page show. Times as RFC 3339 and as Unix
/// seconds (`*_unix`); `days_left` as of the pass, counted again by
/// [`rows_as_of`]. A field an older troop did not store reads as its
/// default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CertRow {
    pub host: String,
    pub address: Option<String>,
    pub port: Option<u16>,
    /// [`Observation::source`].
    pub source: String,
    pub subject: Option<String>,
    pub sans: Vec<String>,
    pub issuer: Option<String>,
    pub serial: Option<String>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub not_after_unix: Option<i64>,
    pub days_left: Option<i64>,
    /// Earliest expiry along the verified path.
    pub chain_not_after: Option<String>,
    pub chain_not_after_unix: Option<i64>,
    /// [`problems`]' names.
    pub problems: Vec<String>,
    pub key_type: Option<String>,
    pub key_bits: Option<u32>,
    pub signature_algorithm: Option<String>,
    pub sha256: Option<String>,
    pub owner: Option<String>,
    pub account: Option<String>,
    pub reference: Option<String>,
    pub error: Option<String>,
}

impl CertRow {
    /// The row of one observation with its `problems`, as of `now` (Unix
    /// seconds).
    pub fn new(o: &Observation, problems: &[&str], now: i64) -> CertRow {
        let leaf = o.leaf.as_ref();
        let rfc3339 = |t: i64| time::OffsetDateTime::from_unix_timestamp(t).ok().map(crate::clock::rfc3339);
        CertRow {
            host: o.host.clone(),
            address: o.address.clone(),
            port: o.port,
            source: o.source.clone(),
            subject: leaf.map(|l| l.subject.clone()),
            sans: leaf.map(|l| l.sans.clone()).unwrap_or_default(),
            issuer: leaf.map(|l| l.issuer.clone()),
            serial: leaf.map(|l| l.serial.clone()),
            not_before: leaf.and_then(|l| rfc3339(l.not_before)),
            not_after: leaf.and_then(|l| rfc3339(l.not_after)),
            not_after_unix: leaf.map(|l| l.not_after),
            days_left: leaf.map(|l| days_left(l.not_after, now)),
            chain_not_after: o.chain_not_after.and_then(rfc3339),
            chain_not_after_unix: o.chain_not_after,
            problems: problems.iter().map(|p| p.to_string()).collect(),
            key_type: leaf.map(|l| l.key_type.clone()),
            key_bits: leaf.map(|l| l.key_bits),
            signature_algorithm: leaf.map(|l| l.signature_algorithm.clone()),
            sha256: leaf.map(|l| l.sha256.clone()),
            owner: o.owner.clone(),
            account: o.account.clone(),
            reference: o.reference.clone(),
            error: o.error.clone(),
        }
    }

    /// The earliest expiry, leaf or chain (Unix seconds).
    pub fn expiry(&self) -> Option<i64> {
        match (self.not_after_unix, self.chain_not_after_unix) {
            (Some(l), Some(c)) => Some(l.min(c)),
            (l, c) => l.or(c),
        }
    }

    /// Where it was seen: `address:port`, else the ARN or path.
    pub fn place(&self) -> Option<String> {
        match (&self.address, &self.reference) {
            (Some(a), _) => Some(match self.port {
                Some(p) => format!("{a}:{p}"),
                None => a.clone(),
            }),
            (None, r) => r.clone(),
        }
    }
}

/// `troop certs` rows (the `cert` observations a pass stored, read back
/// into [`CertRow`]) as of `now`: `days_left` counted again, soonest expiry
/// (leaf or chain) first, rows without a certificate (failed probes) last.
/// Errors: a stored observation that is not a row (the store is corrupt).
pub fn rows_as_of(stored: Vec<serde_json::Value>, now: i64) -> Result<Vec<CertRow>, serde_json::Error> {
    let mut rows: Vec<CertRow> = stored.into_iter().map(serde_json::from_value).collect::<Result<_, _>>()?;
    for r in &mut rows {
        if let Some(t) = r.not_after_unix {
            r.days_left = Some(days_left(t, now));
        }
    }
    rows.sort_by(|a, b| (a.expiry().unwrap_or(i64::MAX), &a.host).cmp(&(b.expiry().unwrap_or(i64::MAX), &b.host)));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn leaf(days: i64, sans: &[&str]) -> CertInfo {
        CertInfo {
            subject: "CN=a".into(),
            sans: sans.iter().map(|s| s.to_string()).collect(),
            issuer: "CN=ca".into(),
            serial: "01".into(),
            not_before: NOW - 10 * DAY,
            not_after: NOW + days * DAY,
            key_type: "EC".into(),
            key_bits: 256,
            signature_algorithm: "ecdsa-with-SHA256".into(),
            is_ca: false,
            self_issued: false,
            sha256: format!("fp{days}"),
        }
    }

    fn probed(host: &str, l: CertInfo) -> Observation {
        Observation {
            host: host.into(),
            address: Some("127.0.0.2".into()),
            port: Some(443),
            source: "endpoint".into(),
            account: None,
            region: None,
            reference: None,
            leaf: Some(l),
            chain_not_after: None,
            sha1_in_path: false,
            trust: Trust::Trusted,
            error: None,
            owner: None,
        }
    }

    #[test]
    fn name_matching_table() {
        let cases = [
            ("a.example.com", "a.example.com", true),
            ("A.Example.COM.", "a.example.com", true),
            ("a.example.com", "*.example.com", true),
            ("example.com", "*.example.com", false),
            ("a.b.example.com", "*.example.com", false),
            ("a.example.com", "b.example.com", false),
            ("127.0.0.1", "127.0.0.1", true),
        ];
        for (name, san, want) in cases {
            assert_eq!(name_matches(name, san), want, "{name} vs {san}");
        }
    }

    #[test]
    fn problems_table() {
        let ok = probed("a.test", leaf(90, &["a.test"]));
        let with = |f: &dyn Fn(&mut Observation)| {
            let mut o = ok.clone();
            f(&mut o);
            o
        };
        let cases: Vec<(Observation, Vec<&str>)> = vec![
            (ok.clone(), vec![]),
            (with(&|o| o.leaf = Some(leaf(-2, &["a.test"]))), vec!["expired"]),
            (with(&|o| o.leaf.as_mut().unwrap().not_before = NOW + DAY), vec!["not-yet-valid"]),
            (with(&|o| o.host = "b.test".into()), vec!["hostname-mismatch"]),
            (with(&|o| o.trust = Trust::SelfSigned), vec!["self-signed"]),
            (with(&|o| o.trust = Trust::IncompleteChain), vec!["incomplete-chain"]),
            (with(&|o| o.trust = Trust::Untrusted), vec!["untrusted"]),
            (
                with(&|o| {
                    let l = o.leaf.as_mut().unwrap();
                    l.key_type = "RSA".into();
                    l.key_bits = 1024;
                    l.signature_algorithm = "sha1WithRSAEncryption".into();
                }),
                vec!["weak-key", "sha1-signature"],
            ),
            (with(&|o| o.leaf.as_mut().unwrap().key_bits = 224), vec!["weak-key"]),
            (with(&|o| o.sha1_in_path = true), vec!["sha1-signature"]),
            (with(&|o| o.leaf = None), vec!["handshake-failed"]),
            // a copy read from an API is not probed under a name: no mismatch
            (
                with(&|o| {
                    o.address = None;
                    o.host = "other.test".into();
                    o.trust = Trust::NotChecked;
                }),
                vec![],
            ),
        ];
        for (o, want) in cases {
            assert_eq!(problems(&o, NOW), want, "{o:?}");
        }
    }

    #[test]
    fn severity_and_threshold_table() {
        let t = [30, 14, 7, 1];
        // (days to effective expiry, problems) -> (severity, threshold label)
        type Case = (i64, Vec<&'static str>, Option<Severity>, Option<&'static str>);
        let cases: Vec<Case> = vec![
            (90, vec![], None, None),
            (31, vec![], None, None),
            (30, vec![], Some(Severity::Warning), Some("30d")),
            (20, vec![], Some(Severity::Warning), Some("30d")),
            (10, vec![], Some(Severity::Warning), Some("14d")),
            (7, vec![], Some(Severity::Critical), Some("7d")),
            (5, vec![], Some(Severity::Critical), Some("7d")),
            (0, vec![], Some(Severity::Critical), Some("1d")),
            (-1, vec!["expired"], Some(Severity::Critical), Some("expired")),
            (90, vec!["weak-key"], Some(Severity::Warning), None),
            (90, vec!["hostname-mismatch"], Some(Severity::Critical), None),
        ];
        for (days, probs, sev, label) in cases {
            let mut o = probed("a.test", leaf(days, &["a.test"]));
            o.leaf.as_mut().unwrap().not_after = NOW + days * DAY + 60;
            if days < 0 {
                o.leaf.as_mut().unwrap().not_after = NOW + days * DAY;
            }
            let f = finding(&o, &probs, NOW, &t);
            assert_eq!(f.as_ref().map(|f| f.severity), sev, "{days} {probs:?}");
            assert_eq!(f.as_ref().and_then(|f| f.labels.get("threshold").cloned()).as_deref(), label, "{days}");
        }
    }

    #[test]
    fn an_intermediate_expiring_first_drives_the_alarm() {
        let mut o = probed("a.test", leaf(300, &["a.test"]));
        o.chain_not_after = Some(NOW + 5 * DAY + 60);
        assert!(problems(&o, NOW).is_empty());
        assert_eq!(days_left(o.leaf.as_ref().unwrap().not_after, NOW), 300);
        let f = finding(&o, &[], NOW, &[30, 14, 7, 1]).unwrap();
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.labels["threshold"], "7d");
        assert_eq!(f.resource, "a.test:443@127.0.0.2");
        assert_eq!(f.title, "certificate for a.test:443 (127.0.0.2) expires in 5 days");
    }

    #[test]
    fn rows_count_days_again_and_sort_by_the_expiry_that_matters() {
        use serde_json::json;
        let rows = vec![
            json!({"host": "failed.test", "not_after_unix": null}),
            json!({"host": "late.test", "not_after_unix": 100 * DAY, "days_left": 99}),
            json!({"host": "chain.test", "not_after_unix": 300 * DAY, "chain_not_after_unix": 50 * DAY}),
            json!({"host": "soon.test", "not_after_unix": 60 * DAY}),
        ];
        let out = rows_as_of(rows, 10 * DAY).unwrap();
        let hosts: Vec<&str> = out.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(hosts, ["chain.test", "soon.test", "late.test", "failed.test"]);
        assert_eq!(out[2].days_left, Some(90), "as of now, not as stored");
        assert_eq!(out[3].days_left, None);
        // a stored row that is not a certificate row is an error, not a blank row
        assert!(rows_as_of(vec![json!({"host": 5})], 0).is_err());
    }

    #[test]
    fn a_row_has_the_spec_keys_and_reads_back_as_stored() {
        let o = probed("a.test", leaf(20, &["a.test"]));
        let row = CertRow::new(&o, &["expiring"], NOW);
        let j = serde_json::to_value(&row).unwrap();
        let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "account",
                "address",
                "chain_not_after",
                "chain_not_after_unix",
                "days_left",
                "error",
                "host",
                "issuer",
                "key_bits",
                "key_type",
                "not_after",
                "not_after_unix",
                "not_before",
                "owner",
                "port",
                "problems",
                "reference",
                "sans",
                "serial",
                "sha256",
                "signature_algorithm",
                "source",
                "subject",
            ]
        );
        assert_eq!((row.days_left, row.place().as_deref()), (Some(20), Some("127.0.0.2:443")));
        assert_eq!(rows_as_of(vec![j], NOW).unwrap(), vec![row]);
    }

    #[test]
    fn stale_deployments() {
        let new = leaf(300, &["a.test"]);
        let old = leaf(20, &["a.test"]);
        let mut second = probed("a.test", old.clone());
        second.address = Some("127.0.0.3".into());
        let held = Observation {
            address: None,
            port: None,
            source: "acm".into(),
            reference: Some("arn:acm".into()),
            ..probed("a.test", new.clone())
        };
        // two addresses, different certificates: the older one is stale
        assert_eq!(stale(&[probed("a.test", new.clone()), second.clone()]), vec![false, true]);
        // same certificate everywhere: nothing stale
        assert_eq!(stale(&[probed("a.test", old.clone()), second.clone()]), vec![false, false]);
        // ACM holds a newer one than the address serves
        assert_eq!(stale(&[second.clone(), held.clone()]), vec![true, false]);
        assert_eq!(stale(&[probed("a.test", new), held]), vec![false, false]);
    }
}
