//! DescribeConfigs (key 32): read the configuration of topics, brokers and other resources.
//! Kafka's `DescribeConfigsRequest.json` / `DescribeConfigsResponse.json`; we serve versions 0
//! to 4, flexible from 4. Version 0 tells whether a value is the default (`is_default`) where
//! version 1 and up tell its source (`config_source`) and synonyms.

kafka_struct! {
    pub struct DescribeConfigsRequest {
        resources: Vec<DescribeConfigsResource> [0, MAX],
        include_synonyms: bool [1, MAX],
        include_documentation: bool [3, MAX],
    }
}

kafka_struct! {
    /// One resource to describe; `configuration_keys` of `None` asks for every key.
    pub struct DescribeConfigsResource {
        resource_type: i8 [0, MAX],
        resource_name: String [0, MAX],
        configuration_keys: Option<Vec<String>> [0, MAX],
    }
}

kafka_struct! {
    pub struct DescribeConfigsResponse {
        throttle_time_ms: i32 [0, MAX],
        results: Vec<DescribeConfigsResult> [0, MAX],
    }
}

kafka_struct! {
    /// The outcome for one requested resource.
    pub struct DescribeConfigsResult {
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        resource_type: i8 [0, MAX],
        resource_name: String [0, MAX],
        configs: Vec<DescribeConfigsResourceResult> [0, MAX],
    }
}

kafka_struct! {
    /// One configuration entry of a described resource.
    pub struct DescribeConfigsResourceResult {
        name: String [0, MAX],
        value: Option<String> [0, MAX],
        read_only: bool [0, MAX],
        /// v0 only: whether the value is the default one.
        is_default: bool [0, 0],
        /// v1+: where the value comes from (Kafka's `ConfigSource`: 1 topic, 4 static broker
        /// config, 5 default, ...).
        config_source: i8 [1, MAX] = -1,
        is_sensitive: bool [0, MAX],
        synonyms: Vec<DescribeConfigsSynonym> [1, MAX],
        config_type: i8 [3, MAX],
        documentation: Option<String> [3, MAX],
    }
}

kafka_struct! {
    /// Another source that defines the same configuration key.
    pub struct DescribeConfigsSynonym {
        name: String [1, MAX],
        value: Option<String> [1, MAX],
        source: i8 [1, MAX],
    }
}
