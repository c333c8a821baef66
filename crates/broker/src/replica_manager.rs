//! `ReplicaManager`: the partitions this broker hosts and their roles (Kafka's
//! `ReplicaManager` and `Partition`).
//!
//! A partition's role comes from its state znode (leader, leader epoch, ISR), which the
//! controller writes and every broker follows through the metadata cache (`apply_view`):
//! - **leader**: takes produce requests, stamps batches with its leader epoch, tracks each
//!   follower's log end offset from its fetches (`sluice_replication::LeaderState`), moves the
//!   high watermark to the smallest log end offset of the ISR, and proposes ISR changes (a
//!   follower lagging `replica.lag.time.max.ms`, or caught up again) which the ISR writer task
//!   commits with compare-and-set on the znode version;
//! - **follower**: refuses clients, and is fed by a `ReplicaFetcher` (see `fetcher.rs`) that
//!   truncates by leader epoch, then appends what the leader sends.
//!
//! `acks=all` waits in a purgatory (the high watermark's `watch` channel) until the high
//! watermark passes the batch, the request times out, or the partition stops being led here.
//!
//! At startup the broker serves before its logs are loaded (`LogManager::load_logs`): a
//! partition exists here only once its log is. `apply_view` skips the partitions whose logs are
//! still loading (never creating a log in their place), each load wakes the reconciler
//! (`log_loaded`), which applies the view again and so takes their roles, and requests for them
//! meanwhile get NOT_LEADER_OR_FOLLOWER (`partition_or_error`).
//!
//! Concurrency and lock order: a partition's `status` mutex, then its log's lock; both are held
//! only for short synchronous work. The partition map's lock is held only to look up or change
//! the map. Waiting happens on `watch` channels, never while a lock is held.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use sluice_protocol::record_batch::{self, BatchError, TimestampType};
use sluice_protocol::validator::{self, RecordChecks, TimestampBounds};
use sluice_replication::LeaderState;
use sluice_storage::{
    AbortedTxn, AppendOrigin, Clock, LogAppendInfo, LogConfig, LogManager, SharedLog, StorageError, TopicPartition,
};
use tokio::sync::{mpsc, watch};

use crate::cluster::cache::{ClusterView, VersionedState};
use crate::error::{ErrorCode, batch_error_code, storage_error_code};
use crate::log_limiter::LogLimiter;

/// A partition's role on this broker.
#[derive(Debug)]
enum Role {
    /// Hosted but neither leading nor following (no state yet, or the partition is offline).
    None,
    Leader(LeaderState),
    Follower {
        leader: i32,
    },
}

#[derive(Debug)]
struct Status {
    leader_epoch: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    role: Role,
}

/// An ISR change a leader wants written to its state znode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    pub tp: TopicPartition,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    /// The znode version the change is based on (compare-and-set).
    pub zk_version: i32,
}

/// One partition hosted here.
#[derive(Debug)]
pub struct Partition {
    pub tp: TopicPartition,
    pub log: SharedLog,
    broker_id: i32,
    status: Mutex<Status>,
    /// `min.insync.replicas` for this topic.
    min_insync: AtomicI32,
    /// The high watermark, published for waiters (`acks=all` and long-polling fetches).
    high_watermark: watch::Sender<i64>,
    /// Bumped whenever the role or leader epoch changes, so waiters give up on a lost lead.
    role_changes: watch::Sender<u64>,
}

/// The outcome of appending to one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    pub error: ErrorCode,
    pub base_offset: i64,
    pub log_start_offset: i64,
    /// Why a producer's batch was refused by the record checks (Produce v8+ `error_message`).
    pub error_message: Option<String>,
    /// The records at fault, by index in the batch, with why (KIP-467 `record_errors`).
    pub record_errors: Vec<(i32, String)>,
    /// The time the leader stamped the batch with, for a topic with
    /// `message.timestamp.type=LogAppendTime`; -1 otherwise.
    pub log_append_time_ms: i64,
}

impl AppendResult {
    fn failed(error: ErrorCode) -> Self {
        AppendResult {
            error,
            base_offset: -1,
            log_start_offset: -1,
            error_message: None,
            record_errors: Vec::new(),
            log_append_time_ms: -1,
        }
    }
}

/// A producer's batch the leader's record checks refused: the code, and what to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRefusal {
    pub error: ErrorCode,
    pub message: String,
    pub record_errors: Vec<(i32, String)>,
}

impl From<RecordRefusal> for AppendResult {
    fn from(r: RecordRefusal) -> Self {
        AppendResult { error_message: Some(r.message), record_errors: r.record_errors, ..AppendResult::failed(r.error) }
    }
}

