//! OffsetFetch (key 9): read back the committed offsets of a group (one group up to v7, several
//! from v8). Kafka's `OffsetFetchRequest.json` / `OffsetFetchResponse.json`; we speak versions 0
//! to 9, flexible from 6 (v9 adds the member of a KIP-848 group, unused by classic groups).
//! Versions 0 and 1 have the same layout (Kafka read v0 from ZooKeeper).

kafka_struct! {
    /// Which committed offsets to return. Versions 0 to 7 name a single group; version 8 and up
    /// use `groups` instead.
    pub struct OffsetFetchRequest {
        group_id: String [0, 7],
        /// Topics to look up; null (allowed from v2) asks for every topic.
        topics: Option<Vec<OffsetFetchRequestTopic>> [0, 7],
        groups: Vec<OffsetFetchRequestGroup> [8, MAX],
        require_stable: bool [7, MAX],
    }
}

kafka_struct! {
    /// One topic asked for in the single-group form (v0 to v7).
    pub struct OffsetFetchRequestTopic {
        name: String [0, 7],
        partition_indexes: Vec<i32> [0, 7],
    }
}

kafka_struct! {
    /// One group asked for in the multi-group form (v8+).
    pub struct OffsetFetchRequestGroup {
        group_id: String [8, MAX],
        /// The asking member of a consumer-protocol group (KIP-848, v9+).
        member_id: Option<String> [9, MAX],
        member_epoch: i32 [9, MAX] = -1,
        /// Topics to look up; null asks for every topic.
        topics: Option<Vec<OffsetFetchRequestGroupTopic>> [8, MAX],
    }
}

kafka_struct! {
    /// One topic asked for within a group (v8+).
    pub struct OffsetFetchRequestGroupTopic {
        name: String [8, MAX],
        partition_indexes: Vec<i32> [8, MAX],
    }
}

kafka_struct! {
    /// Committed offsets: flat for one group up to v7, grouped under `groups` from v8.
    pub struct OffsetFetchResponse {
        throttle_time_ms: i32 [3, MAX],
        topics: Vec<OffsetFetchResponseTopic> [0, 7],
        error_code: i16 [2, 7],
        groups: Vec<OffsetFetchResponseGroup> [8, MAX],
    }
}

kafka_struct! {
    /// One topic of the single-group response (v0 to v7).
    pub struct OffsetFetchResponseTopic {
        name: String [0, 7],
        partitions: Vec<OffsetFetchResponsePartition> [0, 7],
    }
}

kafka_struct! {
    /// The committed offset of one partition in the single-group response (v0 to v7).
    pub struct OffsetFetchResponsePartition {
        partition_index: i32 [0, 7],
        committed_offset: i64 [0, 7],
        /// Leader epoch of the commit (-1: unknown).
        committed_leader_epoch: i32 [5, 7] = -1,
        metadata: Option<String> [0, 7],
        error_code: i16 [0, 7],
    }
}

kafka_struct! {
    /// The committed offsets of one group (v8+).
    pub struct OffsetFetchResponseGroup {
        group_id: String [8, MAX],
        topics: Vec<OffsetFetchResponseGroupTopic> [8, MAX],
        error_code: i16 [8, MAX],
    }
}

kafka_struct! {
    /// One topic within a group's response (v8+).
    pub struct OffsetFetchResponseGroupTopic {
        name: String [8, MAX],
        partitions: Vec<OffsetFetchResponseGroupPartition> [8, MAX],
    }
}

kafka_struct! {
    /// The committed offset of one partition within a group's response (v8+).
    pub struct OffsetFetchResponseGroupPartition {
        partition_index: i32 [8, MAX],
        committed_offset: i64 [8, MAX],
        /// Leader epoch of the commit (-1: unknown).
        committed_leader_epoch: i32 [8, MAX] = -1,
        metadata: Option<String> [8, MAX],
        error_code: i16 [8, MAX],
    }
}
