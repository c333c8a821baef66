//! `sluice perf produce|consume`: throughput (records/s, MB/s) and, for produce, the latency
//! from send to acknowledgement (p50, p95, p99, p99.9, max), with a progress bar while it runs
//! and a summary table (or JSON) at the end.

use std::time::{Duration, Instant};

use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_client::{
    Client, Consumer, ConsumerConfig, Delivery, Producer, ProducerConfig, ProducerRecord, StartOffset,
};
use tokio::sync::mpsc;

/// Deliveries outstanding at most before the sender waits (bounds memory).
const MAX_OUTSTANDING: usize = 200_000;

pub struct Summary {
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub latencies_us: Vec<u64>,
}

impl Summary {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }

    pub fn print(&self, what: &str, json: bool) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let rps = self.records as f64 / secs;
        let mbps = self.bytes as f64 / secs / 1e6;
        if json {
            let mut v = serde_json::json!({
                "kind": what,
                "records": self.records,
                "bytes": self.bytes,
                "seconds": secs,
                "records_per_sec": rps,
                "mb_per_sec": mbps,
            });
            if !self.latencies_us.is_empty() {
                v["latency_ms"] = serde_json::json!({
                    "p50": self.percentile(0.50), "p95": self.percentile(0.95), "p99": self.percentile(0.99),
                    "p99_9": self.percentile(0.999), "max": self.percentile(1.0),
                });
            }
            println!("{v}");
            return;
        }
        println!("{what}");
        println!("  records      {:>14}", self.records);
        println!("  seconds      {:>14.3}", secs);
        println!("  records/s    {:>14.0}", rps);
        println!("  MB/s         {:>14.1}", mbps);
        if !self.latencies_us.is_empty() {
            println!(
                "  latency ms   p50 {:.2}  p95 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
                self.percentile(0.50),
                self.percentile(0.95),
                self.percentile(0.99),
                self.percentile(0.999),
                self.percentile(1.0)
            );
        }
    }
}

fn bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} ({per_sec})") {
        bar.set_style(style);
    }
    bar
}

pub async fn produce(
    client: Client,
    topic: &str,
    count: u64,
    size: usize,
    rate: Option<u64>,
    config: ProducerConfig,
) -> anyhow::Result<Summary> {
    client.topic_for_produce(topic).await?;
    let producer = Producer::new(client, config);
    let value = Bytes::from(vec![b'x'; size]);
    let progress = bar(count);
    // Deliveries are awaited as they complete by their own task, so a record's latency is the
    // time to its acknowledgement, not to when the sender got round to looking. They are awaited
    // in send order: a record acknowledged before an earlier one (another partition) is
    // timed when that one is, an error of at most the skew between partitions.
    let (tx, mut rx) = mpsc::channel::<(Instant, Delivery)>(MAX_OUTSTANDING);
    let collector = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut latencies_us = Vec::with_capacity(count as usize);
            while let Some((sent, d)) = rx.recv().await {
                d.await.map_err(|_| anyhow::anyhow!("producer stopped"))??;
                latencies_us.push(sent.elapsed().as_micros() as u64);
                if latencies_us.len().is_multiple_of(10_000) {
                    progress.set_position(latencies_us.len() as u64);
                }
            }
            anyhow::Ok(latencies_us)
        })
    };
    let start = Instant::now();
    for i in 0..count {
        if let Some(rate) = rate {
            // Paced: record i goes out no earlier than i/rate seconds after the start (sleeping
            // only when a millisecond or more ahead, so high rates are not held to the timer).
            let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
            if due > Instant::now() + Duration::from_millis(1) {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        let record = ProducerRecord { topic: topic.to_string(), value: Some(value.clone()), ..Default::default() };
        let sent = Instant::now();
        let delivery = producer.send(record).await?;
        tx.send((sent, delivery)).await.map_err(|_| anyhow::anyhow!("the delivery collector stopped"))?;
    }
    drop(tx);
    producer.flush().await?;
    let mut latencies_us = collector.await??;
    let elapsed = start.elapsed();
    progress.finish_and_clear();
    latencies_us.sort_unstable();
    Ok(Summary { records: count, bytes: count * size as u64, elapsed, latencies_us })
}

/// Opens `count` connections, `concurrency` at a time, each through every step `config`'s
/// security asks for, and closes each at once: the handshake rate.
pub async fn connect(config: &sluice_client::ClientConfig, count: u64, concurrency: usize) -> anyhow::Result<Summary> {
    let address = config.bootstrap.first().cloned().ok_or_else(|| anyhow::anyhow!("no bootstrap server"))?;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (address, next, security) = (address.clone(), next.clone(), config.security());
        let (client_id, timeout) = (config.client_id.clone(), config.connect_timeout);
        set.spawn(async move {
            let mut mine = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                let t = Instant::now();
                let c =
                    sluice_client::connection::BrokerConnection::connect_with(&address, &client_id, timeout, &security)
                        .await?;
                mine.push(t.elapsed().as_micros() as u64);
                drop(c);
            }
            anyhow::Ok(mine)
        });
    }
    let mut latencies_us = Vec::with_capacity(count as usize);
    while let Some(done) = set.join_next().await {
        latencies_us.extend(done??);
    }
    latencies_us.sort_unstable();
    Ok(Summary { records: latencies_us.len() as u64, bytes: 0, elapsed: started.elapsed(), latencies_us })
}

