//! `Partition`: one partition hosted on this broker, and the only way the broker's handlers,
//! fetcher and coordinators touch its log (Kafka's `Partition`).
//!
//! It holds the partition's role (leader, follower, or neither) and leader epoch, as the
//! replica manager applies them from the partition's state znode (the decision itself is
//! `sluice_replication::role::decide`, sans I/O); as leader, what it knows of each follower
//! (`sluice_replication::LeaderState`: their log end offsets, the ISR, the high watermark);
//! and its log. Everything that reads or appends goes through it, so every read or append is
//! checked against the role and the leader epoch under the same lock that fences a role change.
//!
//! Signals (see `purgatory`): the high watermark is published on a `watch` channel (what
//! `acks=all` produces wait on); appends as leader wake the followers' fetches parked here,
//! high-watermark moves wake consumers' fetches, and role changes wake both.
//!
//! Invariants, asserted in release builds where they are established: the high watermark never
//! exceeds the log end offset; a leader is in its ISR; the leader epoch applied never goes back.
//!
//! Concurrency and lock order: the `status` mutex, then the log's lock; both are held only for
//! short synchronous work (the storage crate runs fsync and other slow file work outside the
//! log's lock). Nothing waits while holding either.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};

use parking_lot::Mutex;
use sluice_protocol::record_batch::{self, BatchError, TimestampType};
use sluice_protocol::validator::{self, RecordChecks, TimestampBounds};
use sluice_replication::LeaderState;
use sluice_storage::{
    AbortedTxn, AppendOrigin, LogAppendInfo, LogConfig, SharedLog, StorageError, TimestampAndOffset, TopicPartition,
};
use tokio::sync::watch;

use crate::cluster::cache::VersionedState;
use crate::error::{ErrorCode, batch_error_code, storage_error_code};
use crate::observe::TopicCounters;
use crate::purgatory::{FetchWatch, WatcherList};

/// How much of the log one step of [`Partition::scan_batches`] reads.
const SCAN_READ_BYTES: usize = 8 << 20;

/// A log's offsets at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOffsets {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_end_offset: i64,
}

/// What [`Partition::segment_summary`] returns.
#[derive(Debug, Clone)]
pub struct SegmentSummary {
    pub dir: std::path::PathBuf,
    pub base_offsets: Vec<i64>,
    pub active_base_offset: i64,
    pub offsets: LogOffsets,
}

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
    log: SharedLog,
    broker_id: i32,
    status: Mutex<Status>,
    /// `min.insync.replicas` for this topic.
    min_insync: AtomicI32,
    /// The high watermark, published for waiters (`acks=all` and long-polling fetches).
    high_watermark: watch::Sender<i64>,
    /// Bumped whenever the role or leader epoch changes, so waiters give up on a lost lead.
    role_changes: watch::Sender<u64>,
    /// Followers' fetches parked here, woken when the log end moves (see `purgatory`).
    follower_fetches: WatcherList,
    /// Consumers' fetches parked here, woken when the high watermark moves.
    consumer_fetches: WatcherList,
    /// The traffic of the partition's topic on this broker, shared by its partitions.
    pub(crate) counters: Arc<TopicCounters>,
    /// As a follower: how far the last fetch left it behind the leader's high watermark
    /// (Kafka's fetcher `ConsumerLag`).
    follower_lag: AtomicI64,
}

