//! The consumer: assign partitions, position each (beginning, end, an offset, or the first
//! offset at a timestamp), and poll records with Fetch requests to each partition's leader.
//! Group membership and offset commits arrive with the group coordinator.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use sluice_protocol::RecordBatches;
use sluice_protocol::api::{Request, Response};
use sluice_protocol::messages::{FetchRequest, FetchRequestPartition, FetchRequestTopic};

use crate::client::Client;
use crate::error::{ClientError, Result};

/// Where to start reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    Beginning,
    End,
    Offset(i64),
    /// The first record at or after this timestamp (ms); the end if none is that late.
    Timestamp(i64),
}

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub max_wait: Duration,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            max_bytes: 52_428_800,
            partition_max_bytes: 10_485_760,
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
    /// High watermark last seen per partition.
    high_watermarks: BTreeMap<(String, i32), i64>,
    buffered: VecDeque<ConsumerRecord>,
}

impl Consumer {
    pub fn new(client: Client, config: ConsumerConfig) -> Consumer {
        Consumer {
            client,
            config,
            positions: BTreeMap::new(),
            fetch_positions: BTreeMap::new(),
            high_watermarks: BTreeMap::new(),
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
        let offset = match start {
            StartOffset::Offset(o) if o >= 0 => o,
            StartOffset::Offset(o) => {
                // Negative: that many records before the end, as kcat's -o -N.
                let (end, _) = self.client.list_offset(topic, partition, -1).await?;
                let (begin, _) = self.client.list_offset(topic, partition, -2).await?;
                (end + o).max(begin)
            }
            StartOffset::Beginning => self.client.list_offset(topic, partition, -2).await?.0,
            StartOffset::End => self.client.list_offset(topic, partition, -1).await?.0,
            StartOffset::Timestamp(ts) => match self.client.list_offset(topic, partition, ts).await?.0 {
                -1 => self.client.list_offset(topic, partition, -1).await?.0,
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

    /// Whether every assigned partition's position has reached the high watermark last seen.
    pub fn at_end(&self) -> bool {
        self.buffered.is_empty()
            && self.positions.iter().all(|(tp, pos)| self.high_watermarks.get(tp).is_some_and(|hw| pos >= hw))
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
                };
                match topics.iter_mut().find(|t| &t.topic == topic) {
                    Some(t) => t.partitions.push(p),
                    None => topics.push(FetchRequestTopic { topic: topic.clone(), partitions: vec![p] }),
                }
            }
            let request = Request::Fetch(FetchRequest {
                replica_id: -1,
                max_wait_ms: self.config.max_wait.as_millis() as i32,
                min_bytes: self.config.min_bytes,
                max_bytes: self.config.max_bytes,
                isolation_level: 0,
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
                        return Err(ClientError::kafka(
                            p.error_code,
                            Some(format!("partition {}-{}: {}", t.topic, p.partition_index, e)),
                        ));
                    }
                    self.high_watermarks.insert(key.clone(), p.high_watermark);
                    let Some(position) = self.fetch_positions.get(&key).copied() else { continue };
                    let mut next = position;
                    for batch in RecordBatches::new(p.records.unwrap_or_default()) {
                        // A partial batch at the end of a response is normal: stop there.
                        let Ok(batch) = batch else { break };
                        if batch.header().attributes.is_control() {
                            next = next.max(batch.next_offset());
                            continue;
                        }
                        let records = batch
                            .records()
                            .map_err(|e| ClientError::Invalid(format!("{}-{}: {e}", t.topic, p.partition_index)))?;
                        for record in records {
                            let record = record
                                .map_err(|e| ClientError::Invalid(format!("{}-{}: {e}", t.topic, p.partition_index)))?;
                            if record.offset < position {
                                continue;
                            }
                            next = record.offset + 1;
                            self.buffered.push_back(ConsumerRecord {
                                topic: t.topic.clone(),
                                partition: p.partition_index,
                                offset: record.offset,
                                timestamp: record.timestamp,
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
                    self.fetch_positions.insert(key, next);
                }
            }
        }
        Ok(())
    }
}
