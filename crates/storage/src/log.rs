//! `Log`: one partition's log on disk, a sequence of [`LogSegment`]s. Kafka's `UnifiedLog`
//! (local part).
//!
//! Offsets: `log_start_offset` (first offset a reader may ask for) <= `high_watermark` (decided
//! by the replication layer, stored here) <= `log_end_offset` (next offset to assign). The
//! recovery point is the offset below which everything is known to be on disk.
//!
//! Invariants, checked in release builds: segments are keyed by base offset and do not
//! overlap; only the last segment is written; `log_start_offset <= high_watermark <=
//! log_end_offset`; the leader-epoch cache never names an offset at or past the log end.
//!
//! Concurrency: a log is shared as `Arc<RwLock<Log>>` (`SharedLog`): appends, truncation and
//! every other change take the write lock (`&mut self`), reads take the read lock (`&self`).
//! The broker decides which threads run them.
//!
//! # Lock discipline
//!
//! Kafka's `UnifiedLog` holds its lock for decisions and in-memory updates, and does the slow
//! file work (fsync, deleting segments, cleaning) outside it. So does this log, so that a
//! produce or a fetch on a partition never waits on the disk behind somebody else's file work:
//!
//! | work | under the write lock | with no lock held |
//! |---|---|---|
//! | append | validate, assign offsets, `pwrite` into the page cache, index in memory | (none) |
//! | flush (`flush.messages`, `flush.ms`, a roll) | [`take_flush_job`](Log::take_flush_job): clone the descriptors to sync; [`complete_flush`](Log::complete_flush): move the recovery point | [`FlushJob::run`]: fsync of segments, indexes, the files written unsynced, the directory |
//! | roll | create the new segment's files (open, size the index, map it: metadata, no data written), trim the old indexes (no write-back), write the producer snapshot (no fsync) | the fsyncs, by the next flush job |
//! | retention, DeleteRecords | segments leave the list, the log start offset moves, their files are renamed `*.deleted`, the leader-epoch checkpoint is rewritten (no fsync) | unlinking ([`DeletedFiles::remove`]), `file.delete.delay.ms` later |
//! | compaction | plan (read lock): views of the segments; complete: check, then swap in by renames (one directory fsync per round, the crash-safe decision point) | reading, cleaning, writing, indexing and fsyncing the new segments |
//! | truncation, restart at an offset, `close` | all of it (rare, and what follows must build on a durable cut; nothing else runs on a closed log) | (none) |
//!
//! The drivers in `jobs` run the three steps (take, run, complete) over a shared log; the
//! broker calls [`crate::jobs::flush_if_due`] right after releasing an append's write lock.
//!
//! Crash safety is unchanged by the split: the recovery point moves only after the job's
//! fsyncs succeeded, and never past what the job synced. Each job carries the log's
//! truncation count from its take; a truncation in between makes the completion a no-op (the
//! records below the job's offset may not be the ones it synced). A failed fsync takes the log
//! offline, as a failed change does. Renames stay under the lock: a name is only ever
//! reused by a change under the lock (a truncation may create a segment at a base offset just
//! deleted), so work outside the lock touches only `*.deleted` and `*.cleaned` files and
//! descriptors it holds.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use bytes::{Bytes, BytesMut};
use sluice_protocol::control;
use sluice_protocol::record_batch::{self, BatchError, BatchHeader, BatchIter, NO_TIMESTAMP};
use sluice_protocol::record_set::FileSlice;

use crate::TopicPartition;
use crate::cleaner::{CleanStats, CleanTarget, CleanedSegments, CleaningGuard, CompactionPlan};
use crate::clock::Clock;
use crate::config::LogConfig;
use crate::epoch::{EpochEntry, LeaderEpochFileCache};
use crate::error::{Result, StorageError, io_err};
use crate::jobs::{DeletedFiles, FlushJob};
use crate::producer_state::{ProducerStateManager, SequenceCheck};
use crate::segment::{
    self, DELETED_FILE_SUFFIX, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, LogSegment, TIME_INDEX_FILE_SUFFIX, segment_file,
    with_suffix,
};
use crate::txn_index::{self, AbortedTxn, TXN_INDEX_FILE_SUFFIX};

/// A producer state snapshot: `<offset>.snapshot`, the idempotent producers as of that offset.
const PRODUCER_SNAPSHOT_SUFFIX: &str = "snapshot";

/// ListOffsets' special timestamps.
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const LATEST_TIMESTAMP: i64 = -1;
pub const MAX_TIMESTAMP: i64 = -3;
/// The first offset kept in local storage (ListOffsets v8, KIP-405): the log start offset here,
/// where every segment is local.
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
/// The last offset copied to tiered storage (ListOffsets v9, KIP-1005): none here, so offset -1,
/// as Kafka answers for a topic without remote storage.
pub const LATEST_TIERED_TIMESTAMP: i64 = -5;

/// Whether a producer snapshot is fsynced as it is written (closing) or by the next flush job
/// (a roll, under the lock: Kafka's roll leaves the fsync to the flush it schedules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SnapshotSync {
    Now,
    ByNextFlush,
}

/// Who writes a batch as leader: clients may not write control batches (end-transaction
/// markers); the transaction coordinator's WriteTxnMarkers does (Kafka's `AppendOrigin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    Client,
    Coordinator,
}

/// What the log directory's checkpoints say about a log when it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogLoadParams {
    /// Offset below which the log was flushed before the last shutdown.
    pub recovery_point: i64,
    /// The checkpointed log start offset, if any.
    pub log_start_offset: Option<i64>,
    /// The checkpointed high watermark.
    pub high_watermark: i64,
    /// Whether the log directory was closed cleanly (its marker file was present).
    pub had_clean_shutdown: bool,
}

/// The outcome of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogAppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub record_count: i64,
    pub batch_count: usize,
    pub bytes: usize,
    pub log_start_offset: i64,
}

/// Bytes returned by a read: whole batches, concatenated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchDataInfo {
    pub records: Bytes,
    /// One past the last offset returned (the fetch offset when nothing was returned).
    pub next_offset: i64,
}

/// A ListOffsets answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampAndOffset {
    pub timestamp: i64,
    pub offset: i64,
    pub leader_epoch: Option<i32>,
}

#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    tp: TopicPartition,
    config: LogConfig,
    clock: Arc<dyn Clock>,
    segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    recovery_point: i64,
    epoch_cache: LeaderEpochFileCache,
    /// Messages appended since the last flush job was taken (`flush.messages` counts these).
    unflushed_messages: i64,
    /// When the last flush job was taken (`flush.ms` counts from here).
    last_flush_ms: i64,
    /// Changes to the directory's entries (segments created, renamed, deleted) so far, and how
    /// many of them an fsync of the directory has made durable: the next flush job syncs the
    /// directory while the two differ.
    dir_changes: u64,
    dir_synced: u64,
    /// Files written under the lock without an fsync, which the next flush job syncs: producer
    /// snapshots of rolls (as Kafka's roll writes them) and the leader-epoch checkpoint when
    /// the log start moved (as Kafka's `truncateFromStartAsyncFlush`).
    unsynced_files: Vec<PathBuf>,
    /// How many times the log was cut back (truncation, a full restart at an offset) since it
    /// opened. Work taken under the lock and completed later (a flush job, a compaction round)
    /// carries the count it saw and changes nothing if it moved: what it read or synced may
    /// describe records that are gone.
    truncations: u64,
    /// Set while a compaction round is between its plan and its completion (one per log).
    cleaning: Arc<AtomicBool>,
    offline: Option<String>,
    closed: bool,
    header_scratch: Vec<BatchHeader>,
    /// Idempotent and transactional producers: sequences and open transactions, read from
    /// the newest snapshot and the log after it when the log opens, then kept up to date by
    /// every append; dropped by truncation and read again.
    producers: Option<ProducerStateManager>,
    /// Every aborted transaction whose marker is in the log, by marker offset; persisted per
    /// segment in `<base>.txnindex`.
    aborted: Vec<AbortedTxn>,
    /// Files of deleted segments (renamed `*.deleted`) and when to remove them
    /// (`file.delete.delay.ms`).
    pending_deletes: Vec<(i64, PathBuf)>,
    /// Compaction has cleaned the log below this offset (Kafka's cleaner checkpoint, kept in
    /// memory: after a restart the whole log counts as dirty once).
    first_dirty_offset: i64,
    /// When producer id expiration last looked at this log (set at open, so the first look
    /// comes one check interval later, as Kafka schedules it).
    last_producer_expiry_check_ms: i64,
}

impl Log {
    /// Opens (or creates) the log in `dir`, recovering it if the last shutdown was unclean.
    pub fn open(
        dir: &Path,
        tp: TopicPartition,
        config: LogConfig,
        params: LogLoadParams,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| io_err("create log directory", dir, e))?;
        let now = clock.now_ms();
        let bases = scan_dir(dir)?;

        let mut rebuild_epochs = false;
        let mut epoch_cache = match LeaderEpochFileCache::load(dir) {
            Ok(c) => c,
            Err(StorageError::CorruptCheckpoint { path, reason }) => {
                tracing::warn!(%tp, path = %path.display(), %reason, "rebuilding leader epoch cache from the log");
                rebuild_epochs = true;
                LeaderEpochFileCache::empty(dir)
            }
            Err(e) => return Err(e),
        };

