//! The message formats before record batches: magic 0 (Kafka 0.8–0.9) and magic 1 (0.10,
//! timestamps), which Produce v0–2 may carry and Fetch v0–3 answers with. The log stores only
//! record batches (magic 2): old producers' messages are converted up when they arrive
//! ([`to_record_batch`]) and converted down for old consumers ([`down_convert`]), as Kafka 3.x
//! does.
//!
//! A message set is a sequence of entries:
//!
//! ```text
//! offset       int64
//! size         int32    bytes that follow, up to the end of the message
//! crc          uint32   CRC-32 (IEEE) of everything after it, up to the end
//! magic        int8     0 or 1
//! attributes   int8     bits 0-2: codec (none, gzip, snappy, lz4); bit 3: LogAppendTime (magic 1)
//! timestamp    int64    magic 1 only
//! key          bytes    int32 length, -1 for null
//! value        bytes    int32 length, -1 for null
//! ```
//!
//! A compressed message (a "wrapper") holds in its value a compressed message set of plain
//! messages of the same magic; in magic 1 their offsets are relative (0, 1, ...) and the
//! wrapper's is the absolute offset of the last. Magic 0 LZ4 wrappers were written by the
//! clients of that era with a wrong LZ4 frame header checksum (KAFKA-3160), which Kafka ignores
//! for magic 0; so do we.
//!
//! Down-conversion keeps a batch's codec (a compressed batch becomes one wrapper message), except
//! zstd, which the old formats lack: those records go out as plain messages.

use bytes::{BufMut, Bytes};

use crate::compression::{self, CompressionError};
use crate::record::{MAX_DECOMPRESSED_BATCH_BYTES, RecordBatchBuilder};
use crate::record_batch::{BatchError, Compression, NO_TIMESTAMP, RecordBatches, TimestampType};

/// The magic byte of the first message format (Kafka 0.8).
pub const MAGIC_V0: i8 = 0;
/// The magic byte of the message format with timestamps (Kafka 0.10, KIP-32).
pub const MAGIC_V1: i8 = 1;
/// The magic byte of record batches (Kafka 0.11, KIP-98): what the log stores.
pub const MAGIC_V2: i8 = 2;

/// Where the magic byte sits in an entry of either format: after the offset, the size and the
/// CRC (magic 0/1) or the partition leader epoch (magic 2).
pub const MAGIC_OFFSET: usize = 16;

/// Offset and size, before every message.
const LOG_OVERHEAD: usize = 12;
/// CRC, magic, attributes, key length and value length.
const V0_MIN_MESSAGE_SIZE: usize = 4 + 1 + 1 + 4 + 4;
/// Magic 0's fields and the timestamp.
const V1_MIN_MESSAGE_SIZE: usize = V0_MIN_MESSAGE_SIZE + 8;
/// The codec bits of a message's attributes.
const CODEC_MASK: u8 = 0x07;
/// The attribute bit that marks a magic 1 message's timestamp as the broker's append time.
const LOG_APPEND_TIME_FLAG: u8 = 0x08;

