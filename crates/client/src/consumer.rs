//! The consumer: assign partitions, position each (beginning, end, an offset, or the first
//! offset at a timestamp), and poll records with Fetch requests to each partition's leader.
//! Group membership and offset commits are `group_consumer.rs`'s.
//!
//! Transactions (KIP-98), as Kafka's `CompletedFetch` reads them: control batches (commit and
//! abort markers) are never returned. With `read_committed` the broker reads only up to the last
//! stable offset and lists the aborted transactions overlapping what it returned (producer id,
//! first offset); a transactional batch of a producer whose aborted transaction began at or
//! before the batch's last offset is dropped, until that producer's abort marker is passed.
//! The end of a partition (for `at_end`, and ListOffsets `latest`) is then the last stable
//! offset, not the high watermark.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use sluice_protocol::api::{Request, Response};
use sluice_protocol::control::{ControlType, parse_marker};
use sluice_protocol::messages::{
    FetchRequest, FetchRequestPartition, FetchRequestTopic, FetchResponseAbortedTransaction,
};
use sluice_protocol::{RecordBatches, TimestampType};

use crate::client::Client;
use crate::error::{ClientError, Result};

/// ListOffsets' timestamps for the log start and the end.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

/// Where to start reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    Beginning,
    End,
    Offset(i64),
    /// The first record at or after this timestamp (ms); the end if none is that late.
    Timestamp(i64),
}

/// Which records of transactions a consumer sees: Fetch's and ListOffsets' `isolation_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Everything up to the high watermark, aborted transactions included (Kafka's default).
    #[default]
    ReadUncommitted,
    /// Up to the last stable offset, without the records of aborted transactions.
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value: 0 read_uncommitted, 1 read_committed.
    pub fn code(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub max_wait: Duration,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
    pub isolation: IsolationLevel,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            max_bytes: 52_428_800,
            partition_max_bytes: 10_485_760,
            isolation: IsolationLevel::default(),
        }
    }
}

/// A record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

#[derive(Debug)]
pub struct Consumer {
    client: Client,
    config: ConsumerConfig,
    /// The next offset to return to the caller, per partition (what a commit records).
    positions: BTreeMap<(String, i32), i64>,
    /// The next offset to fetch, per partition (ahead of `positions` by what is buffered).
    fetch_positions: BTreeMap<(String, i32), i64>,
    /// Where each partition ended at the last fetch: the high watermark, or with read_committed
    /// the last stable offset.
    ends: BTreeMap<(String, i32), i64>,
    buffered: VecDeque<ConsumerRecord>,
}

impl Consumer {
    pub fn new(client: Client, config: ConsumerConfig) -> Consumer {
        Consumer {
            client,
            config,
            positions: BTreeMap::new(),
            fetch_positions: BTreeMap::new(),
            ends: BTreeMap::new(),
            buffered: VecDeque::new(),
        }
    }

    /// Assigns `partitions` of `topic` (all when empty), each positioned at `start`.
    pub async fn assign(&mut self, topic: &str, partitions: &[i32], start: StartOffset) -> Result<()> {
        let info = self.client.topic(topic).await?;
        let wanted: Vec<i32> = if partitions.is_empty() {
            info.partitions.iter().map(|p| p.partition).collect()
        } else {
            partitions.to_vec()
        };
        for p in wanted {
            if !info.partitions.iter().any(|x| x.partition == p) {
                return Err(ClientError::kafka(3, Some(format!("topic '{topic}' has no partition {p}"))));
            }
            self.seek(topic, p, start).await?;
        }
        Ok(())
    }

