//! The client half: an async ZooKeeper-protocol client, for brokers talking to keeper or to
//! Apache ZooKeeper 3.5+.
//!
//! One background task owns the session. It connects to the servers of the list in turn,
//! reattaches the session (id and password) after a lost connection, pings at a third of the
//! negotiated timeout, and re-registers watches with `setWatches2` on every new connection.
//! Requests are pipelined; replies come back in request order, so the pending queue is FIFO.
//! A request in flight when a connection drops fails with `ConnectionLoss`, as in ZooKeeper:
//! the caller decides whether it is safe to retry. The session's state (connected,
//! disconnected, expired, closed) is observable through [`ZkClient::state`]; one-shot watches
//! arrive on a `oneshot` receiver and persistent ones on a [`WatchStream`], a bounded queue
//! that the session task fills without ever waiting on its reader (see
//! [`MAX_QUEUED_WATCH_EVENTS_COUNT`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::acl::AclEntry;
use crate::data_tree::CreateMode;
use crate::error::ZkError;
use crate::jute::*;
use crate::server::{MAX_REPLY_FRAME_BYTES, encode as frame, read_frame};
use crate::watch::EventType;

/// The session as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Connecting,
    Connected,
    /// The connection dropped; the client is trying the servers again with the same session.
    Disconnected,
    /// A server said the session is gone (its ephemeral nodes and watches with it).
    Expired,
    Closed,
}

/// A change to a watched node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    pub event_type: i32,
    pub path: String,
}

/// Events one persistent watch ([`ZkClient::add_watch`]) holds for its reader, at most. The
/// session task hands events over without waiting (a slow reader must not stall the session's
/// replies and pings), so a reader that falls behind meets this bound instead: an event equal
/// to one already queued is dropped (the queued one makes the reader re-read the same node after
/// the change), and any other event clears the queue and leaves one
/// [`WatchNotice::Overflowed`] in its place, telling the reader to re-read everything the watch
/// covers. Either way a change is never lost without a notice that covers it. A broker's
/// watches see a few events per metadata change, so a reader keeping up stays far below this.
pub const MAX_QUEUED_WATCH_EVENTS_COUNT: usize = 4_096;

/// What a persistent watch's reader is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchNotice {
    /// A watched node changed.
    Event(NodeEvent),
    /// Events were dropped because the reader fell [`MAX_QUEUED_WATCH_EVENTS_COUNT`] behind:
    /// anything under the watch may have changed, so read it all again.
    Overflowed,
}

#[derive(Debug, Default)]
struct WatchQueue {
    events: VecDeque<NodeEvent>,
    /// Events were dropped since the reader last looked: it must re-read everything.
    overflowed: bool,
    /// The session task let go of the watch (the session ended): no more events will come.
    sender_gone: bool,
    /// The reader dropped its stream: the session task stops delivering.
    reader_gone: bool,
}

#[derive(Debug, Default)]
struct WatchShared {
    queue: parking_lot::Mutex<WatchQueue>,
    ready: Notify,
}

/// The session task's end of a persistent watch.
struct WatchSender(Arc<WatchShared>);

impl WatchSender {
    /// Queues `event` without waiting, within [`MAX_QUEUED_WATCH_EVENTS_COUNT`]; false once the
    /// reader has dropped its stream.
    fn send(&self, event: NodeEvent) -> bool {
        let mut q = self.0.queue.lock();
        if q.reader_gone {
            return false;
        }
        if q.overflowed {
            // The pending re-read of everything covers this change too.
            return true;
        }
        if q.events.len() < MAX_QUEUED_WATCH_EVENTS_COUNT {
            q.events.push_back(event);
        } else if !q.events.contains(&event) {
            q.events.clear();
            q.overflowed = true;
        }
        drop(q);
        self.0.ready.notify_one();
        true
    }
}

impl Drop for WatchSender {
    fn drop(&mut self) {
        self.0.queue.lock().sender_gone = true;
        self.0.ready.notify_one();
    }
}

/// The events of a persistent watch, in order, until the session ends (then `recv` gives
/// `None`). Bounded by [`MAX_QUEUED_WATCH_EVENTS_COUNT`]; see there for what a reader that falls
/// behind is told.
#[derive(Debug)]
pub struct WatchStream(Arc<WatchShared>);

impl WatchStream {
    fn new() -> (WatchSender, WatchStream) {
        let shared = Arc::new(WatchShared::default());
        (WatchSender(shared.clone()), WatchStream(shared))
    }

    /// The next notice, waiting for one; `None` once the session has ended and everything
    /// queued was read. An overflow notice comes before any event queued after it.
    pub async fn recv(&mut self) -> Option<WatchNotice> {
        loop {
            match self.try_recv() {
                Ok(notice) => return Some(notice),
                Err(true) => return None,
                // A notify_one() that finds no waiter is kept for the next notified(), so an
                // event queued between try_recv and here still wakes this call.
                Err(false) => self.0.ready.notified().await,
            }
        }
    }