/// Why a legacy message set cannot be taken, with the Kafka error each maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    /// CORRUPT_MESSAGE: a message's CRC does not match its bytes.
    #[error("message at byte {position}: CRC {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { position: usize, stored: u32, computed: u32 },
    /// CORRUPT_MESSAGE: sizes that do not add up, a truncated message, bytes that do not
    /// decompress.
    #[error("message at byte {position}: {reason}")]
    Corrupt { position: usize, reason: &'static str },
    /// INVALID_RECORD: well formed, but not allowed (nested compression, mixed magics, a wrapper
    /// whose messages have another magic, no message at all).
    #[error("message at byte {position}: {reason}")]
    Invalid { position: usize, reason: &'static str },
    /// UNSUPPORTED_COMPRESSION_TYPE: a codec the old formats do not have (zstd needs magic 2).
    #[error("message at byte {position}: codec {codec} is not allowed before magic 2")]
    UnsupportedCodec { position: usize, codec: u8 },
}

/// One message of a legacy set, as decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Message {
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

/// The magic byte of the first entry of a Produce request's record set, if it has one.
pub fn magic_of(records: &[u8]) -> Option<i8> {
    records.get(MAGIC_OFFSET).map(|&b| b as i8)
}

/// A Produce v0–2 record set in a legacy format, as one uncompressed or compressed v2 batch
/// holding its messages in order, ready for the log's usual checks and offset assignment. The
/// batch keeps the codec of the set's first compressed wrapper (the log recompresses it if the
/// topic's `compression.type` says so) and each message's timestamp (none, -1, for magic 0).
/// A set of record batches (magic 2, which Produce v0–2 may also carry) is returned as it is.
pub fn to_record_batch(records: &Bytes) -> Result<Bytes, LegacyError> {
    match magic_of(records) {
        Some(MAGIC_V2) => return Ok(records.clone()),
        None => return Err(LegacyError::Corrupt { position: 0, reason: "truncated message set" }),
        _ => {}
    }
    let mut messages = Vec::new();
    let mut codec = Compression::None;
    let mut decompressed = 0usize;
    let first_magic = magic_of(records);
    for entry in Entries::new(records) {
        let entry = entry?;
        if Some(entry.magic) != first_magic {
            return Err(LegacyError::Invalid {
                position: entry.position,
                reason: "a message set mixes message formats",
            });
        }
        if entry.codec == Compression::None {
            messages.push(entry.message);
            continue;
        }
        if codec == Compression::None {
            codec = entry.codec;
        }
        let inner = decompress_wrapper(&entry, MAX_DECOMPRESSED_BATCH_BYTES.saturating_sub(decompressed))?;
        decompressed += inner.len();
        for message in Entries::new(&inner) {
            let message = message.map_err(|e| e.at(entry.position))?;
            if message.codec != Compression::None {
                return Err(LegacyError::Invalid { position: entry.position, reason: "compressed messages nest" });
            }
            if message.magic != entry.magic {
                return Err(LegacyError::Invalid {
                    position: entry.position,
                    reason: "a wrapper holds messages of another magic",
                });
            }
            messages.push(message.message);
        }
    }
    if messages.is_empty() {
        return Err(LegacyError::Invalid { position: 0, reason: "a message set without messages" });
    }
    let mut builder = RecordBatchBuilder::new(messages[0].timestamp).compression(codec);
    for m in &messages {
        builder.append(m.timestamp, m.key.as_deref(), m.value.as_deref(), &[]);
    }
    Ok(Bytes::from(builder.build()))
}

/// Stored record batches as a message set of `magic` (0 or 1) for Fetch v0–3, as Kafka's
/// down-conversion writes it: the records from `fetch_offset` on; a compressed batch becomes
/// one wrapper message of its codec holding them (inner offsets relative in magic 1, absolute
/// in magic 0), an uncompressed one a plain message per record; control batches (transaction
/// markers) are left out, headers dropped (neither format has them), and a LogAppendTime
/// batch's messages carry its append time. A zstd batch, which the old formats cannot carry,
/// becomes plain messages (Kafka refuses it with UNSUPPORTED_COMPRESSION_TYPE, which leaves an
/// old consumer unable to read the topic at all). At most `max_bytes`, except that the first
/// message is always whole, so an old consumer can always move on.
pub fn down_convert(batches: Bytes, magic: i8, fetch_offset: i64, max_bytes: usize) -> Result<Bytes, BatchError> {
    debug_assert!(magic == MAGIC_V0 || magic == MAGIC_V1, "down-conversion targets magic 0 or 1, not {magic}");
    let mut out = Vec::new();
    let mut inner = Vec::new();
    let mut message = Vec::new();
    // Appends one entry unless it would pass the bound (the first always fits); false when full.
    let push = |out: &mut Vec<u8>, offset: i64, message: &[u8]| -> bool {
        if !out.is_empty() && out.len() + LOG_OVERHEAD + message.len() > max_bytes {
            return false;
        }
        out.put_i64(offset);
        out.put_i32(i32::try_from(message.len()).expect("a message from a batch under 2 GiB"));
        out.extend_from_slice(message);
        true
    };
    for batch in RecordBatches::new(batches) {
        let batch = batch?;
        let header = batch.header();
        if header.attributes.is_control() || batch.last_offset() < fetch_offset {
            continue;
        }
        let log_append_time = header.attributes.timestamp_type() == TimestampType::LogAppendTime;
        let time = |record_timestamp: i64| if log_append_time { header.max_timestamp } else { record_timestamp };
        let codec = match header.attributes.compression() {
            codec @ (Compression::Gzip | Compression::Snappy | Compression::Lz4) => Some(codec),
            _ => None,
        };
        let Some(codec) = codec else {
            for record in batch.records()? {
                let record = record?;
                if record.offset < fetch_offset {
                    continue;
                }
                message.clear();
                let timestamp = time(record.timestamp);
                write_message(
                    &mut message,
                    magic,
                    log_append_time,
                    0,
                    timestamp,
                    record.key.as_deref(),
                    record.value.as_deref(),
                );
                if !push(&mut out, record.offset, &message) {
                    return Ok(Bytes::from(out));
                }
            }
            continue;
        };
        // One wrapper: its offset is the last inner message's, its timestamp the largest.
        inner.clear();
        let (mut first, mut last, mut max_timestamp) = (None, 0, NO_TIMESTAMP);
        for record in batch.records()? {
            let record = record?;
            if record.offset < fetch_offset {
                continue;
            }
            let first = *first.get_or_insert(record.offset);
            let inner_offset = if magic == MAGIC_V1 { record.offset - first } else { record.offset };
            let timestamp = time(record.timestamp);
            message.clear();
            write_message(
                &mut message,
                magic,
                log_append_time,
                0,
                timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
            );
            inner.put_i64(inner_offset);
            inner.put_i32(i32::try_from(message.len()).expect("a message from a batch under 2 GiB"));
            inner.extend_from_slice(&message);
            last = record.offset;
            max_timestamp = max_timestamp.max(timestamp);
        }
        if first.is_none() {
            continue;
        }
        let mut compressed = compression::compress(codec, &inner)
            .map_err(|_| BatchError::CorruptRecord { position: 0, reason: "records do not recompress" })?;
        if codec == Compression::Lz4 && magic == MAGIC_V0 {
            set_lz4_header_checksum(&mut compressed, 0);
        }
        message.clear();
        write_message(
            &mut message,
            magic,
            log_append_time,
            compression::codec_id(codec),
            max_timestamp,
            None,
            Some(&compressed),
        );
        if !push(&mut out, last, &message) {
            break;
        }
    }
    Ok(Bytes::from(out))
}

/// Writes one message (from its CRC on) of `magic`.
fn write_message(
    out: &mut Vec<u8>,
    magic: i8,
    log_append_time: bool,
    codec_id: u8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    out.put_u32(0);
    out.put_i8(magic);
    out.put_u8(codec_id | if magic == MAGIC_V1 && log_append_time { LOG_APPEND_TIME_FLAG } else { 0 });
    if magic == MAGIC_V1 {
        out.put_i64(timestamp);
    }
    for field in [key, value] {
        match field {
            Some(bytes) => {
                out.put_i32(i32::try_from(bytes.len()).expect("a record field under 2 GiB"));
                out.extend_from_slice(bytes);
            }
            None => out.put_i32(-1),
        }
    }
    let crc = crc32fast::hash(&out[4..]);
    out[..4].copy_from_slice(&crc.to_be_bytes());
}

/// One entry of a message set, checked.
struct Entry {
    position: usize,
    magic: i8,
    codec: Compression,
    /// For a wrapper, the value is the compressed inner set.
    message: Message,
}

impl LegacyError {
    /// The error of a message inside a wrapper, placed at the wrapper.
    fn at(self, position: usize) -> LegacyError {
        match self {
            LegacyError::CrcMismatch { stored, computed, .. } => {
                LegacyError::CrcMismatch { position, stored, computed }
            }
            LegacyError::Corrupt { reason, .. } => LegacyError::Corrupt { position, reason },
            LegacyError::Invalid { reason, .. } => LegacyError::Invalid { position, reason },
            LegacyError::UnsupportedCodec { codec, .. } => LegacyError::UnsupportedCodec { position, codec },
        }
    }
}

/// The entries of a legacy message set, each checked against its CRC; the first error ends it.
struct Entries<'a> {
    bytes: &'a Bytes,
    position: usize,
    failed: bool,
}

