//! One TLS look at one address: connect, STARTTLS when asked, handshake with
//! a verifier that records the presented chain and accepts it, so expired or
//! mismatched certificates are still measured. Bounded in time and size.

use super::targets::StartTls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Records the chain; verification verdicts are troop's own (see trust.rs).
#[derive(Debug)]
struct Recorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut c = self.chain.lock().unwrap_or_else(|e| e.into_inner());
        c.push(end_entity.clone().into_owned());
        c.extend(intermediates.iter().map(|i| i.clone().into_owned()));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

pub(crate) struct Probe {
    /// Leaf first, as presented.
    pub chain: Vec<CertificateDer<'static>>,
    pub error: Option<String>,
}

/// Longest line read while negotiating STARTTLS, and most lines.
const MAX_LINE: usize = 4096;
const MAX_LINES: usize = 64;

async fn expect(r: &mut BufReader<TcpStream>, ok: impl Fn(&str) -> bool, what: &str) -> Result<(), String> {
    let mut line = String::new();
    for _ in 0..MAX_LINES {
        line.clear();
        let n = (&mut *r).take(MAX_LINE as u64).read_line(&mut line).await.map_err(|e| format!("{what}: {e}"))?;
        if n == 0 {
            return Err(format!("{what}: connection closed"));
        }
        if ok(&line) {
            return Ok(());
        }
        // SMTP multi-line replies continue with "250-"; anything else is a refusal.
        if !(line.len() > 3 && line.as_bytes()[3] == b'-') {
            return Err(format!("{what}: server said {}", line.trim_end()));
        }
    }
    Err(format!("{what}: too many lines"))
}

async fn starttls(stream: TcpStream, proto: StartTls) -> Result<TcpStream, String> {
    let mut r = BufReader::new(stream);
    match proto {
        StartTls::Smtp => {
            expect(&mut r, |l| l.starts_with("220 "), "SMTP greeting").await?;
            r.get_mut().write_all(b"EHLO troop\r\n").await.map_err(|e| e.to_string())?;
            expect(&mut r, |l| l.starts_with("250 "), "SMTP EHLO").await?;
            r.get_mut().write_all(b"STARTTLS\r\n").await.map_err(|e| e.to_string())?;
            expect(&mut r, |l| l.starts_with("220"), "SMTP STARTTLS").await?;
        }
        StartTls::Imap => {
            expect(&mut r, |l| l.starts_with("* OK"), "IMAP greeting").await?;
            r.get_mut().write_all(b"a1 STARTTLS\r\n").await.map_err(|e| e.to_string())?;
            expect(&mut r, |l| l.starts_with("a1 OK"), "IMAP STARTTLS").await?;
        }
        StartTls::Pop3 => {
            expect(&mut r, |l| l.starts_with("+OK"), "POP3 greeting").await?;
            r.get_mut().write_all(b"STLS\r\n").await.map_err(|e| e.to_string())?;
            expect(&mut r, |l| l.starts_with("+OK"), "POP3 STLS").await?;
        }
    }
    if !r.buffer().is_empty() {
        return Err("server spoke before the TLS handshake".into());
    }
    Ok(r.into_inner())
}

pub(crate) async fn probe(
    addr: SocketAddr,
    host: &str,
    starttls_proto: Option<StartTls>,
    timeout: Duration,
    provider: &Arc<CryptoProvider>,
) -> Probe {
    let recorder = Arc::new(Recorder { chain: Mutex::new(Vec::new()), provider: provider.clone() });
    let attempt = async {
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        let name = ServerName::try_from(host.to_string()).map_err(|e| format!("bad server name {host}: {e}"))?;
        let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let tcp = match starttls_proto {
            Some(p) => starttls(tcp, p).await?,
            None => tcp,
        };
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        let _ = tls.shutdown().await;
        Ok::<(), String>(())
    };
    let error = match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(format!("no answer within {}", humantime_secs(timeout))),
    };
    let chain = std::mem::take(&mut *recorder.chain.lock().unwrap_or_else(|e| e.into_inner()));
    Probe { chain, error }
}

fn humantime_secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
