//! Who may do what on the HTTP surface (`[agent.http]`): the scopes, which
//! one a request needs, and the decision. Pure: the server crate reads the
//! credential off the request (basic auth, RFC 7617; bearer token, RFC 6750),
//! checks it, and asks [`decide`].
//!
//! The rules (SPEC "HTTP"):
//! - `/healthz` needs nothing;
//! - every other `GET` (the API, `/metrics`, the web UI) needs `read`;
//! - `POST /api/v2/alerts` needs `alerts:write`, `POST /api/v1/events`
//!   `events:write`, `POST /api/v2/silences` and `DELETE /api/v2/silence/{id}`
//!   `silences:write`, as do the page's silence forms (`POST /silences`,
//!   `POST /silences/{id}/end`);
//! - a request without a credential may read only when anonymous reads are
//!   open ([`anonymous_reads`]); a write always needs a credential;
//! - a credential that does not check out is 401, a good one without the
//!   scope 403.

use std::fmt;

/// A permission a credential carries (`[[agent.http.tokens]] scopes`,
/// `[agent.http.user_scopes]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Every `GET`: the API, `/metrics`, the web UI.
    Read,
    /// `POST /api/v2/alerts`.
    AlertsWrite,
    /// `POST /api/v1/events`.
    EventsWrite,
    /// `POST /api/v2/silences`, `DELETE /api/v2/silence/{id}`, and the
    /// page's `POST /silences`, `POST /silences/{id}/end`.
    SilencesWrite,
}

/// Every scope's name, the one list (config checks names against it).
pub const SCOPES: &[&str] = &["read", "alerts:write", "events:write", "silences:write"];

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::AlertsWrite, Scope::EventsWrite, Scope::SilencesWrite];

    /// The scope's name as configured (`read`, `alerts:write`, ...).
    pub fn as_str(self) -> &'static str {
        SCOPES[self as usize]
    }

    /// The scope named `s`, or `None` (the caller lists [`SCOPES`]).
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scope a request needs, from its method and path; `None` for
/// `/healthz` (always open, for load balancers and probes). A method the
/// surface does not serve for writing needs `read`, so the router answers
/// 405 only to whoever may read.
pub fn required_scope(method: &str, path: &str) -> Option<Scope> {
    if path == "/healthz" {
        return None;
    }
    Some(match (method, path) {
        ("POST", "/api/v2/alerts") => Scope::AlertsWrite,
        ("POST", "/api/v1/events") => Scope::EventsWrite,
        ("POST", "/api/v2/silences") => Scope::SilencesWrite,
        ("DELETE", p) if p.starts_with("/api/v2/silence/") => Scope::SilencesWrite,
        ("POST", "/silences") => Scope::SilencesWrite,
        ("POST", p) if p.starts_with("/silences/") => Scope::SilencesWrite,
        _ => Scope::Read,
    })
}

/// Whether a request with no credential may read: when
/// `allow_anonymous_reads` is set, or when no credential is configured at
/// all and the listener is on loopback (a non-loopback listener without any
/// is refused at start, see the config crate). With a client CA that every
/// connection must pass (mTLS), the TLS handshake has already authenticated
/// the client: reads are open to it.
pub fn anonymous_reads(allow_anonymous_reads: bool, credentials_configured: bool, mtls_required: bool) -> bool {
    allow_anonymous_reads || !credentials_configured || mtls_required
}

/// Why the HTTP surface refused a request: the `reason` label of
/// `troop_http_requests_rejected_total`, the one list.
/// `bad_request` 400, `unauthorized` 401, `forbidden` 403,
/// `payload_too_large` 413, `rate_limited` 429, `tls_handshake` a
/// connection whose TLS handshake failed (no client certificate, a wrong CA,
/// plain HTTP to the TLS port).
pub const REJECTIONS: &[&str] =
    &["bad_request", "unauthorized", "forbidden", "payload_too_large", "rate_limited", "tls_handshake"];

/// The [`REJECTIONS`] reason of an HTTP status, if it is one.
pub fn rejection_of(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        413 => "payload_too_large",
        429 => "rate_limited",
        _ => return None,
    })
}

/// What the request presented, after the server checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented<'a> {
    /// No `Authorization` header.
    Nothing,
    /// A credential that checked out: who (a user or token name) and its scopes.
    Valid { who: &'a str, scopes: &'a [Scope] },
    /// A header that is malformed, an unknown user or token, or a wrong
    /// password.
    Invalid,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// 401: authenticate (again). The message says what is missing.
    Unauthorized(String),
    /// 403: authenticated, but the credential lacks the scope.
    Forbidden(String),
}

