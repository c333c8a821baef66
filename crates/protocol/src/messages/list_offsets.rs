//! ListOffsets (key 2): finds the offset for a timestamp, or the earliest/latest offset, of
//! partitions. Kafka's `ListOffsetsRequest.json` / `ListOffsetsResponse.json`; we speak
//! versions 0 to 10, flexible from 6 (v8-v10 add the tiered-storage lookups, KIP-405/1005/1075). Version 0 asks for up to `max_num_offsets` offsets and gets
//! them in `old_style_offsets`; from version 1 one offset and its timestamp are answered.

kafka_struct! {
    /// The partitions and timestamps to look up.
    pub struct ListOffsetsRequest {
        replica_id: i32 [0, MAX],
        isolation_level: i8 [2, MAX],
        topics: Vec<ListOffsetsRequestTopic> [0, MAX],
        /// How long a lookup in remote storage may take (v10, KIP-1075); nothing here waits.
        timeout_ms: i32 [10, MAX],
    }
}

kafka_struct! {
    /// One topic to look up.
    pub struct ListOffsetsRequestTopic {
        name: String [0, MAX],
        partitions: Vec<ListOffsetsRequestPartition> [0, MAX],
    }
}

kafka_struct! {
    /// One partition and the timestamp (or special value) to look up.
    pub struct ListOffsetsRequestPartition {
        partition_index: i32 [0, MAX],
        /// The asker's view of the leader epoch; -1 (unchecked) before v4.
        current_leader_epoch: i32 [4, MAX] = -1,
        timestamp: i64 [0, MAX],
        /// How many offsets v0 asks for, at most.
        max_num_offsets: i32 [0, 0] = 1,
    }
}

kafka_struct! {
    /// The offsets found, per topic and partition.
    pub struct ListOffsetsResponse {
        throttle_time_ms: i32 [2, MAX],
        topics: Vec<ListOffsetsResponseTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic of a ListOffsets response.
    pub struct ListOffsetsResponseTopic {
        name: String [0, MAX],
        partitions: Vec<ListOffsetsResponsePartition> [0, MAX],
    }
}

kafka_struct! {
    /// The offset found for one partition, with its timestamp and leader epoch.
    pub struct ListOffsetsResponsePartition {
        partition_index: i32 [0, MAX],
        error_code: i16 [0, MAX],
        /// v0's answer: offsets in decreasing order.
        old_style_offsets: Vec<i64> [0, 0],
        timestamp: i64 [1, MAX] = -1,
        offset: i64 [1, MAX] = -1,
        leader_epoch: i32 [4, MAX] = -1,
    }
}
