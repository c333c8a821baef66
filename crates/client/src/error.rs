//! The client's error type: a Kafka error code from the broker (with its name and a hint), a
//! connection problem naming the address, a timeout, or a protocol violation.

use sluice_protocol::codec::DecodeError;
use sluice_protocol::error_code::ErrorCode;
use thiserror::Error;

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[derive(Debug, Error, Clone)]
pub enum ClientError {
    /// The broker answered with an error code.
    #[error("{}: {message}", name_of(*.code))]
    Kafka { code: i16, message: String },
    #[error("cannot connect to {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("connection to {address} lost: {reason}")]
    Disconnected { address: String, reason: String },
    #[error("timed out after {ms} ms waiting for {what}")]
    Timeout { what: String, ms: u64 },
    #[error("the broker at {address} sent an undecodable response: {source}")]
    Protocol { address: String, source: DecodeError },
    #[error("the broker at {address} does not support {api}")]
    Unsupported { address: String, api: &'static str },
    #[error("{0}")]
    Invalid(String),
}

fn name_of(code: i16) -> String {
    ErrorCode::from_code(code).map_or_else(|| format!("KAFKA_ERROR_{code}"), |c| c.name().to_string())
}

impl ClientError {
    /// Builds the error for a non-zero code (with the broker's message, if any).
    pub fn kafka(code: i16, message: Option<String>) -> ClientError {
        let message = message.filter(|m| !m.is_empty()).unwrap_or_else(|| {
            ErrorCode::from_code(code).map_or("unknown error".to_string(), |c| c.hint().to_string())
        });
        ClientError::Kafka { code, message }
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
