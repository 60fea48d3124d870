//! The guard in front of every route: per-client rate limit, body limit,
//! authentication (basic auth, RFC 7617; bearer tokens, RFC 6750) and the
//! scope decision of [`troop_core::api_access`], and the count of every
//! refusal on `/metrics` (`troop_http_requests_rejected_total`).
//!
//! Order, cheapest refusal first: `/healthz` passes untouched; a client over
//! its rate gets 429 before any password is checked (bcrypt costs tens of
//! milliseconds of CPU per attempt); a declared body over the limit gets 413
//! before it is read; then the credential; then the scope.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use troop_config::{HttpAccess, HttpLimits, Scope};
use troop_core::api_access::{Decision, Presented, anonymous_reads, decide, rejection_of, required_scope};
use troop_core::metrics::Metrics;

/// The peer of a connection, put on each request by the listener.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Why the guard could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("[[agent.http.tokens]] `{name}`: {source}")]
    Token { name: String, source: troop_config::SecretError },
    #[error("[[agent.http.tokens]] `{0}`: the token is empty")]
    EmptyToken(String),
}

type Limiter = RateLimiter<
    IpAddr,
    governor::state::keyed::DefaultKeyedStateStore<IpAddr>,
    DefaultClock,
    governor::middleware::NoOpMiddleware<<DefaultClock as Clock>::Instant>,
>;

/// A basic-auth user: its bcrypt hash and scopes.
struct User {
    hash: String,
    scopes: Vec<Scope>,
}

/// A bearer token, kept as its SHA-256 digest: the comparison never runs on
/// the secret itself, so its timing says nothing about it.
struct Token {
    name: String,
    digest: [u8; 32],
    scopes: Vec<Scope>,
}

/// Most remembered good passwords (digests); past it the memory is cleared.
const VERIFIED_CAP: usize = 1024;

/// What every request is checked against. Built once per start (or reload)
/// from `[agent.http]`; token secrets are resolved here.
pub struct Guard {
    users: BTreeMap<String, User>,
    tokens: Vec<Token>,
    anonymous_reads: bool,
    max_body_bytes: usize,
    limiter: Limiter,
    /// Digests of (user, hash, password) that bcrypt accepted: bcrypt is
    /// slow on purpose, and Prometheus sends the same password with every
    /// request (exporter-toolkit keeps the same cache).
    verified: Mutex<HashSet<[u8; 32]>>,
    metrics: Arc<Metrics>,
}

impl Guard {
    /// The guard of `access` within `limits`. Errors: a token secret that
    /// cannot be resolved, or is empty.
    pub fn new(access: &HttpAccess, limits: &HttpLimits, metrics: Arc<Metrics>) -> Result<Guard, GuardError> {
        let mut tokens = Vec::new();
        for t in &access.tokens {
            let value = t.token.resolve().map_err(|source| GuardError::Token { name: t.name.clone(), source })?;
            if value.is_empty() {
                return Err(GuardError::EmptyToken(t.name.clone()));
            }
            tokens.push(Token {
                name: t.name.clone(),
                digest: Sha256::digest(value.as_bytes()).into(),
                scopes: t.scopes.clone(),
            });
        }
        let users = access
            .basic_auth_users
            .iter()
            .map(|(name, hash)| (name.clone(), User { hash: hash.clone(), scopes: access.user_scopes(name) }))
            .collect();
        let period = Duration::from_secs_f64(1.0 / limits.rate_limit).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(limits.rate_burst.max(1)).expect("at least 1");
        let quota = Quota::with_period(period).expect("a positive period").allow_burst(burst);
        Ok(Guard {
            users,
            tokens,
            anonymous_reads: anonymous_reads(
                access.allow_anonymous_reads,
                access.credentials_configured(),
                access.mtls_required(),
            ),
            max_body_bytes: limits.max_body_bytes,
            limiter: RateLimiter::dashmap(quota),
            verified: Mutex::new(HashSet::new()),
            metrics,
        })
    }

