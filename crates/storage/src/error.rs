//! The storage crate's one error type. Each variant names what it is about (partition, offset,
//! file) so a log line is enough to act on. Which Kafka error code a variant becomes is decided
//! in one table by the broker; this crate only says what happened.

use std::io;
use std::path::{Path, PathBuf};

use sluice_protocol::BatchError;
use thiserror::Error;

use crate::TopicPartition;

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum StorageError {
    /// The environment failed: disk full, permissions, an I/O error. Names the file.
    #[error("I/O error while trying to {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "offset {offset} is out of range for {tp}: log start offset {log_start_offset}, log end offset {log_end_offset}"
    )]
    OffsetOutOfRange { tp: TopicPartition, offset: i64, log_start_offset: i64, log_end_offset: i64 },
    #[error("invalid record batch for {tp}: {source}")]
    InvalidRecord {
        tp: TopicPartition,
        #[source]
        source: BatchError,
    },
    #[error(
        "record batch of {size} bytes for {tp} exceeds the {max}-byte limit (max.message.bytes, or segment.bytes if smaller)"
    )]
    RecordTooLarge { tp: TopicPartition, size: usize, max: usize },
    #[error("append to {tp} starts at offset {first_offset}, below the log end offset {log_end_offset}")]
    UnexpectedAppendOffset { tp: TopicPartition, first_offset: i64, log_end_offset: i64 },
    #[error("corrupt log {} at byte {position}: {source}", path.display())]
    CorruptLog {
        path: PathBuf,
        position: u64,
        #[source]
        source: BatchError,
    },
    #[error("corrupt index {}: {reason}", path.display())]
    CorruptIndex { path: PathBuf, reason: String },
    #[error("corrupt checkpoint file {}: {reason}", path.display())]
    CorruptCheckpoint { path: PathBuf, reason: String },
    #[error("log of {tp} is offline after an earlier failure: {reason}")]
    LogOffline { tp: TopicPartition, reason: String },
    #[error(
        "data directory {} is in use by another process ({}; lock file {})",
        dir.display(),
        holder_pid.map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}")),
        dir.join(crate::dir_lock::LOCK_FILE).display()
    )]
    DirLocked { dir: PathBuf, holder_pid: Option<u32> },
    #[error("partition {tp} is present in two log directories: {} and {}", first.display(), second.display())]
    DuplicateLog { tp: TopicPartition, first: PathBuf, second: PathBuf },
    #[error("invalid value {value:?} for config {key}: {reason}")]
    InvalidConfig { key: String, value: String, reason: String },
    #[error("unknown config {key}")]
    UnknownConfig { key: String },
    #[error("no log for partition {tp}")]
    UnknownPartition { tp: TopicPartition },
    #[error("the log of {tp} is already being moved to another directory")]
    MoveInProgress { tp: TopicPartition },
    /// The partition's log is on disk but still loading at startup: it cannot be created
    /// afresh (its data would be lost), nor served yet.
    #[error("the log of partition {tp} is still loading")]
    LogNotLoaded { tp: TopicPartition },
    /// An idempotent producer's batch out of sequence or from a fenced epoch.
    #[error("{tp}: {source}")]
    Sequence {
        tp: TopicPartition,
        #[source]
        source: crate::producer_state::SequenceError,
    },
}

/// Wraps an `io::Error` with the operation and the file it concerns.
pub(crate) fn io_err(op: &'static str, path: &Path, source: io::Error) -> StorageError {
    StorageError::Io { op, path: path.to_path_buf(), source }
}
