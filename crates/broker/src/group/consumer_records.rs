//! The records a consumer-protocol group (KIP-848) keeps in `__consumer_offsets`, with Kafka's
//! record types and layouts: 3 the group's epoch, 5 a member's subscription, 6 the target
//! assignment's epoch, 7 a member's target assignment, 8 a member's current assignment and
//! epochs. (Type 4, the subscribed topics' metadata, is left out as Kafka 4.1 leaves it out; the
//! coordinator that loads the group works it out again from the cluster.) A member that left
//! gets tombstones for its three records, a deleted group for all of them.
//!
//! Each key is its record type (an i16, the key's "version") and the key's fields; each value is
//! its version (0) and the value's fields, flexible.

use bytes::{Bytes, BytesMut};
use sluice_protocol::codec::{Decode, Encode, Uuid, Version};

use super::consumer::{Assignment, ConsumerGroup, ConsumerMember, MemberState};

pub const GROUP_METADATA_TYPE: i16 = 3;
pub const MEMBER_METADATA_TYPE: i16 = 5;
pub const TARGET_METADATA_TYPE: i16 = 6;
pub const TARGET_MEMBER_TYPE: i16 = 7;
pub const CURRENT_MEMBER_TYPE: i16 = 8;

const VALUE_VERSION: i16 = 0;

sluice_protocol::kafka_struct! {
    /// The key of records 3 and 6.
    pub struct GroupKey {
        group_id: String [0, MAX],
    }
}

sluice_protocol::kafka_struct! {
    /// The key of records 5, 7 and 8.
    pub struct MemberKey {
        group_id: String [0, MAX],
        member_id: String [0, MAX],
    }
}

sluice_protocol::kafka_struct! {
    /// Record 3's value (and record 6's: the target's epoch).
    pub struct EpochValue {
        epoch: i32 [0, MAX],
    }
}

sluice_protocol::kafka_struct! {
    /// Record 5's value.
    pub struct MemberMetadataValue {
        instance_id: Option<String> [0, MAX],
        rack_id: Option<String> [0, MAX],
        client_id: String [0, MAX],
        client_host: String [0, MAX],
        subscribed_topic_names: Vec<String> [0, MAX],
        subscribed_topic_regex: Option<String> [0, MAX],
        rebalance_timeout_ms: i32 [0, MAX] = -1,
        server_assignor: Option<String> [0, MAX],
    }
}

sluice_protocol::kafka_struct! {
    /// Partitions of one topic.
    pub struct TopicPartitionsValue {
        topic_id: Uuid [0, MAX],
        partitions: Vec<i32> [0, MAX],
    }
}

sluice_protocol::kafka_struct! {
    /// Record 7's value.
    pub struct TargetMemberValue {
        topic_partitions: Vec<TopicPartitionsValue> [0, MAX],
    }
}

sluice_protocol::kafka_struct! {
    /// Record 8's value.
    pub struct CurrentMemberValue {
        member_epoch: i32 [0, MAX],
        previous_member_epoch: i32 [0, MAX],
        state: i8 [0, MAX],
        assigned_partitions: Vec<TopicPartitionsValue> [0, MAX],
        partitions_pending_revocation: Vec<TopicPartitionsValue> [0, MAX],
    }
}

/// One record: key and value (None: a tombstone).
pub type Record = (Vec<u8>, Option<Vec<u8>>);

fn key<T: Encode>(record_type: i16, key: T) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let v = Version::new(0, false);
    record_type.encode(&mut buf, v);
    key.encode(&mut buf, v);
    buf.to_vec()
}

fn value<T: Encode>(value: T) -> Vec<u8> {
    let mut buf = BytesMut::new();
    VALUE_VERSION.encode(&mut buf, Version::new(0, false));
    value.encode(&mut buf, Version::new(VALUE_VERSION, true));
    buf.to_vec()
}

