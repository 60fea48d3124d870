//! Loopback TLS for the certs tests: a small PKI made with rcgen, TLS servers
//! on 127.0.0.x (one port shared by several addresses, as one name behind
//! several IPs), hostile peers, and an SMTP server that speaks STARTTLS.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

pub const DAY: Duration = Duration::days(1);

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }
}

fn ca_params(name: &str, nb: OffsetDateTime, na: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.not_before = nb;
    p.not_after = na;
    p
}

pub fn root(name: &str, nb: OffsetDateTime, na: OffsetDateTime) -> Ca {
    root_with_key(name, nb, na).0
}

/// A root and a second handle on its key (to cross-sign it).
pub fn root_with_key(name: &str, nb: OffsetDateTime, na: OffsetDateTime) -> (Ca, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let copy = KeyPair::from_pem(&key.serialize_pem()).unwrap();
    (Ca { issuer: CertifiedIssuer::self_signed(ca_params(name, nb, na), key).unwrap() }, copy)
}

/// A root with the same name and key as `root`, certified by `by` (a cross-sign).
pub fn cross_signed(
    root_name: &str,
    key: &KeyPair,
    by: &Ca,
    nb: OffsetDateTime,
    na: OffsetDateTime,
) -> CertificateDer<'static> {
    ca_params(root_name, nb, na).signed_by(key, &by.issuer).unwrap().der().clone()
}

pub fn intermediate(parent: &Ca, name: &str, nb: OffsetDateTime, na: OffsetDateTime) -> Ca {
    Ca {
        issuer: CertifiedIssuer::signed_by(ca_params(name, nb, na), KeyPair::generate().unwrap(), &parent.issuer)
            .unwrap(),
    }
}

pub struct Leaf {
    pub der: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

fn leaf_params(sans: &[&str], nb: OffsetDateTime, na: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, sans[0]);
    p.not_before = nb;
    p.not_after = na;
    p
}

fn to_leaf(cert: rcgen::Certificate, key: KeyPair) -> Leaf {
    Leaf {
        der: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

pub fn leaf(parent: &Ca, sans: &[&str], nb: OffsetDateTime, na: OffsetDateTime) -> Leaf {
    let key = KeyPair::generate().unwrap();
    to_leaf(leaf_params(sans, nb, na).signed_by(&key, &parent.issuer).unwrap(), key)
}

pub fn self_signed(sans: &[&str], nb: OffsetDateTime, na: OffsetDateTime) -> Leaf {
    let key = KeyPair::generate().unwrap();
    to_leaf(leaf_params(sans, nb, na).self_signed(&key).unwrap(), key)
}

fn server_config(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

/// A port free on every one of `ips`.
pub fn common_port(ips: &[IpAddr]) -> u16 {
    for _ in 0..200 {
        let port = std::net::TcpListener::bind(SocketAddr::new(ips[0], 0)).unwrap().local_addr().unwrap().port();
        if ips.iter().all(|ip| std::net::TcpListener::bind(SocketAddr::new(*ip, port)).is_ok()) {
            return port;
        }
    }
    panic!("no common free port");
}

/// Bind `addr` and run `handle` on every connection, each in its own task,
/// until the runtime ends.
async fn each_connection<F, Fut>(addr: SocketAddr, handle: F)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind(addr).await.unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            tokio::spawn(handle(tcp));
        }
    });
}

/// Serve `chain` (leaf first) with `key` on `addr`.
pub async fn serve(addr: SocketAddr, chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) {
    serve_with(addr, server_config(chain, key)).await;
}

/// Complete handshakes with `config` on `addr`, then close.
async fn serve_with(addr: SocketAddr, config: Arc<rustls::ServerConfig>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    each_connection(addr, move |tcp| {
        let acceptor = acceptor.clone();
        async move {
            if let Ok(mut tls) = acceptor.accept(tcp).await {
                let _ = tls.shutdown().await;
            }
        }
    })
    .await;
}

/// Picks a chain by the name the client asks for (SNI), the first one when
/// it asks for none it knows: what a load balancer with several listener
/// certificates does.
#[derive(Debug)]
struct BySni(Vec<(String, Arc<rustls::sign::CertifiedKey>)>);

