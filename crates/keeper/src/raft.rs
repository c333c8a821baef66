//! The keeper's [`Replicator`] on openraft 0.9: log storage on disk ([`crate::raft_log`]),
//! snapshots of the state machine in one file replaced atomically, and the peer transport on
//! the keeper peer port (ZooKeeper's 2888), which carries openraft's RPCs and the keeper's
//! own: proposals forwarded to the leader and session touches.
//!
//! Peer frames are a `u32` big-endian length and a postcard payload, one request then its reply
//! on a connection at a time.
//!
//! A full disk: openraft 0.9 stops its core for good on any storage error, so no write here
//! hands it one for lack of space. Log appends, votes and snapshots wait and retry with back-off
//! ([`retrying_on_full_disk`]) until space returns, marking the disk full so that the keeper
//! refuses new writes meanwhile; a purge whose purge point cannot be written is skipped (the
//! log keeps a little more than it must until the next one). Openraft's core waits with the
//! write, as it would for a slow disk: a leader stuck there stops heartbeating and the rest of
//! the ensemble elects another.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, LogState, RaftLogReader, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership, Vote,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::disk_space::DiskSpace;
use crate::machine::Proposal;
use crate::raft_log::{DiskLog, SharedLog, read_file, write_atomically};
use crate::replication::{BoxFuture, Host, ReplicaStatus, ReplicateError, Replicator};
use crate::tls::PeerTls;

/// A log entry's payload: the proposals of one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch(pub Vec<Proposal>);

impl std::fmt::Display for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "batch of {}", self.0.len())
    }
}

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Batch,
        R = (),
);

type NodeId = u64;
type Raft = openraft::Raft<TypeConfig>;
type StorageResult<T> = Result<T, StorageError<NodeId>>;

/// Proposals merged into one log entry, at most.
const MAX_ENTRY_PROPOSALS: usize = 4096;

/// Largest peer frame (a snapshot chunk or a batch of entries).
const MAX_PEER_FRAME: usize = 256 * 1024 * 1024;
/// Bytes of proposals in one log entry, about, at most (one larger proposal, up to a request's
/// `jute.maxbuffer`, makes an entry of its own): openraft sends up to 64 entries at once, which
/// stays well under [`MAX_PEER_FRAME`].
pub(crate) const MAX_ENTRY_BYTES: usize = 2 * 1024 * 1024;

/// First and longest wait between tries of a write that failed for lack of space: short enough
/// that writes resume within about a second of space being freed, long enough not to spin.
const DISK_FULL_RETRY_MIN_BACKOFF_MS: u64 = 10;
const DISK_FULL_RETRY_MAX_BACKOFF_MS: u64 = 1_000;

/// Timing of the ensemble, and how often the state machine is snapshotted.
#[derive(Debug, Clone, Copy)]
pub struct RaftTiming {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// Log entries between snapshots (ZooKeeper's `snapCount`); half as many (at most 1000)
    /// stay in the log behind a snapshot for followers that lag a little.
    pub snapshot_entries: u64,
}

// ---------------------------------------------------------------------------------------------
// Log storage

