//! AlterReplicaLogDirs (key 34, KIP-113): move replicas hosted by the receiving broker into
//! other directories of its `log.dirs` (`kafka-reassign-partitions.sh` with log directories).
//! Kafka's `AlterReplicaLogDirsRequest.json` / `AlterReplicaLogDirsResponse.json`; versions 0-2
//! (v1 the same as v0, Kafka 4.0 serves 1-2), flexible from 2.

kafka_struct! {
    pub struct AlterReplicaLogDirsRequest {
        dirs: Vec<AlterReplicaLogDirsDir> [0, MAX],
    }
}

kafka_struct! {
    /// A destination directory (an absolute path) and the replicas to move into it.
    pub struct AlterReplicaLogDirsDir {
        path: String [0, MAX],
        topics: Vec<AlterReplicaLogDirsTopic> [0, MAX],
    }
}

kafka_struct! {
    pub struct AlterReplicaLogDirsTopic {
        name: String [0, MAX],
        partitions: Vec<i32> [0, MAX],
    }
}

kafka_struct! {
    pub struct AlterReplicaLogDirsResponse {
        throttle_time_ms: i32 [0, MAX],
        results: Vec<AlterReplicaLogDirsTopicResult> [0, MAX],
    }
}

kafka_struct! {
    pub struct AlterReplicaLogDirsTopicResult {
        topic_name: String [0, MAX],
        partitions: Vec<AlterReplicaLogDirsPartitionResult> [0, MAX],
    }
}

kafka_struct! {
    pub struct AlterReplicaLogDirsPartitionResult {
        partition_index: i32 [0, MAX],
        error_code: i16 [0, MAX],
    }
}