/// Whether a request that needs `needed` (see [`required_scope`]) goes on,
/// given what it presented and whether anonymous reads are open. Writes are
/// never anonymous: with no credential configured for a scope, nobody holds
/// it and every write is 401.
pub fn decide(needed: Option<Scope>, presented: &Presented, anonymous_reads: bool) -> Decision {
    let Some(needed) = needed else { return Decision::Allow };
    match presented {
        Presented::Invalid => Decision::Unauthorized("the credential was not accepted".into()),
        Presented::Valid { scopes, .. } if scopes.contains(&needed) => Decision::Allow,
        Presented::Valid { who, .. } => Decision::Forbidden(format!("`{who}` does not have the `{needed}` scope")),
        Presented::Nothing if needed == Scope::Read && anonymous_reads => Decision::Allow,
        Presented::Nothing => Decision::Unauthorized(format!(
            "a credential with the `{needed}` scope is required (basic auth or a bearer token, see [agent.http])"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_round_trip_and_are_the_one_list() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::ALL.map(Scope::as_str).to_vec(), SCOPES.to_vec());
        assert_eq!(Scope::parse("write"), None);
    }

    #[test]
    fn each_path_needs_its_scope() {
        use Scope::*;
        // (method, path, needed)
        let cases = [
            ("GET", "/healthz", None),
            ("GET", "/metrics", Some(Read)),
            ("GET", "/", Some(Read)),
            ("GET", "/api/v1/findings", Some(Read)),
            ("GET", "/api/v2/alerts", Some(Read)),
            ("GET", "/api/v2/silences", Some(Read)),
            ("POST", "/api/v2/alerts", Some(AlertsWrite)),
            ("POST", "/api/v1/events", Some(EventsWrite)),
            ("POST", "/api/v2/silences", Some(SilencesWrite)),
            ("DELETE", "/api/v2/silence/0b8ad3c2", Some(SilencesWrite)),
            ("GET", "/silences", Some(Read)),
            ("POST", "/silences", Some(SilencesWrite)),
            ("POST", "/silences/0b8ad3c2/end", Some(SilencesWrite)),
            ("POST", "/api/v1/findings", Some(Read)),
            ("HEAD", "/healthz", None),
        ];
        for (method, path, want) in cases {
            assert_eq!(required_scope(method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn anonymous_reads_are_open_only_when_nothing_guards_them_or_it_is_asked() {
        // (allow_anonymous_reads, credentials configured, mTLS required, open)
        for (allow, creds, mtls, want) in [
            (false, false, false, true),
            (false, true, false, false),
            (true, true, false, true),
            (false, true, true, true),
            (true, false, false, true),
        ] {
            assert_eq!(anonymous_reads(allow, creds, mtls), want, "{allow} {creds} {mtls}");
        }
    }

    #[test]
    fn decisions() {
        use Scope::*;
        const READER: &[Scope] = &[Read];
        const POSTER: &[Scope] = &[Read, AlertsWrite];
        const WRITER_ONLY: &[Scope] = &[EventsWrite];
        let r = |s: &'static [Scope]| Presented::Valid { who: "ci", scopes: s };
        // (needed, presented, anonymous reads, decision as a word)
        let cases = [
            (None, Presented::Nothing, false, "allow"),
            (None, Presented::Invalid, false, "allow"),
            (Some(Read), Presented::Nothing, true, "allow"),
            (Some(Read), Presented::Nothing, false, "401"),
            (Some(Read), Presented::Invalid, true, "401"),
            (Some(Read), r(READER), false, "allow"),
            (Some(Read), r(WRITER_ONLY), true, "403"),
            (Some(AlertsWrite), Presented::Nothing, true, "401"),
            (Some(AlertsWrite), r(READER), true, "403"),
            (Some(AlertsWrite), r(POSTER), false, "allow"),
            (Some(SilencesWrite), r(POSTER), false, "403"),
            (Some(EventsWrite), r(WRITER_ONLY), false, "allow"),
        ];
        for (needed, presented, anon, want) in cases {
            let got = match decide(needed, &presented, anon) {
                Decision::Allow => "allow",
                Decision::Unauthorized(_) => "401",
                Decision::Forbidden(_) => "403",
            };
            assert_eq!(got, want, "{needed:?} {presented:?} anonymous reads {anon}");
        }
        let Decision::Forbidden(m) = decide(Some(SilencesWrite), &r(POSTER), false) else { panic!() };
        assert_eq!(m, "`ci` does not have the `silences:write` scope");
    }
}
