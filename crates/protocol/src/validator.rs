//! The partition leader's checks of a producer's record batch, record by record, before
//! anything is written: Kafka's `LogValidator` for appends from clients.
//!
//! A batch from a client is refused unless, in this order (the first failure is the answer):
//!
//! 1. the bytes are exactly one whole v2 batch (a produce request carries one batch per
//!    partition, as Kafka requires from Produce v3);
//! 2. it holds at least one record, its last offset delta is `count - 1`, it is not a control
//!    batch (those are the transaction coordinator's), it has a base sequence if it has a
//!    producer id, and its codec is one Kafka assigns (ids 0–4);
//! 3. its records section holds exactly `count` records and nothing after them, and each record
//!    is well formed: its length and every field length inside the section and consistent with
//!    each other, varints no longer than their type, its offset delta equal to its place in the
//!    batch, and a key when the topic is compacted.
//!
//! The batch's max timestamp is then made the largest record timestamp, rewriting the CRC when
//! it changes, as Kafka's validator sets it (batches stamped with log-append time are left to the
//! timestamp-type checks, which are not made here, nor `message.timestamp.*` differences).
//!
//! The CRC-32C: the log checks it before writing (`Log::append_as_leader`), as Kafka's log does
//! before its validator runs. It is not computed here for a batch that passes: computing it twice
//! cost as much as every other check of an uncompressed batch. It is computed when a check fails,
//! so that damage in transit (CORRUPT_MESSAGE, which a client retries) is the answer rather than
//! whatever the damaged bytes seem to say, and before the max timestamp is rewritten, so that a
//! new CRC never covers damaged bytes.
//!
//! Cost: an uncompressed batch is walked in place, with no copy and no allocation; varints are
//! read and keys, values and headers stepped over. A compressed batch is decompressed through a
//! [`Decompressor`] into a 32 KiB buffer and walked the same way, so a batch that expands far
//! costs CPU up to [`RecordChecks::max_decompressed_bytes`], then an error, never memory in
//! proportion to its expansion. The buffer and the codecs' state (a zstd context, LZ4 block
//! buffers) are kept per thread: setting them up costs more than decoding a small batch. Kafka's
//! own validator reads compressed records the same way (skipping keys and values), but has no
//! bound.
//!
//! Offset deltas: Kafka accepts a compressed batch whose records are numbered wrongly and
//! rewrites (re-compresses) it; this broker never re-encodes a batch, so it refuses one instead.
//! Producers number records 0, 1, 2, … (the Java client and librdkafka do), so only a broken or
//! hostile client sees the difference.
//!
//! Which error each failure is ([`BatchError`]) and which Kafka code that becomes is the
//! broker's table; a failure of one record names its index ([`BatchError::record_index`]), which
//! a Produce response v8+ reports per record (KIP-467).

use std::cell::RefCell;

use crate::compression::{CompressionError, DecoderCache, Decompressor};
use crate::record::MAX_DECOMPRESSED_BATCH_BYTES;
use crate::record_batch::{self, BATCH_HEADER_SIZE, BatchError, BatchHeader, Compression, NO_TIMESTAMP, TimestampType};

/// How many times `max.message.bytes` a compressed batch may decompress to. Producers bound a
/// batch by its compressed size (the Java client) or its uncompressed size (librdkafka); text
/// compresses 5–20 times, so 64 leaves room for the very repetitive while bounding a zip bomb.
pub const MAX_DECOMPRESSION_RATIO: usize = 64;
/// The decompression bound never goes below this, however small `max.message.bytes` is set.
pub const MIN_DECOMPRESSED_BATCH_BYTES: usize = 1024 * 1024;
/// Bytes decompressed per step while walking a compressed batch.
const CHUNK_BYTES: usize = 32 * 1024;

/// What the checks depend on: the topic's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordChecks {
    /// The topic is compacted (`cleanup.policy` includes `compact`): every record needs a key,
    /// since compaction keeps the latest record per key.
    pub compacted: bool,
    /// The most bytes a compressed batch's records may decompress to.
    pub max_decompressed_bytes: usize,
    /// For a topic with `message.timestamp.type=CreateTime`: how far record timestamps may
    /// stray from the leader's clock.
    pub timestamps: Option<TimestampBounds>,
}

/// `message.timestamp.before.max.ms` / `after.max.ms` against the leader's clock: a record's
/// timestamp must lie in `[now_ms - before_max_ms, now_ms + after_max_ms]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampBounds {
    pub now_ms: i64,
    pub before_max_ms: i64,
    pub after_max_ms: i64,
}

