//! Records inside a v2 batch: decoding for uncompressed batches and a builder for writing them.
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

use bytes::Bytes;

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

/// Iterator over the records of one uncompressed batch; slices share the batch's memory.
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
        let header = batch.header();
        let compression = header.attributes.compression();
        if compression != Compression::None {
            return Err(BatchError::CompressedRecords { position: 0, compression });
        }
        Ok(Records {
            bytes: batch.as_bytes().clone(),
            position: BATCH_HEADER_SIZE,
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
            if header_count < 0 || header_count as usize > c.len() {
                return Err("bad header count");
            }
            let mut headers = Vec::with_capacity(header_count as usize);
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

/// Writes an uncompressed v2 batch. Offsets start at 0 (the log assigns real ones); the CRC is
/// computed by [`RecordBatchBuilder::build`].
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    attributes: i16,
    count: i32,
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
            count: 0,
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
    /// stay 0: this builder writes uncompressed records.
    pub fn attributes(mut self, attributes: i16) -> Self {
        assert_eq!(attributes & 0x07, 0, "RecordBatchBuilder writes uncompressed batches only");
        self.attributes = attributes;
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
        let body = &mut self.scratch;
        body.clear();
        body.push(0);
        write_varlong(body, timestamp - self.base_timestamp);
        write_varint(body, self.count);
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
        self
    }

    /// The encoded batch with base offset 0 and no partition leader epoch.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BATCH_HEADER_SIZE + self.records.len());
        let batch_length = (BATCH_HEADER_SIZE - record_batch::LOG_OVERHEAD + self.records.len()) as i32;
        out.extend_from_slice(&0i64.to_be_bytes());
        out.extend_from_slice(&batch_length.to_be_bytes());
        out.extend_from_slice(&NO_PARTITION_LEADER_EPOCH.to_be_bytes());
        out.push(record_batch::MAGIC_V2 as u8);
        out.extend_from_slice(&[0; 4]); // CRC, written below
        out.extend_from_slice(&self.attributes.to_be_bytes());
        out.extend_from_slice(&(self.count - 1).max(0).to_be_bytes());
        out.extend_from_slice(&self.base_timestamp.to_be_bytes());
        let max_ts = if self.count == 0 { self.base_timestamp } else { self.max_timestamp };
        out.extend_from_slice(&max_ts.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        debug_assert_eq!(out.len(), BATCH_HEADER_SIZE);
        out.extend_from_slice(&self.records);
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

    #[test]
    fn compressed_batch_records_are_refused_not_misread() {
        let mut bytes = RecordBatchBuilder::new(0).build();
        bytes[22] |= 0x04; // zstd
        let batch = RecordBatch::new(Bytes::from(bytes)).expect("structure ok");
        assert!(matches!(batch.records(), Err(BatchError::CompressedRecords { compression: Compression::Zstd, .. })));
    }
}
