//! The web UI: server-rendered pages a security team reviews in, every link
//! shareable, no script. `/` (overview), `/findings`, `/items/{item}`,
//! `/changes`, `/certs`, `/limits`, `/silences` (and its forms,
//! `POST /silences`, `POST /silences/{id}/end`), `/static/troop.css`.
//!
//! Invariants:
//! - The pages read through the same views as the CLI and the JSON API
//!   (`findings_view` and [`FindingQuery`], `history::diff_view`,
//!   `certs::rows_as_of`, `limits::rows`, `status::rows`): a row is built
//!   once, here only arranged.
//! - Templates (`server/templates/`) and the stylesheet are compiled into
//!   the binary. Every value is escaped by minijinja (HTML auto-escaping by
//!   the `.html` name) after control characters are replaced
//!   ([`troop_core::clean_controls_keeping_lines`]): a resource's name is text, never
//!   markup or a terminal sequence.
//! - Every page carries a Content-Security-Policy with no script source at
//!   all, and no inline style.
//! - A form that writes needs the `silences:write` scope (the HTTP guard,
//!   `api_access::required_scope`), a token bound to the credential's name
//!   (HMAC-SHA256 under a key drawn at start, [`Ui::csrf_token`]), and no
//!   cross-site `Origin` or `Sec-Fetch-Site`: another site cannot post
//!   through a reviewer's browser.

mod views;

use crate::access::Caller;
use crate::{ApiError, AppState};
use axum::Router;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{KeyInit, Mac};
use std::collections::BTreeMap;
use std::sync::RwLock;

/// The Content-Security-Policy of every page: nothing runs, styles only
/// from troop's stylesheet, forms post only to troop.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/layout.html")),
    ("overview.html", include_str!("../../templates/overview.html")),
    ("findings.html", include_str!("../../templates/findings.html")),
    ("item.html", include_str!("../../templates/item.html")),
    ("changes.html", include_str!("../../templates/changes.html")),
    ("certs.html", include_str!("../../templates/certs.html")),
    ("limits.html", include_str!("../../templates/limits.html")),
    ("silences.html", include_str!("../../templates/silences.html")),
    ("error.html", include_str!("../../templates/error.html")),
];

const STYLESHEET: &str = include_str!("../../static/troop.css");

/// The pages' shared parts: templates, the form-token key, and how often
/// each monkey runs (a last pass older than twice that is stale).
pub struct Ui {
    env: minijinja::Environment<'static>,
    csrf_key: [u8; 32],
    intervals: RwLock<BTreeMap<String, i64>>,
}

impl Default for Ui {
    fn default() -> Self {
        Self::new()
    }
}

impl Ui {
    /// Parse the templates (part of troop: a test renders every page) and
    /// draw the form-token key.
    pub fn new() -> Ui {
        let mut env = minijinja::Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap_or_else(|e| panic!("template {name} does not parse: {e}"));
        }
        env.add_filter("urlencode_path", |s: String| troop_core::finding_query::encode(&s));
        // control characters (terminal escapes) become U+FFFD before the
        // HTML escaping every value gets; line breaks and tabs are text
        env.set_formatter(troop_core::template_formatter);
        // without a secure random source the key stays all zero, and
        // csrf_token refuses forms rather than use a guessable key
        let mut csrf_key = [0u8; 32];
        if rustls::crypto::ring::default_provider().secure_random.fill(&mut csrf_key).is_err() {
            csrf_key = [0; 32];
        }
        Ui { env, csrf_key, intervals: RwLock::new(BTreeMap::new()) }
    }

    /// Each running monkey's interval (seconds), replaced on a reload.
    pub fn set_intervals(&self, intervals: impl IntoIterator<Item = (String, i64)>) {
        *self.intervals.write().unwrap_or_else(|e| e.into_inner()) = intervals.into_iter().collect();
    }

    fn intervals(&self) -> BTreeMap<String, i64> {
        self.intervals.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The form token of `who`: hex HMAC-SHA256 of the name under this
    /// process's key. `None` when no key could be drawn (forms refused).
    pub fn csrf_token(&self, who: &str) -> Option<String> {
        if self.csrf_key == [0; 32] {
            return None;
        }
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.csrf_key).ok()?;
        mac.update(b"troop-form\0");
        mac.update(who.as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    /// Whether `token` is `who`'s form token (compared in constant time).
    fn csrf_ok(&self, who: &str, token: &str) -> bool {
        let Some(want) = self.csrf_token(who) else { return false };
        want.len() == token.len() && want.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// Render `page` with `ctx` inside the layout.
    fn render(&self, page: &str, title: &str, caller: Option<&Caller>, ctx: minijinja::Value) -> Response {
        let body = self.env.get_template(page).and_then(|t| t.render(&ctx));
        let body = match body {
            Ok(b) => b,
            Err(e) => return self.error(StatusCode::INTERNAL_SERVER_ERROR, &format!("rendering {page}: {e}")),
        };
        let page = self.env.get_template("layout.html").and_then(|t| {
            t.render(minijinja::context! {
                title => title,
                who => caller.map(|c| c.who.clone()),
                nav => page.trim_end_matches(".html"),
                content => minijinja::Value::from_safe_string(body),
            })
        });
        match page {
            Ok(html) => html_response(StatusCode::OK, html),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("rendering the layout: {e}\n")).into_response(),
        }
    }

    /// A page saying what went wrong, with its status.
    fn error(&self, status: StatusCode, message: &str) -> Response {
        let html = self
            .env
            .get_template("error.html")
            .and_then(|t| t.render(minijinja::context! { status => status.as_u16(), message => message }))
            .unwrap_or_else(|_| String::from("error"));
        html_response(status, html)
    }
}

/// An HTML response with the page headers: CSP, no sniffing, no referrer
/// leaving troop, never cached (pages show live state).
fn html_response(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The UI's routes (on the API's router, behind the same guard).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/findings", get(findings))
        .route("/items/{item}", get(item))
        .route("/changes", get(changes))
        .route("/certs", get(certs))
        .route("/limits", get(limits))
        .route("/silences", get(silences).post(add_silence))
        .route("/silences/{id}/end", post(end_silence))
        .route("/static/troop.css", get(stylesheet))
        .route("/login", get(login))
}

