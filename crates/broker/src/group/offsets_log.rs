//! Committed offsets persisted in the internal topic `__consumer_offsets`, in Kafka's record
//! formats, so they survive restarts (and, with replication, move with partition leadership).
//!
//! A group's records live in partition `abs(java_hash(group)) % 50` (Kafka's choice, so the same
//! group maps to the same partition as in Kafka). One record per committed partition:
//!
//! ```text
//! key   (OffsetCommitKey, version 0): version i16 = 1 | group string | topic string | partition i32
//! value (OffsetCommitValue, version 3): version i16 = 3 | offset i64 | leader_epoch i32 |
//!                                      metadata string | commit_timestamp i64
//! ```
//!
//! A null value (tombstone) deletes the offset. The topic is compacted (`cleanup.policy=compact`)
//! so only the latest record per key needs to be kept. Group membership is not persisted yet:
//! members rejoin after a restart, as they would after a coordinator move.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use sluice_protocol::RecordBatchBuilder;
use sluice_protocol::codec::{Decode, Encode, Version};
use sluice_storage::TopicPartition;

use super::state::{CommittedOffset, GroupSnapshot, MemberSnapshot};
use crate::error::ErrorCode;
use crate::group::GroupCoordinator;
use crate::topic_admin::TopicAdmin;

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// What the group coordinator's log paths may touch: the groups, and through the topic admin
/// the cluster (to find, create, append to and read `__consumer_offsets`).
#[derive(Debug, Clone, Copy)]
pub struct GroupLog<'a> {
    pub groups: &'a GroupCoordinator,
    pub admin: &'a TopicAdmin,
    /// `offsets.topic.replication.factor`.
    pub replication_factor: i16,
    /// The group configs (`offset.metadata.max.bytes`, ...).
    pub config: &'a crate::group::state::GroupConfig,
}

/// `offsets.topic.num.partitions`
pub const OFFSETS_TOPIC_PARTITIONS: i32 = 50;
/// `offsets.topic.segment.bytes`
const OFFSETS_TOPIC_SEGMENT_BYTES: &str = "104857600";
/// Key versions 0 and 1 are offset commits; 2 is group metadata.
const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
const GROUP_METADATA_KEY_VERSION: i16 = 2;
const GROUP_METADATA_VALUE_VERSION: i16 = 3;

sluice_protocol::kafka_struct! {
    /// The key of a group metadata record (after its version 2): the group id.
    pub struct GroupMetadataKey {
        group: String [0, MAX],
    }
}

sluice_protocol::kafka_struct! {
    /// A group's membership (after its version), Kafka's GroupMetadataValue.
    pub struct GroupMetadataValue {
        protocol_type: String [0, MAX],
        generation: i32 [0, MAX],
        protocol: Option<String> [0, MAX],
        leader: Option<String> [0, MAX],
        current_state_timestamp: i64 [2, MAX],
        members: Vec<GroupMetadataMember> [0, MAX],
    }
}

sluice_protocol::kafka_struct! {
    /// One member in a GroupMetadataValue.
    pub struct GroupMetadataMember {
        member_id: String [0, MAX],
        group_instance_id: Option<String> [3, MAX],
        client_id: String [0, MAX],
        client_host: String [0, MAX],
        rebalance_timeout: i32 [1, MAX],
        session_timeout: i32 [0, MAX],
        subscription: Bytes [0, MAX],
        assignment: Bytes [0, MAX],
    }
}

/// One record of `__consumer_offsets`, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Offset {
        group: String,
        tp: (String, i32),
        committed: Option<CommittedOffset>,
    },
    Group {
        group: String,
        snapshot: Option<GroupSnapshot>,
    },
    /// A record of a consumer-protocol group (KIP-848, types 3 and 5-8).
    Consumer {
        group: String,
        record: super::consumer_records::ConsumerRecord,
    },
}

fn encode_group_key(group: &str) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let v = Version::new(0, false);
    GROUP_METADATA_KEY_VERSION.encode(&mut buf, v);
    GroupMetadataKey { group: group.into() }.encode(&mut buf, v);
    buf.to_vec()
}