        // The first segment that may hold unflushed data: the one containing the recovery point.
        let recover_from = bases.iter().rev().find(|&&b| b <= params.recovery_point).copied().unwrap_or(i64::MIN);
        let mut segments = BTreeMap::new();
        let epochs_on_disk = epoch_cache.entries().to_vec();
        let mut truncated_any = false;
        let last_index = bases.len().saturating_sub(1);
        for (i, &base) in bases.iter().enumerate() {
            let is_last = i == last_index;
            let mut segment = LogSegment::open(dir, base, &config, now, is_last)?;
            let unflushed = !params.had_clean_shutdown && (base >= recover_from || is_last);
            let mut must_recover = unflushed || rebuild_epochs;
            let mut cut = false;
            if !must_recover && let Err(e) = segment.sanity_check() {
                tracing::warn!(%tp, segment = base, error = %e, "segment failed its sanity check; recovering it");
                must_recover = true;
            }
            if must_recover {
                let truncated = segment.recover(Some(&mut epoch_cache), params.log_start_offset.unwrap_or(i64::MIN))?;
                if !is_last {
                    // A rebuilt index was grown to its maximum: trim it like a rolled segment's,
                    // or the next start would find it untrimmed and recover it again.
                    segment.on_become_inactive()?;
                }
                if truncated > 0 {
                    truncated_any = true;
                    cut = true;
                    tracing::warn!(%tp, segment = base, truncated_bytes = truncated, "truncated an invalid tail during recovery");
                    if unflushed && !is_last {
                        // Offsets must stay contiguous: what followed the damage is unreliable.
                        segments.insert(base, segment);
                        for &later in &bases[i + 1..] {
                            tracing::warn!(%tp, segment = later, "deleting segment after a truncated one");
                            LogSegment::open(dir, later, &config, now, false)?.delete()?;
                        }
                        break;
                    }
                }
            }
            if !is_last {
                // Inactive segments hold no descriptor until read (see `segment`); a cut tail is
                // made durable first (the other segments' data did not change).
                if cut {
                    segment.flush()?;
                }
                segment.close_files();
            }
            segments.insert(base, segment);
        }
        // Neighbours must not overlap (a garbled tail could claim offsets of the next segment).
        let keys: Vec<i64> = segments.keys().copied().collect();
        for pair in keys.windows(2) {
            let next_base = pair[1];
            let seg = segments.get_mut(&pair[0]).expect("key from the map");
            if seg.next_offset() > next_base {
                tracing::warn!(%tp, segment = pair[0], next_base, "segment overlaps its successor; truncating it");
                seg.truncate_to(next_base)?;
            }
        }
        let created_first_segment = segments.is_empty();
        if created_first_segment {
            let base = params.log_start_offset.unwrap_or(0).max(0);
            segments.insert(base, LogSegment::create(dir, base, &config, now)?);
        }
        let (&first_base, _) = segments.first_key_value().expect("at least one segment");
        let (_, last) = segments.last_key_value().expect("at least one segment");
        // Make sure the active segment's indexes are writable (it may have been loaded as an
        // inactive one if segments after it were deleted).
        let log_end_offset = last.next_offset();
        let log_start_offset = params.log_start_offset.unwrap_or(first_base).max(first_base).min(log_end_offset);
        let high_watermark = params.high_watermark.clamp(log_start_offset, log_end_offset);

