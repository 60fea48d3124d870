//! `[agent.http.tls_server_config]` as a rustls server configuration: the
//! certificate chain and key (PEM), the lowest version, and client
//! certificates verified against `client_ca_file` (mTLS) as
//! exporter-toolkit's `client_auth_type` says.

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use troop_config::{ClientAuthType, TlsServer, TlsVersion};

/// Why the TLS files do not make a server; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cert_file {path}: {why}")]
    Cert { path: PathBuf, why: String },
    #[error("key_file {path}: {why}")]
    Key { path: PathBuf, why: String },
    #[error("client_ca_file {path}: {why}")]
    ClientCa { path: PathBuf, why: String },
    #[error("cert_file and key_file do not make a TLS server: {0}")]
    Config(String),
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into());
    }
    Ok(certs)
}

/// The rustls configuration of `cfg` (ALPN `http/1.1`, ring provider).
/// Errors name the file at fault.
pub fn server_config(cfg: &TlsServer) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certs(&cfg.cert_file).map_err(|why| TlsError::Cert { path: cfg.cert_file.clone(), why })?;
    let key = PrivateKeyDer::from_pem_file(&cfg.key_file)
        .map_err(|e| TlsError::Key { path: cfg.key_file.clone(), why: format!("no PEM private key: {e}") })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match cfg.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match (&cfg.client_ca_file, cfg.client_auth_type) {
        (Some(path), auth @ (ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert)) => {
            let ca = |why| TlsError::ClientCa { path: path.clone(), why };
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(path).map_err(ca)? {
                roots.add(c).map_err(|e| ca(format!("not a CA certificate: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuthType::VerifyClientCertIfGiven {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| ca(e.to_string()))?)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// [`server_config`] as `troop config check` judges it (`troop_config::Judges::tls`).
pub fn check(cfg: &TlsServer) -> Result<(), String> {
    server_config(cfg).map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn files_that_do_not_make_a_server_are_named() {
        let dir = std::env::temp_dir().join(format!("troop-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ca".into()]).unwrap();
        let leaf = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = write(&dir, "cert.pem", &leaf.cert.pem());
        let key = write(&dir, "key.pem", &leaf.signing_key.serialize_pem());
        let other_key = write(&dir, "other.pem", &other.signing_key.serialize_pem());
        let ca_file = write(&dir, "ca.pem", &ca.cert.pem());
        let junk = write(&dir, "junk.pem", "not pem at all\n");
        let tls = |cert: &PathBuf, key: &PathBuf, ca: Option<&PathBuf>| TlsServer {
            cert_file: cert.clone(),
            key_file: key.clone(),
            client_ca_file: ca.cloned(),
            client_auth_type: if ca.is_some() {
                ClientAuthType::RequireAndVerifyClientCert
            } else {
                ClientAuthType::NoClientCert
            },
            min_version: TlsVersion::Tls12,
        };
        // (configuration, the start of the error, or "" for a server)
        let cases = [
            (tls(&cert, &key, None), ""),
            (tls(&cert, &key, Some(&ca_file)), ""),
            (tls(&junk, &key, None), "cert_file"),
            (tls(&cert, &junk, None), "key_file"),
            (tls(&cert, &other_key, None), "cert_file and key_file do not make"),
            (tls(&cert, &key, Some(&junk)), "client_ca_file"),
        ];
        for (cfg, want) in cases {
            match check(&cfg) {
                Ok(()) => assert_eq!(want, "", "{cfg:?}"),
                Err(e) => assert!(!want.is_empty() && e.starts_with(want), "{cfg:?}: {e}"),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
