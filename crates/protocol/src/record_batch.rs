//! Kafka record batches, format v2 (magic 2), as zero-copy views over the bytes that carry them.
//!
//! A batch is the unit the broker stores and serves: it arrives from a producer inside a Produce
//! request, is written to a log segment as is, and leaves in a Fetch response as is. The broker
//! reads only the fixed 61-byte header and rewrites only the two fields that lie outside the CRC
//! (base offset and partition leader epoch), so a batch is never re-encoded on the hot path.
//!
//! Layout, big-endian (Kafka's `DefaultRecordBatch`):
//!
//! | position | size | field                  | covered by CRC |
//! |---------:|-----:|------------------------|----------------|
//! | 0        | 8    | base offset            | no             |
//! | 8        | 4    | batch length (bytes after this field) | no |
//! | 12       | 4    | partition leader epoch | no             |
//! | 16       | 1    | magic (= 2)            | no             |
//! | 17       | 4    | CRC-32C of bytes 21..end | —            |
//! | 21       | 2    | attributes             | yes            |
//! | 23       | 4    | last offset delta      | yes            |
//! | 27       | 8    | base (first) timestamp | yes            |
//! | 35       | 8    | max timestamp          | yes            |
//! | 43       | 8    | producer id            | yes            |
//! | 51       | 2    | producer epoch         | yes            |
//! | 53       | 4    | base sequence          | yes            |
//! | 57       | 4    | record count           | yes            |
//! | 61       | …    | records                | yes            |
//!
//! The CRC is CRC-32C (Castagnoli), computed with the `crc32c` crate, which uses the CPU's CRC
//! instructions; it is not the IEEE CRC-32 of the v0/v1 message formats.

use bytes::Bytes;
use thiserror::Error;

/// Size of the fixed batch header; records start here.
pub const BATCH_HEADER_SIZE: usize = 61;
/// Bytes before the batch length field's coverage starts: base offset (8) + batch length (4).
pub const LOG_OVERHEAD: usize = 12;
/// The only record format this crate reads or writes.
pub const MAGIC_V2: i8 = 2;
/// The smallest legal value of the batch length field: a header with no records.
pub const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_SIZE - LOG_OVERHEAD) as i32;
/// Producer id, epoch and sequence of a batch written without the idempotent producer.
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_SEQUENCE: i32 = -1;
/// Partition leader epoch of a batch not yet stamped by a partition leader.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// Timestamp of a batch (or record) that carries none.
pub const NO_TIMESTAMP: i64 = -1;

const BASE_OFFSET_POS: usize = 0;
const LENGTH_POS: usize = 8;
const PARTITION_LEADER_EPOCH_POS: usize = 12;
const MAGIC_POS: usize = 16;
const CRC_POS: usize = 17;
const ATTRIBUTES_POS: usize = 21;
const LAST_OFFSET_DELTA_POS: usize = 23;
const BASE_TIMESTAMP_POS: usize = 27;
const MAX_TIMESTAMP_POS: usize = 35;
const PRODUCER_ID_POS: usize = 43;
const PRODUCER_EPOCH_POS: usize = 51;
const BASE_SEQUENCE_POS: usize = 53;
const RECORDS_COUNT_POS: usize = 57;
const _: () = assert!(RECORDS_COUNT_POS + 4 == BATCH_HEADER_SIZE);
const _: () = assert!(CRC_POS + 4 == ATTRIBUTES_POS);

