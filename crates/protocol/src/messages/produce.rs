//! Produce (key 0): a producer hands record batches to partition leaders. Kafka's
//! `ProduceRequest.json` / `ProduceResponse.json`; we speak versions 0 to 13, flexible from 9 (v0-2
//! may carry message formats 0 and 1: `crate::legacy`; v10 adds leader hints, KIP-951; v11 and
//! v12 the same layout, for KIP-890's error and its second part, which a client uses only when
//! the broker advertises `transaction.version` 2, which this one does not; v13 names topics by
//! id).

use bytes::Bytes;

use crate::codec::Uuid;

kafka_struct! {
    /// Batches to append, grouped by topic and partition.
    pub struct ProduceRequest {
        transactional_id: Option<String> [3, MAX],
        acks: i16 [0, MAX],
        timeout_ms: i32 [0, MAX],
        topic_data: Vec<ProduceRequestTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic of a produce request.
    pub struct ProduceRequestTopic {
        /// By name up to v12; by id from v13 (KIP-516).
        name: String [0, 12],
        topic_id: Uuid [13, MAX],
        partition_data: Vec<ProduceRequestPartition> [0, MAX],
    }
}

kafka_struct! {
    /// The records for one partition, as raw record-batch bytes.
    pub struct ProduceRequestPartition {
        index: i32 [0, MAX],
        records: Option<Bytes> [0, MAX],
    }
}

kafka_struct! {
    /// The outcome of an append, per topic and partition.
    pub struct ProduceResponse {
        responses: Vec<ProduceResponseTopic> [0, MAX],
        throttle_time_ms: i32 [1, MAX],
        /// The brokers named in `current_leader` hints (v10+, KIP-951).
        node_endpoints: Vec<ProduceResponseNodeEndpoint> [10, MAX] tag 0,
    }
}

kafka_struct! {
    /// A broker a producer is pointed at, on the listener it produced on.
    pub struct ProduceResponseNodeEndpoint {
        node_id: i32 [10, MAX],
        host: String [10, MAX],
        port: i32 [10, MAX],
        rack: Option<String> [10, MAX],
    }
}

kafka_struct! {
    /// The partition leader as the responding broker knows it (v10+, KIP-951).
    pub struct ProduceResponseLeaderIdAndEpoch {
        leader_id: i32 [10, MAX] = -1,
        leader_epoch: i32 [10, MAX] = -1,
    }
}

kafka_struct! {
    /// One topic of a produce response.
    pub struct ProduceResponseTopic {
        name: String [0, 12],
        topic_id: Uuid [13, MAX],
        partition_responses: Vec<ProduceResponsePartition> [0, MAX],
    }
}

kafka_struct! {
    /// Where a partition's batches landed, or why they did not.
    pub struct ProduceResponsePartition {
        index: i32 [0, MAX],
        error_code: i16 [0, MAX],
        base_offset: i64 [0, MAX],
        log_append_time_ms: i64 [2, MAX],
        log_start_offset: i64 [5, MAX],
        record_errors: Vec<ProduceResponseRecordError> [8, MAX],
        error_message: Option<String> [8, MAX],
        current_leader: ProduceResponseLeaderIdAndEpoch [10, MAX] tag 0,
    }
}

kafka_struct! {
    /// A record, by its index in the batch, that made the whole batch be rejected.
    pub struct ProduceResponseRecordError {
        batch_index: i32 [8, MAX],
        batch_index_error_message: Option<String> [8, MAX],
    }
}
