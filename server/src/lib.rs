//! troop-server: the HTTP surface of `troop run` on `[agent] listen`.
//! `/healthz`, `/metrics` (Prometheus text), `/api/v1/{findings,changes,
//! certs,limits,status,timeline}`, `/api/v1/items/{item}/diff`, the web UI
//! ([`ui`]: `/`, `/findings`, `/items/{item}`, `/changes`, `/certs`,
//! `/limits`, `/silences`), and the writes any process may make with a credential of their scope:
//! `POST /api/v2/alerts`, Alertmanager's silence API, `POST /api/v1/events`
//! (every route behind [`access`]).

pub mod access;
pub mod listener;
pub mod tls;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use troop_core::FindingState;
use troop_core::alerting::Matcher;
use troop_core::alerting::silence::api as silence_api;
use troop_core::metrics::Metrics;
use troop_core::shutdown::Shutdown;
use troop_core::store::{Backend, StoreHandle};

#[derive(Clone)]
pub struct AppState {
    /// The store (passes and alerts: silences show an open finding a silence
    /// matches as `silenced`). Called on blocking threads only ([`call`]).
    pub store: StoreHandle,
    pub metrics: Arc<Metrics>,
    /// `[alerts.posted]`, replaced on a reload.
    pub posted: Arc<std::sync::RwLock<troop_config::Posted>>,
    /// Woken when posted alerts changed what the gateway must route (the
    /// engine's commit signal: the gateway runs a round at once).
    pub committed: Arc<tokio::sync::Notify>,
    /// The web UI's templates, form-token key and monkey intervals.
    pub ui: Arc<ui::Ui>,
}

pub mod ui;

pub fn router(state: AppState) -> Router {
    ui::routes()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/findings", get(findings))
        .route("/api/v1/changes", get(changes))
        .route("/api/v1/items/{item}/diff", get(diff))
        .route("/api/v1/certs", get(certs))
        .route("/api/v1/limits", get(limits))
        .route("/api/v1/status", get(status))
        .route("/api/v1/timeline", get(timeline))
        .route("/api/v1/events", axum::routing::post(post_event))
        .route("/api/v2/alerts", axum::routing::post(post_alerts))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route("/api/v2/silence/{id}", get(get_silence).delete(delete_silence))
        .fallback(ui::not_found)
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render()).into_response()
}

async fn findings(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let state = match q.get("state").map(String::as_str) {
        None | Some("open") => Some(FindingState::Open),
        Some("all") => None,
        Some(other) => Some(FindingState::parse(other).ok_or_else(|| bad_request(format!("unknown state `{other}`")))?),
    };
    let monkey = q.get("monkey").cloned();
    if let Some(m) = &monkey {
        let source = s.posted.read().unwrap_or_else(|e| e.into_inner()).source.clone();
        troop_core::known_name("monkey", m, &troop_core::finding_sources(&source)).map_err(bad_request)?;
    }
    let min_severity = match q.get("severity").map(String::as_str) {
        None => None,
        Some(v) => Some(troop_core::Severity::parse_threshold(v).ok_or_else(|| {
            bad_request(format!("unknown severity `{v}` (one of: {})", troop_core::Severity::THRESHOLDS.join(", ")))
        })?),
    };
    let filter = troop_core::store::FindingFilter { state, monkey, min_severity, item: None };
    let found = call(&s, move |st| {
        let now = troop_core::alerting::millis(time::OffsetDateTime::now_utc());
        troop_core::alerting::silence::findings_view(st, st, filter, now).map_err(store_error)
    })
    .await?;
    let rows: Vec<serde_json::Value> =
        found.iter().map(|(f, by)| troop_core::alerting::silence::finding_json(f, by.as_deref())).collect();
    Ok(axum::Json(rows).into_response())
}

/// What `troop certs --format json` prints: every certificate observed,
/// soonest expiry first, `days_left` as of now.
async fn certs(State(s): State<AppState>) -> Result<Response, ApiError> {
    let rows = call(&s, |st| st.observations("cert").map_err(store_error)).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let rows = troop_core::certs::rows_as_of(rows, now).map_err(unreadable)?;
    Ok(axum::Json(rows).into_response())
}

/// What `troop limits --format json` prints: every quota evaluated, highest
/// usage ratio first.
async fn limits(State(s): State<AppState>) -> Result<Response, ApiError> {
    let rows = call(&s, |st| st.observations("quota").map_err(store_error)).await?;
    let rows = troop_core::limits::rows(rows).map_err(unreadable)?;
    Ok(axum::Json(rows).into_response())
}

/// What `troop status --format json` prints: each shard with its holder,
/// last success and lag.
async fn status(State(s): State<AppState>) -> Result<Response, ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let records = call(&s, move |st| st.shard_records(now).map_err(store_error)).await?;
    Ok(axum::Json(troop_core::status::rows(&records, now.unix_timestamp())).into_response())
}