fn partitions(a: &Assignment) -> Vec<TopicPartitionsValue> {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(id, ps)| TopicPartitionsValue { topic_id: Uuid(*id), partitions: ps.iter().copied().collect() })
        .collect()
}

fn assignment(tps: Vec<TopicPartitionsValue>) -> Assignment {
    let mut a = Assignment::new();
    for tp in tps {
        a.entry(tp.topic_id.0).or_default().extend(tp.partitions);
    }
    a
}

fn state_code(s: MemberState) -> i8 {
    match s {
        MemberState::Stable => 0,
        MemberState::UnrevokedPartitions => 1,
        MemberState::UnreleasedPartitions => 2,
    }
}

fn member_key(record_type: i16, group: &str, member: &str) -> Vec<u8> {
    key(record_type, MemberKey { group_id: group.into(), member_id: member.into() })
}

/// The member a record's key names (records 5, 7 and 8), if it is one.
pub fn member_of(key: &[u8]) -> Option<String> {
    let mut k = Bytes::copy_from_slice(key);
    let t = i16::decode(&mut k, Version::new(0, false)).ok()?;
    if ![MEMBER_METADATA_TYPE, TARGET_MEMBER_TYPE, CURRENT_MEMBER_TYPE].contains(&t) {
        return None;
    }
    MemberKey::decode(&mut k, Version::new(0, false)).ok().map(|k| k.member_id)
}

/// The records that hold `group` now; `gone` are members written before that have left.
pub fn records(group_id: &str, group: &ConsumerGroup, gone: &[String]) -> Vec<Record> {
    let mut out = Vec::new();
    for m in gone {
        for t in [CURRENT_MEMBER_TYPE, TARGET_MEMBER_TYPE, MEMBER_METADATA_TYPE] {
            out.push((member_key(t, group_id, m), None));
        }
    }
    let group_key = || GroupKey { group_id: group_id.into() };
    out.push((key(GROUP_METADATA_TYPE, group_key()), Some(value(EpochValue { epoch: group.group_epoch }))));
    for m in group.members.values() {
        out.push((
            member_key(MEMBER_METADATA_TYPE, group_id, &m.member_id),
            Some(value(MemberMetadataValue {
                instance_id: m.instance_id.clone(),
                rack_id: m.rack_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                subscribed_topic_names: m.subscribed_topic_names.clone(),
                subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                server_assignor: m.server_assignor.clone(),
            })),
        ));
    }
    out.push((key(TARGET_METADATA_TYPE, group_key()), Some(value(EpochValue { epoch: group.assignment_epoch }))));
    for (member, target) in &group.target {
        out.push((
            member_key(TARGET_MEMBER_TYPE, group_id, member),
            Some(value(TargetMemberValue { topic_partitions: partitions(target) })),
        ));
    }
    for m in group.members.values() {
        out.push((
            member_key(CURRENT_MEMBER_TYPE, group_id, &m.member_id),
            Some(value(CurrentMemberValue {
                member_epoch: m.member_epoch,
                previous_member_epoch: m.previous_member_epoch,
                state: state_code(m.state),
                assigned_partitions: partitions(&m.assigned),
                partitions_pending_revocation: partitions(&m.pending_revocation),
            })),
        ));
    }
    out
}

/// Tombstones for every record of a deleted group that had `members`.
pub fn tombstones(group_id: &str, members: &[String]) -> Vec<Record> {
    let mut out = records(group_id, &ConsumerGroup::default(), members);
    out.retain(|(_, v)| v.is_none());
    out.push((key(TARGET_METADATA_TYPE, GroupKey { group_id: group_id.into() }), None));
    out.push((key(GROUP_METADATA_TYPE, GroupKey { group_id: group_id.into() }), None));
    out
}

