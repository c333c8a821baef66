//! The producer: records are partitioned (explicit partition, murmur2 of the key, or a sticky
//! partition for null keys), gathered per partition into batches that close at `batch_size`
//! bytes or after `linger`, compressed, and sent to each partition's leader in one Produce
//! request per broker. Up to `max_in_flight` requests per broker are outstanding; retriable
//! errors refresh metadata and resend, up to `retries` times. Every record gets a delivery
//! report: its offset, or the error.
//!
//! Concurrency: `send` hands records to one accumulator task over a bounded channel (so a
//! producer outrunning the network waits instead of growing without bound); requests are
//! awaited in their own tasks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sluice_protocol::api::{Request, Response};
use sluice_protocol::messages::{ProduceRequest, ProduceRequestPartition, ProduceRequestTopic};
use sluice_protocol::{Compression, RecordBatchBuilder};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::partitioner::partition_for_key;

/// Records queued between `send` and the accumulator at most.
const SEND_QUEUE_RECORDS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// -1 (all in-sync replicas), 0 (no answer) or 1 (the leader).
    pub acks: i16,
    pub linger: Duration,
    pub batch_size: usize,
    pub compression: Compression,
    pub retries: u32,
    pub max_in_flight: usize,
    pub request_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: -1,
            linger: Duration::from_millis(5),
            batch_size: 1024 * 1024,
            compression: Compression::None,
            retries: 5,
            max_in_flight: 5,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A record to send.
#[derive(Debug, Clone, Default)]
pub struct ProducerRecord {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Milliseconds since the epoch; now when `None`.
    pub timestamp: Option<i64>,
}

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    /// -1 with acks=0, which gets no answer.
    pub offset: i64,
    pub timestamp: i64,
}

/// The delivery report of one record.
pub type Delivery = oneshot::Receiver<Result<RecordMetadata>>;

enum Command {
    Send(ProducerRecord, oneshot::Sender<Result<RecordMetadata>>),
    Flush(oneshot::Sender<()>),
}

#[derive(Debug, Clone)]
pub struct Producer {
    tx: mpsc::Sender<Command>,
}

struct Pending {
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
    reply: oneshot::Sender<Result<RecordMetadata>>,
}

struct OpenBatch {
    records: Vec<Pending>,
    bytes: usize,
    opened: Instant,
}

/// A closed batch ready to go: the encoded bytes and who to tell.
struct ReadyBatch {
    topic: String,
    partition: i32,
    bytes: Bytes,
    replies: Vec<(i64, oneshot::Sender<Result<RecordMetadata>>)>,
    attempts: u32,
}

impl Producer {
    pub fn new(client: Client, config: ProducerConfig) -> Producer {
        let (tx, rx) = mpsc::channel(SEND_QUEUE_RECORDS);
        tokio::spawn(accumulate(client, config, rx));
        Producer { tx }
    }

    /// Queues a record; the returned receiver yields its delivery report.
    pub async fn send(&self, record: ProducerRecord) -> Result<Delivery> {
        let (reply, delivery) = oneshot::channel();
        self.tx
            .send(Command::Send(record, reply))
            .await
            .map_err(|_| ClientError::Invalid("producer is closed".into()))?;
        Ok(delivery)
    }

    /// Sends everything queued so far and waits until every request has been answered.
    pub async fn flush(&self) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Command::Flush(done)).await.map_err(|_| ClientError::Invalid("producer is closed".into()))?;
        wait.await.map_err(|_| ClientError::Invalid("producer stopped".into()))
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn estimate(p: &Pending) -> usize {
    p.key.as_ref().map_or(0, Bytes::len)
        + p.value.as_ref().map_or(0, Bytes::len)
        + p.headers.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len) + 4).sum::<usize>()
        + 16
}

struct Accumulator {
    client: Client,
    config: ProducerConfig,
    open: HashMap<(String, i32), OpenBatch>,
    sticky: HashMap<String, i32>,
    in_flight: HashMap<i32, Arc<Semaphore>>,
    sent: Vec<tokio::task::JoinHandle<()>>,
    next_sticky: u64,
    partition_counts: HashMap<String, i32>,
}

async fn accumulate(client: Client, config: ProducerConfig, mut rx: mpsc::Receiver<Command>) {
    let mut acc = Accumulator {
        client,
        config,
        open: HashMap::new(),
        sticky: HashMap::new(),
        in_flight: HashMap::new(),
        sent: Vec::new(),
        next_sticky: SystemTime::now().duration_since(UNIX_EPOCH).map_or(7, |d| d.subsec_nanos() as u64),
        partition_counts: HashMap::new(),
    };
    let mut tick = tokio::time::interval(acc.config.linger.max(Duration::from_millis(1)));
    loop {
        tokio::select! {
            command = rx.recv() => match command {
                Some(Command::Send(record, reply)) => acc.add(record, reply).await,
                Some(Command::Flush(done)) => {
                    acc.send_all(true).await;
                    for handle in acc.sent.drain(..) {
                        let _ = handle.await;
                    }
                    let _ = done.send(());
                }
                None => {
                    acc.send_all(true).await;
                    for handle in acc.sent.drain(..) {
                        let _ = handle.await;
                    }
                    return;
                }
            },
            _ = tick.tick() => acc.send_all(false).await,
        }
    }
}

