//! DescribeCluster (key 60): cluster id, controller and brokers (or controllers, v1+).
//! Kafka's `DescribeClusterRequest.json` / `DescribeClusterResponse.json`; always flexible.

kafka_struct! {
    /// What to describe.
    pub struct DescribeClusterRequest {
        include_cluster_authorized_operations: bool [0, MAX],
        /// 1 = brokers, 2 = controllers (Kafka's default is 1).
        endpoint_type: i8 [1, MAX],
        /// Include fenced brokers (v2+, KIP-1073); a ZooKeeper-mode cluster has none.
        include_fenced_brokers: bool [2, MAX],
    }
}

kafka_struct! {
    /// The cluster as seen by the answering node.
    pub struct DescribeClusterResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        endpoint_type: i8 [1, MAX],
        cluster_id: String [0, MAX],
        controller_id: i32 [0, MAX],
        brokers: Vec<DescribeClusterResponseBroker> [0, MAX],
        cluster_authorized_operations: i32 [0, MAX],
    }
}

kafka_struct! {
    /// One endpoint of the cluster.
    pub struct DescribeClusterResponseBroker {
        broker_id: i32 [0, MAX],
        host: String [0, MAX],
        port: i32 [0, MAX],
        rack: Option<String> [0, MAX],
        /// Whether the broker is fenced (v2+); never, here.
        is_fenced: bool [2, MAX],
    }
}
