//! The Kafka listener: accepts connections, runs one task per connection, and drains on
//! shutdown. A connection beyond `max.connections` or its address's `max.connections.per.ip` is
//! closed as soon as it is accepted (`connection_limit.rs`); accept errors (out of descriptors)
//! back off.
//!
//! A connection reads one size-prefixed frame at a time and answers it before reading the next,
//! as Kafka mutes a channel while a request is in flight: pipelined requests are answered in
//! order. A frame size beyond `socket.request.max.bytes` (or negative) closes the connection
//! before the frame is read; an undecodable request closes it too (Kafka does the same), except
//! an ApiVersions request of a version this broker does not know, which is answered with
//! UNSUPPORTED_VERSION in the v0 format so the client can retry with one it does. Refusals are
//! logged at most once per `REFUSED_REQUEST_LOG_INTERVAL_MS` and peer, with a count.
//!
//! Memory: a frame's buffer grows with the bytes that arrive (from `FRAME_READ_CHUNK_BYTES`,
//! doubling), never to the announced size up front, and each growth is first reserved from
//! `queued.max.request.bytes` (the connection waits, unread, while the pool is short); the
//! memory goes back to the pool once the request is answered. The whole frame must arrive within
//! `socket.request.read.timeout.ms` of its size, or the connection is closed, so a client that
//! stops half-way holds its connection and memory only that long. Reserving as bytes arrive,
//! rather than the announced size up front, is what keeps a few clients that announce large
//! frames and send nothing from locking everyone else out of the pool; the price is that frames
//! growing at once can exhaust the pool between them and wait on each other, which the read
//! deadline ends. Frames of at most `SMALL_FRAME_BYTES` take nothing from the pool, so that
//! everyday requests are never held up by large ones. A connection with no request started for `connections.max.idle.ms` is closed.
//!
//! Serving one frame is two public steps, [`read_request`] (decode) and [`answer`] (handler and
//! encoding); `crate::fuzzing` drives the same two without a socket.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use sluice_protocol::api::{
    ApiKey, Request, RequestDecodeFailure, RequestHeader, Response, decode_request, encode_response,
    encode_response_spliced,
};
use sluice_protocol::codec::{DecodeError, EncodeError};
use sluice_protocol::messages::{ApiVersionsResponse, SaslAuthenticateResponse};
use sluice_protocol::record_set::{FileSlice, Splice, spliced_len};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};

use crate::acl::ANONYMOUS;
use crate::acl::authorizer::Session;
use crate::api;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::log_limiter::LogLimiter;
use crate::memory_pool::{MemoryPool, Reservation};
use crate::sasl::Step;

/// Longest back-off between failed accepts.
const MAX_ACCEPT_BACKOFF_MS: u64 = 1_000;

/// Frames up to this size are read without a reservation from `queued.max.request.bytes`:
/// what they hold is bounded by connections times this size instead, and requests this small
/// (heartbeats, commits, fetch and metadata requests) are never held up by a pool that large
/// frames have exhausted.
const SMALL_FRAME_BYTES: usize = 64 * 1024;

/// A connection reads up to this much ahead into its buffer (see [`fill`]): a small request
/// and its size arrive in one `recv` instead of two.
const READ_AHEAD_BYTES: usize = 16 * 1024;
/// The largest frame an unauthenticated client may send on a SASL listener (Kafka's
/// `sasl.server.max.receive.size` default): a stranger cannot make the broker hold more.
pub const SASL_SERVER_MAX_RECEIVE_BYTES: usize = 512 * 1024;

