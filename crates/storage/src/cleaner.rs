//! Log compaction (`cleanup.policy=compact`), Kafka's `LogCleaner`: keep only the latest record
//! of each key.
//!
//! A round has three phases, so that the partition's lock is held only to decide and to swap
//! (the lock discipline of the `log` module): [`Log::plan_compaction`] under a read lock takes
//! views of the segments (shared descriptors and sizes); [`CompactionPlan::clean`] reads and
//! rewrites with no lock held; [`Log::complete_compaction`] swaps the new segments in under a
//! short write lock, after checking that the log was not truncated since the plan and that each
//! segment it replaces is still the one it read (retention or another round may have removed
//! or replaced it). The cleaning phase may read while appends, reads and retention go on: the
//! bytes below a view's size do not change unless the log is truncated, which abandons the
//! round.
//!
//! A round works on the segments wholly below both the active segment and the high watermark:
//! 1. the latest offset of every key is collected over the whole log (the active segment
//!    included, so that a key rewritten recently leaves no older copy behind; records appended
//!    after the plan are not seen, which can only keep more);
//! 2. each cleanable segment is rewritten without the records a later one supersedes, and
//!    without tombstones (null values) once the segment is older than `delete.retention.ms`;
//!    records keep their offsets (a rewritten batch keeps its base offset, last offset delta,
//!    leader epoch, producer fields and codec), control batches and batches that cannot be
//!    decoded are kept as they are; so are transactional batches, which neither lose records
//!    nor supersede others (a transaction may yet abort; Kafka instead removes aborted
//!    records, which needs the aborted-transaction index at clean time);
//! 3. the new segment replaces the old crash-safely: it is written, indexed and fsynced as
//!    `<base>.log.cleaned` (indexes `<base>.index.cleaned`, `<base>.timeindex.cleaned`) with no
//!    lock held; under the lock `.log.cleaned` is renamed to `<base>.log.swap` (the decision
//!    point, made durable by an fsync of the directory), the old segment's files are renamed
//!    `*.deleted` (unlinked later, with no lock), and the new files take the live names. On load, a `.cleaned` file is discarded and a
//!    `.swap` file completes its swap (see `Log::open`).
//!
//! Memory: one segment's batches and one entry per distinct key are held during a round.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use sluice_protocol::record_batch::{self, BatchIter, RecordBatch, RecordBatches};
use sluice_protocol::{Compression, RecordBatchBuilder};

use crate::TopicPartition;
use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::segment::{self, LogSegment, SegmentReadView};

#[cfg(doc)]
use crate::log::Log;

/// How much of a segment the cleaning phase reads at a time while collecting keys.
const CLEANER_READ_CHUNK_BYTES: usize = 4 << 20;

/// What a compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_rewritten: usize,
    pub records_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Held from a round's plan to its completion (or until the round is dropped): one compaction
/// round per log at a time, so no two rounds write the same `*.cleaned` files.
#[derive(Debug)]
pub(crate) struct CleaningGuard(Arc<AtomicBool>);

impl CleaningGuard {
    /// The guard, unless a round of this log holds it.
    pub(crate) fn acquire(flag: &Arc<AtomicBool>) -> Option<Self> {
        (!flag.swap(true, Ordering::AcqRel)).then(|| CleaningGuard(flag.clone()))
    }
}

impl Drop for CleaningGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A segment a round rewrites: which one (its identity) and whether its tombstones are older
/// than `delete.retention.ms`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CleanTarget {
    pub(crate) uid: u64,
    pub(crate) drop_tombstones: bool,
}

/// What [`Log::plan_compaction`] took under the lock: everything the cleaning phase needs,
/// with no reference to the log.
#[derive(Debug)]
#[must_use = "a plan cleans nothing until cleaned and completed"]
pub struct CompactionPlan {
    pub(crate) tp: TopicPartition,
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    pub(crate) now_ms: i64,
    pub(crate) truncations: u64,
    pub(crate) log_start_offset: i64,
    /// Every segment of the log, oldest first.
    pub(crate) sources: Vec<SegmentReadView>,
    /// The segments to rewrite, oldest first; each is among `sources`.
    pub(crate) targets: Vec<CleanTarget>,
    /// Where the log counts as cleaned once the round completes.
    pub(crate) cleaned_up_to: i64,
    pub(crate) guard: CleaningGuard,
}

