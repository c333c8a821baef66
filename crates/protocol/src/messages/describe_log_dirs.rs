//! DescribeLogDirs (key 35, KIP-113): a broker's log directories, the partitions each holds and
//! their sizes (`kafka-log-dirs.sh --describe`). Kafka's `DescribeLogDirsRequest.json` /
//! `DescribeLogDirsResponse.json`; versions 0 to 4, flexible from 2.

kafka_struct! {
    /// The partitions to describe (null: every partition).
    pub struct DescribeLogDirsRequest {
        topics: Option<Vec<DescribeLogDirsRequestTopic>> [0, MAX],
    }
}

kafka_struct! {
    /// One topic's partitions to describe.
    pub struct DescribeLogDirsRequestTopic {
        topic: String [0, MAX],
        partitions: Vec<i32> [0, MAX],
    }
}

kafka_struct! {
    /// Every log directory of the broker.
    pub struct DescribeLogDirsResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [3, MAX],
        results: Vec<DescribeLogDirsResult> [0, MAX],
    }
}

kafka_struct! {
    /// One log directory: its state, its partitions, its file system's size and free space.
    pub struct DescribeLogDirsResult {
        error_code: i16 [0, MAX],
        log_dir: String [0, MAX],
        topics: Vec<DescribeLogDirsTopic> [0, MAX],
        /// -1 (unknown) before v4.
        total_bytes: i64 [4, MAX] = -1,
        usable_bytes: i64 [4, MAX] = -1,
    }
}

kafka_struct! {
    /// One topic's partitions in a directory.
    pub struct DescribeLogDirsTopic {
        name: String [0, MAX],
        partitions: Vec<DescribeLogDirsPartition> [0, MAX],
    }
}

kafka_struct! {
    /// One partition's log in a directory.
    pub struct DescribeLogDirsPartition {
        partition_index: i32 [0, MAX],
        partition_size: i64 [0, MAX],
        offset_lag: i64 [0, MAX],
        is_future_key: bool [0, MAX],
    }
}
