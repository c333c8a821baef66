//! AddOffsetsToTxn (key 25): a transactional producer tells its transaction coordinator that the
//! transaction will commit offsets for a consumer group, so the group's `__consumer_offsets`
//! partition gets the transaction's markers too. Kafka's `AddOffsetsToTxnRequest.json` /
//! `AddOffsetsToTxnResponse.json`; we speak versions 0 to 3, flexible from 3 (v4 differs only in
//! that it may answer TRANSACTION_ABORTABLE, KIP-890).

kafka_struct! {
    pub struct AddOffsetsToTxnRequest {
        transactional_id: String [0, MAX],
        producer_id: i64 [0, MAX],
        producer_epoch: i16 [0, MAX],
        group_id: String [0, MAX],
    }
}

kafka_struct! {
    pub struct AddOffsetsToTxnResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
    }
}