/// Why bytes are not a valid v2 batch. `position` is where the batch starts in the buffer
/// being read, so a message can point at the damage.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    #[error("truncated record batch at byte {position}: needs {needed} bytes, {available} remain")]
    Truncated { position: usize, needed: usize, available: usize },
    #[error("record batch at byte {position} has unsupported magic {magic} (only 2 is supported)")]
    UnsupportedMagic { position: usize, magic: i8 },
    #[error("record batch at byte {position} has invalid length {length}")]
    InvalidLength { position: usize, length: i32 },
    #[error("record batch at byte {position} has invalid last offset delta {delta} for {count} records")]
    InvalidOffsetDelta { position: usize, delta: i32, count: i32 },
    #[error("record batch at byte {position} fails its CRC: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { position: usize, stored: u32, computed: u32 },
    #[error("record batch at byte {position} has a corrupt record: {reason}")]
    CorruptRecord { position: usize, reason: &'static str },
    /// The batch's codec is not one this crate decompresses (ids 5-7, which Kafka does not assign).
    #[error(
        "record batch at byte {position} is compressed with {compression:?}, which is not supported (Kafka assigns codec ids 0-4)"
    )]
    CompressedRecords { position: usize, compression: Compression },
    /// A batch-level rule for a producer's batch is broken (see [`crate::validator`]).
    #[error("record batch at byte {position} is invalid: {reason}")]
    InvalidBatch { position: usize, reason: &'static str },
    /// The batch declares more records than it holds.
    #[error("record batch at byte {position} declares {declared} records but holds {found}")]
    TooFewRecords { position: usize, declared: i32, found: i32 },
    /// One record of the batch breaks the format or a rule; `index` is its place in the batch
    /// (0 for the first), which a ProduceResponse reports as the record's `batch_index` (KIP-467).
    #[error("record {index} of the batch at byte {position} is invalid: {reason}")]
    InvalidRecord { position: usize, index: i32, reason: &'static str },
    /// Well-formed records that a rule of the topic refuses (no key on a compacted topic, a
    /// timestamp out of the allowed range): every one of them with its index and reason, as
    /// Kafka reports them (KIP-467); `invalid_timestamp` when any is refused for its timestamp.
    #[error(
        "record batch at byte {position}: {} record(s) refused, the first (record {}): {}",
        .records.len(),
        .records.first().map_or(-1, |r| r.0),
        .records.first().map_or("", |r| r.1.as_str())
    )]
    RecordsRefused { position: usize, invalid_timestamp: bool, records: Vec<(i32, String)> },
    /// The batch's compressed records are not a stream of its codec.
    #[error("record batch at byte {position} has corrupt {compression:?} records: {reason}")]
    CorruptCompressedRecords { position: usize, compression: Compression, reason: String },
    /// The batch's compressed records expand past the bound the reader set.
    #[error("record batch at byte {position} decompresses to more than {limit} bytes")]
    DecompressedTooLarge { position: usize, limit: usize },
}

impl BatchError {
    /// The same error for a batch found `delta` bytes further into an enclosing buffer.
    pub fn shifted(self, delta: usize) -> Self {
        use BatchError::*;
        match self {
            Truncated { position, needed, available } => Truncated { position: position + delta, needed, available },
            UnsupportedMagic { position, magic } => UnsupportedMagic { position: position + delta, magic },
            InvalidLength { position, length } => InvalidLength { position: position + delta, length },
            InvalidOffsetDelta { position, delta: d, count } => {
                InvalidOffsetDelta { position: position + delta, delta: d, count }
            }
            CrcMismatch { position, stored, computed } => CrcMismatch { position: position + delta, stored, computed },
            CorruptRecord { position, reason } => CorruptRecord { position: position + delta, reason },
            CompressedRecords { position, compression } => {
                CompressedRecords { position: position + delta, compression }
            }
            InvalidBatch { position, reason } => InvalidBatch { position: position + delta, reason },
            TooFewRecords { position, declared, found } => {
                TooFewRecords { position: position + delta, declared, found }
            }
            InvalidRecord { position, index, reason } => InvalidRecord { position: position + delta, index, reason },
            RecordsRefused { position, invalid_timestamp, records } => {
                RecordsRefused { position: position + delta, invalid_timestamp, records }
            }
            CorruptCompressedRecords { position, compression, reason } => {
                CorruptCompressedRecords { position: position + delta, compression, reason }
            }
            DecompressedTooLarge { position, limit } => DecompressedTooLarge { position: position + delta, limit },
        }
    }

