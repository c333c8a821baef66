//! ListTransactions (key 66, KIP-664): the transactions a transaction coordinator holds, filtered
//! by state, producer id and (v1, KIP-994) duration. Kafka's `ListTransactionsRequest.json` /
//! `ListTransactionsResponse.json`; we speak versions 0 to 2, flexible from 0 (v2: a transactional id pattern, KIP-1152). Kafka's nested
//! `TransactionState` is named `ListTransactionsResponseState` here, since DescribeTransactions
//! has one too.

kafka_struct! {
    /// Empty filters match everything.
    pub struct ListTransactionsRequest {
        state_filters: Vec<String> [0, MAX],
        producer_id_filters: Vec<i64> [0, MAX],
        /// Only transactions running longer than this many ms; negative for all (Kafka's
        /// default: -1).
        duration_filter: i64 [1, MAX] = -1,
        /// Only transactional ids this regular expression matches (v2, KIP-1152); null or
        /// empty for all.
        transactional_id_pattern: Option<String> [2, MAX],
    }
}

kafka_struct! {
    pub struct ListTransactionsResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
        /// The request's state filters that the coordinator does not know.
        unknown_state_filters: Vec<String> [0, MAX],
        transaction_states: Vec<ListTransactionsResponseState> [0, MAX],
    }
}

kafka_struct! {
    /// One listed transaction (Kafka's `TransactionState`).
    pub struct ListTransactionsResponseState {
        transactional_id: String [0, MAX],
        producer_id: i64 [0, MAX],
        transaction_state: String [0, MAX],
    }
}