impl Accumulator {
    async fn partitions_of(&mut self, topic: &str) -> Result<i32> {
        // Cached per topic: the metadata snapshot is too big to copy per record.
        if let Some(&n) = self.partition_counts.get(topic) {
            return Ok(n);
        }
        let n = match self.client.metadata().topics.get(topic) {
            Some(t) => t.partitions.len() as i32,
            None => self.client.topic(topic).await?.partitions.len() as i32,
        };
        self.partition_counts.insert(topic.to_string(), n);
        Ok(n)
    }

    async fn add(&mut self, record: ProducerRecord, reply: oneshot::Sender<Result<RecordMetadata>>) {
        let count = match self.partitions_of(&record.topic).await {
            Ok(n) if n > 0 => n,
            Ok(_) => {
                let _ = reply
                    .send(Err(ClientError::kafka(5, Some(format!("topic '{}' has no partitions yet", record.topic)))));
                return;
            }
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let partition = match (record.partition, &record.key) {
            (Some(p), _) if p >= 0 && p < count => p,
            (Some(p), _) => {
                let _ = reply
                    .send(Err(ClientError::kafka(3, Some(format!("topic '{}' has no partition {p}", record.topic)))));
                return;
            }
            (None, Some(key)) => partition_for_key(key, count),
            (None, None) => {
                let next = &mut self.next_sticky;
                *self.sticky.entry(record.topic.clone()).or_insert_with(|| {
                    *next = next.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (*next >> 33) as i32 % count
                })
            }
        };
        let pending = Pending {
            timestamp: record.timestamp.unwrap_or_else(now_ms),
            key: record.key,
            value: record.value,
            headers: record.headers,
            reply,
        };
        let size = estimate(&pending);
        let key = (record.topic, partition);
        let batch = self.open.entry(key.clone()).or_insert_with(|| OpenBatch {
            records: Vec::new(),
            bytes: 0,
            opened: Instant::now(),
        });
        batch.bytes += size;
        batch.records.push(pending);
        if batch.bytes >= self.config.batch_size {
            let batch = self.open.remove(&key).expect("just inserted");
            // A full batch moves null-keyed records on to another partition (KIP-480).
            self.sticky.remove(&key.0);
            let ready = self.close(key.0, key.1, batch);
            self.dispatch(vec![ready]).await;
        }
    }

    fn close(&self, topic: String, partition: i32, batch: OpenBatch) -> ReadyBatch {
        let base_ts = batch.records.first().map_or(0, |r| r.timestamp);
        let mut builder = RecordBatchBuilder::new(base_ts).compression(self.config.compression);
        let mut replies = Vec::with_capacity(batch.records.len());
        for r in batch.records {
            let headers: Vec<(&str, Option<&[u8]>)> =
                r.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
            builder.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers);
            replies.push((r.timestamp, r.reply));
        }
        ReadyBatch { topic, partition, bytes: Bytes::from(builder.build()), replies, attempts: 0 }
    }

    /// Closes batches whose linger has passed (or all, when `everything`) and sends them.
    async fn send_all(&mut self, everything: bool) {
        let linger = self.config.linger;
        let due: Vec<(String, i32)> = self
            .open
            .iter()
            .filter(|(_, b)| everything || b.opened.elapsed() >= linger)
            .map(|(k, _)| k.clone())
            .collect();
        if due.is_empty() {
            return;
        }
        let mut ready = Vec::with_capacity(due.len());
        for key in due {
            let batch = self.open.remove(&key).expect("listed above");
            self.sticky.remove(&key.0);
            ready.push(self.close(key.0, key.1, batch));
        }
        self.dispatch(ready).await;
    }