    /// The index in its batch of the record at fault, when one record is (KIP-467's
    /// `batch_index`).
    pub fn record_index(&self) -> Option<i32> {
        match self {
            BatchError::InvalidRecord { index, .. } => Some(*index),
            BatchError::RecordsRefused { records, .. } => records.first().map(|r| r.0),
            _ => None,
        }
    }

    /// Every refused record, `(index, reason)`, for a ProduceResponse's `record_errors`.
    pub fn record_errors(&self) -> Vec<(i32, String)> {
        match self {
            BatchError::RecordsRefused { records, .. } => records.clone(),
            BatchError::InvalidRecord { index, .. } => vec![(*index, self.to_string())],
            _ => Vec::new(),
        }
    }
}

/// The codec of a batch's records (attribute bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
    /// Codec ids 5–7 are not assigned by Kafka; kept so a header can still be described.
    Unknown(u8),
}

/// Whether timestamps were set by the producer or by the broker (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// The attributes field of a v2 batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Attributes(pub i16);

impl Attributes {
    pub const COMPRESSION_MASK: i16 = 0x07;
    pub const TIMESTAMP_TYPE: i16 = 0x08;
    pub const TRANSACTIONAL: i16 = 0x10;
    pub const CONTROL: i16 = 0x20;
    pub const DELETE_HORIZON: i16 = 0x40;

    pub fn compression(self) -> Compression {
        match (self.0 & Self::COMPRESSION_MASK) as u8 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => Compression::Unknown(other),
        }
    }
    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & Self::TIMESTAMP_TYPE != 0 { TimestampType::LogAppendTime } else { TimestampType::CreateTime }
    }
    pub fn is_transactional(self) -> bool {
        self.0 & Self::TRANSACTIONAL != 0
    }
    pub fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }
    pub fn has_delete_horizon(self) -> bool {
        self.0 & Self::DELETE_HORIZON != 0
    }
}

/// The decoded 61-byte header of one batch. A plain value (copied out of the buffer), so it can
/// be kept while the bytes move on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: Attributes,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn be_i64(buf: &[u8], pos: usize) -> i64 {
    i64::from_be_bytes(buf[pos..pos + 8].try_into().expect("8-byte slice"))
}
fn be_i32(buf: &[u8], pos: usize) -> i32 {
    i32::from_be_bytes(buf[pos..pos + 4].try_into().expect("4-byte slice"))
}
fn be_i16(buf: &[u8], pos: usize) -> i16 {
    i16::from_be_bytes(buf[pos..pos + 2].try_into().expect("2-byte slice"))
}

impl BatchHeader {
    /// Reads the base offset and batch length alone: all a reader needs to step over a batch.
    /// Returns `(base_offset, total size in bytes)`.
    pub fn peek_offset_and_size(buf: &[u8]) -> Result<(i64, usize), BatchError> {
        if buf.len() < LOG_OVERHEAD {
            return Err(BatchError::Truncated { position: 0, needed: LOG_OVERHEAD, available: buf.len() });
        }
        let length = be_i32(buf, LENGTH_POS);
        if length < MIN_BATCH_LENGTH {
            return Err(BatchError::InvalidLength { position: 0, length });
        }
        Ok((be_i64(buf, BASE_OFFSET_POS), LOG_OVERHEAD + length as usize))
    }

