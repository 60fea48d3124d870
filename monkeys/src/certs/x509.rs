//! DER → [`CertInfo`].

use sha2::{Digest, Sha256};
use troop_core::certs::CertInfo;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

pub(crate) fn parse(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => sans.push(d.to_string()),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()),
                    16 => {
                        let mut b = [0u8; 16];
                        b.copy_from_slice(ip);
                        sans.push(std::net::Ipv6Addr::from(b).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    let spki = cert.public_key();
    let key_type = match spki.algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => "RSA",
        "1.2.840.10045.2.1" => "EC",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        _ => "other",
    };
    let key_bits = match key_type {
        "Ed25519" => 256,
        "Ed448" => 456,
        _ => spki.parsed().map(|k| k.key_size() as u32).unwrap_or(0),
    };
    let sig_oid = &cert.signature_algorithm.algorithm;
    let signature_algorithm = x509_parser::objects::oid2sn(sig_oid, x509_parser::objects::oid_registry())
        .map(str::to_string)
        .unwrap_or_else(|_| sig_oid.to_id_string());
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    Ok(CertInfo {
        self_issued: subject == issuer,
        subject,
        sans,
        issuer,
        serial: cert.raw_serial_as_string().replace(':', "").to_uppercase(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        key_type: key_type.into(),
        key_bits,
        signature_algorithm,
        is_ca: cert.is_ca(),
        sha256: hex::encode(Sha256::digest(der)),
    })
}