        // As Kafka's `LogLoader`, the recovery point moves only when the log is flushed: after a
        // clean shutdown everything is, after recovery only what the checkpoint said. Recovery
        // that found every batch intact changed no data, so it need not fsync thousands of logs
        // before the broker serves (a crash now just recovers the same segments again); one that
        // cut a tail or deleted segments makes that durable below, before anyone builds on it.
        let recovery_point = if params.had_clean_shutdown || truncated_any {
            log_end_offset
        } else {
            params.recovery_point.clamp(log_start_offset, log_end_offset)
        };
        let mut log = Log {
            dir: dir.to_path_buf(),
            tp,
            config,
            clock,
            segments,
            log_start_offset,
            log_end_offset,
            high_watermark,
            recovery_point,
            epoch_cache,
            unflushed_messages: 0,
            last_flush_ms: now,
            dir_changes: u64::from(created_first_segment),
            dir_synced: 0,
            unsynced_files: Vec::new(),
            truncations: 0,
            cleaning: Arc::new(AtomicBool::new(false)),
            offline: None,
            closed: false,
            header_scratch: Vec::new(),
            producers: None,
            aborted: Vec::new(),
            pending_deletes: Vec::new(),
            first_dirty_offset: 0,
            last_producer_expiry_check_ms: now,
        };
        // Entries past the log end name records that recovery cut. An entry starting exactly at
        // the log end is kept: a new epoch may begin before its first record.
        log.epoch_cache.truncate_from_end(log_end_offset + 1)?;
        log.epoch_cache.truncate_from_start(log_start_offset)?;
        if log.epoch_cache.entries() != epochs_on_disk.as_slice() {
            log.epoch_cache.flush()?;
        }
        if truncated_any {
            // What recovery kept is now made durable, so the recovery point is the log end
            // (closed segments were flushed as they were cut, or were not changed).
            for segment in log.segments.values().filter(|s| s.is_open()) {
                segment.flush()?;
            }
            crate::checkpoint::sync_dir(dir)?;
        }
        log.load_aborted_txns()?;
        // A snapshot past the recovered log end describes records recovery cut away.
        log.remove_producer_snapshots_after(log_end_offset)?;
        log.load_producers()?;
        tracing::debug!(tp = %log.tp, log_start_offset, log_end_offset, segments = log.segments.len(), "loaded log");
        Ok(log)
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn config(&self) -> &LogConfig {
        &self.config
    }
    /// Replaces the log's config; takes effect for the next append, roll and retention pass.
    pub fn update_config(&mut self, config: LogConfig) {
        self.config = config;
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }
    pub fn num_segments(&self) -> usize {
        self.segments.len()
    }
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }
    pub fn active_segment_base_offset(&self) -> i64 {
        // Only an offline log whose reset failed half-way can have no segment.
        self.segments.last_key_value().map_or(self.log_end_offset, |(&base, _)| base)
    }
    /// How many segments have their files open (the active one, and those read recently).
    pub fn open_segment_count(&self) -> usize {
        self.segments.values().filter(|s| s.is_open()).count()
    }

    /// Closes the files of the segments not used for `idle_ms`, as seen by successive calls
    /// (the log manager's maintenance): never the active segment, nor one holding offsets at or
    /// above the recovery point, as closing does not flush. Returns how many it closed.
    pub fn close_cold_segments(&mut self, idle_ms: i64) -> usize {
        let now = self.clock.now_ms();
        let Some((&active, _)) = self.segments.last_key_value() else { return 0 };
        let recovery_point = self.recovery_point;
        let mut closed = 0;
        for segment in self.segments.range_mut(..active).map(|(_, s)| s) {
            if segment.next_offset() <= recovery_point && segment.close_if_cold(now, idle_ms) {
                closed += 1;
            }
        }
        closed
    }

    /// Total bytes of all segments.
    pub fn size_in_bytes(&self) -> u64 {
        self.segments.values().map(LogSegment::size).sum()
    }
    pub fn last_flush_ms(&self) -> i64 {
        self.last_flush_ms
    }
    pub fn is_offline(&self) -> bool {
        self.offline.is_some()
    }

    fn check_online(&self) -> Result<()> {
        match &self.offline {
            Some(reason) => Err(StorageError::LogOffline { tp: self.tp.clone(), reason: reason.clone() }),
            None if self.closed => {
                Err(StorageError::LogOffline { tp: self.tp.clone(), reason: "the log is closed".into() })
            }
            None => Ok(()),
        }
    }

    /// A failure while changing the log (after validation, so never a client's bad input) takes
    /// it offline, as Kafka takes the log directory offline: memory and disk may disagree, and
    /// later writes fail fast instead of building on a state nobody checked.
    fn offline_on_err<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result
            && self.offline.is_none()
        {
            tracing::error!(tp = %self.tp, error = %e, "log is going offline after a failed change");
            self.offline = Some(e.to_string());
        }
        result
    }

    /// Sets the high watermark, clamped to `[log_start_offset, log_end_offset]`; returns it.
    pub fn update_high_watermark(&mut self, high_watermark: i64) -> i64 {
        self.high_watermark = high_watermark.clamp(self.log_start_offset, self.log_end_offset);
        self.high_watermark
    }

    fn invalid(&self, source: BatchError) -> StorageError {
        StorageError::InvalidRecord { tp: self.tp.clone(), source }
    }

    /// Validates every batch of `records` (structure, CRC, size) and returns their headers.
    fn validate_batches(&self, records: &[u8], headers: &mut Vec<BatchHeader>) -> Result<()> {
        // Kafka refuses a batch over max.message.bytes, and one that no segment could hold.
        let max = self.config.max_message_bytes.min(self.config.segment_bytes as usize);
        for item in BatchIter::new(records) {
            let (header, bytes) = item.map_err(|e| self.invalid(e))?;
            let computed = record_batch::compute_crc(bytes);
            if computed != header.crc {
                let position = bytes.as_ptr() as usize - records.as_ptr() as usize;
                return Err(self.invalid(BatchError::CrcMismatch { position, stored: header.crc, computed }));
            }
            if bytes.len() > max {
                return Err(StorageError::RecordTooLarge { tp: self.tp.clone(), size: bytes.len(), max });
            }
            headers.push(header);
        }
        if headers.is_empty() {
            return Err(self.invalid(BatchError::Truncated {
                position: 0,
                needed: record_batch::BATCH_HEADER_SIZE,
                available: records.len(),
            }));
        }
        Ok(())
    }

    /// Runs `f` with the log's reusable header buffer (one allocation per log, not per append).
    fn with_header_scratch<T>(&mut self, f: impl FnOnce(&mut Self, &mut Vec<BatchHeader>) -> Result<T>) -> Result<T> {
        let mut headers = std::mem::take(&mut self.header_scratch);
        headers.clear();
        let result = f(self, &mut headers);
        headers.clear();
        self.header_scratch = headers;
        result
    }

    /// Appends batches from a producer: validates them, assigns offsets from the log end,
    /// stamps `leader_epoch`, and writes them. `records` is left as it is: the offset and
    /// epoch fields (outside the CRC) are written to the file in place of its own.
    pub fn append_as_leader(&mut self, records: &[u8], leader_epoch: i32) -> Result<LogAppendInfo> {
        self.append_as_leader_from(records, leader_epoch, AppendOrigin::Client)
    }

    /// [`append_as_leader`](Self::append_as_leader) for a given origin: only the coordinator
    /// may write control batches.
    pub fn append_as_leader_from(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        origin: AppendOrigin,
    ) -> Result<LogAppendInfo> {
        self.check_online()?;
        self.with_header_scratch(|log, headers| log.append_as_leader_with(records, leader_epoch, origin, headers))
    }

    fn append_as_leader_with(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        origin: AppendOrigin,
        headers: &mut Vec<BatchHeader>,
    ) -> Result<LogAppendInfo> {
        self.validate_batches(records, headers)?;
        if origin == AppendOrigin::Client
            && let Some(control) = headers.iter().position(|h| h.attributes.is_control())
        {
            return Err(self.invalid(BatchError::CorruptRecord {
                position: control,
                reason: "clients may not write control batches",
            }));
        }
        // As Kafka's LogValidator: a producer's batch holds records, numbered without gaps. (A
        // gap would let one batch claim up to 2^31 offsets and overflow a segment's range.)
        if let Some(bad) = headers.iter().find(|h| h.records_count > 0 && h.last_offset_delta != h.records_count - 1) {
            return Err(self.invalid(BatchError::InvalidOffsetDelta {
                position: 0,
                delta: bad.last_offset_delta,
                count: bad.records_count,
            }));
        }
        if let Some(empty) = headers.iter().position(|h| h.records_count == 0) {
            return Err(self
                .invalid(BatchError::CorruptRecord { position: empty, reason: "a produced batch must hold records" }));
        }
        if let Some(duplicate) = self.check_sequences(records, headers)? {
            return Ok(duplicate);
        }
        // Offsets and the epoch go into the headers only: the segment writes each batch with
        // its head as the header states it, so `records` (the request's buffer) is not copied.
        let mut next = self.log_end_offset;
        for h in headers.iter_mut() {
            h.base_offset = next;
            h.partition_leader_epoch = leader_epoch;
            next = h.next_offset();
        }
        if leader_epoch >= 0 {
            let result = self.epoch_cache.assign(leader_epoch, headers[0].base_offset);
            self.offline_on_err(result)?;
        }
        self.append_validated(records, headers)
    }

    /// A new partition leader records that its leader epoch starts at its log end offset, before
    /// it appends anything (Kafka's `maybeAssignEpochStartOffset` when a replica becomes leader):
    /// a follower whose latest epoch is newer than anything this leader wrote then learns where
    /// their logs part from OffsetForLeaderEpoch, instead of an undefined answer that would
    /// leave it to fall back on its high watermark (KIP-101). Returns whether the cache changed.
    pub fn assign_epoch_start_offset(&mut self, leader_epoch: i32) -> Result<bool> {
        self.check_online()?;
        let result = self.epoch_cache.assign(leader_epoch, self.log_end_offset);
        self.offline_on_err(result)
    }

    /// Appends batches replicated from the leader, keeping their offsets and epochs. The first
    /// must start at or after the log end offset.
    pub fn append_as_follower(&mut self, records: &[u8]) -> Result<LogAppendInfo> {
        self.check_online()?;
        self.with_header_scratch(|log, headers| log.append_as_follower_with(records, headers))
    }

    fn append_as_follower_with(&mut self, records: &[u8], headers: &mut Vec<BatchHeader>) -> Result<LogAppendInfo> {
        self.validate_batches(records, headers)?;
        let mut expected = self.log_end_offset;
        for h in headers.iter() {
            if h.base_offset < expected {
                return Err(StorageError::UnexpectedAppendOffset {
                    tp: self.tp.clone(),
                    first_offset: h.base_offset,
                    log_end_offset: expected,
                });
            }
            expected = h.next_offset();
        }
        for h in headers.iter() {
            let result = self.epoch_cache.assign(h.partition_leader_epoch, h.base_offset);
            self.offline_on_err(result)?;
        }
        if headers.iter().any(|h| h.producer_id >= 0) {
            self.load_producers()?;
        }
        self.append_validated(records, headers)
    }

    /// The producers' state, read from the log if it is not loaded: the newest snapshot, then
    /// every batch after it (which also re-derives aborted transactions whose index entries a
    /// crash lost).
    fn load_producers(&mut self) -> Result<&mut ProducerStateManager> {
        if self.producers.is_none() {
            let (state, from) = self.newest_producer_snapshot()?;
            self.producers = Some(state);
            let mut offset = from.max(self.log_start_offset);
            let mut headers = Vec::new();
            while offset < self.log_end_offset {
                let chunk = self.read(offset, 1 << 20, self.log_end_offset, true)?;
                if chunk.next_offset <= offset {
                    break;
                }
                headers.clear();
                for item in BatchIter::new(&chunk.records) {
                    let (header, _) = item.map_err(|e| self.invalid(e))?;
                    headers.push(header);
                }
                self.track_producers(&headers, &chunk.records)?;
                offset = chunk.next_offset;
            }
            let state = self.producers.as_ref().expect("set above");
            tracing::debug!(tp = %self.tp, producers = state.len(), snapshot = from, "loaded producer state");
        }
        Ok(self.producers.as_mut().expect("loaded above"))
    }

    /// Feeds batches now in the log (`headers` describe `bytes`, batch after batch) to the
    /// producer state: data batches move sequences and open transactions, markers close them,
    /// and an aborted transaction goes into the aborted-transaction index.
    fn track_producers(&mut self, headers: &[BatchHeader], bytes: &[u8]) -> Result<()> {
        let Some(producers) = self.producers.as_mut() else { return Ok(()) };
        let mut aborted = Vec::new();
        let mut position = 0;
        for h in headers {
            let batch = &bytes[position..position + h.size()];
            position += h.size();
            if !h.attributes.is_control() {
                producers.update(h);
                continue;
            }
            if h.producer_id < 0 {
                continue;
            }
            let marker = match control::parse_marker(batch) {
                Ok(marker) => marker,
                Err(e) => {
                    tracing::warn!(tp = %self.tp, offset = h.base_offset, error = %e, "skipping an unreadable control batch");
                    continue;
                }
            };
            if let Some(done) = producers.complete_txn(h, marker)
                && done.aborted
            {
                aborted.push(AbortedTxn {
                    producer_id: done.producer_id,
                    first_offset: done.first_offset,
                    last_offset: done.last_offset,
                    last_stable_offset: producers.first_unstable_offset().unwrap_or(h.next_offset()),
                });
            }
        }
        for entry in aborted {
            self.record_aborted(entry)?;
        }
        Ok(())
    }

    fn txn_index_path(&self, base: i64) -> PathBuf {
        segment_file(&self.dir, base, TXN_INDEX_FILE_SUFFIX)
    }

    /// Adds an aborted transaction to memory and to its marker's segment's index (unless a
    /// replay finds one already there).
    fn record_aborted(&mut self, entry: AbortedTxn) -> Result<()> {
        let at = self.aborted.partition_point(|a| a.last_offset < entry.last_offset);
        if self.aborted.get(at).is_some_and(|a| a.last_offset == entry.last_offset) {
            return Ok(());
        }
        let base = self.segments.range(..=entry.last_offset).next_back().map_or(self.log_start_offset, |(&b, _)| b);
        txn_index::append(&self.txn_index_path(base), &entry)?;
        self.aborted.insert(at, entry);
        Ok(())
    }

    /// Reads the aborted-transaction indexes of the segments, dropping entries the log no
    /// longer holds and index files without a segment.
    fn load_aborted_txns(&mut self) -> Result<()> {
        let mut aborted = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| io_err("list log directory", &self.dir, e))? {
            let entry = entry.map_err(|e| io_err("list log directory", &self.dir, e))?;
            let name = entry.file_name();
            let Some((stem, suffix)) = name.to_str().and_then(|n| n.split_once('.')) else { continue };
            if suffix != TXN_INDEX_FILE_SUFFIX || stem.len() != 20 {
                continue;
            }
            let Ok(base) = stem.parse::<i64>() else { continue };
            let path = self.txn_index_path(base);
            let next_base = self.segments.range(base + 1..).next().map_or(i64::MAX, |(&b, _)| b);
            if !self.segments.contains_key(&base) {
                txn_index::remove(&path)?;
                continue;
            }
            let all = txn_index::read(&path)?;
            let kept: Vec<AbortedTxn> = all
                .iter()
                .copied()
                .filter(|a| a.last_offset >= base && a.last_offset < next_base.min(self.log_end_offset))
                .collect();
            if kept.len() != all.len() {
                txn_index::rewrite(&path, &kept)?;
            }
            aborted.extend(kept);
        }
        aborted.sort_by_key(|a| a.last_offset);
        aborted.dedup_by_key(|a| a.last_offset);
        self.aborted = aborted;
        Ok(())
    }

    /// Forgets the aborted transactions whose markers are at or past `end` (the log was cut
    /// there), in memory and in the index of the segment now last.
    fn truncate_aborted_txns(&mut self, end: i64) -> Result<()> {
        let keep = self.aborted.partition_point(|a| a.last_offset < end);
        if keep == self.aborted.len() {
            return Ok(());
        }
        self.aborted.truncate(keep);
        if let Some((&base, _)) = self.segments.last_key_value() {
            let in_last: Vec<AbortedTxn> = self.aborted.iter().copied().filter(|a| a.last_offset >= base).collect();
            txn_index::rewrite(&self.txn_index_path(base), &in_last)?;
        }
        Ok(())
    }

    /// The last stable offset: below the oldest open transaction and the high watermark.
    /// `read_committed` consumers read up to it.
    pub fn last_stable_offset(&self) -> i64 {
        let first_unstable = self.producers.as_ref().and_then(ProducerStateManager::first_unstable_offset);
        first_unstable.map_or(self.high_watermark, |o| o.min(self.high_watermark))
    }

    /// How many producers have state in memory here (none while the state is not loaded).
    pub fn producer_count(&self) -> usize {
        self.producers.as_ref().map_or(0, ProducerStateManager::len)
    }

    /// Producer id expiration (KIP-854), Kafka's per-log `PeriodicProducerExpirationCheck`:
    /// once `check_interval_ms` (`producer.id.expiration.check.interval.ms`) has passed since
    /// the last look, forgets the producers whose last batch is `expiration_ms`
    /// (`producer.id.expiration.ms`) old by the broker's clock and that have no open
    /// transaction here. Called on every pass of the log manager's maintenance. A log whose
    /// producer state is not loaded holds none to forget; what its snapshot carries is looked
    /// at again once the state is loaded. Returns how many producers were forgotten.
    pub fn maybe_remove_expired_producers(&mut self, expiration_ms: i64, check_interval_ms: i64) -> usize {
        let now = self.clock.now_ms();
        if now.saturating_sub(self.last_producer_expiry_check_ms) < check_interval_ms {
            return 0;
        }
        self.last_producer_expiry_check_ms = now;
        let Some(producers) = self.producers.as_mut() else { return 0 };
        let removed = producers.remove_expired(now, expiration_ms);
        if removed > 0 {
            tracing::debug!(tp = %self.tp, removed, remaining = producers.len(), "expired idle producer ids");
        }
        removed
    }

    /// Whether `producer_id` has an open transaction in this partition.
    /// Every producer with state in this log (none while its producer state is not loaded).
    pub fn active_producers(&self) -> Vec<crate::producer_state::ActiveProducer> {
        self.producers.as_ref().map_or_else(Vec::new, |p| p.active())
    }

    pub fn has_ongoing_txn(&self, producer_id: i64) -> bool {
        self.producers.as_ref().is_some_and(|p| p.has_ongoing_txn(producer_id))
    }

    /// How many end-transaction markers of `producer_id` this log has taken since its
    /// producer state was loaded: a leader reads it before asking the coordinator to verify a
    /// transactional batch (KIP-890), and appends only if no marker came in between (Kafka's
    /// verification guard).
    pub fn txn_markers_seen(&self, producer_id: i64) -> u32 {
        self.producers.as_ref().map_or(0, |p| p.markers_seen(producer_id))
    }

    /// The aborted transactions a `read_committed` fetch of `[from, upper)` must be told of:
    /// those ending at or after `from` and starting before `upper`.
    pub fn collect_aborted_txns(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        let mut out = Vec::new();
        for a in &self.aborted[start..] {
            if a.first_offset < upper {
                out.push(*a);
            }
            // Every later aborted transaction started at or after this one's last stable offset.
            if a.last_stable_offset >= upper {
                break;
            }
        }
        out
    }

    fn producer_snapshot_path(&self, offset: i64) -> PathBuf {
        self.dir.join(format!("{offset:020}.{PRODUCER_SNAPSHOT_SUFFIX}"))
    }

    /// The offsets of the producer snapshots in the directory, oldest first.
    fn producer_snapshot_offsets(&self) -> Result<Vec<i64>> {
        let mut offsets = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| io_err("list log directory", &self.dir, e))? {
            let entry = entry.map_err(|e| io_err("list log directory", &self.dir, e))?;
            let name = entry.file_name();
            let Some((stem, suffix)) = name.to_str().and_then(|n| n.split_once('.')) else { continue };
            if suffix == PRODUCER_SNAPSHOT_SUFFIX
                && stem.len() == 20
                && let Ok(offset) = stem.parse::<i64>()
            {
                offsets.push(offset);
            }
        }
        offsets.sort_unstable();
        Ok(offsets)
    }

    /// The newest readable snapshot at or below the log end, with its offset; an empty state
    /// from offset 0 without one. A damaged snapshot is removed and an older one used, one past
    /// the log end (recovery cut what followed it) ignored.
    fn newest_producer_snapshot(&self) -> Result<(ProducerStateManager, i64)> {
        for offset in self.producer_snapshot_offsets()?.into_iter().rev() {
            if offset > self.log_end_offset {
                continue;
            }
            let path = self.producer_snapshot_path(offset);
            let bytes = fs::read(&path).map_err(|e| io_err("read producer snapshot", &path, e))?;
            match ProducerStateManager::decode(&bytes, self.clock.now_ms()) {
                Some(state) => return Ok((state, offset)),
                None => {
                    // Removed, so that pruning never keeps it in place of a good one.
                    tracing::warn!(tp = %self.tp, path = %path.display(), "damaged producer snapshot; removing it");
                    fs::remove_file(&path).map_err(|e| io_err("remove producer snapshot", &path, e))?;
                }
            }
        }
        Ok((ProducerStateManager::new(), 0))
    }

    /// Writes the producer state as of the log end (when it is loaded: a log no idempotent
    /// producer wrote to since it opened has nothing newer than its last snapshot), keeping
    /// the two newest snapshots.
    fn write_producer_snapshot(&mut self, sync: SnapshotSync) -> Result<()> {
        let Some(state) = &self.producers else { return Ok(()) };
        let path = self.producer_snapshot_path(self.log_end_offset);
        match sync {
            SnapshotSync::Now => crate::checkpoint::write_atomically(&path, &state.encode())?,
            SnapshotSync::ByNextFlush => {
                // A crash before the fsync may leave a snapshot whose CRC fails, which loading
                // removes in favour of an older one (then more of the log is replayed).
                crate::checkpoint::write_unsynced(&path, &state.encode())?;
                self.unsynced_files.push(path);
                self.mark_dir_changed();
            }
        }
        let offsets = self.producer_snapshot_offsets()?;
        for &old in offsets.iter().rev().skip(2) {
            let path = self.producer_snapshot_path(old);
            fs::remove_file(&path).map_err(|e| io_err("remove producer snapshot", &path, e))?;
        }
        Ok(())
    }

    /// Removes the snapshots past `offset` (the log was cut back to it).
    fn remove_producer_snapshots_after(&mut self, offset: i64) -> Result<()> {
        self.producers = None;
        for later in self.producer_snapshot_offsets()?.into_iter().filter(|&o| o > offset) {
            let path = self.producer_snapshot_path(later);
            fs::remove_file(&path).map_err(|e| io_err("remove producer snapshot", &path, e))?;
        }
        Ok(())
    }

    /// Checks a producer's batches against its sequence (Kafka allows one batch per partition
    /// in a produce request from an idempotent producer). A retry of a batch already in the log
    /// returns where it went, and nothing is appended.
    fn check_sequences(&mut self, records: &[u8], headers: &[BatchHeader]) -> Result<Option<LogAppendInfo>> {
        let tp = self.tp.clone();
        let sequence_error = |source| StorageError::Sequence { tp: tp.clone(), source };
        if headers.iter().any(|h| h.attributes.is_control()) {
            let mut position = 0;
            for h in headers {
                let batch = &records[position..position + h.size()];
                position += h.size();
                let marker = control::parse_marker(batch).map_err(|e| self.invalid(e))?;
                self.load_producers()?.check_marker(h, marker).map_err(sequence_error)?;
            }
            return Ok(None);
        }
        if !headers.iter().any(|h| h.producer_id >= 0) {
            return Ok(None);
        }
        if headers.iter().all(|h| h.base_sequence < 0) {
            // No sequence to check (the group coordinator's transactional offset commits), but
            // a fenced producer's epoch is still refused.
            let producers = self.load_producers()?;
            for h in headers.iter().filter(|h| h.producer_id >= 0) {
                producers.check_epoch(h).map_err(sequence_error)?;
            }
            return Ok(None);
        }
        if headers.len() > 1 {
            return Err(self.invalid(BatchError::CorruptRecord {
                position: 0,
                reason: "an idempotent producer sends one batch per partition",
            }));
        }
        let tp = self.tp.clone();
        let log_start_offset = self.log_start_offset;
        let h = headers[0];
        match self.load_producers()?.check(&h) {
            Ok(SequenceCheck::Append) => Ok(None),
            Ok(SequenceCheck::Duplicate { first_offset, last_offset }) => {
                tracing::debug!(%tp, producer_id = h.producer_id, sequence = h.base_sequence, first_offset, "duplicate batch");
                Ok(Some(LogAppendInfo {
                    first_offset,
                    last_offset,
                    max_timestamp: h.max_timestamp,
                    record_count: 0,
                    batch_count: 0,
                    bytes: 0,
                    log_start_offset,
                }))
            }
            Err(source) => Err(StorageError::Sequence { tp, source }),
        }
    }

    fn append_validated(&mut self, records: &[u8], headers: &[BatchHeader]) -> Result<LogAppendInfo> {
        let first = headers[0];
        let last = headers[headers.len() - 1];
        let max_timestamp = headers.iter().map(|h| h.max_timestamp).max().unwrap_or(NO_TIMESTAMP);
        // Write in chunks whose offsets all fit one segment's relative range (i32) from the
        // chunk's first offset; a follower's batches may jump far apart after compaction.
        let (mut from, mut position) = (0usize, 0usize);
        while from < headers.len() {
            let chunk_base = headers[from].base_offset;
            let mut to = from;
            let mut bytes = 0usize;
            while to < headers.len() && headers[to].last_offset() - chunk_base <= i64::from(i32::MAX) {
                bytes += headers[to].size();
                to += 1;
            }
            let chunk = &headers[from..to];
            let chunk_last = chunk[chunk.len() - 1].last_offset();
            let chunk_max_ts = chunk.iter().map(|h| h.max_timestamp).max().unwrap_or(NO_TIMESTAMP);
            let now = self.clock.now_ms();
            let active = self.segments.last_key_value().expect("a log always has a segment").1;
            if active.should_roll(&self.config, bytes, chunk_last, chunk_max_ts, now)
                || chunk_base - active.base_offset() > i64::from(i32::MAX)
            {
                let result = self.roll_at(chunk_base);
                self.offline_on_err(result)?;
            }
            let active = self.segments.last_entry().expect("a log always has a segment").into_mut();
            let result = active.append(&records[position..position + bytes], chunk);
            self.offline_on_err(result)?;
            self.log_end_offset = chunk_last + 1;
            // Chunk by chunk, so a snapshot taken by the next chunk's roll is true of its offset.
            let result = self.track_producers(chunk, &records[position..position + bytes]);
            self.offline_on_err(result)?;
            from = to;
            position += bytes;
        }
        debug_assert_eq!(position, records.len());
        let record_count: i64 = headers.iter().map(|h| i64::from(h.records_count)).sum();
        // Reaching `flush.messages` only makes a flush due: the caller runs it once it has
        // released the lock (`jobs::flush_if_due`), so no fsync stalls this partition.
        self.unflushed_messages = self.unflushed_messages.saturating_add(record_count);
        Ok(LogAppendInfo {
            first_offset: first.base_offset,
            last_offset: last.last_offset(),
            max_timestamp,
            record_count,
            batch_count: headers.len(),
            bytes: records.len(),
            log_start_offset: self.log_start_offset,
        })
    }

    /// Starts a new active segment at the log end offset.
    pub fn roll(&mut self) -> Result<()> {
        self.check_online()?;
        let result = self.roll_at(self.log_end_offset);
        self.offline_on_err(result)
    }

    fn roll_at(&mut self, expected_base: i64) -> Result<()> {
        let new_base = expected_base.max(self.log_end_offset);
        let now = self.clock.now_ms();
        let (&active_base, active) = self.segments.last_key_value().expect("a log always has a segment");
        if active.is_empty() {
            if active_base == new_base {
                return Ok(());
            }
            let empty = self.segments.pop_last().expect("checked above").1;
            empty.delete()?;
        } else {
            self.segments.last_entry().expect("checked above").into_mut().on_become_inactive()?;
        }
        // A stale index of an earlier segment at this base (cut by recovery) must not be reused.
        txn_index::remove(&self.txn_index_path(new_base))?;
        // Creating the files is metadata work in the page cache (open, set the index length,
        // map it), as in Kafka's roll; what makes them durable (the old segment's data and
        // indexes, the directory, the snapshot) is left to the next flush job.
        let segment = LogSegment::create(&self.dir, new_base, &self.config, now)?;
        self.segments.insert(new_base, segment);
        self.mark_dir_changed();
        self.write_producer_snapshot(SnapshotSync::ByNextFlush)?;
        crate::stats::rolled();
        tracing::debug!(tp = %self.tp, base_offset = new_base, "rolled a new segment");
        Ok(())
    }

    /// Reads whole batches from `offset` (the first batch is the one containing it) up to
    /// `max_bytes`, never a batch reaching `max_offset` (exclusive; pass the high watermark for
    /// consumers, the log end offset for followers). With `min_one_batch` the first batch is
    /// returned even if it alone exceeds `max_bytes`.
    pub fn read(&self, offset: i64, max_bytes: usize, max_offset: i64, min_one_batch: bool) -> Result<FetchDataInfo> {
        self.check_readable(offset)?;
        let max_offset = max_offset.min(self.log_end_offset);
        let mut out = BytesMut::new();
        let mut next = offset;
        let floor = self.segments.range(..=offset).next_back().map_or(i64::MIN, |(&b, _)| b);
        for (&base, segment) in self.segments.range(floor..) {
            if next >= max_offset {
                break;
            }
            let remaining = max_bytes.saturating_sub(out.len());
            if remaining == 0 && !(min_one_batch && out.is_empty()) {
                break;
            }
            let r = segment.read(next.max(base), remaining, max_offset, min_one_batch && out.is_empty(), &mut out)?;
            if r.bytes > 0 {
                next = r.next_offset;
            }
            if r.limited {
                break;
            }
        }
        Ok(FetchDataInfo { records: out.freeze(), next_offset: next })
    }

    /// A read must start within `[log start, log end]`.
    fn check_readable(&self, offset: i64) -> Result<()> {
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                tp: self.tp.clone(),
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset,
            });
        }
        Ok(())
    }

    /// As [`read`](Self::read), but the batches stay in their segment files: the slices that
    /// hold them, in order, for `sendfile` (`sluice_protocol::record_set`).
    pub fn read_slices(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<(Vec<FileSlice>, i64)> {
        self.check_readable(offset)?;
        let max_offset = max_offset.min(self.log_end_offset);
        let (mut slices, mut bytes, mut next) = (Vec::new(), 0usize, offset);
        let floor = self.segments.range(..=offset).next_back().map_or(i64::MIN, |(&b, _)| b);
        for (&base, segment) in self.segments.range(floor..) {
            if next >= max_offset {
                break;
            }
            let remaining = max_bytes.saturating_sub(bytes);
            if remaining == 0 && !(min_one_batch && bytes == 0) {
                break;
            }
            let (slice, r) = segment.read_slice(next.max(base), remaining, max_offset, min_one_batch && bytes == 0)?;
            if let Some(slice) = slice {
                bytes += slice.len;
                next = r.next_offset;
                slices.push(slice);
            }
            if r.limited {
                break;
            }
        }
        Ok((slices, next))
    }

    /// The epoch in force at `offset`, per the leader-epoch cache.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.epoch_cache.entries().iter().rev().find(|e| e.start_offset <= offset).map(|e| e.epoch)
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.epoch_cache.latest_epoch()
    }

    pub fn epoch_entries(&self) -> &[EpochEntry] {
        self.epoch_cache.entries()
    }

    /// OffsetForLeaderEpoch: the largest epoch <= `epoch` and its end offset (KIP-101/279).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epoch_cache.end_offset_for(epoch, self.log_end_offset)
    }

    /// ListOffsets: the first offset whose record timestamp is >= `timestamp`, or for the
    /// special values, the log start (`EARLIEST_TIMESTAMP`), the log end (`LATEST_TIMESTAMP`),
    /// or the record with the largest timestamp (`MAX_TIMESTAMP`, KIP-734).
    pub fn fetch_offset_by_timestamp(&self, timestamp: i64) -> Result<Option<TimestampAndOffset>> {
        let with_epoch =
            |timestamp, offset| TimestampAndOffset { timestamp, offset, leader_epoch: self.epoch_for_offset(offset) };
        match timestamp {
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => {
                return Ok(Some(with_epoch(NO_TIMESTAMP, self.log_start_offset)));
            }
            LATEST_TIERED_TIMESTAMP => {
                return Ok(Some(TimestampAndOffset { timestamp: NO_TIMESTAMP, offset: -1, leader_epoch: None }));
            }
            LATEST_TIMESTAMP => {
                return Ok(Some(TimestampAndOffset {
                    timestamp: NO_TIMESTAMP,
                    offset: self.log_end_offset,
                    leader_epoch: self.latest_epoch(),
                }));
            }
            MAX_TIMESTAMP => {
                let best = self
                    .segments
                    .values()
                    .filter(|s| s.next_offset() > self.log_start_offset && s.max_timestamp() >= 0)
                    .max_by_key(|s| (s.max_timestamp(), std::cmp::Reverse(s.base_offset())));
                let Some(segment) = best else { return Ok(None) };
                let found = segment.find_offset_by_timestamp(segment.max_timestamp(), self.log_start_offset)?;
                return Ok(found.map(|(ts, off)| with_epoch(ts, off)));
            }
            t if t < 0 => return Ok(None),
            _ => {}
        }
        for segment in self.segments.values() {
            if segment.next_offset() <= self.log_start_offset || segment.max_timestamp() < timestamp {
                continue;
            }
            if let Some((ts, off)) = segment.find_offset_by_timestamp(timestamp, self.log_start_offset)? {
                return Ok(Some(with_epoch(ts, off)));
            }
        }
        Ok(None)
    }

    /// Removes every batch holding an offset >= `target` (a follower diverged from its
    /// leader). Returns whether anything was removed.
    pub fn truncate_to(&mut self, target: i64) -> Result<bool> {
        self.check_online()?;
        assert!(target >= 0, "truncate {} to negative offset {target}", self.tp);
        if target >= self.log_end_offset {
            return Ok(false);
        }
        if target <= self.log_start_offset {
            self.truncate_fully_and_start_at(target)?;
            return Ok(true);
        }
        let result = self.truncate_segments(target);
        self.offline_on_err(result)?;
        Ok(true)
    }

    fn truncate_segments(&mut self, target: i64) -> Result<()> {
        // Before anything changes: work taken earlier must not complete over the cut.
        self.truncations += 1;
        while let Some((&base, _)) = self.segments.last_key_value() {
            if base < target || self.segments.len() == 1 {
                break;
            }
            self.segments.pop_last().expect("non-empty").1.delete()?;
            txn_index::remove(&self.txn_index_path(base))?;
        }
        let last = self.segments.last_entry().expect("a log always has a segment").into_mut();
        last.truncate_to(target)?;
        // Make the cut durable before anyone checkpoints past it: a crash must not bring back
        // records that a follower truncated away.
        last.flush()?;
        crate::checkpoint::sync_dir(&self.dir)?;
        let new_end = last.next_offset();
        if new_end < self.log_start_offset {
            // The batch holding the log start offset was cut: nothing readable remains.
            return self.truncate_fully_and_start_at(self.log_start_offset);
        }
        self.log_end_offset = new_end;
        self.high_watermark = self.high_watermark.min(new_end);
        self.recovery_point = self.recovery_point.min(new_end);
        self.epoch_cache.truncate_from_end(new_end)?;
        self.truncate_aborted_txns(new_end)?;
        self.remove_producer_snapshots_after(new_end)?;
        self.load_producers()?;
        tracing::info!(tp = %self.tp, target, log_end_offset = new_end, "truncated log");
        Ok(())
    }

    /// Deletes every segment and restarts the log, empty, at `offset`.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<()> {
        self.check_online()?;
        let result = self.reset_at(offset);
        self.offline_on_err(result)
    }

    fn reset_at(&mut self, offset: i64) -> Result<()> {
        assert!(offset >= 0, "restart {} at negative offset {offset}", self.tp);
        self.truncations += 1;
        while let Some((base, segment)) = self.segments.pop_first() {
            segment.delete()?;
            txn_index::remove(&self.txn_index_path(base))?;
        }
        self.aborted.clear();
        txn_index::remove(&self.txn_index_path(offset))?;
        let now = self.clock.now_ms();
        self.segments.insert(offset, LogSegment::create(&self.dir, offset, &self.config, now)?);
        crate::checkpoint::sync_dir(&self.dir)?;
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        self.high_watermark = offset;
        self.recovery_point = offset;
        self.epoch_cache.clear()?;
        self.remove_producer_snapshots_after(-1)?;
        self.load_producers()?;
        tracing::info!(tp = %self.tp, offset, "truncated log fully");
        Ok(())
    }

    /// DeleteRecords: moves the log start offset up to `new_start` (at most the high
    /// watermark) and deletes the segments wholly below it. Returns whether it moved.
    pub fn maybe_increment_log_start_offset(&mut self, new_start: i64) -> Result<bool> {
        self.check_online()?;
        if new_start > self.high_watermark {
            return Err(StorageError::OffsetOutOfRange {
                tp: self.tp.clone(),
                offset: new_start,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.high_watermark,
            });
        }
        if new_start <= self.log_start_offset {
            return Ok(false);
        }
        self.log_start_offset = new_start;
        self.truncate_epochs_from_start(new_start)?;
        self.delete_segments_while(|_, next_base, log| next_base <= log.log_start_offset)?;
        Ok(true)
    }

    /// Retention: deletes old segments, oldest first, never the active one and never one
    /// holding offsets at or above the high watermark: segments wholly below the log start
    /// offset, then (with `cleanup.policy=delete`) those older than `retention.ms`, then
    /// those beyond `retention.bytes`. Returns how many were deleted. Their files are removed
    /// here once `file.delete.delay.ms` has passed (at once when it is 0): for an owner of the
    /// log alone. A shared log runs [`crate::jobs::delete_old_segments`], which removes them
    /// after releasing the lock.
    pub fn delete_old_segments(&mut self) -> Result<usize> {
        let deleted = self.detach_old_segments()?;
        self.remove_deleted_files()?;
        Ok(deleted)
    }

    /// The part of retention ([`delete_old_segments`](Self::delete_old_segments)) that runs
    /// under the log's lock (Kafka's `deleteOldSegments`): the segments leave the list and the
    /// log start offset moves, and their files are renamed `*.deleted` (a rename, no data
    /// written) to wait in [`pending_deleted_files`](Self::pending_deleted_files) until
    /// [`take_due_deleted_files`](Self::take_due_deleted_files) hands them to whoever unlinks
    /// them with no lock held. Returns how many segments went.
    pub fn detach_old_segments(&mut self) -> Result<usize> {
        self.check_online()?;
        let mut deleted = self.delete_segments_while(|_, next_base, log| next_base <= log.log_start_offset)?;
        if !self.config.cleanup_policy.delete {
            return Ok(deleted);
        }
        if self.config.retention_ms >= 0 {
            let now = self.clock.now_ms();
            let retention_ms = self.config.retention_ms;
            deleted += self.delete_segments_while(|s, _, _| now - s.largest_timestamp() > retention_ms)?;
        }
        if self.config.retention_bytes >= 0 {
            let mut excess = self.size_in_bytes() as i64 - self.config.retention_bytes;
            deleted += self.delete_segments_while(|s, _, _| {
                if excess >= s.size() as i64 {
                    excess -= s.size() as i64;
                    true
                } else {
                    false
                }
            })?;
        }
        Ok(deleted)
    }

    /// Deletes segments from the oldest while `predicate(segment, next segment's base, log)`
    /// holds and the next segment starts at or below the high watermark. The active segment is
    /// one of them when everything in it is below the high watermark and it is not empty: a new
    /// empty segment is rolled first to take appends (Kafka's `deleteSegments`), so a log whose
    /// every record expired really is emptied.
    fn delete_segments_while(&mut self, mut predicate: impl FnMut(&LogSegment, i64, &Log) -> bool) -> Result<usize> {
        let mut doomed = Vec::new();
        let mut iter = self.segments.iter().peekable();
        while let Some((&base, segment)) = iter.next() {
            let next_base = match iter.peek() {
                Some(&(&next_base, _)) => next_base,
                None if !segment.is_empty() => self.log_end_offset,
                None => break,
            };
            if next_base > self.high_watermark || !predicate(segment, next_base, self) {
                break;
            }
            doomed.push(base);
        }
        if doomed.len() == self.segments.len() {
            let result = self.roll_at(self.log_end_offset);
            self.offline_on_err(result)?;
        }
        for base in &doomed {
            let segment = self.segments.remove(base).expect("collected from the map");
            tracing::info!(tp = %self.tp, base_offset = base, "deleting segment");
            let result = self.retire_segment(segment).and_then(|()| self.retire_txn_index(*base));
            self.after_segment_removal()?;
            self.offline_on_err(result)?;
        }
        Ok(doomed.len())
    }

    /// Takes a segment out of use: its files are renamed `*.deleted` now and unlinked
    /// `file.delete.delay.ms` later (as soon as the next removal runs when that is 0), so that
    /// a read that found the segment just before can still finish, as Kafka defers the
    /// deletion. The rename happens here, under the lock, and not with the unlink: a
    /// truncation may create a new segment with the same base offset at any time after the
    /// lock is released, and a rename by name then would take the new segment's file.
    fn retire_segment(&mut self, segment: LogSegment) -> Result<()> {
        let renamed = segment.rename_for_deletion()?;
        self.schedule_deletion(renamed, self.config.file_delete_delay_ms);
        Ok(())
    }

    /// Retires the aborted-transaction index of a deleted segment as [`retire_segment`](Self::retire_segment) its
    /// other files.
    fn retire_txn_index(&mut self, base: i64) -> Result<()> {
        let path = self.txn_index_path(base);
        let to = with_suffix(&path, DELETED_FILE_SUFFIX);
        match fs::rename(&path, &to) {
            Ok(()) => {
                self.schedule_deletion(vec![to], self.config.file_delete_delay_ms);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("rename transaction index for deletion", &path, e)),
        }
    }

    /// Queues files already renamed `*.deleted` for unlinking `delay_ms` from now.
    fn schedule_deletion(&mut self, paths: Vec<PathBuf>, delay_ms: i64) {
        let due = self.clock.now_ms().saturating_add(delay_ms.max(0));
        for path in paths {
            assert!(
                path.as_os_str().to_string_lossy().ends_with(DELETED_FILE_SUFFIX),
                "{}: only files renamed *{DELETED_FILE_SUFFIX} wait for deletion, not {}",
                self.tp,
                path.display()
            );
            self.pending_deletes.push((due, path));
        }
        self.mark_dir_changed();
    }

    /// Hands over the files of deleted segments whose `file.delete.delay.ms` has passed, for
    /// the caller to unlink ([`DeletedFiles::remove`]) once it has released the lock. Every one
    /// is named `*.deleted`, a name no live file has, so the unlink can come any time later.
    pub fn take_due_deleted_files(&mut self) -> DeletedFiles {
        let now = self.clock.now_ms();
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_deletes).into_iter().partition(|(at, _)| *at <= now);
        self.pending_deletes = later;
        DeletedFiles::new(due.into_iter().map(|(_, path)| path).collect())
    }

    /// Whether [`take_due_deleted_files`](Self::take_due_deleted_files) would hand over any.
    pub fn has_due_deleted_files(&self) -> bool {
        let now = self.clock.now_ms();
        self.pending_deletes.iter().any(|(at, _)| *at <= now)
    }

    /// Removes the files of deleted segments whose `file.delete.delay.ms` has passed; returns
    /// how many. For an owner of the log alone; a shared log runs
    /// [`crate::jobs::remove_deleted_files`], which unlinks after releasing the lock.
    pub fn remove_deleted_files(&mut self) -> Result<usize> {
        self.take_due_deleted_files().remove()
    }

    /// Files of deleted segments still awaiting removal.
    pub fn pending_deleted_files(&self) -> Vec<PathBuf> {
        self.pending_deletes.iter().map(|(_, p)| p.clone()).collect()
    }

    /// Drops the leader epochs wholly below the new log start offset; the checkpoint file is
    /// written here and synced by the next flush job.
    fn truncate_epochs_from_start(&mut self, start: i64) -> Result<()> {
        let result = self.epoch_cache.truncate_from_start_unsynced(start);
        if self.offline_on_err(result)? {
            self.unsynced_files.push(self.epoch_cache.path().to_path_buf());
            self.mark_dir_changed();
        }
        Ok(())
    }

    /// Keeps the log start offset at or above the first segment after segments were removed.
    fn after_segment_removal(&mut self) -> Result<()> {
        self.mark_dir_changed();
        if let Some((&first, _)) = self.segments.first_key_value() {
            // Aborted transactions whose markers went with the removed segments.
            let gone = self.aborted.partition_point(|a| a.last_offset < first);
            self.aborted.drain(..gone);
        }
        if let Some((&first, _)) = self.segments.first_key_value()
            && first > self.log_start_offset
        {
            self.log_start_offset = first;
            self.truncate_epochs_from_start(first)?;
        }
        Ok(())
    }

    /// Compaction (`cleanup.policy=compact`): rewrites each segment below both the active
    /// segment and the high watermark without the records a later record of the same key
    /// supersedes, and without tombstones older than `delete.retention.ms`. See `cleaner`.
    /// All three phases run here, under the caller's `&mut`: for an owner of the log alone. A
    /// shared log runs [`crate::jobs::compact`], which holds the lock only to plan and to swap.
    pub fn compact(&mut self) -> Result<CleanStats> {
        let Some(plan) = self.plan_compaction()? else { return Ok(CleanStats::default()) };
        let cleaned = plan.clean()?;
        let stats = self.complete_compaction(cleaned)?;
        self.remove_deleted_files()?;
        Ok(stats)
    }

    /// Compaction's first phase, under a read lock: decides whether a round is due (as Kafka's
    /// cleaner chooses logs) and, if so, takes what the cleaning phase reads with no lock
    /// held: a view (shared descriptor and size) of every segment, and which inactive segments
    /// to rewrite. None when nothing is due or a round of this log is already in progress.
    pub fn plan_compaction(&self) -> Result<Option<CompactionPlan>> {
        self.check_online()?;
        let now = self.clock.now_ms();
        let cleanable = self.cleanable_segments(now);
        if cleanable.is_empty() || !self.needs_cleaning(&cleanable, now) {
            return Ok(None);
        }
        let Some(guard) = CleaningGuard::acquire(&self.cleaning) else {
            tracing::debug!(tp = %self.tp, "a compaction round is already in progress");
            return Ok(None);
        };
        let sources = self.segments.values().map(LogSegment::read_view).collect::<Result<Vec<_>>>()?;
        let targets = cleanable
            .iter()
            .map(|&(base, _)| {
                let segment = self.segments.get(&base).expect("cleanable segments are in the map");
                CleanTarget {
                    uid: segment.uid(),
                    drop_tombstones: now - segment.largest_timestamp() > self.config.delete_retention_ms,
                }
            })
            .collect();
        let cleaned_up_to = cleanable.last().map_or(self.first_dirty_offset, |&(_, next)| next);
        Ok(Some(CompactionPlan {
            tp: self.tp.clone(),
            dir: self.dir.clone(),
            config: self.config.clone(),
            now_ms: now,
            truncations: self.truncations,
            log_start_offset: self.log_start_offset,
            sources,
            targets,
            cleaned_up_to,
            guard,
        }))
    }

    /// Compaction's last phase, under a short write lock: swaps in each cleaned segment whose
    /// original is still in the log, unchanged (same identity, so no retention or other round
    /// replaced it), unless the log was truncated since the plan, which abandons the round.
    /// A swap is renames only (see `segment::decide_swap`); the old segment's files wait for
    /// deletion as retention's do, and what a round did not swap in is renamed `*.deleted`.
    pub fn complete_compaction(&mut self, mut cleaned: CleanedSegments) -> Result<CleanStats> {
        let mut stats = CleanStats::default();
        if self.closed || self.offline.is_some() {
            // Dropping the round removes its temporary files.
            return if self.closed { Ok(stats) } else { self.check_online().map(|()| stats) };
        }
        let rewritten = std::mem::take(&mut cleaned.segments);
        let abandoned = cleaned.truncations != self.truncations;
        if abandoned {
            tracing::debug!(tp = %self.tp, "a truncation overtook the compaction round; abandoning it");
        }
        let mut swaps = Vec::new();
        for c in rewritten {
            let base = c.segment.base_offset();
            let unchanged = self.segments.get(&base).is_some_and(|s| s.uid() == c.replaces_uid);
            if abandoned || !unchanged {
                match segment::discard_cleaned(&self.dir, base) {
                    Ok(renamed) => self.schedule_deletion(renamed, 0),
                    Err(e) => {
                        tracing::warn!(tp = %self.tp, base_offset = base, error = %e, "cannot set aside a cleaned segment; it goes at the next load")
                    }
                }
                continue;
            }
            assert!(
                self.segments.range(base + 1..).next().is_some(),
                "{}: compaction swaps in inactive segments only, and segment {base} became active with no truncation",
                self.tp
            );
            stats.segments_rewritten += 1;
            stats.records_removed += c.records_removed;
            stats.bytes_before += c.bytes_before;
            stats.bytes_after += c.segment.size();
            swaps.push(c.segment);
        }
        let result = self.swap_in_cleaned(swaps);
        self.offline_on_err(result)?;
        if !abandoned {
            self.first_dirty_offset = self.first_dirty_offset.max(cleaned.cleaned_up_to);
        }
        if stats.segments_rewritten > 0 {
            tracing::info!(tp = %self.tp, ?stats, "compacted log");
        }
        Ok(stats)
    }

    /// The segments compaction may rewrite, `(base, next segment's base)`, oldest first: below
    /// the active segment and the last stable offset, and older (every record) than
    /// `min.compaction.lag.ms`, as Kafka's first uncleanable offset bounds them.
    fn cleanable_segments(&self, now: i64) -> Vec<(i64, i64)> {
        let lso = self.last_stable_offset();
        let min_lag = self.config.min_compaction_lag_ms;
        let mut out = Vec::new();
        let mut iter = self.segments.iter().peekable();
        while let Some((&base, segment)) = iter.next() {
            let Some(&(&next, _)) = iter.peek() else { break };
            if next > lso || (min_lag > 0 && now.saturating_sub(segment.largest_timestamp()) < min_lag) {
                break;
            }
            out.push((base, next));
        }
        out
    }

    /// Whether compaction should run over `cleanable`: its dirty share (bytes at or above the
    /// cleaned offset) reaches `min.cleanable.dirty.ratio`, or a dirty segment's first record
    /// is older than `max.compaction.lag.ms` (KIP-354), as Kafka's cleaner chooses logs.
    fn needs_cleaning(&self, cleanable: &[(i64, i64)], now: i64) -> bool {
        let (mut clean, mut dirty) = (0u64, 0u64);
        let mut overdue = false;
        for &(base, next) in cleanable {
            let Some(segment) = self.segments.get(&base) else { continue };
            if next <= self.first_dirty_offset {
                clean += segment.size();
                continue;
            }
            dirty += segment.size();
            let first = segment.first_batch_timestamp().unwrap_or_else(|| segment.largest_timestamp());
            overdue |= now.saturating_sub(first) > self.config.max_compaction_lag_ms;
        }
        if dirty == 0 {
            return false;
        }
        overdue || dirty as f64 / (clean + dirty) as f64 >= self.config.min_cleanable_dirty_ratio
    }

    /// Replaces the segments at the cleaned segments' base offsets with them, crash-safely:
    /// each `.log.cleaned` becomes `.log.swap` (decided), one fsync of the directory makes the
    /// decisions durable, then the old files are renamed `*.deleted` and the cleaned files take
    /// the live names. A stop at any point loads to the old or the new segment (see
    /// `segment::decide_swap` and `scan_dir`).
    ///
    /// The directory fsync is the one sync left under the lock, once per round: without it a
    /// file system that reorders renames could keep an old file's `*.deleted` name and lose the
    /// `.swap` one, and both go at the next load. (Kafka's `replaceSegments` relies on the
    /// journal's order instead. Syncing outside the lock, between two lock phases, would need
    /// every truncation and retention in between to revoke the decided swaps durably.) The
    /// final names need no sync here: a stop before they are durable completes the swap on
    /// load, and the next flush job syncs the directory.
    fn swap_in_cleaned(&mut self, cleaned: Vec<LogSegment>) -> Result<()> {
        if cleaned.is_empty() {
            return Ok(());
        }
        for segment in &cleaned {
            segment::decide_swap(&self.dir, segment.base_offset())?;
        }
        crate::checkpoint::sync_dir(&self.dir)?;
        for segment in cleaned {
            let base = segment.base_offset();
            let old = self.segments.remove(&base).expect("checked by the caller");
            self.retire_segment(old)?;
            segment::finish_swap(&self.dir, base)?;
            self.segments.insert(base, segment);
        }
        self.mark_dir_changed();
        Ok(())
    }

    /// How many times the log was cut back since it opened (see the field).
    /// A move (`LogManager::move_log`) refuses an offline log.
    pub(crate) fn check_online_for_move(&self) -> Result<()> {
        self.check_online()
    }

    pub(crate) fn truncations(&self) -> u64 {
        self.truncations
    }

    /// Notes a change to the directory's entries, for the next flush job to make durable.
    fn mark_dir_changed(&mut self) {
        self.dir_changes += 1;
    }

    /// fsyncs everything up to the log end offset, under the caller's `&mut` (see
    /// [`flush_up_to`](Self::flush_up_to)).
    pub fn flush(&mut self) -> Result<()> {
        self.flush_up_to(self.log_end_offset)
    }

    /// fsyncs the segments holding offsets in `[recovery_point, offset)` and moves the recovery
    /// point to `offset`: all three flush steps under the caller's `&mut`, for an owner of the
    /// log alone and for `close`. A shared log runs [`crate::jobs::flush`], which holds the lock
    /// only to take and to complete the job.
    pub fn flush_up_to(&mut self, offset: i64) -> Result<()> {
        let Some(job) = self.take_flush_job(offset)? else { return Ok(()) };
        let outcome = job.run();
        self.complete_flush(job, outcome)
    }

    /// Whether `flush.messages` messages were appended since the last flush job was taken: the
    /// appender then runs [`take_due_flush`](Self::take_due_flush)'s job once it has released
    /// the lock ([`crate::jobs::flush_if_due`] does all of it).
    pub fn flush_due(&self) -> bool {
        self.offline.is_none() && !self.closed && self.unflushed_messages >= self.config.flush_messages
    }

    /// The flush [`flush_due`](Self::flush_due) asks for: up to the log end offset.
    pub fn take_due_flush(&mut self) -> Result<Option<FlushJob>> {
        if !self.flush_due() {
            return Ok(None);
        }
        self.take_flush_job(self.log_end_offset)
    }

    /// A flush's first step, under the lock: takes a job that fsyncs the segments holding
    /// offsets in `[recovery_point, offset)` (`offset` at most the log end), the files written
    /// under the lock without an fsync, and the directory if its entries changed. Completed by
    /// [`complete_flush`](Self::complete_flush), it moves the recovery point to `offset`.
    /// None when there is nothing to sync. A segment closed since recovery is opened here (one
    /// `open`, no data written); an error doing so takes the log offline, as a failed flush.
    pub fn take_flush_job(&mut self, offset: i64) -> Result<Option<FlushJob>> {
        self.check_online()?;
        let offset = offset.min(self.log_end_offset);
        let dir_dirty = self.dir_changes > self.dir_synced;
        if offset <= self.recovery_point && !dir_dirty && self.unsynced_files.is_empty() {
            return Ok(None);
        }
        let recovery_point = self.recovery_point;
        let result = self
            .segments
            .values()
            .filter(|s| s.next_offset() > recovery_point && s.base_offset() < offset.max(recovery_point + 1))
            .map(LogSegment::sync_handle)
            .collect::<Result<Vec<_>>>();
        let segments = self.offline_on_err(result)?;
        self.last_flush_ms = self.clock.now_ms();
        if offset >= self.log_end_offset {
            self.unflushed_messages = 0;
        }
        Ok(Some(FlushJob {
            up_to: offset,
            truncations: self.truncations,
            segments,
            files: std::mem::take(&mut self.unsynced_files),
            dir: dir_dirty.then(|| (self.dir.clone(), self.dir_changes)),
        }))
    }

    /// A flush's last step, under a short write lock, with what [`FlushJob::run`] returned: a
    /// failure takes the log offline (an environment failure: what is on disk is unknown);
    /// success moves the recovery point to the job's offset, unless the log was truncated
    /// since the job was taken (then what it synced may not be what the log now holds below
    /// that offset, and the recovery point stays). A closed log ignores the job: closing
    /// flushed everything itself.
    pub fn complete_flush(&mut self, job: FlushJob, outcome: Result<()>) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.check_online()?;
        self.offline_on_err(outcome)?;
        if let Some((_, changes)) = job.dir {
            self.dir_synced = self.dir_synced.max(changes);
        }
        if job.truncations != self.truncations {
            tracing::debug!(tp = %self.tp, up_to = job.up_to, "a truncation overtook the flush; the recovery point stays");
            return Ok(());
        }
        assert!(
            job.up_to <= self.log_end_offset,
            "{}: flush job up to {} past the log end {} with no truncation since it was taken",
            self.tp,
            job.up_to,
            self.log_end_offset
        );
        self.recovery_point = self.recovery_point.max(job.up_to);
        Ok(())
    }

    /// Flushes and trims the active segment's indexes: the state a clean shutdown leaves.
    /// Everything here runs under the lock: nothing else runs on a log being closed.
    pub fn close(&mut self) -> Result<()> {
        if self.offline.is_some() || self.closed {
            return Ok(());
        }
        self.flush()?;
        let active = self.segments.last_entry().expect("a log always has a segment").into_mut();
        // The final time index entry is written by the trim, after the flush: sync it too.
        let result = active.on_become_inactive().and_then(|()| active.flush());
        self.offline_on_err(result)?;
        let result = self.write_producer_snapshot(SnapshotSync::Now);
        self.offline_on_err(result)?;
        // Closed: whoever still holds the log can read but no longer write behind the clean
        // shutdown marker's back.
        self.closed = true;
        Ok(())
    }

    /// Deletes the log's directory and everything in it.
    pub fn delete(self) -> Result<()> {
        let dir = self.dir.clone();
        drop(self);
        fs::remove_dir_all(&dir).map_err(|e| io_err("delete log directory", &dir, e))
    }
}