/// What `/metrics` reports of a partition hosted here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReport {
    pub is_leader: bool,
    pub replicas: usize,
    pub isr: usize,
    pub min_insync: i32,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    pub size_bytes: u64,
    /// As a follower: records behind the leader's high watermark at its last fetch.
    pub follower_lag: Option<i64>,
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
    /// The result once its `acks=all` wait ended with `code` ([`DelayedProduce::complete`]):
    /// a lost leadership takes back the offset (the new leader may not have the batch), a
    /// timeout keeps it (the batch may still be replicated), as Kafka answers.
    pub fn acknowledged(self, code: ErrorCode) -> Self {
        match code {
            ErrorCode::None => self,
            ErrorCode::RequestTimedOut => AppendResult { error: code, ..self },
            _ => AppendResult { log_append_time_ms: -1, ..AppendResult::failed(code) },
        }
    }

    pub(crate) fn failed(error: ErrorCode) -> Self {
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
    pub(crate) fn new(
        tp: TopicPartition,
        log: SharedLog,
        broker_id: i32,
        min_insync: i32,
        counters: Arc<TopicCounters>,
    ) -> Arc<Partition> {
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
            follower_fetches: WatcherList::default(),
            consumer_fetches: WatcherList::default(),
            counters,
            follower_lag: AtomicI64::new(0),
        })
    }

    /// Its role, ISR and log, read together for `/metrics`.
    pub fn report(&self) -> PartitionReport {
        let status = self.status.lock();
        let log = self.log.read();
        PartitionReport {
            is_leader: matches!(status.role, Role::Leader(_)),
            replicas: status.replicas.len(),
            isr: status.isr.len(),
            min_insync: self.min_insync.load(Ordering::Relaxed),
            log_start_offset: log.log_start_offset(),
            high_watermark: log.high_watermark(),
            log_end_offset: log.log_end_offset(),
            size_bytes: log.size_in_bytes(),
            follower_lag: matches!(status.role, Role::Follower { .. })
                .then(|| self.follower_lag.load(Ordering::Relaxed)),
        }
    }

    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// The log's offsets, read together.
    pub fn offsets(&self) -> LogOffsets {
        let log = self.log.read();
        LogOffsets {
            log_start_offset: log.log_start_offset(),
            high_watermark: log.high_watermark(),
            last_stable_offset: log.last_stable_offset(),
            log_end_offset: log.log_end_offset(),
        }
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.read().log_end_offset()
    }

    /// The newest leader epoch in the log's epoch cache.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.log.read().latest_epoch()
    }

    /// OffsetForLeaderEpoch: the largest epoch at or below `epoch` and where it ends.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.log.read().end_offset_for_epoch(epoch)
    }

    /// ListOffsets by timestamp (or the special earliest, latest, max-timestamp ones).
    pub fn fetch_offset_by_timestamp(&self, timestamp: i64) -> Result<Option<TimestampAndOffset>, StorageError> {
        self.log.read().fetch_offset_by_timestamp(timestamp)
    }

    /// The topic config the log runs with.
    pub fn config(&self) -> LogConfig {
        self.log.read().config().clone()
    }

    pub(crate) fn update_config(&self, config: LogConfig) {
        self.log.write().update_config(config);
    }

    /// The producers with state in this partition's log (DescribeProducers).
    pub fn active_producers(&self) -> Vec<sluice_storage::producer_state::ActiveProducer> {
        self.log.read().active_producers()
    }

    /// Whether `producer_id` has a transaction open here, and how many of its markers landed.
    pub fn producer_txn_state(&self, producer_id: i64) -> (bool, u32) {
        let log = self.log.read();
        (log.has_ongoing_txn(producer_id), log.txn_markers_seen(producer_id))
    }

    /// The segments' base offsets and directory with the offsets, read together (ListOffsets
    /// v0 answers from segment files' times).
    pub fn segment_summary(&self) -> SegmentSummary {
        let log = self.log.read();
        SegmentSummary {
            dir: log.dir().to_path_buf(),
            base_offsets: log.segment_base_offsets(),
            active_base_offset: log.active_segment_base_offset(),
            offsets: LogOffsets {
                log_start_offset: log.log_start_offset(),
                high_watermark: log.high_watermark(),
                last_stable_offset: log.last_stable_offset(),
                log_end_offset: log.log_end_offset(),
            },
        }
    }

    /// Calls `f` on every batch of the log, in log order (the coordinators replay their
    /// internal topics with it when they take a partition's leadership).
    pub fn scan_batches(&self, mut f: impl FnMut(sluice_protocol::RecordBatch)) {
        let log = self.log.read();
        let (mut offset, end) = (log.log_start_offset(), log.log_end_offset());
        while offset < end {
            let Ok(data) = log.read(offset, SCAN_READ_BYTES, end, true) else { break };
            if data.records.is_empty() {
                break;
            }
            sluice_protocol::RecordBatches::new(data.records).flatten().for_each(&mut f);
            offset = data.next_offset;
        }
    }

    /// `min.insync.replicas` of the partition's topic changed.
    pub(crate) fn set_min_insync(&self, min_insync: i32) {
        self.min_insync.store(min_insync, Ordering::Relaxed);
    }

    /// A receiver that changes at the partition's next role or leader-epoch change (not at
    /// one before this call).
    pub fn role_changes(&self) -> watch::Receiver<u64> {
        let mut rx = self.role_changes.subscribe();
        rx.borrow_and_update();
        rx
    }

    /// The partition is no longer hosted here: waiters on it give up.
    pub(crate) fn removed(&self) {
        self.role_changes.send_modify(|n| *n += 1);
        self.wake_all_fetches();
    }

    pub fn leader_epoch(&self) -> i32 {
        self.status.lock().leader_epoch
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.status.lock().role, Role::Leader(_))
    }

    /// As leader, the log end offset when its leader epoch began (Kafka's
    /// `leaderEpochStartOffsetOpt`); None on a follower.
    pub fn leader_epoch_start_offset(&self) -> Option<i64> {
        match &self.status.lock().role {
            Role::Leader(leader) => Some(leader.epoch_start_offset),
            _ => None,
        }
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

    /// Publishes the high watermark to `acks=all` waiters and wakes the consumers' fetches
    /// parked here when it moved.
    fn publish_hw(&self, hw: i64) {
        let moved = self.high_watermark.send_if_modified(|old| {
            let changed = *old != hw;
            *old = hw;
            changed
        });
        if moved {
            self.consumer_fetches.wake_all();
        }
    }

    /// Parks a fetch on this partition until the event `what` watches for (or a role change).
    pub fn watch_for_fetch(&self, waiter: &Arc<tokio::sync::Notify>, what: FetchWatch) {
        match what {
            FetchWatch::LogEnd => self.follower_fetches.watch(waiter),
            FetchWatch::HighWatermark => self.consumer_fetches.watch(waiter),
        }
    }

    /// Wakes the follower fetches parked on this partition: its log end moved.
    pub(crate) fn wake_follower_fetches(&self) {
        self.follower_fetches.wake_all();
    }

    /// The role or leader epoch changed, or the partition went away: every parked fetch
    /// re-checks (it answers with the partition's new error).
    pub(crate) fn wake_all_fetches(&self) {
        self.follower_fetches.wake_all();
        self.consumer_fetches.wake_all();
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

    /// Appends a producer's batches as leader; the caller then wakes the followers parked on the
    /// partition ([`wake_follower_fetches`](Self::wake_follower_fetches)). With `acks=all`, refuses up front when the ISR
    /// is below `min.insync.replicas` (NOT_ENOUGH_REPLICAS), as Kafka does.
    ///
    /// `guard` is a KIP-890 verification's `(producer id, markers seen before it)`: if a marker
    /// of that producer landed since, the transaction the batch was verified for has ended, and
    /// the batch is refused with INVALID_TXN_STATE rather than open a transaction nobody ends.
    pub fn append_as_leader(
        &self,
        records: &[u8],
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
        // With no follower in the ISR the high watermark moves at once (which wakes consumers).
        // Followers parked on this partition are woken by the caller once every partition of
        // the request is appended (`purgatory::DeferredWakes`).
        self.maybe_increment_hw(leader);
        drop(status);
        // A flush `flush.messages` made due runs with no lock of the partition held (storage's
        // lock discipline); a failure has taken the log offline.
        sluice_storage::flush_if_due(&self.log).map_err(|e| {
            tracing::error!(tp = %self.tp, error = %e, "flushing the log after an append failed");
            storage_error_code(&e)
        })?;
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
    /// MESSAGE_TOO_LARGE) without decompressing anything. Returns the append time and, when
    /// the configs rewrote the batch, its new bytes (otherwise `records` is appended as it is).
    pub fn validate_produced(&self, records: &[u8], now_ms: i64) -> Result<(i64, Option<Vec<u8>>), RecordRefusal> {
        if !self.is_leader() {
            return Ok((-1, None));
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
            return Ok((-1, None));
        }
        let refuse = |e: BatchError| {
            tracing::debug!(tp = %self.tp, error = %e, "produced batch refused");
            RecordRefusal {
                error: batch_error_code(&e),
                message: format!("{}: {e}", self.tp),
                record_errors: e.record_errors(),
            }
        };
        let checked = validator::check_produced_batch(records, &checks).map_err(refuse)?;
        let recompress = target.filter(|&codec| codec != checked.header.attributes.compression());
        if recompress.is_none() && !log_append_time && checked.max_timestamp_fix.is_none() {
            return Ok((-1, None));
        }
        // The batch is about to be rewritten under a new CRC: make sure the old one held.
        record_batch::validate(records).map_err(refuse)?;
        let mut rewritten = records.to_vec();
        if let Some(max_timestamp) = checked.max_timestamp_fix {
            record_batch::set_max_timestamp(&mut rewritten, max_timestamp);
        }
        if let Some(codec) = recompress {
            rewritten =
                record_batch::recompress(&rewritten, codec, level, checks.max_decompressed_bytes).map_err(refuse)?;
        }
        if log_append_time {
            record_batch::set_log_append_time(&mut rewritten, now_ms);
            return Ok((now_ms, Some(rewritten)));
        }
        Ok((-1, Some(rewritten)))
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
        let previous_isr = status.isr.len();
        let Role::Leader(leader) = &mut status.role else { return };
        match committed {
            Some((isr, version)) if version > leader.zk_version => {
                let events = &crate::observe::EVENTS;
                match isr.len().cmp(&previous_isr) {
                    std::cmp::Ordering::Less => events.isr_shrinks.fetch_add(1, Ordering::Relaxed),
                    std::cmp::Ordering::Greater => events.isr_expands.fetch_add(1, Ordering::Relaxed),
                    std::cmp::Ordering::Equal => 0,
                };
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
    pub(crate) fn apply_state(&self, vs: &VersionedState, replicas: &[i32], now_ms: i64) -> Transition {
        use sluice_replication::role::{self, CurrentRole, IgnoreReason, RoleTransition};
        let s = &vs.state;
        let mut status = self.status.lock();
        let current = match &status.role {
            Role::None => CurrentRole::None,
            Role::Leader(leader) => CurrentRole::Leader { zk_version: leader.zk_version },
            Role::Follower { leader } => CurrentRole::Follower { leader: *leader },
        };
        let state = sluice_replication::LeaderAndIsr::new(s.leader, s.leader_epoch, s.isr.clone());
        let decision = role::decide(self.broker_id, status.leader_epoch, current, &state, vs.zk_version, replicas);
        let (role, to) = match decision {
            // An older state than one already applied: the cache lags.
            RoleTransition::Ignore(IgnoreReason::StaleEpoch) => return Transition::None,
            RoleTransition::Ignore(reason) => {
                tracing::warn!(tp = %self.tp, leader = s.leader, leader_epoch = s.leader_epoch, isr = ?s.isr, ?replicas, ?reason, "ignoring a malformed partition state");
                return Transition::None;
            }
            RoleTransition::StayLeader { isr_changed } => {
                status.replicas = replicas.to_vec();
                if let Role::Leader(leader) = &mut status.role {
                    // A reassignment changed the replica set within this epoch.
                    if leader.replicas != replicas {
                        leader.set_replicas(replicas.to_vec());
                    }
                    // The controller (or our own write) changed the ISR within this epoch.
                    if isr_changed {
                        leader.isr_committed(s.isr.clone(), vs.zk_version);
                        status.isr = s.isr.clone();
                    }
                }
                if let Role::Leader(leader) = &status.role {
                    self.maybe_increment_hw(leader);
                }
                return Transition::None;
            }
            RoleTransition::StayFollower => {
                status.replicas = replicas.to_vec();
                status.isr = s.isr.clone();
                return Transition::None;
            }
            RoleTransition::BecomeLeader => {
                let leo = {
                    let mut log = self.log.write();
                    if let Err(e) = log.assign_epoch_start_offset(s.leader_epoch) {
                        tracing::error!(tp = %self.tp, leader_epoch = s.leader_epoch, error = %e, "cannot record the new leader epoch");
                    }
                    log.log_end_offset()
                };
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
                (Role::Leader(leader), Transition::Leader)
            }
            RoleTransition::BecomeFollower { leader } => {
                (Role::Follower { leader }, Transition::Follower { leader, leader_epoch: s.leader_epoch })
            }
            RoleTransition::GoOffline => (Role::None, Transition::Offline),
        };
        role::assert_epoch_advances(status.leader_epoch, s.leader_epoch, &self.tp);
        let was_leader = matches!(status.role, Role::Leader(_));
        status.replicas = replicas.to_vec();
        status.isr = s.isr.clone();
        status.leader_epoch = s.leader_epoch;
        status.leader = s.leader;
        status.role = role;
        if let Role::Leader(leader) = &status.role {
            self.maybe_increment_hw(leader);
        }
        drop(status);
        if was_leader && to != Transition::Leader {
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
            self.counters.replication_bytes_in.fetch_add(records.len() as u64, Ordering::Relaxed);
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
        self.follower_lag.store((leader_hw - leo).max(0), Ordering::Relaxed);
        let hw = log.update_high_watermark(leader_hw.min(leo));
        let leo = log.log_end_offset();
        drop(log);
        drop(status);
        self.publish_hw(hw);
        sluice_storage::flush_if_due(&self.log).map_err(|e| {
            tracing::error!(tp = %self.tp, error = %e, "flushing the log after a follower append failed");
            storage_error_code(&e)
        })?;
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
pub(crate) enum Transition {
    None,
    Leader,
    Follower { leader: i32, leader_epoch: i32 },
    Offline,
}