    /// Moves the position of one partition.
    pub async fn seek(&mut self, topic: &str, partition: i32, start: StartOffset) -> Result<()> {
        let isolation = self.config.isolation;
        let list = |timestamp| self.client.list_offset_isolated(topic, partition, timestamp, isolation);
        let offset = match start {
            StartOffset::Offset(o) if o >= 0 => o,
            StartOffset::Offset(o) => {
                // Negative: that many records before the end, as kcat's -o -N.
                let (end, _) = list(LATEST).await?;
                let (begin, _) = list(EARLIEST).await?;
                (end + o).max(begin)
            }
            StartOffset::Beginning => list(EARLIEST).await?.0,
            StartOffset::End => list(LATEST).await?.0,
            StartOffset::Timestamp(ts) => match list(ts).await?.0 {
                -1 => list(LATEST).await?.0,
                o => o,
            },
        };
        self.positions.insert((topic.to_string(), partition), offset);
        self.fetch_positions.insert((topic.to_string(), partition), offset);
        self.buffered.retain(|r| !(r.topic == topic && r.partition == partition));
        Ok(())
    }

    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.positions.get(&(topic.to_string(), partition)).copied()
    }

    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.positions.keys().cloned().collect()
    }

    /// Whether every assigned partition's position has reached its end as last fetched (the
    /// high watermark; the last stable offset with read_committed).
    pub fn at_end(&self) -> bool {
        self.buffered.is_empty()
            && self.positions.iter().all(|(tp, pos)| self.ends.get(tp).is_some_and(|end| pos >= end))
    }

    /// Returns the next buffered records, fetching when the buffer is empty (waiting up to the
    /// fetch max wait). An empty vector means nothing new arrived in time.
    pub async fn poll(&mut self, max_records: usize) -> Result<Vec<ConsumerRecord>> {
        if self.buffered.is_empty() {
            self.fetch().await?;
        }
        let n = max_records.min(self.buffered.len());
        let out: Vec<ConsumerRecord> = self.buffered.drain(..n).collect();
        for r in &out {
            self.positions.insert((r.topic.clone(), r.partition), r.offset + 1);
        }
        // Partitions with nothing left buffered are consumed up to where fetching got (which
        // skips compaction gaps and control batches).
        for (tp, fetched) in &self.fetch_positions {
            if !self.buffered.iter().any(|r| r.topic == tp.0 && r.partition == tp.1) {
                self.positions.insert(tp.clone(), *fetched);
            }
        }
        Ok(out)
    }

    async fn fetch(&mut self) -> Result<()> {
        let md = self.client.metadata();
        let mut by_leader: BTreeMap<i32, Vec<(String, i32, i64)>> = BTreeMap::new();
        for ((topic, partition), offset) in &self.fetch_positions {
            let leader = md.leader(topic, *partition).map(|b| b.id);
            let Some(leader) = leader else {
                self.client.refresh_metadata(Some(std::slice::from_ref(topic))).await?;
                return Ok(());
            };
            by_leader.entry(leader).or_default().push((topic.clone(), *partition, *offset));
        }
        for (leader, parts) in by_leader {
            let mut topics: Vec<FetchRequestTopic> = Vec::new();
            for (topic, partition, offset) in &parts {
                let p = FetchRequestPartition {
                    partition: *partition,
                    current_leader_epoch: -1,
                    fetch_offset: *offset,
                    last_fetched_epoch: -1,
                    log_start_offset: -1,
                    partition_max_bytes: self.config.partition_max_bytes,
                    ..Default::default()
                };
                match topics.iter_mut().find(|t| &t.topic == topic) {
                    Some(t) => t.partitions.push(p),
                    None => topics.push(FetchRequestTopic {
                        topic: topic.clone(),
                        partitions: vec![p],
                        ..Default::default()
                    }),
                }
            }
            let request = Request::Fetch(FetchRequest {
                replica_id: -1,
                max_wait_ms: self.config.max_wait.as_millis() as i32,
                min_bytes: self.config.min_bytes,
                max_bytes: self.config.max_bytes,
                isolation_level: self.config.isolation.code(),
                session_id: 0,
                session_epoch: -1,
                topics,
                ..Default::default()
            });
            let conn = self.client.broker_connection(leader).await?;
            let Response::Fetch(r) = self.client.send_to(&conn, request).await? else {
                return Err(ClientError::Invalid("Fetch answered with another response type".into()));
            };
            ClientError::check(r.error_code, None)?;
            for t in r.responses {
                for p in t.partitions {
                    let key = (t.topic.clone(), p.partition_index);
                    if p.error_code != 0 {
                        let e = ClientError::kafka(p.error_code, None);
                        if e.is_retriable() {
                            self.client.refresh_metadata(Some(std::slice::from_ref(&t.topic))).await?;
                            continue;
                        }
                        let at = self.fetch_positions.get(&key).copied().unwrap_or(-1);
                        return Err(ClientError::kafka(
                            p.error_code,
                            Some(format!("fetching {}-{} at offset {at}", t.topic, p.partition_index)),
                        ));
                    }
                    let end = match self.config.isolation {
                        IsolationLevel::ReadCommitted if p.last_stable_offset >= 0 => p.last_stable_offset,
                        _ => p.high_watermark,
                    };
                    self.ends.insert(key.clone(), end);
                    let Some(position) = self.fetch_positions.get(&key).copied() else { continue };
                    let aborted = match self.config.isolation {
                        IsolationLevel::ReadCommitted => p.aborted_transactions.unwrap_or_default(),
                        IsolationLevel::ReadUncommitted => Vec::new(),
                    };
                    let (records, next) = decode_partition(
                        &t.topic,
                        p.partition_index,
                        // Decoded from the wire, so in memory: reading cannot fail.
                        p.records
                            .map(|r| r.to_bytes())
                            .transpose()
                            .map_err(|e| ClientError::Invalid(format!("fetched records: {e}")))?
                            .unwrap_or_default(),
                        position,
                        self.config.isolation,
                        &aborted,
                    )?;
                    self.buffered.extend(records);
                    self.fetch_positions.insert(key, next);
                }
            }
        }
        Ok(())
    }
}