// A log is shared between threads behind a lock (`SharedLog`); keep it Send + Sync.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Log>();
};

/// Lists the base offsets of the segments in `dir`, removing temporary files and index files
/// whose `.log` is gone.
fn scan_dir(dir: &Path) -> Result<Vec<i64>> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err("list log directory", dir, e))? {
        let entry = entry.map_err(|e| io_err("list log directory", dir, e))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if name.ends_with(".swap") {
            // A compaction decided this swap before stopping: finish it. The old segment's
            // files go; the indexes are rebuilt when the segment loads.
            let target = path.with_extension("");
            for suffix in [INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
                let _ = fs::remove_file(target.with_extension(suffix));
            }
            fs::rename(&path, &target).map_err(|e| io_err("complete segment swap", &target, e))?;
            if let Some(stem) = target.file_stem().and_then(|s| s.to_str())
                && let Ok(base) = stem.parse::<i64>()
            {
                logs.push(base);
            }
            continue;
        }
        if name.ends_with(".tmp") || name.ends_with(".deleted") || name.ends_with(".cleaned") {
            fs::remove_file(&path).map_err(|e| io_err("remove temporary file", &path, e))?;
            continue;
        }
        let Some((stem, suffix)) = name.split_once('.') else { continue };
        let Ok(base) = stem.parse::<i64>() else { continue };
        if stem.len() != 20 || base < 0 {
            continue;
        }
        match suffix {
            LOG_FILE_SUFFIX => logs.push(base),
            INDEX_FILE_SUFFIX | TIME_INDEX_FILE_SUFFIX | TXN_INDEX_FILE_SUFFIX => indexes.push((base, path)),
            _ => {}
        }
    }
    logs.sort_unstable();
    logs.dedup();
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            fs::remove_file(&path).map_err(|e| io_err("remove orphan index", &path, e))?;
        }
    }
    Ok(logs)
}