    /// The next notice if one is queued; otherwise `Err(ended)`, `ended` being whether the
    /// session has ended (no more will come).
    pub fn try_recv(&mut self) -> std::result::Result<WatchNotice, bool> {
        let mut q = self.0.queue.lock();
        if std::mem::take(&mut q.overflowed) {
            return Ok(WatchNotice::Overflowed);
        }
        match q.events.pop_front() {
            Some(e) => Ok(WatchNotice::Event(e)),
            None => Err(q.sender_gone),
        }
    }

    /// Notices queued and not read yet (an overflow counts as one).
    pub fn len(&self) -> usize {
        let q = self.0.queue.lock();
        q.events.len() + usize::from(q.overflowed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.0.queue.lock().reader_gone = true;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum OneShot {
    Data,
    Exist,
    Child,
}

enum Registration {
    None,
    OneShot(OneShot, String, oneshot::Sender<NodeEvent>),
    Persistent { path: String, recursive: bool, tx: WatchSender },
}

struct Call {
    op: i32,
    body: Bytes,
    reply: oneshot::Sender<Result<Bytes>>,
    watch: Registration,
}

type Result<T> = std::result::Result<T, ZkError>;

/// What identifies a session to a server: its id and the password the server gave with it
/// (ZooKeeper's `sessionId` and `sessionPasswd`). A process that keeps them can take the
/// session over again after a restart, as ZooKeeper's client constructor with a session id does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCredentials {
    pub session_id: i64,
    pub passwd: Bytes,
}

/// The ACL a client gives each node it creates, by path.
pub type AclPolicy = Arc<dyn Fn(&str) -> Vec<AclEntry> + Send + Sync>;

/// How a client proves who it is and protects what it creates.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// Credentials sent with `addauth` on every connection, before any request (ZooKeeper's
    /// client does the same on reconnects): `(scheme, auth)`, as `("digest", "user:password")`.
    pub auth: Vec<(String, Bytes)>,
    /// The ACL of each node created (`None`: open to everyone, ZooKeeper's `OPEN_ACL_UNSAFE`).
    pub acl: Option<AclPolicy>,
    /// TLS towards the servers (their secure client port): each server's certificate checked
    /// against the configuration's roots (and its name, if the configuration's verifier does),
    /// and this client's certificate offered if the configuration has one (an `x509` identity).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// SASL DIGEST-MD5 credentials `(user, password)`, proven on every connection before
    /// anything else (the identity `sasl:<user>`).
    pub sasl: Option<(String, String)>,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials themselves.
        let schemes: Vec<&str> = self.auth.iter().map(|(s, _)| s.as_str()).collect();
        f.debug_struct("ClientOptions")
            .field("auth", &schemes)
            .field("acl", &self.acl.is_some())
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl ClientOptions {
    /// What a Kafka broker or tool uses: `auth` (`keeper.connect.auth`, `digest:user:password`)
    /// and, when `secure` (`zookeeper.set.acl`), Kafka's ACLs on what it creates
    /// ([`crate::acl::kafka_znode_acl`], applied below `chroot`).
    pub fn kafka(auth: Option<&str>, secure: bool, chroot: Option<&str>) -> Result<ClientOptions> {
        let mut options = ClientOptions::default();
        if let Some(setting) = auth {
            let (scheme, credentials) = crate::acl::parse_client_auth(setting).map_err(|_| ZkError::BadArguments)?;
            match credentials.split_once(':') {
                Some((user, password)) if scheme == "sasl" => options.sasl = Some((user.into(), password.into())),
                _ => options.auth.push((scheme, Bytes::from(credentials))),
            }
        }
        if secure {
            let root = chroot.unwrap_or_default().to_string();
            options.acl = Some(Arc::new(move |path: &str| {
                let relative = path.strip_prefix(root.as_str()).filter(|r| r.starts_with('/')).unwrap_or(path);
                crate::acl::kafka_znode_acl(relative)
            }));
        }
        Ok(options)
    }
}

/// A ZooKeeper session. Cloning shares it; dropping the last handle closes it.
#[derive(Clone)]
pub struct ZkClient {
    calls: mpsc::Sender<Call>,
    state: watch::Receiver<SessionState>,
    session: watch::Receiver<SessionCredentials>,
    acl: Option<AclPolicy>,
}

impl std::fmt::Debug for ZkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkClient")
            .field("session", &self.session.borrow().session_id)
            .field("state", &*self.state.borrow())
            .finish()
    }
}

fn wire_acl(acl: &[AclEntry]) -> Vec<Acl> {
    acl.iter().map(Acl::from).collect()
}

fn body(f: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut b = BytesMut::new();
    f(&mut b);
    b.freeze()
}

fn decode<T: Jute>(mut b: Bytes) -> Result<T> {
    decode_from(&mut b)
}

fn decode_from<T: Jute>(b: &mut Bytes) -> Result<T> {
    T::read(b).map_err(|_| ZkError::MarshallingError)
}

/// One operation of [`ZkClient::multi`].
#[derive(Debug, Clone)]
pub enum MultiOp {
    Create { path: String, data: Bytes, mode: CreateMode },
    Delete { path: String, version: i32 },
    SetData { path: String, data: Bytes, version: i32 },
    Check { path: String, version: i32 },
}