impl<'a> Entries<'a> {
    fn new(bytes: &'a Bytes) -> Self {
        Entries { bytes, position: 0, failed: false }
    }

    fn parse(&mut self) -> Result<Entry, LegacyError> {
        let position = self.position;
        let corrupt = |reason| LegacyError::Corrupt { position, reason };
        let rest = &self.bytes[position..];
        if rest.len() < LOG_OVERHEAD {
            return Err(corrupt("truncated message"));
        }
        let size = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
        let size = usize::try_from(size).map_err(|_| corrupt("negative message size"))?;
        if rest.len() - LOG_OVERHEAD < size {
            return Err(corrupt("truncated message"));
        }
        let start = position + LOG_OVERHEAD;
        let body = self.bytes.slice(start..start + size);
        if size < V0_MIN_MESSAGE_SIZE {
            return Err(corrupt("message smaller than its header"));
        }
        let stored = u32::from_be_bytes(body[..4].try_into().expect("4 bytes"));
        let computed = crc32fast::hash(&body[4..]);
        if stored != computed {
            return Err(LegacyError::CrcMismatch { position, stored, computed });
        }
        let magic = body[4] as i8;
        let attributes = body[5];
        let mut at = 6;
        let timestamp = match magic {
            MAGIC_V0 => NO_TIMESTAMP,
            MAGIC_V1 => {
                if size < V1_MIN_MESSAGE_SIZE {
                    return Err(corrupt("message smaller than its header"));
                }
                at += 8;
                i64::from_be_bytes(body[6..14].try_into().expect("8 bytes"))
            }
            _ => return Err(LegacyError::Invalid { position, reason: "a message set mixes message formats" }),
        };
        let field = |at: &mut usize| -> Result<Option<Bytes>, LegacyError> {
            let len_bytes = body.get(*at..*at + 4).ok_or(corrupt("truncated message"))?;
            let len = i32::from_be_bytes(len_bytes.try_into().expect("4 bytes"));
            *at += 4;
            if len < 0 {
                return Ok(None);
            }
            let end = *at + len as usize;
            if end > body.len() {
                return Err(corrupt("a key or value runs past its message"));
            }
            let bytes = body.slice(*at..end);
            *at = end;
            Ok(Some(bytes))
        };
        let key = field(&mut at)?;
        let value = field(&mut at)?;
        if at != body.len() {
            return Err(corrupt("bytes after a message's value"));
        }
        let codec = match attributes & CODEC_MASK {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            codec => return Err(LegacyError::UnsupportedCodec { position, codec }),
        };
        self.position = start + size;
        Ok(Entry { position, magic, codec, message: Message { timestamp, key, value } })
    }
}

