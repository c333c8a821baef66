//! Log compaction (`cleanup.policy=compact`), Kafka's `LogCleaner`: keep only the latest record
//! of each key.
//!
//! A pass works on the segments wholly below both the active segment and the high watermark:
//! 1. the latest offset of every key is collected over the whole log (the active segment
//!    included, so that a key rewritten recently leaves no older copy behind);
//! 2. each cleanable segment is rewritten without the records a later one supersedes, and
//!    without tombstones (null values) once the segment is older than `delete.retention.ms`;
//!    records keep their offsets (a rewritten batch keeps its base offset, last offset delta,
//!    leader epoch, producer fields and codec), control batches and batches that cannot be
//!    decoded are kept as they are; so are transactional batches, which neither lose records
//!    nor supersede others (a transaction may yet abort; Kafka instead removes aborted
//!    records, which needs the aborted-transaction index at clean time);
//! 3. the new segment replaces the old crash-safely: it is written to `<base>.log.cleaned`,
//!    renamed to `<base>.log.swap` (the decision point), the old segment's files are deleted
//!    and the swap file renamed to `<base>.log`. On load, a `.cleaned` file is discarded and a
//!    `.swap` file completes its swap (see `Log::open`).
//!
//! Memory: one segment's batches and one entry per distinct key are held during a pass.

use std::collections::HashMap;

use bytes::Bytes;
use sluice_protocol::record_batch::{self, RecordBatch, RecordBatches};
use sluice_protocol::{Compression, RecordBatchBuilder};

/// What a compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_rewritten: usize,
    pub records_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
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
