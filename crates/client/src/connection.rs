//! One TCP connection to one broker, with pipelining: requests are written as they come and
//! responses (which Kafka sends in request order) are matched to them first-in, first-out.
//! On connect the API versions are negotiated (ApiVersions v3, falling back to v0), so each
//! request goes out at the highest version both sides speak. A peer that does not answer that
//! exchange as a Kafka broker (it closes, sends no Kafka frame, or stays silent for the connect
//! timeout) is reported as `NotKafka`, not as a decode error or a hang.
//!
//! Concurrency: a writer task owns the socket's write half and a reader task its read half;
//! callers talk to them through a bounded channel, so at most `MAX_QUEUED_REQUESTS` wait.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sluice_protocol::api::{ApiKey, Request, RequestHeader, Response, encode_request};
use sluice_protocol::error_code::ErrorCode;
use sluice_protocol::messages::{ApiVersionsRequest, SaslAuthenticateRequest, SaslHandshakeRequest};
use sluice_protocol::scram::{ScramClient, ScramMechanism};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::error::{ClientError, Result};

/// The highest Fetch version this client sends: from v13 topics are named by id (KIP-516),
/// which the consumer and the brokers' followers do not track.
const CLIENT_FETCH_MAX_VERSION: i16 = 12;

/// The highest Produce version this client sends: v13 names topics by id too.
const CLIENT_PRODUCE_MAX_VERSION: i16 = 12;

/// Requests queued for the writer at most.
const MAX_QUEUED_REQUESTS: usize = 64;
/// Largest response frame accepted.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// Kafka's UNSUPPORTED_VERSION, with which a broker refuses an ApiVersions version it lacks.
const UNSUPPORTED_VERSION: i16 = 35;

type Reply = oneshot::Sender<Result<Response>>;

struct Outgoing {
    frame: BytesMut,
    pending: Option<Pending>,
}

struct Pending {
    correlation_id: i32,
    key: ApiKey,
    version: i16,
    reply: Reply,
}

/// A SASL mechanism the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    Scram(ScramMechanism),
}

impl SaslMechanism {
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(m) => m.name(),
        }
    }

    /// By its name, as `sasl.mechanism` gives it (case-insensitive).
    pub fn from_name(name: &str) -> Option<SaslMechanism> {
        let name = name.trim().to_ascii_uppercase();
        if name == "PLAIN" {
            Some(SaslMechanism::Plain)
        } else {
            ScramMechanism::from_name(&name).map(SaslMechanism::Scram)
        }
    }
}

/// How a client authenticates on a `SASL_PLAINTEXT` listener.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslConfig {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"(hidden)")
            .finish()
    }
}

/// What a connection does before its first request: TLS (an `SSL` or `SASL_SSL` listener)
/// and SASL (a `SASL_PLAINTEXT` or `SASL_SSL` one).
#[derive(Debug, Clone, Default)]
pub struct Security {
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub sasl: Option<SaslConfig>,
}

/// A connection to one broker.
#[derive(Debug)]
pub struct BrokerConnection {
    address: String,
    tx: mpsc::Sender<Outgoing>,
    next_correlation: std::sync::atomic::AtomicI32,
    versions: HashMap<i16, (i16, i16)>,
    client_id: String,
    closed: Arc<AtomicBool>,
}

impl BrokerConnection {
    /// Connects and negotiates API versions, each within `timeout`.
    pub async fn connect(address: &str, client_id: &str, timeout: Duration) -> Result<Arc<BrokerConnection>> {
        Self::connect_with(address, client_id, timeout, &Security::default()).await
    }