/// Reads into `buffered` until it holds at least `want` bytes, reading ahead up to
/// [`READ_AHEAD_BYTES`] more (the next requests of a client that pipelines). `want` is at most
/// `SMALL_FRAME_BYTES`, so a connection's buffer stays within that plus the read-ahead.
async fn fill(socket: &mut Stream, buffered: &mut BytesMut, want: usize) -> std::io::Result<()> {
    while buffered.len() < want {
        let spare = buffered.capacity() - buffered.len();
        let needed = (want - buffered.len()).max(READ_AHEAD_BYTES);
        if spare < needed {
            buffered.reserve(needed);
        }
        if socket.read_buf(buffered).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

/// A client's connection: plain TCP, whose fetch answers leave with `sendfile`, or TLS, whose
/// bytes all pass through the TLS layer.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    /// Writes `bytes` and sends them on (TLS holds records until flushed).
    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_all(bytes).await?;
        if let Stream::Tls(_) = self {
            self.flush().await?;
        }
        Ok(())
    }
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How a TLS handshake ended without a connection.
enum HandshakeFailure {
    /// The peer closed before sending anything (a port probe, a health check): not a refusal.
    Probe,
    /// Refused, and why.
    Refused(String),
}

/// After a refused handshake, how long the broker reads (and drops) what the client still
/// sends before it closes, and how much at most: closing with unread bytes would reset the
/// connection, and the reset can overtake the TLS alert that tells the client why.
const TLS_REFUSAL_DRAIN_MS: u64 = 1_000;
const TLS_REFUSAL_DRAIN_BYTES: u64 = 64 * 1024;

/// Completes the TLS handshake of a new connection on a TLS listener, within
/// `TLS_HANDSHAKE_TIMEOUT_MS`, and names its principal from the client certificate, if it
/// offered one (`ssl.principal.mapping.rules`).
async fn handshake(
    tls: &crate::tls::TlsListener,
    socket: TcpStream,
) -> Result<(Stream, Option<String>), HandshakeFailure> {
    let accepting = tls.acceptor().accept(socket).into_fallible();
    let accepted = tokio::time::timeout(Duration::from_millis(crate::tls::TLS_HANDSHAKE_TIMEOUT_MS), accepting)
        .await
        .map_err(|_| {
        HandshakeFailure::Refused(format!("no TLS handshake within {} ms", crate::tls::TLS_HANDSHAKE_TIMEOUT_MS))
    })?;
    let stream = match accepted {
        Ok(stream) => stream,
        Err((e, mut socket)) => {
            // The alert is out; let it arrive before the close (see TLS_REFUSAL_DRAIN_MS).
            let _ = socket.shutdown().await;
            let (mut unread, mut sink) = ((&mut socket).take(TLS_REFUSAL_DRAIN_BYTES), tokio::io::sink());
            let drain = tokio::io::copy(&mut unread, &mut sink);
            let drained = tokio::time::timeout(Duration::from_millis(TLS_REFUSAL_DRAIN_MS), drain).await;
            if e.kind() == std::io::ErrorKind::UnexpectedEof && matches!(drained, Ok(Ok(0))) {
                return Err(HandshakeFailure::Probe);
            }
            return Err(HandshakeFailure::Refused(format!("TLS handshake failed: {e}")));
        }
    };
    let principal = match stream.get_ref().1.peer_certificates().and_then(|c| c.first()) {
        None => None,
        Some(cert) => {
            let dn = crate::tls::subject_dn(cert.as_ref()).map_err(HandshakeFailure::Refused)?;
            let name = tls.settings.principal_rules.apply(&dn).ok_or_else(|| {
                HandshakeFailure::Refused(format!(
                    "no ssl.principal.mapping.rules rule matches the certificate subject {dn:?}"
                ))
            })?;
            Some(format!("User:{name}"))
        }
    };
    Ok((Stream::Tls(Box::new(stream)), principal))
}

/// A frame's buffer grows by at most this much per read, so a client that announces a large
/// frame and sends little of it holds little memory.
const FRAME_READ_CHUNK_BYTES: usize = 64 * 1024;

/// A peer whose requests are refused (undecodable, oversized) gets at most one WARN line per
/// this interval, with the count of refusals held back since the last.
const REFUSED_REQUEST_LOG_INTERVAL_MS: u64 = 10_000;

/// How long a request in flight at shutdown may take to finish, and its answer to be written,
/// before its connection is closed anyway.
pub const SHUTDOWN_IN_FLIGHT_DRAIN: Duration = Duration::from_millis(SHUTDOWN_IN_FLIGHT_DRAIN_MS);
const SHUTDOWN_IN_FLIGHT_DRAIN_MS: u64 = 5_000;

/// Serves one bound listener until `shutdown` fires.
pub async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    listener_name: String,
    mut shutdown: broadcast::Receiver<()>,
    done: mpsc::Sender<()>,
) {
    let tls = match broker.config.tls.get(&listener_name) {
        None => None,
        Some(settings) => match crate::tls::TlsListener::new(&listener_name, settings.clone()) {
            Ok(l) => Some(Arc::new(l)),
            Err(e) => {
                tracing::error!(listener = %listener_name, error = %e, "cannot load the listener's TLS files; not serving it");
                return;
            }
        },
    };
    let refusals = Arc::new(LogLimiter::new(Duration::from_millis(REFUSED_REQUEST_LOG_INTERVAL_MS)));
    let connection_refusals = LogLimiter::new(Duration::from_millis(REFUSED_REQUEST_LOG_INTERVAL_MS));
    let counters = broker.metrics.listener(&listener_name);
    let mut backoff_ms = 1;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.recv() => break,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => {
                backoff_ms = 1;
                pair
            }
            Err(e) => {
                tracing::warn!(error = %e, backoff_ms, "accept failed");
                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                backoff_ms = (backoff_ms * 2).min(MAX_ACCEPT_BACKOFF_MS);
                continue;
            }
        };
        let slot = match broker.connection_slots.try_acquire(peer.ip()) {
            Ok(slot) => slot,
            Err(refused) => {
                if let Some(suppressed) = connection_refusals.admit(&peer.ip(), Instant::now()) {
                    tracing::warn!(%peer, limit_key = refused.key(), limit = refused.limit(), suppressed, "closing a connection beyond the limit");
                }
                counters.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                drop(socket);
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let broker = broker.clone();
        let shutdown = shutdown.resubscribe();
        let done = done.clone();
        let listener_name = listener_name.clone();
        let refusals = refusals.clone();
        let tls = tls.clone();
        let open = crate::observe::OpenConnection::new(counters.clone());
        tokio::spawn(async move {
            let _open = open;
            let (socket, principal) = match &tls {
                None => (Stream::Plain(socket), None),
                Some(tls) => match handshake(tls, socket).await {
                    Ok(done) => done,
                    Err(failure) => {
                        match failure {
                            HandshakeFailure::Probe => {
                                tracing::debug!(%peer, listener = %listener_name, "closed before a TLS handshake");
                            }
                            // Each refusal is logged, as Kafka logs each failed authentication.
                            HandshakeFailure::Refused(e) => {
                                tracing::warn!(%peer, listener = %listener_name, error = %e, "TLS connection refused");
                            }
                        }
                        drop(slot);
                        drop(done);
                        return;
                    }
                },
            };
            let sasl = broker.config.sasl.get(&listener_name).cloned().map(crate::sasl::Authenticator::new);
            let session = Session { principal: principal.unwrap_or_else(|| ANONYMOUS.to_string()), host: peer.ip() };
            if let Err(e) =
                (Connection { broker, socket, peer, listener_name, refusals, sasl, session, session_expires: None })
                    .run(shutdown)
                    .await
            {
                tracing::debug!(%peer, error = %e, "connection closed");
            }
            drop(slot);
            drop(done);
        });
    }
    tracing::info!(listener = %listener_name, "listener stopped");
}

