//! DescribeGroups (key 15): state, protocol and members of some groups. Kafka's
//! `DescribeGroupsRequest.json` / `DescribeGroupsResponse.json`; we speak versions 0 to 6,
//! flexible from 5 (v6, KIP-1043: a group that does not exist is GROUP_ID_NOT_FOUND).

use bytes::Bytes;

kafka_struct! {
    /// The groups to describe.
    pub struct DescribeGroupsRequest {
        groups: Vec<String> [0, MAX],
        include_authorized_operations: bool [3, MAX],
    }
}

kafka_struct! {
    /// One description per requested group.
    pub struct DescribeGroupsResponse {
        throttle_time_ms: i32 [1, MAX],
        groups: Vec<DescribeGroupsResponseGroup> [0, MAX],
    }
}

kafka_struct! {
    /// A group's state, protocol and members, or the error describing it.
    pub struct DescribeGroupsResponseGroup {
        error_code: i16 [0, MAX],
        /// Why the group could not be described (v6+).
        error_message: Option<String> [6, MAX],
        group_id: String [0, MAX],
        group_state: String [0, MAX],
        protocol_type: String [0, MAX],
        protocol_data: String [0, MAX],
        members: Vec<DescribeGroupsResponseMember> [0, MAX],
        /// Bitfield of operations the caller may perform (Kafka's default: i32::MIN).
        authorized_operations: i32 [3, MAX],
    }
}

kafka_struct! {
    /// One member of a described group, with its opaque metadata and assignment.
    pub struct DescribeGroupsResponseMember {
        member_id: String [0, MAX],
        group_instance_id: Option<String> [4, MAX],
        client_id: String [0, MAX],
        client_host: String [0, MAX],
        member_metadata: Bytes [0, MAX],
        member_assignment: Bytes [0, MAX],
    }
}