    /// Decodes the header at the front of `buf` and checks what can be checked without the
    /// records: magic, a length no shorter than a header, and a last offset delta that fits the
    /// record count. `buf` may hold more than one batch, or only the header.
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < BATCH_HEADER_SIZE {
            // A short buffer that already shows a bad magic or length says so, rather than
            // "truncated": that is the more useful message for garbage.
            if buf.len() > MAGIC_POS && buf[MAGIC_POS] as i8 != MAGIC_V2 {
                return Err(BatchError::UnsupportedMagic { position: 0, magic: buf[MAGIC_POS] as i8 });
            }
            return Err(BatchError::Truncated { position: 0, needed: BATCH_HEADER_SIZE, available: buf.len() });
        }
        let magic = buf[MAGIC_POS] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic { position: 0, magic });
        }
        let batch_length = be_i32(buf, LENGTH_POS);
        if batch_length < MIN_BATCH_LENGTH {
            return Err(BatchError::InvalidLength { position: 0, length: batch_length });
        }
        let header = BatchHeader {
            base_offset: be_i64(buf, BASE_OFFSET_POS),
            batch_length,
            partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_POS),
            magic,
            crc: be_i32(buf, CRC_POS) as u32,
            attributes: Attributes(be_i16(buf, ATTRIBUTES_POS)),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_POS),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP_POS),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_POS),
            producer_id: be_i64(buf, PRODUCER_ID_POS),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH_POS),
            base_sequence: be_i32(buf, BASE_SEQUENCE_POS),
            records_count: be_i32(buf, RECORDS_COUNT_POS),
        };
        // A delta may exceed count - 1 after compaction removed records, but never be negative,
        // and a batch with records must have count - 1 <= delta.
        if header.last_offset_delta < 0
            || header.base_offset.checked_add(i64::from(header.last_offset_delta)).is_none_or(|last| last == i64::MAX)
            || header.records_count < 0
            || (header.records_count > 0 && header.last_offset_delta < header.records_count - 1)
        {
            return Err(BatchError::InvalidOffsetDelta {
                position: 0,
                delta: header.last_offset_delta,
                count: header.records_count,
            });
        }
        Ok(header)
    }

    /// Total size of the batch on the wire and on disk, header included.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }
}

/// CRC-32C over a batch's CRC-covered bytes (attributes to the end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_POS..])
}

/// Checks that `batch` is exactly one whole, well-formed batch whose CRC matches; returns its
/// header. This is the check for bytes arriving from a producer and for recovery.
pub fn validate(batch: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(batch)?;
    if header.size() != batch.len() {
        return Err(if header.size() > batch.len() {
            BatchError::Truncated { position: 0, needed: header.size(), available: batch.len() }
        } else {
            BatchError::InvalidLength { position: 0, length: header.batch_length }
        });
    }
    let computed = compute_crc(batch);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch { position: 0, stored: header.crc, computed });
    }
    Ok(header)
}

/// Bytes at the head of a batch that its CRC does not cover and a log rewrites: base offset,
/// length and partition leader epoch.
pub const UNCHECKED_PREFIX_SIZE: usize = MAGIC_POS;

impl BatchHeader {
    /// The batch's first [`UNCHECKED_PREFIX_SIZE`] bytes as this header states them: a log
    /// writes these in place of a produced batch's own (its offset and epoch assigned) instead
    /// of rewriting the batch.
    pub fn unchecked_prefix(&self) -> [u8; UNCHECKED_PREFIX_SIZE] {
        let mut prefix = [0u8; UNCHECKED_PREFIX_SIZE];
        prefix[BASE_OFFSET_POS..LENGTH_POS].copy_from_slice(&self.base_offset.to_be_bytes());
        prefix[LENGTH_POS..PARTITION_LEADER_EPOCH_POS].copy_from_slice(&self.batch_length.to_be_bytes());
        prefix[PARTITION_LEADER_EPOCH_POS..MAGIC_POS].copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        prefix
    }
}

/// Rewrites the base offset in place (outside the CRC, so the CRC stays valid).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[BASE_OFFSET_POS..BASE_OFFSET_POS + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites the partition leader epoch in place (outside the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH_POS..PARTITION_LEADER_EPOCH_POS + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Rewrites the max timestamp, which the CRC covers, and the CRC with it.
pub fn set_max_timestamp(batch: &mut [u8], max_timestamp: i64) {
    batch[MAX_TIMESTAMP_POS..MAX_TIMESTAMP_POS + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    write_crc(batch);
}

/// Marks the batch as stamped by the broker (Kafka's `LogAppendTime`): sets the timestamp-type
/// attribute and the max timestamp to `now_ms`, and rewrites the CRC. Consumers read every
/// record's timestamp as the batch's max timestamp then; the records are not touched.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes =
        i16::from_be_bytes([batch[ATTRIBUTES_POS], batch[ATTRIBUTES_POS + 1]]) | Attributes::TIMESTAMP_TYPE;
    batch[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attributes.to_be_bytes());
    set_max_timestamp(batch, now_ms);
}