struct Connection {
    broker: Arc<Broker>,
    socket: Stream,
    peer: SocketAddr,
    listener_name: String,
    /// Shared by the listener's connections: refusals are counted per peer address.
    refusals: Arc<LogLimiter<IpAddr>>,
    /// The connection's SASL authentication, on a SASL listener.
    sasl: Option<crate::sasl::Authenticator>,
    /// Who the requests come from: `User:ANONYMOUS` until a SASL login names the user.
    session: Session,
    /// When the SASL session ends (`connections.max.reauth.ms`, KIP-368): after it, any
    /// request but a re-authentication's SaslHandshake closes the connection.
    session_expires: Option<Instant>,
}

impl Connection {
    async fn run(mut self, mut shutdown: broadcast::Receiver<()>) -> std::io::Result<()> {
        let idle = Duration::from_millis(self.broker.config.connections_max_idle_ms);
        let max_frame = self.broker.config.socket_request_max_bytes;
        let read_timeout = Duration::from_millis(self.broker.config.socket_request_read_timeout_ms);
        // Bytes read past the last frame: a small request comes in with its size in one `recv`,
        // and requests a client pipelines arrive together. Empty between requests (its
        // allocation goes with the last frame), so an idle connection holds nothing.
        let mut buffered = BytesMut::new();
        loop {
            let read = tokio::select! {
                _ = shutdown.recv() => return Ok(()),
                read = tokio::time::timeout(idle, fill(&mut self.socket, &mut buffered, 4)) => read,
            };
            match read {
                Err(_) => {
                    tracing::debug!(peer = %self.peer, "closing idle connection");
                    return Ok(());
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(_)) => {}
            }
            let size = i32::from_be_bytes([buffered[0], buffered[1], buffered[2], buffered[3]]);
            buffered.advance(4);
            let mut authenticating = self.sasl.as_ref().is_some_and(|a| a.user().is_none());
            if authenticating && (size < 0 || size as usize > SASL_SERVER_MAX_RECEIVE_BYTES) {
                if let Some(suppressed) = self.refusals.admit(&self.peer.ip(), Instant::now()) {
                    tracing::warn!(peer = %self.peer, size, max = SASL_SERVER_MAX_RECEIVE_BYTES, suppressed, "closing an unauthenticated connection that sent a frame too large for SASL");
                }
                return Ok(());
            }
            if size < 0 || size as usize > max_frame {
                if let Some(suppressed) = self.refusals.admit(&self.peer.ip(), Instant::now()) {
                    tracing::warn!(peer = %self.peer, size, max = max_frame, suppressed, "refusing frame larger than socket.request.max.bytes");
                }
                return Ok(());
            }
            let size = size as usize;
            let read = async {
                if size <= SMALL_FRAME_BYTES || buffered.len() >= size {
                    fill(&mut self.socket, &mut buffered, size).await?;
                    return Ok((buffered.split_to(size), Reservation::default()));
                }
                read_frame(&mut self.socket, size, &self.broker.request_memory, std::mem::take(&mut buffered)).await
            };
            let read: std::io::Result<(BytesMut, Reservation)> = tokio::select! {
                _ = shutdown.recv() => return Ok(()),
                read = tokio::time::timeout(read_timeout, read) => match read {
                    Ok(read) => read,
                    Err(_) => {
                        if let Some(suppressed) = self.refusals.admit(&self.peer.ip(), Instant::now()) {
                            tracing::warn!(peer = %self.peer, size, timeout_ms = read_timeout.as_millis() as u64, suppressed, "closing a connection whose request did not arrive within socket.request.read.timeout.ms");
                        }
                        return Ok(());
                    }
                },
            };
            let (frame, reservation) = read?;
            if buffered.is_empty() {
                buffered = BytesMut::new();
            }
            let frame = frame.freeze();
            // An authenticated SASL connection: SaslHandshake starts a re-authentication
            // (KIP-368); once the session has expired, anything else closes the connection.
            if !authenticating && let Some(sasl) = self.sasl.as_mut() {
                let api_key = frame.get(..2).map(|b| i16::from_be_bytes([b[0], b[1]]));
                let reauth = self.broker.config.connections_max_reauth_ms > 0;
                if api_key == Some(ApiKey::SaslHandshake as i16) && reauth && sasl.renew() {
                    authenticating = true;
                } else if self.session_expires.is_some_and(|t| Instant::now() >= t) {
                    tracing::debug!(peer = %self.peer, listener = %self.listener_name, "closing a connection whose SASL session expired (connections.max.reauth.ms)");
                    return Ok(());
                }
            }
            if authenticating {
                drop(reservation);
                if self.authenticate(frame).await? {
                    continue;
                }
                return Ok(());
            }
            let raw = frame.clone();
            // A request in flight when the node shuts down is drained, within
            // SHUTDOWN_IN_FLIGHT_DRAIN_MS (an acks=all produce or a long poll may wait far
            // longer, for a client that may be gone: a socket in CLOSE-WAIT); then the
            // connection closes.
            let mut shutting_down = false;
            let mut api_key = None;
            let answer = match read_request(frame) {
                Ok((header, request)) => {
                    api_key = Some(header.api_key);
                    let answering =
                        answer(&self.broker, &self.listener_name, self.peer, &self.session, header, request);
                    tokio::pin!(answering);
                    tokio::select! {
                        answer = &mut answering => answer,
                        _ = shutdown.recv() => {
                            shutting_down = true;
                            match tokio::time::timeout(SHUTDOWN_IN_FLIGHT_DRAIN, &mut answering).await {
                                Ok(answer) => answer,
                                Err(_) => return Ok(()),
                            }
                        }
                    }
                }
                Err(answer) => answer,
            };
            let response = match answer {
                Answer::Respond(frame) => frame,
                // acks=0: the client expects no answer (a throttle still holds its next request).
                Answer::Silent(throttle) => {
                    self.mute(throttle, &mut shutdown).await;
                    continue;
                }
                Answer::Close(refusal) => {
                    if let Some(suppressed) = self.refusals.admit(&self.peer.ip(), Instant::now()) {
                        match refusal {
                            Refusal::Undecodable(failure) => {
                                let head: String = raw.iter().take(128).map(|b| format!("{b:02x}")).collect();
                                tracing::warn!(peer = %self.peer, header = ?failure.header, error = %failure.error, frame_head = %head, suppressed, "closing connection after an undecodable request");
                            }
                            Refusal::Unencodable { api, version, error } => {
                                tracing::warn!(peer = %self.peer, api, version, error = %error, suppressed, "closing connection: the response cannot be encoded");
                            }
                        }
                    }
                    return Ok(());
                }
            };
            if shutting_down {
                // The last answer, to a client that may not read it: bounded, then closed.
                let _ = tokio::time::timeout(SHUTDOWN_IN_FLIGHT_DRAIN, response.write(&mut self.socket)).await;
                return Ok(());
            }
            let sending = Instant::now();
            response.write(&mut self.socket).await?;
            if let Some(api_key) = api_key {
                self.broker.metrics.requests.record_send(api_key, sending.elapsed());
            }
            let throttle = response.throttle;
            drop((reservation, response));
            self.mute(throttle, &mut shutdown).await;
        }
    }
}

