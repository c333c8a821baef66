//! AlterPartitionReassignments (key 45, KIP-455): start or cancel moving partitions' replicas.
//! Kafka's `AlterPartitionReassignmentsRequest.json` / `...Response.json`; flexible from
//! version 0. Version 1 (KIP-860's replication-factor guard) is not implemented.

kafka_struct! {
    /// Partitions to move, and how long to wait for the controller to accept the move.
    pub struct AlterPartitionReassignmentsRequest {
        timeout_ms: i32 [0, MAX],
        topics: Vec<ReassignableTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic's partitions to move.
    pub struct ReassignableTopic {
        name: String [0, MAX],
        partitions: Vec<ReassignablePartition> [0, MAX],
    }
}

kafka_struct! {
    /// The target replica list of one partition; null cancels the partition's reassignment.
    pub struct ReassignablePartition {
        partition_index: i32 [0, MAX],
        replicas: Option<Vec<i32>> [0, MAX],
    }
}

kafka_struct! {
    /// A request-level error, and one result per partition.
    pub struct AlterPartitionReassignmentsResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        responses: Vec<ReassignableTopicResponse> [0, MAX],
    }
}

kafka_struct! {
    /// One topic's results.
    pub struct ReassignableTopicResponse {
        name: String [0, MAX],
        partitions: Vec<ReassignablePartitionResponse> [0, MAX],
    }
}

kafka_struct! {
    /// One partition's result.
    pub struct ReassignablePartitionResponse {
        partition_index: i32 [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
    }
}
