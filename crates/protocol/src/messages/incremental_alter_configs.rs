//! IncrementalAlterConfigs (key 44): set, delete, append to or subtract from individual
//! configuration keys. Kafka's `IncrementalAlterConfigsRequest.json` /
//! `IncrementalAlterConfigsResponse.json`; versions 0 to 1, flexible from 1. Kafka reuses the
//! AlterConfigs element names here; ours carry an `Incremental` prefix to stay unique.

kafka_struct! {
    pub struct IncrementalAlterConfigsRequest {
        resources: Vec<IncrementalAlterConfigsResource> [0, MAX],
        validate_only: bool [0, MAX],
    }
}

kafka_struct! {
    /// A resource and the changes to apply to it.
    pub struct IncrementalAlterConfigsResource {
        resource_type: i8 [0, MAX],
        resource_name: String [0, MAX],
        configs: Vec<IncrementalAlterableConfig> [0, MAX],
    }
}

kafka_struct! {
    /// One change: the key, the operation (0 set, 1 delete, 2 append, 3 subtract) and the value.
    pub struct IncrementalAlterableConfig {
        name: String [0, MAX],
        config_operation: i8 [0, MAX],
        value: Option<String> [0, MAX],
    }
}

kafka_struct! {
    pub struct IncrementalAlterConfigsResponse {
        throttle_time_ms: i32 [0, MAX],
        responses: Vec<IncrementalAlterConfigsResourceResponse> [0, MAX],
    }
}

kafka_struct! {
    /// The outcome for one resource.
    pub struct IncrementalAlterConfigsResourceResponse {
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        resource_type: i8 [0, MAX],
        resource_name: String [0, MAX],
    }
}