impl Connection {
    /// A client over its quota (`crate::quota`): nothing more is read from its connection until
    /// the throttle has passed (KIP-219's muted channel), or the node shuts down.
    async fn mute(&mut self, throttle: Duration, shutdown: &mut broadcast::Receiver<()>) {
        if throttle.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(throttle) => {}
            _ = shutdown.recv() => {}
        }
    }

    /// Serves one frame of a connection that has not authenticated yet: a bare SASL token after
    /// SaslHandshake v0, or a request, of which only ApiVersions, SaslHandshake and (after a v1
    /// handshake) SaslAuthenticate are served. Whether the connection stays open.
    async fn authenticate(&mut self, frame: Bytes) -> std::io::Result<bool> {
        let sasl = self.sasl.as_mut().expect("authenticate is called on SASL connections only");
        if sasl.expects_raw_token() {
            let step = sasl.token(&frame);
            return match self.settle(step).await {
                Ok(token) => {
                    let mut out = BytesMut::with_capacity(4 + token.len());
                    out.extend_from_slice(&(token.len() as i32).to_be_bytes());
                    out.extend_from_slice(&token);
                    self.socket.send(&out).await?;
                    Ok(true)
                }
                // SaslHandshake v0 has no way to say why: the connection just closes.
                Err(_) => Ok(false),
            };
        }
        let (header, request) = match read_request(frame) {
            Ok(decoded) => decoded,
            Err(Answer::Respond(frame)) => {
                frame.write(&mut self.socket).await?;
                return Ok(true);
            }
            Err(_) => {
                if let Some(suppressed) = self.refusals.admit(&self.peer.ip(), Instant::now()) {
                    tracing::warn!(peer = %self.peer, suppressed, "closing an unauthenticated connection after an undecodable request");
                }
                return Ok(false);
            }
        };
        let version = header.api_version;
        let (response, keep_open) = match request {
            Request::ApiVersions(_) => {
                match answer(&self.broker, &self.listener_name, self.peer, &self.session, header, request).await {
                    Answer::Respond(frame) => frame.write(&mut self.socket).await?,
                    Answer::Silent(_) | Answer::Close(_) => return Ok(false),
                }
                return Ok(true);
            }
            Request::SaslHandshake(r) => {
                let response = sasl.handshake(version, &r.mechanism);
                let accepted = response.error_code == ErrorCode::None.code();
                if !accepted {
                    tracing::warn!(peer = %self.peer, listener = %self.listener_name, mechanism = %r.mechanism, error = %ErrorCode::from_code(response.error_code).map_or("?", |c| c.name()), "SASL handshake refused");
                }
                (Response::SaslHandshake(response), accepted)
            }
            Request::SaslAuthenticate(r) if sasl.expects_authenticate() => {
                let step = sasl.token(&r.auth_bytes);
                match self.settle(step).await {
                    Ok(token) => {
                        // Done: from v1 the client learns how long its session lasts and
                        // re-authenticates before then (KIP-368); a v0 client's connection is
                        // closed at the end instead, and it reconnects.
                        let done = self.sasl.as_ref().is_some_and(|a| a.user().is_some());
                        let session_lifetime_ms =
                            if done { self.broker.config.connections_max_reauth_ms as i64 } else { 0 };
                        (
                            Response::SaslAuthenticate(SaslAuthenticateResponse {
                                auth_bytes: Bytes::from(token),
                                session_lifetime_ms,
                                ..Default::default()
                            }),
                            true,
                        )
                    }
                    Err(message) => (
                        Response::SaslAuthenticate(SaslAuthenticateResponse {
                            error_code: ErrorCode::SaslAuthenticationFailed.code(),
                            error_message: Some(message),
                            ..Default::default()
                        }),
                        false,
                    ),
                }
            }
            other => {
                if let Some(suppressed) = self.refusals.admit(&self.peer.ip(), Instant::now()) {
                    tracing::warn!(peer = %self.peer, listener = %self.listener_name, api = other.api_key().name(), suppressed, "closing a connection that sent a request before authenticating");
                }
                return Ok(false);
            }
        };
        let frame = encode_response(header.correlation_id, version, &response)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:?}")))?;
        self.socket.send(&frame).await?;
        Ok(keep_open)
    }

    /// Carries an exchange's step through (looking a SCRAM credential up in keeper when asked):
    /// the token to send, or, after a failure (logged with the peer and held for
    /// `connection.failed.authentication.delay.ms`), the message for the client.
    async fn settle(&mut self, mut step: Step) -> Result<Vec<u8>, String> {
        loop {
            step = match step {
                Step::NeedCredential { user, mechanism } => {
                    let credential = match self.broker.link.scram_credential(&user, mechanism).await {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::warn!(peer = %self.peer, %user, error = %e, "cannot read a SCRAM credential from keeper");
                            None
                        }
                    };
                    self.sasl.as_mut().expect("SASL connection").credential(credential)
                }
                Step::Continue(token) => return Ok(token),
                Step::Done { user, token } => {
                    tracing::debug!(peer = %self.peer, listener = %self.listener_name, %user, "authenticated");
                    self.session.principal = format!("User:{user}");
                    let reauth_ms = self.broker.config.connections_max_reauth_ms;
                    self.session_expires = (reauth_ms > 0).then(|| Instant::now() + Duration::from_millis(reauth_ms));
                    return Ok(token);
                }
                Step::Failed { user, message, detail } => {
                    tracing::warn!(peer = %self.peer, listener = %self.listener_name, user = user.as_deref().unwrap_or("?"), reason = %detail, "SASL authentication failed");
                    tokio::time::sleep(Duration::from_millis(self.broker.config.failed_authentication_delay_ms)).await;
                    return Err(message);
                }
            };
        }
    }
}

