//! GetTelemetrySubscriptions (key 71) and PushTelemetry (key 72), KIP-714: a client asks which
//! of its metrics the broker wants and how often, then pushes them. Kafka's
//! `GetTelemetrySubscriptions*.json` / `PushTelemetry*.json`; version 0, flexible from 0.

use bytes::Bytes;

use crate::codec::Uuid;

kafka_struct! {
    /// The client's instance id (zero on its first request: the broker assigns one).
    pub struct GetTelemetrySubscriptionsRequest {
        client_instance_id: Uuid [0, MAX],
    }
}

kafka_struct! {
    /// The metrics the broker wants from this client, and how.
    pub struct GetTelemetrySubscriptionsResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
        client_instance_id: Uuid [0, MAX],
        subscription_id: i32 [0, MAX],
        accepted_compression_types: Vec<i8> [0, MAX],
        push_interval_ms: i32 [0, MAX],
        telemetry_max_bytes: i32 [0, MAX],
        delta_temporality: bool [0, MAX],
        /// Metric name prefixes; empty: none wanted.
        requested_metrics: Vec<String> [0, MAX],
    }
}

kafka_struct! {
    /// Metrics pushed by a client (OpenTelemetry `MetricsData`, compressed).
    pub struct PushTelemetryRequest {
        client_instance_id: Uuid [0, MAX],
        subscription_id: i32 [0, MAX],
        terminating: bool [0, MAX],
        compression_type: i8 [0, MAX],
        metrics: Bytes [0, MAX],
    }
}

kafka_struct! {
    /// Whether the push was taken.
    pub struct PushTelemetryResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
    }
}