fn encode_group_value(s: &GroupSnapshot) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let v = Version::new(GROUP_METADATA_VALUE_VERSION, false);
    GROUP_METADATA_VALUE_VERSION.encode(&mut buf, v);
    GroupMetadataValue {
        protocol_type: s.protocol_type.clone(),
        generation: s.generation_id,
        protocol: s.protocol_name.clone(),
        leader: s.leader_id.clone(),
        current_state_timestamp: s.state_timestamp_ms,
        members: s
            .members
            .iter()
            .map(|m| GroupMetadataMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout: m.rebalance_timeout_ms,
                session_timeout: m.session_timeout_ms,
                subscription: m.subscription.clone(),
                assignment: m.assignment.clone(),
            })
            .collect(),
    }
    .encode(&mut buf, v);
    buf.to_vec()
}

/// What a client is told when a write to `__consumer_offsets` fails, as Kafka's group
/// coordinator maps it: the partition short of replicas or missing is COORDINATOR_NOT_AVAILABLE
/// (retriable: find the coordinator again), leadership gone is NOT_COORDINATOR, a batch too large
/// is INVALID_COMMIT_OFFSET_SIZE.
pub fn coordinator_error(e: ErrorCode) -> ErrorCode {
    match e {
        ErrorCode::UnknownTopicOrPartition | ErrorCode::NotEnoughReplicas | ErrorCode::NotEnoughReplicasAfterAppend => {
            ErrorCode::CoordinatorNotAvailable
        }
        ErrorCode::NotLeaderOrFollower | ErrorCode::KafkaStorageError => ErrorCode::NotCoordinator,
        ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge | ErrorCode::InvalidFetchSize => {
            ErrorCode::InvalidCommitOffsetSize
        }
        other => other,
    }
}

/// Writes a group's metadata (None: a tombstone for a deleted group).
pub async fn append_group(log: GroupLog<'_>, group: &str, snapshot: Option<&GroupSnapshot>) -> Result<(), ErrorCode> {
    ensure_topic(log).await?;
    let now = snapshot.map_or(0, |s| s.state_timestamp_ms);
    let mut builder = RecordBatchBuilder::new(now);
    builder.append(now, Some(&encode_group_key(group)), snapshot.map(encode_group_value).as_deref(), &[]);
    let records = builder.build();
    let tp = TopicPartition::new(OFFSETS_TOPIC, partition_for(group));
    let result = log.admin.cluster.replicas.append(&tp, &records, -1, std::time::Duration::from_secs(30)).await;
    if result.error == ErrorCode::None { Ok(()) } else { Err(coordinator_error(result.error)) }
}

/// Writes records of a consumer-protocol group (KIP-848) in one batch.
pub async fn append_records(
    log: GroupLog<'_>,
    group: &str,
    records: &[super::consumer_records::Record],
) -> Result<(), ErrorCode> {
    if records.is_empty() {
        return Ok(());
    }
    ensure_topic(log).await?;
    let now = log.groups.now_ms();
    let mut builder = RecordBatchBuilder::new(now);
    for (key, value) in records {
        builder.append(now, Some(key), value.as_deref(), &[]);
    }
    let batch = builder.build();
    let tp = TopicPartition::new(OFFSETS_TOPIC, partition_for(group));
    let result = log.admin.cluster.replicas.append(&tp, &batch, -1, std::time::Duration::from_secs(30)).await;
    if result.error == ErrorCode::None { Ok(()) } else { Err(coordinator_error(result.error)) }
}

sluice_protocol::kafka_struct! {
    /// The key of an offset commit record (after its version).
    pub struct OffsetCommitKey {
        group: String [0, MAX],
        topic: String [0, MAX],
        partition: i32 [0, MAX],
    }
}

sluice_protocol::kafka_struct! {
    /// The value of an offset commit record (after its version).
    pub struct OffsetCommitValue {
        offset: i64 [0, MAX],
        leader_epoch: i32 [3, MAX],
        metadata: String [0, MAX],
        commit_timestamp: i64 [0, MAX],
        expire_timestamp: i64 [1, 1],
    }
}

