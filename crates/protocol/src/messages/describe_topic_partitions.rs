//! DescribeTopicPartitions (key 75, KIP-966): topics and their partitions, paginated, as newer
//! `kafka-topics.sh --describe` and admin clients ask for them instead of Metadata. Kafka's
//! `DescribeTopicPartitionsRequest.json` / `DescribeTopicPartitionsResponse.json`; version 0,
//! flexible from 0.

use crate::codec::{Nullable, Uuid};

kafka_struct! {
    /// The topics to describe (none: every topic), at most `response_partition_limit`
    /// partitions in the answer, from `cursor` on.
    pub struct DescribeTopicPartitionsRequest {
        topics: Vec<DescribeTopicPartitionsRequestTopic> [0, MAX],
        response_partition_limit: i32 [0, MAX] = 2000,
        cursor: Nullable<DescribeTopicPartitionsCursor> [0, MAX],
    }
}

kafka_struct! {
    /// One topic asked for.
    pub struct DescribeTopicPartitionsRequestTopic {
        name: String [0, MAX],
    }
}

kafka_struct! {
    /// Where a page starts: a topic and its first partition to describe.
    pub struct DescribeTopicPartitionsCursor {
        topic_name: String [0, MAX],
        partition_index: i32 [0, MAX],
    }
}

kafka_struct! {
    /// One page of topics, and where the next starts (null: this was the last).
    pub struct DescribeTopicPartitionsResponse {
        throttle_time_ms: i32 [0, MAX],
        topics: Vec<DescribeTopicPartitionsResponseTopic> [0, MAX],
        next_cursor: Nullable<DescribeTopicPartitionsCursor> [0, MAX],
    }
}

kafka_struct! {
    /// One topic and the partitions of it on this page.
    pub struct DescribeTopicPartitionsResponseTopic {
        error_code: i16 [0, MAX],
        name: Option<String> [0, MAX],
        topic_id: Uuid [0, MAX],
        is_internal: bool [0, MAX],
        partitions: Vec<DescribeTopicPartitionsResponsePartition> [0, MAX],
        topic_authorized_operations: i32 [0, MAX] = i32::MIN,
    }
}

kafka_struct! {
    /// One partition: its leader, replicas, in-sync replicas and the replicas offline.
    pub struct DescribeTopicPartitionsResponsePartition {
        error_code: i16 [0, MAX],
        partition_index: i32 [0, MAX],
        leader_id: i32 [0, MAX],
        leader_epoch: i32 [0, MAX] = -1,
        replica_nodes: Vec<i32> [0, MAX],
        isr_nodes: Vec<i32> [0, MAX],
        /// KIP-966's eligible leader replicas: none in a cluster that elects from the ISR.
        eligible_leader_replicas: Option<Vec<i32>> [0, MAX],
        last_known_elr: Option<Vec<i32>> [0, MAX],
        offline_replicas: Vec<i32> [0, MAX],
    }
}
