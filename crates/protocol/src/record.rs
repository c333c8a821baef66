//! Records inside a v2 batch: decoding (compressed or not) and a builder for writing them.
//!
//! Record layout (all lengths and deltas are zig-zag varints, see [`crate::varint`]):
//!
//! ```text
//! length          varint   bytes that follow, up to the end of this record
//! attributes      int8     unused, 0
//! timestampDelta  varlong  from the batch's base timestamp
//! offsetDelta     varint   from the batch's base offset
//! keyLength       varint   -1 for a null key
//! key             bytes
//! valueLength     varint   -1 for a null value (a tombstone)
//! value           bytes
//! headersCount    varint
//! headers         [headerKeyLength varint, headerKey utf8, headerValueLength varint, headerValue]
//! ```
//!
//! Decoding is bounded by the batch: a length that points past the record, a record count that
//! the bytes cannot hold, or a varint that does not end are errors, never allocations.
//!
//! In a compressed batch the records section (everything after the 61-byte header) is one
//! compressed stream of the same record layout; [`crate::compression`] undoes it, producing at
//! most [`MAX_DECOMPRESSED_BATCH_BYTES`], and the records are read from its output.

use bytes::Bytes;

use crate::compression::{self, CompressionError};
use crate::record_batch::{
    self, BATCH_HEADER_SIZE, BatchError, Compression, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
    NO_SEQUENCE, RecordBatch,
};
use crate::varint::{VarintError, read_varint, read_varlong, write_varint, write_varlong};

/// A record header: a string key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    pub key: Bytes,
    pub value: Option<Bytes>,
}

/// One decoded record, with its absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<RecordHeader>,
}

/// The most bytes one compressed batch may decompress to. Kafka bounds a batch by the topic's
/// `max.message.bytes` (1 MiB by default) before compression; this is a generous ceiling on the
/// expansion of an untrusted batch, not a tuning knob.
pub const MAX_DECOMPRESSED_BATCH_BYTES: usize = 256 * 1024 * 1024;

/// The fewest bytes a record header takes: a key length varint and a value length varint.
const MIN_RECORD_HEADER_BYTES: usize = 2;

/// Headers reserved for up front when a record says how many it has; more grow the vector as
/// they are read. Records carry a handful; the count is the sender's word.
const MAX_PREALLOCATED_HEADERS: usize = 16;

/// Iterator over the records of one batch. For an uncompressed batch the slices share the
/// batch's memory; for a compressed one they share one buffer holding the decompressed records.
#[derive(Debug, Clone)]
pub struct Records {
    bytes: Bytes,
    position: usize,
    remaining: i32,
    base_offset: i64,
    base_timestamp: i64,
    failed: bool,
}

impl Records {
    pub(crate) fn new(batch: &RecordBatch) -> Result<Self, BatchError> {
        Self::with_limit(batch, MAX_DECOMPRESSED_BATCH_BYTES)
    }

    /// As [`Records::new`], decompressing to at most `max_decompressed` bytes.
    pub(crate) fn with_limit(batch: &RecordBatch, max_decompressed: usize) -> Result<Self, BatchError> {
        let header = batch.header();
        let compression = header.attributes.compression();
        let (bytes, position) = match compression {
            Compression::None => (batch.as_bytes().clone(), BATCH_HEADER_SIZE),
            Compression::Unknown(_) => return Err(BatchError::CompressedRecords { position: 0, compression }),
            Compression::Gzip | Compression::Snappy | Compression::Lz4 | Compression::Zstd => {
                let payload = &batch.as_bytes()[BATCH_HEADER_SIZE..];
                let records = compression::decompress(compression, payload, max_decompressed).map_err(|e| {
                    // BatchError carries a static reason; the codec is in the header for whoever
                    // reports it.
                    let reason = match e {
                        CompressionError::TooLarge { .. } => "compressed records expand past the size bound",
                        _ => "compressed records do not decompress",
                    };
                    BatchError::CorruptRecord { position: 0, reason }
                })?;
                (Bytes::from(records), 0)
            }
        };
        Ok(Records {
            bytes,
            position,
            remaining: header.records_count,
            base_offset: header.base_offset,
            base_timestamp: header.base_timestamp,
            failed: false,
        })
    }