#[derive(Debug, Clone)]
pub struct LogStore {
    dir: PathBuf,
    log: SharedLog<Entry<TypeConfig>>,
    purged: Arc<Mutex<Option<LogId<NodeId>>>>,
    disk: Arc<DiskSpace>,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl LogStore {
    fn open(dir: &Path, disk: Arc<DiskSpace>) -> std::io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let purged: Option<LogId<NodeId>> = match read_file(dir, "purged")? {
            Some(b) => Some(postcard::from_bytes(&b).map_err(io_err)?),
            None => None,
        };
        let log = DiskLog::open(dir, purged.map(|p| p.index), |e: &Entry<TypeConfig>| e.log_id.index)?;
        Ok(LogStore {
            dir: dir.to_path_buf(),
            log: Arc::new(Mutex::new(log)),
            purged: Arc::new(Mutex::new(purged)),
            disk,
        })
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        Ok(self.log.lock().range(range))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let purged = *self.purged.lock();
        let last = self.log.lock().last().map(|e| e.log_id).or(purged);
        Ok(LogState { last_purged_log_id: purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        let bytes = postcard::to_allocvec(vote).map_err(|e| StorageIOError::write_vote(&io_err(e)))?;
        let dir = self.dir.clone();
        retrying_on_full_disk(&self.disk, "vote", move || write_atomically(&dir, "vote", &bytes))
            .await
            .map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        let read = || -> std::io::Result<Option<Vote<NodeId>>> {
            match read_file(&self.dir, "vote")? {
                Some(b) => Ok(Some(postcard::from_bytes(&b).map_err(io_err)?)),
                None => Ok(None),
            }
        };
        Ok(read().map_err(|e| StorageIOError::read_vote(&e))?)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<_> = entries.into_iter().map(|e| (e.log_id.index, e)).collect();
        let log = self.log.clone();
        // Cloned per try: a try that failed may have taken nothing, or part of a record (which
        // the next try overwrites, since it writes at the end of what was taken).
        let result =
            retrying_on_full_disk(&self.disk, "raft log append", move || log.lock().append(entries.clone())).await;
        let reported = result.as_ref().map(|_| ()).map_err(|e| std::io::Error::new(e.kind(), e.to_string()));
        callback.log_io_completed(reported);
        result.map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let log = self.log.clone();
        blocking(move || log.lock().truncate(log_id.index)).await.map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let bytes = postcard::to_allocvec(&log_id).map_err(|e| StorageIOError::write_logs(&io_err(e)))?;
        let (dir, log) = (self.dir.clone(), self.log.clone());
        let purged = blocking(move || {
            write_atomically(&dir, "purged", &bytes)?;
            log.lock().purge(log_id.index)
        })
        .await;
        match purged {
            Ok(()) => *self.purged.lock() = Some(log_id),
            // Nothing was removed (the purge point is written first): the entries stay until a
            // later purge, which covers these too. Purging frees space, so it must not wait.
            Err(e) if self.disk.note_error(&e) => {
                tracing::warn!(upto = %log_id, error = %e, "raft log not purged: the disk is full");
            }
            Err(e) => return Err(StorageIOError::write_logs(&e).into()),
        }
        Ok(())
    }
}

/// Runs file I/O off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io_err)?
}

/// Runs a write off the async workers; while it fails for lack of space, notes the disk full and
/// tries again after a back-off (doubling up to [`DISK_FULL_RETRY_MAX_BACKOFF_MS`]) instead of
/// failing: openraft would stop for good on the error. Other errors are returned (an
/// environment failure that takes the keeper down loudly), and so is an out-of-space one once
/// the keeper is shutting down, so that shutdown never waits for space.
async fn retrying_on_full_disk<T: Send + 'static>(
    disk: &DiskSpace,
    what: &'static str,
    write: impl Fn() -> std::io::Result<T> + Send + Sync + 'static,
) -> std::io::Result<T> {
    let write = Arc::new(write);
    let mut backoff_ms = DISK_FULL_RETRY_MIN_BACKOFF_MS;
    let mut tries = 0u64;
    loop {
        let attempt = write.clone();
        match blocking(move || attempt()).await {
            Err(e) if disk.note_error(&e) && !disk.is_stopping() => {
                if tries == 0 {
                    tracing::warn!(what, error = %e, "keeper write waits for disk space");
                }
                tries += 1;
                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                backoff_ms = (backoff_ms * 2).min(DISK_FULL_RETRY_MAX_BACKOFF_MS);
            }
            Ok(v) => {
                if tries > 0 {
                    tracing::warn!(what, tries, "keeper write done once disk space returned");
                }
                return Ok(v);
            }
            Err(e) => return Err(e),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State machine and snapshots

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

pub struct StateMachine {
    dir: PathBuf,
    disk: Arc<DiskSpace>,
    host: Arc<dyn Host>,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
}

impl Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachine").field("last_applied", &self.last_applied).finish_non_exhaustive()
    }
}

impl StateMachine {
    /// Starts from the snapshot on disk, if there is one.
    fn open(dir: &Path, host: Arc<dyn Host>, disk: Arc<DiskSpace>) -> std::io::Result<StateMachine> {
        let mut sm = StateMachine {
            dir: dir.to_path_buf(),
            disk,
            host,
            last_applied: None,
            membership: StoredMembership::default(),
        };
        if let Some(file) = sm.read_snapshot()? {
            sm.host.restore(&file.data).map_err(io_err)?;
            sm.last_applied = file.meta.last_log_id;
            sm.membership = file.meta.last_membership;
        }
        Ok(sm)
    }

    fn read_snapshot(&self) -> std::io::Result<Option<SnapshotFile>> {
        match read_file(&self.dir, "snapshot")? {
            Some(b) => Ok(Some(postcard::from_bytes(&b).map_err(io_err)?)),
            None => Ok(None),
        }
    }
}

/// A snapshot taken on the state machine's task (so consistent with what was applied), written
/// to disk by `build_snapshot`.
pub struct SnapshotBuilder {
    dir: PathBuf,
    disk: Arc<DiskSpace>,
    file: Option<SnapshotFile>,
}

impl Debug for SnapshotBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotBuilder").finish_non_exhaustive()
    }
}