/// Which transactional batches a read_committed reader drops: Kafka's `CompletedFetch` with its
/// queue of aborted transactions (ordered by first offset) and set of producers whose aborted
/// transaction is open at the current batch.
#[derive(Debug)]
struct AbortedFilter {
    /// Aborted transactions not yet reached, by first offset.
    pending: VecDeque<(i64, i64)>,
    /// Producers inside an aborted transaction at the current batch.
    aborting: BTreeSet<i64>,
}

impl AbortedFilter {
    fn new(aborted: &[FetchResponseAbortedTransaction]) -> AbortedFilter {
        let mut pending: Vec<(i64, i64)> = aborted.iter().map(|a| (a.first_offset, a.producer_id)).collect();
        pending.sort_unstable();
        AbortedFilter { pending: pending.into(), aborting: BTreeSet::new() }
    }

    /// Whether the batch is dropped; `abort_marker` says it is its producer's abort marker.
    fn drops(&mut self, producer_id: i64, transactional: bool, last_offset: i64, abort_marker: bool) -> bool {
        while let Some(&(first, pid)) = self.pending.front()
            && first <= last_offset
        {
            self.aborting.insert(pid);
            self.pending.pop_front();
        }
        if abort_marker {
            self.aborting.remove(&producer_id);
            return false;
        }
        transactional && self.aborting.contains(&producer_id)
    }
}

