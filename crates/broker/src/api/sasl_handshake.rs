//! SaslHandshake and SaslAuthenticate outside an authentication: on a listener without SASL, or
//! on a connection that has already authenticated (the connection's `sasl::Authenticator`
//! answers them while it authenticates). Kafka answers both with ILLEGAL_SASL_STATE.

use sluice_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};

use super::RequestContext;
use crate::error::ErrorCode;

pub fn handle(ctx: RequestContext<'_>, request: SaslHandshakeRequest) -> SaslHandshakeResponse {
    tracing::debug!(peer = %ctx.peer, mechanism = %request.mechanism, "SaslHandshake outside an authentication");
    SaslHandshakeResponse { error_code: ErrorCode::IllegalSaslState.code(), mechanisms: Vec::new() }
}

pub fn authenticate(ctx: RequestContext<'_>, _request: SaslAuthenticateRequest) -> SaslAuthenticateResponse {
    tracing::debug!(peer = %ctx.peer, "SaslAuthenticate outside an authentication");
    SaslAuthenticateResponse {
        error_code: ErrorCode::IllegalSaslState.code(),
        error_message: Some("SaslAuthenticate is only served during SASL authentication".into()),
        ..Default::default()
    }
}