    /// Connects (with TLS when `security` says so), negotiates API versions and, with SASL,
    /// authenticates, each step within `timeout`.
    pub async fn connect_with(
        address: &str,
        client_id: &str,
        timeout: Duration,
        security: &Security,
    ) -> Result<Arc<BrokerConnection>> {
        let sasl = security.sasl.as_ref();
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| ClientError::Connect {
                address: address.into(),
                reason: format!("no answer in {} ms", timeout.as_millis()),
            })?
            .map_err(|e| ClientError::Connect { address: address.into(), reason: e.to_string() })?;
        let _ = stream.set_nodelay(true);
        let (tx, rx) = mpsc::channel::<Outgoing>(MAX_QUEUED_REQUESTS);
        let queue: Arc<parking_lot_free::Mutex<VecDeque<Pending>>> = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        match &security.tls {
            None => {
                let (read, write) = stream.into_split();
                tokio::spawn(writer(write, rx, queue.clone(), address.to_string(), closed.clone()));
                tokio::spawn(reader(read, queue, address.to_string(), closed.clone()));
            }
            Some(tls) => {
                let fail = |reason: String| ClientError::Connect { address: address.into(), reason };
                let name = crate::tls::server_name(address).map_err(fail)?;
                let stream =
                    tokio::time::timeout(timeout, tokio_rustls::TlsConnector::from(tls.clone()).connect(name, stream))
                        .await
                        .map_err(|_| fail(format!("no TLS handshake in {} ms", timeout.as_millis())))?
                        .map_err(|e| fail(format!("TLS handshake failed: {e}")))?;
                let (read, write) = tokio::io::split(stream);
                tokio::spawn(writer(write, rx, queue.clone(), address.to_string(), closed.clone()));
                tokio::spawn(reader(read, queue, address.to_string(), closed.clone()));
            }
        }
        let mut conn = BrokerConnection {
            address: address.to_string(),
            tx,
            next_correlation: std::sync::atomic::AtomicI32::new(1),
            versions: HashMap::new(),
            client_id: client_id.to_string(),
            closed,
        };
        let r = conn.negotiate(timeout).await.map_err(|e| match e {
            // A Kafka broker answers ApiVersions at once, whatever it thinks of the client;
            // anything else here means something other than Kafka listens at this address.
            // Over TLS, a connection the broker ends at once was refused by its TLS layer.
            ClientError::Disconnected { reason, .. } if security.tls.is_some() => ClientError::Connect {
                address: address.into(),
                reason: format!(
                    "the TLS connection ended before ApiVersions was answered ({reason}): does the broker require a \
                     client certificate (ssl.certificate.location, ssl.key.location), or refuse this one?"
                ),
            },
            ClientError::Disconnected { reason, .. } if reason.contains("answered with TLS") => {
                ClientError::Connect { address: address.into(), reason }
            }
            ClientError::Disconnected { reason, .. } => ClientError::NotKafka {
                address: address.into(),
                reason: format!("the connection ended without a Kafka answer to ApiVersions: {reason}"),
            },
            ClientError::Protocol { error, .. } => ClientError::NotKafka {
                address: address.into(),
                reason: format!("its answer to ApiVersions is no Kafka response: {error}"),
            },
            ClientError::Timeout { ms, .. } => ClientError::NotKafka {
                address: address.into(),
                reason: format!("no answer to ApiVersions in {ms} ms"),
            },
            ClientError::Invalid(reason) => ClientError::NotKafka { address: address.into(), reason },
            other => other,
        })?;
        ClientError::check(r.error_code, None)?;
        conn.versions = r.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
        if let Some(sasl) = sasl {
            let fail = |reason: String| ClientError::Authentication { address: address.into(), reason };
            tokio::time::timeout(timeout, conn.authenticate(sasl))
                .await
                .map_err(|_| fail(format!("no answer in {} ms", timeout.as_millis())))??;
        }
        Ok(Arc::new(conn))
    }

    /// The SASL exchange (SaslHandshake v1, then SaslAuthenticate): PLAIN in one step, SCRAM in
    /// two, the server's last SCRAM message checked.
    async fn authenticate(&self, sasl: &SaslConfig) -> Result<()> {
        let fail = |reason: String| ClientError::Authentication { address: self.address.clone(), reason };
        let handshake = self
            .send_at(
                ApiKey::SaslHandshake,
                1,
                Request::SaslHandshake(SaslHandshakeRequest { mechanism: sasl.mechanism.name().into() }),
            )
            .await?;
        let Response::SaslHandshake(h) = handshake else {
            return Err(ClientError::Invalid("it answered SaslHandshake with another response type".into()));
        };
        if h.error_code != 0 {
            return Err(fail(format!(
                "{} is not enabled on this listener (it offers {})",
                sasl.mechanism.name(),
                if h.mechanisms.is_empty() { "none".to_string() } else { h.mechanisms.join(", ") }
            )));
        }
        let version = self.versions.get(&(ApiKey::SaslAuthenticate as i16)).map_or(0, |&(_, max)| max.clamp(0, 2));
        let exchange = |token: Vec<u8>| async move {
            match self
                .send_at(
                    ApiKey::SaslAuthenticate,
                    version,
                    Request::SaslAuthenticate(SaslAuthenticateRequest { auth_bytes: Bytes::from(token) }),
                )
                .await?
            {
                Response::SaslAuthenticate(r) if r.error_code == 0 => Ok(r.auth_bytes),
                Response::SaslAuthenticate(r) => Err(fail(r.error_message.unwrap_or_else(|| {
                    ErrorCode::from_code(r.error_code).map_or("refused".into(), |c| c.name().to_string())
                }))),
                _ => Err(ClientError::Invalid("it answered SaslAuthenticate with another response type".into())),
            }
        };
        match sasl.mechanism {
            SaslMechanism::Plain => {
                exchange(format!("\0{}\0{}", sasl.username, sasl.password).into_bytes()).await?;
            }
            SaslMechanism::Scram(m) => {
                let mut client = ScramClient::new(m, &sasl.username, &sasl.password).map_err(|e| fail(e.0))?;
                let server_first = exchange(client.first()).await?;
                let last = client.final_message(&server_first).map_err(|e| fail(e.0))?;
                let server_final = exchange(last).await?;
                client.verify(&server_final).map_err(|e| fail(e.0))?;
            }
        }
        Ok(())
    }

    /// Asks ApiVersions: v3 first; a broker that does not know it answers
    /// UNSUPPORTED_VERSION in the v0 format, listing what it does speak.
    async fn negotiate(&self, timeout: Duration) -> Result<sluice_protocol::messages::ApiVersionsResponse> {
        let timed_out = |_| ClientError::Timeout {
            what: format!("ApiVersions from {}", self.address),
            ms: timeout.as_millis() as u64,
        };
        let answer = self.send_at(
            ApiKey::ApiVersions,
            3,
            Request::ApiVersions(ApiVersionsRequest {
                client_software_name: "sluice".into(),
                client_software_version: env!("CARGO_PKG_VERSION").into(),
            }),
        );
        let mut response = tokio::time::timeout(timeout, answer).await.map_err(timed_out)??;
        if let Response::ApiVersions(r) = &response
            && r.error_code == UNSUPPORTED_VERSION
        {
            let answer = self.send_at(ApiKey::ApiVersions, 0, Request::ApiVersions(Default::default()));
            response = tokio::time::timeout(timeout, answer).await.map_err(timed_out)??;
        }
        match response {
            Response::ApiVersions(r) => Ok(r),
            _ => Err(ClientError::Invalid("it answered ApiVersions with another response type".into())),
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// The highest version of `key` both sides speak (Fetch and Produce at most v12: this
    /// client names topics, and v13 names them by id).
    pub fn version_for(&self, key: ApiKey) -> Result<i16> {
        let (our_min, our_max) = key.versions();
        let our_max = match key {
            ApiKey::Fetch => our_max.min(CLIENT_FETCH_MAX_VERSION),
            ApiKey::Produce => our_max.min(CLIENT_PRODUCE_MAX_VERSION),
            _ => our_max,
        };
        let (their_min, their_max) = self
            .versions
            .get(&(key as i16))
            .copied()
            .ok_or(ClientError::Unsupported { address: self.address.clone(), api: key.name() })?;
        let v = our_max.min(their_max);
        if v < our_min.max(their_min) {
            return Err(ClientError::Unsupported { address: self.address.clone(), api: key.name() });
        }
        Ok(v)
    }

    fn frame(&self, key: ApiKey, version: i16, request: &Request) -> Result<(i32, BytesMut)> {
        let correlation_id = self.next_correlation.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader {
            api_key: key as i16,
            api_version: version,
            correlation_id,
            client_id: Some(self.client_id.clone()),
        };
        let frame = encode_request(&header, request)
            .map_err(|e| ClientError::Invalid(format!("{} v{version} cannot be sent: {e}", key.name())))?;
        Ok((correlation_id, frame))
    }

    fn send_at(
        &self,
        key: ApiKey,
        version: i16,
        request: Request,
    ) -> impl std::future::Future<Output = Result<Response>> + use<> {
        let framed = self.frame(key, version, &request);
        let (reply, answer) = oneshot::channel();
        let tx = self.tx.clone();
        let address = self.address.clone();
        async move {
            let (correlation_id, frame) = framed?;
            let outgoing = Outgoing { frame, pending: Some(Pending { correlation_id, key, version, reply }) };
            tx.send(outgoing).await.map_err(|_| ClientError::Disconnected {
                address: address.clone(),
                reason: "connection closed".into(),
            })?;
            answer.await.map_err(|_| ClientError::Disconnected { address, reason: "connection closed".into() })?
        }
    }

    /// Sends `request` at the negotiated version and waits for its response.
    pub async fn send(&self, request: Request) -> Result<Response> {
        let key = request.api_key();
        let version = self.version_for(key)?;
        self.send_at(key, version, request).await
    }

    /// Sends a request that gets no response (Produce with acks=0).
    pub async fn send_without_response(&self, request: Request) -> Result<()> {
        let key = request.api_key();
        let version = self.version_for(key)?;
        let (_, frame) = self.frame(key, version, &request)?;
        self.tx.send(Outgoing { frame, pending: None }).await.map_err(|_| ClientError::Disconnected {
            address: self.address.clone(),
            reason: "connection closed".into(),
        })
    }
}

/// A tiny mutex wrapper so this crate needs no extra dependency: std's, poisoning ignored.
mod parking_lot_free {
    #[derive(Debug, Default)]
    pub struct Mutex<T>(std::sync::Mutex<T>);
    impl<T> Mutex<T> {
        pub fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|p| p.into_inner())
        }
    }
}