/// Java's `String.hashCode` over UTF-16 code units, as Kafka uses to place groups.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The partition of an internal topic with `partitions` partitions that holds `key` (a group
/// or a transactional id): `abs(java_hash(key)) % partitions`, as Kafka places them.
pub fn key_partition(key: &str, partitions: i32) -> i32 {
    let h = java_string_hash(key);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

/// The `__consumer_offsets` partition that holds `group`.
pub fn partition_for(group: &str) -> i32 {
    key_partition(group, OFFSETS_TOPIC_PARTITIONS)
}

fn encode_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let v = Version::new(0, false);
    OFFSET_COMMIT_KEY_VERSION.encode(&mut buf, v);
    OffsetCommitKey { group: group.into(), topic: topic.into(), partition }.encode(&mut buf, v);
    buf.to_vec()
}

fn encode_value(c: &CommittedOffset) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let v = Version::new(OFFSET_COMMIT_VALUE_VERSION, false);
    OFFSET_COMMIT_VALUE_VERSION.encode(&mut buf, v);
    OffsetCommitValue {
        offset: c.offset,
        leader_epoch: c.leader_epoch,
        metadata: c.metadata.clone().unwrap_or_default(),
        commit_timestamp: c.commit_timestamp_ms,
        expire_timestamp: -1,
    }
    .encode(&mut buf, v);
    buf.to_vec()
}

/// Creates `__consumer_offsets` if it does not exist yet, with `offsets.topic.replication.factor`
/// replicas, or as many as there are live brokers when fewer (so a single node works without
/// setting it; Kafka would refuse until enough brokers are up).
pub async fn ensure_topic(log: GroupLog<'_>) -> Result<(), ErrorCode> {
    if log.admin.cluster.topic_meta(OFFSETS_TOPIC).is_some() {
        return Ok(());
    }
    let configs = [
        ("cleanup.policy".to_string(), Some("compact".to_string())),
        ("segment.bytes".to_string(), Some(OFFSETS_TOPIC_SEGMENT_BYTES.to_string())),
    ];
    let live = log.admin.cluster.link.cache.read(|v| v.brokers.len()).max(1);
    let rf = log.replication_factor.min(live as i16);
    match crate::topic_admin::create_topic(
        log.admin,
        OFFSETS_TOPIC,
        OFFSETS_TOPIC_PARTITIONS,
        rf,
        &configs,
        false,
        10_000,
    )
    .await
    {
        Ok(_) | Err((ErrorCode::TopicAlreadyExists, _)) => Ok(()),
        Err((code, message)) => {
            tracing::error!(error = code.name(), %message, "cannot create __consumer_offsets");
            Err(ErrorCode::CoordinatorNotAvailable)
        }
    }
}

/// How long a request to a coordinator waits for this broker to settle whether it coordinates
/// the group, when its view does not say yet (see [`check_coordinator`]).
pub const COORDINATOR_TAKEOVER_WAIT_MS: u64 = 5_000;

/// Whether this broker coordinates `group`: it leads the group's `__consumer_offsets` partition.
///
/// Another broker's FindCoordinator may point here before this broker knows it: its view may
/// not have the partition's new state yet, or keeper names it the leader while its replica
/// manager is still taking the leadership (creating or loading the log). librdkafka reports both
/// answers Kafka would give then (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS) to the
/// application as a failed offset commit, without retrying it, so the request waits (at most
/// [`COORDINATOR_TAKEOVER_WAIT_MS`], woken by every change of the view and of the roles) until
/// this broker leads the partition or its view names another leader. Still undecided then, it
/// is COORDINATOR_LOAD_IN_PROGRESS when keeper names this broker, NOT_COORDINATOR otherwise.
pub async fn check_coordinator(log: GroupLog<'_>, group: &str) -> Result<(), ErrorCode> {
    let partition = partition_for(group);
    let tp = TopicPartition::new(OFFSETS_TOPIC, partition);
    let me = log.admin.cluster.broker_id;
    let leads = || log.admin.cluster.replicas.partition(&tp).is_some_and(|p| p.is_leader());
    let undecided = || {
        !leads() && log.admin.cluster.link.cache.read(|v| v.leader(OFFSETS_TOPIC, partition)).is_none_or(|l| l == me)
    };
    if undecided() {
        log.admin.cluster.wait_until(COORDINATOR_TAKEOVER_WAIT_MS, || !undecided()).await;
    }
    check_coordinator_now(log, group)
}