/// Counts what an answer tells `/metrics`: Produce's and Fetch's per-partition error codes,
/// and the record bytes a Fetch sends, per topic, to consumers or (`replica_id >= 0`) to
/// followers.
fn count_response(broker: &Broker, response: &Response, fetch_replica: Option<i32>) {
    use std::sync::atomic::Ordering::Relaxed;
    let requests = &broker.metrics.requests;
    match response {
        Response::Produce(r) => {
            for topic in &r.responses {
                let counters = broker.replica_manager.counters_of(&topic.name);
                for p in topic.partition_responses.iter().filter(|p| p.error_code != 0) {
                    requests.record_error(ApiKey::Produce as i16, p.error_code);
                    if let Some(c) = &counters {
                        c.failed_produces.fetch_add(1, Relaxed);
                    }
                }
            }
        }
        Response::Fetch(r) => {
            let to_follower = fetch_replica.is_some_and(|id| id >= 0);
            for topic in &r.responses {
                let counters = broker.replica_manager.counters_of(&topic.topic);
                let mut bytes = 0u64;
                for p in &topic.partitions {
                    if p.error_code != 0 {
                        requests.record_error(ApiKey::Fetch as i16, p.error_code);
                        if let Some(c) = &counters {
                            c.failed_fetches.fetch_add(1, Relaxed);
                        }
                    }
                    bytes += p.records.as_ref().map_or(0, |r| r.len() as u64);
                }
                if let Some(c) = counters.filter(|_| bytes > 0) {
                    let counter = if to_follower { &c.replication_bytes_out } else { &c.bytes_out };
                    counter.fetch_add(bytes, Relaxed);
                }
            }
        }
        _ => {}
    }
}