async fn writer(
    mut write: impl tokio::io::AsyncWrite + Unpin,
    mut rx: mpsc::Receiver<Outgoing>,
    queue: Arc<parking_lot_free::Mutex<VecDeque<Pending>>>,
    address: String,
    closed: Arc<AtomicBool>,
) {
    while let Some(out) = rx.recv().await {
        if let Some(p) = out.pending {
            queue.lock().push_back(p);
        }
        // A TLS stream holds records until flushed; a plain socket's flush does nothing.
        if let Err(e) = async {
            write.write_all(&out.frame).await?;
            write.flush().await
        }
        .await
        {
            tracing::debug!(%address, error = %e, "write failed");
            break;
        }
    }
    // The connection was dropped (or failed): say so to the broker, whose close then ends the
    // reader too. A TLS stream's halves share the socket, so without this the reader would hold
    // it open until the broker's idle timeout.
    let _ = write.shutdown().await;
    closed.store(true, Ordering::Relaxed);
    fail_all(&queue, &address, "connection closed");
}

async fn reader(
    mut read: impl tokio::io::AsyncRead + Unpin,
    queue: Arc<parking_lot_free::Mutex<VecDeque<Pending>>>,
    address: String,
    closed: Arc<AtomicBool>,
) {
    let reason = loop {
        let mut size = [0u8; 4];
        if let Err(e) = read.read_exact(&mut size).await {
            break e.to_string();
        }
        let size = i32::from_be_bytes(size);
        if size < 4 || size as usize > MAX_RESPONSE_BYTES {
            // A TLS record (handshake 0x16, alert 0x15, version 3.x) read as a frame size: the
            // listener speaks TLS and this connection does not.
            let head = size.to_be_bytes();
            if matches!(head[0], 0x15 | 0x16) && head[1] == 3 {
                break "the broker answered with TLS: this listener needs security.protocol=SSL or SASL_SSL".into();
            }
            break format!("a response frame of {size} bytes (Kafka's are 4 to {MAX_RESPONSE_BYTES})");
        }
        let mut frame = BytesMut::zeroed(size as usize);
        if let Err(e) = read.read_exact(&mut frame).await {
            break e.to_string();
        }
        let mut frame: Bytes = frame.freeze();
        let correlation_id = i32::from_be_bytes(frame[..4].try_into().expect("4 bytes checked above"));
        let Some(pending) = queue.lock().pop_front() else {
            break format!("unexpected response {correlation_id}");
        };
        if pending.correlation_id != correlation_id {
            let _ = pending.reply.send(Err(ClientError::Invalid(format!(
                "{address} answered correlation id {correlation_id}, expected {}",
                pending.correlation_id
            ))));
            break "responses out of order".into();
        }
        let mut body = frame.split_off(4);
        if pending.key.is_flexible(pending.version)
            && pending.key != ApiKey::ApiVersions
            && let Err(e) = sluice_protocol::codec::skip_tagged_fields(&mut body)
        {
            let _ = pending.reply.send(Err(ClientError::Protocol { address: address.clone(), error: e }));
            continue;
        }
        // An ApiVersions error answer always comes in the v0 format.
        let version = if pending.key == ApiKey::ApiVersions && body.len() >= 2 && body[..2] != [0, 0] {
            0
        } else {
            pending.version
        };
        let result = Response::decode(pending.key, version, &mut body)
            .map_err(|error| ClientError::Protocol { address: address.clone(), error });
        let _ = pending.reply.send(result);
    };
    tracing::debug!(%address, %reason, "connection closed");
    closed.store(true, Ordering::Relaxed);
    fail_all(&queue, &address, &reason);
}

fn fail_all(queue: &parking_lot_free::Mutex<VecDeque<Pending>>, address: &str, reason: &str) {
    for p in queue.lock().drain(..) {
        let _ = p.reply.send(Err(ClientError::Disconnected { address: address.into(), reason: reason.into() }));
    }
}
