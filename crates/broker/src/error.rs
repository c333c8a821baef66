//! The one table that maps internal errors to Kafka error codes (the codes themselves live in
//! `sluice_protocol::error_code`, shared with the client).
//!
//! Request errors travel back to the client at the finest level the protocol allows (per
//! partition, per topic); the codes are Kafka's, so every client knows what to do with them.

use sluice_protocol::BatchError;
pub use sluice_protocol::error_code::ErrorCode;
use sluice_protocol::legacy::LegacyError;
use sluice_storage::StorageError;
use sluice_storage::producer_state::SequenceError;

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
        StorageError::InvalidRecord { source, .. } => batch_error_code(source),
        StorageError::RecordTooLarge { .. } => ErrorCode::MessageTooLarge,
        StorageError::UnexpectedAppendOffset { .. } => ErrorCode::UnknownServerError,
        StorageError::DuplicateLog { .. } => ErrorCode::KafkaStorageError,
        StorageError::InvalidConfig { .. } | StorageError::UnknownConfig { .. } => ErrorCode::InvalidConfig,
        StorageError::UnknownPartition { .. } => ErrorCode::UnknownTopicOrPartition,
        // AlterReplicaLogDirs to another directory while a move is under way (Kafka refuses
        // changing a move's destination with a storage error too).
        StorageError::MoveInProgress { .. } => ErrorCode::KafkaStorageError,
        // Hosted here and served once loaded: the answer of a broker not (yet) leading it.
        StorageError::LogNotLoaded { .. } => ErrorCode::NotLeaderOrFollower,
        StorageError::Sequence { source, .. } => match source {
            SequenceError::OutOfOrder { .. } => ErrorCode::OutOfOrderSequenceNumber,
            SequenceError::StaleEpoch { .. } => ErrorCode::InvalidProducerEpoch,
            SequenceError::CoordinatorFenced { .. } => ErrorCode::TransactionCoordinatorFenced,
        },
    }
}

/// The table's part for a record batch refused by its structure or by the leader's checks of a
/// producer's records (`sluice_protocol::validator`). Kafka's codes: bytes that are not what
/// they claim (CRC, lengths, a compressed stream that does not decompress) are CORRUPT_MESSAGE;
/// well-formed bytes that break a rule or lie about their records are INVALID_RECORD; a codec
/// id outside 0–4 is UNSUPPORTED_COMPRESSION_TYPE (Kafka fails such a batch with an unexpected
/// error); records that expand past the decompression bound are MESSAGE_TOO_LARGE, which a Java
/// producer answers by splitting the batch.
pub fn batch_error_code(e: &BatchError) -> ErrorCode {
    match e {
        BatchError::CrcMismatch { .. }
        | BatchError::Truncated { .. }
        | BatchError::InvalidLength { .. }
        | BatchError::CorruptCompressedRecords { .. } => ErrorCode::CorruptMessage,
        BatchError::UnsupportedMagic { .. }
        | BatchError::InvalidOffsetDelta { .. }
        | BatchError::CorruptRecord { .. }
        | BatchError::InvalidBatch { .. }
        | BatchError::TooFewRecords { .. }
        | BatchError::InvalidRecord { .. } => ErrorCode::InvalidRecord,
        BatchError::RecordsRefused { invalid_timestamp: true, .. } => ErrorCode::InvalidTimestamp,
        BatchError::RecordsRefused { .. } => ErrorCode::InvalidRecord,
        BatchError::CompressedRecords { .. } => ErrorCode::UnsupportedCompressionType,
        BatchError::DecompressedTooLarge { .. } => ErrorCode::MessageTooLarge,
    }
}

/// The table's part for a Produce v0–2 message set (magic 0 or 1) that cannot be converted to
/// a record batch: as for batches, bytes that are not what they claim are CORRUPT_MESSAGE,
/// well-formed sets that break a rule INVALID_RECORD, a codec the format lacks
/// UNSUPPORTED_COMPRESSION_TYPE.
pub fn legacy_error_code(e: &LegacyError) -> ErrorCode {
    match e {
        LegacyError::CrcMismatch { .. } | LegacyError::Corrupt { .. } => ErrorCode::CorruptMessage,
        LegacyError::Invalid { .. } => ErrorCode::InvalidRecord,
        LegacyError::UnsupportedCodec { .. } => ErrorCode::UnsupportedCompressionType,
    }
}

/// The error a peer's code stands for; a code this build does not know is UNKNOWN_SERVER_ERROR.
pub fn code_of(code: i16) -> ErrorCode {
    ErrorCode::from_code(code).unwrap_or(ErrorCode::UnknownServerError)
}
