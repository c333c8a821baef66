//! DeleteRecords (key 21): moves partitions' log start offsets forward. Kafka's
//! `DeleteRecordsRequest.json` / `DeleteRecordsResponse.json`; we speak versions 0 to 2,
//! flexible from 2.

kafka_struct! {
    /// The offsets to delete up to, per topic and partition.
    pub struct DeleteRecordsRequest {
        topics: Vec<DeleteRecordsRequestTopic> [0, MAX],
        timeout_ms: i32 [0, MAX],
    }
}

kafka_struct! {
    /// One topic to delete records from.
    pub struct DeleteRecordsRequestTopic {
        name: String [0, MAX],
        partitions: Vec<DeleteRecordsRequestPartition> [0, MAX],
    }
}

kafka_struct! {
    /// One partition and the offset below which records go.
    pub struct DeleteRecordsRequestPartition {
        partition_index: i32 [0, MAX],
        offset: i64 [0, MAX],
    }
}

kafka_struct! {
    /// The new low watermarks, per topic and partition.
    pub struct DeleteRecordsResponse {
        throttle_time_ms: i32 [0, MAX],
        topics: Vec<DeleteRecordsResponseTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic of a DeleteRecords response.
    pub struct DeleteRecordsResponseTopic {
        name: String [0, MAX],
        partitions: Vec<DeleteRecordsResponsePartition> [0, MAX],
    }
}

kafka_struct! {
    /// One partition's new low watermark, or why the deletion failed.
    pub struct DeleteRecordsResponsePartition {
        partition_index: i32 [0, MAX],
        low_watermark: i64 [0, MAX],
        error_code: i16 [0, MAX],
    }
}