pub async fn consume(client: Client, topic: &str, count: u64) -> anyhow::Result<Summary> {
    let mut consumer = Consumer::new(client, ConsumerConfig::default());
    consumer.assign(topic, &[], StartOffset::Beginning).await?;
    let progress = bar(count);
    let start = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    let deadline_idle = Duration::from_secs(10);
    let mut last_progress = Instant::now();
    while records < count {
        let batch = consumer.poll(10_000).await?;
        if batch.is_empty() {
            if last_progress.elapsed() > deadline_idle {
                anyhow::bail!("only {records} of {count} records arrived (nothing new for 10 s)");
            }
            continue;
        }
        last_progress = Instant::now();
        for r in &batch {
            bytes += r.value.as_ref().map_or(0, |v| v.len() as u64) + r.key.as_ref().map_or(0, |k| k.len() as u64);
        }
        records += batch.len() as u64;
        progress.set_position(records.min(count));
    }
    let elapsed = start.elapsed();
    progress.finish_and_clear();
    Ok(Summary { records, bytes, elapsed, latencies_us: Vec::new() })
}

/// What `sluice perf keeper` does to the znodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeeperOp {
    /// Create new persistent znodes.
    Create,
    /// setData on one znode per client.
    Set,
    /// getData of one znode per client.
    Get,
}

/// `sluice perf keeper`: `clients` sessions, spread over the servers, each keeping `depth`
/// requests in flight, run `count` operations between them; reports operations/s and latency.
/// Works against any ZooKeeper 3.5+ too, which is how keeper is compared with it.
pub async fn keeper(
    servers: &str,
    op: KeeperOp,
    count: u64,
    clients: usize,
    depth: usize,
    size: usize,
) -> anyhow::Result<Summary> {
    use sluice_keeper::{CreateMode, ZkClient, ZkError};
    let list: Vec<&str> = servers.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    anyhow::ensure!(!list.is_empty(), "no keeper servers given");
    let clients = clients.max(1);
    let depth = depth.max(1);
    let root = format!("/sluice-perf-{}", uuid_like());
    let mut sessions = Vec::with_capacity(clients);
    for i in 0..clients {
        // Client i starts at server i (mod n), so the load spreads over the ensemble.
        let rotated: Vec<&str> = (0..list.len()).map(|k| list[(i + k) % list.len()]).collect();
        let zk = ZkClient::connect(&rotated.join(","), Duration::from_secs(10))
            .await
            .map_err(|e| anyhow::anyhow!("{e}: cannot open a session with {servers}"))?;
        sessions.push(zk);
    }
    let value = vec![b'x'; size];
    let admin = &sessions[0];
    admin.create(&root, b"", CreateMode::Persistent).await.map_err(|e| anyhow::anyhow!("create {root}: {e}"))?;
    for i in 0..clients {
        admin
            .create(&format!("{root}/n{i}"), &value, CreateMode::Persistent)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let progress = bar(count);
    let start = Instant::now();
    let per_worker = count.div_ceil((clients * depth) as u64);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, zk) in sessions.iter().enumerate() {
        for d in 0..depth {
            let (zk, root, value, progress) = (zk.clone(), root.clone(), value.clone(), progress.clone());
            tasks.spawn(async move {
                let mut latencies = Vec::with_capacity(per_worker as usize);
                let own = format!("{root}/n{i}");
                for k in 0..per_worker {
                    let sent = Instant::now();
                    let r: Result<(), ZkError> = match op {
                        KeeperOp::Create => {
                            zk.create(&format!("{root}/c{i}-{d}-{k}"), &value, CreateMode::Persistent).await.map(drop)
                        }
                        KeeperOp::Set => zk.set_data(&own, &value, -1).await.map(drop),
                        KeeperOp::Get => zk.get_data(&own).await.map(drop),
                    };
                    r.map_err(|e| anyhow::anyhow!("{op:?} failed: {e}"))?;
                    latencies.push(sent.elapsed().as_micros() as u64);
                    progress.inc(1);
                }
                anyhow::Ok(latencies)
            });
        }
    }
    let mut latencies_us = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies_us.extend(done??);
    }
    let elapsed = start.elapsed();
    progress.finish_and_clear();
    latencies_us.sort_unstable();
    let ops = latencies_us.len() as u64;
    // Leave the server as found: the created znodes go (not timed).
    for zk in &sessions {
        let _ = zk.close().await;
    }
    if let Ok(zk) = ZkClient::connect(servers, Duration::from_secs(30)).await {
        let _ = delete_tree(&zk, &root).await;
        let _ = zk.close().await;
    }
    Ok(Summary { records: ops, bytes: ops * size as u64, elapsed, latencies_us })
}

async fn delete_tree(zk: &sluice_keeper::ZkClient, root: &str) -> Result<(), sluice_keeper::ZkError> {
    let mut tasks = Vec::new();
    for child in zk.get_children(root).await? {
        tasks.push(format!("{root}/{child}"));
    }
    // Deletes are pipelined on the session, a thousand at a time.
    for chunk in tasks.chunks(1_000) {
        let mut set = tokio::task::JoinSet::new();
        for p in chunk {
            let (zk, p) = (zk.clone(), p.clone());
            set.spawn(async move { zk.delete(&p, -1).await });
        }
        while set.join_next().await.is_some() {}
    }
    zk.delete(root, -1).await
}

/// A name unlikely to clash with another run's.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:x}-{}", nanos, std::process::id())
}