/// `GET /api/v1/timeline?since=1h[&source=…][&type=…]`: what `troop
/// timeline --format json` prints ([`troop_core::timeline::read`]).
async fn timeline(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let since = q.get("since").map(String::as_str).unwrap_or("1h");
    let from = troop_core::history::parse_since(since, time::OffsetDateTime::now_utc()).map_err(bad_request)?;
    let filter = troop_core::timeline::Filter { source: q.get("source").cloned(), kind: q.get("type").cloned() };
    let entries = call(&s, move |st| troop_core::timeline::read(st, from, &filter).map_err(store_error)).await?;
    Ok(axum::Json(entries).into_response())
}

/// `POST /api/v1/events`: one change event ([`troop_core::timeline::parse_event`];
/// CloudEvents structured mode with `Content-Type:
/// application/cloudevents+json`). 201 when stored, 200 when its source
/// already posted its `id` (a retry), 400 naming the bad field.
async fn post_event(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let cloud = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/cloudevents+json"));
    let now = time::OffsetDateTime::now_utc();
    let event = troop_core::timeline::parse_event(&body, cloud, now).map_err(bad_request)?;
    let shown = event.clone();
    let stored = call(&s, move |st| st.record_event(&event, now).map_err(store_error)).await?;
    let status = if stored { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, axum::Json(shown)).into_response())
}

/// `POST /api/v2/alerts`: Alertmanager's API v2 body, judged by
/// [`troop_core::alerting::posted`] and stored in one transaction
/// ([`troop_core::store::AlertStore::ingest`]). 200 with an empty body, as
/// Alertmanager answers; 400 naming the first bad field, nothing stored.
async fn post_alerts(State(s): State<AppState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let cfg = s.posted.read().unwrap_or_else(|e| e.into_inner()).clone();
    let now = time::OffsetDateTime::now_utc();
    let timeout = time::Duration::try_from(cfg.resolve_timeout).unwrap_or(time::Duration::minutes(5));
    let posted = troop_core::alerting::posted::parse(&body, &cfg.source, now, timeout).map_err(bad_request)?;
    let report = troop_core::Report { findings: posted.firing, resolved: posted.resolved, ..Default::default() };
    let events = call(&s, move |st| st.ingest(&cfg.source, &report, now).map_err(store_error)).await?;
    if !events.is_empty() {
        s.committed.notify_one();
    }
    Ok(StatusCode::OK.into_response())
}

/// `GET /api/v2/silences[?filter=name="value"…]`: every silence in
/// Alertmanager's `gettableSilence` shape; a `filter` keeps those that have
/// each of its matchers.
async fn get_silences(State(s): State<AppState>, Query(q): Query<Vec<(String, String)>>) -> Result<Response, ApiError> {
    let mut filter = Vec::new();
    for (k, v) in &q {
        if k != "filter" {
            continue;
        }
        filter.push(Matcher::parse(v).map_err(|e| bad_request(format!("filter: {e}")))?);
    }
    let records = call(&s, |st| st.silences().map_err(store_error)).await?;
    let now = time::OffsetDateTime::now_utc();
    let rows: Vec<serde_json::Value> = records
        .iter()
        .filter(|r| silence_api::has_matchers(r, &filter))
        .filter_map(|r| silence_api::gettable(r, now))
        .collect();
    Ok(axum::Json(rows).into_response())
}

/// `GET /api/v2/silence/{id}`: one silence, or 404.
async fn get_silence(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let records = call(&s, |st| st.silences().map_err(store_error)).await?;
    let now = time::OffsetDateTime::now_utc();
    match records.iter().find(|r| r.id == id).and_then(|r| silence_api::gettable(r, now)) {
        Some(v) => Ok(axum::Json(v).into_response()),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no silence with id {id}"))),
    }
}

/// `POST /api/v2/silences`: a `postableSilence`
/// ([`silence_api::parse_postable`]); with the `id` of an existing silence
/// it replaces that one (the new one is stored first, then the old one
/// ends: a finding is never unmuted in between). Answers
/// `{"silenceID": …}` as Alertmanager does.
async fn post_silence(State(s): State<AppState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let posted =
        silence_api::parse_postable(&body, now, troop_core::alerting::silence::new_id(now)).map_err(bad_request)?;
    let id = posted.record.id.clone();
    call(&s, move |st| {
        if let Some(old) = &posted.replaces
            && !st.silences().map_err(store_error)?.iter().any(|r| &r.id == old)
        {
            return Err(ApiError(StatusCode::NOT_FOUND, format!("id: no silence with id {old} to update")));
        }
        st.add_silence(&posted.record).map_err(store_error)?;
        if let Some(old) = &posted.replaces {
            st.end_silence(old, &troop_core::clock::rfc3339(now)).map_err(store_error)?;
        }
        Ok(())
    })
    .await?;
    s.committed.notify_one();
    Ok(axum::Json(serde_json::json!({ "silenceID": id })).into_response())
}

