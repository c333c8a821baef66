//! DeleteTopics (key 20): delete topics by name, or from v6 by name or topic id. Kafka's
//! `DeleteTopicsRequest.json` / `DeleteTopicsResponse.json`; versions 0 to 6, flexible from 4.

use crate::codec::Uuid;

kafka_struct! {
    /// The topics to delete (by name up to v5; by name or id from v6), and how long to wait.
    pub struct DeleteTopicsRequest {
        topics: Vec<DeleteTopicsRequestTopic> [6, MAX],
        topic_names: Vec<String> [0, 5],
        timeout_ms: i32 [0, MAX],
    }
}

kafka_struct! {
    /// One topic to delete (v6+): its name or its id.
    pub struct DeleteTopicsRequestTopic {
        name: Option<String> [6, MAX],
        topic_id: Uuid [6, MAX],
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
        /// Null (v6+) when the topic was named by an id no topic has.
        name: Option<String> [0, MAX],
        topic_id: Uuid [6, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [5, MAX],
    }
}
