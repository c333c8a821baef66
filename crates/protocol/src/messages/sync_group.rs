//! SyncGroup (key 14): members fetch their assignment; the leader also hands in everyone's.
//! Kafka's `SyncGroupRequest.json` / `SyncGroupResponse.json`; versions 0 to 5, flexible from 4.

use bytes::Bytes;

kafka_struct! {
    /// A member's sync for a generation; only the leader fills `assignments`.
    pub struct SyncGroupRequest {
        group_id: String [0, MAX],
        generation_id: i32 [0, MAX],
        member_id: String [0, MAX],
        group_instance_id: Option<String> [3, MAX],
        protocol_type: Option<String> [5, MAX],
        protocol_name: Option<String> [5, MAX],
        assignments: Vec<SyncGroupRequestAssignment> [0, MAX],
    }
}

kafka_struct! {
    /// The opaque assignment the leader computed for one member.
    pub struct SyncGroupRequestAssignment {
        member_id: String [0, MAX],
        assignment: Bytes [0, MAX],
    }
}

kafka_struct! {
    /// The calling member's own assignment, or why there is none.
    pub struct SyncGroupResponse {
        throttle_time_ms: i32 [1, MAX],
        error_code: i16 [0, MAX],
        protocol_type: Option<String> [5, MAX],
        protocol_name: Option<String> [5, MAX],
        assignment: Bytes [0, MAX],
    }
}