/// A consumer-group record read back from `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsumerRecord {
    /// The group's epoch (None: the group is gone).
    GroupEpoch(Option<i32>),
    TargetEpoch(Option<i32>),
    Member {
        member_id: String,
        value: Option<MemberMetadataValue>,
    },
    Target {
        member_id: String,
        value: Option<Assignment>,
    },
    Current {
        member_id: String,
        value: Option<CurrentMemberValue>,
    },
}

/// Decodes a record of types 3 and 5-8 (None for other types or a malformed one): its group id
/// and what it says.
pub fn decode(record_type: i16, mut key: Bytes, value: Option<Bytes>) -> Option<(String, ConsumerRecord)> {
    let kv = Version::new(0, false);
    let value_of = |value: Option<Bytes>| -> Option<Option<Bytes>> {
        match value {
            None => Some(None),
            Some(mut v) => {
                let version = i16::decode(&mut v, kv).ok()?;
                (version == VALUE_VERSION).then_some(Some(v))
            }
        }
    };
    let vv = Version::new(VALUE_VERSION, true);
    match record_type {
        GROUP_METADATA_TYPE | TARGET_METADATA_TYPE => {
            let k = GroupKey::decode(&mut key, kv).ok()?;
            let epoch = match value_of(value)? {
                None => None,
                Some(mut v) => Some(EpochValue::decode(&mut v, vv).ok()?.epoch),
            };
            let record = if record_type == GROUP_METADATA_TYPE {
                ConsumerRecord::GroupEpoch(epoch)
            } else {
                ConsumerRecord::TargetEpoch(epoch)
            };
            Some((k.group_id, record))
        }
        MEMBER_METADATA_TYPE | TARGET_MEMBER_TYPE | CURRENT_MEMBER_TYPE => {
            let k = MemberKey::decode(&mut key, kv).ok()?;
            let v = value_of(value)?;
            let member_id = k.member_id;
            let record = match record_type {
                MEMBER_METADATA_TYPE => ConsumerRecord::Member {
                    member_id,
                    value: match v {
                        None => None,
                        Some(mut v) => Some(MemberMetadataValue::decode(&mut v, vv).ok()?),
                    },
                },
                TARGET_MEMBER_TYPE => ConsumerRecord::Target {
                    member_id,
                    value: match v {
                        None => None,
                        Some(mut v) => Some(assignment(TargetMemberValue::decode(&mut v, vv).ok()?.topic_partitions)),
                    },
                },
                _ => ConsumerRecord::Current {
                    member_id,
                    value: match v {
                        None => None,
                        Some(mut v) => Some(CurrentMemberValue::decode(&mut v, vv).ok()?),
                    },
                },
            };
            Some((k.group_id, record))
        }
        _ => None,
    }
}

