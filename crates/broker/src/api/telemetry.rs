//! GetTelemetrySubscriptions and PushTelemetry (KIP-714): clients such as librdkafka 2.5+ and
//! the Java client 3.7+ ask which of their metrics the broker wants. This broker has no
//! telemetry receiver (Kafka needs a `ClientTelemetry` plugin for one), so it subscribes to
//! nothing: the answer assigns a client instance id when the client has none, and lists no
//! metrics, which tells the client not to push; it asks again after the push interval. A push
//! anyway is checked as Kafka checks it (a zero instance id is INVALID_REQUEST, another
//! subscription id UNKNOWN_SUBSCRIPTION_ID, more than the size bound TELEMETRY_TOO_LARGE) and
//! dropped.

use sluice_protocol::codec::Uuid;
use sluice_protocol::messages::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse, PushTelemetryRequest, PushTelemetryResponse,
};

use crate::error::ErrorCode;

/// How often a client asks again (Kafka's default client-metrics `interval.ms`, 5 minutes).
const PUSH_INTERVAL_MS: i32 = 300_000;

/// The most metric bytes one push may carry (Kafka's `telemetry.max.bytes` default).
const TELEMETRY_MAX_BYTES: i32 = 1024 * 1024;

/// The id of the one subscription served, the empty one. Kafka derives ids from the
/// subscription's contents; any fixed non-zero value names this one.
const EMPTY_SUBSCRIPTION_ID: i32 = 1;

/// The codecs a push may use: zstd, lz4, gzip, snappy (Kafka's order of preference).
const ACCEPTED_COMPRESSION_TYPES: [i8; 4] = [4, 3, 1, 2];

pub fn subscriptions(request: GetTelemetrySubscriptionsRequest) -> GetTelemetrySubscriptionsResponse {
    let client_instance_id = if request.client_instance_id == Uuid::ZERO {
        let mut id = [0u8; 16];
        if getrandom::fill(&mut id).is_err() {
            return GetTelemetrySubscriptionsResponse {
                error_code: ErrorCode::UnknownServerError.code(),
                ..Default::default()
            };
        }
        Uuid(id)
    } else {
        Uuid::ZERO
    };
    GetTelemetrySubscriptionsResponse {
        throttle_time_ms: 0,
        error_code: 0,
        client_instance_id,
        subscription_id: EMPTY_SUBSCRIPTION_ID,
        accepted_compression_types: ACCEPTED_COMPRESSION_TYPES.to_vec(),
        push_interval_ms: PUSH_INTERVAL_MS,
        telemetry_max_bytes: TELEMETRY_MAX_BYTES,
        delta_temporality: true,
        requested_metrics: Vec::new(),
    }
}

pub fn push(request: PushTelemetryRequest) -> PushTelemetryResponse {
    let error = if request.client_instance_id == Uuid::ZERO {
        ErrorCode::InvalidRequest
    } else if request.subscription_id != EMPTY_SUBSCRIPTION_ID {
        ErrorCode::UnknownSubscriptionId
    } else if request.metrics.len() > TELEMETRY_MAX_BYTES as usize {
        ErrorCode::TelemetryTooLarge
    } else {
        ErrorCode::None
    };
    PushTelemetryResponse { throttle_time_ms: 0, error_code: error.code() }
}
