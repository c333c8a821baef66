//! DescribeTransactions (key 65, KIP-664): the state of transactional ids, as their transaction
//! coordinator holds it. Kafka's `DescribeTransactionsRequest.json` /
//! `DescribeTransactionsResponse.json`; version 0, flexible from 0. Kafka's nested structs
//! `TransactionState` and `TopicData` are named here with the message as prefix, since every
//! message type shares one namespace (and ListTransactions has a `TransactionState` too).

kafka_struct! {
    /// The transactional ids to describe; none gives no results.
    pub struct DescribeTransactionsRequest {
        transactional_ids: Vec<String> [0, MAX],
    }
}

kafka_struct! {
    pub struct DescribeTransactionsResponse {
        throttle_time_ms: i32 [0, MAX],
        transaction_states: Vec<DescribeTransactionsResponseState> [0, MAX],
    }
}

kafka_struct! {
    /// One transactional id's state (Kafka's `TransactionState`).
    pub struct DescribeTransactionsResponseState {
        error_code: i16 [0, MAX],
        transactional_id: String [0, MAX],
        /// The coordinator's state name: `Empty`, `Ongoing`, `PrepareCommit`, `CompleteAbort`, ...
        transaction_state: String [0, MAX],
        transaction_timeout_ms: i32 [0, MAX],
        transaction_start_time_ms: i64 [0, MAX],
        producer_id: i64 [0, MAX],
        producer_epoch: i16 [0, MAX],
        /// Partitions in the transaction (while ending it, only those still without a marker).
        topics: Vec<DescribeTransactionsResponseTopic> [0, MAX],
    }
}

kafka_struct! {
    /// One topic's partitions in a transaction (Kafka's `TopicData`).
    pub struct DescribeTransactionsResponseTopic {
        topic: String [0, MAX],
        partitions: Vec<i32> [0, MAX],
    }
}