/// The outcome of one operation of a committed [`ZkClient::multi`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    Created(String),
    Deleted,
    Set(StatRecord),
    Checked,
    Failed(ZkError),
}

impl ZkClient {
    /// Connects to one of `servers` (`host:port,host:port`, an optional `/chroot` is refused)
    /// asking for `session_timeout`; waits up to `session_timeout` for the first connection.
    pub async fn connect(servers: &str, session_timeout: Duration) -> Result<ZkClient> {
        Self::connect_with(servers, session_timeout, ClientOptions::default()).await
    }

    /// [`ZkClient::connect`] with credentials and an ACL policy.
    pub async fn connect_with(servers: &str, session_timeout: Duration, options: ClientOptions) -> Result<ZkClient> {
        let fresh = SessionCredentials { session_id: 0, passwd: Bytes::from_static(&[0; 16]) };
        Self::open(servers, session_timeout, fresh, options).await
    }

    /// Takes over an existing session (a previous run's, from its credentials): its ephemeral
    /// nodes are then this client's, and [`ZkClient::close`] ends it at once. Fails with
    /// `SessionExpired` when the session is already gone.
    pub async fn resume(servers: &str, session_timeout: Duration, session: SessionCredentials) -> Result<ZkClient> {
        Self::open(servers, session_timeout, session, ClientOptions::default()).await
    }

    /// [`ZkClient::resume`] with credentials and an ACL policy.
    pub async fn resume_with(
        servers: &str,
        session_timeout: Duration,
        session: SessionCredentials,
        options: ClientOptions,
    ) -> Result<ZkClient> {
        Self::open(servers, session_timeout, session, options).await
    }

    async fn open(
        servers: &str,
        session_timeout: Duration,
        session: SessionCredentials,
        options: ClientOptions,
    ) -> Result<ZkClient> {
        let servers: Vec<String> =
            servers.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        if servers.is_empty() || servers.iter().any(|s| s.contains('/')) {
            return Err(ZkError::BadArguments);
        }
        let (calls_tx, calls_rx) = mpsc::channel(1024);
        let (state_tx, state) = watch::channel(SessionState::Connecting);
        let (session_tx, session) = watch::channel(session);
        let timeout_ms = session_timeout.as_millis().min(i32::MAX as u128) as i32;
        let mut task = SessionTask::new(servers, timeout_ms, state_tx, session_tx, options.auth, options.tls);
        task.sasl = options.sasl;
        tokio::spawn(task.run(calls_rx));
        let mut waiting = state.clone();
        let connected = tokio::time::timeout(
            session_timeout,
            waiting.wait_for(|s| matches!(s, SessionState::Connected | SessionState::Expired | SessionState::Closed)),
        )
        .await;
        match connected.map(|r| r.map(|s| *s)) {
            Ok(Ok(SessionState::Connected)) => {}
            Ok(Ok(SessionState::Expired)) => return Err(ZkError::SessionExpired),
            _ => return Err(ZkError::ConnectionLoss),
        }
        Ok(ZkClient { calls: calls_tx, state, session, acl: options.acl })
    }

    pub fn session_id(&self) -> i64 {
        self.session.borrow().session_id
    }

    /// The session's id and password, to take it over later with [`ZkClient::resume`].
    pub fn credentials(&self) -> SessionCredentials {
        self.session.borrow().clone()
    }

    /// The session's state, to watch for disconnection and expiry.
    pub fn state(&self) -> watch::Receiver<SessionState> {
        self.state.clone()
    }

    async fn call(&self, op: i32, body: Bytes, watch: Registration) -> Result<Bytes> {
        let (reply, rx) = oneshot::channel();
        self.calls.send(Call { op, body, reply, watch }).await.map_err(|_| ZkError::SessionExpired)?;
        rx.await.map_err(|_| ZkError::ConnectionLoss)?
    }

    /// The ACL this client gives a node it creates at `path`.
    fn acl_for(&self, path: &str) -> Vec<Acl> {
        match &self.acl {
            Some(policy) => wire_acl(&policy(path)),
            None => wire_acl(&AclEntry::open()),
        }
    }

    /// Creates a node with this client's ACL for its path; returns its path (with the sequence
    /// suffix for sequential modes).
    pub async fn create(&self, path: &str, data: &[u8], mode: CreateMode) -> Result<String> {
        self.create_raw(path, data, mode, self.acl_for(path)).await
    }

    /// Creates a node with the given ACL.
    pub async fn create_with_acl(&self, path: &str, data: &[u8], mode: CreateMode, acl: &[AclEntry]) -> Result<String> {
        self.create_raw(path, data, mode, wire_acl(acl)).await
    }

    async fn create_raw(&self, path: &str, data: &[u8], mode: CreateMode, acl: Vec<Acl>) -> Result<String> {
        let req =
            CreateRequest { path: path.into(), data: Some(Bytes::copy_from_slice(data)), acl, flags: mode.flags() };
        let r: CreateResponse = decode(self.call(op::CREATE, body(|o| req.write(o)), Registration::None).await?)?;
        Ok(r.path)
    }