impl TimestampBounds {
    /// Why `timestamp` is refused, if it is.
    fn refuses(&self, timestamp: i64) -> Option<String> {
        let earliest = self.now_ms.saturating_sub(self.before_max_ms);
        let latest = self.now_ms.saturating_add(self.after_max_ms);
        (timestamp < earliest || timestamp > latest).then(|| {
            format!("timestamp {timestamp} is out of range: the broker accepts timestamps from {earliest} to {latest}")
        })
    }
}

impl RecordChecks {
    /// The checks for a topic with these settings: the decompression bound is
    /// [`MAX_DECOMPRESSION_RATIO`] times `max.message.bytes`, between
    /// [`MIN_DECOMPRESSED_BATCH_BYTES`] and [`MAX_DECOMPRESSED_BATCH_BYTES`] (past which this
    /// crate's own readers, compaction among them, would refuse the batch).
    pub fn for_topic(compacted: bool, max_message_bytes: usize) -> Self {
        let max_decompressed_bytes = max_message_bytes
            .saturating_mul(MAX_DECOMPRESSION_RATIO)
            .clamp(MIN_DECOMPRESSED_BATCH_BYTES, MAX_DECOMPRESSED_BATCH_BYTES);
        RecordChecks { compacted, max_decompressed_bytes, timestamps: None }
    }
}

/// Checks `records`, a producer's bytes for one partition, as described in the module
/// documentation, and returns the batch's header (with its max timestamp as rewritten). A batch
/// that passes still has its CRC checked by the log before it is written. Nothing but the max
/// timestamp and the CRC is ever changed, and only on success.
pub fn validate_produced_batch(records: &mut [u8], checks: &RecordChecks) -> Result<BatchHeader, BatchError> {
    let checked = check_produced_batch(records, checks)?;
    if let Some(max_timestamp) = checked.max_timestamp_fix {
        record_batch::set_max_timestamp(records, max_timestamp);
    }
    Ok(checked.header)
}

/// A producer's batch that passed [`check_produced_batch`].
#[derive(Debug, Clone, Copy)]
pub struct CheckedBatch {
    /// Its header, with the max timestamp its records hold.
    pub header: BatchHeader,
    /// The max timestamp of a `CreateTime` batch whose header states another: the batch must be
    /// rewritten with it (and a new CRC) before it is appended.
    pub max_timestamp_fix: Option<i64>,
}

/// [`validate_produced_batch`] without changing `records`: what it would rewrite is returned.
pub fn check_produced_batch(records: &[u8], checks: &RecordChecks) -> Result<CheckedBatch, BatchError> {
    let mut header = BatchHeader::parse(records)?;
    if header.size() < records.len() {
        return Err(BatchError::InvalidBatch {
            position: header.size(),
            reason: "a produce request carries exactly one record batch per partition",
        });
    }
    if header.size() > records.len() {
        return Err(BatchError::Truncated { position: 0, needed: header.size(), available: records.len() });
    }
    let max_timestamp = match check_batch_rules(&header).and_then(|()| check_records(records, &header, checks)) {
        Ok(max_timestamp) => max_timestamp,
        Err(e) => {
            check_crc(records, &header)?;
            return Err(e);
        }
    };
    assert_eq!(header.size(), records.len(), "a batch that passed is exactly the buffer");
    let mut max_timestamp_fix = None;
    if header.attributes.timestamp_type() == TimestampType::CreateTime && header.max_timestamp != max_timestamp {
        check_crc(records, &header)?;
        max_timestamp_fix = Some(max_timestamp);
        header.max_timestamp = max_timestamp;
    }
    Ok(CheckedBatch { header, max_timestamp_fix })
}

fn check_crc(batch: &[u8], header: &BatchHeader) -> Result<(), BatchError> {
    let computed = record_batch::compute_crc(batch);
    if computed == header.crc {
        Ok(())
    } else {
        Err(BatchError::CrcMismatch { position: 0, stored: header.crc, computed })
    }
}

/// Kafka's batch-level rules for a client's batch (step 2).
fn check_batch_rules(header: &BatchHeader) -> Result<(), BatchError> {
    let invalid = |reason| Err(BatchError::InvalidBatch { position: 0, reason });
    if header.records_count <= 0 {
        return invalid("a produced batch must hold records");
    }
    // `parse` allows a delta past count - 1 (compaction leaves gaps); a producer's batch has none.
    // (A gap would also let one batch claim up to 2^31 offsets.)
    if header.last_offset_delta != header.records_count - 1 {
        return Err(BatchError::InvalidOffsetDelta {
            position: 0,
            delta: header.last_offset_delta,
            count: header.records_count,
        });
    }
    if header.attributes.is_control() {
        return invalid("clients may not write control batches");
    }
    if header.producer_id >= 0 && header.base_sequence < 0 {
        return invalid("a batch with a producer id must have a base sequence");
    }
    if let Compression::Unknown(_) = header.attributes.compression() {
        return Err(BatchError::CompressedRecords { position: 0, compression: header.attributes.compression() });
    }
    Ok(())
}