impl rustls::server::ResolvesServerCert for BySni {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let asked = hello.server_name().unwrap_or_default();
        let hit = self.0.iter().find(|(name, _)| name.eq_ignore_ascii_case(asked)).or(self.0.first());
        hit.map(|(_, key)| key.clone())
    }
}

/// Serve, on `addr`, the chain whose name the client asks for (SNI); the
/// first is the default.
pub async fn serve_by_name(
    addr: SocketAddr,
    chains: Vec<(&str, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) {
    let keys = chains
        .into_iter()
        .map(|(name, chain, key)| {
            let signer = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
            (name.to_string(), Arc::new(rustls::sign::CertifiedKey::new(chain, signer)))
        })
        .collect();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(BySni(keys)));
    serve_with(addr, Arc::new(config)).await;
}

/// Accepts and never says a word (holds the connection open).
pub async fn silent(addr: SocketAddr) {
    each_connection(addr, |tcp| async move {
        let _held = tcp;
        std::future::pending::<()>().await;
    })
    .await;
}

/// Answers the ClientHello with noise.
pub async fn garbage(addr: SocketAddr) {
    each_connection(addr, |mut tcp| async move {
        let mut buf = [0u8; 1024];
        let _ = tcp.read(&mut buf).await;
        let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\nthis is not TLS at all").await;
    })
    .await;
}

/// Answers the ClientHello with a 10 MB "certificate chain" (TLS handshake records).
pub async fn huge_chain(addr: SocketAddr) {
    each_connection(addr, |mut tcp| async move {
        let mut buf = [0u8; 2048];
        let _ = tcp.read(&mut buf).await;
        let total: usize = 10 * 1024 * 1024;
        // handshake message header: Certificate (11), 24-bit length
        let mut chunk = vec![0x0b, (total >> 16) as u8, (total >> 8) as u8, total as u8];
        chunk.resize(16_384, 0x30);
        let mut sent = 0;
        while sent < total {
            let mut rec = vec![0x16, 0x03, 0x03, (chunk.len() >> 8) as u8, chunk.len() as u8];
            rec.extend_from_slice(&chunk);
            if tcp.write_all(&rec).await.is_err() {
                return;
            }
            sent += chunk.len();
            chunk = vec![0x30; 16_384];
        }
    })
    .await;
}

/// An SMTP server that offers STARTTLS and then serves `chain`.
/// The mail protocols whose STARTTLS the certs monkey speaks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mail {
    Smtp,
    Imap,
    Pop3,
}

/// A mail server on `addr` that speaks `proto` up to STARTTLS, then TLS.
pub async fn starttls(addr: SocketAddr, proto: Mail, chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(chain, key));
    each_connection(addr, move |tcp| {
        let acceptor = acceptor.clone();
        async move {
            let mut r = BufReader::new(tcp);
            let greeting: &[u8] = match proto {
                Mail::Smtp => b"220 mail.test ESMTP troop-test\r\n",
                Mail::Imap => b"* OK [CAPABILITY IMAP4rev1 STARTTLS] troop-test ready\r\n",
                Mail::Pop3 => b"+OK troop-test POP3 ready\r\n",
            };
            let _ = r.get_mut().write_all(greeting).await;
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let cmd = line.trim().to_ascii_uppercase();
                let (reply, upgrade): (&[u8], bool) = match (proto, cmd.as_str()) {
                    (Mail::Smtp, c) if c.starts_with("EHLO") => {
                        (b"250-mail.test\r\n250-SIZE 1000000\r\n250 STARTTLS\r\n", false)
                    }
                    (Mail::Smtp, "STARTTLS") => (b"220 2.0.0 Ready to start TLS\r\n", true),
                    (Mail::Smtp, _) => (b"502 5.5.2 no\r\n", false),
                    (Mail::Imap, c) if c.ends_with(" STARTTLS") => (b"a1 OK Begin TLS negotiation now\r\n", true),
                    (Mail::Imap, _) => (b"* BAD no\r\n", false),
                    (Mail::Pop3, "STLS") => (b"+OK Begin TLS negotiation\r\n", true),
                    (Mail::Pop3, _) => (b"-ERR no\r\n", false),
                };
                let _ = r.get_mut().write_all(reply).await;
                if upgrade {
                    if let Ok(mut tls) = acceptor.accept(r.into_inner()).await {
                        let _ = tls.shutdown().await;
                    }
                    return;
                }
            }
        }
    })
    .await;
}
