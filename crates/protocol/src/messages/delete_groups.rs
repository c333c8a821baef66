//! DeleteGroups (key 42): remove empty groups and their committed offsets. Kafka's
//! `DeleteGroupsRequest.json` / `DeleteGroupsResponse.json`; we speak versions 0 to 2, flexible
//! from 2.

kafka_struct! {
    /// The groups to delete.
    pub struct DeleteGroupsRequest {
        groups_names: Vec<String> [0, MAX],
    }
}

kafka_struct! {
    /// The outcome for each group.
    pub struct DeleteGroupsResponse {
        throttle_time_ms: i32 [0, MAX],
        results: Vec<DeleteGroupsResponseResult> [0, MAX],
    }
}

kafka_struct! {
    /// Whether one group was deleted.
    pub struct DeleteGroupsResponseResult {
        group_id: String [0, MAX],
        error_code: i16 [0, MAX],
    }
}
