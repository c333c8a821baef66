//! AlterPartitionReassignments (key 45, KIP-455): start or cancel moving partitions' replicas.
//! Kafka's `AlterPartitionReassignmentsRequest.json` / `...Response.json`; versions 0 to 1,
//! flexible from 0 (v1: KIP-860's guard against changing a replication factor).

kafka_struct! {
    /// Partitions to move, and how long to wait for the controller to accept the move.
    pub struct AlterPartitionReassignmentsRequest {
        timeout_ms: i32 [0, MAX],
        /// Whether a move may change a partition's replication factor (v1, KIP-860; true
        /// before).
        allow_replication_factor_change: bool [1, MAX] = true,
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
        /// The request's `allow_replication_factor_change`, echoed (v1).
        allow_replication_factor_change: bool [1, MAX] = true,
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
