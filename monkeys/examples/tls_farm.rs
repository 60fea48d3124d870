//! Benchmark helper: N TLS endpoints on loopback (one certificate, N ports),
//! served until killed. Prints the first port; the ports are consecutive.
//!
//!     cargo run --release -p troop-monkeys --example tls_farm -- N CA_PEM_OUT

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u16 = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(1000);
    let ca_out = args.get(2).cloned().unwrap_or_else(|| "farm-ca.pem".into());
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "troop bench CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(&ca_out, ca.pem()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let leaf = leaf.signed_by(&key, &ca).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), ca.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap(),
    );
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    // n consecutive free ports
    let first = 'search: loop {
        let base = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if base > 65535 - n {
            continue;
        }
        let mut ls = Vec::new();
        for p in base..base + n {
            match std::net::TcpListener::bind(("127.0.0.1", p)) {
                Ok(l) => ls.push(l),
                Err(_) => continue 'search,
            }
        }
        for l in ls {
            l.set_nonblocking(true).unwrap();
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                while let Ok((tcp, _)) = l.accept().await {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        if let Ok(mut tls) = acceptor.accept(tcp).await {
                            let _ = tls.shutdown().await;
                        }
                    });
                }
            });
        }
        break base;
    };
    println!("{first}");
    std::future::pending::<()>().await;
}
