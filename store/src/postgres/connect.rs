//! Reading a `postgres://` store URL and connecting to it over TLS as libpq
//! would (`sslmode`, `sslrootcert`; libpq's "Connection URIs" and "SSL
//! Support" pages, PostgreSQL 15 §34.1.1 and §34.19).

use std::sync::Arc;
use tokio_postgres::config::SslMode;

/// How a connection is secured, as libpq's `sslmode` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// `disable`: plain TCP.
    Disable,
    /// `allow`, `prefer` (libpq's default): TLS when the server offers it,
    /// its certificate not checked.
    Prefer,
    /// `require`: TLS or no connection; the certificate not checked.
    Require,
    /// `verify-ca`: TLS with a certificate signed by a trusted CA.
    VerifyCa,
    /// `verify-full`: as `verify-ca`, and issued for the host connected to.
    VerifyFull,
}

/// A parsed store URL: the driver's config (the password from the secret
/// when given), the TLS mode and the CA file (`sslrootcert`; the system's
/// roots otherwise).
pub struct Target {
    pub config: tokio_postgres::Config,
    pub tls: TlsMode,
    pub root_cert: Option<String>,
}

/// Read `url` (`postgres://` or `postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…&sslrootcert=…]`).
/// `password` (a secret from the config) wins over one in the URL.
/// Errors: a message naming what is wrong (never the password).
pub fn parse(url: &str, password: Option<&str>) -> Result<Target, String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| "a PostgreSQL store URL starts with postgres:// or postgresql://".to_string())?;
    let (base, query) = match rest.split_once('?') {
        Some((b, q)) => (b, q),
        None => (rest, ""),
    };
    let mut tls = TlsMode::Prefer;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => {
                tls = match v {
                    "disable" => TlsMode::Disable,
                    "allow" | "prefer" => TlsMode::Prefer,
                    "require" => TlsMode::Require,
                    "verify-ca" => TlsMode::VerifyCa,
                    "verify-full" => TlsMode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        ));
                    }
                }
            }
            "sslrootcert" => root_cert = Some(v.to_string()),
            _ => kept.push(pair),
        }
    }
    let rebuilt =
        if kept.is_empty() { format!("postgres://{base}") } else { format!("postgres://{base}?{}", kept.join("&")) };
    let mut config: tokio_postgres::Config = rebuilt.parse().map_err(|e: tokio_postgres::Error| {
        format!(
            "not a PostgreSQL URL ({e}); write postgres://USER@HOST[:PORT]/DB, with @ : / % in a user or \
             password percent-encoded (%40 %3A %2F %25), or the password as store_password"
        )
    })?;
    if config.get_hosts().is_empty() {
        return Err("the URL names no host; write postgres://USER@HOST[:PORT]/DB".into());
    }
    if config.get_user().is_none() {
        return Err("the URL names no user; write postgres://USER@HOST[:PORT]/DB".into());
    }
    if config.get_dbname().is_none() {
        return Err("the URL names no database; write postgres://USER@HOST[:PORT]/DB".into());
    }
    if let Some(p) = password.filter(|p| !p.is_empty()) {
        config.password(p);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    config.application_name("troop");
    // as libpq: TLS is never used over a Unix-domain socket
    let unix = config.get_hosts().iter().all(|h| !matches!(h, tokio_postgres::config::Host::Tcp(_)));
    let tls = match (unix, tls) {
        (true, TlsMode::Disable | TlsMode::Prefer) => TlsMode::Disable,
        (true, _) => {
            return Err(format!(
                "sslmode={} asks for TLS, which a Unix-domain socket does not carry; use sslmode=disable or a TCP host",
                query.split('&').find_map(|kv| kv.strip_prefix("sslmode=")).unwrap_or("require")
            ));
        }
        (false, t) => t,
    };
    config.ssl_mode(match tls {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
    });
    Ok(Target { config, tls, root_cert })
}

/// What `troop config check` asks of a URL without connecting: that it
/// parses, and that the CA file it names (`sslrootcert`) can be read.
pub fn check(url: &str) -> Result<(), String> {
    let target = parse(url, None)?;
    if let Some(path) = &target.root_cert {
        std::fs::File::open(path).map_err(|e| format!("sslrootcert {path}: {e}"))?;
    }
    Ok(())
}