    /// The longest request body accepted, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// How long `client` must wait, when it is over its rate now.
    fn over_rate(&self, client: IpAddr) -> Option<Duration> {
        if self.limiter.len() > 10_000 {
            // forget clients whose bucket is full again: memory stays bounded
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&client).err().map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Check the `Authorization` header: who it is and its scopes, nothing,
    /// or a credential that does not check out.
    pub async fn presented(self: &Arc<Self>, headers: &HeaderMap) -> Checked {
        let Some(value) = headers.get(header::AUTHORIZATION) else { return Checked::Nothing };
        let Some((scheme, rest)) = value.to_str().ok().and_then(|v| v.trim().split_once(' ')) else {
            return Checked::Invalid;
        };
        let rest = rest.trim();
        // auth schemes are case-insensitive (RFC 9110 §11.1)
        if scheme.eq_ignore_ascii_case("bearer") {
            let digest: [u8; 32] = Sha256::digest(rest.as_bytes()).into();
            return match self.tokens.iter().find(|t| t.digest == digest) {
                Some(t) => Checked::Valid { who: t.name.clone(), scopes: t.scopes.clone() },
                None => Checked::Invalid,
            };
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return Checked::Invalid;
        }
        let Some((user, password)) = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())))
        else {
            return Checked::Invalid;
        };
        let Some(u) = self.users.get(&user) else {
            // the same work as for a known user: timing does not tell which names exist
            let _ = tokio::task::spawn_blocking(move || bcrypt::verify(password, UNKNOWN_USER_HASH)).await;
            return Checked::Invalid;
        };
        let key: [u8; 32] = {
            let mut h = Sha256::new();
            for part in [user.as_bytes(), u.hash.as_bytes(), password.as_bytes()] {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part);
            }
            h.finalize().into()
        };
        let known = self.verified.lock().unwrap_or_else(|e| e.into_inner()).contains(&key);
        let ok = known || {
            let hash = u.hash.clone();
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false)).await.unwrap_or(false)
        };
        if !ok {
            return Checked::Invalid;
        }
        if !known {
            let mut v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if v.len() >= VERIFIED_CAP {
                v.clear();
            }
            v.insert(key);
        }
        Checked::Valid { who: user, scopes: u.scopes.clone() }
    }
}

/// A bcrypt hash no password matches in practice, checked for unknown user
/// names (cost 10, as `htpasswd -B` writes).
const UNKNOWN_USER_HASH: &str = "$2y$10$YsvkvdDT6heeRixqWJWBb.IQBZuQqu4/BbULwdj1fhSew9Q0rmObK";

/// Who a request was admitted for (a request extension): the credential's
/// name (the basic-auth user or the token's `name`) and its scopes. Absent
/// on an anonymous read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub who: String,
    pub scopes: Vec<Scope>,
}

/// An owned [`Presented`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    Nothing,
    Valid { who: String, scopes: Vec<Scope> },
    Invalid,
}

impl Checked {
    fn as_presented(&self) -> Presented<'_> {
        match self {
            Checked::Nothing => Presented::Nothing,
            Checked::Valid { who, scopes } => Presented::Valid { who, scopes },
            Checked::Invalid => Presented::Invalid,
        }
    }
}

/// The middleware: refuse what the guard refuses, count every refusal
/// (the handlers' 400s and 413s included).
pub async fn guard(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let response = admit(&g, req, next).await;
    if let Some(reason) = rejection_of(response.status().as_u16()) {
        g.metrics.record_http_rejection(reason);
    }
    response
}

