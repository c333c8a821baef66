//! FindCoordinator (key 10): which broker coordinates a group or transactional id. Kafka's
//! `FindCoordinatorRequest.json` / `FindCoordinatorResponse.json`; versions 0 to 4, flexible
//! from 3. Up to v3 one key is asked and answered at top level; from v4 keys are batched.

kafka_struct! {
    pub struct FindCoordinatorRequest {
        key: String [0, 3],
        /// 0 = group, 1 = transaction.
        key_type: i8 [1, MAX],
        coordinator_keys: Vec<String> [4, MAX],
    }
}

kafka_struct! {
    pub struct FindCoordinatorResponse {
        throttle_time_ms: i32 [1, MAX],
        error_code: i16 [0, 3],
        error_message: Option<String> [1, 3],
        node_id: i32 [0, 3],
        host: String [0, 3],
        port: i32 [0, 3],
        coordinators: Vec<FindCoordinatorResult> [4, MAX],
    }
}

kafka_struct! {
    /// The coordinator found (or the error) for one key of a batched (v4+) request.
    pub struct FindCoordinatorResult {
        key: String [4, MAX],
        node_id: i32 [4, MAX],
        host: String [4, MAX],
        port: i32 [4, MAX],
        error_code: i16 [4, MAX],
        error_message: Option<String> [4, MAX],
    }
}