/// The rustls connector for a target's mode (every mode gets one; with
/// `disable` it is never used).
pub fn connector(target: &Target) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = if target.tls == TlsMode::VerifyFull {
        builder.with_root_certificates(roots(target)?).with_no_client_auth()
    } else {
        // prefer/require check no certificate; verify-ca the chain, not the name
        let chain = match target.tls {
            TlsMode::VerifyCa => Some(
                rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots(target)?), provider.clone())
                    .build()
                    .map_err(|e| e.to_string())?,
            ),
            _ => None,
        };
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Lenient { chain, provider }))
            .with_no_client_auth()
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The CA roots `verify-ca` and `verify-full` trust: `sslrootcert`'s,
/// else the system's.
fn roots(target: &Target) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &target.root_cert {
        Some(path) => {
            use rustls_pki_types::pem::PemObject;
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            for c in certs {
                roots.add(c.map_err(|e| format!("sslrootcert {path}: {e}"))?).map_err(|e| e.to_string())?;
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
    }
    Ok(roots)
}

/// libpq's lenient modes: `prefer`/`require` (no `chain`) encrypt without
/// checking the server's certificate; `verify-ca` checks its chain but not
/// the name it was issued for. Handshake signatures are always checked.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        let Some(chain) = &self.chain else { return Ok(rustls::client::danger::ServerCertVerified::assertion()) };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(NotValidForName | NotValidForNameContext { .. })) => {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_read_as_libpq_reads_them() {
        // (url, password secret, user, host, port, db, mode, error contains)
        let ok = [
            ("postgres://troop@db.internal/troop", None, "troop", 5432, "troop", TlsMode::Prefer),
            ("postgresql://troop@127.0.0.1:6543/t?sslmode=require", None, "troop", 6543, "t", TlsMode::Require),
            (
                "postgres://a:b@h/d?sslmode=verify-full&sslrootcert=/ca.pem",
                Some("s"),
                "a",
                5432,
                "d",
                TlsMode::VerifyFull,
            ),
            ("postgres://a@h/d?sslmode=disable", None, "a", 5432, "d", TlsMode::Disable),
            ("postgres://a@h/d?sslmode=verify-ca", None, "a", 5432, "d", TlsMode::VerifyCa),
            ("postgres://a@h/d?sslmode=allow", None, "a", 5432, "d", TlsMode::Prefer),
        ];
        for (url, pw, user, port, db, mode) in ok {
            let t = parse(url, pw).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(t.config.get_user(), Some(user), "{url}");
            assert_eq!(t.config.get_ports().first().copied().unwrap_or(5432), port, "{url}");
            assert_eq!(t.config.get_dbname(), Some(db), "{url}");
            assert_eq!(t.tls, mode, "{url}");
        }
        // a Unix-domain socket: no TLS (libpq), and asking for it is an error
        let t = parse("postgres://a@/d?host=/run/postgresql", None).unwrap();
        assert_eq!(t.tls, TlsMode::Disable);
        let e = parse("postgres://a@/d?host=/run/postgresql&sslmode=verify-full", None).err().unwrap();
        assert!(e.contains("Unix-domain socket"), "{e}");
        // an empty secret is no password
        assert_eq!(parse("postgres://a@h/d", Some("")).unwrap().config.get_password(), None);
        let t = parse("postgres://a:inurl@h/d", Some("secret")).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"secret"[..]), "the secret wins over the URL's");
        assert_eq!(
            parse("postgres://a@h/d?sslmode=verify-full&sslrootcert=/x.pem", None).unwrap().root_cert.as_deref(),
            Some("/x.pem")
        );
        let bad = [
            ("mysql://a@h/d", "starts with postgres://"),
            ("postgres://a@h/d?sslmode=sometimes", "sslmode=sometimes is not one of"),
            ("postgres://h/d", "names no user"),
            ("postgres://a@h", "names no database"),
            ("postgres://a@h:notaport/d", "not a PostgreSQL URL"),
        ];
        for (url, want) in bad {
            let e = parse(url, None).err().unwrap_or_else(|| panic!("{url} accepted"));
            assert!(e.contains(want), "{url}: {e}");
        }
    }
}