/// [`check_coordinator`] without waiting: for requests that only read (DescribeGroups).
pub fn check_coordinator_now(log: GroupLog<'_>, group: &str) -> Result<(), ErrorCode> {
    let partition = partition_for(group);
    match log.admin.cluster.replicas.partition(&TopicPartition::new(OFFSETS_TOPIC, partition)) {
        Some(p) if p.is_leader() => Ok(()),
        _ if log.admin.cluster.named_leader(OFFSETS_TOPIC, partition) => Err(ErrorCode::CoordinatorLoadInProgress),
        _ => Err(ErrorCode::NotCoordinator),
    }
}

/// Loads or unloads the groups of an `__consumer_offsets` partition as this broker gains or
/// loses its leadership (Kafka's `onElection` / `onResignation`).
pub async fn on_leadership(log: GroupLog<'_>, tp: &TopicPartition, leader: bool) {
    if tp.topic != OFFSETS_TOPIC {
        return;
    }
    let p = tp.partition;
    log.groups.unload_txn_offsets(p);
    if !leader {
        let gone = log.groups.with_groups(|g, _| g.unload(|group| partition_for(group) == p));
        if gone > 0 {
            tracing::info!(partition = p, groups = gone, "unloaded groups: no longer their coordinator");
        }
        return;
    }
    // The read and the add together, so a marker's completion comes before both (the read
    // sees the marker) or after both (it finds the offsets to complete).
    let entries = log.groups.loading_txn_offsets(|| {
        let (entries, open_txns) = load_partition(log, p);
        for (producer_id, pending) in open_txns {
            let offsets = pending
                .into_iter()
                .filter_map(|e| match e {
                    Entry::Offset { group, tp, committed: Some(c) } => Some((group, tp, c)),
                    _ => None,
                })
                .collect();
            log.groups.add_txn_offsets(producer_id, offsets);
        }
        entries
    });
    let now = log.groups.now_ms();
    let session_timeout_ms = log.config.consumer.session_timeout_ms;
    let count = entries.len();
    log.groups.with_groups(|g, _| {
        // Groups already live here (requests may arrive as soon as the role is taken, before
        // this replay) are newer than the log; everything else comes from it.
        let live: std::collections::HashSet<String> =
            g.groups().filter(|x| partition_for(&x.group_id) == p).map(|x| x.group_id.clone()).collect();
        for entry in entries {
            match entry {
                Entry::Offset { group, tp, committed } if !live.contains(&group) => {
                    g.load_offset(&group, tp, committed)
                }
                Entry::Group { group, snapshot } if !live.contains(&group) => g.load_group(&group, snapshot, now),
                Entry::Consumer { group, record } if !live.contains(&group) => {
                    g.load_consumer_record(&group, record, now, session_timeout_ms)
                }
                _ => {}
            }
        }
        g.finish_consumer_load(|group| partition_for(group) == p && !live.contains(group));
    });
    if count > 0 {
        tracing::info!(partition = p, records = count, "loaded groups: now their coordinator");
    }
}

/// Appends commits (`None`: a deletion) of one group, waiting for them to be durable in the
/// sense of acks=all.
pub async fn append(
    log: GroupLog<'_>,
    group: &str,
    entries: &[((String, i32), Option<CommittedOffset>)],
) -> Result<i64, ErrorCode> {
    let now = entries.iter().filter_map(|(_, c)| c.as_ref().map(|c| c.commit_timestamp_ms)).max().unwrap_or(0);
    append_at(log, group, now, entries).await
}

