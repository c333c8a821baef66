//! DeleteTopics (key 20): delete topics by name. Kafka's `DeleteTopicsRequest.json` /
//! `DeleteTopicsResponse.json`; flexible from version 4. The id-based layout of v6 is not
//! modelled.

kafka_struct! {
    /// Names of the topics to delete, and how long to wait.
    pub struct DeleteTopicsRequest {
        topic_names: Vec<String> [0, 5],
        timeout_ms: i32 [0, MAX],
    }
}

kafka_struct! {
    /// Per-topic outcome of the deletion.
    pub struct DeleteTopicsResponse {
        throttle_time_ms: i32 [1, MAX],
        responses: Vec<DeleteTopicsResponseTopic> [0, MAX],
    }
}

kafka_struct! {
    /// Result for one topic.
    pub struct DeleteTopicsResponseTopic {
        name: String [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [5, MAX],
    }
}
