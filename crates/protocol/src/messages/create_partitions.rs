//! CreatePartitions (key 37): grow the partition count of existing topics. Kafka's
//! `CreatePartitionsRequest.json` / `CreatePartitionsResponse.json`; flexible from version 2.

kafka_struct! {
    /// Topics to grow, how long to wait, and whether only to validate.
    pub struct CreatePartitionsRequest {
        topics: Vec<CreatePartitionsRequestTopic> [0, MAX],
        timeout_ms: i32 [0, MAX],
        validate_only: bool [0, MAX],
    }
}

kafka_struct! {
    /// One topic, its new total partition count and optional placement of the new partitions.
    pub struct CreatePartitionsRequestTopic {
        name: String [0, MAX],
        count: i32 [0, MAX],
        assignments: Option<Vec<CreatePartitionsRequestAssignment>> [0, MAX],
    }
}

kafka_struct! {
    /// Replica brokers of one new partition.
    pub struct CreatePartitionsRequestAssignment {
        broker_ids: Vec<i32> [0, MAX],
    }
}

kafka_struct! {
    /// Per-topic outcome.
    pub struct CreatePartitionsResponse {
        throttle_time_ms: i32 [0, MAX],
        results: Vec<CreatePartitionsResponseTopic> [0, MAX],
    }
}

kafka_struct! {
    /// Result for one topic.
    pub struct CreatePartitionsResponseTopic {
        name: String [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
    }
}