    /// A node's ACL and stat.
    pub async fn get_acl(&self, path: &str) -> Result<(Vec<AclEntry>, StatRecord)> {
        let req = PathRequest { path: path.into() };
        let r: GetAclResponse = decode(self.call(op::GET_ACL, body(|o| req.write(o)), Registration::None).await?)?;
        Ok((r.acl.into_iter().map(AclEntry::from).collect(), r.stat))
    }

    /// Replaces a node's ACL when its ACL version is `version` (-1: any).
    pub async fn set_acl(&self, path: &str, acl: &[AclEntry], version: i32) -> Result<StatRecord> {
        let req = SetAclRequest { path: path.into(), acl: wire_acl(acl), version };
        let r: StatResponse = decode(self.call(op::SET_ACL, body(|o| req.write(o)), Registration::None).await?)?;
        Ok(r.stat)
    }

    /// Deletes a node if its version matches (-1: any version).
    pub async fn delete(&self, path: &str, version: i32) -> Result<()> {
        let req = DeleteRequest { path: path.into(), version };
        self.call(op::DELETE, body(|o| req.write(o)), Registration::None).await.map(drop)
    }

    pub async fn exists(&self, path: &str) -> Result<Option<StatRecord>> {
        self.exists_inner(path, Registration::None).await
    }

    /// `exists` leaving a one-shot watch that fires on creation, change or deletion.
    pub async fn exists_watch(&self, path: &str) -> Result<(Option<StatRecord>, oneshot::Receiver<NodeEvent>)> {
        let (tx, rx) = oneshot::channel();
        Ok((self.exists_inner(path, Registration::OneShot(OneShot::Exist, path.into(), tx)).await?, rx))
    }

