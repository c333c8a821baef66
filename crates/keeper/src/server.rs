//! A single-node keeper server speaking ZooKeeper's client protocol over TCP: the connect
//! handshake (timeouts negotiated into ZooKeeper's `[2, 20] x tickTime` range, sessions created or
//! reattached with their password, expired sessions answered with a zero timeout), then
//! requests in order per connection. Writes get the next zxid and go through the [`DataTree`];
//! the notifications they cause are queued on each watching session's connection before the
//! writer's reply. Sessions that stay silent past their timeout expire: their ephemeral nodes
//! and watches go.
//!
//! Replication (every write through Raft, expiry decided by the keeper leader) comes next; this
//! server is the state machine's first host.
//!
//! Concurrency: one lock over the tree, the watches and the sessions, never held across an
//! await; each connection has a bounded outgoing queue drained by its own writer task.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::data_tree::{CreateMode, DataTree, Op, OpResult};
use crate::error::ZkError;
use crate::jute::*;
use crate::watch::{EventType, SYNC_CONNECTED, WatchKind, WatchManager};

/// ZooKeeper's `tickTime` default.
pub const TICK_TIME_MS: i32 = 2_000;

/// Session timeout bounds, as ZooKeeper's `tickTime`, `minSessionTimeout` and
/// `maxSessionTimeout` (defaults: 2 and 20 ticks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeeperConfig {
    pub tick_time_ms: i32,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
}

impl Default for KeeperConfig {
    fn default() -> Self {
        KeeperConfig::with_tick(TICK_TIME_MS)
    }
}

impl KeeperConfig {
    /// ZooKeeper's defaults for a tick: sessions between 2 and 20 ticks.
    pub fn with_tick(tick_time_ms: i32) -> Self {
        KeeperConfig {
            tick_time_ms,
            min_session_timeout_ms: 2 * tick_time_ms,
            max_session_timeout_ms: 20 * tick_time_ms,
        }
    }
}
/// Largest frame accepted (ZooKeeper's `jute.maxbuffer` default is about 1 MiB).
pub const MAX_FRAME_BYTES: usize = 1024 * 1024 + 1024;
/// Frames waiting to be written to one connection, at most.
const MAX_QUEUED_FRAMES: usize = 4096;

#[derive(Debug)]
struct Session {
    timeout_ms: i32,
    passwd: Bytes,
    last_seen: Instant,
    out: Option<mpsc::Sender<Bytes>>,
}

#[derive(Debug, Default)]
struct State {
    tree: DataTree,
    watches: WatchManager,
    sessions: HashMap<i64, Session>,
    zxid: i64,
    next_session: i64,
}

/// The keeper server's shared state.
#[derive(Debug)]
pub struct Keeper {
    state: Mutex<State>,
    started: Instant,
    config: KeeperConfig,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// One length-prefixed frame.
pub(crate) fn encode(parts: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut out = BytesMut::with_capacity(64);
    out.extend_from_slice(&[0; 4]);
    parts(&mut out);
    let n = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&n.to_be_bytes());
    out.freeze()
}

/// A watch notification (`xid` -1) for a node event.
fn event_frame(event_type: EventType, path: &str) -> Bytes {
    encode(|o| {
        ReplyHeader { xid: NOTIFICATION_XID, zxid: -1, err: 0 }.write(o);
        WatcherEvent { event_type: event_type as i32, state: SYNC_CONNECTED, path: path.into() }.write(o);
    })
}

/// A reply with no body.
fn reply_ok(xid: i32, zxid: i64) -> Bytes {
    encode(|o| ReplyHeader { xid, zxid, err: 0 }.write(o))
}

fn reply_error(xid: i32, zxid: i64, err: ZkError) -> Bytes {
    encode(|o| ReplyHeader { xid, zxid, err: err.code() }.write(o))
}

impl Keeper {
    pub fn new() -> Arc<Keeper> {
        Keeper::with_config(KeeperConfig::default())
    }

    pub fn with_config(config: KeeperConfig) -> Arc<Keeper> {
        Arc::new(Keeper {
            state: Mutex::new(State { next_session: 1, ..Default::default() }),
            started: Instant::now(),
            config,
        })
    }

