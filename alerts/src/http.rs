//! The HTTPS client of the HTTP sinks (reqwest with rustls, ring and the
//! system's roots; `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` honoured), and how an
//! HTTP answer — or the failure to get one, named by its cause — maps to a
//! delivery outcome.

use std::sync::Arc;
use std::time::Duration;
use troop_core::SinkError;

/// How much of an answer's body is kept (for the error message).
const BODY_PREFIX: usize = 2048;

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

/// What came back.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: String,
}

impl Http {
    /// A client trusting the system's roots, each request bounded by
    /// `timeout`; proxies from the environment.
    pub fn new(timeout: Duration) -> Result<Http, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(format!("cannot load the system's trusted roots: {:?}", native.errors));
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(timeout)
            // A redirect would replay a notification elsewhere (as a GET,
            // without its body, with the URL's token in Referer): never.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
            .map_err(|e| format!("HTTP client setup: {}", cause(&e)))?;
        Ok(Http { client })
    }

    /// POST `body`; an answer of any status is `Ok`, a failure to get one is a
    /// transient error that names its cause.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Result<Answer, SinkError> {
        let mut req = self.client.post(url).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.map_err(|e| match e.is_builder() {
            true => SinkError::Permanent(format!("bad request: {}", cause(&e))),
            false => SinkError::transient(cause(&e)),
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(crate::retry::RETRY_AFTER_CEILING));
        // At most a small prefix of the body is read: a huge answer costs nothing.
        let mut resp = resp;
        let mut body = Vec::new();
        while body.len() < BODY_PREFIX {
            match resp.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(BODY_PREFIX - body.len())]),
                Ok(None) => break,
                Err(e) => return Err(SinkError::transient(cause(&e))),
            }
        }
        let body = String::from_utf8_lossy(&body).to_string();
        Ok(Answer { status, retry_after, body })
    }
}

/// The proxy the environment names for `url` (redacted), unless `NO_PROXY`
/// exempts it: what reqwest uses, said in errors.
fn proxy_for(url: &reqwest::Url) -> Option<String> {
    troop_core::proxy::for_target(url.scheme(), url.host_str().unwrap_or_default(), url.port_or_known_default())
}

/// Why a request got no answer, in words an operator acts on: the DNS name
/// that did not resolve, the connection refused, the TLS failure, the proxy
/// that failed, the time that ran out — with the innermost error's text.
pub fn cause(e: &reqwest::Error) -> String {
    let mut chain = Vec::new();
    let mut tls = false;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        chain.push(err.to_string());
        // rustls errors travel inside io::Error
        let io_inner = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        tls |= err.is::<rustls::Error>() || io_inner.is_some_and(|i| i.is::<rustls::Error>());
        cur = err.source();
    }
    // the outermost text names the URL, which may hold a token (Slack): only
    // the host is said, and the innermost cause
    let innermost = if chain.len() > 1 { chain.last().cloned().unwrap_or_default() } else { String::new() };
    let all = chain.join(": ").to_lowercase();
    let host = e.url().and_then(|u| u.host_str().map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0))));
    let proxy = e.url().and_then(proxy_for);
    let kind = if let Some(p) = proxy.as_deref().filter(|_| e.is_connect()) {
        return format!("cannot reach the proxy {p}: {}", if innermost.is_empty() { all.clone() } else { innermost });
    } else if e.is_timeout() {
        "no answer in time"
    } else if all.contains("dns error")
        || all.contains("failed to lookup address")
        || all.contains("name or service not known")
    {
        "DNS lookup failed"
    } else if all.contains("proxy") || all.contains("tunnel") {
        "the proxy failed"
    } else if all.contains("connection refused") {
        "connection refused"
    } else if tls
        || [
            "certificate",
            "tls",
            "handshake",
            "corrupt message",
            "fatal alert",
            "peer misbehaved",
            "peer is incompatible",
        ]
        .iter()
        .any(|t| all.contains(t))
    {
        "TLS failed"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let at = host.map(|h| format!(" ({h})")).unwrap_or_default();
    if innermost.is_empty() { format!("{kind}{at}") } else { format!("{kind}{at}: {innermost}") }
}

/// 2xx delivered; 408, 429 and 5xx worth retrying (honouring Retry-After);
/// any other status is permanent, a redirect included (not followed).
pub fn outcome(a: &Answer) -> Result<(), SinkError> {
    let msg = || format!("HTTP {}: {}", a.status, a.body.trim());
    match a.status {
        200..=299 => Ok(()),
        300..=399 => Err(SinkError::Permanent(format!(
            "HTTP {}: redirects are not followed; configure the sink with the final URL",
            a.status
        ))),
        408 | 429 | 500..=599 => Err(SinkError::Transient { message: msg(), retry_after: a.retry_after }),
        _ => Err(SinkError::Permanent(msg())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        let a = |status, retry| Answer { status, retry_after: retry, body: "x".into() };
        assert!(outcome(&a(200, None)).is_ok());
        assert!(outcome(&a(202, None)).is_ok());
        for s in [408, 429, 500, 502, 503] {
            assert!(matches!(outcome(&a(s, None)), Err(SinkError::Transient { .. })), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 301] {
            assert!(matches!(outcome(&a(s, None)), Err(SinkError::Permanent(_))), "{s}");
        }
        match outcome(&a(429, Some(Duration::from_secs(7)))) {
            Err(SinkError::Transient { retry_after, .. }) => assert_eq!(retry_after, Some(Duration::from_secs(7))),
            _ => panic!("429 is transient"),
        }
    }
}