/// Snapshots this process has written, and the time writing them took (serialising and the
/// atomic file write, a full disk's wait included), for `/metrics`. Process-wide, as a process
/// runs one keeper node.
pub static SNAPSHOTS_WRITTEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
pub static SNAPSHOT_WRITE_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Writes the snapshot file, waiting for space on a full disk (openraft builds snapshots on a
/// task of their own, so the wait holds up only the purge that follows).
async fn save_snapshot(dir: &Path, disk: &DiskSpace, file: &SnapshotFile) -> std::io::Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    let started = std::time::Instant::now();
    let bytes = postcard::to_allocvec(file).map_err(io_err)?;
    let dir = dir.to_path_buf();
    retrying_on_full_disk(disk, "snapshot", move || write_atomically(&dir, "snapshot", &bytes)).await?;
    SNAPSHOTS_WRITTEN.fetch_add(1, Relaxed);
    SNAPSHOT_WRITE_NANOS.fetch_add(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX), Relaxed);
    Ok(())
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let file = self.file.take().ok_or_else(|| StorageIOError::write_snapshot(None, &io_err("built twice")))?;
        save_snapshot(&self.dir, &self.disk, &file).await.map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        Ok(Snapshot { meta: file.meta, snapshot: Box::new(Cursor::new(file.data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> StorageResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<()>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut replies = Vec::new();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(batch) => self.host.apply(&batch.0),
                EntryPayload::Membership(m) => self.membership = StoredMembership::new(Some(entry.log_id), m),
            }
            replies.push(());
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let id = self.last_applied.map_or_else(|| "empty".to_string(), |l| format!("{}-{}", l.leader_id, l.index));
        let meta =
            SnapshotMeta { last_log_id: self.last_applied, last_membership: self.membership.clone(), snapshot_id: id };
        SnapshotBuilder {
            dir: self.dir.clone(),
            disk: self.disk.clone(),
            file: Some(SnapshotFile { meta, data: self.host.snapshot() }),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let file = SnapshotFile { meta: meta.clone(), data: snapshot.into_inner() };
        self.host.restore(&file.data).map_err(|e| StorageIOError::read_snapshot(None, &io_err(e)))?;
        save_snapshot(&self.dir, &self.disk, &file).await.map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let file = self.read_snapshot().map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(file.map(|f| Snapshot { meta: f.meta, snapshot: Box::new(Cursor::new(f.data)) }))
    }
}

// ---------------------------------------------------------------------------------------------
// Peer transport

#[derive(Debug, Serialize, Deserialize)]
enum PeerRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    Submit(Batch),
    Touch(Vec<i64>),
}

#[derive(Debug, Serialize, Deserialize)]
enum PeerReply {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    /// The proposals are in the leader's log queue, in order.
    Accepted,
    /// Not the leader; the one it knows of, if any. Nothing was taken.
    NotLeader(Option<NodeId>),
    Touched,
}

/// A peer connection, plain or TLS.
trait PeerStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> PeerStream for T {}

async fn write_frame(stream: &mut (impl AsyncWrite + Unpin), value: &impl Serialize) -> std::io::Result<()> {
    let bytes = postcard::to_allocvec(value).map_err(io_err)?;
    let mut frame = Vec::with_capacity(4 + bytes.len());
    frame.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    frame.extend_from_slice(&bytes);
    stream.write_all(&frame).await
}

async fn read_frame<T: for<'de> Deserialize<'de>>(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_PEER_FRAME {
        return Err(io_err(format!("peer frame of {len} bytes is over the limit")));
    }
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await?;
    postcard::from_bytes(&buf).map(Some).map_err(io_err)
}

/// One connection to a peer, reopened on the next call after a failure.
struct PeerClient {
    addr: String,
    conn: tokio::sync::Mutex<Option<Box<dyn PeerStream>>>,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerClient").field("addr", &self.addr).field("tls", &self.tls.is_some()).finish()
    }
}