/// The same batch with its records section compressed with `target` (at `level`, for the codecs
/// that have levels) instead of its own codec: the header is kept but for its length, codec
/// bits and CRC, the records byte for byte. Decompressing produces at most
/// `max_decompressed_bytes`. For a topic whose `compression.type` names a codec.
pub fn recompress(
    batch: &[u8],
    target: Compression,
    level: Option<i32>,
    max_decompressed_bytes: usize,
) -> Result<Vec<u8>, BatchError> {
    let header = BatchHeader::parse(batch)?;
    let section = &batch[BATCH_HEADER_SIZE..header.size()];
    let source = header.attributes.compression();
    let corrupt = |e: crate::compression::CompressionError| BatchError::CorruptCompressedRecords {
        position: 0,
        compression: source,
        reason: e.to_string(),
    };
    let records = crate::compression::decompress(source, section, max_decompressed_bytes).map_err(corrupt)?;
    let payload = crate::compression::compress_at_level(target, &records, level).map_err(corrupt)?;
    let length = i32::try_from(BATCH_HEADER_SIZE - LOG_OVERHEAD + payload.len())
        .map_err(|_| BatchError::DecompressedTooLarge { position: 0, limit: i32::MAX as usize })?;
    let mut out = Vec::with_capacity(BATCH_HEADER_SIZE + payload.len());
    out.extend_from_slice(&batch[..BATCH_HEADER_SIZE]);
    out.extend_from_slice(&payload);
    out[LENGTH_POS..LENGTH_POS + 4].copy_from_slice(&length.to_be_bytes());
    let attributes =
        (header.attributes.0 & !Attributes::COMPRESSION_MASK) | i16::from(crate::compression::codec_id(target));
    out[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attributes.to_be_bytes());
    write_crc(&mut out);
    Ok(out)
}

/// Recomputes and stores the CRC after a covered field changed (used by builders).
pub fn write_crc(batch: &mut [u8]) {
    let crc = compute_crc(batch);
    batch[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Walks the batches of a buffer holding several concatenated batches, yielding each header
/// with its bytes. Structure only (no CRC): callers that need integrity call [`validate`] or
/// [`RecordBatch::validate_crc`]. After an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    position: usize,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter { buf, position: 0, failed: false }
    }
    /// Byte position of the next batch in the buffer.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<(BatchHeader, &'a [u8]), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.position..];
        let result = BatchHeader::parse(rest).and_then(|header| {
            if header.size() > rest.len() {
                Err(BatchError::Truncated { position: 0, needed: header.size(), available: rest.len() })
            } else {
                Ok((header, &rest[..header.size()]))
            }
        });
        match result {
            Ok((header, bytes)) => {
                self.position += header.size();
                Some(Ok((header, bytes)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e.shifted(self.position)))
            }
        }
    }
}

/// One whole batch over shared bytes: cloning or slicing it never copies the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    header: BatchHeader,
    bytes: Bytes,
}

impl RecordBatch {
    /// Wraps `bytes`, which must hold exactly one batch (structure checked, CRC not).
    pub fn new(bytes: Bytes) -> Result<Self, BatchError> {
        let header = BatchHeader::parse(&bytes)?;
        if header.size() != bytes.len() {
            return Err(if header.size() > bytes.len() {
                BatchError::Truncated { position: 0, needed: header.size(), available: bytes.len() }
            } else {
                BatchError::InvalidLength { position: 0, length: header.batch_length }
            });
        }
        Ok(RecordBatch { header, bytes })
    }

