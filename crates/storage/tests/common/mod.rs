//! Helpers shared by the storage integration tests: batch builders and log openers.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use sluice_protocol::RecordBatchBuilder;
use sluice_protocol::record_batch::{BatchIter, validate};
use sluice_storage::{Clock, Log, LogConfig, LogLoadParams, ManualClock, TopicPartition};

pub const T0: i64 = 1_700_000_000_000;

/// A batch of `records` records with `value_size`-byte values; record `i` has timestamp
/// `timestamp + i` and a value that encodes `tag` and `i`, so reads can be told apart.
pub fn batch(records: usize, value_size: usize, timestamp: i64, tag: u64) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(timestamp);
    for i in 0..records {
        let mut value = format!("{tag}:{i}:").into_bytes();
        value.resize(value_size.max(value.len()), b'x');
        b.append(timestamp + i as i64, Some(format!("key-{i}").as_bytes()), Some(&value), &[]);
    }
    b.build()
}

/// Splits a read result into `(base_offset, last_offset, payload after the header)` per batch,
/// validating every CRC.
pub fn batches_of(bytes: &[u8]) -> Vec<(i64, i64, Vec<u8>)> {
    BatchIter::new(bytes)
        .map(|b| {
            let (h, raw) = b.expect("whole batches only");
            validate(raw).expect("every returned batch passes its CRC");
            (h.base_offset, h.last_offset(), raw[61..].to_vec())
        })
        .collect()
}

pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 16 * 1024,
        index_interval_bytes: 512,
        segment_index_bytes: 8 * 1024,
        ..LogConfig::default()
    }
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0))
}

pub fn tp() -> TopicPartition {
    TopicPartition::new("events", 0)
}

pub fn open(dir: &Path, config: LogConfig, clock: Arc<dyn Clock>, params: LogLoadParams) -> Log {
    Log::open(dir, tp(), config, params, clock).expect("open log")
}

pub fn fresh(dir: &Path, config: LogConfig, clock: Arc<dyn Clock>) -> Log {
    open(dir, config, clock, LogLoadParams { had_clean_shutdown: true, ..Default::default() })
}

/// One record for `kafka_protocol`'s batch encoder (an independent encoder, so the tests do not
/// check this crate against itself). `producer` is (id, epoch, sequence); -1s for none.
pub fn kafka_record(
    offset: i64,
    producer: (i64, i16, i32),
    timestamp: i64,
    key: Option<bytes::Bytes>,
    value: bytes::Bytes,
) -> kafka_protocol::records::Record {
    let (producer_id, producer_epoch, sequence) = producer;
    kafka_protocol::records::Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id,
        producer_epoch,
        timestamp_type: kafka_protocol::records::TimestampType::Creation,
        offset,
        sequence,
        timestamp,
        key,
        value: Some(value),
        headers: Default::default(),
    }
}
