//! `[agent.http.tls_server_config]` as a rustls server configuration: the
//! certificate chain and key (PEM), the lowest version, and client
//! certificates verified against `client_ca_file` (mTLS) as
//! exporter-toolkit's `client_auth_type` says. As exporter-toolkit, the
//! certificate and key are read again when their files change (a renewal
//! by cert-manager or certbot needs no restart): each handshake compares
//! the files' modification times with those of the pair it serves; a new
//! pair that does not load (half written, key not matching) is logged and
//! the last good one stays.

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::RwLock;
use std::time::SystemTime;
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

/// The certificate chain and key of `cfg`'s files, checked to match.
fn certified_key(cert_file: &Path, key_file: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let chain = certs(cert_file).map_err(|why| TlsError::Cert { path: cert_file.to_path_buf(), why })?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| TlsError::Key { path: key_file.to_path_buf(), why: format!("no PEM private key: {e}") })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::Config(e.to_string()))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The served pair and the modification times of the files it came from.
type Served = ((Option<SystemTime>, Option<SystemTime>), Arc<CertifiedKey>);

/// Serves the certificate of `cert_file`/`key_file`, read again when either
/// file's modification time changes.
#[derive(Debug)]
struct Reloading {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    served: RwLock<Served>,
}

impl Reloading {
    fn new(cert_file: &Path, key_file: &Path, provider: Arc<CryptoProvider>) -> Result<Reloading, TlsError> {
        let stamps = (modified(cert_file), modified(key_file));
        let key = Arc::new(certified_key(cert_file, key_file, &provider)?);
        Ok(Reloading {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            served: RwLock::new((stamps, key)),
        })
    }

    /// The pair to serve now: the one served, or the files' new one.
    fn current(&self) -> Arc<CertifiedKey> {
        let stamps = (modified(&self.cert_file), modified(&self.key_file));
        {
            let served = self.served.read().unwrap_or_else(|e| e.into_inner());
            if served.0 == stamps {
                return served.1.clone();
            }
        }
        let mut served = self.served.write().unwrap_or_else(|e| e.into_inner());
        match certified_key(&self.cert_file, &self.key_file, &self.provider) {
            Ok(key) => {
                tracing::info!(cert_file = %self.cert_file.display(), "TLS certificate changed on disk; serving the new one");
                *served = (stamps, Arc::new(key));
            }
            Err(e) => {
                // try again only when the files change again
                tracing::warn!(error = %e, "the TLS certificate on disk does not load; serving the last good one");
                served.0 = stamps;
            }
        }
        served.1.clone()
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The rustls configuration of `cfg` (ALPN `http/1.1`, ring provider).
/// Errors name the file at fault.
pub fn server_config(cfg: &TlsServer) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = Arc::new(Reloading::new(&cfg.cert_file, &cfg.key_file, provider.clone())?);
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
    let mut config = builder.with_cert_resolver(resolver);
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

    #[test]
    fn a_certificate_renewed_on_disk_is_served_without_a_restart_and_a_broken_one_is_not() {
        let dir = std::env::temp_dir().join(format!("troop-tls-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let pair = |name: &str| rcgen::generate_simple_self_signed(vec![name.into()]).unwrap();
        let install = |p: &rcgen::CertifiedKey<rcgen::KeyPair>, stamp: u64| {
            std::fs::write(&cert, p.cert.pem()).unwrap();
            std::fs::write(&key, p.signing_key.serialize_pem()).unwrap();
            // distinct modification times, whatever the file system's resolution
            let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000 + stamp);
            for f in [&cert, &key] {
                std::fs::File::options().write(true).open(f).unwrap().set_modified(t).unwrap();
            }
            p.cert.der().clone()
        };
        let first = install(&pair("one.test"), 0);
        let r = Reloading::new(&cert, &key, Arc::new(rustls::crypto::ring::default_provider())).unwrap();
        assert_eq!(r.current().cert[0], first);
        assert_eq!(r.current().cert[0], first, "unchanged files: the same pair");
        let second = install(&pair("two.test"), 10);
        assert_eq!(r.current().cert[0], second, "renewed on disk: served at the next handshake");
        // a certificate whose key is another's: the last good pair stays
        let (a, b) = (pair("three.test"), pair("four.test"));
        std::fs::write(&cert, a.cert.pem()).unwrap();
        std::fs::write(&key, b.signing_key.serialize_pem()).unwrap();
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_020);
        for f in [&cert, &key] {
            std::fs::File::options().write(true).open(f).unwrap().set_modified(t).unwrap();
        }
        assert_eq!(r.current().cert[0], second);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