    fn corrupt(&mut self, reason: &'static str) -> Option<Result<Record, BatchError>> {
        self.failed = true;
        Some(Err(BatchError::CorruptRecord { position: 0, reason }))
    }
}

fn take_bytes(bytes: &Bytes, cursor: &mut &[u8], len: i32) -> Result<Option<Bytes>, &'static str> {
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if len > cursor.len() {
        return Err("field length runs past the record");
    }
    let start = bytes.len() - cursor.len();
    *cursor = &cursor[len..];
    Ok(Some(bytes.slice(start..start + len)))
}

impl Iterator for Records {
    type Item = Result<Record, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.remaining <= 0 {
            if self.position != self.bytes.len() {
                return self.corrupt("bytes left after the last record");
            }
            return None;
        }
        self.remaining -= 1;
        let mut cursor = &self.bytes[self.position..];
        let length = match read_varint(&mut cursor) {
            Ok(l) if l >= 0 && (l as usize) <= cursor.len() => l as usize,
            _ => return self.corrupt("bad record length"),
        };
        let body_start = self.bytes.len() - cursor.len();
        // Decode against a view that ends where this record ends.
        let record_bytes = self.bytes.slice(..body_start + length);
        let mut c = &record_bytes[body_start..];
        let parsed = (|| -> Result<Record, &'static str> {
            let v = |r: Result<i64, VarintError>| r.map_err(|_| "bad varint");
            let _attributes = *c.first().ok_or("missing attributes")?;
            c = &c[1..];
            let ts_delta = v(read_varlong(&mut c))?;
            let offset_delta = v(read_varint(&mut c).map(i64::from))?;
            let key_len = v(read_varint(&mut c).map(i64::from))? as i32;
            let key = take_bytes(&record_bytes, &mut c, key_len)?;
            let value_len = v(read_varint(&mut c).map(i64::from))? as i32;
            let value = take_bytes(&record_bytes, &mut c, value_len)?;
            let header_count = v(read_varint(&mut c).map(i64::from))?;
            // A header is at least two bytes (its key length and value length), so a count
            // over half what is left is a lie; and the vector is not sized from the count,
            // which would reserve 64 bytes of `RecordHeader` per byte of record before a single
            // header is read.
            if header_count < 0 || header_count as usize > c.len() / MIN_RECORD_HEADER_BYTES {
                return Err("bad header count");
            }
            let mut headers = Vec::with_capacity((header_count as usize).min(MAX_PREALLOCATED_HEADERS));
            for _ in 0..header_count {
                let klen = v(read_varint(&mut c).map(i64::from))? as i32;
                let key = take_bytes(&record_bytes, &mut c, klen)?.ok_or("null header key")?;
                let vlen = v(read_varint(&mut c).map(i64::from))? as i32;
                let value = take_bytes(&record_bytes, &mut c, vlen)?;
                headers.push(RecordHeader { key, value });
            }
            if !c.is_empty() {
                return Err("record length disagrees with its fields");
            }
            Ok(Record {
                offset: self.base_offset + offset_delta,
                timestamp: self.base_timestamp.wrapping_add(ts_delta),
                key,
                value,
                headers,
            })
        })();
        match parsed {
            Ok(record) => {
                self.position = body_start + length;
                Some(Ok(record))
            }
            Err(reason) => self.corrupt(reason),
        }
    }
}

/// Writes a v2 batch, uncompressed unless [`RecordBatchBuilder::compression`] names a codec.
/// Offsets start at 0 (the log assigns real ones); the CRC is computed by
/// [`RecordBatchBuilder::build`].
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    attributes: i16,
    compression: Compression,
    count: i32,
    /// Offset delta of the next record appended with [`RecordBatchBuilder::append`].
    next_delta: i32,
    /// The batch's last offset delta, when set explicitly (records dropped by compaction keep
    /// the batch's original range).
    last_offset_delta: Option<i32>,
    records: Vec<u8>,
    scratch: Vec<u8>,
}

