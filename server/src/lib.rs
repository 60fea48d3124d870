//! troop-server: the HTTP surface of `troop run` on `[agent] listen`.
//! `/healthz`, `/metrics` (Prometheus text), `/api/v1/findings`. Read-only:
//! it never changes the store.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use troop_core::FindingState;
use troop_core::metrics::Metrics;
use troop_core::shutdown::Shutdown;
use troop_core::store::{FindingFilter, Store};

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/findings", get(findings))
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render()).into_response()
}

async fn findings(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let state = match q.get("state").map(String::as_str) {
        None | Some("open") => Some(FindingState::Open),
        Some("all") => None,
        Some(other) => match FindingState::parse(other) {
            Some(st) => Some(st),
            None => return (StatusCode::BAD_REQUEST, format!("unknown state `{other}`\n")).into_response(),
        },
    };
    let filter = FindingFilter { state, monkey: q.get("monkey").cloned() };
    let store = s.store.clone();
    match tokio::task::spawn_blocking(move || store.findings(&filter)).await {
        Ok(Ok(f)) => axum::Json(f).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Bind first (so a busy port is reported before anything else starts), then
/// serve until `shutdown` fires.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, BindError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|source| BindError { addr, source })
}

pub async fn serve(listener: tokio::net::TcpListener, state: AppState, mut shutdown: Shutdown) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(async move { shutdown.recv().await }).await
}
