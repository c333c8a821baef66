//! ListGroups (key 16): enumerate the groups a broker coordinates. Kafka's
//! `ListGroupsRequest.json` / `ListGroupsResponse.json`; we speak versions 0 to 5, flexible from 3.

kafka_struct! {
    /// Asks for the groups, optionally only those in some states (v4+; empty means all).
    pub struct ListGroupsRequest {
        states_filter: Vec<String> [4, MAX],
        /// Only groups of these types (v5+, KIP-848: classic, consumer, share; empty means all).
        types_filter: Vec<String> [5, MAX],
    }
}

kafka_struct! {
    /// The groups this broker coordinates.
    pub struct ListGroupsResponse {
        throttle_time_ms: i32 [1, MAX],
        error_code: i16 [0, MAX],
        groups: Vec<ListGroupsResponseGroup> [0, MAX],
    }
}

kafka_struct! {
    /// One listed group.
    pub struct ListGroupsResponseGroup {
        group_id: String [0, MAX],
        protocol_type: String [0, MAX],
        group_state: String [4, MAX],
        /// `classic`, `consumer` or `share` (v5+).
        group_type: String [5, MAX],
    }
}
