//! JoinGroup (key 11): a member asks the group coordinator to enter (or re-enter) a group.
//! Kafka's `JoinGroupRequest.json` / `JoinGroupResponse.json`; versions 0 to 9, flexible from 6.

use bytes::Bytes;

kafka_struct! {
    /// A member's request to join a group, with the protocols it can run.
    pub struct JoinGroupRequest {
        group_id: String [0, MAX],
        session_timeout_ms: i32 [0, MAX],
        /// Kafka's default is -1; `Default` here gives 0.
        rebalance_timeout_ms: i32 [1, MAX],
        member_id: String [0, MAX],
        group_instance_id: Option<String> [5, MAX],
        protocol_type: String [0, MAX],
        protocols: Vec<JoinGroupRequestProtocol> [0, MAX],
        reason: Option<String> [8, MAX],
    }
}

kafka_struct! {
    /// One protocol the joining member supports, with its opaque metadata.
    pub struct JoinGroupRequestProtocol {
        name: String [0, MAX],
        metadata: Bytes [0, MAX],
    }
}

kafka_struct! {
    /// The outcome of a join: the generation, the chosen protocol and, for the leader, the members.
    pub struct JoinGroupResponse {
        throttle_time_ms: i32 [2, MAX],
        error_code: i16 [0, MAX],
        /// Kafka's default is -1; `Default` here gives 0.
        generation_id: i32 [0, MAX],
        protocol_type: Option<String> [7, MAX],
        /// Nullable only from v7; before that `None` must not be sent.
        protocol_name: Option<String> [0, MAX],
        leader: String [0, MAX],
        skip_assignment: bool [9, MAX],
        member_id: String [0, MAX],
        members: Vec<JoinGroupResponseMember> [0, MAX],
    }
}

kafka_struct! {
    /// One group member as reported to the leader, with its opaque metadata.
    pub struct JoinGroupResponseMember {
        member_id: String [0, MAX],
        group_instance_id: Option<String> [5, MAX],
        metadata: Bytes [0, MAX],
    }
}