/// What a fetch read from one partition.
#[derive(Debug, Clone)]
pub struct PartitionRead {
    pub error: ErrorCode,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Copied into memory, or the segment file slices that hold them (`in_files`).
    pub records: sluice_protocol::record_set::RecordSet,
    /// For `read_committed`: the aborted transactions overlapping what was read.
    pub aborted: Option<Vec<AbortedTxn>>,
}

/// What a leader knew of a producer when it asked the transaction coordinator to verify the
/// producer's first transactional batch in a partition (Kafka's `VerificationGuard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerificationGuard {
    pub producer_id: i64,
    pub markers_seen: u32,
}

/// Who reads: a follower (up to the log end), or a consumer at an isolation level (Fetch's
/// `isolation_level`: 0 up to the high watermark, 1 up to the last stable offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBound {
    Follower,
    ReadUncommitted,
    ReadCommitted,
}

impl Partition {
    fn new(tp: TopicPartition, log: SharedLog, broker_id: i32, min_insync: i32) -> Arc<Partition> {
        let hw = log.read().high_watermark();
        let leader_epoch = log.read().latest_epoch().unwrap_or(-1);
        Arc::new(Partition {
            tp,
            log,
            broker_id,
            status: Mutex::new(Status {
                leader_epoch,
                leader: -1,
                replicas: Vec::new(),
                isr: Vec::new(),
                role: Role::None,
            }),
            min_insync: AtomicI32::new(min_insync),
            high_watermark: watch::channel(hw).0,
            role_changes: watch::channel(0).0,
        })
    }

    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    pub fn leader_epoch(&self) -> i32 {
        self.status.lock().leader_epoch
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.status.lock().role, Role::Leader(_))
    }

    /// The leader and leader epoch this broker believes in.
    pub fn leader_and_epoch(&self) -> (i32, i32) {
        let s = self.status.lock();
        (s.leader, s.leader_epoch)
    }

    /// Checks a request's `current_leader_epoch` (-1: not given) against this partition's:
    /// older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH (KIP-320), so the client
    /// refreshes its metadata.
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> Result<(), ErrorCode> {
        let epoch = self.leader_epoch();
        if current_leader_epoch < 0 || current_leader_epoch == epoch {
            Ok(())
        } else if current_leader_epoch < epoch {
            Err(ErrorCode::FencedLeaderEpoch)
        } else {
            Err(ErrorCode::UnknownLeaderEpoch)
        }
    }

    /// Whether this broker follows the partition.
    pub fn is_follower(&self) -> bool {
        matches!(self.status.lock().role, Role::Follower { .. })
    }

    /// KIP-392: the replica a consumer in `client_rack` should fetch `fetch_offset` from, when
    /// this broker leads and that is another replica (see
    /// `LeaderState::preferred_read_replica`).
    pub fn preferred_read_replica(
        &self,
        fetch_offset: i64,
        client_rack: &str,
        rack_of: impl Fn(i32) -> Option<String>,
    ) -> Option<i32> {
        let status = self.status.lock();
        let Role::Leader(leader) = &status.role else { return None };
        let chosen = leader.preferred_read_replica(fetch_offset, client_rack, rack_of);
        (chosen != leader.broker_id).then_some(chosen)
    }

    /// Checks that this broker leads the partition at `current_leader_epoch` (-1: any).
    pub fn check_leader(&self, current_leader_epoch: i32) -> Result<(), ErrorCode> {
        self.check_leader_epoch(current_leader_epoch)?;
        if self.is_leader() { Ok(()) } else { Err(ErrorCode::NotLeaderOrFollower) }
    }

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    fn publish_hw(&self, hw: i64) {
        self.high_watermark.send_if_modified(|old| {
            let changed = *old != hw;
            *old = hw;
            changed
        });
    }

    /// Moves the high watermark up to what the ISR allows (never down).
    fn maybe_increment_hw(&self, leader: &LeaderState) -> bool {
        let (old, new) = {
            let mut log = self.log.write();
            let candidate = leader.high_watermark(log.log_end_offset());
            let old = log.high_watermark();
            if candidate <= old {
                return false;
            }
            (old, log.update_high_watermark(candidate))
        };
        self.publish_hw(new);
        new > old
    }

    /// Appends a producer's batches as leader. With `acks=all`, refuses up front when the ISR
    /// is below `min.insync.replicas` (NOT_ENOUGH_REPLICAS), as Kafka does.
    ///
    /// `guard` is a KIP-890 verification's `(producer id, markers seen before it)`: if a marker
    /// of that producer landed since, the transaction the batch was verified for has ended, and
    /// the batch is refused with INVALID_TXN_STATE rather than open a transaction nobody ends.
    pub fn append_as_leader(
        &self,
        records: &mut [u8],
        required_acks: i16,
        origin: AppendOrigin,
        guard: Option<VerificationGuard>,
    ) -> Result<LogAppendInfo, ErrorCode> {
        let status = self.status.lock();
        let Role::Leader(leader) = &status.role else { return Err(ErrorCode::NotLeaderOrFollower) };
        if required_acks == -1 && !leader.has_min_isr(self.min_insync.load(Ordering::Relaxed)) {
            return Err(ErrorCode::NotEnoughReplicas);
        }
        let mut log = self.log.write();
        if let Some(VerificationGuard { producer_id, markers_seen }) = guard
            && !log.has_ongoing_txn(producer_id)
            && log.txn_markers_seen(producer_id) != markers_seen
        {
            return Err(ErrorCode::InvalidTxnState);
        }
        let info = log.append_as_leader_from(records, status.leader_epoch, origin).map_err(|e| {
            tracing::debug!(tp = %self.tp, error = %e, "append refused");
            storage_error_code(&e)
        })?;
        drop(log);
        self.maybe_increment_hw(leader);
        Ok(info)
    }

    /// Checks a producer's batch record by record before it is appended (Kafka's
    /// `LogValidator`; see `sluice_protocol::validator`), outside every lock: decompressing a
    /// batch must not hold up the partition. Then applies the topic's configs to it, as Kafka's
    /// validator does: a `compression.type` naming a codec recompresses a batch of another
    /// codec, and `message.timestamp.type=LogAppendTime` stamps it with `now_ms` (returned;
    /// -1 for `CreateTime`), whose records must otherwise lie within
    /// `message.timestamp.{before,after}.max.ms` of it. A partition not led here, or a batch over
    /// the size limit, is left for the append to refuse (NOT_LEADER_OR_FOLLOWER,
    /// MESSAGE_TOO_LARGE) without decompressing anything.
    pub fn validate_produced(&self, records: &mut Vec<u8>, now_ms: i64) -> Result<i64, RecordRefusal> {
        if !self.is_leader() {
            return Ok(-1);
        }
        let (checks, max_bytes, target, level, log_append_time) = {
            let log = self.log.read();
            let config = log.config();
            let mut checks = RecordChecks::for_topic(config.cleanup_policy.compact, config.max_message_bytes);
            let log_append_time = config.message_timestamp_type == TimestampType::LogAppendTime;
            let (before_max_ms, after_max_ms) = (config.timestamp_before_max_ms(), config.timestamp_after_max_ms());
            if !log_append_time && (before_max_ms != i64::MAX || after_max_ms != i64::MAX) {
                checks.timestamps = Some(TimestampBounds { now_ms, before_max_ms, after_max_ms });
            }
            let target = config.compression_type.target();
            let level = target.and_then(|codec| config.compression_level(codec));
            (checks, config.max_message_bytes.min(config.segment_bytes as usize), target, level, log_append_time)
        };
        if records.len() > max_bytes {
            return Ok(-1);
        }
        let refuse = |e: BatchError| {
            tracing::debug!(tp = %self.tp, error = %e, "produced batch refused");
            RecordRefusal {
                error: batch_error_code(&e),
                message: format!("{}: {e}", self.tp),
                record_errors: e.record_errors(),
            }
        };
        let header = validator::validate_produced_batch(records, &checks).map_err(refuse)?;
        let recompress = target.filter(|&codec| codec != header.attributes.compression());
        if recompress.is_none() && !log_append_time {
            return Ok(-1);
        }
        // The batch is about to be rewritten under a new CRC: make sure the old one held.
        record_batch::validate(records).map_err(refuse)?;
        if let Some(codec) = recompress {
            *records =
                record_batch::recompress(records, codec, level, checks.max_decompressed_bytes).map_err(refuse)?;
        }
        if log_append_time {
            record_batch::set_log_append_time(records, now_ms);
            return Ok(now_ms);
        }
        Ok(-1)
    }

    /// Records a follower's fetch at `fetch_offset` (its log end offset), moves the high
    /// watermark, and proposes adding the follower to the ISR once it has caught up.
    pub fn update_follower_fetch(&self, replica: i32, fetch_offset: i64, now_ms: i64) -> Option<IsrChange> {
        let mut status = self.status.lock();
        let epoch = status.leader_epoch;
        let Role::Leader(leader) = &mut status.role else { return None };
        let leo = self.log.read().log_end_offset();
        if !leader.update_follower(replica, fetch_offset, leo, now_ms) {
            return None;
        }
        self.maybe_increment_hw(leader);
        let hw = self.high_watermark();
        let joining = leader.caught_up(hw);
        if joining.is_empty() {
            return None;
        }
        let mut isr = leader.isr.clone();
        isr.extend(joining);
        let isr = leader.propose_isr(isr)?;
        tracing::info!(tp = %self.tp, ?isr, "expanding the ISR");
        Some(IsrChange { tp: self.tp.clone(), leader_epoch: epoch, isr, zk_version: leader.zk_version })
    }

    /// Proposes dropping followers that have not caught up within `lag_time_max_ms`.
    pub fn maybe_shrink_isr(&self, now_ms: i64, lag_time_max_ms: i64) -> Option<IsrChange> {
        let mut status = self.status.lock();
        let epoch = status.leader_epoch;
        let Role::Leader(leader) = &mut status.role else { return None };
        let lagging = leader.out_of_sync(now_ms, lag_time_max_ms);
        if lagging.is_empty() {
            return None;
        }
        let isr: Vec<i32> = leader.isr.iter().copied().filter(|r| !lagging.contains(r)).collect();
        let isr = leader.propose_isr(isr)?;
        tracing::info!(tp = %self.tp, ?lagging, ?isr, "shrinking the ISR: followers out of sync");
        Some(IsrChange { tp: self.tp.clone(), leader_epoch: epoch, isr, zk_version: leader.zk_version })
    }

    /// The outcome of writing an ISR change: `Some((isr, version))` when it committed.
    pub fn isr_written(&self, leader_epoch: i32, committed: Option<(Vec<i32>, i32)>) {
        let mut status = self.status.lock();
        if status.leader_epoch != leader_epoch {
            return;
        }
        let Role::Leader(leader) = &mut status.role else { return };
        match committed {
            Some((isr, version)) if version > leader.zk_version => {
                leader.isr_committed(isr.clone(), version);
                status.isr = isr;
            }
            Some(_) => {}
            None => leader.isr_failed(),
        }
        if let Role::Leader(leader) = &status.role {
            self.maybe_increment_hw(leader);
        }
    }

    /// Applies the partition's state znode. Returns the leader to fetch from when this broker
    /// has just become (or stays) a follower at a new epoch.
    fn apply_state(&self, vs: &VersionedState, replicas: &[i32], now_ms: i64) -> Transition {
        let s = &vs.state;
        let mut status = self.status.lock();
        if s.leader_epoch < status.leader_epoch {
            return Transition::None; // an older state than one already applied
        }
        let same_epoch = s.leader_epoch == status.leader_epoch;
        status.replicas = replicas.to_vec();
        if s.leader == self.broker_id {
            if let (true, Role::Leader(leader)) = (same_epoch, &mut status.role) {
                // A reassignment changed the replica set within this epoch.
                if leader.replicas != replicas {
                    leader.set_replicas(replicas.to_vec());
                }
                // The controller (or our own write) changed the ISR within this epoch.
                if vs.zk_version > leader.zk_version {
                    leader.isr_committed(s.isr.clone(), vs.zk_version);
                    status.isr = s.isr.clone();
                }
                if let Role::Leader(leader) = &status.role {
                    self.maybe_increment_hw(leader);
                }
                return Transition::None;
            }
            let leo = self.log.read().log_end_offset();
            let leader = LeaderState::new(
                self.broker_id,
                s.leader_epoch,
                replicas.to_vec(),
                s.isr.clone(),
                vs.zk_version,
                leo,
                now_ms,
            );
            tracing::info!(tp = %self.tp, leader_epoch = s.leader_epoch, isr = ?s.isr, log_end_offset = leo, "became leader");
            status.leader_epoch = s.leader_epoch;
            status.leader = self.broker_id;
            status.isr = s.isr.clone();
            status.role = Role::Leader(leader);
            if let Role::Leader(leader) = &status.role {
                self.maybe_increment_hw(leader);
            }
            drop(status);
            self.role_changes.send_modify(|n| *n += 1);
            return Transition::Leader;
        }
        status.isr = s.isr.clone();
        if same_epoch && matches!(status.role, Role::Follower { leader } if leader == s.leader) {
            return Transition::None;
        }
        status.leader_epoch = s.leader_epoch;
        status.leader = s.leader;
        let was_leader = matches!(status.role, Role::Leader(_));
        status.role = if s.leader >= 0 && replicas.contains(&self.broker_id) {
            Role::Follower { leader: s.leader }
        } else {
            Role::None
        };
        let to = match status.role {
            Role::Follower { leader } => Transition::Follower { leader, leader_epoch: s.leader_epoch },
            _ => Transition::Offline,
        };
        drop(status);
        if was_leader {
            tracing::info!(tp = %self.tp, new_leader = s.leader, leader_epoch = s.leader_epoch, "no longer the leader");
        }
        self.role_changes.send_modify(|n| *n += 1);
        to
    }

    /// Appends batches fetched from `leader` at `leader_epoch`, if this broker still follows
    /// it; then takes the leader's high watermark (up to its own log end).
    pub fn append_as_follower(
        &self,
        leader: i32,
        leader_epoch: i32,
        records: &[u8],
        leader_hw: i64,
        leader_log_start: i64,
    ) -> Result<i64, ErrorCode> {
        let status = self.status.lock();
        if status.leader_epoch != leader_epoch || !matches!(status.role, Role::Follower { leader: l } if l == leader) {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        let mut log = self.log.write();
        if !records.is_empty() {
            log.append_as_follower(records).map_err(|e| {
                tracing::warn!(tp = %self.tp, error = %e, "appending fetched records failed");
                storage_error_code(&e)
            })?;
        }
        if leader_log_start > log.log_start_offset() && leader_log_start <= log.high_watermark().max(leader_hw) {
            let target = leader_log_start.min(log.log_end_offset());
            let _ = log.maybe_increment_log_start_offset(target);
        }
        let leo = log.log_end_offset();
        let hw = log.update_high_watermark(leader_hw.min(leo));
        let leo = log.log_end_offset();
        drop(log);
        drop(status);
        self.publish_hw(hw);
        Ok(leo)
    }

    /// Runs `f` on the log if this broker still follows `leader` at `leader_epoch`
    /// (truncation before fetching).
    pub fn with_follower_log<T>(
        &self,
        leader: i32,
        leader_epoch: i32,
        f: impl FnOnce(&mut sluice_storage::Log) -> T,
    ) -> Result<T, ErrorCode> {
        let status = self.status.lock();
        if status.leader_epoch != leader_epoch || !matches!(status.role, Role::Follower { leader: l } if l == leader) {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        let mut log = self.log.write();
        let out = f(&mut log);
        let hw = log.high_watermark();
        drop(log);
        drop(status);
        self.publish_hw(hw);
        Ok(out)
    }

    /// Reads from `offset` up to `bound`: the log end for a follower, the high watermark or
    /// the last stable offset for a consumer (with the aborted transactions it must skip).
    /// Reads from `offset` up to `max_bytes` (the first batch whole with `min_one_batch`),
    /// below the bound. With `in_files` the records stay in their segment files (slices to
    /// send with `sendfile`); otherwise they are copied into memory.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        bound: ReadBound,
        min_one_batch: bool,
        in_files: bool,
    ) -> PartitionRead {
        use sluice_protocol::record_set::RecordSet;
        let log = self.log.read();
        let last_stable_offset = log.last_stable_offset();
        let max_offset = match bound {
            ReadBound::Follower => log.log_end_offset(),
            ReadBound::ReadUncommitted => log.high_watermark(),
            ReadBound::ReadCommitted => last_stable_offset,
        };
        let read = if in_files {
            log.read_slices(offset, max_bytes, max_offset, min_one_batch)
                .map(|(slices, next)| (RecordSet::Files(slices), next))
        } else {
            log.read(offset, max_bytes, max_offset, min_one_batch)
                .map(|data| (RecordSet::Memory(data.records), data.next_offset))
        };
        let (error, records, next_offset) = match read {
            Ok((records, next)) => (ErrorCode::None, records, next),
            Err(e) => (storage_error_code(&e), RecordSet::default(), offset),
        };
        let aborted = (bound == ReadBound::ReadCommitted).then(|| log.collect_aborted_txns(offset, next_offset));
        PartitionRead {
            error,
            high_watermark: log.high_watermark(),
            last_stable_offset,
            log_start_offset: log.log_start_offset(),
            records,
            aborted,
        }
    }
}