/// Reads a frame of `size` bytes, starting from `prefix` (its first bytes, read ahead with its
/// size; at most [`READ_AHEAD_BYTES`], not reserved). Its buffer grows with what arrives, and each growth is
/// reserved from `pool` before the bytes are read, so the memory a frame holds follows the bytes
/// its client actually sent (at most twice them, as the buffer doubles), not the size it
/// announced: a client announcing large frames and sending little holds little.
async fn read_frame(
    socket: &mut Stream,
    size: usize,
    pool: &MemoryPool,
    prefix: BytesMut,
) -> std::io::Result<(BytesMut, Reservation)> {
    assert!(prefix.len() < size, "a frame's prefix ({}) is shorter than the frame ({size})", prefix.len());
    let mut frame = prefix;
    let mut reservation = Reservation::default();
    while frame.len() < size {
        let want = (size - frame.len()).min(FRAME_READ_CHUNK_BYTES.max(frame.len()));
        if frame.capacity() - frame.len() < want {
            if size > SMALL_FRAME_BYTES {
                reservation.merge(pool.reserve(want).await);
            }
            frame.reserve(want);
        }
        let mut chunk = (&mut *socket).take(want as u64);
        if chunk.read_buf(&mut frame).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok((frame, reservation))
}

/// What a connection does with one request frame.
#[derive(Debug)]
pub enum Answer {
    /// Write this response frame.
    Respond(Frame),
    /// Write nothing: a Produce with `acks=0`, whose client expects no answer; read nothing more
    /// for the throttle (client quotas).
    Silent(Duration),
    /// Close the connection; the refusal is for the log.
    Close(Refusal),
}

/// A response frame: its own bytes (size prefix included), the segment file bytes spliced into
/// it (sent with `sendfile`), and the memory reserved for it (a fetch's share of
/// `fetch.response.memory.max.bytes`), given back once it is written.
#[derive(Debug)]
pub struct Frame {
    pub head: BytesMut,
    pub splices: Vec<Splice>,
    pub memory: Reservation,
    /// How long the connection reads nothing after this frame (client quotas, KIP-219).
    pub throttle: Duration,
}

impl Frame {
    fn plain(head: BytesMut) -> Frame {
        Frame { head, splices: Vec::new(), memory: Reservation::default(), throttle: Duration::ZERO }
    }

    /// The whole frame in memory, file bytes read in (for tests and the fuzzing harness).
    pub fn to_bytes(&self) -> std::io::Result<BytesMut> {
        let mut out = BytesMut::with_capacity(self.head.len() + spliced_len(&self.splices));
        let mut at = 0;
        for splice in &self.splices {
            out.extend_from_slice(&self.head[at..splice.at]);
            for slice in &splice.slices {
                slice.read_into(&mut out)?;
            }
            at = splice.at;
        }
        out.extend_from_slice(&self.head[at..]);
        Ok(out)
    }

    /// Writes the frame: its bytes up to each splice, then the splice's file slices with
    /// `sendfile` (no copy through user space), then the rest. The socket is corked meanwhile
    /// so the pieces leave in full-sized packets. A slice whose file was truncated since it was
    /// read (a follower's log cut back) cannot be sent as promised: an error, which closes the
    /// connection, as the frame's size prefix is already out.
    async fn write(&self, socket: &mut Stream) -> std::io::Result<()> {
        let socket = match socket {
            Stream::Plain(socket) => socket,
            // TLS: the records are read in and pass through the TLS layer.
            tls => {
                return if self.splices.is_empty() {
                    tls.send(&self.head).await
                } else {
                    tls.send(&self.to_bytes()?).await
                };
            }
        };
        if self.splices.is_empty() {
            return socket.write_all(&self.head).await;
        }
        set_cork(socket, true);
        let mut at = 0;
        for splice in &self.splices {
            socket.write_all(&self.head[at..splice.at]).await?;
            for slice in &splice.slices {
                send_file(socket, slice).await?;
            }
            at = splice.at;
        }
        socket.write_all(&self.head[at..]).await?;
        set_cork(socket, false);
        Ok(())
    }
}

/// Sends a file slice to the socket with `sendfile(2)`, waiting whenever the socket is full.
async fn send_file(socket: &TcpStream, slice: &FileSlice) -> std::io::Result<()> {
    let mut offset = slice.position as libc::off_t;
    let end = offset + slice.len as libc::off_t;
    while offset < end {
        let sent = socket
            .async_io(tokio::io::Interest::WRITABLE, || {
                // SAFETY: both descriptors are open for the call (the socket is borrowed, the
                // file held by the slice's Arc); `offset` is a valid pointer the kernel advances.
                let n = unsafe {
                    libc::sendfile(socket.as_raw_fd(), slice.file.as_raw_fd(), &mut offset, (end - offset) as usize)
                };
                if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(n as usize) }
            })
            .await?;
        if sent == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "a segment file was cut short while its records were being sent",
            ));
        }
    }
    Ok(())
}

