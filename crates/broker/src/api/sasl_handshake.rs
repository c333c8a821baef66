//! SaslHandshake: no mechanism is enabled until security lands, so every mechanism is refused
//! with UNSUPPORTED_SASL_MECHANISM and an empty list of enabled ones.

use sluice_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

use super::RequestContext;
use crate::error::ErrorCode;

pub fn handle(_ctx: RequestContext<'_>, request: SaslHandshakeRequest) -> SaslHandshakeResponse {
    tracing::debug!(mechanism = %request.mechanism, "SASL requested but no mechanism is enabled");
    SaslHandshakeResponse { error_code: ErrorCode::UnsupportedSaslMechanism.code(), mechanisms: Vec::new() }
}
