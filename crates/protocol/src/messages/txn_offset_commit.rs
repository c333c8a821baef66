//! TxnOffsetCommit (key 28): a transactional producer sends consumed offsets to the group
//! coordinator, to become visible only if the transaction commits. Kafka's
//! `TxnOffsetCommitRequest.json` / `TxnOffsetCommitResponse.json`; we speak versions 0 to 3,
//! flexible from 3 (v4 differs only in that it may answer TRANSACTION_ABORTABLE, KIP-890).

kafka_struct! {
    /// Offsets to store for a group within a transaction, grouped by topic and partition.
    pub struct TxnOffsetCommitRequest {
        transactional_id: String [0, MAX],
        group_id: String [0, MAX],
        producer_id: i64 [0, MAX],
        producer_epoch: i16 [0, MAX],
        /// Generation of the consumer; -1 (not checked) before v3.
        generation_id: i32 [3, MAX] = -1,
        member_id: String [3, MAX],
        group_instance_id: Option<String> [3, MAX],
        topics: Vec<TxnOffsetCommitRequestTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic whose offsets are committed.
    pub struct TxnOffsetCommitRequestTopic {
        name: String [0, MAX],
        partitions: Vec<TxnOffsetCommitRequestPartition> [0, MAX],
    }
}

kafka_struct! {
    /// The offset to commit for one partition, with optional client metadata.
    pub struct TxnOffsetCommitRequestPartition {
        partition_index: i32 [0, MAX],
        committed_offset: i64 [0, MAX],
        /// Leader epoch of the last consumed record; -1 (unknown) before v2.
        committed_leader_epoch: i32 [2, MAX] = -1,
        committed_metadata: Option<String> [0, MAX],
    }
}

kafka_struct! {
    /// The result of a transactional commit, per topic and partition.
    pub struct TxnOffsetCommitResponse {
        throttle_time_ms: i32 [0, MAX],
        topics: Vec<TxnOffsetCommitResponseTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic of a transactional commit response.
    pub struct TxnOffsetCommitResponseTopic {
        name: String [0, MAX],
        partitions: Vec<TxnOffsetCommitResponsePartition> [0, MAX],
    }
}

kafka_struct! {
    /// Whether one partition's offset was accepted into the transaction.
    pub struct TxnOffsetCommitResponsePartition {
        partition_index: i32 [0, MAX],
        error_code: i16 [0, MAX],
    }
}
