//! The transaction coordinator's state in the internal topic `__transaction_state`, in Kafka's
//! record formats, so it survives restarts and moves with partition leadership.
//!
//! A transactional id's records live in partition `abs(java_hash(id)) % partitions` (50 by
//! default, `transaction.state.log.num.partitions`), as in Kafka; the leader of that partition
//! coordinates the id. One record per state change, the latest winning (the topic is
//! compacted):
//!
//! ```text
//! key   (TransactionLogKey, version 0):   version i16 = 0 | transactional_id string
//! value (TransactionLogValue, version 0): version i16 = 0 | producer_id i64 | producer_epoch i16 |
//!        transaction_timeout_ms i32 | transaction_status i8 |
//!        transaction_partitions [topic string | partition_ids [i32]] (nullable) |
//!        transaction_last_update_timestamp_ms i64 | transaction_start_timestamp_ms i64
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::{Bytes, BytesMut};
use sluice_protocol::RecordBatchBuilder;
use sluice_protocol::codec::{Decode, Encode, Version};
use sluice_storage::TopicPartition;

use super::state::{TxnMetadata, TxnState};
use crate::error::ErrorCode;
use crate::group::offsets_log::key_partition;
use crate::txn::TxnHandle;

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;

sluice_protocol::kafka_struct! {
    /// The key of a transaction log record (after its version).
    pub struct TransactionLogKey {
        transactional_id: String [0, MAX],
    }
}

sluice_protocol::kafka_struct! {
    /// A transactional id's state (after its version), Kafka's TransactionLogValue.
    pub struct TransactionLogValue {
        producer_id: i64 [0, MAX],
        producer_epoch: i16 [0, MAX],
        transaction_timeout_ms: i32 [0, MAX],
        transaction_status: i8 [0, MAX],
        transaction_partitions: Option<Vec<TransactionLogPartitions>> [0, MAX],
        transaction_last_update_timestamp_ms: i64 [0, MAX],
        transaction_start_timestamp_ms: i64 [0, MAX],
    }
}

sluice_protocol::kafka_struct! {
    /// One topic's partitions in a TransactionLogValue.
    pub struct TransactionLogPartitions {
        topic: String [0, MAX],
        partition_ids: Vec<i32> [0, MAX],
    }
}

/// The `__transaction_state` partition of a transactional id, given the topic's partition count.
pub fn partition_for(transactional_id: &str, partitions: i32) -> i32 {
    key_partition(transactional_id, partitions)
}

fn encode_key(transactional_id: &str) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let v = Version::new(0, false);
    KEY_VERSION.encode(&mut buf, v);
    TransactionLogKey { transactional_id: transactional_id.into() }.encode(&mut buf, v);
    buf.to_vec()
}

fn encode_value(m: &TxnMetadata) -> Vec<u8> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in &m.partitions {
        by_topic.entry(t).or_default().push(*p);
    }
    let mut buf = BytesMut::new();
    let v = Version::new(VALUE_VERSION, false);
    VALUE_VERSION.encode(&mut buf, v);
    TransactionLogValue {
        producer_id: m.producer_id,
        producer_epoch: m.producer_epoch,
        transaction_timeout_ms: m.timeout_ms,
        transaction_status: m.state as i8,
        transaction_partitions: Some(
            by_topic
                .into_iter()
                .map(|(topic, partition_ids)| TransactionLogPartitions { topic: topic.to_string(), partition_ids })
                .collect(),
        ),
        transaction_last_update_timestamp_ms: m.last_update_ms,
        transaction_start_timestamp_ms: m.start_ms,
    }
    .encode(&mut buf, v);
    buf.to_vec()
}

/// Decodes one record: the transactional id and its state (`None`: a tombstone).
fn decode(key: Option<Bytes>, value: Option<Bytes>) -> Option<(String, Option<TxnMetadata>)> {
    let mut key = key?;
    let classic = Version::new(0, false);
    if i16::decode(&mut key, classic).ok()? != KEY_VERSION {
        return None;
    }
    let id = TransactionLogKey::decode(&mut key, classic).ok()?.transactional_id;
    let Some(mut value) = value else { return Some((id, None)) };
    let version = i16::decode(&mut value, classic).ok()?;
    let v = TransactionLogValue::decode(&mut value, Version::new(version, version >= 1)).ok()?;
    let partitions: BTreeSet<(String, i32)> = v
        .transaction_partitions
        .unwrap_or_default()
        .into_iter()
        .flat_map(|t| t.partition_ids.into_iter().map(move |p| (t.topic.clone(), p)))
        .collect();
    Some((
        id,
        Some(TxnMetadata {
            producer_id: v.producer_id,
            producer_epoch: v.producer_epoch,
            timeout_ms: v.transaction_timeout_ms,
            state: TxnState::from_code(v.transaction_status)?,
            partitions,
            start_ms: v.transaction_start_timestamp_ms,
            last_update_ms: v.transaction_last_update_timestamp_ms,
        }),
    ))
}

/// How many partitions `__transaction_state` has: the topic's own count once it exists.
pub fn partition_count(env: TxnHandle<'_>) -> i32 {
    env.cluster.topic_meta(TRANSACTION_STATE_TOPIC).map_or(env.config.state_log_num_partitions, |m| m.partitions)
}