impl PeerClient {
    fn new(addr: String, tls: Option<&PeerTls>) -> PeerClient {
        let tls = tls.map(|t| tokio_rustls::TlsConnector::from(t.connector.clone()));
        PeerClient { addr, conn: tokio::sync::Mutex::new(None), tls }
    }

    async fn connect(&self) -> std::io::Result<Box<dyn PeerStream>> {
        let stream = TcpStream::connect(&self.addr).await?;
        stream.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Box::new(stream)),
            Some(connector) => {
                let name = crate::tls::server_name(&self.addr)?;
                Ok(Box::new(connector.connect(name, stream).await?))
            }
        }
    }

    async fn call(&self, request: &PeerRequest, timeout: Duration) -> std::io::Result<PeerReply> {
        let mut conn = self.conn.lock().await;
        let attempt = async {
            if conn.is_none() {
                *conn = Some(self.connect().await?);
            }
            let stream = conn.as_mut().expect("connected above");
            write_frame(stream, request).await?;
            read_frame::<PeerReply>(stream).await?.ok_or_else(|| io_err("peer closed the connection"))
        };
        let result = match tokio::time::timeout(timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "peer did not answer in time")),
        };
        if result.is_err() {
            *conn = None;
        }
        result
    }
}

#[derive(Debug, Clone)]
struct Network {
    timeout: Duration,
    tls: Option<PeerTls>,
}

struct PeerLink {
    target: NodeId,
    client: PeerClient,
    timeout: Duration,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerLink {
        PeerLink { target, client: PeerClient::new(node.addr.clone(), self.tls.as_ref()), timeout: self.timeout }
    }
}

impl PeerLink {
    async fn call<E: std::error::Error>(
        &self,
        request: PeerRequest,
        option: &RPCOption,
    ) -> Result<PeerReply, RPCError<NodeId, BasicNode, E>> {
        let timeout = option.hard_ttl().max(self.timeout);
        self.client.call(&request, timeout).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::TimedOut => {
                RPCError::Unreachable(Unreachable::new(&e))
            }
            _ => RPCError::Network(NetworkError::new(&e)),
        })
    }
}

fn unexpected<E: std::error::Error>(reply: &PeerReply) -> RPCError<NodeId, BasicNode, E> {
    RPCError::Network(NetworkError::new(&io_err(format!("unexpected peer reply {reply:?}"))))
}