impl Iterator for Entries<'_> {
    type Item = Result<Entry, LegacyError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position >= self.bytes.len() {
            return None;
        }
        let entry = self.parse();
        self.failed = entry.is_err();
        Some(entry)
    }
}

/// The message set inside a compressed wrapper, at most `max` bytes of it.
fn decompress_wrapper(entry: &Entry, max: usize) -> Result<Bytes, LegacyError> {
    let position = entry.position;
    let Some(value) = &entry.message.value else {
        return Err(LegacyError::Corrupt { position, reason: "a compressed message without a value" });
    };
    let patched;
    let data: &[u8] = if entry.codec == Compression::Lz4 && entry.magic == MAGIC_V0 {
        patched = with_lz4_header_checksum(value);
        &patched
    } else {
        value
    };
    compression::decompress(entry.codec, data, max).map(Bytes::from).map_err(|e| match e {
        CompressionError::TooLarge { .. } => {
            LegacyError::Invalid { position, reason: "compressed messages expand past the size bound" }
        }
        _ => LegacyError::Corrupt { position, reason: "compressed messages do not decompress" },
    })
}

/// An LZ4 frame with its header checksum recomputed: magic 0's writers hashed the frame's magic
/// number too (KAFKA-3160), a checksum Kafka does not check for magic 0.
fn with_lz4_header_checksum(frame: &[u8]) -> Vec<u8> {
    let mut frame = frame.to_vec();
    set_lz4_header_checksum(&mut frame, 4);
    frame
}