/// The records of one partition's fetched bytes at or after `position`, without control
/// batches (and, with read_committed, without the batches of `aborted` transactions), and the
/// offset to fetch next. A partial batch at the end (normal: the size limit cut it) ends the
/// reading there.
fn decode_partition(
    topic: &str,
    partition: i32,
    bytes: Bytes,
    position: i64,
    isolation: IsolationLevel,
    aborted: &[FetchResponseAbortedTransaction],
) -> Result<(Vec<ConsumerRecord>, i64)> {
    let corrupt = |e: sluice_protocol::BatchError| ClientError::Invalid(format!("{topic}-{partition}: {e}"));
    let mut filter = AbortedFilter::new(aborted);
    let mut out = Vec::new();
    let mut next = position;
    for batch in RecordBatches::new(bytes) {
        let Ok(batch) = batch else { break };
        let header = *batch.header();
        let control = header.attributes.is_control();
        if isolation == IsolationLevel::ReadCommitted && header.producer_id >= 0 {
            let abort_marker =
                control && parse_marker(batch.as_bytes()).map_err(corrupt)?.control_type == ControlType::Abort;
            if filter.drops(header.producer_id, header.attributes.is_transactional(), batch.last_offset(), abort_marker)
            {
                next = next.max(batch.next_offset());
                continue;
            }
        }
        if control {
            next = next.max(batch.next_offset());
            continue;
        }
        // A batch the broker stamped (LogAppendTime) gives every record its max timestamp.
        let append_time =
            (header.attributes.timestamp_type() == TimestampType::LogAppendTime).then_some(header.max_timestamp);
        for record in batch.records().map_err(corrupt)? {
            let record = record.map_err(corrupt)?;
            if record.offset < position {
                continue;
            }
            next = record.offset + 1;
            out.push(ConsumerRecord {
                topic: topic.to_string(),
                partition,
                offset: record.offset,
                timestamp: append_time.unwrap_or(record.timestamp),
                key: record.key,
                value: record.value,
                headers: record
                    .headers
                    .into_iter()
                    .map(|h| (String::from_utf8_lossy(&h.key).into_owned(), h.value))
                    .collect(),
            });
        }
        next = next.max(batch.next_offset());
    }
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::RecordBatchBuilder;
    use sluice_protocol::control::{EndTxnMarker, marker_batch};
    use sluice_protocol::record_batch::{Attributes, set_base_offset};

    const TS: i64 = 1_700_000_000_000;

    /// A batch of `values` at `base`, from producer `pid` (transactional when `pid >= 0`).
    fn batch(base: i64, pid: i64, values: &[&str]) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(TS);
        if pid >= 0 {
            b = b.producer(pid, 0, 0).attributes(Attributes::TRANSACTIONAL);
        }
        for v in values {
            b.append(TS, None, Some(v.as_bytes()), &[]);
        }
        let mut bytes = b.build();
        set_base_offset(&mut bytes, base);
        bytes
    }

    fn marker(base: i64, pid: i64, control_type: ControlType) -> Vec<u8> {
        let mut bytes = marker_batch(pid, 0, EndTxnMarker { control_type, coordinator_epoch: 0 }, TS);
        set_base_offset(&mut bytes, base);
        bytes
    }

    /// plain 0-1 | pid 7 (aborted) 2-3 | pid 8 (committed) 4-5 | ABORT 7 at 6 | COMMIT 8 at 7 |
    /// pid 7 again (a later, committed transaction) 8 | COMMIT 7 at 9 | plain 10
    fn log() -> Bytes {
        let parts = [
            batch(0, -1, &["p0", "p1"]),
            batch(2, 7, &["a2", "a3"]),
            batch(4, 8, &["c4", "c5"]),
            marker(6, 7, ControlType::Abort),
            marker(7, 8, ControlType::Commit),
            batch(8, 7, &["c8"]),
            marker(9, 7, ControlType::Commit),
            batch(10, -1, &["p10"]),
        ];
        Bytes::from(parts.concat())
    }

    fn values(records: &[ConsumerRecord]) -> Vec<String> {
        records.iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()).collect()
    }

    #[test]
    fn read_committed_drops_aborted_transactions_and_markers() {
        let aborted = [FetchResponseAbortedTransaction { producer_id: 7, first_offset: 2 }];
        let (records, next) =
            decode_partition("t", 0, log(), 0, IsolationLevel::ReadCommitted, &aborted).expect("decodes");
        assert_eq!(values(&records), ["p0", "p1", "c4", "c5", "c8", "p10"]);
        assert_eq!(next, 11);
    }

    #[test]
    fn read_uncommitted_keeps_aborted_records_but_never_markers() {
        let aborted = [FetchResponseAbortedTransaction { producer_id: 7, first_offset: 2 }];
        let (records, next) =
            decode_partition("t", 0, log(), 0, IsolationLevel::ReadUncommitted, &aborted).expect("decodes");
        assert_eq!(values(&records), ["p0", "p1", "a2", "a3", "c4", "c5", "c8", "p10"]);
        assert_eq!(next, 11);
    }

    #[test]
    fn records_before_the_position_are_skipped_and_a_cut_batch_ends_the_read() {
        let whole = log();
        let cut = whole.slice(..whole.len() - 5);
        let (records, next) = decode_partition("t", 0, cut, 1, IsolationLevel::ReadUncommitted, &[]).expect("decodes");
        assert_eq!(values(&records), ["p1", "a2", "a3", "c4", "c5", "c8"]);
        assert_eq!(next, 10, "the next fetch starts at the batch that was cut");
    }
}
