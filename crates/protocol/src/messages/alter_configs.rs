//! AlterConfigs (key 33): replace the whole configuration of resources (non-incremental).
//! Kafka's `AlterConfigsRequest.json` / `AlterConfigsResponse.json`; versions 0 to 2, flexible
//! from 2.

kafka_struct! {
    pub struct AlterConfigsRequest {
        resources: Vec<AlterConfigsResource> [0, MAX],
        validate_only: bool [0, MAX],
    }
}

kafka_struct! {
    /// A resource and the full set of configuration values it should have.
    pub struct AlterConfigsResource {
        resource_type: i8 [0, MAX],
        resource_name: String [0, MAX],
        configs: Vec<AlterableConfig> [0, MAX],
    }
}

kafka_struct! {
    /// A key and its new value (`None` for no value).
    pub struct AlterableConfig {
        name: String [0, MAX],
        value: Option<String> [0, MAX],
    }
}

kafka_struct! {
    pub struct AlterConfigsResponse {
        throttle_time_ms: i32 [0, MAX],
        responses: Vec<AlterConfigsResourceResponse> [0, MAX],
    }
}

kafka_struct! {
    /// The outcome for one resource.
    pub struct AlterConfigsResourceResponse {
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        resource_type: i8 [0, MAX],
        resource_name: String [0, MAX],
    }
}