/// Replays one record onto `group` (a group of the consumer protocol being loaded). Members come
/// back with a whole session from `now_ms`; their revocation deadlines start again too.
pub fn apply(group: &mut ConsumerGroup, record: ConsumerRecord, now_ms: i64, session_timeout_ms: i32) {
    let blank = |member_id: &str| ConsumerMember {
        member_id: member_id.to_string(),
        instance_id: None,
        rack_id: None,
        client_id: String::new(),
        client_host: String::new(),
        member_epoch: 0,
        previous_member_epoch: 0,
        state: MemberState::Stable,
        rebalance_timeout_ms: -1,
        subscribed_topic_names: Vec::new(),
        subscribed_topic_regex: None,
        server_assignor: None,
        assigned: Assignment::new(),
        pending_revocation: Assignment::new(),
        session_deadline_ms: now_ms + i64::from(session_timeout_ms),
        revocation_deadline_ms: None,
        classic: None,
    };
    match record {
        ConsumerRecord::GroupEpoch(epoch) => group.group_epoch = epoch.unwrap_or(0),
        ConsumerRecord::TargetEpoch(epoch) => group.assignment_epoch = epoch.unwrap_or(0),
        ConsumerRecord::Member { member_id, value: None } => {
            group.members.remove(&member_id);
        }
        ConsumerRecord::Member { member_id, value: Some(v) } => {
            let m = group.members.entry(member_id.clone()).or_insert_with(|| blank(&member_id));
            m.instance_id = v.instance_id;
            m.rack_id = v.rack_id;
            m.client_id = v.client_id;
            m.client_host = v.client_host;
            m.subscribed_topic_names = v.subscribed_topic_names;
            m.subscribed_topic_regex = v.subscribed_topic_regex;
            m.rebalance_timeout_ms = v.rebalance_timeout_ms;
            m.server_assignor = v.server_assignor;
        }
        ConsumerRecord::Target { member_id, value: None } => {
            group.target.remove(&member_id);
        }
        ConsumerRecord::Target { member_id, value: Some(a) } => {
            group.target.insert(member_id, a);
        }
        ConsumerRecord::Current { member_id, value: None } => {
            if let Some(m) = group.members.get_mut(&member_id) {
                m.assigned.clear();
                m.pending_revocation.clear();
            }
        }
        ConsumerRecord::Current { member_id, value: Some(v) } => {
            let m = group.members.entry(member_id.clone()).or_insert_with(|| blank(&member_id));
            m.member_epoch = v.member_epoch;
            m.previous_member_epoch = v.previous_member_epoch;
            m.state = match v.state {
                1 => MemberState::UnrevokedPartitions,
                2 => MemberState::UnreleasedPartitions,
                _ => MemberState::Stable,
            };
            m.assigned = assignment(v.assigned_partitions);
            m.pending_revocation = assignment(v.partitions_pending_revocation);
            m.revocation_deadline_ms = (m.state == MemberState::UnrevokedPartitions)
                .then(|| now_ms + i64::from(m.rebalance_timeout_ms.max(0)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::consumer::{ConsumerConfig, HeartbeatRequest, TopicInfo, Topics};

    #[test]
    fn a_group_written_and_read_back_is_the_same_group() {
        let topics: Topics = [("a".to_string(), TopicInfo { id: [7; 16], partitions: 4 })].into();
        let mut g = ConsumerGroup::default();
        for m in ["A", "B"] {
            let join = HeartbeatRequest {
                member_id: m.into(),
                rebalance_timeout_ms: 5_000,
                subscribed_topic_names: Some(vec!["a".into()]),
                owned: Some(Assignment::new()),
                instance_id: (m == "B").then(|| "static".to_string()),
                ..Default::default()
            };
            g.heartbeat(0, join, &topics, &ConsumerConfig::default(), 45_000, 5_000).expect("joined");
        }
        let written = records("g", &g, &["C".to_string()]);
        assert_eq!(written.iter().filter(|(_, v)| v.is_none()).count(), 3, "the departed member's tombstones");
        let mut back = ConsumerGroup::default();
        for (k, v) in written {
            let mut k = Bytes::from(k);
            let t = i16::decode(&mut k, Version::new(0, false)).expect("type");
            let (group, record) = decode(t, k, v.map(Bytes::from)).expect("decodes");
            assert_eq!(group, "g");
            apply(&mut back, record, 0, 45_000);
        }
        back.restore("g");
        assert_eq!((back.group_epoch, back.assignment_epoch), (g.group_epoch, g.assignment_epoch));
        assert_eq!(back.target, g.target);
        for (id, m) in &g.members {
            let b = &back.members[id];
            assert_eq!(
                (
                    b.member_epoch,
                    &b.assigned,
                    &b.pending_revocation,
                    b.state,
                    &b.instance_id,
                    &b.subscribed_topic_names
                ),
                (
                    m.member_epoch,
                    &m.assigned,
                    &m.pending_revocation,
                    m.state,
                    &m.instance_id,
                    &m.subscribed_topic_names
                )
            );
        }
        let gone = tombstones("g", &["A".into(), "B".into()]);
        assert!(gone.iter().all(|(_, v)| v.is_none()) && gone.len() == 8);
    }
}