/// One rewritten segment, its files still under their temporary names.
#[derive(Debug)]
pub(crate) struct CleanedSegment {
    pub(crate) segment: LogSegment,
    /// The identity of the segment it replaces.
    pub(crate) replaces_uid: u64,
    pub(crate) records_removed: u64,
    pub(crate) bytes_before: u64,
}

/// The output of [`CompactionPlan::clean`], for [`Log::complete_compaction`]. Dropped without
/// completing, it removes its temporary files.
#[derive(Debug)]
#[must_use = "the cleaned segments are swapped in only by Log::complete_compaction"]
pub struct CleanedSegments {
    pub(crate) dir: PathBuf,
    pub(crate) truncations: u64,
    pub(crate) cleaned_up_to: i64,
    pub(crate) segments: Vec<CleanedSegment>,
    /// Dropped last (after `Drop::drop` removed any leftover files).
    pub(crate) _guard: CleaningGuard,
}

impl CleanedSegments {
    /// How many segments the round rewrote (and would swap in).
    pub fn segments_rewritten(&self) -> usize {
        self.segments.len()
    }
}

impl Drop for CleanedSegments {
    fn drop(&mut self) {
        for c in &self.segments {
            remove_cleaned_files(&self.dir, c.segment.base_offset());
        }
    }
}

/// Best-effort removal of a round's temporary files for `base` (the round's guard is held, so
/// no other round writes these names); a file left behind goes when the log next loads.
fn remove_cleaned_files(dir: &std::path::Path, base: i64) {
    for path in segment::cleaned_paths(dir, base) {
        if let Err(e) = segment::remove_if_exists(&path, "remove cleaned file") {
            tracing::warn!(error = %e, "cannot remove a cleaned file; it goes at the next load");
        }
    }
}

impl CompactionPlan {
    /// The cleaning phase, with no lock held: collects the latest offset of every key over
    /// the log, rewrites each target segment that loses records to new files, validated (CRC of
    /// every batch), indexed and fsynced. Errors leave no temporary file behind.
    pub fn clean(self) -> Result<CleanedSegments> {
        let mut written = Vec::new();
        match self.clean_into(&mut written) {
            Ok(()) => Ok(CleanedSegments {
                dir: self.dir,
                truncations: self.truncations,
                cleaned_up_to: self.cleaned_up_to,
                segments: written,
                _guard: self.guard,
            }),
            Err(e) => {
                // Those written, and whatever the one that failed left.
                for view in self.sources.iter().filter(|v| self.targets.iter().any(|t| t.uid == v.uid)) {
                    remove_cleaned_files(&self.dir, view.base_offset);
                }
                Err(e)
            }
        }
    }

    fn clean_into(&self, written: &mut Vec<CleanedSegment>) -> Result<()> {
        // 1. The latest offset of every key, over the whole log.
        let mut latest = HashMap::new();
        for view in &self.sources {
            view.for_each_chunk(CLEANER_READ_CHUNK_BYTES, |chunk| {
                collect_latest(&from_offset(chunk, self.log_start_offset), &mut latest);
                Ok(())
            })?;
        }
        // 2. Rewrite each target that loses records.
        for target in &self.targets {
            let view = self
                .sources
                .iter()
                .find(|v| v.uid == target.uid)
                .expect("every target segment is among the plan's sources");
            let mut bytes = BytesMut::with_capacity(view.size as usize);
            view.for_each_chunk(CLEANER_READ_CHUNK_BYTES, |chunk| {
                bytes.extend_from_slice(&from_offset(chunk, self.log_start_offset));
                Ok(())
            })?;
            let original = bytes.freeze();
            let (cleaned, removed) = clean_batches(&original, &latest, target.drop_tombstones);
            if removed == 0 {
                continue;
            }
            // Check the output both ways across the boundary: every batch whole, CRC intact.
            let mut headers = Vec::new();
            for item in BatchIter::new(&cleaned) {
                let invalid = |source| StorageError::InvalidRecord { tp: self.tp.clone(), source };
                let (_, raw) = item.map_err(invalid)?;
                headers.push(record_batch::validate(raw).map_err(invalid)?);
            }
            let base = view.base_offset;
            written.push(CleanedSegment {
                segment: LogSegment::write_cleaned(&self.dir, base, &cleaned, &headers, &self.config, self.now_ms)?,
                replaces_uid: view.uid,
                records_removed: removed,
                bytes_before: view.size,
            });
        }
        Ok(())
    }
}

