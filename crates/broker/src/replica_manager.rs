//! `ReplicaManager`: the partitions this broker hosts and the operations on them (Kafka's
//! `ReplicaManager`). Today every partition is led by this broker with itself as the whole ISR;
//! the shape is what replication needs later: appends go through a `Partition`, which checks
//! leadership and the ISR, writes the log, and advances the high watermark; `acks=all`
//! waits on the high watermark (a purgatory keyed by offset); fetches long-poll on it.
//!
//! Concurrency: the partition map is behind a read-write lock held only to look up or change
//! the map. Each `Partition` owns its log behind its own lock; storage calls are short
//! synchronous file operations. Waiting happens on `tokio::sync::watch` channels, never while a
//! lock is held.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::RwLock;
use sluice_storage::{LogAppendInfo, LogConfig, LogManager, SharedLog, StorageError, TopicPartition};
use tokio::sync::watch;

use crate::error::{ErrorCode, storage_error_code};

/// One partition hosted here.
#[derive(Debug)]
pub struct Partition {
    pub tp: TopicPartition,
    pub log: SharedLog,
    pub leader_epoch: i32,
    /// The high watermark, published for waiters (`acks=all` and long-polling fetches).
    high_watermark: watch::Sender<i64>,
}

/// The outcome of appending to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    pub error: ErrorCode,
    pub base_offset: i64,
    pub log_start_offset: i64,
}

/// What a fetch read from one partition.
#[derive(Debug, Clone)]
pub struct PartitionRead {
    pub error: ErrorCode,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub records: Bytes,
}

impl Partition {
    fn new(tp: TopicPartition, log: SharedLog) -> Arc<Partition> {
        let hw = {
            let mut log = log.write();
            // A sole replica has everything it wrote: the high watermark is the log end.
            let end = log.log_end_offset();
            log.update_high_watermark(end)
        };
        let leader_epoch = log.read().latest_epoch().unwrap_or(0).max(0);
        Arc::new(Partition { tp, log, leader_epoch, high_watermark: watch::channel(hw).0 })
    }

    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// Checks a request's `current_leader_epoch` (-1: not given) against this partition's:
    /// older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH (KIP-320), so the client
    /// refreshes its metadata.
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> Result<(), ErrorCode> {
        if current_leader_epoch < 0 || current_leader_epoch == self.leader_epoch {
            Ok(())
        } else if current_leader_epoch < self.leader_epoch {
            Err(ErrorCode::FencedLeaderEpoch)
        } else {
            Err(ErrorCode::UnknownLeaderEpoch)
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// Appends a producer's batches as leader. With this broker as the only in-sync replica
    /// the high watermark moves to the new log end at once.
    pub fn append_as_leader(&self, records: &mut [u8]) -> Result<LogAppendInfo, StorageError> {
        let (info, hw) = {
            let mut log = self.log.write();
            let info = log.append_as_leader(records, self.leader_epoch)?;
            let end = log.log_end_offset();
            (info, log.update_high_watermark(end))
        };
        self.high_watermark.send_replace(hw);
        Ok(info)
    }

    /// Reads from `offset` for a consumer (bounded by the high watermark) or a follower
    /// (bounded by the log end).
    pub fn read(&self, offset: i64, max_bytes: usize, for_follower: bool, min_one_batch: bool) -> PartitionRead {
        let log = self.log.read();
        let bound = if for_follower { log.log_end_offset() } else { log.high_watermark() };
        let (error, records) = match log.read(offset, max_bytes, bound, min_one_batch) {
            Ok(data) => (ErrorCode::None, data.records),
            Err(e) => (storage_error_code(&e), Bytes::new()),
        };
        PartitionRead { error, high_watermark: log.high_watermark(), log_start_offset: log.log_start_offset(), records }
    }
}

#[derive(Debug)]
pub struct ReplicaManager {
    broker_id: i32,
    log_manager: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Bumped on every append anywhere: long-polling fetches wake on it and re-read.
    appended: watch::Sender<u64>,
}

impl ReplicaManager {
    pub fn new(broker_id: i32, log_manager: Arc<LogManager>) -> Self {
        let partitions =
            log_manager.all_logs().into_iter().map(|(tp, log)| (tp.clone(), Partition::new(tp, log))).collect();
        ReplicaManager { broker_id, log_manager, partitions: RwLock::new(partitions), appended: watch::channel(0).0 }
    }

    pub fn broker_id(&self) -> i32 {
        self.broker_id
    }

    pub fn log_manager(&self) -> &Arc<LogManager> {
        &self.log_manager
    }

    pub fn partition(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions.read().get(tp).cloned()
    }

    /// Creates (or opens) the log of a partition this broker leads.
    pub fn create_partition(&self, tp: &TopicPartition, config: LogConfig) -> Result<Arc<Partition>, StorageError> {
        if let Some(p) = self.partition(tp) {
            return Ok(p);
        }
        let log = self.log_manager.get_or_create_log(tp, config)?;
        let partition = Partition::new(tp.clone(), log);
        self.partitions.write().insert(tp.clone(), partition.clone());
        Ok(partition)
    }

    pub fn delete_partition(&self, tp: &TopicPartition) -> Result<(), StorageError> {
        self.partitions.write().remove(tp);
        match self.log_manager.delete_log(tp) {
            Ok(()) | Err(StorageError::UnknownPartition { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Applies a topic's new config to each of its partitions' logs.
    pub fn update_config(&self, topic: &str, config: &LogConfig) {
        for (tp, partition) in self.partitions.read().iter() {
            if tp.topic == topic {
                partition.log.write().update_config(config.clone());
            }
        }
    }

    /// Appends `records` to `tp`. `required_acks` of -1 waits (up to `timeout`) until the high
    /// watermark covers the batch: immediate with a single replica, a real wait once followers
    /// exist.
    pub async fn append(
        &self,
        tp: &TopicPartition,
        records: &mut [u8],
        required_acks: i16,
        timeout: Duration,
    ) -> AppendResult {
        let Some(partition) = self.partition(tp) else {
            return AppendResult { error: ErrorCode::UnknownTopicOrPartition, base_offset: -1, log_start_offset: -1 };
        };
        let info = match partition.append_as_leader(records) {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(%tp, error = %e, "append refused");
                return AppendResult { error: storage_error_code(&e), base_offset: -1, log_start_offset: -1 };
            }
        };
        self.appended.send_modify(|n| *n += 1);
        if required_acks == -1 {
            let mut hw = partition.subscribe();
            let target = info.last_offset + 1;
            let reached = tokio::time::timeout(timeout, hw.wait_for(|&hw| hw >= target)).await;
            if !matches!(reached, Ok(Ok(_))) {
                return AppendResult {
                    error: ErrorCode::RequestTimedOut,
                    base_offset: info.first_offset,
                    log_start_offset: info.log_start_offset,
                };
            }
        }
        AppendResult { error: ErrorCode::None, base_offset: info.first_offset, log_start_offset: info.log_start_offset }
    }

    /// A receiver that changes whenever any partition takes an append.
    pub fn appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }
}