/// [`append`] with the records' timestamp given: the coordinator's clock, where a commit's own
/// time may be the client's (OffsetCommit v1), as Kafka stamps the records it writes.
pub async fn append_at(
    log: GroupLog<'_>,
    group: &str,
    now: i64,
    entries: &[((String, i32), Option<CommittedOffset>)],
) -> Result<i64, ErrorCode> {
    if entries.is_empty() {
        return Ok(-1);
    }
    ensure_topic(log).await?;
    let mut builder = RecordBatchBuilder::new(now);
    for ((topic, partition), committed) in entries {
        let key = encode_key(group, topic, *partition);
        let value = committed.as_ref().map(encode_value);
        builder.append(now, Some(&key), value.as_deref(), &[]);
    }
    let records = builder.build();
    let tp = TopicPartition::new(OFFSETS_TOPIC, partition_for(group));
    let result = log.admin.cluster.replicas.append(&tp, &records, -1, std::time::Duration::from_secs(30)).await;
    if result.error == ErrorCode::None { Ok(result.base_offset) } else { Err(coordinator_error(result.error)) }
}

/// Reads every record of one `__consumer_offsets` partition, in log order, for replay.
/// Transactional offset commits count once their commit marker follows (and not at all after
/// an abort); those of transactions still open are returned apart, by producer id.
pub fn load_partition(log: GroupLog<'_>, p: i32) -> (Vec<Entry>, HashMap<i64, Vec<Entry>>) {
    let mut out = Vec::new();
    let mut open: HashMap<i64, Vec<Entry>> = HashMap::new();
    log.admin.cluster.replicas.scan_partition(&TopicPartition::new(OFFSETS_TOPIC, p), |batch| {
        let h = *batch.header();
        if h.attributes.is_control() {
            let pending = open.remove(&h.producer_id).unwrap_or_default();
            if let Ok(marker) = sluice_protocol::control::parse_marker(batch.as_bytes())
                && marker.control_type == sluice_protocol::control::ControlType::Commit
            {
                out.extend(pending);
            }
            return;
        }
        let Ok(records) = batch.records() else { return };
        let entries = records.flatten().filter_map(|record| decode(record.key, record.value));
        if h.attributes.is_transactional() {
            open.entry(h.producer_id).or_default().extend(entries);
        } else {
            out.extend(entries);
        }
    });
    (out, open)
}

/// Writes tombstones for committed offsets the coordinator dropped (`removed`: group and
/// partition), one batch per group; `why` is logged.
pub async fn write_tombstones(log: GroupLog<'_>, removed: Vec<(String, (String, i32))>, why: &str) {
    let mut by_group: std::collections::BTreeMap<String, Vec<_>> = std::collections::BTreeMap::new();
    for (group, tp) in removed {
        by_group.entry(group).or_default().push((tp, None));
    }
    for (group, tombstones) in by_group {
        tracing::info!(%group, partitions = tombstones.len(), why, "dropping committed offsets");
        if let Err(e) = append(log, &group, &tombstones).await {
            tracing::warn!(%group, error = e.name(), "writing offset tombstones failed");
        }
    }
}

/// TxnOffsetCommit: writes a producer's offset commits for `group` as a transactional batch
/// (no sequence, as Kafka writes them); they take effect when the transaction commits.
pub async fn append_txn(
    log: GroupLog<'_>,
    group: &str,
    producer_id: i64,
    producer_epoch: i16,
    entries: &[((String, i32), CommittedOffset)],
) -> Result<(), ErrorCode> {
    let now = entries.iter().map(|(_, c)| c.commit_timestamp_ms).max().unwrap_or(0);
    let mut builder = RecordBatchBuilder::new(now)
        .producer(producer_id, producer_epoch, sluice_protocol::record_batch::NO_SEQUENCE)
        .attributes(sluice_protocol::Attributes::TRANSACTIONAL);
    for ((topic, partition), committed) in entries {
        builder.append(now, Some(&encode_key(group, topic, *partition)), Some(&encode_value(committed)), &[]);
    }
    let records = builder.build();
    let tp = TopicPartition::new(OFFSETS_TOPIC, partition_for(group));
    let result = log.admin.cluster.replicas.append(&tp, &records, -1, std::time::Duration::from_secs(30)).await;
    if result.error == ErrorCode::None { Ok(()) } else { Err(coordinator_error(result.error)) }
}

