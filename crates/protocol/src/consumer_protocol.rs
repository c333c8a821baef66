//! The embedded consumer protocol (`ConsumerProtocolSubscription` and
//! `ConsumerProtocolAssignment`, versions 0-3): what classic consumers put in JoinGroup's
//! protocol metadata and SyncGroup's assignments. Each is a version (i16) then the struct at
//! that version, never flexible; a version newer than 3 is read as 3 (its extra fields follow
//! and are ignored, as Kafka reads them).

use bytes::{Bytes, BytesMut};

use crate::codec::{Decode, DecodeResult, Encode, Version};

/// The newest version understood.
pub const MAX_VERSION: i16 = 3;

kafka_struct! {
    /// A classic consumer's subscription.
    pub struct ConsumerProtocolSubscription {
        topics: Vec<String> [0, MAX],
        user_data: Option<Bytes> [0, MAX],
        /// v1+: the partitions the member owns (cooperative rebalancing).
        owned_partitions: Vec<ConsumerProtocolTopicPartitions> [1, MAX],
        /// v2+: the generation of the owned partitions.
        generation_id: i32 [2, MAX] = -1,
        /// v3+
        rack_id: Option<String> [3, MAX],
    }
}

kafka_struct! {
    /// Partitions of one topic, by name.
    pub struct ConsumerProtocolTopicPartitions {
        topic: String [0, MAX],
        partitions: Vec<i32> [0, MAX],
    }
}

kafka_struct! {
    /// A classic consumer's assignment.
    pub struct ConsumerProtocolAssignment {
        assigned_partitions: Vec<ConsumerProtocolTopicPartitions> [0, MAX],
        user_data: Option<Bytes> [0, MAX],
    }
}

/// Decodes a subscription and the version it was written at.
pub fn decode_subscription(mut b: Bytes) -> DecodeResult<(i16, ConsumerProtocolSubscription)> {
    let version = i16::decode(&mut b, Version::new(0, false))?;
    let read_as = version.clamp(0, MAX_VERSION);
    Ok((version, ConsumerProtocolSubscription::decode(&mut b, Version::new(read_as, false))?))
}

/// Decodes an assignment.
pub fn decode_assignment(mut b: Bytes) -> DecodeResult<ConsumerProtocolAssignment> {
    let version = i16::decode(&mut b, Version::new(0, false))?;
    ConsumerProtocolAssignment::decode(&mut b, Version::new(version.clamp(0, MAX_VERSION), false))
}

/// Encodes an assignment at `version` (clamped to 0-3).
pub fn encode_assignment(assignment: &ConsumerProtocolAssignment, version: i16) -> Bytes {
    let version = version.clamp(0, MAX_VERSION);
    let mut buf = BytesMut::new();
    version.encode(&mut buf, Version::new(0, false));
    assignment.encode(&mut buf, Version::new(version, false));
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_and_assignments_round_trip_at_every_version() {
        for version in 0..=MAX_VERSION {
            let sub = ConsumerProtocolSubscription {
                topics: vec!["a".into()],
                user_data: None,
                owned_partitions: if version >= 1 {
                    vec![ConsumerProtocolTopicPartitions { topic: "a".into(), partitions: vec![1, 2] }]
                } else {
                    Vec::new()
                },
                generation_id: if version >= 2 { 4 } else { -1 },
                rack_id: None,
            };
            let mut buf = BytesMut::new();
            version.encode(&mut buf, Version::new(0, false));
            sub.encode(&mut buf, Version::new(version, false));
            assert_eq!(decode_subscription(buf.freeze()).expect("decodes"), (version, sub));
            let a = ConsumerProtocolAssignment {
                assigned_partitions: vec![ConsumerProtocolTopicPartitions { topic: "a".into(), partitions: vec![0] }],
                user_data: None,
            };
            assert_eq!(decode_assignment(encode_assignment(&a, version)).expect("decodes"), a);
        }
    }

    #[test]
    fn a_newer_version_is_read_as_the_newest_known() {
        let mut buf = BytesMut::new();
        9i16.encode(&mut buf, Version::new(0, false));
        let sub = ConsumerProtocolSubscription { topics: vec!["t".into()], ..Default::default() };
        sub.encode(&mut buf, Version::new(3, false));
        buf.extend_from_slice(&[1, 2, 3]);
        assert_eq!(decode_subscription(buf.freeze()).expect("decodes").1.topics, vec!["t".to_string()]);
    }
}