/// Rewrites an LZ4 frame's header checksum as the XXH32 of its bytes from `from` to the
/// checksum: 4 (the descriptor) is the frame format's, 0 (the magic number too) what Kafka's
/// magic 0 readers expect (KAFKA-3160).
fn set_lz4_header_checksum(frame: &mut [u8], from: usize) {
    if frame.len() > 6 {
        let has_size = frame[4] & 0x08 != 0;
        let checksum_at = 6 + if has_size { 8 } else { 0 };
        if frame.len() > checksum_at {
            frame[checksum_at] = (twox_hash::XxHash32::oneshot(0, &frame[from..checksum_at]) >> 8) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record_batch::RecordBatch;

    /// A legacy message (offset, size, body) written by hand, field by field.
    fn message(
        offset: i64,
        magic: i8,
        attributes: u8,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut body = vec![magic as u8, attributes];
        if magic == 1 {
            body.extend_from_slice(&timestamp.to_be_bytes());
        }
        for f in [key, value] {
            match f {
                Some(b) => {
                    body.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    body.extend_from_slice(b);
                }
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        let mut out = offset.to_be_bytes().to_vec();
        out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn records_of(batch: &Bytes) -> Vec<(i64, i64, Option<Bytes>, Option<Bytes>)> {
        let batch = RecordBatch::new(batch.clone()).expect("one batch");
        batch.validate_crc().expect("crc");
        batch
            .records()
            .expect("records")
            .map(|r| r.expect("record"))
            .map(|r| (r.offset, r.timestamp, r.key, r.value))
            .collect()
    }

    #[test]
    fn plain_messages_become_one_batch_in_order() {
        for magic in [0i8, 1] {
            let mut set = message(0, magic, 0, 1_000, Some(b"k1"), Some(b"v1"));
            set.extend(message(1, magic, 0, 1_005, None, Some(b"v2")));
            set.extend(message(2, magic, 0, 990, Some(b"k3"), None));
            let batch = to_record_batch(&Bytes::from(set)).expect("converted");
            let ts = |t: i64| if magic == 0 { NO_TIMESTAMP } else { t };
            assert_eq!(
                records_of(&batch),
                vec![
                    (0, ts(1_000), Some(Bytes::from_static(b"k1")), Some(Bytes::from_static(b"v1"))),
                    (1, ts(1_005), None, Some(Bytes::from_static(b"v2"))),
                    (2, ts(990), Some(Bytes::from_static(b"k3")), None),
                ],
                "magic {magic}"
            );
        }
    }

    #[test]
    fn compressed_wrappers_are_opened_with_every_codec() {
        for magic in [0i8, 1] {
            for (codec, id) in [(Compression::Gzip, 1u8), (Compression::Snappy, 2), (Compression::Lz4, 3)] {
                let mut inner = message(0, magic, 0, 7, Some(b"a"), Some(b"1"));
                inner.extend(message(1, magic, 0, 8, Some(b"b"), Some(b"2")));
                let mut compressed = compression::compress(codec, &inner).expect("compress");
                if codec == Compression::Lz4 && magic == 0 {
                    // What magic 0 writers did: the header checksum over the magic number too.
                    compressed[6] = (twox_hash::XxHash32::oneshot(0, &compressed[0..6]) >> 8) as u8;
                }
                let set = message(1, magic, id, 8, None, Some(&compressed));
                let batch = to_record_batch(&Bytes::from(set)).expect("converted");
                let header = *RecordBatch::new(batch.clone()).expect("batch").header();
                assert_eq!(header.attributes.compression(), codec, "magic {magic} keeps {codec:?}");
                let values: Vec<_> = records_of(&batch).into_iter().map(|r| r.3.expect("value")).collect();
                assert_eq!(values, vec![Bytes::from_static(b"1"), Bytes::from_static(b"2")]);
            }
        }
    }

    #[test]
    fn bad_sets_are_refused_with_their_reason() {
        let good = message(0, 1, 0, 1, Some(b"k"), Some(b"v"));
        let mut flipped = good.clone();
        *flipped.last_mut().expect("byte") ^= 1;
        assert!(matches!(to_record_batch(&Bytes::from(flipped)), Err(LegacyError::CrcMismatch { .. })));
        assert!(matches!(
            to_record_batch(&Bytes::from(good[..good.len() - 1].to_vec())),
            Err(LegacyError::Corrupt { .. })
        ));
        let mut mixed = good.clone();
        mixed.extend(message(1, 0, 0, 0, None, Some(b"x")));
        assert!(matches!(to_record_batch(&Bytes::from(mixed)), Err(LegacyError::Invalid { .. })));
        let zstd = message(0, 1, 4, 1, None, Some(b"whatever"));
        assert!(matches!(to_record_batch(&Bytes::from(zstd)), Err(LegacyError::UnsupportedCodec { codec: 4, .. })));
        let nested_inner = compression::compress(Compression::Gzip, &good).expect("gzip");
        let nested = message(0, 1, 1, 1, None, Some(&nested_inner));
        let nested_twice = compression::compress(Compression::Gzip, &nested).expect("gzip");
        let outer = message(0, 1, 1, 1, None, Some(&nested_twice));
        assert!(matches!(to_record_batch(&Bytes::from(outer)), Err(LegacyError::Invalid { .. })));
        let garbage = message(0, 1, 1, 1, None, Some(b"not gzip at all"));
        assert!(matches!(to_record_batch(&Bytes::from(garbage)), Err(LegacyError::Corrupt { .. })));
        let mut negative = good.clone();
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(to_record_batch(&Bytes::from(negative)), Err(LegacyError::Corrupt { .. })));
    }

    #[test]
    fn record_batches_pass_through_unchanged() {
        let mut b = RecordBatchBuilder::new(5);
        b.append(5, Some(b"k"), Some(b"v"), &[("h", Some(b"x"))]);
        let batch = Bytes::from(b.build());
        assert_eq!(to_record_batch(&batch).expect("as is"), batch);
    }

    /// Parses a down-converted set back with the decoder the up-conversion uses (itself checked
    /// against hand-written messages above).
    /// offset, magic, attributes, timestamp, key, value.
    type Parsed = (i64, i8, u8, i64, Option<Bytes>, Option<Bytes>);

    fn parse(set: &Bytes) -> Vec<Parsed> {
        let mut out = Vec::new();
        let mut position = 0;
        while position < set.len() {
            let offset = i64::from_be_bytes(set[position..position + 8].try_into().expect("offset"));
            let mut entries = Entries::new(set);
            entries.position = position;
            let entry = entries.parse().expect("a well-formed message");
            let attributes = set[position + 17];
            out.push((
                offset,
                entry.magic,
                attributes,
                entry.message.timestamp,
                entry.message.key,
                entry.message.value,
            ));
            position = entries.position;
        }
        out
    }

    fn stored(base_offset: i64, records: &[(i64, &[u8])]) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(records[0].0);
        for (ts, value) in records {
            b.append(*ts, Some(b"key"), Some(value), &[("dropped", Some(b"header"))]);
        }
        let mut batch = b.build();
        crate::record_batch::set_base_offset(&mut batch, base_offset);
        crate::record_batch::write_crc(&mut batch);
        batch
    }

    #[test]
    fn down_conversion_writes_each_record_at_its_offset_and_skips_markers() {
        let mut log = stored(10, &[(100, b"a"), (101, b"b"), (102, b"c")]);
        let commit =
            crate::control::EndTxnMarker { control_type: crate::control::ControlType::Commit, coordinator_epoch: 0 };
        let mut marker = crate::control::marker_batch(7, 0, commit, 200);
        crate::record_batch::set_base_offset(&mut marker, 13);
        crate::record_batch::write_crc(&mut marker);
        log.extend_from_slice(&marker);
        log.extend(stored(14, &[(300, b"d")]));
        let log = Bytes::from(log);
        let v1 = parse(&down_convert(log.clone(), 1, 11, usize::MAX).expect("converted"));
        let summary: Vec<_> = v1.iter().map(|m| (m.0, m.1, m.3, m.5.clone().expect("value"))).collect();
        assert_eq!(
            summary,
            vec![
                (11, 1, 101, Bytes::from_static(b"b")),
                (12, 1, 102, Bytes::from_static(b"c")),
                (14, 1, 300, Bytes::from_static(b"d")),
            ]
        );
        let v0 = parse(&down_convert(log, 0, 0, usize::MAX).expect("converted"));
        assert!(v0.iter().all(|m| m.1 == 0 && m.3 == NO_TIMESTAMP && m.2 == 0), "{v0:?}");
        assert_eq!(v0.iter().map(|m| m.0).collect::<Vec<_>>(), vec![10, 11, 12, 14]);
    }

    #[test]
    fn compressed_batches_become_one_wrapper_of_their_codec() {
        for magic in [0i8, 1] {
            for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
                let mut b = RecordBatchBuilder::new(100).compression(codec);
                for (ts, v) in [(100, b"a"), (101, b"b"), (102, b"c")] {
                    b.append(ts, Some(b"k"), Some(v), &[]);
                }
                let mut batch = b.build();
                crate::record_batch::set_base_offset(&mut batch, 20);
                crate::record_batch::write_crc(&mut batch);
                let set = down_convert(Bytes::from(batch), magic, 21, usize::MAX).expect("converted");
                let mut entries = Entries::new(&set);
                if codec == Compression::Zstd {
                    // Plain messages: the old formats have no zstd.
                    let plain: Vec<_> = entries.map(|e| e.expect("entry")).collect();
                    assert!(plain.iter().all(|e| e.codec == Compression::None), "magic {magic}");
                    assert_eq!(plain.len(), 2);
                    continue;
                }
                let wrapper = entries.next().expect("one wrapper").expect("well formed");
                assert!(entries.next().is_none(), "{codec:?} magic {magic}: one wrapper only");
                assert_eq!(i64::from_be_bytes(set[..8].try_into().expect("offset")), 22, "the last inner offset");
                assert_eq!((wrapper.magic, wrapper.codec), (magic, codec));
                let inner = decompress_wrapper(&wrapper, usize::MAX).expect("opens, magic 0 lz4 included");
                let offsets: Vec<i64> = {
                    let mut at = 0;
                    let mut v = Vec::new();
                    while at < inner.len() {
                        v.push(i64::from_be_bytes(inner[at..at + 8].try_into().expect("offset")));
                        at += 12 + i32::from_be_bytes(inner[at + 8..at + 12].try_into().expect("size")) as usize;
                    }
                    v
                };
                assert_eq!(offsets, if magic == 1 { vec![0, 1] } else { vec![21, 22] }, "{codec:?}");
                let values: Vec<_> =
                    Entries::new(&inner).map(|e| e.expect("inner").message.value.expect("v")).collect();
                assert_eq!(values, vec![Bytes::from_static(b"b"), Bytes::from_static(b"c")]);
                if codec == Compression::Lz4 && magic == 0 {
                    let frame = wrapper.message.value.as_ref().expect("frame");
                    let kafka_3160 = (twox_hash::XxHash32::oneshot(0, &frame[0..6]) >> 8) as u8;
                    assert_eq!(frame[6], kafka_3160, "magic 0 lz4 keeps the old header checksum");
                }
            }
        }
    }

    #[test]
    fn down_conversion_gives_log_append_time_and_keeps_its_bound() {
        let mut log = stored(0, &[(5, b"x"), (6, b"y")]);
        crate::record_batch::set_log_append_time(&mut log, 9_999);
        crate::record_batch::write_crc(&mut log);
        let log = Bytes::from(log);
        let v1 = parse(&down_convert(log.clone(), 1, 0, usize::MAX).expect("converted"));
        assert!(v1.iter().all(|m| m.2 == LOG_APPEND_TIME_FLAG && m.3 == 9_999), "{v1:?}");
        // A bound below one message still gives the first whole; the second does not fit.
        let first = down_convert(log.clone(), 1, 0, 1).expect("converted");
        assert_eq!(parse(&first).len(), 1);
        let both = down_convert(log, 1, 0, 2 * first.len()).expect("converted");
        assert_eq!(parse(&both).len(), 2);
    }

    use proptest::prelude::*;

    proptest! {
        /// Arbitrary bytes, also behind a valid magic byte: an error, never a panic.
        #[test]
        fn arbitrary_sets_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..300), magic in 0u8..3) {
            if data.len() > MAGIC_OFFSET {
                data[MAGIC_OFFSET] = magic;
            }
            let _ = to_record_batch(&Bytes::from(data));
        }

        /// Messages of either magic, plain or in a wrapper of any codec, go up to a batch and
        /// back down unchanged but for what the target format lacks.
        #[test]
        fn up_and_down_keep_keys_values_and_order(
            rows in proptest::collection::vec((proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)), 0i64..1_000_000), 1..12),
            magic in 0i8..2,
            codec in 0u8..4,
        ) {
            let mut inner = Vec::new();
            for (i, (k, v, ts)) in rows.iter().enumerate() {
                inner.extend(message(i as i64, magic, 0, *ts, k.as_deref(), v.as_deref()));
            }
            let set = match codec {
                0 => inner,
                id => {
                    let c = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4][id as usize];
                    let compressed = compression::compress(c, &inner).expect("compress");
                    message(rows.len() as i64 - 1, magic, id, 0, None, Some(&compressed))
                }
            };
            let batch = to_record_batch(&Bytes::from(set)).expect("a valid set converts");
            for target in [MAGIC_V0, MAGIC_V1] {
                let down = down_convert(batch.clone(), target, 0, usize::MAX).expect("converts down");
                let mut got = Vec::new();
                for entry in Entries::new(&down) {
                    let entry = entry.expect("well formed");
                    if entry.codec == Compression::None {
                        got.push(entry.message);
                    } else {
                        let opened = decompress_wrapper(&entry, usize::MAX).expect("opens");
                        got.extend(Entries::new(&opened).map(|e| e.expect("inner").message));
                    }
                }
                let want: Vec<Message> = rows.iter().map(|(k, v, ts)| Message {
                    timestamp: if magic == MAGIC_V0 || target == MAGIC_V0 { NO_TIMESTAMP } else { *ts },
                    key: k.clone().map(Bytes::from),
                    value: v.clone().map(Bytes::from),
                }).collect();
                prop_assert_eq!(got, want);
            }
        }
    }
}
