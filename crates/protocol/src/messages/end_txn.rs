//! EndTxn (key 26): a transactional producer asks its transaction coordinator to commit or abort
//! the ongoing transaction. Kafka's `EndTxnRequest.json` / `EndTxnResponse.json`; we speak
//! versions 0 to 3, flexible from 3. Not spoken: v4 (may answer TRANSACTION_ABORTABLE) and v5
//! (KIP-890 part 2: the epoch is bumped on every transaction, and the response carries the new
//! producer id and epoch).

kafka_struct! {
    pub struct EndTxnRequest {
        transactional_id: String [0, MAX],
        producer_id: i64 [0, MAX],
        producer_epoch: i16 [0, MAX],
        /// True to commit the transaction, false to abort it.
        committed: bool [0, MAX],
    }
}

kafka_struct! {
    pub struct EndTxnResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
    }
}
