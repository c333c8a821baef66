//! The keeper server: ZooKeeper's client protocol over TCP on every node of the ensemble.
//!
//! Reads are answered from this node's copy of the state machine. Writes (and session creation
//! and close) become [`Proposal`]s: a proposer task batches them and hands them to the
//! [`Replicator`], which puts them in the Raft log through the leader; every node applies what is
//! committed, in order ([`Host::apply`]), and the node the client is connected to answers it then.
//! Per connection, requests are answered in the order they came: a sequencer task waits for each
//! write to be applied here before it answers anything after it, so a client reads its own
//! writes, and the notifications a write causes are queued before its reply.
//!
//! Sessions: a session's timeout is negotiated into `[min, max]` (2 and 20 ticks by default).
//! Every node tells the leader which sessions it heard from; the leader alone decides that a
//! session has been silent too long and commits its expiry through the log. A new leader gives
//! every session a full timeout again, so a failover expires nobody.
//!
//! Concurrency: one lock over the state machine, the watches and the connections, never held
//! across an await; each connection has a bounded outgoing queue drained by its own writer task.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::acl::{self, AclEntry, Identity, perms};
use crate::data_tree::{CreateMode, Op, OpResult, validate_path};
use crate::disk_space::{DISK_CHECK_INTERVAL_MS, DiskSpace};
use crate::error::ZkError;
use crate::jute::*;
use crate::limits::{
    ClientCnxnLimit, DEFAULT_MAX_CLIENT_CNXNS, DEFAULT_SESSIONLESS_CNXN_TIMEOUT_MS, JUTE_MAX_BUFFER_BYTES,
    REFUSED_CNXN_LOG_INTERVAL_MS, RefusalLog,
};
use crate::machine::{Applied, Command, Machine, Proposal};
use crate::raft::{Ensemble, OpenRaft, RaftTiming};
use crate::replication::{Host, Replicator};
use crate::watch::{EventType, SYNC_CONNECTED, WatchKind, WatchManager};

/// ZooKeeper's `tickTime` default.
pub const TICK_TIME_MS: i32 = 2_000;

/// A keeper node: its session timeout bounds (ZooKeeper's `tickTime`, `minSessionTimeout` and
/// `maxSessionTimeout`; defaults 2 and 20 ticks), its place in the ensemble, where it keeps
/// the Raft log and snapshots, and its bounds on clients (`maxClientCnxns`, the time a new
/// connection has to send its ConnectRequest).
#[derive(Clone, PartialEq, Eq)]
pub struct KeeperConfig {
    pub tick_time_ms: i32,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// This node's id in `servers`.
    pub id: u64,
    /// Every voter's peer address by id; empty for a one-node keeper.
    pub servers: BTreeMap<u64, String>,
    pub data_dir: PathBuf,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
    /// Raft log entries between snapshots of the state machine.
    pub snapshot_entries: u64,
    /// ZooKeeper's `maxClientCnxns`: connections from one client IP at once; 0 is unlimited.
    pub max_client_cnxns: u32,
    /// ZooKeeper's `zookeeper.nio.sessionlessCnxnTimeout`: how long a new connection may take to
    /// send its ConnectRequest (or a four-letter word) before it is closed.
    pub sessionless_cnxn_timeout_ms: u64,
    /// ZooKeeper's `zookeeper.DigestAuthenticationProvider.superDigest`: the digest identity
    /// (`super:<base64 sha1>`, see [`acl::digest`]) whose `addauth digest` makes a connection
    /// the super user, past every ACL.
    pub super_digest: Option<String>,
    /// ZooKeeper's `zookeeper.X509AuthenticationProvider.superUser`: the subject DN of a client
    /// certificate (on the secure client port) that makes its connection the super user.
    pub super_x509: Option<String>,
    /// TLS between the ensemble's nodes (ZooKeeper's `sslQuorum`).
    pub peer_tls: Option<crate::tls::PeerTls>,
    /// SASL (DIGEST-MD5) users and passwords, ZooKeeper's JAAS `Server` section of
    /// `DigestLoginModule` (`user_<name>="<password>"`); none: SASL is refused.
    pub sasl_users: BTreeMap<String, String>,
    /// ZooKeeper's `zookeeper.superUser`: the SASL user that passes every ACL.
    pub sasl_super_user: Option<String>,
}

/// Every field but the SASL passwords (their users are shown).
impl std::fmt::Debug for KeeperConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeeperConfig")
            .field("tick_time_ms", &self.tick_time_ms)
            .field("min_session_timeout_ms", &self.min_session_timeout_ms)
            .field("max_session_timeout_ms", &self.max_session_timeout_ms)
            .field("id", &self.id)
            .field("servers", &self.servers)
            .field("data_dir", &self.data_dir)
            .field("heartbeat_ms", &self.heartbeat_ms)
            .field("election_timeout_ms", &self.election_timeout_ms)
            .field("snapshot_entries", &self.snapshot_entries)
            .field("max_client_cnxns", &self.max_client_cnxns)
            .field("sessionless_cnxn_timeout_ms", &self.sessionless_cnxn_timeout_ms)
            .field("super_digest", &self.super_digest.as_ref().map(|_| "(set)"))
            .field("super_x509", &self.super_x509)
            .field("peer_tls", &self.peer_tls)
            .field("sasl_users", &self.sasl_users.keys().collect::<Vec<_>>())
            .field("sasl_super_user", &self.sasl_super_user)
            .finish()
    }
}

impl Default for KeeperConfig {
    fn default() -> Self {
        KeeperConfig::with_tick(TICK_TIME_MS)
    }
}

impl KeeperConfig {
    /// ZooKeeper's defaults for a tick: sessions between 2 and 20 ticks; one node, data in
    /// `./data/keeper`.
    pub fn with_tick(tick_time_ms: i32) -> Self {
        KeeperConfig {
            tick_time_ms,
            min_session_timeout_ms: 2 * tick_time_ms,
            max_session_timeout_ms: 20 * tick_time_ms,
            id: 1,
            servers: BTreeMap::new(),
            data_dir: PathBuf::from("data/keeper"),
            heartbeat_ms: 100,
            election_timeout_ms: 1_000,
            snapshot_entries: 10_000,
            max_client_cnxns: DEFAULT_MAX_CLIENT_CNXNS,
            sessionless_cnxn_timeout_ms: DEFAULT_SESSIONLESS_CNXN_TIMEOUT_MS,
            super_digest: None,
            super_x509: None,
            peer_tls: None,
            sasl_users: BTreeMap::new(),
            sasl_super_user: None,
        }
    }

    /// A one-node keeper keeping its data in `dir`.
    pub fn single(dir: impl Into<PathBuf>) -> Self {
        KeeperConfig { data_dir: dir.into(), ..KeeperConfig::default() }
    }
}

/// Largest reply frame the client half reads: a reply may exceed the largest request by its
/// header and `Stat` (a getData of a node holding the most a request can set).
pub const MAX_REPLY_FRAME_BYTES: usize = JUTE_MAX_BUFFER_BYTES + 1024;
/// Frames waiting to be written to one connection, at most.
const MAX_QUEUED_FRAMES: usize = 4096;
/// Requests of one connection in progress at once, at most.
const MAX_OUTSTANDING: usize = 1024;
/// Proposals in one log entry, at most.
const MAX_BATCH: usize = 1024;

