//! OffsetCommit (key 8): a consumer records how far it has read in each partition, on behalf of
//! its group. Kafka's `OffsetCommitRequest.json` / `OffsetCommitResponse.json`; we speak versions
//! 0 to 9, flexible from 8. Version 0 names neither generation nor member (a standalone commit);
//! version 1 adds them and a commit time per partition; versions 2 to 4 carry a retention time
//! instead; version 5 drops it; version 9 is version 8 for groups of KIP-848's protocol too (its
//! generation field carries their member epoch).

kafka_struct! {
    /// Offsets to store for a group, grouped by topic and partition.
    pub struct OffsetCommitRequest {
        group_id: String [0, MAX],
        /// Classic-protocol generation, or consumer-protocol member epoch; -1 (none) in v0.
        generation_id_or_member_epoch: i32 [1, MAX] = -1,
        member_id: String [1, MAX],
        group_instance_id: Option<String> [7, MAX],
        /// How long to keep the offsets, in ms; only versions 2 to 4 carry it (-1: the broker's
        /// `offsets.retention.minutes`).
        retention_time_ms: i64 [2, 4] = -1,
        topics: Vec<OffsetCommitRequestTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic whose offsets are committed.
    pub struct OffsetCommitRequestTopic {
        name: String [0, MAX],
        partitions: Vec<OffsetCommitRequestPartition> [0, MAX],
    }
}

kafka_struct! {
    /// The offset to commit for one partition, with optional client metadata.
    pub struct OffsetCommitRequestPartition {
        partition_index: i32 [0, MAX],
        committed_offset: i64 [0, MAX],
        /// Leader epoch of the partition; -1 (unknown) before v6.
        committed_leader_epoch: i32 [6, MAX] = -1,
        /// Commit time in ms; only version 1 carries it (-1: the broker's clock).
        commit_timestamp: i64 [1, 1] = -1,
        committed_metadata: Option<String> [0, MAX],
    }
}

kafka_struct! {
    /// The result of a commit, per topic and partition.
    pub struct OffsetCommitResponse {
        throttle_time_ms: i32 [3, MAX],
        topics: Vec<OffsetCommitResponseTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic of a commit response.
    pub struct OffsetCommitResponseTopic {
        name: String [0, MAX],
        partitions: Vec<OffsetCommitResponsePartition> [0, MAX],
    }
}

kafka_struct! {
    /// Whether one partition's offset was stored.
    pub struct OffsetCommitResponsePartition {
        partition_index: i32 [0, MAX],
        error_code: i16 [0, MAX],
    }
}