fn decode(key: Option<Bytes>, value: Option<Bytes>) -> Option<Entry> {
    let mut key = key?;
    let key_version = i16::decode(&mut key, Version::new(0, false)).ok()?;
    if key_version == GROUP_METADATA_KEY_VERSION {
        let k = GroupMetadataKey::decode(&mut key, Version::new(0, false)).ok()?;
        let snapshot = match value {
            None => None,
            Some(mut value) => {
                let version = i16::decode(&mut value, Version::new(0, false)).ok()?;
                let v = GroupMetadataValue::decode(&mut value, Version::new(version, version >= 4)).ok()?;
                Some(GroupSnapshot {
                    group_id: k.group.clone(),
                    protocol_type: v.protocol_type,
                    generation_id: v.generation,
                    protocol_name: v.protocol,
                    leader_id: v.leader,
                    state_timestamp_ms: v.current_state_timestamp,
                    members: v
                        .members
                        .into_iter()
                        .map(|m| MemberSnapshot {
                            member_id: m.member_id,
                            group_instance_id: m.group_instance_id,
                            client_id: m.client_id,
                            client_host: m.client_host,
                            rebalance_timeout_ms: m.rebalance_timeout,
                            session_timeout_ms: m.session_timeout,
                            subscription: m.subscription,
                            assignment: m.assignment,
                        })
                        .collect(),
                })
            }
        };
        return Some(Entry::Group { group: k.group, snapshot });
    }
    if let Some((group, record)) = super::consumer_records::decode(key_version, key.clone(), value.clone()) {
        return Some(Entry::Consumer { group, record });
    }
    if !(0..=1).contains(&key_version) {
        return None; // record types this broker does not use
    }
    let k = OffsetCommitKey::decode(&mut key, Version::new(0, false)).ok()?;
    let committed = match value {
        None => None,
        Some(mut value) => {
            let version = i16::decode(&mut value, Version::new(0, false)).ok()?;
            let v = OffsetCommitValue::decode(&mut value, Version::new(version, version >= 4)).ok()?;
            Some(CommittedOffset {
                offset: v.offset,
                leader_epoch: if version >= 3 { v.leader_epoch } else { -1 },
                metadata: Some(v.metadata),
                commit_timestamp_ms: v.commit_timestamp,
            })
        }
    };
    Some(Entry::Offset { group: k.group, tp: (k.topic, k.partition), committed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_and_partition_match_kafka() {
        // Java: "".hashCode() == 0, "a".hashCode() == 97, "hello".hashCode() == 99162322.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(partition_for("hello"), 99_162_322 % 50);
    }

    #[test]
    fn records_round_trip_including_tombstones() {
        let c = CommittedOffset { offset: 42, leader_epoch: 3, metadata: Some("m".into()), commit_timestamp_ms: 1000 };
        let key = Bytes::from(encode_key("g", "t", 7));
        let value = Bytes::from(encode_value(&c));
        assert_eq!(&key[..2], &[0, 1], "key version 1");
        assert_eq!(&value[..2], &[0, 3], "value version 3");
        assert_eq!(
            decode(Some(key.clone()), Some(value)),
            Some(Entry::Offset { group: "g".into(), tp: ("t".into(), 7), committed: Some(c) })
        );
        assert_eq!(
            decode(Some(key), None),
            Some(Entry::Offset { group: "g".into(), tp: ("t".into(), 7), committed: None })
        );
    }

    #[test]
    fn group_metadata_round_trips() {
        let s = GroupSnapshot {
            group_id: "g".into(),
            protocol_type: "consumer".into(),
            generation_id: 4,
            protocol_name: Some("range".into()),
            leader_id: Some("m1".into()),
            state_timestamp_ms: 77,
            members: vec![MemberSnapshot {
                member_id: "m1".into(),
                group_instance_id: Some("pod".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 30_000,
                session_timeout_ms: 10_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        let key = Bytes::from(encode_group_key("g"));
        assert_eq!(&key[..2], &[0, 2], "group metadata key version 2");
        let entry = decode(Some(key.clone()), Some(Bytes::from(encode_group_value(&s))));
        assert_eq!(entry, Some(Entry::Group { group: "g".into(), snapshot: Some(s) }));
        assert_eq!(decode(Some(key), None), Some(Entry::Group { group: "g".into(), snapshot: None }));
    }
}
