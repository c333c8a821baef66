//! Control records: the end-transaction markers a transaction coordinator has written into each
//! partition a transaction touched (Kafka's `ControlRecordType` and `EndTransactionMarker`).
//!
//! A marker is a batch of one record with the control and transactional attribute bits set,
//! the producer's id and epoch, and no sequence. Its record is:
//!
//! ```text
//! key   (ControlRecordType):     version i16 = 0 | type i16 (0 = abort, 1 = commit)
//! value (EndTransactionMarker):  version i16 = 0 | coordinator_epoch i32
//! ```
//!
//! Kafka parses only the first four bytes of the key and the first six of the value, so later
//! versions may append fields; this module reads them the same way.

use bytes::Bytes;

use crate::record::RecordBatchBuilder;
use crate::record_batch::{Attributes, BatchError, NO_SEQUENCE, RecordBatch};

/// Whether a marker commits or aborts its producer's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlType {
    Abort,
    Commit,
}

impl ControlType {
    fn code(self) -> i16 {
        match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
        }
    }
}

/// An end-transaction marker, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    pub control_type: ControlType,
    pub coordinator_epoch: i32,
}

/// Builds the marker batch (offsets from 0; the log assigns the real one).
pub fn marker_batch(producer_id: i64, producer_epoch: i16, marker: EndTxnMarker, timestamp: i64) -> Vec<u8> {
    let mut key = [0u8; 4];
    key[2..].copy_from_slice(&marker.control_type.code().to_be_bytes());
    let mut value = [0u8; 6];
    value[2..].copy_from_slice(&marker.coordinator_epoch.to_be_bytes());
    let mut builder = RecordBatchBuilder::new(timestamp)
        .producer(producer_id, producer_epoch, NO_SEQUENCE)
        .attributes(Attributes::CONTROL | Attributes::TRANSACTIONAL);
    builder.append(timestamp, Some(&key), Some(&value), &[]);
    builder.build()
}

/// Reads the marker of a control batch (the whole batch's bytes). A control record of an
/// unknown type, or one too short to hold a type, is an error: Kafka refuses it too.
pub fn parse_marker(batch: &[u8]) -> Result<EndTxnMarker, BatchError> {
    let bad = |reason| BatchError::CorruptRecord { position: 0, reason };
    let batch = RecordBatch::new(Bytes::copy_from_slice(batch))?;
    if !batch.header().attributes.is_control() {
        return Err(bad("not a control batch"));
    }
    let record = batch.records()?.next().ok_or(bad("a control batch without a record"))??;
    let key = record.key.ok_or(bad("a control record without a key"))?;
    let control_type = match key.get(2..4).map(|t| i16::from_be_bytes([t[0], t[1]])) {
        Some(0) => ControlType::Abort,
        Some(1) => ControlType::Commit,
        _ => return Err(bad("a control record of unknown type")),
    };
    let coordinator_epoch =
        record.value.as_deref().and_then(|v| v.get(2..6)).map_or(-1, |e| i32::from_be_bytes([e[0], e[1], e[2], e[3]]));
    Ok(EndTxnMarker { control_type, coordinator_epoch })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record_batch::BatchHeader;

    #[test]
    fn a_marker_round_trips_and_carries_the_producer() {
        for control_type in [ControlType::Abort, ControlType::Commit] {
            let marker = EndTxnMarker { control_type, coordinator_epoch: 7 };
            let bytes = marker_batch(42, 3, marker, 1_000);
            let h = BatchHeader::parse(&bytes).expect("header");
            assert!(h.attributes.is_control() && h.attributes.is_transactional());
            assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.records_count), (42, 3, -1, 1));
            assert_eq!(parse_marker(&bytes), Ok(marker));
        }
    }

    #[test]
    fn a_data_batch_is_not_a_marker() {
        let mut b = RecordBatchBuilder::new(0);
        b.append(0, Some(b"k"), Some(b"v"), &[]);
        assert!(parse_marker(&b.build()).is_err());
    }
}