/// `DELETE /api/v2/silence/{id}`: end an active or pending silence now;
/// 404 when there is none with that id still in force.
async fn delete_silence(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let now = troop_core::clock::rfc3339(time::OffsetDateTime::now_utc());
    let key = id.clone();
    let ended = call(&s, move |st| st.end_silence(&key, &now).map_err(store_error)).await?;
    if !ended {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no silence in force with id {id}")));
    }
    s.committed.notify_one();
    Ok(StatusCode::OK.into_response())
}

/// An API error: a status and a one-line message.
struct ApiError(StatusCode, String);

impl From<troop_core::StoreError> for ApiError {
    fn from(e: troop_core::StoreError) -> Self {
        store_error(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, format!("{}\n", self.1)).into_response()
    }
}

fn bad_request(msg: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.to_string())
}

/// A stored row that does not read back as its type: the store is corrupt.
fn unreadable(e: serde_json::Error) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("a stored row is unreadable: {e}"))
}

fn store_error(e: troop_core::StoreError) -> ApiError {
    match e {
        troop_core::StoreError::NotFound(m) => ApiError(StatusCode::NOT_FOUND, m),
        other => ApiError(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

/// Run a store call on a blocking thread (no store call blocks a runtime
/// worker).
async fn call<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&dyn Backend) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = s.store.clone();
    tokio::task::spawn_blocking(move || f(&*store))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// `?since=` a duration ("1h") or an RFC 3339 time; default 24h.
/// `&technology=` and `&account=` narrow it (comma-separated lists).
async fn changes(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let since = q.get("since").map(String::as_str).unwrap_or("24h");
    let from = troop_core::history::parse_since(since, time::OffsetDateTime::now_utc()).map_err(bad_request)?;
    let list = |k: &str| -> Vec<String> {
        q.get(k).map(|v| v.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default()
    };
    let filter = troop_core::history::ChangeFilter::new(list("technology"), list("account")).map_err(bad_request)?;
    let mut revs = call(&s, move |st| st.revisions_since(from).map_err(store_error)).await?;
    revs.retain(|r| filter.keeps(r));
    Ok(axum::Json(revs).into_response())
}

/// `{item}` is the item id, URL-encoded (`/` as `%2F`); `?from=N&to=N` optional.
async fn diff(
    State(s): State<AppState>,
    Path(item): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let num = |k: &str| -> Result<Option<i64>, ApiError> {
        q.get(k)
            .map(|v| v.parse::<i64>().map_err(|_| bad_request(format!("`{k}` must be a revision number"))))
            .transpose()
    };
    let (from, to) = (num("from")?, num("to")?);
    let view = call(&s, move |st| {
        let (_, h) = item_history(st, &item)?;
        troop_core::history::diff_view(&h, from, to).map_err(bad_request)
    })
    .await?;
    Ok(axum::Json(view.rows()).into_response())
}

/// The item `query` names (the names the CLI takes: id, unique suffix, name
/// or prefix) and its every revision, oldest first. 404 when nothing has
/// the name, 400 naming the candidates when several do.
fn item_history(st: &dyn Backend, query: &str) -> Result<(String, Vec<troop_core::store::Revision>), ApiError> {
    let found = st.find_items(query)?;
    let status = if found.is_empty() { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
    let item = troop_core::history::resolve_item(query, found).map_err(|e| ApiError(status, e))?;
    let history = st.history(&item)?;
    Ok((item, history))
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {error}")]
pub struct BindError {
    pub addr: SocketAddr,
    /// Said in the message (not a `source`, so a chain prints it once).
    pub error: std::io::Error,
}

/// Bind first (so a busy port is reported before anything else starts), then
/// serve until `shutdown` fires.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, BindError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|error| BindError { addr, error })
}

/// What serving needs besides the store, built from `[agent]` before the
/// port is bound (so a bad token secret or TLS file stops the start).
pub struct Http {
    limits: troop_config::HttpLimits,
    guard: Arc<access::Guard>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// Why `[agent.http]` cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Guard(#[from] access::GuardError),
    #[error("[agent.http.tls_server_config] {0}")]
    Tls(#[from] tls::TlsError),
}

impl Http {
    /// Resolve `[agent.http]`'s secrets and TLS files.
    pub fn new(agent: &troop_config::Agent, metrics: Arc<Metrics>) -> Result<Http, HttpError> {
        let guard = Arc::new(access::Guard::new(&agent.http_access, &agent.http, metrics)?);
        let tls = agent.http_access.tls.as_ref().map(tls::server_config).transpose()?;
        Ok(Http { limits: agent.http.clone(), guard, tls })
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// Serve the API on `listener` (see [`listener`]), every route behind the
/// guard of [`access`], until `shutdown` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    http: Http,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let metrics = state.metrics.clone();
    let app = router(state)
        .layer(axum::extract::DefaultBodyLimit::max(http.guard.max_body_bytes()))
        .layer(axum::middleware::from_fn_with_state(http.guard.clone(), access::guard))
        // outermost: the guard's refusals carry the headers too
        .layer(axum::middleware::map_response(ui::surface_headers));
    listener::serve(listener, app, &http.limits, http.tls, metrics, shutdown).await
}