/// What validating a compressed batch reuses from one batch to the next.
#[derive(Debug, Default)]
struct Scratch {
    /// The buffer the records are decompressed into, a chunk at a time.
    chunk: Vec<u8>,
    /// Codec state (a zstd context, an LZ4 decoder's buffers): creating it costs more than
    /// decoding a small batch.
    decoders: DecoderCache,
}

thread_local! {
    /// One per thread, so that validating a compressed batch allocates nothing of its own once
    /// the thread has validated one of its codec.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Walks the records of a whole, CRC-checked batch (step 3); returns the largest record
/// timestamp.
fn check_records(batch: &[u8], header: &BatchHeader, checks: &RecordChecks) -> Result<i64, BatchError> {
    let section = &batch[BATCH_HEADER_SIZE..];
    let compression = header.attributes.compression();
    if compression == Compression::None {
        return walk(&mut InPlace { bytes: section, position: 0 }, header, checks);
    }
    SCRATCH.with(|scratch| {
        // A re-entrant use on this thread (there is none today) gets scratch of its own.
        let mut own = Scratch::default();
        let mut borrowed = scratch.try_borrow_mut();
        let Scratch { chunk, decoders } = match borrowed.as_deref_mut() {
            Ok(scratch) => scratch,
            Err(_) => &mut own,
        };
        if compression == Compression::Zstd
            && let Some(output) = decoders.zstd_one_shot(section, checks.max_decompressed_bytes)
        {
            let records = output.map_err(|e| compression_error(compression, e))?;
            return walk(&mut InPlace { bytes: records, position: 0 }, header, checks);
        }
        chunk.resize(CHUNK_BYTES, 0);
        let decompressor = Decompressor::with_cache(compression, section, checks.max_decompressed_bytes, decoders)
            .map_err(|e| compression_error(compression, e))?;
        let mut source = Streamed { decompressor, chunk, start: 0, end: 0, compression };
        walk(&mut source, header, checks)
    })
}

fn compression_error(compression: Compression, e: CompressionError) -> BatchError {
    match e {
        CompressionError::TooLarge { limit, .. } => BatchError::DecompressedTooLarge { position: 0, limit },
        CompressionError::UnknownCodec(_) => BatchError::CompressedRecords { position: 0, compression },
        other => BatchError::CorruptCompressedRecords { position: 0, compression, reason: other.to_string() },
    }
}

/// The bytes of a records section, front to back.
trait Source {
    /// The next byte; `None` at the end of the section.
    fn next_byte(&mut self) -> Result<Option<u8>, BatchError>;
    /// Steps over `n` bytes; `false` when the section ends first.
    fn skip(&mut self, n: usize) -> Result<bool, BatchError>;
}

/// An uncompressed section, read where it lies.
struct InPlace<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Source for InPlace<'_> {
    #[inline]
    fn next_byte(&mut self) -> Result<Option<u8>, BatchError> {
        let byte = self.bytes.get(self.position).copied();
        if byte.is_some() {
            self.position += 1;
        }
        Ok(byte)
    }

    #[inline]
    fn skip(&mut self, n: usize) -> Result<bool, BatchError> {
        let fits = n <= self.bytes.len() - self.position;
        self.position = if fits { self.position + n } else { self.bytes.len() };
        Ok(fits)
    }
}

/// A compressed section, decompressed a chunk at a time.
struct Streamed<'a, 'b> {
    decompressor: Decompressor<'a>,
    chunk: &'b mut [u8],
    start: usize,
    end: usize,
    compression: Compression,
}

impl Streamed<'_, '_> {
    /// Refills the chunk; `false` at the end of the stream.
    fn refill(&mut self) -> Result<bool, BatchError> {
        let n = self.decompressor.read(self.chunk).map_err(|e| compression_error(self.compression, e))?;
        self.start = 0;
        self.end = n;
        Ok(n > 0)
    }
}

impl Source for Streamed<'_, '_> {
    fn next_byte(&mut self) -> Result<Option<u8>, BatchError> {
        if self.start == self.end && !self.refill()? {
            return Ok(None);
        }
        let byte = self.chunk[self.start];
        self.start += 1;
        Ok(Some(byte))
    }

    fn skip(&mut self, mut n: usize) -> Result<bool, BatchError> {
        while n > 0 {
            if self.start == self.end && !self.refill()? {
                return Ok(false);
            }
            let step = n.min(self.end - self.start);
            self.start += step;
            n -= step;
        }
        Ok(true)
    }
}