/// Sets TCP_CORK: while set, the kernel sends only full packets. A failure only costs packets.
fn set_cork(socket: &TcpStream, on: bool) {
    let value: libc::c_int = on.into();
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the size given.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Why a connection closes instead of answering.
#[derive(Debug)]
pub enum Refusal {
    /// The frame is not a request this broker decodes.
    Undecodable(RequestDecodeFailure),
    /// A value in the answer that its version cannot carry (a client's oversized id echoed
    /// back): the connection closes, nothing else.
    Unencodable { api: &'static str, version: i16, error: EncodeError },
}

/// The first step of serving a frame (the bytes after the size prefix): the decoded request,
/// or the answer to a frame that is none: UNSUPPORTED_VERSION in the v0 format for an
/// ApiVersions of an unknown version, a closed connection for anything else.
pub fn read_request(frame: Bytes) -> Result<(RequestHeader, Request), Answer> {
    decode_request(frame).map_err(|failure| match (&failure.header, &failure.error) {
        (Some(h), DecodeError::UnsupportedVersion { .. }) if h.api_key == ApiKey::ApiVersions as i16 => {
            let body = ApiVersionsResponse {
                error_code: ErrorCode::UnsupportedVersion.code(),
                api_keys: sluice_protocol::api::supported_api_versions(),
                ..Default::default()
            };
            Answer::Respond(Frame::plain(
                encode_response(h.correlation_id, 0, &Response::ApiVersions(body))
                    .expect("the registry's ApiVersions answer fits its v0 format"),
            ))
        }
        _ => Answer::Close(Refusal::Undecodable(failure)),
    })
}

/// The first Fetch version whose fetcher names itself in `replica_state`.
const FETCH_REPLICA_STATE_VERSION: i16 = 15;

/// The second step: hands a decoded request to its handler (`api::handle`) and encodes the
/// answer. `listener` is the name of the listener it arrived on, `peer` the client's address.
pub async fn answer(
    broker: &Broker,
    listener: &str,
    peer: SocketAddr,
    session: &Session,
    header: RequestHeader,
    request: Request,
) -> Answer {
    let version = header.api_version;
    let memory = parking_lot::Mutex::new(Reservation::default());
    let remote_nanos = std::sync::atomic::AtomicU64::new(0);
    let mut request = request;
    // From Fetch v15 a follower names itself in `replica_state` (KIP-903).
    if let Request::Fetch(r) = &mut request
        && version >= FETCH_REPLICA_STATE_VERSION
    {
        r.replica_id = r.replica_state.replica_id;
    }
    let fetch_replica = match &request {
        Request::Fetch(r) => Some(r.replica_id),
        _ => None,
    };
    let produced_bytes = match &request {
        Request::Produce(r) => Some(
            r.topic_data
                .iter()
                .flat_map(|t| &t.partition_data)
                .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
                .sum(),
        ),
        _ => None,
    };
    let started = Instant::now();
    let context = api::RequestContext {
        header: &header,
        listener,
        peer,
        session,
        authorizer: broker.link.authorizer.as_deref(),
        over_tls: broker.config.tls.contains_key(listener),
        response_memory: &memory,
        remote_nanos: &remote_nanos,
    };
    let mut response = api::handle(broker, context, request).await;
    let remote = Duration::from_nanos(remote_nanos.load(std::sync::atomic::Ordering::Relaxed));
    let handler_time = started.elapsed().saturating_sub(remote);
    broker.metrics.requests.record(header.api_key, version, handler_time, remote);
    let usage = crate::quota::Usage { produced_bytes, fetch_replica, handler_time };
    let throttle =
        crate::quota::throttle(broker, &session.principal, header.client_id.as_deref(), usage, response.as_mut());
    // The admin requests that throttle by `controller_mutation_rate` say so in their answer.
    let mutation_throttle = match &response {
        Some(Response::CreateTopics(r)) => r.throttle_time_ms,
        Some(Response::CreatePartitions(r)) => r.throttle_time_ms,
        Some(Response::DeleteTopics(r)) => r.throttle_time_ms,
        _ => 0,
    };
    let throttle = throttle.max(Duration::from_millis(mutation_throttle.max(0) as u64));
    let Some(response) = response else {
        return Answer::Silent(throttle);
    };
    count_response(broker, &response, fetch_replica);
    match encode_response_spliced(header.correlation_id, version, &response) {
        Ok((head, splices)) => Answer::Respond(Frame { head, splices, memory: memory.into_inner(), throttle }),
        Err(error) => Answer::Close(Refusal::Unencodable { api: response.api_key().name(), version, error }),
    }
}
