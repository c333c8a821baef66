//! DescribeProducers (key 61, KIP-664): the idempotent and transactional producers with state
//! in partitions this broker leads (`kafka-transactions.sh describe-producers`). Kafka's
//! `DescribeProducersRequest.json` / `DescribeProducersResponse.json`; version 0, flexible from
//! 0. Nested structs are prefixed with the message's name.

kafka_struct! {
    pub struct DescribeProducersRequest {
        topics: Vec<DescribeProducersRequestTopic> [0, MAX],
    }
}

kafka_struct! {
    pub struct DescribeProducersRequestTopic {
        name: String [0, MAX],
        partition_indexes: Vec<i32> [0, MAX],
    }
}

kafka_struct! {
    pub struct DescribeProducersResponse {
        throttle_time_ms: i32 [0, MAX],
        topics: Vec<DescribeProducersResponseTopic> [0, MAX],
    }
}

kafka_struct! {
    pub struct DescribeProducersResponseTopic {
        name: String [0, MAX],
        partitions: Vec<DescribeProducersResponsePartition> [0, MAX],
    }
}

kafka_struct! {
    pub struct DescribeProducersResponsePartition {
        partition_index: i32 [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        active_producers: Vec<DescribeProducersResponseProducer> [0, MAX],
    }
}

kafka_struct! {
    /// One producer's state in the partition (Kafka's `ProducerState`).
    pub struct DescribeProducersResponseProducer {
        producer_id: i64 [0, MAX],
        producer_epoch: i32 [0, MAX],
        /// The last sequence number of its last batch (-1: none).
        last_sequence: i32 [0, MAX],
        /// The max timestamp of its last batch or marker (-1: none).
        last_timestamp: i64 [0, MAX],
        /// The transaction coordinator epoch of its last marker (-1: none).
        coordinator_epoch: i32 [0, MAX],
        /// The first offset of its open transaction (-1: none).
        current_txn_start_offset: i64 [0, MAX],
    }
}
