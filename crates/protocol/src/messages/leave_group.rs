//! LeaveGroup (key 13): one or more members leave a group. Kafka's `LeaveGroupRequest.json` /
//! `LeaveGroupResponse.json`; versions 0 to 5, flexible from 4. Up to v2 a single member leaves
//! by id at top level; from v3 members are batched.

kafka_struct! {
    /// Which members leave which group.
    pub struct LeaveGroupRequest {
        group_id: String [0, MAX],
        member_id: String [0, 2],
        members: Vec<LeaveGroupRequestMember> [3, MAX],
    }
}

kafka_struct! {
    /// One leaving member of a batched (v3+) request.
    pub struct LeaveGroupRequestMember {
        member_id: String [3, MAX],
        group_instance_id: Option<String> [3, MAX],
        reason: Option<String> [5, MAX],
    }
}

kafka_struct! {
    /// The outcome of the leave, overall and (v3+) per member.
    pub struct LeaveGroupResponse {
        throttle_time_ms: i32 [1, MAX],
        error_code: i16 [0, MAX],
        members: Vec<LeaveGroupResponseMember> [3, MAX],
    }
}

kafka_struct! {
    /// The outcome for one member of a batched (v3+) request.
    pub struct LeaveGroupResponseMember {
        member_id: String [3, MAX],
        group_instance_id: Option<String> [3, MAX],
        error_code: i16 [3, MAX],
    }
}