/// Creates `__transaction_state` if it does not exist yet (compacted, with
/// `transaction.state.log.replication.factor` replicas, or as many as there are live brokers
/// when fewer, and `min.insync.replicas` from `transaction.state.log.min.isr`, capped likewise).
pub async fn ensure_topic(env: TxnHandle<'_>) -> Result<(), ErrorCode> {
    if env.cluster.topic_meta(TRANSACTION_STATE_TOPIC).is_some() {
        return Ok(());
    }
    let cfg = &env.config;
    let live = env.cluster.link.cache.read(|v| v.brokers.len()).max(1);
    let rf = cfg.state_log_replication_factor.min(live as i16);
    let min_isr = cfg.state_log_min_isr.min(i32::from(rf));
    let configs = [
        ("cleanup.policy".to_string(), Some("compact".to_string())),
        ("segment.bytes".to_string(), Some(cfg.state_log_segment_bytes.to_string())),
        ("min.insync.replicas".to_string(), Some(min_isr.to_string())),
    ];
    match crate::topic_admin::create_topic(
        env.admin,
        TRANSACTION_STATE_TOPIC,
        cfg.state_log_num_partitions,
        rf,
        &configs,
        false,
        10_000,
    )
    .await
    {
        Ok(_) | Err((ErrorCode::TopicAlreadyExists, _)) => Ok(()),
        Err((code, message)) => {
            tracing::error!(error = code.name(), %message, "cannot create __transaction_state");
            Err(ErrorCode::CoordinatorNotAvailable)
        }
    }
}

/// Writes a transactional id's new state, waiting until it is replicated (`acks=all`).
pub async fn append(
    env: TxnHandle<'_>,
    partition: i32,
    transactional_id: &str,
    m: &TxnMetadata,
) -> Result<(), ErrorCode> {
    write(env, partition, transactional_id, Some(&encode_value(m)), m.last_update_ms).await
}

/// Writes a tombstone for an expired transactional id (compaction then drops its records).
pub async fn append_tombstone(
    env: TxnHandle<'_>,
    partition: i32,
    transactional_id: &str,
    now_ms: i64,
) -> Result<(), ErrorCode> {
    write(env, partition, transactional_id, None, now_ms).await
}

/// Appends one record for `transactional_id` (`None`: a tombstone) with `acks=all`; leadership
/// gone is NOT_COORDINATOR, any other failure COORDINATOR_NOT_AVAILABLE.
async fn write(
    env: TxnHandle<'_>,
    partition: i32,
    transactional_id: &str,
    value: Option<&[u8]>,
    time_ms: i64,
) -> Result<(), ErrorCode> {
    let mut builder = RecordBatchBuilder::new(time_ms);
    builder.append(time_ms, Some(&encode_key(transactional_id)), value, &[]);
    let records = builder.build();
    let tp = TopicPartition::new(TRANSACTION_STATE_TOPIC, partition);
    let result = env.cluster.replicas.append(&tp, &records, -1, std::time::Duration::from_secs(30)).await;
    match result.error {
        ErrorCode::None => Ok(()),
        ErrorCode::NotLeaderOrFollower | ErrorCode::UnknownTopicOrPartition => Err(ErrorCode::NotCoordinator),
        e => {
            if value.is_some() {
                tracing::warn!(transactional_id, error = e.name(), "writing transaction state failed");
            }
            Err(ErrorCode::CoordinatorNotAvailable)
        }
    }
}

/// Reads one `__transaction_state` partition: every transactional id's latest state.
pub fn load_partition(env: TxnHandle<'_>, p: i32) -> HashMap<String, TxnMetadata> {
    let mut out = HashMap::new();
    env.cluster.replicas.scan_partition(&TopicPartition::new(TRANSACTION_STATE_TOPIC, p), |batch| {
        let Ok(records) = batch.records() else { return };
        for record in records.flatten() {
            match decode(record.key, record.value) {
                Some((id, Some(m))) => {
                    out.insert(id, m);
                }
                Some((id, None)) => {
                    out.remove(&id);
                }
                None => {}
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut m = TxnMetadata::new(42, 60_000, 1_000);
        m.state = TxnState::Ongoing;
        m.partitions = [("a".to_string(), 0), ("a".to_string(), 3), ("__consumer_offsets".to_string(), 7)].into();
        m.start_ms = 900;
        let key = Bytes::from(encode_key("copier"));
        assert_eq!(&key[..2], &[0, 0], "key version 0");
        let value = Bytes::from(encode_value(&m));
        assert_eq!(&value[..2], &[0, 0], "value version 0");
        assert_eq!(decode(Some(key.clone()), Some(value)), Some(("copier".to_string(), Some(m))));
        assert_eq!(decode(Some(key), None), Some(("copier".to_string(), None)));
    }

    #[test]
    fn ids_map_to_partitions_as_in_kafka() {
        // Java: "hello".hashCode() == 99162322.
        assert_eq!(partition_for("hello", 50), 99_162_322 % 50);
        assert_eq!(partition_for("", 50), 0);
    }
}