/// What applying a state did to a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transition {
    None,
    Leader,
    Follower { leader: i32, leader_epoch: i32 },
    Offline,
}

/// A change the replica manager asks of the outside after applying a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChange {
    BecameLeader(TopicPartition),
    BecameFollower { tp: TopicPartition, leader: i32, leader_epoch: i32 },
    Stopped(TopicPartition),
}

#[derive(Debug)]
pub struct ReplicaManager {
    broker_id: i32,
    log_manager: Arc<LogManager>,
    clock: Arc<dyn Clock>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Bumped on every append and high-watermark move anywhere: long-polling fetches wake on
    /// it and re-read.
    appended: watch::Sender<u64>,
    /// Bumped as logs found at startup are loaded: the reconciler applies their states then.
    logs_loaded: watch::Sender<u64>,
    isr_changes: mpsc::UnboundedSender<IsrChange>,
    isr_changes_rx: Mutex<Option<mpsc::UnboundedReceiver<IsrChange>>>,
    default_min_insync: i32,
    /// Logs that cannot be opened (out of descriptors, a bad disk) fail again at every cluster
    /// view: one line per interval for all of them, with a count of the failures held back.
    open_failures: LogLimiter<()>,
}

/// How often a failure to open partitions' logs is logged at most.
const LOG_OPEN_FAILURE_LOG_INTERVAL_MS: u64 = 10_000;

