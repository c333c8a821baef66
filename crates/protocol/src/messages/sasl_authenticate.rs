//! SaslAuthenticate (key 36, KIP-152): one SASL token from the client and the server's answer,
//! after a SaslHandshake v1 has chosen the mechanism. Kafka's `SaslAuthenticateRequest.json` /
//! `SaslAuthenticateResponse.json`; flexible from v2.

use bytes::Bytes;

kafka_struct! {
    /// The client's SASL token.
    pub struct SaslAuthenticateRequest {
        auth_bytes: Bytes [0, MAX],
    }
}

kafka_struct! {
    /// The server's SASL token, or why authentication failed; v1+ says how long the session
    /// may last before the client must authenticate again (KIP-368; 0: no limit).
    pub struct SaslAuthenticateResponse {
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        auth_bytes: Bytes [0, MAX],
        session_lifetime_ms: i64 [1, MAX],
    }
}
