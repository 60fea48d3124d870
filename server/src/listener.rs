//! The HTTP listener: what one client may hold of the process is bounded.
//!
//! axum's `serve` keeps a connection for as long as the client likes. Here
//! (the bounds of Go's `net/http.Server` and nginx):
//! - at most `max_connections` connections at once: the accept loop takes a
//!   permit before `accept`, so more clients wait in the kernel's accept
//!   queue and hold no descriptor of this process (AWS calls, the store and
//!   sinks keep theirs);
//! - a request head must arrive within `read_header_timeout` (hyper's
//!   header-read timer; slowloris);
//! - a connection with no byte moving either way for `idle_timeout` is shut
//!   down (graceful first, then dropped one more `idle_timeout` later): a
//!   handler or a client stalled mid-request. Between requests hyper's
//!   header timer already runs, so an idle keep-alive connection is closed
//!   after the sooner of the two;
//! - an `accept` error (EMFILE under a descriptor limit) backs off instead
//!   of spinning;
//! - with TLS, the handshake must end within `read_header_timeout` too; one
//!   that fails is counted (`tls_handshake`) and the connection closed.
//!
//! Each request carries its connection's [`Peer`] (the rate limit is per
//! client address).

use crate::access::Peer;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use troop_config::HttpLimits;
use troop_core::metrics::Metrics;
use troop_core::shutdown::Shutdown;

/// The soft limit on open descriptors (`RLIMIT_NOFILE`), from
/// `/proc/self/limits` (Linux); `None` when unknown or unlimited.
pub fn descriptor_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// The connection cap in force: the configured one, but never more than a
/// quarter of the descriptor limit (the rest is for AWS, the store, sinks).
pub fn connection_cap(configured: usize, descriptor_limit: Option<u64>) -> usize {
    match descriptor_limit {
        Some(n) => configured.min((n / 4).max(1) as usize),
        None => configured,
    }
}

/// A stream that remembers when a byte last moved (ms since `origin`).
struct Tracked<T> {
    inner: T,
    origin: Instant,
    last: Arc<AtomicU64>,
}

impl<T> Tracked<T> {
    fn touch(&self) {
        self.last.store(self.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serve `router` on `listener` within `limits` (over TLS when `tls` is
/// given) until `shutdown` fires; then stop accepting, let requests in
/// flight finish (at most `idle_timeout`) and return. Failed TLS handshakes
/// are counted on `metrics`.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: &HttpLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    metrics: Arc<Metrics>,
    mut shutdown: Shutdown,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let cap = connection_cap(limits.max_connections, descriptor_limit());
    tracing::debug!(max_connections = cap, "HTTP listener limits");
    let permits = Arc::new(tokio::sync::Semaphore::new(cap));
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = shutdown.recv() => break,
        };
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE/ENFILE/ECONNABORTED: wait, do not spin
                    tracing::warn!(error = %e, retry_in = ?backoff, "HTTP accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
            _ = shutdown.recv() => break,
        };
        backoff = Duration::from_millis(10);
        let router = router.clone();
        let limits = limits.clone();
        let sd = shutdown.clone();
        let acceptor = acceptor.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let origin = Instant::now();
            let last = Arc::new(AtomicU64::new(0));
            let tracked = Tracked { inner: stream, origin, last: last.clone() };
            // the peer joins each request's extensions around the router (as
            // axum's ConnectInfo does), without rebuilding its routes
            let service = TowerToHyperService::new(tower::Layer::layer(&axum::Extension(Peer(peer)), router));
            match acceptor {
                None => connection(TokioIo::new(tracked), origin, last, service, &limits, sd).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.read_header_timeout, acceptor.accept(tracked)).await {
                        Ok(Ok(tls)) => connection(TokioIo::new(tls), origin, last, service, &limits, sd).await,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            metrics.record_http_rejection("tls_handshake");
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            metrics.record_http_rejection("tls_handshake");
                        }
                    }
                }
            }
            drop(permit);
        });
    }
    // wait (bounded) for the connections in flight
    let _ = tokio::time::timeout(limits.idle_timeout, permits.acquire_many(cap as u32)).await;
    Ok(())
}

/// Serve one connection's requests; `last` is when a byte last moved on it
/// (ms since `origin`).
async fn connection<I>(
    io: TokioIo<I>,
    origin: Instant,
    last: Arc<AtomicU64>,
    service: TowerToHyperService<axum::middleware::AddExtension<axum::Router, Peer>>,
    limits: &HttpLimits,
    mut shutdown: Shutdown,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.read_header_timeout);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let idle = limits.idle_timeout;
    let tick = (idle / 4).clamp(Duration::from_millis(25), Duration::from_secs(1));
    let mut closing: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tokio::time::sleep(tick) => {
                let quiet = origin.elapsed().saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
                match closing {
                    None if quiet >= idle => {
                        conn.as_mut().graceful_shutdown();
                        closing = Some(Instant::now());
                    }
                    Some(at) if at.elapsed() >= idle => return, // dropped: closed
                    _ => {}
                }
            }
            _ = shutdown.recv(), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on loopback whose `/stall` never answers and `/ok` does.
    async fn start(limits: HttpLimits) -> (String, troop_core::shutdown::ShutdownTrigger) {
        let router = axum::Router::new()
            .route("/stall", axum::routing::get(std::future::pending::<&'static str>))
            .route("/ok", axum::routing::get(|| async { "ok" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (trigger, sd) = troop_core::shutdown::channel();
        tokio::spawn(async move { serve(listener, router, &limits, None, Arc::default(), sd).await });
        (addr, trigger)
    }

    /// Milliseconds until the server closes `s` (EOF or reset), at most `limit`.
    async fn closes_after(s: &mut tokio::net::TcpStream, limit: Duration) -> Option<u128> {
        let t = Instant::now();
        let mut buf = [0u8; 1024];
        let read = async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        };
        tokio::time::timeout(limit, read).await.ok().map(|_| t.elapsed().as_millis())
    }

    #[tokio::test]
    async fn a_request_on_which_nothing_moves_is_closed_after_the_idle_timeout() {
        let limits = HttpLimits {
            read_header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_millis(300),
            max_connections: 8,
            ..HttpLimits::default()
        };
        let (addr, _t) = start(limits).await;
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        // graceful shutdown at 300 ms waits for the request; dropped 300 ms later
        let ms = closes_after(&mut s, Duration::from_secs(5)).await.expect("never closed");
        assert!((500..3000).contains(&ms), "closed after {ms} ms");
    }

    #[tokio::test]
    async fn the_connection_cap_queues_the_excess_until_a_slot_frees() {
        let limits = HttpLimits {
            read_header_timeout: Duration::from_millis(400),
            idle_timeout: Duration::from_secs(5),
            max_connections: 2,
            ..HttpLimits::default()
        };
        let (addr, _t) = start(limits).await;
        let _a = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let _b = tokio::net::TcpStream::connect(&addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = Instant::now();
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // served only once a silent one hit its header timeout
        let ms = t.elapsed().as_millis();
        assert!((300..3000).contains(&ms), "answered after {ms} ms");
    }

    #[test]
    fn the_cap_leaves_most_descriptors_to_the_rest_of_the_process() {
        // (configured, descriptor limit, cap)
        for (configured, limit, want) in
            [(256, Some(1024), 256), (256, Some(256), 64), (256, Some(2), 1), (256, None, 256), (10, Some(65536), 10)]
        {
            assert_eq!(connection_cap(configured, limit), want, "{configured} {limit:?}");
        }
    }
}
