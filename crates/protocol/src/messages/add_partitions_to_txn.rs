//! AddPartitionsToTxn (key 24): a transactional producer tells its transaction coordinator which
//! partitions it is about to write to, so that the coordinator knows where to write the commit or
//! abort markers. Kafka's `AddPartitionsToTxnRequest.json` / `AddPartitionsToTxnResponse.json`;
//! we speak versions 0 to 4, flexible from 3 (v5 differs only in that it may answer
//! TRANSACTION_ABORTABLE, KIP-890). Versions 0 to 3 are the client form (one transaction, at top
//! level); version 4 is the broker-to-broker form of KIP-890, which batches transactions and can
//! ask only to verify that partitions are already in them.

kafka_struct! {
    /// Partitions to add to one transaction (v0-3) or to several (v4).
    pub struct AddPartitionsToTxnRequest {
        transactions: Vec<AddPartitionsToTxnTransaction> [4, MAX],
        v3_and_below_transactional_id: String [0, 3],
        v3_and_below_producer_id: i64 [0, 3],
        v3_and_below_producer_epoch: i16 [0, 3],
        v3_and_below_topics: Vec<AddPartitionsToTxnTopic> [0, 3],
    }
}

kafka_struct! {
    /// One transaction of a batched (v4+) request.
    pub struct AddPartitionsToTxnTransaction {
        transactional_id: String [4, MAX],
        producer_id: i64 [4, MAX],
        producer_epoch: i16 [4, MAX],
        /// Only check that the partitions are in the transaction, do not add them.
        verify_only: bool [4, MAX],
        topics: Vec<AddPartitionsToTxnTopic> [4, MAX],
    }
}

kafka_struct! {
    /// One topic and the partitions of it to add (shared by both request forms).
    pub struct AddPartitionsToTxnTopic {
        name: String [0, MAX],
        partitions: Vec<i32> [0, MAX],
    }
}

kafka_struct! {
    /// Per-partition results, by topic (v0-3) or by transaction then topic (v4).
    pub struct AddPartitionsToTxnResponse {
        throttle_time_ms: i32 [0, MAX],
        /// Top-level error of a batched (v4+) request.
        error_code: i16 [4, MAX],
        results_by_transaction: Vec<AddPartitionsToTxnResult> [4, MAX],
        results_by_topic_v3_and_below: Vec<AddPartitionsToTxnTopicResult> [0, 3],
    }
}

kafka_struct! {
    /// The results for one transaction of a batched (v4+) request.
    pub struct AddPartitionsToTxnResult {
        transactional_id: String [4, MAX],
        topic_results: Vec<AddPartitionsToTxnTopicResult> [4, MAX],
    }
}

kafka_struct! {
    /// The results for one topic (shared by both response forms).
    pub struct AddPartitionsToTxnTopicResult {
        name: String [0, MAX],
        results_by_partition: Vec<AddPartitionsToTxnPartitionResult> [0, MAX],
    }
}

kafka_struct! {
    /// Whether one partition was added to (or, with `verify_only`, is in) the transaction.
    pub struct AddPartitionsToTxnPartitionResult {
        partition_index: i32 [0, MAX],
        partition_error_code: i16 [0, MAX],
    }
}
