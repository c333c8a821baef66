//! OffsetDelete (key 47): drop a group's committed offsets for some partitions. Kafka's
//! `OffsetDeleteRequest.json` / `OffsetDeleteResponse.json`; only version 0, never flexible.

kafka_struct! {
    /// The partitions whose committed offsets a group should forget.
    pub struct OffsetDeleteRequest {
        group_id: String [0, MAX],
        topics: Vec<OffsetDeleteRequestTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic of an offset-delete request.
    pub struct OffsetDeleteRequestTopic {
        name: String [0, MAX],
        partitions: Vec<OffsetDeleteRequestPartition> [0, MAX],
    }
}

kafka_struct! {
    /// One partition whose offset is to be deleted.
    pub struct OffsetDeleteRequestPartition {
        partition_index: i32 [0, MAX],
    }
}

kafka_struct! {
    /// The group-level error and the outcome per topic and partition.
    pub struct OffsetDeleteResponse {
        error_code: i16 [0, MAX],
        throttle_time_ms: i32 [0, MAX],
        topics: Vec<OffsetDeleteResponseTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic of an offset-delete response.
    pub struct OffsetDeleteResponseTopic {
        name: String [0, MAX],
        partitions: Vec<OffsetDeleteResponsePartition> [0, MAX],
    }
}

kafka_struct! {
    /// Whether one partition's offset was deleted.
    pub struct OffsetDeleteResponsePartition {
        partition_index: i32 [0, MAX],
        error_code: i16 [0, MAX],
    }
}
