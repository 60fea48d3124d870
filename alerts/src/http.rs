//! A small HTTPS client for the HTTP sinks (hyper with rustls and the system
//! roots), and how an HTTP answer maps to a delivery outcome.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use troop_core::SinkError;

#[derive(Clone)]
pub struct Http {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// What came back.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: String,
}

impl Http {
    pub fn new(timeout: Duration) -> Result<Http, String> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("cannot load the system's trusted roots: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Http { client: Client::builder(TokioExecutor::new()).build(https), timeout })
    }

    /// POST `body`; an answer of any status is `Ok`, a failure to get one is a
    /// transient error.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Result<Answer, SinkError> {
        let mut req = http::Request::post(url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req =
            req.body(Full::new(Bytes::from(body))).map_err(|e| SinkError::Permanent(format!("bad request: {e}")))?;
        let call = async {
            let resp = self.client.request(req).await.map_err(|e| SinkError::transient(format!("{e:#}")))?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = resp.into_body().collect().await.map_err(|e| SinkError::transient(e.to_string()))?.to_bytes();
            let body = String::from_utf8_lossy(&body[..body.len().min(2048)]).to_string();
            Ok(Answer { status, retry_after, body })
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| SinkError::transient(format!("no answer within {}s", self.timeout.as_secs_f64())))?
    }
}

/// 2xx delivered; 408, 429 and 5xx worth retrying (honouring Retry-After);
/// any other status is permanent.
pub fn outcome(a: &Answer) -> Result<(), SinkError> {
    let msg = || format!("HTTP {}: {}", a.status, a.body.trim());
    match a.status {
        200..=299 => Ok(()),
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
