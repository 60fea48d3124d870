//! What to probe: `host[:port]`, or `smtp://`, `imap://`, `pop3://` for STARTTLS.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartTls {
    Smtp,
    Imap,
    Pop3,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The name to resolve.
    pub host: String,
    pub port: u16,
    pub starttls: Option<StartTls>,
    /// The name to ask for (SNI) and check the certificate against, when it
    /// is not `host`: a load balancer's DNS name serves its listener
    /// certificates' names.
    pub server_name: Option<String>,
}

impl Target {
    /// The name the certificate must be valid for.
    pub fn name(&self) -> &str {
        self.server_name.as_deref().unwrap_or(&self.host)
    }
}

/// Parse one configured endpoint (already validated by troop-config).
pub(crate) fn parse(s: &str) -> Result<Target, String> {
    let (scheme, rest) = match s.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, s),
    };
    let (starttls, default_port) = match scheme {
        None | Some("https") | Some("tls") => (None, 443),
        Some("smtp") => (Some(StartTls::Smtp), 25),
        Some("imap") => (Some(StartTls::Imap), 143),
        Some("pop3") => (Some(StartTls::Pop3), 110),
        Some(other) => return Err(format!("unsupported scheme `{other}`")),
    };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, p) = v6.split_once(']').ok_or("unclosed `[`")?;
        (h.to_string(), p.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (rest.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| format!("bad port in `{s}`"))?,
        None => default_port,
    };
    Ok(Target { host: host.trim_end_matches('.').to_string(), port, starttls, server_name: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_table() {
        let t = |h: &str, p, s| Target { host: h.into(), port: p, starttls: s, server_name: None };
        let cases = [
            ("example.com", t("example.com", 443, None)),
            ("example.com.:8443", t("example.com", 8443, None)),
            ("smtp://mail.example.com", t("mail.example.com", 25, Some(StartTls::Smtp))),
            ("smtp://mail.example.com:587", t("mail.example.com", 587, Some(StartTls::Smtp))),
            ("imap://mail.example.com", t("mail.example.com", 143, Some(StartTls::Imap))),
            ("pop3://mail.example.com", t("mail.example.com", 110, Some(StartTls::Pop3))),
            ("[::1]:4443", t("::1", 4443, None)),
            ("127.0.0.5", t("127.0.0.5", 443, None)),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s).unwrap(), want, "{s}");
        }
        assert!(parse("ftp://x").is_err());
    }
}