impl ReplicaManager {
    pub fn new(broker_id: i32, log_manager: Arc<LogManager>, clock: Arc<dyn Clock>, default_min_insync: i32) -> Self {
        let partitions = log_manager
            .all_logs()
            .into_iter()
            .map(|(tp, log)| (tp.clone(), Partition::new(tp, log, broker_id, default_min_insync)))
            .collect();
        let (tx, rx) = mpsc::unbounded_channel();
        ReplicaManager {
            broker_id,
            log_manager,
            clock,
            partitions: RwLock::new(partitions),
            appended: watch::channel(0).0,
            logs_loaded: watch::channel(0).0,
            isr_changes: tx,
            isr_changes_rx: Mutex::new(Some(rx)),
            default_min_insync,
            open_failures: LogLimiter::new(Duration::from_millis(LOG_OPEN_FAILURE_LOG_INTERVAL_MS)),
        }
    }

    pub fn broker_id(&self) -> i32 {
        self.broker_id
    }

    pub fn log_manager(&self) -> &Arc<LogManager> {
        &self.log_manager
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn partition(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions.read().get(tp).cloned()
    }

    /// The partition, or the error a request for it gets: NOT_LEADER_OR_FOLLOWER for one whose
    /// log is here but not serving yet (still loading at startup, or loaded and waiting for
    /// the reconciler to apply its state), which clients retry after refreshing metadata, as
    /// Kafka answers for a partition it does not lead; UNKNOWN_TOPIC_OR_PARTITION otherwise.
    pub fn partition_or_error(&self, tp: &TopicPartition) -> Result<Arc<Partition>, ErrorCode> {
        if let Some(partition) = self.partition(tp) {
            return Ok(partition);
        }
        if self.log_manager.is_loading(tp) || self.log_manager.get_log(tp).is_some() {
            Err(ErrorCode::NotLeaderOrFollower)
        } else {
            Err(ErrorCode::UnknownTopicOrPartition)
        }
    }

    /// Called by the log loader for each log it has loaded at startup: wakes the reconciler,
    /// which applies the partition's state (see [`ReplicaManager::apply_view`]).
    pub fn log_loaded(&self, tp: &TopicPartition) {
        tracing::trace!(%tp, "log loaded");
        self.logs_loaded.send_modify(|n| *n += 1);
    }

    /// A receiver that changes whenever logs found at startup have been loaded.
    pub fn loaded_logs(&self) -> watch::Receiver<u64> {
        self.logs_loaded.subscribe()
    }

    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().values().cloned().collect()
    }