/// Walks `header.records_count` records and checks that nothing follows them. A record that
/// breaks the format stops the walk; records that only break a rule of the topic (a key, a
/// timestamp) are all collected, as Kafka reports each of them.
fn walk<S: Source>(source: &mut S, header: &BatchHeader, checks: &RecordChecks) -> Result<i64, BatchError> {
    let declared = header.records_count;
    let mut max_timestamp = NO_TIMESTAMP;
    let mut refused: Vec<(i32, String)> = Vec::new();
    let mut invalid_timestamp = false;
    for index in 0..declared {
        let Some(first) = source.next_byte()? else {
            return Err(BatchError::TooFewRecords { position: 0, declared, found: index });
        };
        let (timestamp_delta, has_key) = check_record(source, first, index)?;
        let timestamp = header.base_timestamp.wrapping_add(timestamp_delta);
        max_timestamp = max_timestamp.max(timestamp);
        if checks.compacted && !has_key {
            refused.push((index, MISSING_KEY.to_string()));
        } else if let Some(reason) = checks.timestamps.and_then(|b| b.refuses(timestamp)) {
            invalid_timestamp = true;
            refused.push((index, reason));
        }
    }
    if source.next_byte()?.is_some() {
        return Err(BatchError::InvalidBatch { position: 0, reason: "bytes remain after its last declared record" });
    }
    if !refused.is_empty() {
        return Err(BatchError::RecordsRefused { position: 0, invalid_timestamp, records: refused });
    }
    Ok(max_timestamp)
}

/// Reasons a record is refused (reported with its index).
const PAST_END: &str = "the record runs past the end of the batch's records";
const PAST_LENGTH: &str = "the record's fields run past its length";
const VARINT_TOO_LONG: &str = "a varint is longer than its type allows";
const NEGATIVE_LENGTH: &str = "the record length is negative";
const WRONG_OFFSET_DELTA: &str =
    "the offset delta is not the record's place in the batch (inner offsets must be 0, 1, 2, ...)";
const BAD_KEY_LENGTH: &str = "the key length is below -1";
const MISSING_KEY: &str = "a compacted topic accepts only records with a key";
const BAD_VALUE_LENGTH: &str = "the value length is below -1";
const BAD_HEADER_COUNT: &str = "the header count is negative or more than the record can hold";
const BAD_HEADER_KEY_LENGTH: &str = "a header key length is negative";
const BAD_HEADER_VALUE_LENGTH: &str = "a header value length is below -1";
const LENGTH_MISMATCH: &str = "the record length disagrees with its fields";

/// Reads one record whose length varint starts with `first`; returns its timestamp delta and
/// whether it has a key.
fn check_record<S: Source>(source: &mut S, first: u8, index: i32) -> Result<(i64, bool), BatchError> {
    let invalid = |reason| BatchError::InvalidRecord { position: 0, index, reason };
    // The length varint, read outside any record bound.
    let mut raw = u64::from(first & 0x7f);
    let mut byte = first;
    let mut shift = 7;
    while byte & 0x80 != 0 {
        if shift >= 35 {
            return Err(invalid(VARINT_TOO_LONG));
        }
        byte = source.next_byte()?.ok_or_else(|| invalid(PAST_END))?;
        raw |= u64::from(byte & 0x7f) << shift;
        shift += 7;
    }
    let length = zigzag32(raw).ok_or_else(|| invalid(VARINT_TOO_LONG))?;
    if length < 0 {
        return Err(invalid(NEGATIVE_LENGTH));
    }
    let mut r = RecordReader { source, left: length as usize, index };
    r.byte()?; // attributes: unused by Kafka, and not checked by it
    let timestamp_delta = r.varlong()?;
    if r.varint()? != index {
        return Err(invalid(WRONG_OFFSET_DELTA));
    }
    let has_key = match r.varint()? {
        -1 => false,
        n if n >= 0 => {
            r.skip(n as usize)?;
            true
        }
        _ => return Err(invalid(BAD_KEY_LENGTH)),
    };
    match r.varint()? {
        -1 => {}
        n if n >= 0 => r.skip(n as usize)?,
        _ => return Err(invalid(BAD_VALUE_LENGTH)),
    }
    let headers = r.varint()?;
    // Each header takes at least two bytes (its two lengths).
    if headers < 0 || headers as usize > r.left / 2 {
        return Err(invalid(BAD_HEADER_COUNT));
    }
    for _ in 0..headers {
        match r.varint()? {
            n if n >= 0 => r.skip(n as usize)?,
            _ => return Err(invalid(BAD_HEADER_KEY_LENGTH)),
        }
        match r.varint()? {
            -1 => {}
            n if n >= 0 => r.skip(n as usize)?,
            _ => return Err(invalid(BAD_HEADER_VALUE_LENGTH)),
        }
    }
    if r.left != 0 {
        return Err(invalid(LENGTH_MISMATCH));
    }
    Ok((timestamp_delta, has_key))
}