    async fn exists_inner(&self, path: &str, watch: Registration) -> Result<Option<StatRecord>> {
        let req = PathWatchRequest { path: path.into(), watch: !matches!(watch, Registration::None) };
        match self.call(op::EXISTS, body(|o| req.write(o)), watch).await {
            Ok(b) => Ok(Some(decode::<StatResponse>(b)?.stat)),
            Err(ZkError::NoNode) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn get_data(&self, path: &str) -> Result<(Bytes, StatRecord)> {
        self.get_data_inner(path, Registration::None).await
    }

    /// `get_data` leaving a one-shot watch that fires on change or deletion.
    pub async fn get_data_watch(&self, path: &str) -> Result<(Bytes, StatRecord, oneshot::Receiver<NodeEvent>)> {
        let (tx, rx) = oneshot::channel();
        let (data, stat) = self.get_data_inner(path, Registration::OneShot(OneShot::Data, path.into(), tx)).await?;
        Ok((data, stat, rx))
    }

    async fn get_data_inner(&self, path: &str, watch: Registration) -> Result<(Bytes, StatRecord)> {
        let req = PathWatchRequest { path: path.into(), watch: !matches!(watch, Registration::None) };
        let r: GetDataResponse = decode(self.call(op::GET_DATA, body(|o| req.write(o)), watch).await?)?;
        Ok((r.data.unwrap_or_default(), r.stat))
    }

    /// Sets a node's data if its version matches (-1: any version): a compare-and-set.
    pub async fn set_data(&self, path: &str, data: &[u8], version: i32) -> Result<StatRecord> {
        let req = SetDataRequest { path: path.into(), data: Some(Bytes::copy_from_slice(data)), version };
        Ok(decode::<StatResponse>(self.call(op::SET_DATA, body(|o| req.write(o)), Registration::None).await?)?.stat)
    }

    pub async fn get_children(&self, path: &str) -> Result<Vec<String>> {
        self.get_children_inner(path, Registration::None).await
    }

    /// `get_children` leaving a one-shot watch that fires when the list changes or the node goes.
    pub async fn get_children_watch(&self, path: &str) -> Result<(Vec<String>, oneshot::Receiver<NodeEvent>)> {
        let (tx, rx) = oneshot::channel();
        let children = self.get_children_inner(path, Registration::OneShot(OneShot::Child, path.into(), tx)).await?;
        Ok((children, rx))
    }

    async fn get_children_inner(&self, path: &str, watch: Registration) -> Result<Vec<String>> {
        let req = PathWatchRequest { path: path.into(), watch: !matches!(watch, Registration::None) };
        Ok(decode::<GetChildrenResponse>(self.call(op::GET_CHILDREN, body(|o| req.write(o)), watch).await?)?.children)
    }

    /// A persistent watch (ZooKeeper 3.6+ `addWatch`) on `path`, or on its whole subtree with
    /// `recursive`: every event arrives on the stream until the session ends, or, for a reader
    /// that falls behind, a notice to re-read (see [`MAX_QUEUED_WATCH_EVENTS_COUNT`]).
    pub async fn add_watch(&self, path: &str, recursive: bool) -> Result<WatchStream> {
        let (tx, rx) = WatchStream::new();
        let req = AddWatchRequest { path: path.into(), mode: i32::from(recursive) };
        self.call(op::ADD_WATCH, body(|o| req.write(o)), Registration::Persistent { path: path.into(), recursive, tx })
            .await?;
        Ok(rx)
    }

    /// Runs `ops` atomically: all apply or none does. On failure the error is the first failing
    /// operation's (ZooKeeper marks the others `RUNTIMEINCONSISTENCY`).
    pub async fn multi(&self, ops: &[MultiOp]) -> Result<Vec<MultiResult>> {
        let request = body(|o| {
            for op in ops {
                match op {
                    MultiOp::Create { path, data, mode } => {
                        MultiHeader { op: op::CREATE, done: false, err: -1 }.write(o);
                        CreateRequest {
                            path: path.clone(),
                            data: Some(data.clone()),
                            acl: self.acl_for(path),
                            flags: mode.flags(),
                        }
                        .write(o);
                    }
                    MultiOp::Delete { path, version } => {
                        MultiHeader { op: op::DELETE, done: false, err: -1 }.write(o);
                        DeleteRequest { path: path.clone(), version: *version }.write(o);
                    }
                    MultiOp::SetData { path, data, version } => {
                        MultiHeader { op: op::SET_DATA, done: false, err: -1 }.write(o);
                        SetDataRequest { path: path.clone(), data: Some(data.clone()), version: *version }.write(o);
                    }
                    MultiOp::Check { path, version } => {
                        MultiHeader { op: op::CHECK, done: false, err: -1 }.write(o);
                        CheckVersionRequest { path: path.clone(), version: *version }.write(o);
                    }
                }
            }
            MultiHeader { op: -1, done: true, err: -1 }.write(o);
        });
        let mut reply = self.call(op::MULTI, request, Registration::None).await?;
        let mut results = Vec::with_capacity(ops.len());
        let mut first_error = None;
        loop {
            let h: MultiHeader = MultiHeader::read(&mut reply).map_err(|_| ZkError::MarshallingError)?;
            if h.done {
                break;
            }
            let r = match h.op {
                op::CREATE => MultiResult::Created(decode_from::<CreateResponse>(&mut reply)?.path),
                op::CREATE2 => MultiResult::Created(decode_from::<Create2Response>(&mut reply)?.path),
                op::DELETE => MultiResult::Deleted,
                op::SET_DATA => MultiResult::Set(decode_from::<StatResponse>(&mut reply)?.stat),
                op::CHECK => MultiResult::Checked,
                _ => {
                    let code = decode_from::<ErrorResponse>(&mut reply)?.err;
                    let e = ZkError::from_code(code);
                    if code != 0 && e != ZkError::RuntimeInconsistency {
                        first_error.get_or_insert(e);
                    }
                    MultiResult::Failed(e)
                }
            };
            results.push(r);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(results),
        }
    }

    /// Closes the session: its ephemeral nodes go at once.
    pub async fn close(&self) -> Result<()> {
        let r = self.call(op::CLOSE_SESSION, Bytes::new(), Registration::None).await.map(drop);
        let mut state = self.state.clone();
        let _ = tokio::time::timeout(Duration::from_secs(5), state.wait_for(|s| *s == SessionState::Closed)).await;
        r
    }
}

/// A connection to a server, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

struct Pending {
    xid: i32,
    op: i32,
    reply: oneshot::Sender<Result<Bytes>>,
    watch: Registration,
}

struct SessionTask {
    servers: Vec<String>,
    next_server: usize,
    timeout_ms: i32,
    session_id: i64,
    passwd: Bytes,
    last_zxid: i64,
    xid: i32,
    one_shot: HashMap<(OneShot, String), Vec<oneshot::Sender<NodeEvent>>>,
    persistent: Vec<(String, bool, WatchSender)>,
    state: watch::Sender<SessionState>,
    session: watch::Sender<SessionCredentials>,
    /// `addauth` credentials, sent on every connection.
    auth: Vec<(String, Bytes)>,
    tls: Option<tokio_rustls::TlsConnector>,
    sasl: Option<(String, String)>,
}

/// The backoff after a refused login grows by this per failure, up to ten times it.
const AUTH_RETRY_BACKOFF_MS: u64 = 500;

enum Ended {
    /// The connection dropped: try again with the same session.
    Lost,
    /// The session is over (closed or expired), or every handle is gone.
    Done,
    /// The server refused the credentials: tried again after a backoff (a password may be
    /// fixed on the server meanwhile), never in a tight loop.
    AuthFailed,
}

impl SessionTask {
    fn new(
        servers: Vec<String>,
        timeout_ms: i32,
        state: watch::Sender<SessionState>,
        session: watch::Sender<SessionCredentials>,
        auth: Vec<(String, Bytes)>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        let SessionCredentials { session_id, passwd } = session.borrow().clone();
        SessionTask {
            servers,
            next_server: 0,
            timeout_ms,
            session_id,
            passwd,
            last_zxid: 0,
            xid: 0,
            one_shot: HashMap::new(),
            persistent: Vec::new(),
            state,
            session,
            auth,
            tls: tls.map(tokio_rustls::TlsConnector::from),
            sasl: None,
        }
    }

    async fn run(mut self, mut calls: mpsc::Receiver<Call>) {
        let mut failures = 0u32;
        loop {
            // Every handle gone (or none ever handed out: the first connection timed out).
            if calls.is_closed() {
                break;
            }
            let server = self.servers[self.next_server % self.servers.len()].clone();
            self.next_server += 1;
            let socket = match tokio::time::timeout(self.connect_timeout(), self.open_connection(&server)).await {
                Ok(Ok(s)) => s,
                other => {
                    if let Ok(Err(e)) = other
                        && e.kind() == std::io::ErrorKind::InvalidData
                    {
                        tracing::warn!(%server, error = %e, "keeper TLS handshake failed");
                    }
                    failures += 1;
                    // Fail callers fast while no server answers, rather than queueing forever.
                    while let Ok(call) = calls.try_recv() {
                        let _ = call.reply.send(Err(ZkError::ConnectionLoss));
                    }
                    if calls.is_closed() {
                        break;
                    }
                    let backoff = Duration::from_millis(50 * u64::from(failures.min(20)));
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            match self.serve(socket, &mut calls).await {
                Ended::Lost => {
                    failures = 0;
                    let _ = self.state.send(SessionState::Disconnected);
                }
                Ended::AuthFailed => {
                    failures += 1;
                    let _ = self.state.send(SessionState::Disconnected);
                    tokio::time::sleep(Duration::from_millis(AUTH_RETRY_BACKOFF_MS * u64::from(failures.min(10))))
                        .await;
                }
                Ended::Done => break,
            }
        }
        if !matches!(*self.state.borrow(), SessionState::Expired) {
            let _ = self.state.send(SessionState::Closed);
        }
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_millis((self.timeout_ms.max(3_000) / self.servers.len().max(1) as i32).max(1_000) as u64)
    }

    /// A connection to `server`: TCP, and TLS over it when the options ask for it.
    async fn open_connection(&self, server: &str) -> std::io::Result<Box<dyn Stream>> {
        let socket = TcpStream::connect(server).await?;
        let _ = socket.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(socket)),
            Some(connector) => {
                let name = crate::tls::server_name(server)?;
                Ok(Box::new(connector.connect(name, socket).await?))
            }
        }
    }

    async fn serve(&mut self, socket: Box<dyn Stream>, calls: &mut mpsc::Receiver<Call>) -> Ended {
        let (mut read, mut write) = tokio::io::split(socket);
        // Handshake.
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.last_zxid,
            timeout_ms: self.timeout_ms,
            session_id: self.session_id,
            passwd: Some(self.passwd.clone()),
        };
        let hello = frame(|o| {
            req.write(o);
            false.write(o);
        });
        if write.write_all(&hello).await.is_err() {
            return Ended::Lost;
        }
        let Ok(Ok(Some(mut reply))) =
            tokio::time::timeout(self.connect_timeout(), read_frame(&mut read, MAX_REPLY_FRAME_BYTES)).await
        else {
            return Ended::Lost;
        };
        let Ok(r) = ConnectResponse::read(&mut reply) else { return Ended::Lost };
        if r.timeout_ms <= 0 {
            tracing::warn!(session = format!("{:#x}", self.session_id), "keeper session expired");
            let _ = self.state.send(SessionState::Expired);
            self.one_shot.clear();
            self.persistent.clear();
            return Ended::Done;
        }
        self.session_id = r.session_id;
        self.passwd = r.passwd.unwrap_or_default();
        self.timeout_ms = r.timeout_ms;
        let _ = self.session.send(SessionCredentials { session_id: self.session_id, passwd: self.passwd.clone() });

        // Credentials first, so that every request after them is made as who they prove.
        if let Some((user, password)) = self.sasl.clone()
            && let Err(e) = self.sasl_exchange(&mut read, &mut write, &user, &password).await
        {
            tracing::error!(%user, error = %e, "keeper SASL authentication failed");
            return Ended::AuthFailed;
        }
        for (scheme, auth) in &self.auth {
            let packet = AuthPacket { auth_type: 0, scheme: scheme.clone(), auth: Some(auth.clone()) };
            let f = frame(|o| {
                RequestHeader { xid: AUTH_XID, op: op::AUTH }.write(o);
                packet.write(o);
            });
            if write.write_all(&f).await.is_err() {
                return Ended::Lost;
            }
        }
        // Watches survive the reconnect: tell the new server about them.
        let mut pending: VecDeque<Pending> = VecDeque::new();
        if !self.one_shot.is_empty() || !self.persistent.is_empty() {
            let mut sw = SetWatches2 { relative_zxid: self.last_zxid, ..Default::default() };
            for (kind, path) in self.one_shot.keys() {
                match kind {
                    OneShot::Data => sw.data_watches.push(path.clone()),
                    OneShot::Exist => sw.exist_watches.push(path.clone()),
                    OneShot::Child => sw.child_watches.push(path.clone()),
                }
            }
            for (path, recursive, _) in &self.persistent {
                if *recursive {
                    sw.persistent_recursive_watches.push(path.clone())
                } else {
                    sw.persistent_watches.push(path.clone())
                }
            }
            let f = frame(|o| {
                RequestHeader { xid: SET_WATCHES_XID, op: op::SET_WATCHES2 }.write(o);
                sw.write(o);
            });
            if write.write_all(&f).await.is_err() {
                return Ended::Lost;
            }
        }
        let _ = self.state.send(SessionState::Connected);

        let ping_every = Duration::from_millis((self.timeout_ms / 3).max(100) as u64);
        let read_timeout = Duration::from_millis((self.timeout_ms * 2 / 3).max(200) as u64);
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        let (frames_tx, mut frames) = mpsc::channel::<std::io::Result<Option<Bytes>>>(64);
        let reader = tokio::spawn(async move {
            loop {
                let f = read_frame(&mut read, MAX_REPLY_FRAME_BYTES).await;
                let end = !matches!(f, Ok(Some(_)));
                if frames_tx.send(f).await.is_err() || end {
                    break;
                }
            }
        });
        let mut last_heard = tokio::time::Instant::now();
        let mut closing = false;
        let ended = loop {
            tokio::select! {
                call = calls.recv(), if !closing => {
                    let Some(call) = call else {
                        // Every handle dropped: close the session politely.
                        closing = true;
                        let xid = self.next_xid();
                        let (reply, _) = oneshot::channel();
                        pending.push_back(Pending { xid, op: op::CLOSE_SESSION, reply, watch: Registration::None });
                        let f = frame(|o| RequestHeader { xid, op: op::CLOSE_SESSION }.write(o));
                        if write.write_all(&f).await.is_err() { break Ended::Done; }
                        continue;
                    };
                    let xid = self.next_xid();
                    closing = call.op == op::CLOSE_SESSION;
                    let f = frame(|o| {
                        RequestHeader { xid, op: call.op }.write(o);
                        o.extend_from_slice(&call.body);
                    });
                    pending.push_back(Pending { xid, op: call.op, reply: call.reply, watch: call.watch });
                    if write.write_all(&f).await.is_err() { break Ended::Lost; }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > read_timeout {
                        tracing::debug!("keeper server silent; reconnecting");
                        break Ended::Lost;
                    }
                    let f = frame(|o| RequestHeader { xid: PING_XID, op: op::PING }.write(o));
                    if write.write_all(&f).await.is_err() { break Ended::Lost; }
                }
                f = frames.recv() => {
                    let Some(Ok(Some(mut f))) = f else {
                        break if closing { Ended::Done } else { Ended::Lost };
                    };
                    last_heard = tokio::time::Instant::now();
                    let Ok(h) = ReplyHeader::read(&mut f) else { break Ended::Lost };
                    if h.zxid > 0 { self.last_zxid = self.last_zxid.max(h.zxid); }
                    match h.xid {
                        NOTIFICATION_XID => {
                            if let Ok(e) = WatcherEvent::read(&mut f) { self.dispatch(e); }
                        }
                        AUTH_XID if h.err != 0 => {
                            tracing::error!(err = %ZkError::from_code(h.err), "keeper refused this client's credentials");
                        }
                        PING_XID | SET_WATCHES_XID | AUTH_XID => {}
                        xid => {
                            let Some(p) = pending.pop_front() else { break Ended::Lost };
                            if p.xid != xid {
                                tracing::warn!(expected = p.xid, got = xid, "keeper reply out of order");
                                let _ = p.reply.send(Err(ZkError::ConnectionLoss));
                                break Ended::Lost;
                            }
                            self.complete(p, h.err, f);
                            if closing && pending.is_empty() { break Ended::Done; }
                        }
                    }
                }
            }
        };
        reader.abort();
        for p in pending {
            let _ = p.reply.send(Err(ZkError::ConnectionLoss));
        }
        ended
    }

    /// SASL DIGEST-MD5 with the server, before any other request on the connection.
    async fn sasl_exchange(
        &mut self,
        read: &mut (impl tokio::io::AsyncRead + Unpin),
        write: &mut (impl AsyncWrite + Unpin),
        user: &str,
        password: &str,
    ) -> std::result::Result<(), String> {
        let mut client = crate::sasl::DigestMd5Client::new(user, password);
        let mut token = Bytes::new();
        // The empty opening, the response to the challenge; the server's rspauth ends it.
        for round in 0..2 {
            let xid = self.next_xid();
            let f = frame(|o| {
                RequestHeader { xid, op: op::SASL }.write(o);
                SaslToken { token: Some(token.clone()) }.write(o);
            });
            write.write_all(&f).await.map_err(|e| e.to_string())?;
            let reply = tokio::time::timeout(self.connect_timeout(), read_frame(read, MAX_REPLY_FRAME_BYTES))
                .await
                .map_err(|_| "no SASL answer in time".to_string())?
                .map_err(|e| e.to_string())?
                .ok_or("the server closed the connection")?;
            let mut reply = reply;
            let h = ReplyHeader::read(&mut reply).map_err(|_| "a malformed SASL answer".to_string())?;
            if h.err != 0 {
                return Err(format!("the server refused: {}", ZkError::from_code(h.err)));
            }
            let answer = SaslToken::read(&mut reply).map_err(|_| "a malformed SASL answer".to_string())?;
            let answer = answer.token.unwrap_or_default();
            if round == 0 {
                token = Bytes::from(client.respond(&answer)?);
            } else {
                client.verify(&answer)?;
            }
        }
        Ok(())
    }

    fn next_xid(&mut self) -> i32 {
        self.xid = if self.xid == i32::MAX { 1 } else { self.xid + 1 };
        self.xid
    }

    fn complete(&mut self, p: Pending, err: i32, body: Bytes) {
        // A watch is registered when the read succeeded, or for exists on a missing node.
        let registered = err == 0 || (err == ZkError::NoNode.code() && p.op == op::EXISTS);
        match p.watch {
            Registration::OneShot(kind, path, tx) if registered => {
                self.one_shot.entry((kind, path)).or_default().push(tx);
            }
            Registration::Persistent { path, recursive, tx } if err == 0 => {
                self.persistent.push((path, recursive, tx));
            }
            _ => {}
        }
        // A failed multi still carries its per-operation results; the caller reads the errors there.
        let ok = err == 0 || (p.op == op::MULTI && !body.is_empty());
        let _ = p.reply.send(if ok { Ok(body) } else { Err(ZkError::from_code(err)) });
    }

    fn dispatch(&mut self, e: WatcherEvent) {
        let event = NodeEvent { event_type: e.event_type, path: e.path.clone() };
        let kinds: &[OneShot] = match e.event_type {
            t if t == EventType::NodeCreated as i32 || t == EventType::NodeDataChanged as i32 => {
                &[OneShot::Data, OneShot::Exist]
            }
            t if t == EventType::NodeDeleted as i32 => &[OneShot::Data, OneShot::Exist, OneShot::Child],
            t if t == EventType::NodeChildrenChanged as i32 => &[OneShot::Child],
            _ => &[],
        };
        for kind in kinds {
            for tx in self.one_shot.remove(&(*kind, e.path.clone())).unwrap_or_default() {
                let _ = tx.send(event.clone());
            }
        }
        self.persistent.retain(|(path, recursive, tx)| {
            let hit = if *recursive {
                e.event_type != EventType::NodeChildrenChanged as i32
                    && (path == "/" || e.path == *path || e.path.starts_with(&format!("{path}/")))
            } else {
                e.path == *path
            };
            !hit || tx.send(event.clone())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> NodeEvent {
        NodeEvent { event_type: EventType::NodeDataChanged as i32, path: format!("/brokers/ids/{n}") }
    }

    #[tokio::test]
    async fn events_arrive_in_order_and_the_stream_ends_with_the_session() {
        let (tx, mut rx) = WatchStream::new();
        assert!(tx.send(event(1)) && tx.send(event(2)));
        drop(tx);
        assert_eq!(rx.recv().await, Some(WatchNotice::Event(event(1))));
        assert_eq!(rx.recv().await, Some(WatchNotice::Event(event(2))));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_flood_the_reader_does_not_read_stays_bounded_and_says_to_re_read() {
        // The session task keeps delivering while nobody reads: it never waits, the queue never
        // grows past its bound, and the reader still learns that it must re-read everything.
        let (tx, mut rx) = WatchStream::new();
        for n in 0..MAX_QUEUED_WATCH_EVENTS_COUNT {
            assert!(tx.send(event(n)));
        }
        assert_eq!(rx.len(), MAX_QUEUED_WATCH_EVENTS_COUNT);
        // Full: a repeat of a queued event is coalesced into it, nothing else changes.
        assert!(tx.send(event(7)));
        assert_eq!((rx.len(), rx.try_recv()), (MAX_QUEUED_WATCH_EVENTS_COUNT, Ok(WatchNotice::Event(event(0)))));
        assert!(tx.send(event(0)), "room for one again");
        assert!(tx.send(event(0)), "now a repeat of the event just queued");
        assert_eq!(rx.len(), MAX_QUEUED_WATCH_EVENTS_COUNT);
        // A new event that does not fit: the queue gives way to one overflow notice.
        for n in 0..10 * MAX_QUEUED_WATCH_EVENTS_COUNT {
            assert!(tx.send(event(MAX_QUEUED_WATCH_EVENTS_COUNT + n)));
            assert!(rx.len() <= MAX_QUEUED_WATCH_EVENTS_COUNT);
        }
        assert_eq!(rx.len(), 1);
        assert_eq!(rx.recv().await, Some(WatchNotice::Overflowed));
        // Events after the reader took the notice are delivered one by one again.
        assert!(tx.send(event(1)));
        assert_eq!(rx.recv().await, Some(WatchNotice::Event(event(1))));
        assert_eq!(rx.try_recv(), Err(false));
        drop(tx);
        assert_eq!(rx.try_recv(), Err(true));
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_for_an_event_and_a_dropped_reader_ends_delivery() {
        let (tx, mut rx) = WatchStream::new();
        let reader = tokio::spawn(async move {
            let notice = rx.recv().await;
            (notice, rx)
        });
        tokio::task::yield_now().await;
        assert!(tx.send(event(3)));
        let (notice, rx) = tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .expect("the reader wakes")
            .expect("the reader task");
        assert_eq!(notice, Some(WatchNotice::Event(event(3))));
        drop(rx);
        assert!(!tx.send(event(4)), "the session task drops a watch nobody reads");
    }
}