    /// Serves `listener` until the task is dropped; also expires silent sessions.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let expirer = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                expirer.expire_sessions();
            }
        });
        loop {
            let Ok((socket, peer)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let _ = socket.set_nodelay(true);
            let keeper = self.clone();
            tokio::spawn(async move {
                if let Err(e) = keeper.connection(socket, peer).await {
                    tracing::debug!(%peer, error = %e, "keeper connection closed");
                }
            });
        }
    }

    /// The answer to a four-letter word (`ruok`, `srvr`, `mntr`; ZooKeeper's other words are
    /// refused as outside the whitelist), or `None` when `word` starts a protocol frame.
    fn four_letter_word(&self, word: &[u8; 4]) -> Option<String> {
        const REFUSED: [&[u8; 4]; 15] = [
            b"conf", b"cons", b"crst", b"dump", b"envi", b"gtmk", b"stmk", b"srst", b"stat", b"wchc", b"wchp", b"wchs",
            b"dirs", b"isro", b"hash",
        ];
        let st = self.state.lock();
        let connections = st.sessions.values().filter(|s| s.out.is_some()).count();
        let version = env!("CARGO_PKG_VERSION");
        Some(match word {
            b"ruok" => "imok".to_string(),
            b"srvr" => format!(
                "Zookeeper version: sluice-keeper {version}\nConnections: {connections}\nZxid: {:#x}\nMode: standalone\nNode count: {}\n",
                st.zxid,
                st.tree.node_count()
            ),
            b"mntr" => {
                let ephemerals: usize = st.sessions.keys().map(|id| st.tree.ephemerals_of(*id).len()).sum();
                format!(
                    "zk_version\tsluice-keeper {version}\nzk_server_state\tstandalone\nzk_znode_count\t{}\nzk_num_alive_connections\t{connections}\nzk_ephemerals_count\t{ephemerals}\nzk_global_sessions\t{}\n",
                    st.tree.node_count(),
                    st.sessions.len()
                )
            }
            w if REFUSED.contains(&w) => {
                format!("{} is not executed because it is not in the whitelist.\n", String::from_utf8_lossy(w))
            }
            _ => return None,
        })
    }

    fn expire_sessions(&self) {
        let mut st = self.state.lock();
        let now = Instant::now();
        let expired: Vec<i64> = st
            .sessions
            .iter()
            .filter(|(_, s)| now.duration_since(s.last_seen) > Duration::from_millis(s.timeout_ms as u64))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            tracing::info!(session = format!("{id:#x}"), "session expired");
            Self::end_session(&mut st, id);
        }
    }

    fn end_session(st: &mut State, id: i64) {
        st.sessions.remove(&id);
        st.watches.remove_session(id);
        st.zxid += 1;
        let zxid = st.zxid;
        let mut changes = Vec::new();
        st.tree.close_session(id, zxid, &mut changes);
        Self::notify(st, &changes);
    }

    fn notify(st: &mut State, changes: &[crate::data_tree::Change]) {
        for (session, event) in st.watches.trigger(changes) {
            Self::send_event(st, session, event.event_type, &event.path);
        }
    }

    /// Queues a notification on the session's connection. A connection too far behind to take
    /// it is cut loose rather than let an event vanish: the client reconnects, sets its watches
    /// again with its last zxid, and hears at once of what it missed.
    fn send_event(st: &mut State, session: i64, event_type: EventType, path: &str) {
        let Some(s) = st.sessions.get_mut(&session) else { return };
        if let Some(out) = &s.out
            && out.try_send(event_frame(event_type, path)).is_err()
        {
            tracing::warn!(session = format!("{session:#x}"), "watch notifications backed up; dropping the connection");
            s.out = None;
        }
    }

    async fn connection(self: Arc<Self>, socket: TcpStream, peer: SocketAddr) -> std::io::Result<()> {
        let (mut read, mut write) = socket.into_split();
        let mut size = [0u8; 4];
        if read.read_exact(&mut size).await.is_err() {
            return Ok(());
        }
        // ZooKeeper's four-letter words share the port: plain text in, plain text out, close.
        if let Some(text) = self.four_letter_word(&size) {
            write.write_all(text.as_bytes()).await?;
            let _ = write.shutdown().await;
            return Ok(());
        }
        let Some(mut first) = read_body(&mut read, i32::from_be_bytes(size)).await? else { return Ok(()) };
        let Ok(connect) = ConnectRequest::read(&mut first) else { return Ok(()) };
        let read_only_flag = first.has_remaining();
        let (tx, mut rx) = mpsc::channel::<Bytes>(MAX_QUEUED_FRAMES);
        let (session, timeout_ms, passwd) = {
            let mut st = self.state.lock();
            let timeout =
                connect.timeout_ms.clamp(self.config.min_session_timeout_ms, self.config.max_session_timeout_ms);
            if connect.session_id != 0 {
                let known = st
                    .sessions
                    .get_mut(&connect.session_id)
                    .filter(|s| connect.passwd.as_deref() == Some(&s.passwd[..]));
                match known {
                    Some(s) => {
                        s.last_seen = Instant::now();
                        s.out = Some(tx.clone());
                        (connect.session_id, s.timeout_ms, s.passwd.clone())
                    }
                    // Unknown or expired: a zero timeout tells the client its session is gone.
                    None => (0, 0, Bytes::from_static(&[0; 16])),
                }
            } else {
                let id = (self.started.elapsed().as_nanos() as i64 & 0x00ff_ffff_0000_0000) | st.next_session;
                st.next_session += 1;
                let passwd = Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                st.sessions.insert(
                    id,
                    Session {
                        timeout_ms: timeout,
                        passwd: passwd.clone(),
                        last_seen: Instant::now(),
                        out: Some(tx.clone()),
                    },
                );
                tracing::debug!(%peer, session = format!("{id:#x}"), timeout, "session created");
                (id, timeout, passwd)
            }
        };
        let response = encode(|o| {
            ConnectResponse { protocol_version: 0, timeout_ms, session_id: session, passwd: Some(passwd.clone()) }
                .write(o);
            if read_only_flag {
                false.write(o);
            }
        });
        write.write_all(&response).await?;
        if session == 0 {
            return Ok(());
        }
        let mut writer = tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if write.write_all(&frame).await.is_err() {
                    break;
                }
            }
        });
        let result = self.requests(&mut read, session, &tx).await;
        {
            // Detach unless the session has already moved to a newer connection.
            let mut st = self.state.lock();
            if let Some(s) = st.sessions.get_mut(&session)
                && s.out.as_ref().is_some_and(|o| o.same_channel(&tx))
            {
                s.out = None;
            }
        }
        // With every sender gone the writer flushes what is queued (a closeSession reply) and ends.
        drop(tx);
        if tokio::time::timeout(Duration::from_secs(1), &mut writer).await.is_err() {
            writer.abort();
        }
        result
    }

    /// Serves one connection's requests while it owns `session` (a reattach from another
    /// connection takes the session over and this one closes, as in ZooKeeper).
    async fn requests(
        &self,
        read: &mut tokio::net::tcp::OwnedReadHalf,
        session: i64,
        mine: &mpsc::Sender<Bytes>,
    ) -> std::io::Result<()> {
        while let Some(mut frame) = read_frame(read).await? {
            let Ok(header) = RequestHeader::read(&mut frame) else { return Ok(()) };
            let close = header.op == op::CLOSE_SESSION;
            let out = {
                let mut st = self.state.lock();
                match st.sessions.get_mut(&session) {
                    Some(s) if s.out.as_ref().is_some_and(|o| o.same_channel(mine)) => s.last_seen = Instant::now(),
                    _ => return Ok(()),
                }
                // The reply goes on this connection's queue, also after closeSession ended the
                // session (and behind any notification the request caused).
                Self::handle(&mut st, session, header, frame)
            };
            if mine.send(out).await.is_err() {
                return Ok(());
            }
            if close {
                return Ok(());
            }
        }
        Ok(())
    }

    fn handle(st: &mut State, session: i64, header: RequestHeader, mut body: Bytes) -> Bytes {
        let xid = header.xid;
        let zxid = st.zxid;
        macro_rules! parse {
            ($t:ty) => {
                match <$t>::read(&mut body) {
                    Ok(v) => v,
                    Err(_) => return reply_error(xid, zxid, ZkError::MarshallingError),
                }
            };
        }
        match header.op {
            op::PING => reply_ok(xid, zxid),
            // Credentials are accepted and ignored: every node is world:anyone with all permissions.
            op::AUTH => reply_ok(xid, zxid),
            // ACLs are not enforced, so changing one is refused rather than pretended.
            op::SET_ACL => reply_error(xid, zxid, ZkError::Unimplemented),
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => {
                let r = parse!(CreateRequest);
                let mode = if header.op == op::CREATE_CONTAINER {
                    Ok(CreateMode::Container)
                } else {
                    CreateMode::from_flags(r.flags)
                };
                let mode = match mode {
                    Ok(m) => m,
                    Err(e) => return reply_error(xid, zxid, e),
                };
                let op = Op::Create { path: r.path, data: r.data.unwrap_or_default(), mode };
                match Self::write(st, session, &op) {
                    Ok((zxid, OpResult::Created { path, stat })) => encode(|o| {
                        ReplyHeader { xid, zxid, err: 0 }.write(o);
                        if header.op == op::CREATE {
                            CreateResponse { path }.write(o);
                        } else {
                            Create2Response { path, stat: stat.into() }.write(o);
                        }
                    }),
                    Ok((zxid, _)) => reply_error(xid, zxid, ZkError::SystemError),
                    Err((zxid, e)) => reply_error(xid, zxid, e),
                }
            }
            op::DELETE => {
                let r = parse!(DeleteRequest);
                match Self::write(st, session, &Op::Delete { path: r.path, version: r.version }) {
                    Ok((zxid, _)) => reply_ok(xid, zxid),
                    Err((zxid, e)) => reply_error(xid, zxid, e),
                }
            }
            op::SET_DATA => {
                let r = parse!(SetDataRequest);
                match Self::write(
                    st,
                    session,
                    &Op::SetData { path: r.path, data: r.data.unwrap_or_default(), version: r.version },
                ) {
                    Ok((zxid, OpResult::Set { stat })) => encode(|o| {
                        ReplyHeader { xid, zxid, err: 0 }.write(o);
                        StatResponse { stat: stat.into() }.write(o);
                    }),
                    Ok((zxid, _)) => reply_error(xid, zxid, ZkError::SystemError),
                    Err((zxid, e)) => reply_error(xid, zxid, e),
                }
            }
            op::CHECK => {
                let r = parse!(CheckVersionRequest);
                match Self::write(st, session, &Op::Check { path: r.path, version: r.version }) {
                    Ok((zxid, _)) => reply_ok(xid, zxid),
                    Err((zxid, e)) => reply_error(xid, zxid, e),
                }
            }
            op::EXISTS => {
                let r = parse!(PathWatchRequest);
                let found = st.tree.exists(&r.path);
                if r.watch && found.is_ok() {
                    let _ = st.watches.add(session, &r.path, WatchKind::Data);
                }
                match found {
                    Ok(Some(stat)) => encode(|o| {
                        ReplyHeader { xid, zxid, err: 0 }.write(o);
                        StatResponse { stat: stat.into() }.write(o);
                    }),
                    Ok(None) => reply_error(xid, zxid, ZkError::NoNode),
                    Err(e) => reply_error(xid, zxid, e),
                }
            }
            op::GET_DATA => {
                let r = parse!(PathWatchRequest);
                match st.tree.get_data(&r.path) {
                    Ok((data, stat)) => {
                        if r.watch {
                            let _ = st.watches.add(session, &r.path, WatchKind::Data);
                        }
                        encode(|o| {
                            ReplyHeader { xid, zxid, err: 0 }.write(o);
                            GetDataResponse { data: Some(data), stat: stat.into() }.write(o);
                        })
                    }
                    Err(e) => reply_error(xid, zxid, e),
                }
            }
            op::GET_CHILDREN | op::GET_CHILDREN2 => {
                let r = parse!(PathWatchRequest);
                match st.tree.get_children(&r.path) {
                    Ok((children, stat)) => {
                        if r.watch {
                            let _ = st.watches.add(session, &r.path, WatchKind::Child);
                        }
                        encode(|o| {
                            ReplyHeader { xid, zxid, err: 0 }.write(o);
                            if header.op == op::GET_CHILDREN {
                                GetChildrenResponse { children }.write(o);
                            } else {
                                GetChildren2Response { children, stat: stat.into() }.write(o);
                            }
                        })
                    }
                    Err(e) => reply_error(xid, zxid, e),
                }
            }
            op::GET_ACL => {
                let r = parse!(PathRequest);
                match st.tree.exists(&r.path) {
                    Ok(Some(stat)) => encode(|o| {
                        ReplyHeader { xid, zxid, err: 0 }.write(o);
                        vec![Acl { perms: 31, id: Id { scheme: "world".into(), id: "anyone".into() } }].write(o);
                        StatRecord::from(stat).write(o);
                    }),
                    Ok(None) => reply_error(xid, zxid, ZkError::NoNode),
                    Err(e) => reply_error(xid, zxid, e),
                }
            }
            op::SYNC => {
                let r = parse!(PathRequest);
                encode(|o| {
                    ReplyHeader { xid, zxid, err: 0 }.write(o);
                    r.write(o);
                })
            }
            op::ADD_WATCH => {
                let r = parse!(AddWatchRequest);
                let kind = if r.mode == 1 { WatchKind::PersistentRecursive } else { WatchKind::Persistent };
                match st.watches.add(session, &r.path, kind) {
                    // The reply carries an ErrorResponse body (ZooKeeper's client reads one).
                    Ok(()) => encode(|o| {
                        ReplyHeader { xid, zxid, err: 0 }.write(o);
                        ErrorResponse { err: 0 }.write(o);
                    }),
                    Err(e) => reply_error(xid, zxid, e),
                }
            }
            op::SET_WATCHES | op::SET_WATCHES2 => {
                let w = if header.op == op::SET_WATCHES {
                    let w = parse!(SetWatches);
                    SetWatches2 {
                        relative_zxid: w.relative_zxid,
                        data_watches: w.data_watches,
                        exist_watches: w.exist_watches,
                        child_watches: w.child_watches,
                        ..Default::default()
                    }
                } else {
                    parse!(SetWatches2)
                };
                // A watch re-registered after a reconnect fires at once for what changed since
                // the client's last zxid (as ZooKeeper does); otherwise it waits as before.
                let since = w.relative_zxid;
                let mut missed = Vec::new();
                for p in &w.data_watches {
                    match st.tree.exists(p) {
                        Ok(None) => missed.push((EventType::NodeDeleted, p.clone())),
                        Ok(Some(stat)) if stat.mzxid > since => missed.push((EventType::NodeDataChanged, p.clone())),
                        _ => drop(st.watches.add(session, p, WatchKind::Data)),
                    }
                }
                for p in &w.exist_watches {
                    match st.tree.exists(p) {
                        Ok(Some(_)) => missed.push((EventType::NodeCreated, p.clone())),
                        _ => drop(st.watches.add(session, p, WatchKind::Data)),
                    }
                }
                for p in &w.child_watches {
                    match st.tree.exists(p) {
                        Ok(None) => missed.push((EventType::NodeDeleted, p.clone())),
                        Ok(Some(stat)) if stat.pzxid > since => {
                            missed.push((EventType::NodeChildrenChanged, p.clone()))
                        }
                        _ => drop(st.watches.add(session, p, WatchKind::Child)),
                    }
                }
                for (event_type, path) in missed {
                    Self::send_event(st, session, event_type, &path);
                }
                for p in &w.persistent_watches {
                    let _ = st.watches.add(session, p, WatchKind::Persistent);
                }
                for p in &w.persistent_recursive_watches {
                    let _ = st.watches.add(session, p, WatchKind::PersistentRecursive);
                }
                reply_ok(xid, zxid)
            }
            op::MULTI => Self::multi(st, session, xid, body),
            op::CLOSE_SESSION => {
                Self::end_session(st, session);
                reply_ok(xid, st.zxid)
            }
            _ => reply_error(xid, zxid, ZkError::Unimplemented),
        }
    }

    /// Applies a write at the next zxid and notifies watchers; returns the zxid with the result.
    fn write(st: &mut State, session: i64, op: &Op) -> Result<(i64, OpResult), (i64, ZkError)> {
        let zxid = st.zxid + 1;
        let mut changes = Vec::new();
        match st.tree.apply(op, session, zxid, now_ms(), &mut changes) {
            Ok(result) => {
                st.zxid = zxid;
                Self::notify(st, &changes);
                Ok((zxid, result))
            }
            Err(e) => Err((st.zxid, e)),
        }
    }

    fn multi(st: &mut State, session: i64, xid: i32, mut body: Bytes) -> Bytes {
        let zxid = st.zxid;
        let mut ops = Vec::new();
        let mut kinds = Vec::new();
        loop {
            let Ok(h) = MultiHeader::read(&mut body) else { return reply_error(xid, zxid, ZkError::MarshallingError) };
            if h.done {
                break;
            }
            let parsed = match h.op {
                op::CREATE | op::CREATE2 => {
                    CreateRequest::read(&mut body).map_err(|_| ZkError::MarshallingError).and_then(|r| {
                        Ok(Op::Create {
                            path: r.path,
                            data: r.data.unwrap_or_default(),
                            mode: CreateMode::from_flags(r.flags)?,
                        })
                    })
                }
                op::DELETE => DeleteRequest::read(&mut body)
                    .map(|r| Op::Delete { path: r.path, version: r.version })
                    .map_err(|_| ZkError::MarshallingError),
                op::SET_DATA => SetDataRequest::read(&mut body)
                    .map(|r| Op::SetData { path: r.path, data: r.data.unwrap_or_default(), version: r.version })
                    .map_err(|_| ZkError::MarshallingError),
                op::CHECK => CheckVersionRequest::read(&mut body)
                    .map(|r| Op::Check { path: r.path, version: r.version })
                    .map_err(|_| ZkError::MarshallingError),
                _ => Err(ZkError::Unimplemented),
            };
            match parsed {
                Ok(o) => {
                    ops.push(o);
                    kinds.push(h.op);
                }
                Err(e) => return reply_error(xid, zxid, e),
            }
        }
        let len = ops.len();
        let result = Self::write(st, session, &Op::Multi(ops));
        let (zxid, result) = match result {
            Ok(r) => r,
            Err((zxid, e)) => (zxid, OpResult::MultiFailed { failed_index: 0, error: e, len }),
        };
        encode(|o| {
            ReplyHeader { xid, zxid, err: 0 }.write(o);
            match &result {
                OpResult::Multi(results) => {
                    for (kind, r) in kinds.iter().zip(results) {
                        MultiHeader { op: *kind, done: false, err: 0 }.write(o);
                        match r {
                            OpResult::Created { path, stat } if *kind == op::CREATE2 => {
                                Create2Response { path: path.clone(), stat: (*stat).into() }.write(o);
                            }
                            OpResult::Created { path, .. } => CreateResponse { path: path.clone() }.write(o),
                            OpResult::Set { stat } => StatResponse { stat: (*stat).into() }.write(o),
                            _ => {}
                        }
                    }
                }
                failed => {
                    for code in failed.multi_error_codes().unwrap_or_default() {
                        MultiHeader { op: op::ERROR, done: false, err: code }.write(o);
                        ErrorResponse { err: code }.write(o);
                    }
                }
            }
            MultiHeader { op: -1, done: true, err: -1 }.write(o);
        })
    }
}

/// Reads one length-prefixed frame; `None` at end of stream or for a length out of bounds.
pub(crate) async fn read_frame(read: &mut tokio::net::tcp::OwnedReadHalf) -> std::io::Result<Option<Bytes>> {
    let mut size = [0u8; 4];
    match read.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    read_body(read, i32::from_be_bytes(size)).await
}

/// Reads a frame body of `size` bytes; `None` for a size out of bounds.
async fn read_body(read: &mut tokio::net::tcp::OwnedReadHalf, size: i32) -> std::io::Result<Option<Bytes>> {
    if size < 0 || size as usize > MAX_FRAME_BYTES {
        return Ok(None);
    }
    let mut frame = BytesMut::zeroed(size as usize);
    read.read_exact(&mut frame).await?;
    Ok(Some(frame.freeze()))
}