async fn admit(g: &Arc<Guard>, req: Request, next: Next) -> Response {
    let needed = required_scope(req.method().as_str(), req.uri().path());
    if needed.is_none() {
        return next.run(req).await;
    }
    if let Some(Peer(peer)) = req.extensions().get::<Peer>().copied()
        && let Some(wait) = g.over_rate(peer.ip())
    {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, HeaderValue::from(secs))],
            format!("too many requests from {}: retry in {secs}s\n", peer.ip()),
        )
            .into_response();
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > g.max_body_bytes as u64) {
        return too_large(g.max_body_bytes);
    }
    let checked = g.presented(req.headers()).await;
    match decide(needed, &checked.as_presented(), g.anonymous_reads) {
        Decision::Allow => {
            let mut req = req;
            if let Checked::Valid { who, scopes } = checked {
                req.extensions_mut().insert(Caller { who, scopes });
            }
            next.run(req).await
        }
        Decision::Unauthorized(why) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"troop\", Bearer realm=\"troop\""))],
            format!("{why}\n"),
        )
            .into_response(),
        Decision::Forbidden(why) => (StatusCode::FORBIDDEN, format!("{why}\n")).into_response(),
    }
}

/// 413 with the limit, for a body declared or found too long.
pub fn too_large(limit: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than {limit} bytes ([agent.http] max_body_bytes)\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use troop_config::{HttpToken, Secret};

    fn guard() -> Arc<Guard> {
        let mut access = HttpAccess::default();
        let hash = bcrypt::hash_with_result("s3cret", 4).unwrap().format_for_version(bcrypt::Version::TwoY);
        access.basic_auth_users.insert("prometheus".into(), hash);
        access.user_scopes.insert("prometheus".into(), vec![Scope::Read, Scope::AlertsWrite]);
        access.tokens.push(HttpToken {
            name: "ci".into(),
            token: Secret::Literal("tok-123".into()),
            scopes: vec![Scope::EventsWrite],
        });
        Arc::new(Guard::new(&access, &HttpLimits::default(), Arc::new(Metrics::default())).unwrap())
    }

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    #[tokio::test]
    async fn credentials_are_checked_as_the_rfcs_say() {
        let g = guard();
        let valid = |who: &str, scopes: Vec<Scope>| Checked::Valid { who: who.into(), scopes };
        // (Authorization header, what it presents)
        let cases = [
            (basic("prometheus", "s3cret"), valid("prometheus", vec![Scope::Read, Scope::AlertsWrite])),
            (basic("prometheus", "s3cret"), valid("prometheus", vec![Scope::Read, Scope::AlertsWrite])),
            (basic("prometheus", "wrong"), Checked::Invalid),
            (basic("nobody", "s3cret"), Checked::Invalid),
            ("Bearer tok-123".into(), valid("ci", vec![Scope::EventsWrite])),
            ("bearer   tok-123".into(), valid("ci", vec![Scope::EventsWrite])),
            (
                "BASIC ".to_string() + &basic("prometheus", "s3cret")[6..],
                valid("prometheus", vec![Scope::Read, Scope::AlertsWrite]),
            ),
            ("Bearer tok-1234".into(), Checked::Invalid),
            ("Basic !!notbase64".into(), Checked::Invalid),
            (format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("no-colon")), Checked::Invalid),
            ("Digest username=x".into(), Checked::Invalid),
            ("tok-123".into(), Checked::Invalid),
        ];
        for (auth, want) in cases {
            assert_eq!(g.presented(&headers(&auth)).await, want, "{auth}");
        }
        assert_eq!(g.presented(&HeaderMap::new()).await, Checked::Nothing);
        // the second good password came from memory, the wrong one was not remembered
        assert_eq!(g.verified.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_unknown_user_hash_is_a_well_formed_bcrypt_hash() {
        assert!(bcrypt::verify("anything", UNKNOWN_USER_HASH).is_ok_and(|ok| !ok));
    }

    #[test]
    fn a_client_over_its_rate_waits_and_another_does_not() {
        let limits = HttpLimits { rate_limit: 2.0, rate_burst: 3, ..HttpLimits::default() };
        let g = Guard::new(&HttpAccess::default(), &limits, Arc::new(Metrics::default())).unwrap();
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(g.over_rate(a), None);
        }
        let wait = g.over_rate(a).expect("the fourth at once is over the burst");
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert_eq!(g.over_rate(b), None);
    }
}
