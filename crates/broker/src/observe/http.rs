//! The HTTP/1.1 endpoint on `metrics.listener` (hyper): `GET /metrics`, `/health`, `/ready`,
//! and the web console (`/`, its files under `/console/`, its JSON under `/api/v1/`;
//! [`super::console`]). Read-only; anything else is 404 (405 for a method other than GET or
//! HEAD).
//!
//! Bounded like the Kafka listeners: at most [`MAX_HTTP_CONNECTIONS`] at once (more are closed
//! at accept), a request's head must arrive within [`HTTP_HEADER_READ_TIMEOUT_MS`], request
//! bodies are never read, and a connection is closed once idle for as long.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    ALLOW, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use sluice_storage::TopicPartition;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast};

use super::console::{self, Console};
use super::exposition::{self, Scrape};
use super::lag::LagLookups;
use crate::broker::Broker;

/// HTTP connections served at once; more are closed when accepted.
pub const MAX_HTTP_CONNECTIONS: usize = 64;
/// How long a request's head may take to arrive (and an idle connection stays open).
pub const HTTP_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// The text exposition format's content type (Prometheus 0.0.4).
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoint reports on, filled in as the node's parts start: the keeper first (a
/// keeper-only node has nothing else), the broker once it is open.
#[derive(Debug, Default)]
pub struct Observed {
    /// The node has the broker role: it is not ready before its broker is.
    broker_role: bool,
    broker: OnceLock<Arc<Broker>>,
    /// The embedded keeper, and the address its client port is bound to.
    keeper: OnceLock<(Arc<sluice_keeper::Keeper>, std::net::SocketAddr)>,
    lag: LagLookups,
    console: Console,
    /// The broker has once had every log loaded and every partition's state applied: from then
    /// on readiness follows only its registration and keeper session (a partition moving later
    /// does not flap `/ready`).
    started: AtomicBool,
}

impl Observed {
    /// For a node with the broker role or not (a keeper-only node).
    pub fn new(broker_role: bool) -> Observed {
        Observed { broker_role, ..Default::default() }
    }

    pub fn set_broker(&self, broker: Arc<Broker>) {
        let _ = self.broker.set(broker);
    }

    pub fn set_keeper(&self, keeper: Arc<sluice_keeper::Keeper>, address: std::net::SocketAddr) {
        let _ = self.keeper.set((keeper, address));
    }

    /// The `/metrics` text.
    pub async fn render(&self) -> String {
        let mut scrape = Scrape::default();
        if let Some(broker) = self.broker.get() {
            exposition::broker_families(broker, &mut scrape);
            super::lag::lag_families(broker, &self.lag, &mut scrape).await;
        }
        if let Some((keeper, _)) = self.keeper.get() {
            exposition::keeper_families(keeper, &mut scrape);
        }
        scrape.encode()
    }

    /// Whether the node is ready for traffic, or what it is still waiting for. A broker: it is
    /// open, registered, has read the cluster's metadata, holds a connected keeper session,
    /// and (once, at startup) has loaded every log it found and applied the state of every
    /// partition assigned to it (leading or following it). A keeper-only node: its ensemble has a
    /// leader (it can serve).
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let mut waiting = Vec::new();
        match self.broker.get() {
            Some(broker) => {
                let me = broker.config.broker_id;
                let (synced, registered) = broker.link.cache.read(|v| (v.synced, v.brokers.contains_key(&me)));
                if !synced {
                    waiting.push("the cluster's metadata is not read yet".to_string());
                }
                if !registered {
                    waiting.push(format!("broker {me} is not registered in keeper"));
                }
                if !broker.link.is_connected() {
                    waiting.push("no keeper session".to_string());
                }
                if !self.started.load(Ordering::Relaxed) {
                    let loading = broker.replica_manager.log_manager().pending_count();
                    if loading > 0 {
                        waiting.push(format!("{loading} logs are still loading"));
                    }
                    let assigned: Vec<(TopicPartition, i32)> = broker.link.cache.read(|v| {
                        v.topics
                            .iter()
                            .flat_map(|(name, t)| {
                                t.states
                                    .iter()
                                    .filter(|(p, _)| t.all_replicas(**p).contains(&me))
                                    .map(move |(p, s)| (TopicPartition::new(name.clone(), *p), s.state.leader_epoch))
                            })
                            .collect()
                    });
                    let unapplied = broker.replica_manager.unapplied(&assigned);
                    if unapplied > 0 {
                        waiting.push(format!(
                            "{unapplied} of its {} partitions are not led or followed yet",
                            assigned.len()
                        ));
                    }
                    if waiting.is_empty() {
                        self.started.store(true, Ordering::Relaxed);
                    }
                }
            }
            None if self.broker_role => waiting.push("the broker is starting".to_string()),
            None if self.keeper.get().is_none() => waiting.push("the keeper is starting".to_string()),
            None => {}
        }
        if self.broker.get().is_none()
            && let Some((keeper, _)) = self.keeper.get()
            && keeper.stats().server_state == "not serving"
        {
            waiting.push("the keeper ensemble has no leader".to_string());
        }
        if waiting.is_empty() { Ok(()) } else { Err(waiting) }
    }
}