    /// The stream of ISR changes leaders propose (taken once, by the ISR writer task).
    pub fn take_isr_changes(&self) -> Option<mpsc::UnboundedReceiver<IsrChange>> {
        self.isr_changes_rx.lock().take()
    }

    fn propose(&self, change: Option<IsrChange>) {
        if let Some(c) = change {
            let _ = self.isr_changes.send(c);
        }
    }

    /// Wakes the fetches waiting for data (long polls): an append, or a high watermark moved.
    pub fn notify_progress(&self) {
        self.appended.send_modify(|n| *n += 1);
    }

    /// Creates the log of a partition hosted here, or takes the one loaded from disk and gives
    /// it the topic's config (logs load with the broker defaults). A log still loading is
    /// refused ([`StorageError::LogNotLoaded`]): the partition is created once it is loaded.
    pub fn create_partition(&self, tp: &TopicPartition, config: LogConfig) -> Result<Arc<Partition>, StorageError> {
        if let Some(p) = self.partition(tp) {
            return Ok(p);
        }
        let log = self.log_manager.get_or_create_log(tp, config.clone())?;
        log.write().update_config(config);
        let partition = Partition::new(tp.clone(), log, self.broker_id, self.default_min_insync);
        self.partitions.write().entry(tp.clone()).or_insert(partition.clone());
        Ok(self.partition(tp).unwrap_or(partition))
    }

