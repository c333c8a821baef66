//! ElectLeaders (key 43, KIP-183 and KIP-460): the controller moves partitions' leadership to
//! their preferred replica, or elects a leader for partitions that have none, out of sync if it
//! must (`kafka-leader-election.sh`). Kafka's `ElectLeadersRequest.json` /
//! `ElectLeadersResponse.json`; versions 0 to 2, flexible from 2.

kafka_struct! {
    /// The partitions to elect leaders for (null: every partition), and how.
    pub struct ElectLeadersRequest {
        /// 0: the preferred replica; 1: any live replica when no in-sync one is (v1+; v0 is
        /// preferred only).
        election_type: i8 [1, MAX],
        topic_partitions: Option<Vec<ElectLeadersRequestTopic>> [0, MAX],
        timeout_ms: i32 [0, MAX] = 60_000,
    }
}

kafka_struct! {
    /// One topic's partitions to elect leaders for.
    pub struct ElectLeadersRequestTopic {
        topic: String [0, MAX],
        partitions: Vec<i32> [0, MAX],
    }
}

kafka_struct! {
    /// The outcome per partition, and a top-level error (v1+).
    pub struct ElectLeadersResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [1, MAX],
        replica_election_results: Vec<ElectLeadersResponseTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic's outcomes.
    pub struct ElectLeadersResponseTopic {
        topic: String [0, MAX],
        partition_result: Vec<ElectLeadersResponsePartition> [0, MAX],
    }
}

kafka_struct! {
    /// One partition's outcome.
    pub struct ElectLeadersResponsePartition {
        partition_id: i32 [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
    }
}
