//! Heartbeat (key 12): a member tells the group coordinator it is still alive.
//! Kafka's `HeartbeatRequest.json` / `HeartbeatResponse.json`; versions 0 to 4, flexible from 4.

kafka_struct! {
    /// A liveness ping from one member for one generation.
    pub struct HeartbeatRequest {
        group_id: String [0, MAX],
        generation_id: i32 [0, MAX],
        member_id: String [0, MAX],
        group_instance_id: Option<String> [3, MAX],
    }
}

kafka_struct! {
    /// The coordinator's answer; an error here usually means "rejoin".
    pub struct HeartbeatResponse {
        throttle_time_ms: i32 [1, MAX],
        error_code: i16 [0, MAX],
    }
}
