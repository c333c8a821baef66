//! The client's error type: a Kafka error code from the broker (with its name and a hint), a
//! connection problem naming the address, a timeout, or a protocol violation.
//!
//! Each message is one line and complete on its own: no variant carries another error as its
//! `source`, so printing the chain (anyhow's `{:#}`) never says the same thing twice.

use sluice_protocol::codec::DecodeError;
use sluice_protocol::error_code::ErrorCode;
use thiserror::Error;

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[derive(Debug, Error, Clone)]
pub enum ClientError {
    /// The broker answered with an error code; `message` is the broker's or the client's
    /// context, empty when there is none (the name alone is printed then).
    #[error("{}{}{message}", name_of(*.code), if .message.is_empty() { "" } else { ": " })]
    Kafka { code: i16, message: String },
    #[error("cannot connect to {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("connection to {address} lost: {reason}")]
    Disconnected { address: String, reason: String },
    #[error("timed out after {ms} ms waiting for {what}")]
    Timeout { what: String, ms: u64 },
    #[error("the broker at {address} sent an undecodable response: {error}")]
    Protocol { address: String, error: DecodeError },
    /// Something listens at `address` but did not answer ApiVersions as a Kafka broker does
    /// (a ZooKeeper or HTTP port, say): it closed the connection, sent something that is no
    /// Kafka response frame, or said nothing within the connect timeout.
    #[error("{address} does not speak the Kafka protocol ({reason})")]
    NotKafka { address: String, reason: String },
    /// SASL authentication with the broker at `address` failed (a wrong user or password, a
    /// mechanism the listener does not enable, or a server that could not prove the credential).
    #[error("authentication with {address} failed: {reason}")]
    Authentication { address: String, reason: String },
    #[error("the broker at {address} does not support {api}")]
    Unsupported { address: String, api: &'static str },
    #[error("{0}")]
    Invalid(String),
}

fn name_of(code: i16) -> String {
    ErrorCode::from_code(code).map_or_else(|| format!("KAFKA_ERROR_{code}"), |c| c.name().to_string())
}

impl ClientError {
    /// Builds the error for a non-zero code (with the broker's message, if any). Without one
    /// the error is the code's name alone; its hint is [`ClientError::hint`]'s to give, once.
    pub fn kafka(code: i16, message: Option<String>) -> ClientError {
        ClientError::Kafka { code, message: message.unwrap_or_default() }
    }

    /// `Ok(())` for code 0, the error otherwise.
    pub fn check(code: i16, message: Option<String>) -> Result<()> {
        if code == 0 { Ok(()) } else { Err(ClientError::kafka(code, message)) }
    }

    /// The Kafka error code, if this is one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Kafka { code, .. } => ErrorCode::from_code(*code),
            _ => None,
        }
    }

    /// A hint for people, when there is one.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ClientError::Kafka { code, .. } => ErrorCode::from_code(*code).map(ErrorCode::hint),
            ClientError::Connect { .. } => {
                Some("is the broker running? check --bootstrap-server (or SLUICE_BOOTSTRAP)")
            }
            ClientError::Authentication { .. } => Some(
                "check the SASL mechanism, user name and password (-X sasl.mechanism, sasl.username, sasl.password)",
            ),
            ClientError::NotKafka { .. } => {
                Some("--bootstrap-server must name a broker's Kafka listener (not keeper's or ZooKeeper's port)")
            }
            _ => None,
        }
    }

    /// Whether retrying after a metadata refresh may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => ErrorCode::from_code(*code).is_some_and(ErrorCode::is_retriable),
            ClientError::Disconnected { .. } | ClientError::Timeout { .. } => true,
            _ => false,
        }
    }
}