/// Serves the endpoint until the shutdown signal: plain HTTP, or HTTPS only when `tls` is
/// given (`metrics.ssl.enabled`; the handshake, too, must end within
/// [`HTTP_HEADER_READ_TIMEOUT_MS`], and certificates reload as the Kafka listeners' do).
pub async fn serve(
    listener: TcpListener,
    observed: Arc<Observed>,
    tls: Option<Arc<crate::tls::TlsListener>>,
    mut shutdown: broadcast::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.recv() => break,
            accepted = listener.accept() => accepted,
        };
        let socket = match accepted {
            Ok((socket, _)) => socket,
            Err(e) => {
                tracing::warn!(error = %e, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!("metrics listener: closing a connection beyond {MAX_HTTP_CONNECTIONS}");
            continue;
        };
        let (observed, tls) = (observed.clone(), tls.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let Some(tls) = tls else {
                return serve_connection(TokioIo::new(socket), observed).await;
            };
            let handshake = tls.acceptor().accept(socket);
            match tokio::time::timeout(Duration::from_millis(HTTP_HEADER_READ_TIMEOUT_MS), handshake).await {
                Ok(Ok(stream)) => serve_connection(TokioIo::new(stream), observed).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "metrics listener: TLS handshake failed"),
                Err(_) => {
                    tracing::debug!("metrics listener: TLS handshake not done within {HTTP_HEADER_READ_TIMEOUT_MS} ms")
                }
            }
        });
    }
}

/// Answers one connection's requests (HTTP/1.1, keep-alive) until it closes or idles.
async fn serve_connection<I>(io: I, observed: Arc<Observed>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let observed = observed.clone();
        async move { Ok::<_, Infallible>(route(&observed, request).await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(HTTP_HEADER_READ_TIMEOUT_MS))
        .serve_connection(io, service)
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "metrics connection ended");
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// What the console's page may load and run: its own script and style only (no inline code, no
/// other origin), and no framing by other sites.
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                           connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A console response: its files and JSON are never framed, sniffed or (the JSON) cached.
fn console_response(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = respond(status, content_type, body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONSOLE_CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn route(observed: &Observed, request: Request<Incoming>) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if *request.method() != Method::GET && *request.method() != Method::HEAD {
        // RFC 9110: a 405 names the methods that are allowed. The console's API answers JSON.
        let mut refused = if request.uri().path().starts_with("/api/v1/") {
            let body = serde_json::json!({ "error": "only GET and HEAD are served" }).to_string();
            console_response(StatusCode::METHOD_NOT_ALLOWED, "application/json", body)
        } else {
            respond(StatusCode::METHOD_NOT_ALLOWED, TEXT, "only GET and HEAD are served\n")
        };
        refused.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return refused;
    }
    let path = request.uri().path();
    match path {
        "/metrics" => respond(StatusCode::OK, METRICS_CONTENT_TYPE, observed.render().await),
        "/health" => respond(StatusCode::OK, TEXT, "ok\n"),
        "/ready" => match observed.readiness() {
            Ok(()) => respond(StatusCode::OK, TEXT, "ready\n"),
            Err(waiting) => {
                respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("not ready: {}\n", waiting.join("; ")))
            }
        },
        "/" | "/index.html" => console_response(StatusCode::OK, "text/html; charset=utf-8", console::INDEX_HTML),
        "/console/app.js" => console_response(StatusCode::OK, "text/javascript; charset=utf-8", console::APP_JS),
        "/console/style.css" => console_response(StatusCode::OK, "text/css; charset=utf-8", console::STYLE_CSS),
        _ if path.starts_with("/api/v1/") => {
            let (status, body) = observed
                .console
                .api(
                    observed.broker.get().map(Arc::as_ref),
                    observed.keeper.get().map(|(k, address)| (k.as_ref(), *address)),
                    &path["/api/v1/".len()..],
                    request.uri().query().unwrap_or(""),
                )
                .await;
            console_response(status, "application/json", body.to_string())
        }
        _ => respond(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: /metrics, /health, /ready, the console at / and its API under /api/v1/ are served\n",
        ),
    }
}