    /// Groups ready batches by leader and sends one Produce request per leader.
    async fn dispatch(&mut self, ready: Vec<ReadyBatch>) {
        let mut by_leader: HashMap<i32, Vec<ReadyBatch>> = HashMap::new();
        for batch in ready {
            let leader = self.client.metadata().leader(&batch.topic, batch.partition).map(|b| b.id);
            let leader = match leader {
                Some(l) => l,
                None => match self.client.topic(&batch.topic).await {
                    Ok(t) => t.partitions.iter().find(|p| p.partition == batch.partition).map_or(-1, |p| p.leader),
                    Err(e) => {
                        fail(batch, e);
                        continue;
                    }
                },
            };
            by_leader.entry(leader).or_default().push(batch);
        }
        self.sent.retain(|h| !h.is_finished());
        for (leader, batches) in by_leader {
            let permits = self
                .in_flight
                .entry(leader)
                .or_insert_with(|| Arc::new(Semaphore::new(self.config.max_in_flight)))
                .clone();
            let permit = permits.acquire_owned().await.expect("the semaphore is never closed");
            let client = self.client.clone();
            let config = self.config.clone();
            self.sent.push(tokio::spawn(async move {
                send_to_leader(client, config, leader, batches).await;
                drop(permit);
            }));
        }
    }
}

fn fail(batch: ReadyBatch, e: ClientError) {
    for (_, reply) in batch.replies {
        let _ = reply.send(Err(e.clone()));
    }
}

async fn send_to_leader(client: Client, config: ProducerConfig, leader: i32, batches: Vec<ReadyBatch>) {
    let mut pending = batches;
    let mut leader = leader;
    loop {
        let retry = send_once(&client, &config, leader, pending).await;
        if retry.is_empty() {
            return;
        }
        // Retriable: refresh metadata, back off a little, and try the (maybe new) leader.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let topics: Vec<String> = retry.iter().map(|b| b.topic.clone()).collect();
        let _ = client.refresh_metadata(Some(&topics)).await;
        let md = client.metadata();
        leader = md.leader(&retry[0].topic, retry[0].partition).map_or(leader, |b| b.id);
        pending = retry;
    }
}

/// Sends one request; answers every record it can, and returns the batches to retry.
async fn send_once(client: &Client, config: &ProducerConfig, leader: i32, batches: Vec<ReadyBatch>) -> Vec<ReadyBatch> {
    let mut topics: Vec<ProduceRequestTopic> = Vec::new();
    for b in &batches {
        let partition = ProduceRequestPartition { index: b.partition, records: Some(b.bytes.clone()) };
        match topics.iter_mut().find(|t| t.name == b.topic) {
            Some(t) => t.partition_data.push(partition),
            None => topics.push(ProduceRequestTopic {
                name: b.topic.clone(),
                partition_data: vec![partition],
                ..Default::default()
            }),
        }
    }
    let request = Request::Produce(ProduceRequest {
        transactional_id: None,
        acks: config.acks,
        timeout_ms: config.request_timeout.as_millis() as i32,
        topic_data: topics,
    });
    let outcome = async {
        let conn = client.broker_connection(leader).await?;
        if config.acks == 0 {
            conn.send_without_response(request).await?;
            return Ok(None);
        }
        client.send_to(&conn, request).await.map(Some)
    }
    .await;
    let response = match outcome {
        Ok(Some(Response::Produce(r))) => r,
        Ok(None) => {
            for b in batches {
                for (ts, reply) in b.replies {
                    let _ = reply.send(Ok(RecordMetadata {
                        topic: b.topic.clone(),
                        partition: b.partition,
                        offset: -1,
                        timestamp: ts,
                    }));
                }
            }
            return Vec::new();
        }
        Ok(Some(_)) => {
            for b in batches {
                fail(b, ClientError::Invalid("Produce answered with another response type".into()));
            }
            return Vec::new();
        }
        Err(e) => return retry_or_fail(batches, config, e),
    };
    let mut retry = Vec::new();
    for mut b in batches {
        let answer = response
            .responses
            .iter()
            .find(|t| t.name == b.topic)
            .and_then(|t| t.partition_responses.iter().find(|p| p.index == b.partition));
        let Some(p) = answer else {
            fail(b, ClientError::Invalid("Produce answer misses a partition".into()));
            continue;
        };
        if p.error_code != 0 {
            let e = ClientError::kafka(p.error_code, p.error_message.clone());
            if e.is_retriable() && b.attempts < config.retries {
                b.attempts += 1;
                retry.push(b);
            } else {
                fail(b, e);
            }
            continue;
        }
        for (i, (ts, reply)) in b.replies.into_iter().enumerate() {
            let _ = reply.send(Ok(RecordMetadata {
                topic: b.topic.clone(),
                partition: b.partition,
                offset: p.base_offset + i as i64,
                timestamp: ts,
            }));
        }
    }
    retry
}

fn retry_or_fail(batches: Vec<ReadyBatch>, config: &ProducerConfig, e: ClientError) -> Vec<ReadyBatch> {
    let mut retry = Vec::new();
    for mut b in batches {
        if e.is_retriable() && b.attempts < config.retries {
            b.attempts += 1;
            retry.push(b);
        } else {
            fail(b, e.clone());
        }
    }
    retry
}