    pub fn delete_partition(&self, tp: &TopicPartition) -> Result<(), StorageError> {
        if let Some(p) = self.partitions.write().remove(tp) {
            p.role_changes.send_modify(|n| *n += 1);
        }
        match self.log_manager.delete_log(tp) {
            Ok(()) | Err(StorageError::UnknownPartition { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Applies a topic's new config to each of its partitions' logs.
    pub fn update_config(&self, topic: &str, config: &LogConfig, min_insync: i32) {
        for (tp, partition) in self.partitions.read().iter() {
            if tp.topic == topic {
                partition.log.write().update_config(config.clone());
                partition.min_insync.store(min_insync, Ordering::Relaxed);
            }
        }
    }

    /// Brings the hosted partitions in line with the cluster view: creates the logs of
    /// partitions assigned here, applies each state znode (becoming leader or follower),
    /// and deletes the logs of partitions no longer assigned here (topic deleted, or replica
    /// moved away) — only on a change seen between `previous` and `view`, never because a
    /// partition is merely unknown.
    pub fn apply_view(
        &self,
        previous: &ClusterView,
        view: &ClusterView,
        config_of: impl Fn(&BTreeMap<String, String>) -> (LogConfig, i32),
    ) -> Vec<RoleChange> {
        let now = self.now_ms();
        let me = self.broker_id;
        let mut changes = Vec::new();
        for (name, topic) in &view.topics {
            let config_changed = previous.topics.get(name).is_none_or(|t| t.configs != topic.configs);
            let (log_config, min_insync) = config_of(&topic.configs);
            if config_changed {
                self.update_config(name, &log_config, min_insync);
            }
            for &p in topic.assignment.keys() {
                let all = topic.all_replicas(p);
                if !all.contains(&me) {
                    continue;
                }
                let Some(state) = topic.states.get(&p) else { continue };
                let tp = TopicPartition::new(name.clone(), p);
                let replicas_before = previous.topics.get(name).map(|t| t.all_replicas(p));
                if previous.state(name, p) == Some(state)
                    && replicas_before.as_ref() == Some(&all)
                    && self.partition(&tp).is_some()
                    && !config_changed
                {
                    continue;
                }
                // A log still loading gets its partition (and role) when it is loaded: the
                // loader wakes the reconciler, which applies the view again.
                if self.log_manager.is_loading(&tp) {
                    continue;
                }
                let partition = match self.create_partition(&tp, log_config.clone()) {
                    Ok(partition) => partition,
                    // Loaded meanwhile is checked again under the log manager's lock.
                    Err(StorageError::LogNotLoaded { .. }) => continue,
                    Err(e) => {
                        if let Some(held_back) = self.open_failures.admit(&(), std::time::Instant::now()) {
                            tracing::error!(%tp, error = %e, failures_held_back = held_back, "cannot open the partition's log");
                        }
                        continue;
                    }
                };
                partition.min_insync.store(min_insync, Ordering::Relaxed);
                match partition.apply_state(state, &all, now) {
                    Transition::None => {}
                    Transition::Leader => changes.push(RoleChange::BecameLeader(tp)),
                    Transition::Follower { leader, leader_epoch } => {
                        changes.push(RoleChange::BecameFollower { tp, leader, leader_epoch })
                    }
                    Transition::Offline => changes.push(RoleChange::Stopped(tp)),
                }
            }
        }
        // Deletions: a topic that went away, or a replica moved off this broker.
        if previous.synced {
            for (name, before) in &previous.topics {
                for &p in before.assignment.keys() {
                    let was_here = before.all_replicas(p).contains(&me);
                    let now_here = view.topics.get(name).is_some_and(|t| t.all_replicas(p).contains(&me));
                    if was_here && !now_here {
                        let tp = TopicPartition::new(name.clone(), p);
                        changes.push(RoleChange::Stopped(tp.clone()));
                        tracing::info!(%tp, "partition no longer assigned here; deleting its log");
                        if let Err(e) = self.delete_partition(&tp) {
                            tracing::error!(%tp, error = %e, "deleting the partition's log failed");
                        }
                    }
                }
            }
        }
        if !changes.is_empty() {
            self.notify_progress();
        }
        changes
    }

    /// Checks every led partition for followers out of sync (Kafka's `isr-expiration` task).
    pub fn maybe_shrink_isrs(&self, lag_time_max_ms: u64) {
        let now = self.now_ms();
        for p in self.all_partitions() {
            self.propose(p.maybe_shrink_isr(now, lag_time_max_ms as i64));
        }
    }

    /// A follower fetched `tp` from `fetch_offset`: track it, maybe move the high watermark.
    pub fn record_follower_fetch(&self, partition: &Partition, replica: i32, fetch_offset: i64) {
        let hw = partition.high_watermark();
        self.propose(partition.update_follower_fetch(replica, fetch_offset, self.now_ms()));
        if partition.high_watermark() != hw {
            self.notify_progress();
        }
    }

    /// Appends `records`, built by this broker (the coordinators' writes to their internal
    /// topics), to `tp` as its leader, without the record checks of a producer's batch.
    /// `required_acks` of -1 waits (up to `timeout`) until the high watermark covers the batch.
    pub async fn append(
        &self,
        tp: &TopicPartition,
        records: &mut [u8],
        required_acks: i16,
        timeout: Duration,
    ) -> AppendResult {
        let partition = match self.partition_or_error(tp) {
            Ok(partition) => partition,
            Err(code) => return AppendResult::failed(code),
        };
        self.append_to(partition, records, required_acks, timeout, None).await
    }

    /// Appends a client's batch (Produce): [`append`](Self::append) after the batch passed the
    /// record checks ([`Partition::validate_produced`]), with `guard` from the KIP-890
    /// verification of a transactional batch (see [`Partition::append_as_leader`]). A refused
    /// batch writes nothing, so the partition's next batch takes the next offset.
    pub async fn append_produced(
        &self,
        tp: &TopicPartition,
        records: &mut Vec<u8>,
        required_acks: i16,
        timeout: Duration,
        guard: Option<VerificationGuard>,
    ) -> AppendResult {
        let partition = match self.partition_or_error(tp) {
            Ok(partition) => partition,
            Err(code) => return AppendResult::failed(code),
        };
        let log_append_time_ms = match partition.validate_produced(records, self.now_ms()) {
            Ok(time) => time,
            Err(refusal) => return refusal.into(),
        };
        let result = self.append_to(partition, records, required_acks, timeout, guard).await;
        AppendResult {
            log_append_time_ms: if result.error == ErrorCode::None { log_append_time_ms } else { -1 },
            ..result
        }
    }

    /// Appends as leader and waits for `acks`. No record checks here: the coordinators write
    /// what they built; clients' batches come through [`append_produced`](Self::append_produced).
    async fn append_to(
        &self,
        partition: Arc<Partition>,
        records: &mut [u8],
        required_acks: i16,
        timeout: Duration,
        guard: Option<VerificationGuard>,
    ) -> AppendResult {
        let fail = AppendResult::failed;
        let mut role = partition.role_changes.subscribe();
        role.borrow_and_update();
        let info = match partition.append_as_leader(records, required_acks, AppendOrigin::Client, guard) {
            Ok(info) => info,
            Err(e) => return fail(e),
        };
        self.notify_progress();
        let done = |error| AppendResult {
            error,
            base_offset: info.first_offset,
            log_start_offset: info.log_start_offset,
            error_message: None,
            record_errors: Vec::new(),
            log_append_time_ms: -1,
        };
        if required_acks == -1 {
            let mut hw = partition.subscribe();
            let target = info.last_offset + 1;
            let outcome = tokio::time::timeout(timeout, async {
                tokio::select! {
                    r = hw.wait_for(|&hw| hw >= target) => r.is_ok(),
                    _ = role.changed() => false,
                }
            })
            .await;
            match outcome {
                Ok(true) => {}
                Ok(false) => {
                    // Leadership moved while waiting: the new leader may or may not have it.
                    if partition.high_watermark() < target {
                        return fail(ErrorCode::NotLeaderOrFollower);
                    }
                }
                Err(_) => return done(ErrorCode::RequestTimedOut),
            }
        }
        done(ErrorCode::None)
    }

    /// Writes end-transaction markers (WriteTxnMarkers), one batch per partition, all appended
    /// first and then awaited together until the high watermark covers each (as `acks=all`).
    pub async fn append_markers(&self, markers: Vec<(TopicPartition, Vec<u8>)>, timeout: Duration) -> Vec<ErrorCode> {
        let mut waits = Vec::with_capacity(markers.len());
        for (tp, mut bytes) in markers {
            let partition = match self.partition_or_error(&tp) {
                Ok(partition) => partition,
                Err(code) => {
                    waits.push(Err(code));
                    continue;
                }
            };
            let mut role = partition.role_changes.subscribe();
            role.borrow_and_update();
            match partition.append_as_leader(&mut bytes, -1, AppendOrigin::Coordinator, None) {
                Ok(info) => waits.push(Ok((partition, role, info.last_offset + 1))),
                Err(e) => waits.push(Err(e)),
            }
        }
        self.notify_progress();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut out = Vec::with_capacity(waits.len());
        for wait in waits {
            let (partition, mut role, target) = match wait {
                Ok(w) => w,
                Err(e) => {
                    out.push(e);
                    continue;
                }
            };
            let mut hw = partition.subscribe();
            let outcome = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    r = hw.wait_for(|&hw| hw >= target) => r.is_ok(),
                    _ = role.changed() => false,
                }
            })
            .await;
            out.push(match outcome {
                Ok(true) => ErrorCode::None,
                _ if partition.high_watermark() >= target => ErrorCode::None,
                Ok(false) => ErrorCode::NotLeaderOrFollower,
                Err(_) => ErrorCode::RequestTimedOut,
            });
        }
        out
    }

    /// Calls `f` on every batch of a hosted partition, in log order (the coordinators replay
    /// their internal topics with it when they take a partition's leadership).
    pub fn scan_partition(&self, tp: &TopicPartition, mut f: impl FnMut(sluice_protocol::RecordBatch)) {
        let Some(partition) = self.partition(tp) else { return };
        let log = partition.log.read();
        let (mut offset, end) = (log.log_start_offset(), log.log_end_offset());
        while offset < end {
            let Ok(data) = log.read(offset, 8 << 20, end, true) else { break };
            if data.records.is_empty() {
                break;
            }
            sluice_protocol::RecordBatches::new(data.records).flatten().for_each(&mut f);
            offset = data.next_offset;
        }
    }

    /// A receiver that changes whenever any partition takes an append or moves its high watermark.
    pub fn appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }
}
