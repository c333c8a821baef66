//! `sluice perf produce|consume`: throughput (records/s, MB/s) and, for produce, the latency
//! from send to acknowledgement (p50, p95, p99, p99.9, max), with a progress bar while it runs
//! and a summary table (or JSON) at the end.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_client::{
    Client, Consumer, ConsumerConfig, Delivery, Producer, ProducerConfig, ProducerRecord, StartOffset,
};

/// Deliveries awaited at most at once before sending more (bounds memory and the latency skew
/// of awaiting in order).
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
    config: ProducerConfig,
) -> anyhow::Result<Summary> {
    client.topic(topic).await?;
    let producer = Producer::new(client, config);
    let value = Bytes::from(vec![b'x'; size]);
    let progress = bar(count);
    let mut outstanding: VecDeque<(Instant, Delivery)> = VecDeque::new();
    let mut latencies_us = Vec::with_capacity(count as usize);
    let start = Instant::now();
    let mut awaited = 0u64;
    for _ in 0..count {
        let record = ProducerRecord { topic: topic.to_string(), value: Some(value.clone()), ..Default::default() };
        outstanding.push_back((Instant::now(), producer.send(record).await?));
        while outstanding.len() >= MAX_OUTSTANDING {
            let (sent, d) = outstanding.pop_front().expect("non-empty");
            d.await.map_err(|_| anyhow::anyhow!("producer stopped"))??;
            latencies_us.push(sent.elapsed().as_micros() as u64);
            awaited += 1;
            progress.set_position(awaited);
        }
    }
    producer.flush().await?;
    for (sent, d) in outstanding {
        d.await.map_err(|_| anyhow::anyhow!("producer stopped"))??;
        latencies_us.push(sent.elapsed().as_micros() as u64);
        awaited += 1;
        if awaited.is_multiple_of(10_000) {
            progress.set_position(awaited);
        }
    }
    let elapsed = start.elapsed();
    progress.finish_and_clear();
    latencies_us.sort_unstable();
    Ok(Summary { records: count, bytes: count * size as u64, elapsed, latencies_us })
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
