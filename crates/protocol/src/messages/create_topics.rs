//! CreateTopics (key 19): create topics with a partition count and replication factor, or an
//! explicit assignment. Kafka's `CreateTopicsRequest.json` / `CreateTopicsResponse.json`;
//! flexible from version 5.

use crate::codec::Uuid;

kafka_struct! {
    /// Topics to create, and how long to wait.
    pub struct CreateTopicsRequest {
        topics: Vec<CreateTopicsRequestTopic> [0, MAX],
        timeout_ms: i32 [0, MAX],
        validate_only: bool [1, MAX],
    }
}

kafka_struct! {
    /// One topic to create (-1 counts mean "broker default" or "use the assignments").
    pub struct CreateTopicsRequestTopic {
        name: String [0, MAX],
        num_partitions: i32 [0, MAX],
        replication_factor: i16 [0, MAX],
        assignments: Vec<CreateTopicsRequestAssignment> [0, MAX],
        configs: Vec<CreateTopicsRequestConfig> [0, MAX],
    }
}

kafka_struct! {
    /// Manual replica placement of one partition.
    pub struct CreateTopicsRequestAssignment {
        partition_index: i32 [0, MAX],
        broker_ids: Vec<i32> [0, MAX],
    }
}

kafka_struct! {
    /// A topic config override to set at creation.
    pub struct CreateTopicsRequestConfig {
        name: String [0, MAX],
        value: Option<String> [0, MAX],
    }
}

kafka_struct! {
    /// Per-topic outcome of the creation.
    pub struct CreateTopicsResponse {
        throttle_time_ms: i32 [2, MAX],
        topics: Vec<CreateTopicsResponseTopic> [0, MAX],
    }
}

kafka_struct! {
    /// Result for one topic; from v5 also its effective layout and configs.
    pub struct CreateTopicsResponseTopic {
        name: String [0, MAX],
        topic_id: Uuid [7, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [1, MAX],
        topic_config_error_code: i16 [5, MAX] tag 0,
        num_partitions: i32 [5, MAX],
        replication_factor: i16 [5, MAX],
        configs: Option<Vec<CreateTopicsResponseConfig>> [5, MAX],
    }
}

kafka_struct! {
    /// One effective config entry of a created topic.
    pub struct CreateTopicsResponseConfig {
        name: String [5, MAX],
        value: Option<String> [5, MAX],
        read_only: bool [5, MAX],
        config_source: i8 [5, MAX],
        is_sensitive: bool [5, MAX],
    }
}
