//! The segmented partition log of Sluice, on local disk. Synchronous file I/O, no threads of its
//! own: the broker decides which threads run it and when maintenance happens.
//!
//! Kafka's model and names: a [`Log`] per partition is a sequence of [`LogSegment`]s
//! (`{base_offset:020}.log` with sparse, memory-mapped [`OffsetIndex`] and [`TimeIndex`]);
//! a [`LogManager`] holds every log under `log.dirs`, recovers them after a crash, and runs
//! retention, flushes and checkpoints. Record batches stay in their wire form end to end
//! (see `sluice_protocol::record_batch`).
//!
//! A shared log's lock is held only for decisions and in-memory updates; fsyncs, unlinking
//! deleted segments and compaction's rewriting run with no lock held, as work the log hands
//! out under its lock ([`jobs`]; the `log` module documents the discipline).

pub mod checkpoint;
pub mod cleaner;
pub mod clock;
pub mod config;
pub mod dir_lock;
pub mod epoch;
pub mod error;
pub mod index;
pub mod jobs;
pub mod log;
pub mod manager;
pub mod producer_state;
pub mod segment;
pub mod stats;
pub mod topic_partition;
pub mod txn_index;

pub use cleaner::{CleanStats, CleanedSegments, CompactionPlan};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{CleanupPolicy, LogConfig, TOPIC_CONFIGS, TopicCompression, TopicConfigDef};
pub use dir_lock::DirLock;
pub use epoch::{EpochEntry, LeaderEpochFileCache};
pub use error::{Result, StorageError};
pub use index::{OffsetIndex, TimeIndex};
pub use jobs::{DeletedFiles, FlushJob, flush_if_due};
pub use log::{
    AppendOrigin, EARLIEST_LOCAL_TIMESTAMP, EARLIEST_TIMESTAMP, FetchDataInfo, LATEST_TIERED_TIMESTAMP,
    LATEST_TIMESTAMP, Log, LogAppendInfo, LogLoadParams, MAX_TIMESTAMP, TimestampAndOffset,
};
pub use manager::{LogManager, LogManagerConfig, MaintenanceReport, SharedLog};
pub use segment::LogSegment;
pub use topic_partition::TopicPartition;
pub use txn_index::AbortedTxn;
