//! PEM files (and globs) on the agent's host.

use super::x509;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use troop_core::certs::{CertInfo, Observation, Trust};

pub(crate) struct FileObservations {
    pub observations: Vec<Observation>,
    /// (path or pattern, reason)
    pub errors: Vec<(String, String)>,
}

/// Each file's first certificate is its leaf; the rest, if any, its chain.
pub(crate) fn read(patterns: &[String], _now: i64) -> FileObservations {
    let mut out = FileObservations { observations: vec![], errors: vec![] };
    for pattern in patterns {
        let paths: Vec<_> = match glob::glob(pattern) {
            Ok(p) => p.filter_map(Result::ok).collect(),
            Err(e) => {
                out.errors.push((pattern.clone(), e.to_string()));
                continue;
            }
        };
        if paths.is_empty() && !pattern.contains(['*', '?', '[']) {
            out.errors.push((pattern.clone(), "no such file".into()));
        }
        for path in paths {
            let shown = path.display().to_string();
            let ders: Result<Vec<CertificateDer<'static>>, _> =
                CertificateDer::pem_file_iter(&path).and_then(|i| i.collect());
            let ders = match ders {
                Ok(d) if !d.is_empty() => d,
                Ok(_) => continue, // a key or other PEM: not ours
                Err(e) => {
                    out.errors.push((shown, e.to_string()));
                    continue;
                }
            };
            let infos: Vec<CertInfo> = match ders.iter().map(|d| x509::parse(d)).collect() {
                Ok(i) => i,
                Err(e) => {
                    out.errors.push((shown, e));
                    continue;
                }
            };
            let leaf = infos[0].clone();
            let chain_not_after = infos.iter().map(|i| i.not_after).min();
            out.observations.push(Observation {
                host: leaf.sans.first().cloned().unwrap_or_else(|| leaf.subject.clone()),
                address: None,
                port: None,
                source: "file".into(),
                account: None,
                region: None,
                reference: Some(shown),
                sha1_in_path: false,
                leaf: Some(leaf),
                chain_not_after,
                trust: Trust::NotChecked,
                error: None,
                owner: None,
            });
        }
    }
    out
}