    pub fn header(&self) -> &BatchHeader {
        &self.header
    }
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }
    pub fn next_offset(&self) -> i64 {
        self.header.next_offset()
    }
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Checks the stored CRC against the bytes.
    pub fn validate_crc(&self) -> Result<(), BatchError> {
        let computed = compute_crc(&self.bytes);
        if computed == self.header.crc {
            Ok(())
        } else {
            Err(BatchError::CrcMismatch { position: 0, stored: self.header.crc, computed })
        }
    }

    /// The records of the batch, decoded lazily; a compressed batch is decompressed first (to
    /// at most `MAX_DECOMPRESSED_BATCH_BYTES`).
    pub fn records(&self) -> Result<crate::record::Records, BatchError> {
        crate::record::Records::new(self)
    }
}

/// Splits a buffer of concatenated batches into [`RecordBatch`]es that share its memory.
/// A truncated or malformed batch ends the iteration with one error naming its position.
#[derive(Debug, Clone)]
pub struct RecordBatches {
    bytes: Bytes,
    position: usize,
    failed: bool,
}

impl RecordBatches {
    pub fn new(bytes: Bytes) -> Self {
        RecordBatches { bytes, position: 0, failed: false }
    }
}

impl Iterator for RecordBatches {
    type Item = Result<RecordBatch, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position >= self.bytes.len() {
            return None;
        }
        let mut iter = BatchIter::new(&self.bytes[self.position..]);
        match iter.next() {
            Some(Ok((header, slice))) => {
                let start = self.position;
                self.position += slice.len();
                Some(Ok(RecordBatch { header, bytes: self.bytes.slice(start..self.position) }))
            }
            Some(Err(e)) => {
                self.failed = true;
                Some(Err(e.shifted(self.position)))
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordBatchBuilder;
    use proptest::prelude::*;

    fn sample(base_offset: i64, n: usize) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(1_700_000_000_000);
        for i in 0..n {
            b.append(1_700_000_000_000 + i as i64, Some(format!("k{i}").as_bytes()), Some(b"value"), &[]);
        }
        let mut bytes = b.build();
        set_base_offset(&mut bytes, base_offset);
        bytes
    }

    /// A one-record batch (key "k", value "v", timestamp 1000, no producer id), its header
    /// checked field by field and its record byte by byte against the format definition.
    #[test]
    fn header_fields_decode_field_by_field() {
        let mut b = RecordBatchBuilder::new(1000);
        b.append(1000, Some(b"k"), Some(b"v"), &[]);
        let bytes = b.build();
        let h = validate(&bytes).expect("valid");
        assert_eq!(h.base_offset, 0);
        assert_eq!(h.magic, 2);
        assert_eq!(h.records_count, 1);
        assert_eq!(h.last_offset_delta, 0);
        assert_eq!((h.base_timestamp, h.max_timestamp), (1000, 1000));
        assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (-1, -1, -1));
        assert_eq!(h.partition_leader_epoch, -1);
        // Record: len 8 | attrs 0 | ts delta 0 | offset delta 0 | key len 1, 'k' | value len 1, 'v' | 0 headers
        // (lengths are zig-zag varints: 8 -> 0x10, 1 -> 0x02).
        assert_eq!(&bytes[61..], &[0x10, 0x00, 0x00, 0x00, 0x02, b'k', 0x02, b'v', 0x00]);
        assert_eq!(h.size(), bytes.len());
        assert_eq!(h.batch_length as usize, bytes.len() - 12);
    }

    #[test]
    fn a_header_prefix_is_the_rewritten_batch_head() {
        let original = sample(0, 3);
        let mut h = validate(&original).expect("valid");
        h.base_offset = 1 << 40;
        h.partition_leader_epoch = 9;
        let mut rewritten = original.clone();
        set_base_offset(&mut rewritten, 1 << 40);
        set_partition_leader_epoch(&mut rewritten, 9);
        assert_eq!(h.unchecked_prefix(), rewritten[..UNCHECKED_PREFIX_SIZE]);
        assert_eq!(original[UNCHECKED_PREFIX_SIZE..], rewritten[UNCHECKED_PREFIX_SIZE..]);
    }

