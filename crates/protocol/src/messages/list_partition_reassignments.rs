//! ListPartitionReassignments (key 46, KIP-455): the reassignments in progress. Kafka's
//! `ListPartitionReassignmentsRequest.json` / `...Response.json`; flexible from version 0.

kafka_struct! {
    /// The partitions to list, or null for every reassignment in progress.
    pub struct ListPartitionReassignmentsRequest {
        timeout_ms: i32 [0, MAX],
        topics: Option<Vec<ListPartitionReassignmentsTopic>> [0, MAX],
    }
}

kafka_struct! {
    /// One topic and the partitions of it to list.
    pub struct ListPartitionReassignmentsTopic {
        name: String [0, MAX],
        partition_indexes: Vec<i32> [0, MAX],
    }
}

kafka_struct! {
    /// A request-level error and the reassignments in progress, by topic.
    pub struct ListPartitionReassignmentsResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        topics: Vec<OngoingTopicReassignment> [0, MAX],
    }
}

kafka_struct! {
    /// One topic's partitions being moved.
    pub struct OngoingTopicReassignment {
        name: String [0, MAX],
        partitions: Vec<OngoingPartitionReassignment> [0, MAX],
    }
}

kafka_struct! {
    /// A partition being moved: its full replica set now, and which of those are being added and
    /// which removed.
    pub struct OngoingPartitionReassignment {
        partition_index: i32 [0, MAX],
        replicas: Vec<i32> [0, MAX],
        adding_replicas: Vec<i32> [0, MAX],
        removing_replicas: Vec<i32> [0, MAX],
    }
}