fn zigzag32(raw: u64) -> Option<i32> {
    let raw = u32::try_from(raw).ok()?;
    Some(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// The fields of one record, read within its declared length.
struct RecordReader<'s, S> {
    source: &'s mut S,
    left: usize,
    index: i32,
}

impl<S: Source> RecordReader<'_, S> {
    fn invalid(&self, reason: &'static str) -> BatchError {
        BatchError::InvalidRecord { position: 0, index: self.index, reason }
    }

    #[inline]
    fn byte(&mut self) -> Result<u8, BatchError> {
        if self.left == 0 {
            return Err(self.invalid(PAST_LENGTH));
        }
        self.left -= 1;
        self.source.next_byte()?.ok_or_else(|| self.invalid(PAST_END))
    }

    #[inline]
    fn unsigned(&mut self, max_len: u32) -> Result<u64, BatchError> {
        let mut value = 0u64;
        for i in 0..max_len {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.invalid(VARINT_TOO_LONG))
    }

    fn varint(&mut self) -> Result<i32, BatchError> {
        let raw = self.unsigned(5)?;
        zigzag32(raw).ok_or_else(|| self.invalid(VARINT_TOO_LONG))
    }

    fn varlong(&mut self) -> Result<i64, BatchError> {
        let raw = self.unsigned(10)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    fn skip(&mut self, n: usize) -> Result<(), BatchError> {
        if n > self.left {
            return Err(self.invalid(PAST_LENGTH));
        }
        self.left -= n;
        if self.source.skip(n)? { Ok(()) } else { Err(self.invalid(PAST_END)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression;
    use crate::record::RecordBatchBuilder;
    use crate::record_batch::Attributes;
    use crate::varint::{write_varint, write_varlong};
    use proptest::prelude::*;

    const CODECS: [Compression; 5] =
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];
    const BASE_TS: i64 = 1_700_000_000_000;

    fn checks() -> RecordChecks {
        RecordChecks::for_topic(false, 1024 * 1024)
    }

    fn good(codec: Compression, n: usize) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(BASE_TS).compression(codec);
        for i in 0..n {
            let key = format!("key-{i}");
            let value = format!("value {i} ").repeat(i % 5 + 1);
            let key = if i % 4 == 3 { None } else { Some(key.as_bytes()) };
            b.append(BASE_TS + i as i64, key, Some(value.as_bytes()), &[("h", Some(b"v")), ("n", None)]);
        }
        b.build()
    }

    /// One encoded record with explicit fields, as a producer might (mis)write it.
    fn record(offset_delta: i32, key: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
        let mut body = vec![0u8];
        write_varlong(&mut body, 0);
        write_varint(&mut body, offset_delta);
        match key {
            Some(k) => {
                write_varint(&mut body, k.len() as i32);
                body.extend_from_slice(k);
            }
            None => write_varint(&mut body, -1),
        }
        write_varint(&mut body, value.len() as i32);
        body.extend_from_slice(value);
        write_varint(&mut body, 0);
        let mut out = Vec::new();
        write_varint(&mut out, body.len() as i32);
        out.extend_from_slice(&body);
        out
    }

    /// A batch with `section` as its records (compressed with `codec`), `count` declared
    /// records, last offset delta `count - 1`, and a right length and CRC: only the records lie.
    fn batch_with_section(codec: Compression, count: i32, section: &[u8]) -> Vec<u8> {
        let payload = if codec == Compression::None {
            section.to_vec()
        } else {
            compression::compress(codec, section).expect("compress")
        };
        with_payload(codec_id(codec), count, &payload)
    }

    fn codec_id(codec: Compression) -> u8 {
        compression::codec_id(codec)
    }

    fn with_payload(codec_id: u8, count: i32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = RecordBatchBuilder::new(BASE_TS).build();
        bytes.extend_from_slice(payload);
        let len = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&len.to_be_bytes());
        bytes[21..23].copy_from_slice(&i16::from(codec_id).to_be_bytes());
        bytes[23..27].copy_from_slice(&(count - 1).max(0).to_be_bytes());
        bytes[57..61].copy_from_slice(&count.to_be_bytes());
        record_batch::write_crc(&mut bytes);
        bytes
    }

    fn check(mut bytes: Vec<u8>) -> Result<BatchHeader, BatchError> {
        validate_produced_batch(&mut bytes, &checks())
    }

    #[test]
    fn valid_batches_of_every_codec_are_accepted() {
        for codec in CODECS {
            for n in [1, 2, 50] {
                let bytes = good(codec, n);
                let header = check(bytes.clone()).unwrap_or_else(|e| panic!("{codec:?} x{n}: {e}"));
                assert_eq!(header.records_count, n as i32);
                // Nothing to rewrite in a well-made batch.
                let mut copy = bytes.clone();
                validate_produced_batch(&mut copy, &checks()).expect("valid");
                assert_eq!(copy, bytes, "{codec:?}: a valid batch is not changed");
            }
        }
    }

    /// zstd frames that declare their size are decoded in one call; those that do not (a
    /// streaming writer's), or several frames, are read through the streaming decoder: both
    /// pass when valid and fail when they lie.
    #[test]
    fn zstd_batches_with_and_without_a_declared_size() {
        let section = [record(0, Some(b"a"), b"1"), record(1, Some(b"b"), b"2")].concat();
        let streamed = |section: &[u8]| {
            let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).expect("encoder");
            std::io::Write::write_all(&mut encoder, section).expect("writes");
            encoder.finish().expect("finishes")
        };
        let declared = compression::compress(Compression::Zstd, &section).expect("compresses");
        let undeclared = streamed(&section);
        assert_ne!(declared, undeclared);
        let two_frames = [streamed(&section[..5]), streamed(&section[5..])].concat();
        for payload in [&declared, &undeclared, &two_frames] {
            assert!(check(with_payload(4, 2, payload)).is_ok());
            assert_eq!(
                check(with_payload(4, 3, payload)),
                Err(BatchError::TooFewRecords { position: 0, declared: 3, found: 2 })
            );
            let cut = &payload[..payload.len() - 2];
            assert!(matches!(check(with_payload(4, 2, cut)), Err(BatchError::CorruptCompressedRecords { .. })));
        }
    }

    #[test]
    fn garbage_compressed_records_are_corrupt() {
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let bytes = with_payload(codec_id(codec), 3, &b"\xde\xad\xbe\xef".repeat(16));
            assert!(
                matches!(check(bytes), Err(BatchError::CorruptCompressedRecords { compression, .. }) if compression == codec),
                "{codec:?}"
            );
            // A valid stream cut short is corrupt too.
            let whole = good(codec, 20);
            let cut = with_payload(codec_id(codec), 20, &whole[BATCH_HEADER_SIZE..whole.len() - 3]);
            let result = check(cut);
            assert!(
                matches!(
                    result,
                    Err(BatchError::CorruptCompressedRecords { .. }
                        | BatchError::TooFewRecords { .. }
                        | BatchError::InvalidRecord { .. })
                ),
                "{codec:?}: {result:?}"
            );
        }
    }

    #[test]
    fn unassigned_codecs_are_refused() {
        for id in [5u8, 6, 7] {
            let section = record(0, Some(b"k"), b"v");
            let bytes = with_payload(id, 1, &section);
            assert_eq!(
                check(bytes),
                Err(BatchError::CompressedRecords { position: 0, compression: Compression::Unknown(id) }),
                "codec {id}"
            );
        }
    }

    #[test]
    fn a_count_that_claims_more_records_than_present_is_refused() {
        for codec in CODECS {
            let section = [record(0, Some(b"a"), b"1"), record(1, Some(b"b"), b"2")].concat();
            let bytes = batch_with_section(codec, 3, &section);
            assert_eq!(
                check(bytes),
                Err(BatchError::TooFewRecords { position: 0, declared: 3, found: 2 }),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn a_count_that_claims_fewer_records_than_present_is_refused() {
        for codec in CODECS {
            let section = [record(0, Some(b"a"), b"1"), record(1, Some(b"b"), b"2")].concat();
            let bytes = batch_with_section(codec, 1, &section);
            assert!(matches!(check(bytes), Err(BatchError::InvalidBatch { .. })), "{codec:?}");
        }
    }

    #[test]
    fn a_million_empty_records_claimed_over_nothing_is_refused_at_once() {
        for codec in CODECS {
            let section = if codec == Compression::None { Vec::new() } else { record(0, None, b"") };
            let bytes = batch_with_section(codec, 1_000_000, &section);
            let found = if codec == Compression::None { 0 } else { 1 };
            assert_eq!(
                check(bytes),
                Err(BatchError::TooFewRecords { position: 0, declared: 1_000_000, found }),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn record_length_lies_are_refused_with_the_record_index() {
        let first = record(0, Some(b"a"), b"one");
        for codec in CODECS {
            // The second record's length one more than its fields hold, and one less.
            for delta in [1i32, -1] {
                let mut second = record(1, Some(b"b"), b"two");
                let len = (second.len() - 1) as i32 + delta;
                let mut head = Vec::new();
                write_varint(&mut head, len);
                second.splice(..1, head);
                let bytes = batch_with_section(codec, 2, &[first.clone(), second].concat());
                let err = check(bytes).expect_err("a lying length");
                assert_eq!(err.record_index(), Some(1), "{codec:?} {delta}: {err}");
            }
            // A key length past the end of the record.
            let mut lying = record(0, Some(b"k"), b"v");
            let key_len_at = lying.len() - 5; // [len][attrs][ts][od][klen][k][vlen][v][hc]
            lying[key_len_at] = 40; // zig-zag 20
            let bytes = batch_with_section(codec, 1, &lying);
            assert_eq!(check(bytes).expect_err("key past the record").record_index(), Some(0), "{codec:?}");
            // A negative record length.
            let bytes = batch_with_section(codec, 1, &[0x01]);
            assert!(matches!(check(bytes), Err(BatchError::InvalidRecord { index: 0, reason: NEGATIVE_LENGTH, .. })));
            // An overlong varint.
            let bytes = batch_with_section(codec, 1, &[0xff; 8]);
            assert!(matches!(check(bytes), Err(BatchError::InvalidRecord { index: 0, .. })));
        }
    }

    #[test]
    fn wrong_offset_deltas_are_refused() {
        for codec in CODECS {
            for deltas in [[0, 0, 2], [0, 2, 1], [1, 2, 3]] {
                let section: Vec<u8> = deltas.iter().flat_map(|&d| record(d, Some(b"k"), b"v")).collect();
                let bytes = batch_with_section(codec, 3, &section);
                let err = check(bytes).expect_err("wrong inner offsets");
                assert!(matches!(err, BatchError::InvalidRecord { reason: WRONG_OFFSET_DELTA, .. }), "{err}");
                let index = deltas.iter().enumerate().position(|(i, &d)| d != i as i32).expect("one is wrong");
                assert_eq!(err.record_index(), Some(index as i32), "{codec:?} {deltas:?}");
            }
        }
        // And the header's delta must match the count.
        let mut bytes = good(Compression::None, 3);
        bytes[23..27].copy_from_slice(&5i32.to_be_bytes());
        record_batch::write_crc(&mut bytes);
        assert!(matches!(check(bytes), Err(BatchError::InvalidOffsetDelta { delta: 5, count: 3, .. })));
    }

    #[test]
    fn keyless_records_are_refused_only_on_compacted_topics() {
        let compacted = RecordChecks::for_topic(true, 1024 * 1024);
        for codec in CODECS {
            let section = [record(0, Some(b"a"), b"1"), record(1, None, b"2"), record(2, Some(b""), b"3")].concat();
            let bytes = batch_with_section(codec, 3, &section);
            assert!(check(bytes.clone()).is_ok(), "{codec:?}: keys are optional elsewhere");
            let err = validate_produced_batch(&mut bytes.clone(), &compacted).expect_err("keyless");
            assert_eq!(
                err,
                BatchError::RecordsRefused {
                    position: 0,
                    invalid_timestamp: false,
                    records: vec![(1, MISSING_KEY.to_string())]
                },
                "{codec:?}"
            );
            // An empty key is a key.
            let section = [record(0, Some(b""), b"1")].concat();
            assert!(validate_produced_batch(&mut batch_with_section(codec, 1, &section), &compacted).is_ok());
        }
    }

    #[test]
    fn batch_rules_for_clients() {
        // More than one batch.
        let mut two = good(Compression::None, 1);
        two.extend_from_slice(&good(Compression::None, 1));
        assert!(matches!(check(two), Err(BatchError::InvalidBatch { .. })));
        // No records.
        assert!(matches!(check(RecordBatchBuilder::new(0).build()), Err(BatchError::InvalidBatch { .. })));
        // A control batch.
        let marker = crate::control::marker_batch(
            7,
            0,
            crate::control::EndTxnMarker { control_type: crate::control::ControlType::Commit, coordinator_epoch: 0 },
            0,
        );
        assert!(matches!(check(marker), Err(BatchError::InvalidBatch { .. })));
        // A producer id without a sequence.
        let mut b = RecordBatchBuilder::new(0).producer(7, 0, -1);
        b.append(0, None, Some(b"v"), &[]);
        assert!(matches!(check(b.build()), Err(BatchError::InvalidBatch { .. })));
        let mut b = RecordBatchBuilder::new(0).producer(7, 0, 0);
        b.append(0, None, Some(b"v"), &[]);
        assert!(check(b.build()).is_ok());
        // Damage in transit: when it breaks a check, the answer is the CRC's, not the check's;
        // when it does not (a flipped bit in a value), the batch passes here and the log's CRC
        // check refuses it.
        for codec in CODECS {
            let mut bytes = good(codec, 3);
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            assert!(matches!(check(bytes), Err(BatchError::CrcMismatch { .. })), "{codec:?}");
        }
        let mut b = RecordBatchBuilder::new(0);
        b.append(0, None, Some(b"value"), &[]);
        let mut bytes = b.build();
        let in_value = bytes.len() - 3;
        bytes[in_value] ^= 1;
        assert!(check(bytes.clone()).is_ok());
        assert!(matches!(record_batch::validate(&bytes), Err(BatchError::CrcMismatch { .. })));
        // Nor is a damaged batch given a new CRC with a new max timestamp.
        bytes[35..43].copy_from_slice(&99i64.to_be_bytes());
        assert!(matches!(check(bytes), Err(BatchError::CrcMismatch { .. })));
        // Magic 1.
        let mut bytes = good(Compression::None, 1);
        bytes[16] = 1;
        assert!(matches!(check(bytes), Err(BatchError::UnsupportedMagic { magic: 1, .. })));
    }

    #[test]
    fn a_zip_bomb_stops_at_the_bound() {
        // 8 MiB of zeros in one record: a few KiB compressed.
        let zeros = vec![0u8; 8 << 20];
        let small = RecordChecks { compacted: false, max_decompressed_bytes: 1 << 20, timestamps: None };
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let mut b = RecordBatchBuilder::new(0).compression(codec);
            b.append(0, None, Some(&zeros), &[]);
            let mut bytes = b.build();
            assert!(bytes.len() < 1 << 20, "{codec:?} {}", bytes.len());
            assert_eq!(
                validate_produced_batch(&mut bytes.clone(), &small),
                Err(BatchError::DecompressedTooLarge { position: 0, limit: 1 << 20 }),
                "{codec:?}"
            );
            let roomy = RecordChecks { compacted: false, max_decompressed_bytes: 9 << 20, timestamps: None };
            assert!(validate_produced_batch(&mut bytes, &roomy).is_ok(), "{codec:?}");
        }
        assert_eq!(RecordChecks::for_topic(false, 1_048_588).max_decompressed_bytes, 1_048_588 * 64);
        assert_eq!(RecordChecks::for_topic(false, 100).max_decompressed_bytes, MIN_DECOMPRESSED_BATCH_BYTES);
        assert_eq!(RecordChecks::for_topic(false, usize::MAX).max_decompressed_bytes, MAX_DECOMPRESSED_BATCH_BYTES);
    }

    #[test]
    fn a_wrong_max_timestamp_is_rewritten_with_the_crc() {
        for codec in CODECS {
            let mut bytes = good(codec, 5);
            let want = BASE_TS + 4;
            bytes[35..43].copy_from_slice(&(BASE_TS + 1000).to_be_bytes());
            record_batch::write_crc(&mut bytes);
            let header = validate_produced_batch(&mut bytes, &checks()).expect("valid");
            assert_eq!(header.max_timestamp, want);
            let reread = record_batch::validate(&bytes).expect("CRC rewritten");
            assert_eq!(reread.max_timestamp, want, "{codec:?}");
        }
        // A batch stamped with log-append time is left alone here.
        let mut b = RecordBatchBuilder::new(BASE_TS).attributes(Attributes::TIMESTAMP_TYPE);
        b.append(BASE_TS, None, Some(b"v"), &[]);
        let mut bytes = b.build();
        bytes[35..43].copy_from_slice(&42i64.to_be_bytes());
        record_batch::write_crc(&mut bytes);
        assert_eq!(validate_produced_batch(&mut bytes, &checks()).expect("valid").max_timestamp, 42);
    }

    proptest! {
        /// Whatever follows a valid header (any codec, any count), the validator answers without
        /// panicking, and never accepts what the record decoder cannot read.
        #[test]
        fn arbitrary_records_never_panic_and_never_pass_unreadable(
            tail in proptest::collection::vec(any::<u8>(), 0..300),
            codec in 0u8..8,
            count in 0i32..20,
        ) {
            let mut bytes = with_payload(codec, count, &tail);
            if validate_produced_batch(&mut bytes, &checks()).is_ok() {
                let batch = crate::RecordBatch::new(bytes::Bytes::from(bytes)).expect("structure");
                let records: Result<Vec<_>, _> = batch.records().expect("decodes").collect();
                prop_assert_eq!(records.expect("every record reads").len(), count as usize);
            }
        }

        /// Built batches, with any keys, values and headers, pass.
        #[test]
        fn built_batches_pass(
            values in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..100)), 1..30),
            codec in 0usize..5,
        ) {
            let mut b = RecordBatchBuilder::new(BASE_TS).compression(CODECS[codec]);
            for (i, v) in values.iter().enumerate() {
                b.append(BASE_TS - 5 + i as i64, Some(b"k"), v.as_deref(), &[("a", v.as_deref())]);
            }
            prop_assert!(check(b.build()).is_ok());
        }
    }
}