/// A request's place in its connection's reply order.
enum Job {
    /// Answered already (a request that could not be parsed).
    Ready(Bytes),
    /// A read, with what its connection had proven when it came, and when it came.
    Read { header: RequestHeader, body: Bytes, who: Arc<Identity>, received: Instant },
    /// A proposal on its way through the log.
    Write {
        seq: u64,
        applied: oneshot::Receiver<Applied>,
        xid: i32,
        op: i32,
        kinds: Vec<i32>,
        path: String,
        received: Instant,
    },
}

#[derive(Debug, Default)]
struct State {
    machine: Machine,
    watches: WatchManager,
    /// Sessions with a connection to this node, and its outgoing queue.
    local: HashMap<i64, mpsc::Sender<Bytes>>,
    /// What each of those connections has proven: a watch event reaches a session only where
    /// it may READ (ZooKeeper's fix of CVE-2024-23944).
    identities: HashMap<i64, Arc<Identity>>,
    /// Proposals of this node waiting to be applied, by sequence number.
    pending: HashMap<u64, oneshot::Sender<Applied>>,
    /// Leader only: when each session expires unless heard from, and the term they were set in.
    deadlines: HashMap<i64, Instant>,
    deadlines_term: u64,
}

/// A keeper node.
pub struct Keeper {
    state: Mutex<State>,
    config: KeeperConfig,
    /// Names this process's proposals (see [`Proposal::origin`]).
    origin: u64,
    seq: AtomicU64,
    proposals: mpsc::UnboundedSender<Proposal>,
    replicator: OnceLock<Arc<dyn Replicator>>,
    /// Sessions heard from since the leader was last told.
    touched: Mutex<HashSet<i64>>,
    /// The zxid applied here, for connections that must wait to catch up.
    applied: watch::Sender<i64>,
    /// Open client connections per IP (`maxClientCnxns`).
    cnxn_limit: Arc<ClientCnxnLimit>,
    /// Whether the data directory is out of space: writes are refused while it is.
    disk: Arc<DiskSpace>,
    /// Client requests' time here, from arrival to answer (`mntr`, `/metrics`).
    latency: Latencies,
}

/// Reads' and writes' latencies (pings left out).
#[derive(Debug, Default)]
struct Latencies {
    reads: LatencyStats,
    writes: LatencyStats,
}

/// Count, sum, least and most of request latencies, in microseconds (ZooKeeper's
/// `zk_avg_latency`, `zk_min_latency`, `zk_max_latency`).
#[derive(Debug)]
pub struct LatencyStats {
    count: AtomicU64,
    total_micros: AtomicU64,
    min_micros: AtomicU64,
    max_micros: AtomicU64,
}

impl Default for LatencyStats {
    fn default() -> Self {
        LatencyStats {
            count: AtomicU64::new(0),
            total_micros: AtomicU64::new(0),
            min_micros: AtomicU64::new(u64::MAX),
            max_micros: AtomicU64::new(0),
        }
    }
}

/// A [`LatencyStats`] as read: `(count, total, min, max)` in microseconds (min 0 when none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    pub count: u64,
    pub total_micros: u64,
    pub min_micros: u64,
    pub max_micros: u64,
}

