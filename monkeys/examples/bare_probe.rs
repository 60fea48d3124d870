//! Benchmark ceiling: a bare rustls handshake loop over ports FIRST..FIRST+N on
//! 127.0.0.1 at a given concurrency, doing nothing else (no parsing, no
//! verification verdicts, no storage). Prints the wall time.
//!
//!     cargo run --release -p troop-monkeys --example bare_probe -- FIRST N CONCURRENCY

use futures::StreamExt;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug)]
struct AcceptAll(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAll {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<u32> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (first, n, conc) = (args[0] as u16, args[1] as u16, args[2] as usize);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAll(provider)))
            .with_no_client_auth(),
    );
    let t = Instant::now();
    let ok: usize = futures::stream::iter(first..first + n)
        .map(|p| {
            let config = config.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(("127.0.0.1", p)).await.ok()?;
                let name = ServerName::try_from("127.0.0.1").unwrap();
                tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.ok().map(|_| 1)
            }
        })
        .buffer_unordered(conc)
        .filter_map(|x| async move { x })
        .count()
        .await;
    println!("{{\"handshakes\":{ok},\"seconds\":{:.3}}}", t.elapsed().as_secs_f64());
}