/// `/login`: where an anonymous reader (with `allow_anonymous_reads`)
/// signs in: without a credential the browser is asked for one (401 with a
/// basic-auth challenge); with one, back to the overview.
async fn login(c: MaybeCaller) -> Response {
    if caller(c).is_some() {
        return see_other("/");
    }
    let mut r = html_response(
        StatusCode::UNAUTHORIZED,
        "<!doctype html><title>sign in · troop</title><p>Sign in with a troop user ([agent.http]).</p><p><a href=\"/\">Overview</a></p>"
            .into(),
    );
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"troop\""));
    r
}

/// An unknown path: a page saying so (404), with the page headers.
pub async fn not_found(State(s): State<AppState>, uri: axum::http::Uri) -> Response {
    s.ui.error(StatusCode::NOT_FOUND, &format!("nothing at {}", uri.path()))
}

/// Headers every response of the HTTP surface carries, pages or not (an
/// error from the guard or a JSON answer included): no content sniffing, and
/// a Content-Security-Policy that lets nothing run where a page did not set
/// its own.
pub async fn surface_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    if !h.contains_key(header::X_CONTENT_TYPE_OPTIONS) {
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    }
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    r
}

/// The stylesheet (`nosniff` comes with every answer: [`surface_headers`]).
async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLESHEET).into_response()
}

/// A page's data is built on a blocking thread (store calls); its errors
/// become an error page.
async fn page(
    s: &AppState,
    caller: Option<Caller>,
    name: &'static str,
    title: &'static str,
    build: impl FnOnce(&dyn troop_core::store::Backend) -> Result<minijinja::Value, ApiError> + Send + 'static,
) -> Response {
    match crate::call(s, build).await {
        Ok(ctx) => s.ui.render(name, title, caller.as_ref(), ctx),
        Err(ApiError(status, message)) => s.ui.error(status, &message),
    }
}

type MaybeCaller = Option<axum::Extension<Caller>>;

fn caller(c: MaybeCaller) -> Option<Caller> {
    c.map(|axum::Extension(c)| c)
}

async fn overview(State(s): State<AppState>, c: MaybeCaller) -> Response {
    let intervals = s.ui.intervals();
    page(&s, caller(c), "overview.html", "Overview", move |st| views::overview(st, &intervals)).await
}

async fn findings(State(s): State<AppState>, c: MaybeCaller, Query(q): Query<Vec<(String, String)>>) -> Response {
    let source = s.posted.read().unwrap_or_else(|e| e.into_inner()).source.clone();
    page(&s, caller(c), "findings.html", "Findings", move |st| views::findings(st, &q, &source)).await
}

async fn item(
    State(s): State<AppState>,
    c: MaybeCaller,
    item: Result<Path<String>, PathRejection>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let Ok(Path(item)) = item else {
        return s.ui.error(StatusCode::BAD_REQUEST, "the item id is not valid UTF-8 once URL-decoded");
    };
    page(&s, caller(c), "item.html", "Item", move |st| views::item(st, &item, &q)).await
}

async fn changes(State(s): State<AppState>, c: MaybeCaller, Query(q): Query<Vec<(String, String)>>) -> Response {
    page(&s, caller(c), "changes.html", "Changes", move |st| views::changes(st, &q)).await
}

