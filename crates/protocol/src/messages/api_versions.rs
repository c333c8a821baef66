//! ApiVersions (key 18): which APIs and versions the broker speaks. Kafka's
//! `ApiVersionsRequest.json` / `ApiVersionsResponse.json`. The response header is always v0,
//! even for flexible versions, so that a client can parse the answer before it knows them.

kafka_struct! {
    pub struct ApiVersionsRequest {
        client_software_name: String [3, MAX],
        client_software_version: String [3, MAX],
    }
}

kafka_struct! {
    pub struct ApiVersionsResponse {
        error_code: i16 [0, MAX],
        api_keys: Vec<ApiVersion> [0, MAX],
        throttle_time_ms: i32 [1, MAX],
        supported_features: Vec<SupportedFeatureKey> [3, MAX] tag 0,
        finalized_features_epoch: i64 [3, MAX] tag 1,
        finalized_features: Vec<FinalizedFeatureKey> [3, MAX] tag 2,
        zk_migration_ready: bool [3, MAX] tag 3,
    }
}

kafka_struct! {
    pub struct ApiVersion {
        api_key: i16 [0, MAX],
        min_version: i16 [0, MAX],
        max_version: i16 [0, MAX],
    }
}

kafka_struct! {
    pub struct SupportedFeatureKey {
        name: String [3, MAX],
        min_version: i16 [3, MAX],
        max_version: i16 [3, MAX],
    }
}

kafka_struct! {
    pub struct FinalizedFeatureKey {
        name: String [3, MAX],
        max_version_level: i16 [3, MAX],
        min_version_level: i16 [3, MAX],
    }
}
