//! SaslHandshake (key 17): the client names a SASL mechanism, the broker lists those it enables.
//! Kafka's `SaslHandshakeRequest.json` / `SaslHandshakeResponse.json`; never flexible.

kafka_struct! {
    /// The mechanism the client wants to use.
    pub struct SaslHandshakeRequest {
        mechanism: String [0, MAX],
    }
}

kafka_struct! {
    /// Whether the mechanism is accepted, and the enabled mechanisms.
    pub struct SaslHandshakeResponse {
        error_code: i16 [0, MAX],
        mechanisms: Vec<String> [0, MAX],
    }
}
