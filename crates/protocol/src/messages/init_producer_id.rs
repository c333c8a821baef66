//! InitProducerId (key 22): hand a producer its id and epoch, for idempotence and
//! transactions. Kafka's `InitProducerIdRequest.json` / `InitProducerIdResponse.json`; versions
//! 0 to 4, flexible from 2.

kafka_struct! {
    pub struct InitProducerIdRequest {
        transactional_id: Option<String> [0, MAX],
        transaction_timeout_ms: i32 [0, MAX],
        /// The producer's current id; -1 (none) before v3.
        producer_id: i64 [3, MAX] = -1,
        /// The producer's current epoch; -1 (none) before v3.
        producer_epoch: i16 [3, MAX] = -1,
    }
}

kafka_struct! {
    pub struct InitProducerIdResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
        producer_id: i64 [0, MAX],
        producer_epoch: i16 [0, MAX],
    }
}
