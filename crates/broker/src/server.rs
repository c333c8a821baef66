//! The Kafka listener: accepts connections (at most `max.connections`, backing off on accept
//! errors), runs one task per connection, and drains on shutdown.
//!
//! A connection reads one size-prefixed frame at a time and answers it before reading the next,
//! as Kafka mutes a channel while a request is in flight: pipelined requests are answered in
//! order. A frame size beyond `socket.request.max.bytes` (or negative) closes the connection
//! before the frame is read; an undecodable request closes it too (Kafka does the same), except
//! an ApiVersions request of a version this broker does not know, which is answered with
//! UNSUPPORTED_VERSION in the v0 format so the client can retry with one it does. Refusals are
//! logged at most once per `REFUSED_REQUEST_LOG_INTERVAL_MS` and peer, with a count.
//!
//! Serving one frame is two public steps, [`read_request`] (decode) and [`answer`] (handler and
//! encoding); `crate::fuzzing` drives the same two without a socket.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sluice_protocol::api::{
    ApiKey, Request, RequestDecodeFailure, RequestHeader, Response, decode_request, encode_response,
};
use sluice_protocol::codec::{DecodeError, EncodeError};
use sluice_protocol::messages::ApiVersionsResponse;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};

use crate::api;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::log_limiter::LogLimiter;

/// Longest back-off between failed accepts.
const MAX_ACCEPT_BACKOFF_MS: u64 = 1_000;

/// A peer whose requests are refused (undecodable, oversized) gets at most one WARN line per
/// this interval, with the count of refusals held back since the last.
const REFUSED_REQUEST_LOG_INTERVAL_MS: u64 = 10_000;

/// Serves one bound listener until `shutdown` fires.
pub async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    listener_name: String,
    mut shutdown: broadcast::Receiver<()>,
    done: mpsc::Sender<()>,
) {
    let refusals = Arc::new(LogLimiter::new(Duration::from_millis(REFUSED_REQUEST_LOG_INTERVAL_MS)));
    let mut backoff_ms = 1;
    loop {
        let permit = tokio::select! {
            _ = shutdown.recv() => break,
            permit = broker.connection_slots.acquire() => permit,
        };
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
        let _ = socket.set_nodelay(true);
        let broker = broker.clone();
        let shutdown = shutdown.resubscribe();
        let done = done.clone();
        let listener_name = listener_name.clone();
        let refusals = refusals.clone();
        tokio::spawn(async move {
            if let Err(e) = (Connection { broker, socket, peer, listener_name, refusals }).run(shutdown).await {
                tracing::debug!(%peer, error = %e, "connection closed");
            }
            drop(permit);
            drop(done);
        });
    }
    tracing::info!(listener = %listener_name, "listener stopped");
}

struct Connection {
    broker: Arc<Broker>,
    socket: TcpStream,
    peer: SocketAddr,
    listener_name: String,
    /// Shared by the listener's connections: refusals are counted per peer address.
    refusals: Arc<LogLimiter<IpAddr>>,
}

impl Connection {
    async fn run(mut self, mut shutdown: broadcast::Receiver<()>) -> std::io::Result<()> {
        let idle = Duration::from_millis(self.broker.config.connections_max_idle_ms);
        let max_frame = self.broker.config.socket_request_max_bytes;
        loop {
            let mut size = [0u8; 4];
            let read = tokio::select! {
                _ = shutdown.recv() => return Ok(()),
                read = tokio::time::timeout(idle, self.socket.read_exact(&mut size)) => read,
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
            let size = i32::from_be_bytes(size);
            if size < 0 || size as usize > max_frame {
                if let Some(suppressed) = self.refusals.admit(&self.peer.ip(), Instant::now()) {
                    tracing::warn!(peer = %self.peer, size, max = max_frame, suppressed, "refusing frame larger than socket.request.max.bytes");
                }
                return Ok(());
            }
            let mut frame = BytesMut::zeroed(size as usize);
            self.socket.read_exact(&mut frame).await?;
            let frame = frame.freeze();
            let raw = frame.clone();
            let answer = match read_request(frame) {
                Ok((header, request)) => answer(&self.broker, &self.listener_name, self.peer, header, request).await,
                Err(answer) => answer,
            };
            let response = match answer {
                Answer::Respond(frame) => frame,
                Answer::Silent => continue, // acks=0: the client expects no answer
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
            self.socket.write_all(&response).await?;
        }
    }
}

/// What a connection does with one request frame.
#[derive(Debug)]
pub enum Answer {
    /// Write this response frame (size prefix included).
    Respond(BytesMut),
    /// Write nothing: a Produce with `acks=0`, whose client expects no answer.
    Silent,
    /// Close the connection; the refusal is for the log.
    Close(Refusal),
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
            Answer::Respond(
                encode_response(h.correlation_id, 0, &Response::ApiVersions(body))
                    .expect("the registry's ApiVersions answer fits its v0 format"),
            )
        }
        _ => Answer::Close(Refusal::Undecodable(failure)),
    })
}

/// The second step: hands a decoded request to its handler (`api::handle`) and encodes the
/// answer. `listener` is the name of the listener it arrived on, `peer` the client's address.
pub async fn answer(
    broker: &Broker,
    listener: &str,
    peer: SocketAddr,
    header: RequestHeader,
    request: Request,
) -> Answer {
    let version = header.api_version;
    let context = api::RequestContext { broker, header: &header, listener, peer };
    let Some(response) = api::handle(context, request).await else {
        return Answer::Silent;
    };
    match encode_response(header.correlation_id, version, &response) {
        Ok(frame) => Answer::Respond(frame),
        Err(error) => Answer::Close(Refusal::Unencodable { api: response.api_key().name(), version, error }),
    }
}
