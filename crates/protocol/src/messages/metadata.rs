//! Metadata (key 3): brokers, controller and topic/partition layout of the cluster. Kafka's
//! `MetadataRequest.json` / `MetadataResponse.json`; flexible from version 9.

use crate::codec::Uuid;

kafka_struct! {
    /// Asks for the metadata of some topics (null from v1: all topics).
    pub struct MetadataRequest {
        topics: Option<Vec<MetadataRequestTopic>> [0, MAX],
        allow_auto_topic_creation: bool [4, MAX],
        include_cluster_authorized_operations: bool [8, 10],
        include_topic_authorized_operations: bool [8, MAX],
    }
}

kafka_struct! {
    /// One topic asked for, by id (v10+) or by name.
    pub struct MetadataRequestTopic {
        topic_id: Uuid [10, MAX],
        name: Option<String> [0, MAX],
    }
}

kafka_struct! {
    /// The cluster's brokers, controller and the requested topics.
    pub struct MetadataResponse {
        throttle_time_ms: i32 [3, MAX],
        brokers: Vec<MetadataResponseBroker> [0, MAX],
        cluster_id: Option<String> [2, MAX],
        controller_id: i32 [1, MAX],
        topics: Vec<MetadataResponseTopic> [0, MAX],
        cluster_authorized_operations: i32 [8, 10],
        /// A top-level error (v13+, KIP-1102's REBOOTSTRAP_REQUIRED); 0 here.
        error_code: i16 [13, MAX],
    }
}

kafka_struct! {
    /// A live broker and where to reach it.
    pub struct MetadataResponseBroker {
        node_id: i32 [0, MAX],
        host: String [0, MAX],
        port: i32 [0, MAX],
        rack: Option<String> [1, MAX],
    }
}

kafka_struct! {
    /// One topic's status and partitions.
    pub struct MetadataResponseTopic {
        error_code: i16 [0, MAX],
        name: Option<String> [0, MAX],
        topic_id: Uuid [10, MAX],
        is_internal: bool [1, MAX],
        partitions: Vec<MetadataResponsePartition> [0, MAX],
        topic_authorized_operations: i32 [8, MAX],
    }
}

kafka_struct! {
    /// One partition's leader and replica sets.
    pub struct MetadataResponsePartition {
        error_code: i16 [0, MAX],
        partition_index: i32 [0, MAX],
        leader_id: i32 [0, MAX],
        leader_epoch: i32 [7, MAX],
        replica_nodes: Vec<i32> [0, MAX],
        isr_nodes: Vec<i32> [0, MAX],
        offline_replicas: Vec<i32> [5, MAX],
    }
}