impl RecordBatchBuilder {
    /// A builder whose timestamp deltas are taken from `base_timestamp`.
    pub fn new(base_timestamp: i64) -> Self {
        RecordBatchBuilder {
            base_timestamp,
            max_timestamp: record_batch::NO_TIMESTAMP,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            attributes: 0,
            compression: Compression::None,
            count: 0,
            next_delta: 0,
            last_offset_delta: None,
            records: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Marks the batch as written by an idempotent or transactional producer.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Sets raw attribute bits (transactional, control, timestamp type). Compression bits must
    /// stay 0 here: the codec is chosen with [`RecordBatchBuilder::compression`].
    pub fn attributes(mut self, attributes: i16) -> Self {
        assert_eq!(attributes & 0x07, 0, "set the codec with RecordBatchBuilder::compression, not raw attributes");
        self.attributes = attributes;
        self
    }

    /// Compresses the records section with `codec` when the batch is built ([`Compression::None`],
    /// the default, leaves it uncompressed). The codec must be one Kafka assigns.
    pub fn compression(mut self, codec: Compression) -> Self {
        assert!(!matches!(codec, Compression::Unknown(_)), "RecordBatchBuilder cannot write codec {codec:?}");
        self.compression = codec;
        self
    }

    /// Sets the batch's last offset delta (at least that of the last record), so that a batch
    /// rewritten with some records removed still spans its original offsets, as Kafka's
    /// cleaner keeps them.
    pub fn last_offset_delta(mut self, delta: i32) -> Self {
        self.last_offset_delta = Some(delta);
        self
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a record with the next offset delta.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) -> &mut Self {
        self.append_at(self.next_delta, timestamp, key, value, headers)
    }

    /// Appends a record at an explicit offset delta (larger than the previous record's), for
    /// rewriting a batch without some of its records.
    pub fn append_at(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) -> &mut Self {
        assert!(offset_delta >= self.next_delta, "offset deltas grow: {offset_delta} after {}", self.next_delta);
        let body = &mut self.scratch;
        body.clear();
        body.push(0);
        write_varlong(body, timestamp - self.base_timestamp);
        write_varint(body, offset_delta);
        let put = |body: &mut Vec<u8>, bytes: Option<&[u8]>| match bytes {
            Some(b) => {
                write_varint(body, i32::try_from(b.len()).expect("record field under 2 GiB"));
                body.extend_from_slice(b);
            }
            None => write_varint(body, -1),
        };
        put(body, key);
        put(body, value);
        write_varint(body, i32::try_from(headers.len()).expect("header count fits i32"));
        for (k, v) in headers {
            put(body, Some(k.as_bytes()));
            put(body, *v);
        }
        write_varint(&mut self.records, i32::try_from(body.len()).expect("record under 2 GiB"));
        self.records.extend_from_slice(body);
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.count += 1;
        self.next_delta = offset_delta + 1;
        self
    }

    /// The encoded batch with base offset 0 and no partition leader epoch, its records
    /// compressed with the codec set by [`RecordBatchBuilder::compression`].
    pub fn build(&self) -> Vec<u8> {
        let compressed;
        let payload: &[u8] = if self.compression == Compression::None {
            &self.records
        } else {
            compressed = compression::compress(self.compression, &self.records)
                .expect("compressing in-memory bytes cannot fail");
            &compressed
        };
        let attributes = self.attributes | i16::from(compression::codec_id(self.compression));
        let mut out = Vec::with_capacity(BATCH_HEADER_SIZE + payload.len());
        let batch_length = i32::try_from(BATCH_HEADER_SIZE - record_batch::LOG_OVERHEAD + payload.len())
            .expect("a batch built in memory is under 2 GiB");
        out.extend_from_slice(&0i64.to_be_bytes());
        out.extend_from_slice(&batch_length.to_be_bytes());
        out.extend_from_slice(&NO_PARTITION_LEADER_EPOCH.to_be_bytes());
        out.push(record_batch::MAGIC_V2 as u8);
        out.extend_from_slice(&[0; 4]); // CRC, written below
        out.extend_from_slice(&attributes.to_be_bytes());
        let last_delta = self.last_offset_delta.unwrap_or(0).max(self.next_delta - 1).max(0);
        out.extend_from_slice(&last_delta.to_be_bytes());
        out.extend_from_slice(&self.base_timestamp.to_be_bytes());
        let max_ts = if self.count == 0 { self.base_timestamp } else { self.max_timestamp };
        out.extend_from_slice(&max_ts.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        debug_assert_eq!(out.len(), BATCH_HEADER_SIZE);
        out.extend_from_slice(payload);
        record_batch::write_crc(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Input = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<(String, Option<Vec<u8>>)>);

    fn input() -> impl Strategy<Value = Input> {
        (
            -1000i64..1000,
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
            proptest::collection::vec(
                ("[a-z]{0,8}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10))),
                0..3,
            ),
        )
    }

    proptest! {
        #[test]
        fn built_batches_decode_to_the_same_records(records in proptest::collection::vec(input(), 1..20)) {
            let base_ts = 1_600_000_000_000;
            let mut b = RecordBatchBuilder::new(base_ts);
            for (dt, k, v, h) in &records {
                let hs: Vec<(&str, Option<&[u8]>)> = h.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
                b.append(base_ts + dt, k.as_deref(), v.as_deref(), &hs);
            }
            let mut bytes = b.build();
            record_batch::set_base_offset(&mut bytes, 100);
            let batch = RecordBatch::new(Bytes::from(bytes)).expect("batch");
            batch.validate_crc().expect("crc");
            let decoded: Vec<Record> = batch.records().expect("uncompressed").collect::<Result<_, _>>().expect("decodes");
            prop_assert_eq!(decoded.len(), records.len());
            prop_assert_eq!(batch.header().max_timestamp, records.iter().map(|r| base_ts + r.0).max().expect("non-empty"));
            for (i, (rec, (dt, k, v, h))) in decoded.iter().zip(&records).enumerate() {
                prop_assert_eq!(rec.offset, 100 + i as i64);
                prop_assert_eq!(rec.timestamp, base_ts + dt);
                prop_assert_eq!(rec.key.as_deref(), k.as_deref());
                prop_assert_eq!(rec.value.as_deref(), v.as_deref());
                prop_assert_eq!(rec.headers.len(), h.len());
                for (rh, (hk, hv)) in rec.headers.iter().zip(h) {
                    prop_assert_eq!(&rh.key[..], hk.as_bytes());
                    prop_assert_eq!(rh.value.as_deref(), hv.as_deref());
                }
            }
        }

        /// Garbage after a valid header never panics the record decoder.
        #[test]
        fn garbage_records_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200), count in 0i32..50) {
            let mut bytes = RecordBatchBuilder::new(0).build();
            bytes.extend_from_slice(&tail);
            let len = (bytes.len() - 12) as i32;
            bytes[8..12].copy_from_slice(&len.to_be_bytes());
            bytes[57..61].copy_from_slice(&count.to_be_bytes());
            bytes[23..27].copy_from_slice(&(count - 1).max(0).to_be_bytes());
            if let Ok(batch) = RecordBatch::new(Bytes::from(bytes))
                && let Ok(records) = batch.records() {
                    for r in records.take(100) { let _ = r; }
                }
        }
    }

    const CODECS: [Compression; 4] = [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

    /// A batch whose records section is replaced by `payload`, with `count` records declared,
    /// attributes `attributes`, and a correct length and CRC.
    fn batch_with_payload(attributes: i16, count: i32, payload: &[u8]) -> RecordBatch {
        let mut bytes = RecordBatchBuilder::new(0).build();
        bytes.extend_from_slice(payload);
        let len = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&len.to_be_bytes());
        bytes[21..23].copy_from_slice(&attributes.to_be_bytes());
        bytes[23..27].copy_from_slice(&(count - 1).max(0).to_be_bytes());
        bytes[57..61].copy_from_slice(&count.to_be_bytes());
        record_batch::write_crc(&mut bytes);
        let batch = RecordBatch::new(Bytes::from(bytes)).expect("structure ok");
        batch.validate_crc().expect("crc");
        batch
    }

    #[test]
    fn compressed_batch_with_garbage_records_is_an_error_not_misread() {
        let batch = batch_with_payload(0x04, 1, b"this is not a zstd frame"); // zstd
        assert!(matches!(batch.records(), Err(BatchError::CorruptRecord { position: 0, .. })));
        for codec in CODECS {
            let batch = batch_with_payload(i16::from(compression::codec_id(codec)), 3, &b"\xde\xad\xbe\xef".repeat(8));
            assert!(matches!(batch.records(), Err(BatchError::CorruptRecord { .. })), "{codec:?}");
            // An empty compressed section is not a stream either.
            let batch = batch_with_payload(i16::from(compression::codec_id(codec)), 0, &[]);
            assert!(matches!(batch.records(), Err(BatchError::CorruptRecord { .. })), "{codec:?}");
        }
    }

    #[test]
    fn unassigned_codecs_are_still_refused() {
        let batch = batch_with_payload(0x06, 1, b"whatever");
        assert!(matches!(
            batch.records(),
            Err(BatchError::CompressedRecords { compression: Compression::Unknown(6), .. })
        ));
    }

    fn fifty_records(codec: Compression) -> RecordBatchBuilder {
        let base_ts = 1_700_000_000_000;
        let mut b = RecordBatchBuilder::new(base_ts).compression(codec);
        for i in 0..50 {
            let key = format!("key-{i}");
            let value = format!("value {i} ").repeat(i % 7 + 1);
            let tag = format!("tag{i}");
            let headers: [(&str, Option<&[u8]>); 2] = [("trace", Some(tag.as_bytes())), ("empty", None)];
            let key = if i % 10 == 9 { None } else { Some(key.as_bytes()) };
            let value = if i % 13 == 12 { None } else { Some(value.as_bytes()) };
            b.append(base_ts + i as i64 * 3, key, value, &headers);
        }
        b
    }

    fn check_fifty(records: &[Record], base_offset: i64) {
        let base_ts = 1_700_000_000_000;
        assert_eq!(records.len(), 50);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, base_offset + i as i64);
            assert_eq!(r.timestamp, base_ts + i as i64 * 3);
            let key = (i % 10 != 9).then(|| format!("key-{i}"));
            assert_eq!(r.key.as_deref(), key.as_deref().map(str::as_bytes));
            let value = (i % 13 != 12).then(|| format!("value {i} ").repeat(i % 7 + 1));
            assert_eq!(r.value.as_deref(), value.as_deref().map(str::as_bytes));
            assert_eq!(r.headers.len(), 2);
            assert_eq!(&r.headers[0].key[..], b"trace");
            assert_eq!(r.headers[0].value.as_deref(), Some(format!("tag{i}").as_bytes()));
            assert_eq!(&r.headers[1].key[..], b"empty");
            assert_eq!(r.headers[1].value, None);
        }
    }

    #[test]
    fn compressed_batches_round_trip_for_every_codec() {
        let plain = fifty_records(Compression::None).build();
        let plain_records = &plain[BATCH_HEADER_SIZE..];
        for codec in CODECS {
            let mut bytes = fifty_records(codec).build();
            record_batch::set_base_offset(&mut bytes, 500);
            let header = record_batch::validate(&bytes).unwrap_or_else(|e| panic!("{codec:?}: {e}"));
            assert_eq!(header.attributes.compression(), codec);
            assert_eq!((header.records_count, header.last_offset_delta), (50, 49));
            assert_eq!(header.max_timestamp, 1_700_000_000_000 + 49 * 3);
            // The section after the header is exactly the compressed uncompressed section.
            let section = compression::decompress(codec, &bytes[BATCH_HEADER_SIZE..], 1 << 20).expect("decompresses");
            assert_eq!(section, plain_records, "{codec:?}");
            assert!(bytes.len() < plain.len(), "{codec:?} should shrink these records");

            let batch = RecordBatch::new(Bytes::from(bytes)).expect("batch");
            let records: Vec<Record> = batch
                .records()
                .expect("decompresses")
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{codec:?}: {e}"));
            check_fifty(&records, 500);
        }
        // And the uncompressed path is unchanged.
        let batch = RecordBatch::new(Bytes::from(plain)).expect("batch");
        let records: Vec<Record> = batch.records().expect("plain").collect::<Result<_, _>>().expect("decodes");
        check_fifty(&records, 0);
    }

    #[test]
    fn transactional_attributes_survive_compression() {
        let bytes = RecordBatchBuilder::new(0)
            .attributes(record_batch::Attributes::TRANSACTIONAL)
            .producer(7, 1, 0)
            .compression(Compression::Lz4)
            .build();
        let header = record_batch::validate(&bytes).expect("valid");
        assert_eq!(header.attributes.compression(), Compression::Lz4);
        assert!(header.attributes.is_transactional());
        let batch = RecordBatch::new(Bytes::from(bytes)).expect("batch");
        assert_eq!(batch.records().expect("empty stream decompresses").count(), 0);
    }

    #[test]
    fn decompression_past_the_bound_is_refused() {
        let mut b = RecordBatchBuilder::new(0).compression(Compression::Zstd);
        let big = vec![b'x'; 10_000];
        for _ in 0..10 {
            b.append(0, None, Some(&big), &[]);
        }
        let batch = RecordBatch::new(Bytes::from(b.build())).expect("batch");
        assert!(Records::with_limit(&batch, 200_000).is_ok());
        assert!(matches!(Records::with_limit(&batch, 50_000), Err(BatchError::CorruptRecord { position: 0, .. })));
    }

    #[test]
    fn a_header_count_the_record_cannot_hold_is_refused_before_reading_headers() {
        // One record: attributes, timestamp delta 0, offset delta 0, null key, null value, the
        // header count, then `tail`.
        let record = |count: i32, tail: &[u8]| {
            let mut body = vec![0u8];
            write_varlong(&mut body, 0);
            for field in [0, -1, -1, count] {
                write_varint(&mut body, field);
            }
            body.extend_from_slice(tail);
            let mut out = Vec::new();
            write_varint(&mut out, body.len() as i32);
            out.extend_from_slice(&body);
            out
        };
        // Two headers, each an empty key (0) and a null value (-1 zig-zagged): two bytes each.
        let two_headers = [0u8, 1, 0, 1];
        let batch = batch_with_payload(0, 1, &record(2, &two_headers));
        let records: Vec<Record> = batch.records().expect("plain").collect::<Result<_, _>>().expect("decodes");
        assert_eq!(records[0].headers.len(), 2);
        // Three over four bytes cannot be: refused on the count, not after reading two headers.
        let batch = batch_with_payload(0, 1, &record(3, &two_headers));
        let first = batch.records().expect("plain").next().expect("one record");
        assert_eq!(first, Err(BatchError::CorruptRecord { position: 0, reason: "bad header count" }));
        // A count near i32::MAX over a few bytes, likewise (and nothing is reserved for it).
        let batch = batch_with_payload(0, 1, &record(i32::MAX, &two_headers));
        let first = batch.records().expect("plain").next().expect("one record");
        assert_eq!(first, Err(BatchError::CorruptRecord { position: 0, reason: "bad header count" }));
    }

    #[test]
    fn compressed_records_that_disagree_with_the_count_are_corrupt() {
        let good = fifty_records(Compression::Gzip).build();
        // Declare 51 records over a stream that holds 50, and 49 over one that holds 50.
        for count in [51, 49] {
            let batch = batch_with_payload(0x01, count, &good[BATCH_HEADER_SIZE..]);
            let results: Vec<_> = batch.records().expect("decompresses").collect();
            assert!(results.last().expect("some").is_err(), "count {count}");
        }
    }

    proptest! {
        /// Garbage in a compressed batch's records section never panics the decoder.
        #[test]
        fn garbage_compressed_records_never_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..300),
            codec in 1i16..5,
            count in 0i32..20,
        ) {
            let batch = batch_with_payload(codec, count, &tail);
            if let Ok(records) = batch.records() {
                for r in records.take(100) { let _ = r; }
            }
        }
    }
}
