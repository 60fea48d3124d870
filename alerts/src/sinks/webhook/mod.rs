//! `type = "webhook"`: POST the versioned JSON payload (`notification_json`)
//! to a URL. With `secret`, an HMAC-SHA256 of the body in
//! `X-Troop-Signature: sha256=<hex>` lets the receiver check it came from troop.

use crate::http::{Http, outcome};
use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use troop_core::alerting::Notification;
use troop_core::{Sink, SinkError};

pub struct WebhookSink {
    name: String,
    url: String,
    key: Option<Vec<u8>>,
    http: Http,
}

impl WebhookSink {
    pub fn build(name: &str, url: String, key: Option<String>, http: Http) -> Self {
        WebhookSink { name: name.to_string(), url, key: key.map(String::into_bytes), http }
    }
}

/// HMAC-SHA256 (RFC 2104) of `msg` under `key`, through the `hmac` crate.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

#[async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        let body = serde_json::to_vec(&crate::notification_json(n)).map_err(|e| SinkError::Permanent(e.to_string()))?;
        let mut headers = vec![
            ("content-type", "application/json".to_string()),
            ("user-agent", concat!("troop/", env!("CARGO_PKG_VERSION")).to_string()),
            ("x-troop-notification", n.id.clone()),
        ];
        if let Some(key) = &self.key {
            headers.push(("x-troop-signature", format!("sha256={}", hex::encode(hmac_sha256(key, &body)))));
        }
        outcome(&self.http.post(&self.url, &headers, body).await?)
    }
}

#[cfg(test)]
mod tests;