/// The batches of `chunk` (whole batches, in offset order) from the first that holds an offset
/// at or above `offset`: records wholly below the log start offset are never read.
fn from_offset(chunk: Bytes, offset: i64) -> Bytes {
    let mut skip = 0;
    for (header, _) in BatchIter::new(&chunk).map_while(Result::ok) {
        if header.last_offset() >= offset {
            break;
        }
        skip += header.size();
    }
    chunk.slice(skip..)
}

/// Adds the keys of `batches` to `latest` (key -> latest offset).
pub(crate) fn collect_latest(batches: &Bytes, latest: &mut HashMap<Bytes, i64>) {
    for batch in RecordBatches::new(batches.clone()).flatten() {
        // Transactional records may yet be aborted: they never supersede another record.
        if batch.header().attributes.is_control() || batch.header().attributes.is_transactional() {
            continue;
        }
        let Ok(records) = batch.records() else { continue };
        for record in records.flatten() {
            if let Some(key) = record.key {
                let entry = latest.entry(key).or_insert(record.offset);
                *entry = (*entry).max(record.offset);
            }
        }
    }
}

/// Rewrites the batches of one segment. Returns the new bytes and how many records went.
pub(crate) fn clean_batches(batches: &Bytes, latest: &HashMap<Bytes, i64>, drop_tombstones: bool) -> (Vec<u8>, u64) {
    let mut out = Vec::with_capacity(batches.len());
    let mut removed = 0u64;
    for batch in RecordBatches::new(batches.clone()) {
        let Ok(batch) = batch else { break };
        match clean_batch(&batch, latest, drop_tombstones) {
            Kept::Whole => out.extend_from_slice(batch.as_bytes()),
            Kept::Nothing(n) => removed += n,
            Kept::Rewritten(bytes, n) => {
                out.extend_from_slice(&bytes);
                removed += n;
            }
        }
    }
    (out, removed)
}

enum Kept {
    Whole,
    Nothing(u64),
    Rewritten(Vec<u8>, u64),
}

fn clean_batch(batch: &RecordBatch, latest: &HashMap<Bytes, i64>, drop_tombstones: bool) -> Kept {
    let header = *batch.header();
    if header.attributes.is_control()
        || header.attributes.is_transactional()
        || matches!(header.attributes.compression(), Compression::Unknown(_))
    {
        return Kept::Whole;
    }
    let Ok(records) = batch.records() else { return Kept::Whole };
    let Ok(records) = records.collect::<Result<Vec<_>, _>>() else { return Kept::Whole };
    let total = records.len() as u64;
    let keep: Vec<_> = records
        .into_iter()
        .filter(|r| {
            let newest = r.key.as_ref().is_none_or(|k| latest.get(k).is_none_or(|&o| o <= r.offset));
            let expired_tombstone = drop_tombstones && r.value.is_none();
            newest && !expired_tombstone
        })
        .collect();
    let removed = total - keep.len() as u64;
    if removed == 0 {
        return Kept::Whole;
    }
    if keep.is_empty() {
        return Kept::Nothing(removed);
    }
    let mut builder = RecordBatchBuilder::new(header.base_timestamp)
        .producer(header.producer_id, header.producer_epoch, header.base_sequence)
        .attributes(header.attributes.0 & !0x07)
        .compression(header.attributes.compression())
        .last_offset_delta(header.last_offset_delta);
    for r in &keep {
        let headers: Vec<(&str, Option<&[u8]>)> =
            r.headers.iter().map(|h| (std::str::from_utf8(&h.key).unwrap_or(""), h.value.as_deref())).collect();
        let delta = i32::try_from(r.offset - header.base_offset).expect("a record's offset lies within its batch");
        builder.append_at(delta, r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers);
    }
    let mut bytes = builder.build();
    record_batch::set_base_offset(&mut bytes, header.base_offset);
    record_batch::set_partition_leader_epoch(&mut bytes, header.partition_leader_epoch);
    Kept::Rewritten(bytes, removed)
}