impl RaftNetwork<TypeConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(PeerRequest::Append(rpc), &option).await? {
            PeerReply::Append(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(unexpected(&other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        match self.call(PeerRequest::Snapshot(rpc), &option).await? {
            PeerReply::Snapshot(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(unexpected(&other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(PeerRequest::Vote(rpc), &option).await? {
            PeerReply::Vote(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(unexpected(&other)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The replicator

/// A keeper node's place in the ensemble: its id and every voter's peer address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ensemble {
    pub id: u64,
    pub servers: BTreeMap<u64, String>,
}

pub struct OpenRaft {
    raft: Raft,
    id: NodeId,
    /// Batches for the log while this node leads, from here and forwarded by followers.
    queue: tokio::sync::mpsc::UnboundedSender<Vec<Proposal>>,
    host: Arc<dyn Host>,
    peers: BTreeMap<NodeId, PeerClient>,
    timing: RaftTiming,
}

impl Debug for OpenRaft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenRaft").field("id", &self.id).finish_non_exhaustive()
    }
}

impl OpenRaft {
    /// Opens the log and snapshot in `dir`, starts Raft, serves peers on `peer_listener` (when
    /// the ensemble has other members) and forms the ensemble on first start.
    pub async fn start(
        ensemble: Ensemble,
        dir: &Path,
        host: Arc<dyn Host>,
        peer_listener: Option<TcpListener>,
        timing: RaftTiming,
        disk: Arc<DiskSpace>,
        tls: Option<PeerTls>,
    ) -> std::io::Result<Arc<OpenRaft>> {
        let config = openraft::Config {
            cluster_name: "sluice-keeper".into(),
            heartbeat_interval: timing.heartbeat_ms,
            election_timeout_min: timing.election_min_ms,
            election_timeout_max: timing.election_max_ms,
            install_snapshot_timeout: 5_000,
            max_payload_entries: 64,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(timing.snapshot_entries.max(1)),
            max_in_snapshot_log_to_keep: (timing.snapshot_entries / 2).min(1_000),
            ..Default::default()
        }
        .validate()
        .map_err(io_err)?;
        let log = LogStore::open(dir, disk.clone())?;
        let sm = StateMachine::open(dir, host.clone(), disk)?;
        let network = Network { timeout: Duration::from_millis(timing.election_min_ms.max(500)), tls: tls.clone() };
        let raft = Raft::new(ensemble.id, Arc::new(config), network, log, sm).await.map_err(io_err)?;
        let peers = ensemble
            .servers
            .iter()
            .filter(|(id, _)| **id != ensemble.id)
            .map(|(id, addr)| (*id, PeerClient::new(addr.clone(), tls.as_ref())))
            .collect();
        let (queue, batches) = tokio::sync::mpsc::unbounded_channel();
        let me = Arc::new(OpenRaft { raft: raft.clone(), id: ensemble.id, queue, host, peers, timing });
        tokio::spawn(me.clone().lead(batches));
        if let Some(listener) = peer_listener {
            tokio::spawn(me.clone().serve_peers(listener, tls.map(|t| (t.acceptor, t.peer_hosts))));
        }
        if !raft.is_initialized().await.map_err(io_err)? {
            let members: BTreeMap<NodeId, BasicNode> =
                ensemble.servers.iter().map(|(id, addr)| (*id, BasicNode { addr: addr.clone() })).collect();
            // Every member forms the same ensemble; the calls after the first change nothing.
            if let Err(e) = raft.initialize(members).await {
                tracing::debug!(error = %e, "keeper ensemble already formed");
            }
        }
        Ok(me)
    }

    /// Group commit on the leader: whatever queued up while earlier entries were being written
    /// and replicated goes into the next entry, with at most two entries in flight. (One entry
    /// per client write would cost an fsync on every node for each.)
    /// An entry holds at most [`MAX_ENTRY_PROPOSALS`] proposals and about [`MAX_ENTRY_BYTES`]
    /// (a batch that would pass it waits for the next entry), so that openraft's payload of
    /// entries always fits a peer frame.
    async fn lead(self: Arc<Self>, mut batches: tokio::sync::mpsc::UnboundedReceiver<Vec<Proposal>>) {
        const IN_FLIGHT: usize = 2;
        let mut in_flight = std::collections::VecDeque::new();
        let mut carried: Option<Vec<Proposal>> = None;
        loop {
            let mut batch = match carried.take() {
                Some(b) => b,
                None => match batches.recv().await {
                    Some(b) => b,
                    None => break,
                },
            };
            let mut bytes: usize = batch.iter().map(Proposal::approx_bytes).sum();
            while batch.len() < MAX_ENTRY_PROPOSALS && bytes < MAX_ENTRY_BYTES {
                match batches.try_recv() {
                    Ok(more) => {
                        let more_bytes: usize = more.iter().map(Proposal::approx_bytes).sum();
                        if bytes + more_bytes > MAX_ENTRY_BYTES {
                            carried = Some(more);
                            break;
                        }
                        bytes += more_bytes;
                        batch.extend(more);
                    }
                    Err(_) => break,
                }
            }
            if !self.status().is_leader() {
                // Their nodes' clients time out and reconnect (ZooKeeper's ConnectionLoss).
                tracing::warn!(proposals = batch.len(), "keeper leadership lost; proposals dropped");
                continue;
            }
            match self.raft.client_write_ff(Batch(batch)).await {
                Ok(rx) => in_flight.push_back(rx),
                Err(e) => tracing::warn!(error = %e, "keeper log closed"),
            }
            while in_flight.len() >= IN_FLIGHT {
                if let Some(rx) = in_flight.pop_front() {
                    let _ = rx.await;
                }
            }
        }
    }

    /// Serves the other nodes on the peer port; with `tls`, only those whose certificate the
    /// acceptor's truststore vouches for (ZooKeeper's `sslQuorum`).
    async fn serve_peers(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<(crate::tls::Acceptor, Option<Vec<String>>)>,
    ) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let me = self.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let mut stream: Box<dyn PeerStream> = match tls {
                    None => Box::new(stream),
                    Some((acceptor, peer_hosts)) => {
                        let within = Duration::from_millis(crate::tls::TLS_HANDSHAKE_TIMEOUT_MS);
                        match tokio::time::timeout(within, acceptor().accept(stream)).await {
                            Ok(Ok(s)) => {
                                let leaf = s.get_ref().1.peer_certificates().and_then(|c| c.first());
                                let pinned = match (&peer_hosts, leaf) {
                                    (None, _) => true,
                                    (Some(hosts), Some(cert)) => {
                                        hosts.iter().any(|h| crate::tls::certificate_names(cert.as_ref(), h))
                                    }
                                    (Some(_), None) => false,
                                };
                                if !pinned {
                                    tracing::warn!(%peer, "keeper peer refused: its certificate names none of the ensemble's hosts (keeper.servers)");
                                    return;
                                }
                                Box::new(s)
                            }
                            Ok(Err(e)) => {
                                tracing::warn!(%peer, error = %e, "keeper peer TLS handshake refused");
                                return;
                            }
                            Err(_) => return,
                        }
                    }
                };
                while let Ok(Some(request)) = read_frame::<PeerRequest>(&mut stream).await {
                    let reply = me.answer(request).await;
                    if write_frame(&mut stream, &reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    }

    async fn answer(&self, request: PeerRequest) -> PeerReply {
        match request {
            PeerRequest::Append(rpc) => PeerReply::Append(self.raft.append_entries(rpc).await),
            PeerRequest::Vote(rpc) => PeerReply::Vote(self.raft.vote(rpc).await),
            PeerRequest::Snapshot(rpc) => PeerReply::Snapshot(self.raft.install_snapshot(rpc).await),
            PeerRequest::Submit(batch) => {
                // A peer is a keeper node and trusted as one (the peer port is the ensemble's
                // trust boundary: keep it on a private network, or behind keeper.ssl.quorum).
                // Still, this version never proposes a write that skips ACL checks; refuse one.
                if batch.0.iter().any(|p| matches!(p.command, crate::machine::Command::Write { .. })) {
                    return PeerReply::NotLeader(None);
                }
                let status = self.status();
                if !status.is_leader() {
                    return PeerReply::NotLeader(status.leader);
                }
                match self.queue.send(batch.0) {
                    Ok(()) => PeerReply::Accepted,
                    Err(_) => PeerReply::NotLeader(None),
                }
            }
            PeerRequest::Touch(sessions) => {
                self.host.touched(&sessions);
                PeerReply::Touched
            }
        }
    }

    /// Waits (up to two election timeouts) for a leader to be known.
    async fn leader(&self) -> Option<NodeId> {
        let mut metrics = self.raft.metrics();
        let wait = Duration::from_millis(2 * self.timing.election_max_ms);
        let found = tokio::time::timeout(wait, async {
            loop {
                if let Some(l) = metrics.borrow_and_update().current_leader {
                    return Some(l);
                }
                if metrics.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await;
        found.ok().flatten()
    }

    fn peer_timeout(&self) -> Duration {
        Duration::from_millis(self.timing.election_max_ms.max(1_000))
    }
}

impl Replicator for OpenRaft {
    fn submit(&self, batch: Vec<Proposal>) -> BoxFuture<'_, Result<(), ReplicateError>> {
        Box::pin(async move {
            let batch = Batch(batch);
            let mut leader = self.leader().await;
            // A node that says it is not the leader took nothing, so asking the next is safe.
            for _ in 0..3 {
                let Some(l) = leader else { return Err(ReplicateError::NoLeader) };
                if l == self.id {
                    return self.queue.send(batch.0).map_err(|_| ReplicateError::Fatal("keeper log closed".into()));
                }
                let Some(peer) = self.peers.get(&l) else { return Err(ReplicateError::NoLeader) };
                let request = PeerRequest::Submit(batch.clone());
                match peer.call(&request, self.peer_timeout()).await {
                    Ok(PeerReply::Accepted) => return Ok(()),
                    Ok(PeerReply::NotLeader(next)) => {
                        leader = match next {
                            Some(n) if n != l => Some(n),
                            _ => {
                                tokio::time::sleep(Duration::from_millis(self.timing.heartbeat_ms)).await;
                                self.leader().await
                            }
                        }
                    }
                    Ok(other) => return Err(ReplicateError::Unreachable(format!("unexpected reply {other:?}"))),
                    Err(e) => return Err(ReplicateError::Unreachable(e.to_string())),
                }
            }
            Err(ReplicateError::NoLeader)
        })
    }

    fn touch(&self, sessions: Vec<i64>) -> BoxFuture<'_, Result<(), ReplicateError>> {
        Box::pin(async move {
            let status = self.status();
            match status.leader {
                Some(l) if l == self.id => {
                    self.host.touched(&sessions);
                    Ok(())
                }
                Some(l) => {
                    let peer = self.peers.get(&l).ok_or(ReplicateError::NoLeader)?;
                    match peer.call(&PeerRequest::Touch(sessions), self.peer_timeout()).await {
                        Ok(_) => Ok(()),
                        Err(e) => Err(ReplicateError::Unreachable(e.to_string())),
                    }
                }
                None => Err(ReplicateError::NoLeader),
            }
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.raft.shutdown().await;
        })
    }

    fn status(&self) -> ReplicaStatus {
        let m = self.raft.metrics();
        let m = m.borrow();
        ReplicaStatus {
            id: self.id,
            leader: m.current_leader,
            term: m.current_term,
            voters: m.membership_config.membership().voter_ids().count(),
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|id| id.index),
            last_snapshot_index: m.snapshot.map(|id| id.index),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_write_out_of_space_waits_and_retries_instead_of_failing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = Arc::new(DiskSpace::new(dir.path()));
        let tries = Arc::new(AtomicU32::new(0));
        let counted = tries.clone();
        let written = retrying_on_full_disk(&disk, "test", move || {
            if counted.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(written.expect("retried until it succeeded"), 7);
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        assert!(disk.is_full(), "the failures marked the disk full for the proposer");
    }

    #[tokio::test]
    async fn other_errors_and_a_stopping_keeper_are_not_retried() {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = Arc::new(DiskSpace::new(dir.path()));
        let eio = retrying_on_full_disk(&disk, "test", || Err::<(), _>(std::io::Error::from_raw_os_error(libc::EIO)));
        assert_eq!(eio.await.expect_err("an I/O error is returned").raw_os_error(), Some(libc::EIO));
        assert!(!disk.is_full());
        disk.stop_retrying();
        let full =
            retrying_on_full_disk(&disk, "test", || Err::<(), _>(std::io::Error::from_raw_os_error(libc::ENOSPC)));
        assert_eq!(full.await.expect_err("shutdown does not wait for space").raw_os_error(), Some(libc::ENOSPC));
    }
}