impl LatencyStats {
    fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_micros.fetch_add(micros, Ordering::Relaxed);
        self.min_micros.fetch_min(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    fn read(&self) -> Latency {
        let count = self.count.load(Ordering::Relaxed);
        Latency {
            count,
            total_micros: self.total_micros.load(Ordering::Relaxed),
            min_micros: if count == 0 { 0 } else { self.min_micros.load(Ordering::Relaxed) },
            max_micros: self.max_micros.load(Ordering::Relaxed),
        }
    }
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A keeper node's figures, as ZooKeeper's `mntr` reports them ([`Keeper::stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeeperStats {
    /// `standalone`, `leader`, `follower`, or `not serving` (no leader known).
    pub server_state: &'static str,
    pub id: u64,
    pub leader: Option<u64>,
    /// The Raft term.
    pub term: u64,
    pub voters: usize,
    /// The last Raft log index here, and the last one applied to the tree.
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    /// The last Raft entry the newest snapshot here covers.
    pub last_snapshot_index: Option<u64>,
    /// Snapshots this process wrote, and the nanoseconds writing them took in all.
    pub snapshots_written: u64,
    pub snapshot_write_nanos: u64,
    pub zxid: i64,
    pub znode_count: usize,
    pub approximate_data_size: usize,
    pub ephemerals_count: usize,
    pub global_sessions: usize,
    /// Client connections to this node.
    pub alive_connections: usize,
    pub watch_count: usize,
    /// Writes of this node's clients proposed and not applied yet.
    pub outstanding_requests: usize,
    /// Client reads (pings left out) and writes answered here, and their latencies.
    pub reads: Latency,
    pub writes: Latency,
}

impl KeeperStats {
    /// The `mntr` answer: ZooKeeper's keys, tab-separated, one per line.
    pub fn mntr(&self) -> String {
        let version = env!("CARGO_PKG_VERSION");
        let mut out = format!(
            "zk_version\tsluice-keeper {version}\nzk_server_state\t{}\nzk_znode_count\t{}\nzk_watch_count\t{}\nzk_ephemerals_count\t{}\nzk_approximate_data_size\t{}\nzk_num_alive_connections\t{}\nzk_outstanding_requests\t{}\nzk_global_sessions\t{}\n",
            self.server_state,
            self.znode_count,
            self.watch_count,
            self.ephemerals_count,
            self.approximate_data_size,
            self.alive_connections,
            self.outstanding_requests,
            self.global_sessions,
        );
        // ZooKeeper's latencies are in milliseconds, over every request.
        let (r, w) = (self.reads, self.writes);
        let count = r.count + w.count;
        let avg_ms = if count == 0 { 0.0 } else { (r.total_micros + w.total_micros) as f64 / count as f64 / 1000.0 };
        let min_ms = match (r.count, w.count) {
            (0, 0) => 0,
            (0, _) => w.min_micros,
            (_, 0) => r.min_micros,
            _ => r.min_micros.min(w.min_micros),
        } / 1000;
        let max_ms = r.max_micros.max(w.max_micros) / 1000;
        out.push_str(&format!("zk_avg_latency\t{avg_ms:.4}\nzk_min_latency\t{min_ms}\nzk_max_latency\t{max_ms}\n"));
        if let (Some(last), Some(applied)) = (self.last_log_index, self.last_applied) {
            out.push_str(&format!("zk_last_log_index\t{last}\nzk_last_applied\t{applied}\n"));
        }
        if self.server_state == "leader" {
            out.push_str(&format!("zk_followers\t{}\n", self.voters.saturating_sub(1)));
        }
        out
    }
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

/// Put on a connection's queue, tells its writer to close the connection.
const CLOSE: Bytes = Bytes::new();

/// The answer to a write (and to a new session) while keeper's disk is full: NOTREADONLY,
/// ZooKeeper's code for "a state-changing request reached a server that only serves reads",
/// which is exactly the keeper's state then. ZooKeeper itself has no answer of its own: its
/// server stops on a full disk and clients see a lost connection.
///
/// Rejected alternatives: CONNECTIONLOSS says the outcome is unknown, and Kafka's
/// `KafkaZkClient` retries it at once for as long as the connection is up (a busy loop against
/// a server that stays connected), while kazoo's `KazooRetry` retries it too; OPERATIONTIMEOUT
/// also reads as "may have happened"; SYSTEMERROR says nothing. With NOTREADONLY the write
/// certainly did not happen: kazoo raises `NotReadOnlyCallError` (not retried by `KazooRetry`),
/// Java's client `NotReadOnlyException` (Kafka fails the operation and reports it), and
/// Sluice's brokers answer their Kafka clients with a retriable REQUEST_TIMED_OUT.
pub const DISK_FULL_ERROR: ZkError = ZkError::NotReadOnly;

/// Watches the data directory's free space, every [`DISK_CHECK_INTERVAL_MS`], while the keeper
/// lives: a full disk is refused before a write fails, and a freed one taken again with no
/// restart.
async fn watch_disk_space(disk: std::sync::Weak<DiskSpace>) {
    loop {
        tokio::time::sleep(Duration::from_millis(DISK_CHECK_INTERVAL_MS)).await;
        let Some(disk) = disk.upgrade() else { return };
        if tokio::task::spawn_blocking(move || disk.check()).await.is_err() {
            return;
        }
    }
}

impl Keeper {
    /// Starts a keeper node: opens its Raft log and snapshot in `config.data_dir`, joins (or
    /// forms) the ensemble, serving peers on `peer_listener` when it has other members.
    pub async fn start(config: KeeperConfig, peer_listener: Option<TcpListener>) -> std::io::Result<Arc<Keeper>> {
        let (proposals, queue) = mpsc::unbounded_channel();
        let origin = u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().expect("8 bytes"));
        let keeper = Arc::new(Keeper {
            state: Mutex::new(State::default()),
            config: config.clone(),
            origin,
            seq: AtomicU64::new(0),
            proposals,
            replicator: OnceLock::new(),
            touched: Mutex::new(HashSet::new()),
            applied: watch::Sender::new(0),
            cnxn_limit: ClientCnxnLimit::new(config.max_client_cnxns),
            disk: Arc::new(DiskSpace::new(&config.data_dir)),
            latency: Latencies::default(),
        });
        let mut servers = config.servers.clone();
        if servers.is_empty() {
            servers.insert(config.id, "127.0.0.1:0".into());
        }
        if !servers.contains_key(&config.id) {
            return Err(std::io::Error::other(format!("keeper id {} is not among the keeper servers", config.id)));
        }
        let timing = RaftTiming {
            heartbeat_ms: config.heartbeat_ms,
            election_min_ms: config.election_timeout_ms,
            election_max_ms: 2 * config.election_timeout_ms,
            snapshot_entries: config.snapshot_entries,
        };
        let host: Arc<dyn Host> = keeper.clone();
        let ensemble = Ensemble { id: config.id, servers };
        std::fs::create_dir_all(&config.data_dir)?;
        let replicator = OpenRaft::start(
            ensemble,
            &config.data_dir,
            host,
            peer_listener,
            timing,
            keeper.disk.clone(),
            config.peer_tls,
        )
        .await?;
        let _ = keeper.replicator.set(replicator as Arc<dyn Replicator>);
        tokio::spawn(keeper.clone().propose(queue));
        tokio::spawn(keeper.clone().keep_sessions());
        tokio::spawn(watch_disk_space(Arc::downgrade(&keeper.disk)));
        Ok(keeper)
    }

    fn replicator(&self) -> &dyn Replicator {
        self.replicator.get().expect("set at start").as_ref()
    }

    /// Stops Raft (connections already open are left to close).
    pub async fn shutdown(&self) {
        self.disk.stop_retrying();
        self.replicator().shutdown().await;
    }

    /// Serves ZooKeeper clients on `listener` until the task is dropped. A connection from an
    /// IP that already has `max_client_cnxns` open is closed at once, as ZooKeeper's
    /// `NIOServerCnxnFactory` does at accept; refusals are logged once per
    /// [`REFUSED_CNXN_LOG_INTERVAL_MS`] with their count.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        self.serve_with(listener, None).await
    }

    /// Serves ZooKeeper clients over TLS on `listener` (ZooKeeper's `secureClientPort`): each
    /// connection's handshake must complete within the sessionless timeout, and a client
    /// certificate (when the acceptor asks for one) proves `x509:<subject DN>`.
    pub async fn serve_tls(self: Arc<Self>, listener: TcpListener, acceptor: crate::tls::Acceptor) {
        self.serve_with(listener, Some(acceptor)).await
    }

    async fn serve_with(self: Arc<Self>, listener: TcpListener, tls: Option<crate::tls::Acceptor>) {
        let mut refusals = RefusalLog::new(Duration::from_millis(REFUSED_CNXN_LOG_INTERVAL_MS));
        loop {
            let Ok((socket, peer)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Some(permit) = self.cnxn_limit.try_acquire(peer.ip()) else {
                drop(socket);
                if let Some(count) = refusals.refused(Instant::now()) {
                    tracing::warn!(
                        ip = %peer.ip(),
                        refused = count,
                        max_client_cnxns = self.config.max_client_cnxns,
                        "keeper connections refused: too many from one address (keeper.max.client.cnxns)"
                    );
                }
                continue;
            };
            let _ = socket.set_nodelay(true);
            let keeper = self.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let mut who = Identity::from_ip(peer.ip());
                let result = match tls {
                    None => keeper.connection(socket, peer, who).await,
                    Some(acceptor) => {
                        let within = Duration::from_millis(
                            keeper.config.sessionless_cnxn_timeout_ms.min(crate::tls::TLS_HANDSHAKE_TIMEOUT_MS),
                        );
                        let stream = match tokio::time::timeout(within, acceptor().accept(socket)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tracing::warn!(%peer, error = %e, "keeper TLS handshake refused");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "keeper TLS handshake not completed in time; closing");
                                return;
                            }
                        };
                        let subject = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .map(|cert| crate::tls::subject_dn(cert.as_ref()));
                        match subject {
                            Some(Ok(dn)) => {
                                if keeper.config.super_x509.as_deref() == Some(dn.as_str()) {
                                    who.superuser = true;
                                    who.add("super", "");
                                }
                                who.add("x509", &dn);
                            }
                            Some(Err(e)) => {
                                tracing::warn!(%peer, error = %e, "keeper client certificate unreadable; closing");
                                return;
                            }
                            None => {}
                        }
                        keeper.connection(stream, peer, who).await
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "keeper connection closed");
                }
            });
        }
    }

    /// Queues a proposal; the receiver hears when it is applied here.
    fn submit(&self, command: Command) -> (u64, oneshot::Receiver<Applied>) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.state.lock().pending.insert(seq, tx);
        let p = Proposal { origin: self.origin, seq, time_ms: now_ms(), command };
        if self.proposals.send(p).is_err() {
            self.state.lock().pending.remove(&seq);
        }
        (seq, rx)
    }

    /// The proposer: batches what is queued and hands each batch to the replicator, in order.
    /// While the data directory is out of space it refuses them instead (see [`DISK_FULL_ERROR`]).
    async fn propose(self: Arc<Self>, mut queue: mpsc::UnboundedReceiver<Proposal>) {
        let mut carried: Option<Proposal> = None;
        loop {
            let first = match carried.take() {
                Some(p) => p,
                None => match queue.recv().await {
                    Some(p) => p,
                    None => break,
                },
            };
            let mut bytes = first.approx_bytes();
            let mut batch = vec![first];
            // Bounded by count and by bytes (see the Raft leader's entries).
            while batch.len() < MAX_BATCH && bytes < crate::raft::MAX_ENTRY_BYTES {
                match queue.try_recv() {
                    Ok(p) if bytes + p.approx_bytes() > crate::raft::MAX_ENTRY_BYTES => {
                        carried = Some(p);
                        break;
                    }
                    Ok(p) => {
                        bytes += p.approx_bytes();
                        batch.push(p);
                    }
                    Err(_) => break,
                }
            }
            if self.disk.refuses_writes() {
                let mut st = self.state.lock();
                let zxid = st.machine.zxid;
                for p in &batch {
                    if let Some(tx) = st.pending.remove(&p.seq) {
                        let _ = tx.send(Applied { zxid, result: Err(DISK_FULL_ERROR) });
                    }
                }
                continue;
            }
            let seqs: Vec<u64> = batch.iter().map(|p| p.seq).collect();
            if let Err(e) = self.replicator().submit(batch).await {
                // Their clients lose the connection and retry (ZooKeeper's ConnectionLoss).
                tracing::warn!(error = %e, proposals = seqs.len(), "keeper proposals not taken");
                let mut st = self.state.lock();
                for s in seqs {
                    st.pending.remove(&s);
                }
            }
        }
    }

    /// Every half tick: tells the leader which sessions were heard from here; on the leader,
    /// expires the sessions nobody heard from in their timeout.
    async fn keep_sessions(self: Arc<Self>) {
        let period = Duration::from_millis((self.config.tick_time_ms as u64 / 2).clamp(20, 1_000));
        loop {
            tokio::time::sleep(period).await;
            let status = self.replicator().status();
            let touched: Vec<i64> = self.touched.lock().drain().collect();
            if !status.is_leader() {
                self.state.lock().deadlines.clear();
                if !touched.is_empty() && self.replicator().touch(touched.clone()).await.is_err() {
                    // Told next time instead.
                    self.touched.lock().extend(touched);
                }
                continue;
            }
            let now = Instant::now();
            let expired: Vec<i64> = {
                let mut st = self.state.lock();
                let st = &mut *st;
                if st.deadlines_term != status.term {
                    // A new leader: every session gets a full timeout from now.
                    st.deadlines.clear();
                    st.deadlines_term = status.term;
                }
                st.deadlines.retain(|id, _| st.machine.sessions.contains_key(id));
                let mut expired = Vec::new();
                for (id, info) in &st.machine.sessions {
                    let timeout = Duration::from_millis(info.timeout_ms as u64);
                    let deadline = st.deadlines.entry(*id).or_insert(now + timeout);
                    if touched.contains(id) {
                        *deadline = now + timeout;
                    } else if now > *deadline {
                        expired.push(*id);
                        // Not proposed again while this expiry is on its way.
                        *deadline = now + timeout;
                    }
                }
                expired
            };
            for id in expired {
                tracing::info!(session = format!("{id:#x}"), "session expired");
                drop(self.submit(Command::ExpireSession { id }));
            }
        }
    }

    /// Notes that a session was heard from.
    fn touch(&self, session: i64) {
        self.touched.lock().insert(session);
    }

    /// What this node reports of itself: `mntr` and the `/metrics` endpoint read the same
    /// figures.
    pub fn stats(&self) -> KeeperStats {
        let status = self.replicator().status();
        let state = match (status.voters, status.is_leader(), status.leader.is_some()) {
            (1, _, _) => "standalone",
            (_, true, _) => "leader",
            (_, false, true) => "follower",
            (_, false, false) => "not serving",
        };
        let st = self.state.lock();
        KeeperStats {
            server_state: state,
            id: status.id,
            leader: status.leader,
            term: status.term,
            voters: status.voters,
            last_log_index: status.last_log_index,
            last_applied: status.last_applied,
            last_snapshot_index: status.last_snapshot_index,
            snapshots_written: crate::raft::SNAPSHOTS_WRITTEN.load(std::sync::atomic::Ordering::Relaxed),
            snapshot_write_nanos: crate::raft::SNAPSHOT_WRITE_NANOS.load(std::sync::atomic::Ordering::Relaxed),
            zxid: st.machine.zxid,
            znode_count: st.machine.tree.node_count(),
            approximate_data_size: st.machine.tree.approximate_data_size(),
            ephemerals_count: st.machine.sessions.keys().map(|id| st.machine.tree.ephemerals_of(*id).len()).sum(),
            global_sessions: st.machine.sessions.len(),
            alive_connections: st.local.len(),
            watch_count: st.watches.watch_count(),
            outstanding_requests: st.pending.len(),
            reads: self.latency.reads.read(),
            writes: self.latency.writes.read(),
        }
    }

    /// The answer to a four-letter word (`ruok`, `srvr`, `mntr`; ZooKeeper's other words are
    /// refused as outside the whitelist), or `None` when `word` starts a protocol frame.
    fn four_letter_word(&self, word: &[u8; 4]) -> Option<String> {
        const REFUSED: [&[u8; 4]; 15] = [
            b"conf", b"cons", b"crst", b"dump", b"envi", b"gtmk", b"stmk", b"srst", b"stat", b"wchc", b"wchp", b"wchs",
            b"dirs", b"isro", b"hash",
        ];
        let status = self.replicator().status();
        if matches!(word, b"srvr" | b"mntr") && status.voters > 1 && status.leader.is_none() {
            // Out of quorum, ZooKeeper answers the status words with this line alone.
            return Some("This ZooKeeper instance is not currently serving requests\n".to_string());
        }
        let mode = match (status.voters, status.is_leader()) {
            (1, _) => "standalone",
            (_, true) => "leader",
            _ => "follower",
        };
        let st = self.state.lock();
        let connections = st.local.len();
        let version = env!("CARGO_PKG_VERSION");
        Some(match word {
            b"ruok" => "imok".to_string(),
            b"srvr" => format!(
                "Zookeeper version: sluice-keeper {version}\nConnections: {connections}\nZxid: {:#x}\nMode: {mode}\nNode count: {}\n",
                st.machine.zxid,
                st.machine.tree.node_count()
            ),
            b"mntr" => {
                drop(st);
                self.stats().mntr()
            }
            w if REFUSED.contains(&w) => {
                format!("{} is not executed because it is not in the whitelist.\n", String::from_utf8_lossy(w))
            }
            _ => return None,
        })
    }

    fn notify(st: &mut State, changes: &[crate::data_tree::Change]) {
        for (session, event) in st.watches.trigger(changes) {
            if Self::may_see(st, session, &event.path) {
                Self::send_event(st, session, event.event_type, &event.path);
            }
        }
    }

    /// Whether `session` may hear of a change at `path`: READ on the node, or on its parent
    /// when the node is gone (a persistent recursive watch must not reveal the names of nodes
    /// below one its session may not read).
    fn may_see(st: &State, session: i64, path: &str) -> bool {
        let Some(who) = st.identities.get(&session) else { return true };
        let tree = &st.machine.tree;
        let at = if matches!(tree.exists(path), Ok(Some(_))) {
            path
        } else {
            match path.rfind('/') {
                Some(0) | None => "/",
                Some(i) => &path[..i],
            }
        };
        !matches!(tree.check_access(at, perms::READ, who), Err(ZkError::NoAuth))
    }

    /// Queues a notification on the session's connection. A connection too far behind to take
    /// it is cut loose rather than let an event vanish: the client reconnects, sets its watches
    /// again with its last zxid, and hears at once of what it missed.
    fn send_event(st: &mut State, session: i64, event_type: EventType, path: &str) {
        let Some(out) = st.local.get(&session) else { return };
        if out.try_send(event_frame(event_type, path)).is_err() {
            tracing::warn!(session = format!("{session:#x}"), "watch notifications backed up; dropping the connection");
            if let Some(out) = st.local.remove(&session) {
                let _ = out.try_send(CLOSE);
            }
            st.identities.remove(&session);
        }
    }

    /// Waits until this node has applied `zxid` (a client that saw it elsewhere reconnects here).
    async fn caught_up(&self, zxid: i64, within: Duration) -> bool {
        let mut applied = self.applied.subscribe();
        tokio::time::timeout(within, applied.wait_for(|z| *z >= zxid)).await.is_ok_and(|r| r.is_ok())
    }

    async fn connection<S>(self: Arc<Self>, socket: S, peer: SocketAddr, who: Identity) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut read, mut write) = tokio::io::split(socket);
        // The client's part of the handshake, within `sessionless_cnxn_timeout_ms`: a connection
        // that sends nothing, or half a frame, holds a file descriptor the broker may need.
        let handshake = async {
            let mut size = [0u8; 4];
            if read.read_exact(&mut size).await.is_err() {
                return Ok(None);
            }
            // ZooKeeper's four-letter words share the port: plain text in, plain text out, close.
            if let Some(text) = self.four_letter_word(&size) {
                return Ok(Some(Err(text)));
            }
            Ok(read_body(&mut read, i32::from_be_bytes(size), JUTE_MAX_BUFFER_BYTES).await?.map(Ok))
        };
        let within = Duration::from_millis(self.config.sessionless_cnxn_timeout_ms);
        let first: std::io::Result<Option<Result<Bytes, String>>> = match tokio::time::timeout(within, handshake).await
        {
            Ok(r) => r,
            Err(_) => {
                tracing::debug!(%peer, timeout_ms = within.as_millis() as u64, "no ConnectRequest in time (keeper.sessionless.cnxn.timeout.ms); closing");
                return Ok(());
            }
        };
        let mut first = match first? {
            None => return Ok(()),
            Some(Err(text)) => {
                write.write_all(text.as_bytes()).await?;
                let _ = write.shutdown().await;
                return Ok(());
            }
            Some(Ok(frame)) => frame,
        };
        let Ok(connect) = ConnectRequest::read(&mut first) else { return Ok(()) };
        let read_only_flag = first.has_remaining();
        let wait = Duration::from_millis(self.config.max_session_timeout_ms.max(1) as u64);
        // A client that saw a newer state than this node has waits until it has it too (else
        // it would read back in time), or goes elsewhere.
        if !self.caught_up(connect.last_zxid_seen, wait).await {
            tracing::debug!(%peer, zxid = connect.last_zxid_seen, "client is ahead of this node; closing");
            return Ok(());
        }
        let (tx, mut rx) = mpsc::channel::<Bytes>(MAX_QUEUED_FRAMES);
        let (session, timeout_ms, passwd) = if connect.session_id != 0 {
            let mut st = self.state.lock();
            let known = st
                .machine
                .sessions
                .get(&connect.session_id)
                .filter(|s| connect.passwd.as_deref() == Some(&s.passwd[..]))
                .map(|s| (s.timeout_ms, s.passwd.clone()));
            match known {
                Some((timeout, passwd)) => {
                    // The session moves here; a connection it had elsewhere on this node closes.
                    if let Some(old) = st.local.insert(connect.session_id, tx.clone()) {
                        let _ = old.try_send(CLOSE);
                    }
                    st.identities.insert(connect.session_id, Arc::new(who.clone()));
                    drop(st);
                    self.touch(connect.session_id);
                    (connect.session_id, timeout, passwd)
                }
                // Unknown or expired: a zero timeout tells the client its session is gone.
                None => (0, 0, Bytes::from_static(&[0; 16])),
            }
        } else {
            let timeout =
                connect.timeout_ms.clamp(self.config.min_session_timeout_ms, self.config.max_session_timeout_ms);
            let id =
                (u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().expect("8 bytes")) >> 1) as i64;
            let passwd = Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            let (seq, applied) =
                self.submit(Command::CreateSession { id, passwd: passwd.clone(), timeout_ms: timeout });
            match tokio::time::timeout(wait, applied).await {
                Ok(Ok(Applied { result: Ok(_), .. })) => {}
                _ => {
                    self.state.lock().pending.remove(&seq);
                    tracing::debug!(%peer, "session not created (no keeper quorum, or the disk is full); closing");
                    return Ok(());
                }
            }
            {
                let mut st = self.state.lock();
                st.local.insert(id, tx.clone());
                st.identities.insert(id, Arc::new(who.clone()));
            }
            self.touch(id);
            tracing::debug!(%peer, session = format!("{id:#x}"), timeout, "session created");
            (id, timeout, passwd)
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
                if frame.is_empty() || write.write_all(&frame).await.is_err() {
                    break;
                }
            }
            let _ = write.shutdown().await;
        });
        let (jobs_tx, jobs) = mpsc::channel::<Job>(MAX_OUTSTANDING);
        let sequencer =
            tokio::spawn(self.clone().sequence(session, jobs, tx.clone(), Duration::from_millis(timeout_ms as u64)));
        let idle = Duration::from_millis(timeout_ms as u64);
        let result = self.requests(&mut read, session, &tx, &jobs_tx, idle, peer, who).await;
        drop(jobs_tx);
        let _ = sequencer.await;
        {
            // Detach unless the session has already moved to a newer connection.
            let mut st = self.state.lock();
            if st.local.get(&session).is_some_and(|o| o.same_channel(&tx)) {
                st.local.remove(&session);
                st.identities.remove(&session);
            }
        }
        // With every sender gone the writer flushes what is queued (a closeSession reply) and ends.
        drop(tx);
        if tokio::time::timeout(Duration::from_secs(1), &mut writer).await.is_err() {
            writer.abort();
        }
        result
    }

    /// Reads one connection's requests while it owns `session` (a reattach from another
    /// connection takes the session over and this one closes, as in ZooKeeper), turning each
    /// into a job for the sequencer. A connection that sends no whole frame for `idle` (the
    /// session timeout; clients ping at a third of it) is closed, as ZooKeeper expires a
    /// connection not heard from in its session timeout: this also bounds a half-sent frame.
    #[allow(clippy::too_many_arguments)]
    async fn requests(
        &self,
        read: &mut (impl AsyncRead + Unpin),
        session: i64,
        mine: &mpsc::Sender<Bytes>,
        jobs: &mpsc::Sender<Job>,
        idle: Duration,
        peer: SocketAddr,
        who: Identity,
    ) -> std::io::Result<()> {
        let mut who = Arc::new(who);
        let mut sasl: Option<crate::sasl::DigestMd5Server> = None;
        loop {
            let Ok(frame) = tokio::time::timeout(idle, read_frame(read, JUTE_MAX_BUFFER_BYTES)).await else {
                tracing::debug!(session = format!("{session:#x}"), "no request within the session timeout; closing");
                return Ok(());
            };
            let Some(mut frame) = frame? else { return Ok(()) };
            let Ok(header) = RequestHeader::read(&mut frame) else { return Ok(()) };
            let zxid = {
                let st = self.state.lock();
                if !st.local.get(&session).is_some_and(|o| o.same_channel(mine)) {
                    return Ok(());
                }
                st.machine.zxid
            };
            self.touch(session);
            if header.op == op::AUTH {
                let (reply, proven) = self.authenticate(&header, frame, &who, peer);
                let failed = proven.is_none();
                if let Some(proven) = proven {
                    who = Arc::new(proven);
                    self.now_proven(session, mine, &who);
                }
                // A failed authentication is answered, then the connection closes (ZooKeeper's
                // AUTH_FAILED state: its client gives up on the session).
                if jobs.send(Job::Ready(reply)).await.is_err() || failed {
                    return Ok(());
                }
                continue;
            }
            if header.op == op::SASL {
                let server = sasl.get_or_insert_with(crate::sasl::DigestMd5Server::new);
                let token = SaslToken::read(&mut frame.clone()).ok().and_then(|t| t.token).unwrap_or_default();
                let answer = if token.len() > crate::sasl::MAX_SASL_TOKEN_BYTES {
                    Err("the token is too long".to_string())
                } else if self.config.sasl_users.is_empty() {
                    Err("SASL is not configured (keeper.sasl.jaas.config)".to_string())
                } else {
                    server.step(&token, &self.config.sasl_users).and_then(|t| {
                        if server.user.is_some() && who.ids.len() >= acl::MAX_IDENTITIES_PER_CONNECTION {
                            Err("too many identities on one connection".to_string())
                        } else {
                            Ok(t)
                        }
                    })
                };
                let reply = match answer {
                    Ok(token) => {
                        if let Some(user) = server.user.clone() {
                            let mut proven = (*who).clone();
                            if self.config.sasl_super_user.as_deref() == Some(user.as_str()) {
                                proven.superuser = true;
                                proven.add("super", "");
                            }
                            proven.add("sasl", &user);
                            who = Arc::new(proven);
                            self.now_proven(session, mine, &who);
                            tracing::debug!(%peer, %user, "keeper SASL authentication succeeded");
                        }
                        encode(|o| {
                            ReplyHeader { xid: header.xid, zxid: 0, err: 0 }.write(o);
                            SaslToken { token: Some(Bytes::from(token)) }.write(o);
                        })
                    }
                    Err(reason) => {
                        tracing::warn!(%peer, %reason, "keeper SASL authentication failed");
                        let _ = jobs.send(Job::Ready(reply_error(header.xid, 0, ZkError::AuthFailed))).await;
                        return Ok(());
                    }
                };
                if jobs.send(Job::Ready(reply)).await.is_err() {
                    return Ok(());
                }
                continue;
            }
            let close = header.op == op::CLOSE_SESSION;
            let received = Instant::now();
            let job = match Self::write_command(session, &who, &header, frame.clone()) {
                None => Job::Read { header, body: frame, who: who.clone(), received: Instant::now() },
                Some(Err(e)) => Job::Ready(reply_error(header.xid, zxid, e)),
                Some(Ok((mut command, kinds, path))) => match prepare(&mut command) {
                    Some((failed_index, error)) if header.op == op::MULTI => Job::Ready(multi_reply(
                        header.xid,
                        zxid,
                        &kinds,
                        &OpResult::MultiFailed { failed_index, error, len: kinds.len() },
                    )),
                    Some((_, error)) => Job::Ready(reply_error(header.xid, zxid, error)),
                    None => {
                        let (seq, applied) = self.submit(command);
                        Job::Write { seq, applied, xid: header.xid, op: header.op, kinds, path, received }
                    }
                },
            };
            if jobs.send(job).await.is_err() || close {
                return Ok(());
            }
        }
    }

    /// Records what the connection that owns `session` (its queue is `mine`) now proves.
    fn now_proven(&self, session: i64, mine: &mpsc::Sender<Bytes>, who: &Arc<Identity>) {
        let mut st = self.state.lock();
        if st.local.get(&session).is_some_and(|o| o.same_channel(mine)) {
            st.identities.insert(session, who.clone());
        }
    }

    /// An `addauth`: the identity it proves added to `who`, or `None` (AUTHFAILED, and the
    /// connection closes) for a scheme the keeper has no provider for. Like ZooKeeper, `digest`
    /// never fails: wrong credentials prove an identity no ACL names.
    fn authenticate(
        &self,
        header: &RequestHeader,
        mut body: Bytes,
        who: &Identity,
        peer: SocketAddr,
    ) -> (Bytes, Option<Identity>) {
        let failed = |scheme: &str| {
            tracing::warn!(%peer, scheme, "keeper authentication failed: no provider for the scheme");
            (reply_error(header.xid, 0, ZkError::AuthFailed), None)
        };
        let Ok(packet) = AuthPacket::read(&mut body) else { return failed("(malformed)") };
        if packet.auth.as_ref().is_some_and(|a| a.len() > acl::MAX_IDENTITY_BYTES)
            || who.ids.len() >= acl::MAX_IDENTITIES_PER_CONNECTION
        {
            tracing::warn!(%peer, "keeper authentication refused: credentials too long, or too many identities on one connection");
            return (reply_error(header.xid, 0, ZkError::AuthFailed), None);
        }
        let mut proven = who.clone();
        match packet.scheme.as_str() {
            "digest" => {
                let credentials = packet.auth.unwrap_or_default();
                let id = acl::digest(&String::from_utf8_lossy(&credentials));
                // In constant time: the comparison must not leak the super user's digest.
                let is_super = self
                    .config
                    .super_digest
                    .as_deref()
                    .is_some_and(|d| bool::from(subtle::ConstantTimeEq::ct_eq(d.as_bytes(), id.as_bytes())));
                if is_super {
                    proven.superuser = true;
                    proven.add("super", "");
                }
                proven.add("digest", &id);
            }
            // The address is every connection's already.
            "ip" => {}
            // Proven by the TLS handshake, if the client presented a certificate.
            "x509" if who.ids.iter().any(|(s, _)| s == "x509") => {}
            other => {
                // Client text in the log: escaped and cut short.
                let shown: String = other.chars().take(32).collect();
                return failed(&format!("{shown:?}"));
            }
        }
        (reply_ok(header.xid, 0), Some(proven))
    }

    /// Answers a connection's jobs in order, waiting for each write to be applied here.
    async fn sequence(
        self: Arc<Self>,
        session: i64,
        mut jobs: mpsc::Receiver<Job>,
        out: mpsc::Sender<Bytes>,
        wait: Duration,
    ) {
        while let Some(job) = jobs.recv().await {
            let reply = match job {
                Job::Ready(b) => b,
                Job::Read { header, body, who, received } => {
                    let ping = header.op == op::PING;
                    let reply = Self::read(&mut self.state.lock(), session, header, body, &who);
                    if !ping {
                        self.latency.reads.observe(received.elapsed());
                    }
                    reply
                }
                Job::Write { seq, applied, xid, op, kinds, path, received } => {
                    match tokio::time::timeout(wait, applied).await {
                        Ok(Ok(applied)) => {
                            self.latency.writes.observe(received.elapsed());
                            write_reply(xid, op, &kinds, &path, applied)
                        }
                        _ => {
                            // Not applied in time (the leader went away): the client reconnects
                            // and finds out what became of it, as after a ZooKeeper ConnectionLoss.
                            self.state.lock().pending.remove(&seq);
                            let _ = out.try_send(CLOSE);
                            return;
                        }
                    }
                }
            };
            if out.send(reply).await.is_err() {
                return;
            }
        }
    }
    /// Answers a read for a connection that proved `who`: getData and getChildren need READ on
    /// the node, getACL READ or ADMIN (without ADMIN, digests are shown without their
    /// hash); NOAUTH otherwise.
    fn read(st: &mut State, session: i64, header: RequestHeader, mut body: Bytes, who: &Identity) -> Bytes {
        let xid = header.xid;
        let zxid = st.machine.zxid;
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
            op::WHO_AM_I => encode(|o| {
                ReplyHeader { xid, zxid, err: 0 }.write(o);
                let client_info = who
                    .ids
                    .iter()
                    .map(|(scheme, id)| ClientInfo {
                        auth_scheme: scheme.clone(),
                        // A digest names its user (ZooKeeper's getUserName), not the hash.
                        user: if scheme == "digest" {
                            id.split(':').next().unwrap_or("").to_string()
                        } else {
                            id.clone()
                        },
                    })
                    .collect();
                WhoAmIResponse { client_info }.write(o);
            }),
            op::CHECK => {
                let r = parse!(CheckVersionRequest);
                if let Err(e) = readable(st, &r.path, who) {
                    return reply_error(xid, zxid, e);
                }
                match st.machine.tree.exists(&r.path) {
                    Ok(Some(stat)) if r.version == -1 || stat.version == r.version => reply_ok(xid, zxid),
                    Ok(Some(_)) => reply_error(xid, zxid, ZkError::BadVersion),
                    Ok(None) => reply_error(xid, zxid, ZkError::NoNode),
                    Err(e) => reply_error(xid, zxid, e),
                }
            }
            // No check: ZooKeeper 3.8 answers exists whatever the node's ACL.
            op::EXISTS => {
                let r = parse!(PathWatchRequest);
                let found = st.machine.tree.exists(&r.path);
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
                if let Err(e) = readable(st, &r.path, who) {
                    return reply_error(xid, zxid, e);
                }
                match st.machine.tree.get_data(&r.path) {
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
                if let Err(e) = readable(st, &r.path, who) {
                    return reply_error(xid, zxid, e);
                }
                match st.machine.tree.get_children(&r.path) {
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
                match st.machine.tree.get_acl(&r.path) {
                    Ok((entries, stat)) => {
                        if let Err(e) = acl::check(&entries, perms::READ | perms::ADMIN, who) {
                            return reply_error(xid, zxid, e);
                        }
                        let shown = if acl::check(&entries, perms::ADMIN, who).is_ok() {
                            entries
                        } else {
                            acl::masked(&entries)
                        };
                        encode(|o| {
                            ReplyHeader { xid, zxid, err: 0 }.write(o);
                            GetAclResponse { acl: shown.iter().map(Acl::from).collect(), stat: stat.into() }.write(o);
                        })
                    }
                    Err(e) => reply_error(xid, zxid, e),
                }
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
                    match st.machine.tree.exists(p) {
                        Ok(None) => missed.push((EventType::NodeDeleted, p.clone())),
                        Ok(Some(stat)) if stat.mzxid > since => missed.push((EventType::NodeDataChanged, p.clone())),
                        _ => drop(st.watches.add(session, p, WatchKind::Data)),
                    }
                }
                for p in &w.exist_watches {
                    match st.machine.tree.exists(p) {
                        Ok(Some(_)) => missed.push((EventType::NodeCreated, p.clone())),
                        _ => drop(st.watches.add(session, p, WatchKind::Data)),
                    }
                }
                for p in &w.child_watches {
                    match st.machine.tree.exists(p) {
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
            _ => reply_error(xid, zxid, ZkError::Unimplemented),
        }
    }

    /// The command a write request proposes (with, for a multi, the kind of each operation, and
    /// for a sync its path), an error for a malformed one, or `None` for a read.
    #[allow(clippy::type_complexity)]
    fn write_command(
        session: i64,
        who: &Identity,
        header: &RequestHeader,
        mut body: Bytes,
    ) -> Option<Result<(Command, Vec<i32>, String), ZkError>> {
        let write = |op| Ok((Command::WriteAs { session, who: who.clone(), op }, Vec::new(), String::new()));
        let malformed = |_| ZkError::MarshallingError;
        Some(match header.op {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => {
                CreateRequest::read(&mut body).map_err(malformed).and_then(|r| {
                    let mode = if header.op == op::CREATE_CONTAINER {
                        CreateMode::Container
                    } else {
                        CreateMode::from_flags(r.flags)?
                    };
                    write(Op::CreateAcl {
                        path: r.path,
                        data: r.data.unwrap_or_default(),
                        mode,
                        acl: r.acl.into_iter().map(AclEntry::from).collect(),
                    })
                })
            }
            op::SET_ACL => SetAclRequest::read(&mut body).map_err(malformed).and_then(|r| {
                write(Op::SetAcl {
                    path: r.path,
                    acl: r.acl.into_iter().map(AclEntry::from).collect(),
                    version: r.version,
                })
            }),
            op::DELETE => DeleteRequest::read(&mut body)
                .map_err(malformed)
                .and_then(|r| write(Op::Delete { path: r.path, version: r.version })),
            op::SET_DATA => SetDataRequest::read(&mut body).map_err(malformed).and_then(|r| {
                write(Op::SetData { path: r.path, data: r.data.unwrap_or_default(), version: r.version })
            }),
            op::MULTI => Self::multi_ops(&mut body).map(|(ops, kinds)| {
                (Command::WriteAs { session, who: who.clone(), op: Op::Multi(ops) }, kinds, String::new())
            }),
            op::SYNC => PathRequest::read(&mut body).map_err(malformed).map(|r| (Command::Sync, Vec::new(), r.path)),
            op::CLOSE_SESSION => Ok((Command::CloseSession { id: session }, Vec::new(), String::new())),
            _ => return None,
        })
    }

    /// A multi request's operations, and the op code of each.
    fn multi_ops(body: &mut Bytes) -> Result<(Vec<Op>, Vec<i32>), ZkError> {
        let mut ops = Vec::new();
        let mut kinds = Vec::new();
        loop {
            let h = MultiHeader::read(body).map_err(|_| ZkError::MarshallingError)?;
            if h.done {
                return Ok((ops, kinds));
            }
            let malformed = |_| ZkError::MarshallingError;
            let op = match h.op {
                op::CREATE | op::CREATE2 => CreateRequest::read(body).map_err(malformed).and_then(|r| {
                    Ok(Op::CreateAcl {
                        path: r.path,
                        data: r.data.unwrap_or_default(),
                        mode: CreateMode::from_flags(r.flags)?,
                        acl: r.acl.into_iter().map(AclEntry::from).collect(),
                    })
                })?,
                op::DELETE => DeleteRequest::read(body)
                    .map(|r| Op::Delete { path: r.path, version: r.version })
                    .map_err(malformed)?,
                op::SET_DATA => SetDataRequest::read(body)
                    .map(|r| Op::SetData { path: r.path, data: r.data.unwrap_or_default(), version: r.version })
                    .map_err(malformed)?,
                op::CHECK => CheckVersionRequest::read(body)
                    .map(|r| Op::Check { path: r.path, version: r.version })
                    .map_err(malformed)?,
                _ => return Err(ZkError::Unimplemented),
            };
            ops.push(op);
            kinds.push(h.op);
        }
    }
}

/// Readies a write for the log as ZooKeeper's `PrepRequestProcessor` does before logging a
/// transaction: each path checked with `PathUtils.validatePath` (BADARGUMENTS; a sequential
/// create with a digit appended) and each ACL a create or setACL carries fixed up
/// ([`acl::fixup`]: `auth` expanded to the requester's identities; INVALIDACL). Returns the first
/// operation refused (its index in a multi, else 0) and why.
fn prepare(command: &mut Command) -> Option<(usize, ZkError)> {
    fn ready(op: &mut Op, who: &Identity) -> Result<(), ZkError> {
        match op {
            Op::Create { path, mode, .. } | Op::CreateAcl { path, mode, .. }
                if matches!(mode, CreateMode::PersistentSequential | CreateMode::EphemeralSequential) =>
            {
                validate_path(&format!("{path}1"))?;
            }
            Op::Create { path, .. }
            | Op::CreateAcl { path, .. }
            | Op::Delete { path, .. }
            | Op::SetData { path, .. }
            | Op::Check { path, .. }
            | Op::SetAcl { path, .. } => validate_path(path)?,
            Op::Multi(_) => {}
        }
        if let Op::CreateAcl { acl, .. } | Op::SetAcl { acl, .. } = op {
            *acl = acl::fixup(acl, who)?;
        }
        Ok(())
    }
    let Command::WriteAs { op, who, .. } = command else { return None };
    match op {
        Op::Multi(ops) => ops.iter_mut().enumerate().find_map(|(i, op)| ready(op, who).err().map(|e| (i, e))),
        op => ready(op, who).err().map(|e| (0, e)),
    }
}

/// Passes when `who` may read the node at `path` (or there is none: the read answers NONODE).
fn readable(st: &State, path: &str, who: &Identity) -> Result<(), ZkError> {
    match st.machine.tree.check_access(path, perms::READ, who) {
        Err(ZkError::NoNode) => Ok(()),
        r => r,
    }
}

/// The reply to a write request once it is applied.
fn write_reply(xid: i32, request: i32, kinds: &[i32], path: &str, applied: Applied) -> Bytes {
    let zxid = applied.zxid;
    if request == op::MULTI {
        let result =
            applied.result.unwrap_or_else(|error| OpResult::MultiFailed { failed_index: 0, error, len: kinds.len() });
        return multi_reply(xid, zxid, kinds, &result);
    }
    match (request, applied.result) {
        (_, Err(e)) => reply_error(xid, zxid, e),
        (op::CREATE | op::CREATE2 | op::CREATE_CONTAINER, Ok(OpResult::Created { path, stat })) => encode(|o| {
            ReplyHeader { xid, zxid, err: 0 }.write(o);
            if request == op::CREATE {
                CreateResponse { path }.write(o);
            } else {
                Create2Response { path, stat: stat.into() }.write(o);
            }
        }),
        (op::SET_DATA | op::SET_ACL, Ok(OpResult::Set { stat })) => encode(|o| {
            ReplyHeader { xid, zxid, err: 0 }.write(o);
            StatResponse { stat: stat.into() }.write(o);
        }),
        (op::SYNC, Ok(_)) => encode(|o| {
            ReplyHeader { xid, zxid, err: 0 }.write(o);
            PathRequest { path: path.to_string() }.write(o);
        }),
        (op::DELETE | op::CLOSE_SESSION, Ok(_)) => reply_ok(xid, zxid),
        _ => reply_error(xid, zxid, ZkError::SystemError),
    }
}

fn multi_reply(xid: i32, zxid: i64, kinds: &[i32], result: &OpResult) -> Bytes {
    encode(|o| {
        ReplyHeader { xid, zxid, err: 0 }.write(o);
        match result {
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

impl Host for Keeper {
    fn apply(&self, batch: &[Proposal]) {
        let mut st = self.state.lock();
        let st = &mut *st;
        for p in batch {
            let (mut changes, mut ended) = (Vec::new(), Vec::new());
            let applied = st.machine.apply(p, &mut changes, &mut ended);
            Self::notify(st, &changes);
            for id in ended {
                st.watches.remove_session(id);
                st.deadlines.remove(&id);
                let out = st.local.remove(&id);
                st.identities.remove(&id);
                // An expired session's connection closes; a closed one's stays for the reply.
                if let (Some(out), Command::ExpireSession { .. }) = (out, &p.command) {
                    let _ = out.try_send(CLOSE);
                }
            }
            if p.origin == self.origin
                && let Some(tx) = st.pending.remove(&p.seq)
            {
                let _ = tx.send(applied);
            }
        }
        self.applied.send_replace(st.machine.zxid);
    }

    fn snapshot(&self) -> Vec<u8> {
        self.state.lock().machine.to_snapshot()
    }

    fn restore(&self, snapshot: &[u8]) -> Result<(), String> {
        let machine = Machine::from_snapshot(snapshot)?;
        let mut st = self.state.lock();
        // Connections of sessions the snapshot does not know close; their clients learn why.
        let gone: Vec<i64> = st.local.keys().filter(|id| !machine.sessions.contains_key(id)).copied().collect();
        for id in gone {
            if let Some(out) = st.local.remove(&id) {
                let _ = out.try_send(CLOSE);
            }
            st.identities.remove(&id);
            st.watches.remove_session(id);
        }
        st.machine = machine;
        self.applied.send_replace(st.machine.zxid);
        Ok(())
    }

    fn touched(&self, sessions: &[i64]) {
        let mut st = self.state.lock();
        let st = &mut *st;
        let now = Instant::now();
        for id in sessions {
            if let Some(info) = st.machine.sessions.get(id) {
                st.deadlines.insert(*id, now + Duration::from_millis(info.timeout_ms as u64));
            }
        }
    }
}

/// Reads one length-prefixed frame; `None` at end of stream or for a length out of bounds
/// (negative, or over `max_bytes`: the caller closes the connection, as ZooKeeper does).
pub(crate) async fn read_frame(
    read: &mut (impl AsyncRead + Unpin),
    max_bytes: usize,
) -> std::io::Result<Option<Bytes>> {
    let mut size = [0u8; 4];
    match read.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    read_body(read, i32::from_be_bytes(size), max_bytes).await
}

/// Reads a frame body of `size` bytes; `None` for a size out of bounds.
async fn read_body(read: &mut (impl AsyncRead + Unpin), size: i32, max_bytes: usize) -> std::io::Result<Option<Bytes>> {
    if size < 0 || size as usize > max_bytes {
        return Ok(None);
    }
    let mut frame = BytesMut::zeroed(size as usize);
    read.read_exact(&mut frame).await?;
    Ok(Some(frame.freeze()))
}
