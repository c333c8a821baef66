//! Kafka error codes, and the one table that maps internal errors to them.
//!
//! Request errors travel back to the client at the finest level the protocol allows (per
//! partition, per topic); the codes are Kafka's, so every client knows what to do with them.

use sluice_protocol::BatchError;
use sluice_storage::StorageError;

/// A Kafka protocol error code (`org.apache.kafka.common.protocol.Errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i16)]
pub enum ErrorCode {
    UnknownServerError = -1,
    None = 0,
    OffsetOutOfRange = 1,
    CorruptMessage = 2,
    UnknownTopicOrPartition = 3,
    InvalidFetchSize = 4,
    LeaderNotAvailable = 5,
    NotLeaderOrFollower = 6,
    RequestTimedOut = 7,
    MessageTooLarge = 10,
    NetworkException = 13,
    CoordinatorNotAvailable = 15,
    NotCoordinator = 16,
    InvalidTopicException = 17,
    RecordListTooLarge = 18,
    NotEnoughReplicas = 19,
    NotEnoughReplicasAfterAppend = 20,
    InvalidRequiredAcks = 21,
    InvalidTimestamp = 32,
    UnsupportedSaslMechanism = 33,
    IllegalSaslState = 34,
    UnsupportedVersion = 35,
    TopicAlreadyExists = 36,
    InvalidPartitions = 37,
    InvalidReplicationFactor = 38,
    InvalidReplicaAssignment = 39,
    InvalidConfig = 40,
    NotController = 41,
    InvalidRequest = 42,
    PolicyViolation = 44,
    KafkaStorageError = 56,
    TopicDeletionDisabled = 73,
    FencedLeaderEpoch = 74,
    UnknownLeaderEpoch = 75,
    OffsetNotAvailable = 78,
    InvalidRecord = 87,
    UnknownTopicId = 100,
}

impl ErrorCode {
    pub fn code(self) -> i16 {
        self as i16
    }

    /// Kafka's constant name, for logs and messages.
    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            UnknownServerError => "UNKNOWN_SERVER_ERROR",
            None => "NONE",
            OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            CorruptMessage => "CORRUPT_MESSAGE",
            UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            InvalidFetchSize => "INVALID_FETCH_SIZE",
            LeaderNotAvailable => "LEADER_NOT_AVAILABLE",
            NotLeaderOrFollower => "NOT_LEADER_OR_FOLLOWER",
            RequestTimedOut => "REQUEST_TIMED_OUT",
            MessageTooLarge => "MESSAGE_TOO_LARGE",
            NetworkException => "NETWORK_EXCEPTION",
            CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            NotCoordinator => "NOT_COORDINATOR",
            InvalidTopicException => "INVALID_TOPIC_EXCEPTION",
            RecordListTooLarge => "RECORD_LIST_TOO_LARGE",
            NotEnoughReplicas => "NOT_ENOUGH_REPLICAS",
            NotEnoughReplicasAfterAppend => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            InvalidRequiredAcks => "INVALID_REQUIRED_ACKS",
            InvalidTimestamp => "INVALID_TIMESTAMP",
            UnsupportedSaslMechanism => "UNSUPPORTED_SASL_MECHANISM",
            IllegalSaslState => "ILLEGAL_SASL_STATE",
            UnsupportedVersion => "UNSUPPORTED_VERSION",
            TopicAlreadyExists => "TOPIC_ALREADY_EXISTS",
            InvalidPartitions => "INVALID_PARTITIONS",
            InvalidReplicationFactor => "INVALID_REPLICATION_FACTOR",
            InvalidReplicaAssignment => "INVALID_REPLICA_ASSIGNMENT",
            InvalidConfig => "INVALID_CONFIG",
            NotController => "NOT_CONTROLLER",
            InvalidRequest => "INVALID_REQUEST",
            PolicyViolation => "POLICY_VIOLATION",
            KafkaStorageError => "KAFKA_STORAGE_ERROR",
            TopicDeletionDisabled => "TOPIC_DELETION_DISABLED",
            FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            UnknownLeaderEpoch => "UNKNOWN_LEADER_EPOCH",
            OffsetNotAvailable => "OFFSET_NOT_AVAILABLE",
            InvalidRecord => "INVALID_RECORD",
            UnknownTopicId => "UNKNOWN_TOPIC_ID",
        }
    }
}

/// The table: which Kafka error a storage failure becomes. Adding a `StorageError` variant
/// fails to compile here until someone decides.
pub fn storage_error_code(e: &StorageError) -> ErrorCode {
    match e {
        StorageError::Io { .. } | StorageError::LogOffline { .. } | StorageError::DirLocked { .. } => {
            ErrorCode::KafkaStorageError
        }
        StorageError::CorruptLog { .. }
        | StorageError::CorruptIndex { .. }
        | StorageError::CorruptCheckpoint { .. } => ErrorCode::KafkaStorageError,
        StorageError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        StorageError::InvalidRecord { source, .. } => match source {
            BatchError::CrcMismatch { .. } | BatchError::Truncated { .. } | BatchError::InvalidLength { .. } => {
                ErrorCode::CorruptMessage
            }
            BatchError::UnsupportedMagic { .. }
            | BatchError::InvalidOffsetDelta { .. }
            | BatchError::CorruptRecord { .. }
            | BatchError::CompressedRecords { .. } => ErrorCode::InvalidRecord,
        },
        StorageError::RecordTooLarge { .. } => ErrorCode::MessageTooLarge,
        StorageError::UnexpectedAppendOffset { .. } => ErrorCode::UnknownServerError,
        StorageError::DuplicateLog { .. } => ErrorCode::KafkaStorageError,
        StorageError::InvalidConfig { .. } | StorageError::UnknownConfig { .. } => ErrorCode::InvalidConfig,
        StorageError::UnknownPartition { .. } => ErrorCode::UnknownTopicOrPartition,
    }
}