async fn certs(State(s): State<AppState>, c: MaybeCaller) -> Response {
    page(&s, caller(c), "certs.html", "Certificates", views::certs).await
}

async fn limits(State(s): State<AppState>, c: MaybeCaller) -> Response {
    page(&s, caller(c), "limits.html", "Limits", views::limits).await
}

async fn silences(State(s): State<AppState>, c: MaybeCaller, Query(q): Query<Vec<(String, String)>>) -> Response {
    let c = caller(c);
    // the form is offered to whoever may write; its token is bound to them
    let writer = c
        .as_ref()
        .filter(|c| c.scopes.contains(&troop_core::api_access::Scope::SilencesWrite))
        .and_then(|c| s.ui.csrf_token(&c.who).map(|t| (c.who.clone(), t)));
    page(&s, c, "silences.html", "Silences", move |st| views::silences(st, &q, writer)).await
}

/// A posted form's fields, in order.
type FormFields = Vec<(String, String)>;

/// A form post admitted: the caller and the form's fields. Refused (the
/// status and why, for an error page) without a caller, from another site or origin (a browser
/// names the origin of a post; "null", an opaque origin, or one that is not
/// this host is another site), or without the caller's token; a body that
/// is not a form has no token either.
fn admit_form(
    s: &AppState,
    c: MaybeCaller,
    headers: &HeaderMap,
    form: Result<axum::Form<FormFields>, FormRejection>,
    what: &str,
) -> Result<(Caller, FormFields), (StatusCode, String)> {
    let Some(c) = caller(c) else {
        return Err((StatusCode::UNAUTHORIZED, format!("{what} needs a credential with the silences:write scope")));
    };
    let form = form.map(|axum::Form(f)| f).unwrap_or_default();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let origin_host = header("origin").map(|o| o.split_once("://").map(|(_, rest)| rest));
    let refusal = if header("sec-fetch-site").is_some_and(|v| v == "cross-site" || v == "same-site") {
        Some("the form was posted from another site")
    } else if origin_host.is_some_and(|h| h.is_none() || h != header("host")) {
        Some("the form was posted from another origin")
    } else if !form.iter().find(|(n, _)| n == "csrf").is_some_and(|(_, t)| s.ui.csrf_ok(&c.who, t)) {
        Some("the form's token is missing or not yours: reload the page and try again")
    } else {
        None
    };
    match refusal {
        Some(why) => Err((StatusCode::FORBIDDEN, why.to_string())),
        None => Ok((c, form)),
    }
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// `POST /silences` (form: `matchers`, one per line; `duration` such as
/// `2h`; `reason`; `csrf`): a silence authored by the caller.
async fn add_silence(
    State(s): State<AppState>,
    c: MaybeCaller,
    headers: HeaderMap,
    form: Result<axum::Form<FormFields>, FormRejection>,
) -> Response {
    let (c, form) = match admit_form(&s, c, &headers, form, "silencing") {
        Ok(admitted) => admitted,
        Err((status, why)) => return s.ui.error(status, &why),
    };
    let now = time::OffsetDateTime::now_utc();
    let record = match views::silence_from_form(&form, &c.who, now) {
        Ok(r) => r,
        Err(e) => return s.ui.error(StatusCode::BAD_REQUEST, &e),
    };
    let id = record.id.clone();
    match crate::call(&s, move |st| st.add_silence(&record).map_err(crate::store_error)).await {
        Ok(()) => {
            s.committed.notify_one();
            see_other(&format!("/silences?added={}", troop_core::finding_query::encode(&id)))
        }
        Err(ApiError(status, m)) => s.ui.error(status, &m),
    }
}

/// `POST /silences/{id}/end` (form: `csrf`): end a silence now.
async fn end_silence(
    State(s): State<AppState>,
    c: MaybeCaller,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    form: Result<axum::Form<FormFields>, FormRejection>,
) -> Response {
    let Ok(Path(id)) = id else { return s.ui.error(StatusCode::BAD_REQUEST, "the silence id is not valid UTF-8") };
    if let Err((status, why)) = admit_form(&s, c, &headers, form, "ending a silence") {
        return s.ui.error(status, &why);
    }
    let at = troop_core::clock::rfc3339(time::OffsetDateTime::now_utc());
    let key = id.clone();
    match crate::call(&s, move |st| st.end_silence(&key, &at).map_err(crate::store_error)).await {
        Ok(true) => {
            s.committed.notify_one();
            see_other("/silences")
        }
        Ok(false) => s.ui.error(StatusCode::NOT_FOUND, &format!("no silence in force with id {id}")),
        Err(ApiError(status, m)) => s.ui.error(status, &m),
    }
}

#[cfg(test)]
mod tests;