    #[test]
    fn rewriting_offset_and_epoch_keeps_crc_valid() {
        let mut bytes = sample(0, 3);
        set_base_offset(&mut bytes, 42);
        set_partition_leader_epoch(&mut bytes, 7);
        let h = validate(&bytes).expect("crc still valid");
        assert_eq!((h.base_offset, h.last_offset(), h.partition_leader_epoch), (42, 44, 7));
    }

    #[test]
    fn flipped_payload_bit_fails_crc() {
        let mut bytes = sample(0, 2);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        assert!(matches!(validate(&bytes), Err(BatchError::CrcMismatch { position: 0, .. })));
    }

    #[test]
    fn bad_magic_is_reported() {
        let mut bytes = sample(0, 1);
        bytes[MAGIC_POS] = 1;
        assert_eq!(BatchHeader::parse(&bytes), Err(BatchError::UnsupportedMagic { position: 0, magic: 1 }));
    }

    #[test]
    fn splitting_concatenated_batches_shares_memory_and_reports_truncation() {
        let a = sample(0, 2);
        let b = sample(2, 3);
        let mut all = a.clone();
        all.extend_from_slice(&b);
        all.extend_from_slice(&b[..30]);
        let all = Bytes::from(all);
        let mut it = RecordBatches::new(all.clone());
        let first = it.next().expect("one").expect("ok");
        assert_eq!(first.as_bytes().as_ptr(), all.as_ptr());
        assert_eq!(first.records_count_for_test(), 2);
        let second = it.next().expect("two").expect("ok");
        assert_eq!(second.base_offset(), 2);
        assert_eq!(second.next_offset(), 5);
        let err = it.next().expect("error").expect_err("truncated");
        assert_eq!(err, BatchError::Truncated { position: a.len() + b.len(), needed: 61, available: 30 });
        assert!(it.next().is_none());
    }

    impl RecordBatch {
        fn records_count_for_test(&self) -> i32 {
            self.header.records_count
        }
    }

    #[test]
    fn attribute_bits_decode() {
        let a = Attributes(0x3b); // 0b011_1011: codec 3 (lz4), log-append time, transactional, control
        assert_eq!(a.compression(), Compression::Lz4);
        assert_eq!(a.timestamp_type(), TimestampType::LogAppendTime);
        assert!(a.is_transactional() && a.is_control() && !a.has_delete_horizon());
    }

    proptest! {
        /// No input makes the splitter panic, loop, or return bytes outside the buffer.
        #[test]
        fn splitting_garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let bytes = Bytes::from(data);
            let mut total = 0;
            for item in RecordBatches::new(bytes.clone()).take(100) {
                match item {
                    Ok(batch) => total += batch.size(),
                    Err(_) => break,
                }
            }
            prop_assert!(total <= bytes.len());
        }

        /// Corrupting any single CRC-covered byte is detected.
        #[test]
        fn any_covered_byte_flip_is_detected(n in 1usize..5, pos_seed in any::<usize>(), bit in 0u8..8) {
            let mut bytes = sample(0, n);
            let pos = ATTRIBUTES_POS + pos_seed % (bytes.len() - ATTRIBUTES_POS);
            bytes[pos] ^= 1 << bit;
            prop_assert!(validate(&bytes).is_err());
        }
    }
}

#[cfg(test)]
mod overflow_tests {
    use super::*;
    use crate::record::RecordBatchBuilder;

    #[test]
    fn a_base_offset_that_overflows_with_its_delta_is_invalid() {
        let mut bytes = RecordBatchBuilder::new(0).build();
        set_base_offset(&mut bytes, i64::MAX - 1);
        bytes[LAST_OFFSET_DELTA_POS..LAST_OFFSET_DELTA_POS + 4].copy_from_slice(&5i32.to_be_bytes());
        assert!(matches!(BatchHeader::parse(&bytes), Err(BatchError::InvalidOffsetDelta { .. })));
    }
}
