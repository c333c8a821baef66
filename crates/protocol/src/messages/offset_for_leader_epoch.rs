//! OffsetForLeaderEpoch (key 23): where a leader epoch ends in the leader's log, so that a
//! follower or consumer can detect divergence and truncate. Kafka's
//! `OffsetForLeaderEpochRequest.json` / `OffsetForLeaderEpochResponse.json`; we speak versions
//! 0 to 4, flexible from 4. Version 1 adds the epoch found to the response, version 2 the
//! asker's current leader epoch (fencing) and the throttle time, version 3 the replica id.

kafka_struct! {
    /// The epochs to look up, per topic and partition.
    pub struct OffsetForLeaderEpochRequest {
        /// The asking broker, or -2 (a consumer, Kafka's "debug" replica) before v3.
        replica_id: i32 [3, MAX] = -2,
        topics: Vec<OffsetForLeaderEpochRequestTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic to look up.
    pub struct OffsetForLeaderEpochRequestTopic {
        topic: String [0, MAX],
        partitions: Vec<OffsetForLeaderEpochRequestPartition> [0, MAX],
    }
}

kafka_struct! {
    /// One partition, the asker's view of its leader epoch, and the epoch to look up.
    pub struct OffsetForLeaderEpochRequestPartition {
        partition: i32 [0, MAX],
        /// The asker's view of the leader epoch; -1 (unchecked) before v2.
        current_leader_epoch: i32 [2, MAX] = -1,
        leader_epoch: i32 [0, MAX],
    }
}

kafka_struct! {
    /// The end offsets found, per topic and partition.
    pub struct OffsetForLeaderEpochResponse {
        throttle_time_ms: i32 [2, MAX],
        topics: Vec<OffsetForLeaderEpochResponseTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic of an OffsetForLeaderEpoch response.
    pub struct OffsetForLeaderEpochResponseTopic {
        topic: String [0, MAX],
        partitions: Vec<OffsetForLeaderEpochResponsePartition> [0, MAX],
    }
}

kafka_struct! {
    /// The largest epoch at or below the asked one, and the offset where it ends.
    pub struct OffsetForLeaderEpochResponsePartition {
        error_code: i16 [0, MAX],
        partition: i32 [0, MAX],
        leader_epoch: i32 [1, MAX] = -1,
        end_offset: i64 [0, MAX] = -1,
    }
}
