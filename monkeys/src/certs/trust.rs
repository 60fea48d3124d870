//! Trust anchors (system roots + `extra_ca_files`) and what a presented chain
//! amounts to: trusted, self-signed, incomplete, or untrusted, and the earliest
//! expiry along the path that verification actually builds.

use super::x509;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use std::path::Path;
use std::time::Duration;
use troop_core::certs::{CertInfo, Trust};

pub(crate) struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
    /// Per anchor: its subject as x509-parser prints it and its expiry.
    roots: Vec<(Vec<u8>, String, i64)>,
}

/// What the chain amounts to.
#[derive(Clone)]
pub(crate) struct Verdict {
    pub trust: Trust,
    pub chain_not_after: Option<i64>,
    pub sha1_in_path: bool,
}

impl TrustStore {
    /// The system roots plus every certificate in `extra` (PEM files).
    pub fn load(extra: &[impl AsRef<Path>], system: bool) -> Result<TrustStore, String> {
        let mut ders: Vec<CertificateDer<'static>> = Vec::new();
        if system {
            ders.extend(rustls_native_certs::load_native_certs().certs);
        }
        for f in extra {
            let f = f.as_ref();
            let certs: Vec<_> = CertificateDer::pem_file_iter(f)
                .map_err(|e| format!("cannot read CA file {}: {e}", f.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("cannot read CA file {}: {e}", f.display()))?;
            if certs.is_empty() {
                return Err(format!("CA file {} holds no certificate", f.display()));
            }
            ders.extend(certs);
        }
        let mut store = TrustStore { anchors: Vec::new(), roots: Vec::new() };
        for der in &ders {
            let (Ok(anchor), Ok(info)) = (webpki::anchor_from_trusted_cert(der), x509::parse(der)) else { continue };
            let anchor = anchor.to_owned();
            store.roots.push((anchor.subject.as_ref().to_vec(), info.subject, info.not_after));
            store.anchors.push(anchor);
        }
        Ok(store)
    }

    fn is_anchor_subject(&self, subject: &str) -> bool {
        self.roots.iter().any(|(_, s, _)| s == subject)
    }

    /// Judge a presented chain (leaf first) at `now`.
    pub fn judge(&self, chain: &[CertificateDer<'_>], infos: &[CertInfo], now: i64) -> Verdict {
        let leaf = &infos[0];
        let sha1 = |i: &CertInfo| i.signature_algorithm.to_ascii_lowercase().contains("sha1");
        // Verify at a moment inside the leaf's validity: an expired leaf still
        // has a path, and its expiry is reported from the dates.
        let at = now.clamp(leaf.not_before, (leaf.not_after - 1).max(leaf.not_before));
        let at = UnixTime::since_unix_epoch(Duration::from_secs(at.max(0) as u64));
        let verified = webpki::EndEntityCert::try_from(&chain[0]).ok().and_then(|ee| {
            let path = ee
                .verify_for_usage(
                    webpki::ALL_VERIFICATION_ALGS,
                    &self.anchors,
                    &chain[1..],
                    at,
                    webpki::KeyUsage::server_auth(),
                    None,
                    None,
                )
                .ok()?;
            let mut not_after = leaf.not_after;
            let mut sha1_in_path = false;
            for c in path.intermediate_certificates() {
                if let Ok(i) = x509::parse(c.der().as_ref()) {
                    not_after = not_after.min(i.not_after);
                    sha1_in_path |= sha1(&i);
                }
            }
            let anchor_subject = path.anchor().subject.as_ref();
            if let Some((_, _, root_expiry)) = self.roots.iter().find(|(s, _, _)| s.as_slice() == anchor_subject) {
                not_after = not_after.min(*root_expiry);
            }
            Some((not_after, sha1_in_path))
        });
        if let Some((not_after, sha1_in_path)) = verified {
            return Verdict { trust: Trust::Trusted, chain_not_after: Some(not_after), sha1_in_path };
        }
        // No path: say why, and walk the presented chain by name for its expiry.
        let presented_issuer = infos[1..].iter().any(|i| i.subject == leaf.issuer);
        let trust = if leaf.self_issued && !self.is_anchor_subject(&leaf.subject) {
            Trust::SelfSigned
        } else if !presented_issuer && !self.is_anchor_subject(&leaf.issuer) {
            Trust::IncompleteChain
        } else {
            Trust::Untrusted
        };
        let mut not_after = leaf.not_after;
        let mut current = leaf;
        for _ in 0..infos.len() {
            match infos.iter().find(|i| i.subject == current.issuer && !std::ptr::eq(*i, current)) {
                Some(next) => {
                    not_after = not_after.min(next.not_after);
                    current = next;
                }
                None => break,
            }
        }
        Verdict {
            trust,
            chain_not_after: Some(not_after),
            sha1_in_path: infos[1..].iter().any(|i| !i.self_issued && sha1(i)),
        }
    }
}
