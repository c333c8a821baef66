//! `sluice perf latency`: an open-loop latency benchmark in the manner of the OpenMessaging
//! Benchmark (OMB). Several producers (each its own `Client` and `Producer`) send records at a
//! fixed total rate to a topic with many partitions while several consumers, positioned at the
//! end, read them back; it reports publish latency (to the acknowledgement) and end-to-end
//! latency (to receipt by a consumer) as p50/p99/p99.9/max, the rate achieved, and the records
//! lost, duplicated or late.
//!
//! **Open loop, no coordinated omission.** Record `n` has an intended send time, `n / rate`
//! seconds after the schedule's start, fixed before the run. Both latencies are measured from
//! that intended time, not from when the record was actually handed to the producer: when the
//! client or the broker stalls, the records that should have gone out during the stall are
//! charged for it, as they would be in a real system whose senders do not wait for the broker
//! (Gil Tene's "How NOT to measure latency"; OMB and wrk2 do the same). A closed-loop tool,
//! which sends the next record only when it can, hides the stall in a lower rate instead.
//!
//! **What is measured.** The records the sender reaches during the measured window (after the
//! warm-up, before the end), as OMB counts what happens in its test phase. When the sender
//! keeps up these are the records due in the window; when it cannot (above the peak), they are
//! older records whose latency includes how far behind it fell, and the rate achieved shows
//! the shortfall. A record due in the window that the sender never reached is not sent.
//! "Lost" counts every acknowledged record of the run (warm-up included) that no consumer read.
//!
//! **Record layout.** A value is `--size` bytes; its first 32 are a header, big-endian:
//! `[0, 8)` the intended send time in nanoseconds after the schedule's start, `[8, 16)` the
//! run id (records of other runs are skipped), `[16, 24)` the sequence number `n`, `[24, 32)`
//! flags (bit 0: measured). Producers and consumers are in this process, so one monotonic
//! clock (`Instant`) times both ends.
//!
//! **Bounded.** Time: `--warmup-secs` (not measured), `--duration-secs` (measured; the sender
//! stops at its end, whether or not it kept up), then at most `--drain-secs` for the consumers
//! to catch up. Memory: latencies go into log-linear histograms of fixed size ([`Histogram`]);
//! records awaiting acknowledgement are capped at `MAX_OUTSTANDING_BYTES`; which sequence
//! numbers were acknowledged and consumed is kept in bitsets grown in chunks as records are sent
//! ([`SequenceSet`], one bit per record sent), which is what makes "lost" and "duplicates"
//! exact.
//!
//! **Concurrency.** One pacer thread (`spawn_blocking`) keeps the schedule with
//! `std::thread::sleep` (tokio's timer has millisecond granularity, which would add up to a
//! millisecond to every record) and hands record `n` to producer `n % producers`; each delivery
//! report is awaited by its own task, so a record is timed when its acknowledgement arrives,
//! not when an earlier record's does. Consumers are tasks, each reading partitions led by one
//! broker (the client's consumer asks its leaders one after another, so a consumer spanning
//! brokers would add one broker's fetch wait to another's records).
//!
//! `--partitions-per-request N` measures something else: the latency of single produce requests
//! carrying one record to each of N partitions (all led by one broker), one request at a time,
//! for the cost of a request that spans partitions under `acks=all`.
//!
//! Kafka counterpart: OMB's Kafka driver and workloads (`kafka-producer-perf-test` and
//! `kafka-e2e-latency` measure closed loop).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use sluice_client::{
    Client, Consumer, ConsumerConfig, Delivery, PartitionInfo, Producer, ProducerConfig, ProducerRecord, StartOffset,
    TopicInfo,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The header at the front of every value: intended send time (ns), run id, sequence number,
/// flags.
pub const VALUE_HEADER_BYTES: usize = 32;
/// Header flag: the record was reached by the sender in the measured window.
const FLAG_MEASURED: u64 = 1;
/// Bytes of record values awaiting acknowledgement at most; the pacer waits beyond it (and the
/// wait is charged to the records, being open loop).
const MAX_OUTSTANDING_BYTES: usize = 64 * 1024 * 1024;
/// Records a consumer takes from its buffer at a time.
const POLL_MAX_RECORDS: usize = 1_000;
/// How long a consumer's fetch waits for records: also how soon a consumer sees the stop flag.
const CONSUMER_FETCH_WAIT_MS: u64 = 100;
/// How often the drain checks whether every acknowledged record has been consumed.
const DRAIN_CHECK_INTERVAL_MS: u64 = 100;
/// How long the schedule starts after the consumers are positioned.
const SCHEDULE_LEAD_MS: u64 = 10;
/// How long outstanding deliveries may take after the last send, beyond `--drain-secs`.
const DELIVERY_WAIT_EXTRA_SECS: u64 = 60;
/// Linger in `--partitions-per-request` mode: far longer than a round, so only the explicit
/// flush closes the batches and every round is exactly one request.
const ONE_REQUEST_LINGER_SECS: u64 = 3_600;
/// Sequence numbers per bitset chunk (128 KiB of bits).
const SEQUENCE_CHUNK_BITS: u64 = 1 << 20;
/// Bitset chunks at most (their pointers are allocated up front): 2^44 records.
const SEQUENCE_CHUNKS_MAX: u64 = 1 << 24;

/// `sluice perf latency`'s arguments.
#[derive(Debug, clap::Args)]
pub struct LatencyArgs {
    /// Topic to use (create it first with many partitions; created with the broker's defaults
    /// if the broker auto-creates topics).
    #[arg(short, long)]
    pub topic: String,
    /// Records per second over all producers: record n is due n/RATE seconds after the start.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
    /// Value size in bytes (at least 32: the intended send time, run id, sequence and flags lead
    /// it).
    #[arg(short, long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(VALUE_HEADER_BYTES as u64..))]
    pub size: u64,
    /// Producers, each with its own connections; record n goes to producer n % PRODUCERS.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub producers: u64,
    /// Consumers, each with its own connections, reading from the end (at least one per
    /// partition leader).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub consumers: u64,
    /// How records are spread over partitions: round-robin (explicit partitions, each producer
    /// cycling through all of them) or the client's sticky partitioner (KIP-480, OMB's default).
    #[arg(long, value_enum, default_value = "round-robin")]
    pub partitioner: Partitioner,
    /// Acknowledgements: all (-1), 1 or 0 (with 0 the publish latency is to the send).
    #[arg(long, default_value = "all")]
    pub acks: String,
    /// Producer linger in milliseconds (OMB's Kafka workloads use 1).
    #[arg(long, default_value_t = 1)]
    pub linger_ms: u64,
    /// Producer batch size in bytes.
    #[arg(long, default_value_t = 1_048_576)]
    pub batch_size: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration_secs: u64,
    /// Seconds of sending before measuring (connections opened, batches and caches warm).
    #[arg(long, default_value_t = 5)]
    pub warmup_secs: u64,
    /// Seconds at most, after the last acknowledgement, for the consumers to read every
    /// acknowledged record; those still unread are reported lost.
    #[arg(long, default_value_t = 30)]
    pub drain_secs: u64,
    /// Records whose end-to-end latency exceeds this many milliseconds are counted late.
    #[arg(long, default_value_t = 1_000)]
    pub late_ms: u64,
    /// Instead of the open-loop run: time single produce requests carrying one record to each
    /// of N partitions led by one broker, one request at a time (--rate, --producers,
    /// --consumers and --partitioner do not apply).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub partitions_per_request: Option<u64>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// How the open-loop run spreads records over partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Partitioner {
    /// Record n of producer p goes to partition (n / producers) % partitions.
    RoundRobin,
    /// No key and no partition: the client's sticky partitioner picks.
    Sticky,
}

/// Runs `sluice perf latency` and prints its summary.
pub async fn run(client: Client, args: LatencyArgs) -> anyhow::Result<()> {
    let acks = crate::parse_acks(&args.acks)?;
    let info = client.topic_for_produce(&args.topic).await?;
    anyhow::ensure!(!info.partitions.is_empty(), "topic '{}' has no partitions", args.topic);
    match args.partitions_per_request {
        Some(n) => one_request_per_round(&client, &args, acks, &info, n as usize).await?.print(args.json),
        None => open_loop(&client, &args, acks, &info).await?.print(args.json),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Histogram

/// Sub-buckets per power of two, as a power of two: values below 2^7 are exact, larger ones are
/// kept within 1/128 (0.8 %) of their value. HdrHistogram's bucketing with 2 significant
/// digits, written out because it is forty lines (the `hdrhistogram` crate is not a dependency).
const SUB_BUCKET_BITS: u32 = 7;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
/// Buckets covering every u64: the exact ones, then `SUB_BUCKETS` per power of two above.
const BUCKETS: usize = (SUB_BUCKETS * (65 - SUB_BUCKET_BITS as u64)) as usize;

/// A log-linear histogram of microseconds: fixed size (`BUCKETS` counters, 58 KiB), any u64.
/// Percentiles are reported as the highest value of their bucket (never above the exact max),
/// so they err high by less than 1 %, never low.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram").field("total", &self.total).field("max", &self.max).finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS].into_boxed_slice(), total: 0, max: 0 }
    }
}

impl Histogram {
    fn index(value: u64) -> usize {
        if value < SUB_BUCKETS {
            return value as usize;
        }
        let exponent = 63 - value.leading_zeros(); // floor(log2 value), >= SUB_BUCKET_BITS
        let shift = exponent - SUB_BUCKET_BITS;
        let sub = (value >> shift) - SUB_BUCKETS; // in [0, SUB_BUCKETS)
        let index = SUB_BUCKETS + u64::from(shift) * SUB_BUCKETS + sub;
        assert!((index as usize) < BUCKETS, "value={value} index={index} buckets={BUCKETS}");
        index as usize
    }

    /// The highest value that falls in bucket `index`.
    fn highest_in(index: usize) -> u64 {
        let index = index as u64;
        if index < SUB_BUCKETS {
            return index;
        }
        let shift = (index - SUB_BUCKETS) / SUB_BUCKETS;
        let lowest = ((index - SUB_BUCKETS) % SUB_BUCKETS + SUB_BUCKETS) << shift;
        lowest + ((1u64 << shift) - 1)
    }

    pub fn record(&mut self, value: u64) {
        self.counts[Self::index(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0.5 for the median, 1.0 for the max); 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        assert!((0.0..=1.0).contains(&q), "quantile {q} is outside [0, 1]");
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::highest_in(index).min(self.max);
            }
        }
        unreachable!("rank {rank} is at most the total {} of the counts", self.total)
    }

    /// p50, p99, p99.9 and max in milliseconds, as JSON.
    fn json_ms(&self) -> serde_json::Value {
        let ms = |q| self.quantile(q) as f64 / 1000.0;
        json!({"count": self.count(), "p50": ms(0.50), "p99": ms(0.99), "p99_9": ms(0.999), "max": ms(1.0)})
    }

    fn text_ms(&self) -> String {
        let ms = |q| self.quantile(q) as f64 / 1000.0;
        format!("p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}", ms(0.50), ms(0.99), ms(0.999), ms(1.0))
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------------------------
// The schedule

/// When record `n` is due: `n / rate` seconds after the schedule's start, in whole nanoseconds
/// (computed from `n`, never accumulated, so the schedule does not drift).
pub fn intended_offset(n: u64, rate_per_sec: u64) -> Duration {
    assert!(rate_per_sec > 0, "rate must be positive");
    let nanos = u128::from(n) * 1_000_000_000 / u128::from(rate_per_sec);
    Duration::from_nanos(u64::try_from(nanos).expect("the schedule ends within 584 years"))
}

/// The first record due at or after `at` after the start: `ceil(at * rate)`.
pub fn first_due_at_or_after(at: Duration, rate_per_sec: u64) -> u64 {
    let n = (at.as_nanos() * u128::from(rate_per_sec)).div_ceil(1_000_000_000);
    u64::try_from(n).expect("fewer than 2^64 records are scheduled")
}

/// Which producer sends record `n`, and to which partition index (None: the client picks).
pub fn route(n: u64, producers: u64, partitions: u64, partitioner: Partitioner) -> (usize, Option<usize>) {
    assert!(producers > 0 && partitions > 0, "producers={producers} partitions={partitions}");
    let producer = (n % producers) as usize;
    match partitioner {
        // Each producer walks every partition in turn, so all of them see every partition.
        Partitioner::RoundRobin => (producer, Some(((n / producers) % partitions) as usize)),
        Partitioner::Sticky => (producer, None),
    }
}

/// Which partitions each consumer reads. Consumers are shared out over the partition leaders
/// (each leader gets at least one, so there may be more consumers than asked for), and each
/// leader's partitions go round-robin to its consumers: a consumer fetches from one broker.
pub fn consumer_plan(partitions: &[PartitionInfo], consumers: usize) -> Vec<Vec<i32>> {
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in partitions {
        by_leader.entry(p.leader).or_default().push(p.partition);
    }
    let leaders = by_leader.len();
    let mut plan = Vec::new();
    for (i, owned) in by_leader.into_values().enumerate() {
        let share = (consumers / leaders + usize::from(i < consumers % leaders)).clamp(1, owned.len());
        let mut groups = vec![Vec::new(); share];
        for (k, p) in owned.into_iter().enumerate() {
            groups[k % share].push(p);
        }
        plan.extend(groups);
    }
    plan
}

// ---------------------------------------------------------------------------------------------
// Sequence bitsets

/// A set of record sequence numbers below a capacity, safe to insert into from many threads.
/// Memory follows the records actually sent (a 128 KiB chunk per 2^20 sequence numbers
/// reached), not the capacity, so an unreachable `--rate` costs only the chunk pointers.
#[derive(Debug)]
pub struct SequenceSet {
    chunks: Box<[OnceLock<Box<[AtomicU64]>>]>,
    capacity: u64,
}

impl SequenceSet {
    pub fn new(capacity: u64) -> anyhow::Result<SequenceSet> {
        let chunks = capacity.div_ceil(SEQUENCE_CHUNK_BITS);
        anyhow::ensure!(
            chunks <= SEQUENCE_CHUNKS_MAX,
            "{capacity} records scheduled: too many to track (lower --rate or --duration-secs)"
        );
        Ok(SequenceSet { chunks: (0..chunks).map(|_| OnceLock::new()).collect(), capacity })
    }

    fn word(&self, n: u64) -> (&AtomicU64, u64) {
        assert!(n < self.capacity, "sequence {n} beyond the capacity {}", self.capacity);
        let chunk = self.chunks[(n / SEQUENCE_CHUNK_BITS) as usize]
            .get_or_init(|| (0..SEQUENCE_CHUNK_BITS / 64).map(|_| AtomicU64::new(0)).collect());
        let bit = n % SEQUENCE_CHUNK_BITS;
        (&chunk[(bit / 64) as usize], 1u64 << (bit % 64))
    }

    /// Adds `n`; false when it was there already.
    pub fn insert(&self, n: u64) -> bool {
        let (word, mask) = self.word(n);
        word.fetch_or(mask, Ordering::Relaxed) & mask == 0
    }

    #[cfg(test)]
    fn contains(&self, n: u64) -> bool {
        let (word, mask) = self.word(n);
        word.load(Ordering::Relaxed) & mask != 0
    }

    /// How many sequence numbers at or above `from` are in `self` but not in `other` (both of
    /// the same capacity): acknowledged but not consumed.
    pub fn count_missing_from(&self, other: &SequenceSet, from: u64) -> u64 {
        assert_eq!(self.capacity, other.capacity, "bitsets of different capacities");
        let mut missing = 0u64;
        for (c, chunk) in self.chunks.iter().enumerate() {
            let Some(words) = chunk.get() else { continue };
            let theirs = other.chunks[c].get();
            for (w, word) in words.iter().enumerate() {
                let base = c as u64 * SEQUENCE_CHUNK_BITS + w as u64 * 64;
                if base + 64 <= from {
                    continue;
                }
                let mut bits = word.load(Ordering::Relaxed);
                if let Some(theirs) = theirs {
                    bits &= !theirs[w].load(Ordering::Relaxed);
                }
                if from > base {
                    bits &= !((1u64 << (from - base)) - 1);
                }
                missing += u64::from(bits.count_ones());
            }
        }
        missing
    }
}

// ---------------------------------------------------------------------------------------------
// The open-loop run

/// What the pacer, the delivery tasks and the consumers share.
#[derive(Debug)]
struct RunState {
    run_id: u64,
    base: Instant,
    rate: u64,
    /// Records the sender reaches from here on are measured.
    measure_from: Instant,
    late_us: u64,
    acked: SequenceSet,
    consumed: SequenceSet,
    acked_total: AtomicU64,
    acked_measured: AtomicU64,
    failed_measured: AtomicU64,
    consumed_measured: AtomicU64,
    first_failure: Mutex<Option<String>>,
    /// One publish histogram per producer, so the delivery tasks of different producers do not
    /// contend.
    publish: Vec<Mutex<Histogram>>,
}

/// What the pacer did.
#[derive(Debug, Default)]
struct PacerTally {
    sent_total: u64,
    sent_measured: u64,
    max_schedule_lag: Duration,
}

/// What one consumer saw.
#[derive(Debug, Default)]
struct ConsumerTally {
    end_to_end: Histogram,
    duplicates: u64,
    late: u64,
    foreign: u64,
}

/// The open-loop run's results.
#[derive(Debug)]
struct LatencyReport {
    topic: String,
    partitions: usize,
    producers: u64,
    consumers: usize,
    partitioner: Partitioner,
    size: u64,
    acks: i16,
    warmup_secs: u64,
    duration_secs: u64,
    target_rate: u64,
    late_ms: u64,
    pacer: PacerTally,
    acked_total: u64,
    acked: u64,
    failed: u64,
    consumed: u64,
    lost: u64,
    duplicates: u64,
    late: u64,
    foreign: u64,
    first_failure: Option<String>,
    publish: Histogram,
    end_to_end: Histogram,
}

impl LatencyReport {
    fn achieved_rate(&self) -> f64 {
        self.acked as f64 / self.duration_secs as f64
    }

    fn print(&self, json: bool) {
        if json {
            let v = json!({
                "kind": "latency",
                "topic": self.topic,
                "partitions": self.partitions,
                "producers": self.producers,
                "consumers": self.consumers,
                "partitioner": format!("{:?}", self.partitioner).to_lowercase(),
                "size": self.size,
                "acks": self.acks,
                "warmup_secs": self.warmup_secs,
                "duration_secs": self.duration_secs,
                "target_rate": self.target_rate,
                "achieved_rate": self.achieved_rate(),
                "records": {
                    "target": self.target_rate * self.duration_secs,
                    "sent": self.pacer.sent_measured,
                    "acked": self.acked,
                    "failed": self.failed,
                    "consumed": self.consumed,
                    "lost": self.lost,
                    "duplicates": self.duplicates,
                    "late": self.late,
                    "foreign": self.foreign,
                },
                "late_ms": self.late_ms,
                "sent_total": self.pacer.sent_total,
                "acked_total": self.acked_total,
                "bytes_acked_total": self.acked_total * self.size,
                "max_schedule_lag_ms": self.pacer.max_schedule_lag.as_secs_f64() * 1000.0,
                "first_failure": self.first_failure,
                "publish_ms": self.publish.json_ms(),
                "end_to_end_ms": self.end_to_end.json_ms(),
            });
            println!("{v}");
            return;
        }
        println!(
            "latency: {} producers, {} consumers, {} partitions ({:?}), {} B records, acks={}, \
             {} s measured after {} s warm-up",
            self.producers,
            self.consumers,
            self.partitions,
            self.partitioner,
            self.size,
            self.acks,
            self.duration_secs,
            self.warmup_secs
        );
        println!("  rate          target {}/s  achieved {:.0}/s", self.target_rate, self.achieved_rate());
        println!("  publish ms    {}", self.publish.text_ms());
        println!("  end-to-end ms {}", self.end_to_end.text_ms());
        println!(
            "  records       sent {}  acked {}  failed {}  consumed {}  lost {}  duplicates {}  late (>{} ms) {}",
            self.pacer.sent_measured,
            self.acked,
            self.failed,
            self.consumed,
            self.lost,
            self.duplicates,
            self.late_ms,
            self.late
        );
        println!("  schedule      sender at most {:.2} ms behind", self.pacer.max_schedule_lag.as_secs_f64() * 1000.0);
        if let Some(failure) = &self.first_failure {
            println!("  first failure {failure}");
        }
    }
}

async fn open_loop(client: &Client, args: &LatencyArgs, acks: i16, info: &TopicInfo) -> anyhow::Result<LatencyReport> {
    let size = usize::try_from(args.size).expect("--size fits in memory");
    let partitions: Vec<i32> = info.partitions.iter().map(|p| p.partition).collect();
    let warmup = Duration::from_secs(args.warmup_secs);
    let measured_end = warmup + Duration::from_secs(args.duration_secs);
    let capacity = first_due_at_or_after(measured_end, args.rate) + 1;

    // Consumers first, positioned at the end, so they see the first record.
    let plan = consumer_plan(&info.partitions, args.consumers as usize);
    let mut consumers = Vec::with_capacity(plan.len());
    for owned in &plan {
        let config = ConsumerConfig { max_wait: Duration::from_millis(CONSUMER_FETCH_WAIT_MS), ..Default::default() };
        let mut consumer = Consumer::new(Client::connect(client.config().clone()).await?, config);
        consumer.assign(&args.topic, owned, StartOffset::End).await?;
        consumers.push(consumer);
    }
    let config = ProducerConfig {
        acks,
        linger: Duration::from_millis(args.linger_ms),
        batch_size: args.batch_size,
        ..ProducerConfig::default()
    };
    let mut producers = Vec::new();
    for _ in 0..args.producers {
        let own = Client::connect(client.config().clone()).await?;
        own.topic_for_produce(&args.topic).await?;
        producers.push(Producer::new(own, config.clone()));
    }

    let base = Instant::now() + Duration::from_millis(SCHEDULE_LEAD_MS);
    let state = Arc::new(RunState {
        run_id: run_id(),
        base,
        rate: args.rate,
        measure_from: base + warmup,
        late_us: args.late_ms.saturating_mul(1000),
        acked: SequenceSet::new(capacity)?,
        consumed: SequenceSet::new(capacity)?,
        acked_total: AtomicU64::new(0),
        acked_measured: AtomicU64::new(0),
        failed_measured: AtomicU64::new(0),
        consumed_measured: AtomicU64::new(0),
        first_failure: Mutex::new(None),
        publish: (0..args.producers).map(|_| Mutex::new(Histogram::default())).collect(),
    });
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = tokio::task::JoinSet::new();
    for consumer in consumers {
        readers.spawn(read(consumer, state.clone(), stopping.clone(), stop.clone()));
    }

    let permits = (MAX_OUTSTANDING_BYTES / size).max(1);
    let outstanding = Arc::new(Semaphore::new(permits));
    let pacer = {
        let (state, outstanding, topic) = (state.clone(), outstanding.clone(), args.topic.clone());
        let (end, partitioner, handle) =
            (state.base + measured_end, args.partitioner, tokio::runtime::Handle::current());
        tokio::task::spawn_blocking(move || {
            pace(&handle, &state, &producers, &outstanding, &topic, &partitions, partitioner, size, end)
        })
    };
    let pacer = pacer.await.map_err(|e| anyhow::anyhow!("the pacer thread failed: {e}"))??;

    // Every delivery answered and counted (each task holds a permit until then).
    let deliveries_within = Duration::from_secs(args.drain_secs + DELIVERY_WAIT_EXTRA_SECS);
    let all = u32::try_from(permits).expect("permits fit in u32");
    let waited = tokio::time::timeout(deliveries_within, outstanding.acquire_many(all)).await;
    let _all = waited
        .map_err(|_| {
            anyhow::anyhow!("records still unacknowledged {}s after the last send", deliveries_within.as_secs())
        })?
        .map_err(|_| anyhow::anyhow!("the outstanding-records semaphore closed"))?;

    // Drain: until every acknowledged record has been consumed, or the deadline.
    let drain_until = Instant::now() + Duration::from_secs(args.drain_secs);
    let lost = loop {
        let missing = state.acked.count_missing_from(&state.consumed, 0);
        if missing == 0 || Instant::now() >= drain_until {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(DRAIN_CHECK_INTERVAL_MS)).await;
    };
    stopping.store(true, Ordering::Release);
    stop.notify_waiters();
    let mut end_to_end = Histogram::default();
    let (mut duplicates, mut late, mut foreign) = (0, 0, 0);
    while let Some(done) = readers.join_next().await {
        let tally = done.map_err(|e| anyhow::anyhow!("a consumer task failed: {e}"))??;
        end_to_end.merge(&tally.end_to_end);
        duplicates += tally.duplicates;
        late += tally.late;
        foreign += tally.foreign;
    }
    let mut publish = Histogram::default();
    for h in &state.publish {
        publish.merge(&h.lock().unwrap_or_else(PoisonError::into_inner));
    }
    let first_failure = state.first_failure.lock().unwrap_or_else(PoisonError::into_inner).clone();
    Ok(LatencyReport {
        topic: args.topic.clone(),
        partitions: info.partitions.len(),
        producers: args.producers,
        consumers: plan.len(),
        partitioner: args.partitioner,
        size: args.size,
        acks,
        warmup_secs: args.warmup_secs,
        duration_secs: args.duration_secs,
        target_rate: args.rate,
        late_ms: args.late_ms,
        pacer,
        acked_total: state.acked_total.load(Ordering::Relaxed),
        acked: state.acked_measured.load(Ordering::Relaxed),
        failed: state.failed_measured.load(Ordering::Relaxed),
        consumed: state.consumed_measured.load(Ordering::Relaxed),
        lost,
        duplicates,
        late,
        foreign,
        first_failure,
        publish,
        end_to_end,
    })
}

/// A run id unlikely to repeat: the clock's nanoseconds mixed with the process id.
fn run_id() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ u64::from(std::process::id()).rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The pacer: sends record after record at its intended time until the schedule or the
/// measured window ends (whichever first: a sender that fell behind does not run over).
#[allow(clippy::too_many_arguments)]
fn pace(
    handle: &tokio::runtime::Handle,
    state: &Arc<RunState>,
    producers: &[Producer],
    outstanding: &Arc<Semaphore>,
    topic: &str,
    partitions: &[i32],
    partitioner: Partitioner,
    size: usize,
    end: Instant,
) -> anyhow::Result<PacerTally> {
    let mut tally = PacerTally::default();
    let filler = vec![b'x'; size];
    for n in 0.. {
        let due = state.base + intended_offset(n, state.rate);
        if due >= end {
            break;
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        if due > now {
            std::thread::sleep(due - now);
        }
        let measured = Instant::now() >= state.measure_from;
        let permit = match outstanding.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => handle
                .block_on(outstanding.clone().acquire_owned())
                .map_err(|_| anyhow::anyhow!("the outstanding-records semaphore closed"))?,
        };
        let (producer, partition) = route(n, producers.len() as u64, partitions.len() as u64, partitioner);
        let mut value = filler.clone();
        let intended_ns = u64::try_from((due - state.base).as_nanos()).expect("runs are shorter than 584 years");
        value[0..8].copy_from_slice(&intended_ns.to_be_bytes());
        value[8..16].copy_from_slice(&state.run_id.to_be_bytes());
        value[16..24].copy_from_slice(&n.to_be_bytes());
        value[24..32].copy_from_slice(&(if measured { FLAG_MEASURED } else { 0 }).to_be_bytes());
        let record = ProducerRecord {
            topic: topic.to_string(),
            partition: partition.map(|i| partitions[i]),
            value: Some(Bytes::from(value)),
            ..Default::default()
        };
        tally.max_schedule_lag = tally.max_schedule_lag.max(Instant::now().saturating_duration_since(due));
        let delivery = handle.block_on(producers[producer].send(record))?;
        handle.spawn(await_delivery(delivery, n, measured, due, producer, state.clone(), permit));
        tally.sent_total += 1;
        if measured {
            tally.sent_measured += 1;
        }
    }
    Ok(tally)
}

/// Waits for one record's acknowledgement and times it from the record's intended send time.
async fn await_delivery(
    delivery: Delivery,
    n: u64,
    measured: bool,
    due: Instant,
    producer: usize,
    state: Arc<RunState>,
    permit: OwnedSemaphorePermit,
) {
    let outcome = delivery.await;
    let answered = Instant::now();
    match outcome {
        Ok(Ok(_)) => {
            assert!(state.acked.insert(n), "record {n} acknowledged twice");
            state.acked_total.fetch_add(1, Ordering::Relaxed);
            if measured {
                state.acked_measured.fetch_add(1, Ordering::Relaxed);
                let latency = micros(answered.saturating_duration_since(due));
                state.publish[producer].lock().unwrap_or_else(PoisonError::into_inner).record(latency);
            }
        }
        Ok(Err(e)) => failed(&state, measured, e.to_string()),
        Err(_) => failed(&state, measured, "the producer stopped before answering".to_string()),
    }
    // Released only now: once the run holds every permit, every delivery has been counted.
    drop(permit);
}

fn failed(state: &RunState, measured: bool, why: String) {
    if measured {
        state.failed_measured.fetch_add(1, Ordering::Relaxed);
    }
    state.first_failure.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(why);
}

/// One consumer: reads until told to stop, timing each record of this run from its intended
/// send time to its receipt.
async fn read(
    mut consumer: Consumer,
    state: Arc<RunState>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    stop: Arc<tokio::sync::Notify>,
) -> anyhow::Result<ConsumerTally> {
    let mut tally = ConsumerTally::default();
    loop {
        if stopping.load(Ordering::Acquire) {
            return Ok(tally);
        }
        let records = tokio::select! {
            records = consumer.poll(POLL_MAX_RECORDS) => records?,
            () = stop.notified() => return Ok(tally),
        };
        let received = Instant::now();
        for r in records {
            let Some(header) = r.value.as_deref().and_then(|v| v.get(..VALUE_HEADER_BYTES)) else {
                tally.foreign += 1;
                continue;
            };
            let word = |i: usize| u64::from_be_bytes(header[i..i + 8].try_into().expect("8 bytes"));
            let (intended_ns, run_id, n, flags) = (word(0), word(8), word(16), word(24));
            if run_id != state.run_id || n >= state.consumed.capacity {
                tally.foreign += 1;
                continue;
            }
            if !state.consumed.insert(n) {
                tally.duplicates += 1;
                continue;
            }
            if flags & FLAG_MEASURED == 0 {
                continue;
            }
            state.consumed_measured.fetch_add(1, Ordering::Relaxed);
            let due = state.base + Duration::from_nanos(intended_ns);
            let latency = micros(received.saturating_duration_since(due));
            tally.end_to_end.record(latency);
            if latency > state.late_us {
                tally.late += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// --partitions-per-request

/// Results of `--partitions-per-request`.
#[derive(Debug)]
struct OneRequestReport {
    topic: String,
    partitions_per_request: usize,
    leader: i32,
    acks: i16,
    size: u64,
    requests: u64,
    failed: u64,
    latency: Histogram,
}

impl OneRequestReport {
    fn print(&self, json: bool) {
        if json {
            let v = json!({
                "kind": "partitions_per_request",
                "topic": self.topic,
                "partitions_per_request": self.partitions_per_request,
                "leader": self.leader,
                "acks": self.acks,
                "size": self.size,
                "requests": self.requests,
                "failed": self.failed,
                "latency_ms": self.latency.json_ms(),
            });
            println!("{v}");
            return;
        }
        println!(
            "one produce request at a time, one {} B record to each of {} partitions led by broker {}, acks={}",
            self.size, self.partitions_per_request, self.leader, self.acks
        );
        println!("  requests      {} ({} failed)", self.requests, self.failed);
        println!("  latency ms    {}", self.latency.text_ms());
    }
}

/// Rounds of one request each, back to back: N records, one per partition (all led by the
/// broker that leads the most partitions), then a flush, which closes the N batches at once and
/// sends them in one Produce request; a round's latency is from its first send to its last
/// acknowledgement.
async fn one_request_per_round(
    client: &Client,
    args: &LatencyArgs,
    acks: i16,
    info: &TopicInfo,
    n: usize,
) -> anyhow::Result<OneRequestReport> {
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in &info.partitions {
        by_leader.entry(p.leader).or_default().push(p.partition);
    }
    let (leader, led) = by_leader
        .into_iter()
        .max_by_key(|(leader, led)| (led.len(), -leader))
        .expect("the topic has partitions (checked by the caller)");
    anyhow::ensure!(
        led.len() >= n,
        "--partitions-per-request {n}: no broker leads that many partitions of '{}' (broker {leader} leads the most, {})",
        args.topic,
        led.len()
    );
    let chosen = &led[..n];
    let own = Client::connect(client.config().clone()).await?;
    own.topic_for_produce(&args.topic).await?;
    let producer = Producer::new(
        own,
        ProducerConfig {
            acks,
            linger: Duration::from_secs(ONE_REQUEST_LINGER_SECS),
            batch_size: args.batch_size,
            ..ProducerConfig::default()
        },
    );
    let value = Bytes::from(vec![b'x'; usize::try_from(args.size).expect("--size fits in memory")]);
    let start = Instant::now();
    let measured_from = start + Duration::from_secs(args.warmup_secs);
    let end = measured_from + Duration::from_secs(args.duration_secs);
    let (mut latency, mut requests, mut failed) = (Histogram::default(), 0u64, 0u64);
    while Instant::now() < end {
        let round = Instant::now();
        let mut deliveries = Vec::with_capacity(n);
        for &partition in chosen {
            let record = ProducerRecord {
                topic: args.topic.clone(),
                partition: Some(partition),
                value: Some(value.clone()),
                ..Default::default()
            };
            deliveries.push(producer.send(record).await?);
        }
        producer.flush().await?;
        let mut ok = true;
        for d in deliveries {
            ok &= matches!(d.await, Ok(Ok(_)));
        }
        let took = round.elapsed();
        if round < measured_from {
            continue;
        }
        requests += 1;
        if ok {
            latency.record(micros(took));
        } else {
            failed += 1;
        }
    }
    Ok(OneRequestReport {
        topic: args.topic.clone(),
        partitions_per_request: n,
        leader,
        acks,
        size: args.size,
        requests,
        failed,
        latency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn histogram_is_exact_below_the_sub_bucket_count() {
        for v in 0..SUB_BUCKETS * 2 {
            assert_eq!(Histogram::highest_in(Histogram::index(v)), v, "value {v}");
        }
    }

    #[test]
    fn histogram_buckets_hold_their_values_within_one_percent() {
        let mut v = 1u64;
        while v < u64::MAX / 3 {
            for value in [v, v + 1, v * 3 / 2, v * 2 - 1] {
                let i = Histogram::index(value);
                let highest = Histogram::highest_in(i);
                assert!(highest >= value, "value {value} bucket {i} highest {highest}");
                assert!(
                    (highest - value) as f64 <= value as f64 / SUB_BUCKETS as f64,
                    "value {value} highest {highest}"
                );
                if i > 0 {
                    assert!(Histogram::highest_in(i - 1) < value, "value {value} also fits bucket {}", i - 1);
                }
            }
            v = v * 2 + 1;
        }
        assert!(Histogram::index(u64::MAX) < BUCKETS);
        assert_eq!(Histogram::highest_in(Histogram::index(u64::MAX)), u64::MAX);
    }

    #[test]
    fn histogram_quantiles_of_a_uniform_spread() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        assert_eq!(h.count(), 100_000);
        let within = |q: f64, expect: u64| {
            let got = h.quantile(q);
            assert!(got >= expect && got as f64 <= expect as f64 * 1.01, "q={q} got {got} expected ~{expect}");
        };
        within(0.5, 50_000);
        within(0.99, 99_000);
        within(0.999, 99_900);
        assert_eq!(h.quantile(1.0), 100_000, "the max is exact");
        assert_eq!(h.quantile(0.0), 1, "the min of an exact bucket");
    }

    #[test]
    fn histogram_tail_is_not_hidden_by_the_bulk() {
        // 999 fast records and one stalled one: p99.9 and max see the stall.
        let mut h = Histogram::default();
        for _ in 0..999 {
            h.record(100);
        }
        h.record(2_000_000);
        assert_eq!(h.quantile(0.5), 100);
        assert_eq!(h.quantile(0.99), 100);
        assert_eq!(h.quantile(0.999), 100);
        assert_eq!(h.quantile(1.0), 2_000_000);
        let mut merged = Histogram::default();
        merged.merge(&h);
        merged.merge(&h);
        assert_eq!(merged.count(), 2_000);
        assert_eq!(merged.quantile(0.9995), 2_000_000, "the top two of 2000 are the stalls");
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), 0);
        assert_eq!(h.quantile(1.0), 0);
    }

    #[test]
    fn schedule_spaces_records_exactly_by_the_rate() {
        assert_eq!(intended_offset(0, 1_000), Duration::ZERO);
        assert_eq!(intended_offset(1, 1_000), Duration::from_millis(1));
        assert_eq!(intended_offset(1_000, 1_000), Duration::from_secs(1));
        assert_eq!(intended_offset(7, 3), Duration::from_nanos(2_333_333_333));
        // No drift: the millionth record at 3/s is exactly where n/rate puts it.
        assert_eq!(intended_offset(3_000_000, 3), Duration::from_secs(1_000_000));
        let mut previous = Duration::ZERO;
        for n in 1..10_000 {
            let at = intended_offset(n, 7_777);
            assert!(at > previous, "record {n} at {at:?} not after {previous:?}");
            previous = at;
        }
    }

    #[test]
    fn first_due_inverts_the_schedule() {
        for rate in [1, 3, 1_000, 7_777, 1_000_000] {
            for n in [0, 1, 2, 999, 123_456] {
                let at = intended_offset(n, rate);
                assert_eq!(first_due_at_or_after(at, rate), n, "rate {rate} n {n}");
                assert_eq!(first_due_at_or_after(at + Duration::from_nanos(1), rate), n + 1, "rate {rate} n {n}");
            }
        }
        assert_eq!(first_due_at_or_after(Duration::from_secs(5), 10_000), 50_000, "the warm-up's records");
    }

    #[test]
    fn round_robin_gives_every_producer_every_partition_evenly() {
        let (producers, partitions) = (4u64, 100u64);
        let mut counts = vec![vec![0u32; partitions as usize]; producers as usize];
        for n in 0..producers * partitions * 10 {
            let (p, partition) = route(n, producers, partitions, Partitioner::RoundRobin);
            assert_eq!(p as u64, n % producers);
            counts[p][partition.expect("round-robin names a partition")] += 1;
        }
        assert!(counts.iter().flatten().all(|&c| c == 10), "{counts:?}");
        assert_eq!(route(5, 4, 100, Partitioner::Sticky), (1, None));
    }

    fn partition(partition: i32, leader: i32) -> PartitionInfo {
        PartitionInfo { partition, error_code: 0, leader, leader_epoch: 0, replicas: vec![leader], isr: vec![leader] }
    }

    #[test]
    fn consumer_plan_keeps_each_consumer_on_one_leader_and_covers_every_partition() {
        let partitions: Vec<PartitionInfo> = (0..100).map(|p| partition(p, 1 + p % 3)).collect();
        for consumers in [1, 2, 3, 4, 7, 200] {
            let plan = consumer_plan(&partitions, consumers);
            assert!(plan.len() >= consumers.clamp(3, 100), "{consumers} consumers: plan {plan:?}");
            let mut all: Vec<i32> = plan.iter().flatten().copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..100).collect::<Vec<i32>>(), "{consumers} consumers");
            for owned in &plan {
                assert!(!owned.is_empty(), "{consumers} consumers: an idle consumer");
                let leader = 1 + owned[0] % 3;
                assert!(owned.iter().all(|p| 1 + p % 3 == leader), "{consumers} consumers: {owned:?} spans leaders");
            }
        }
        assert_eq!(consumer_plan(&partitions, 4).len(), 4);
    }

    #[test]
    fn sequence_set_counts_acknowledged_records_never_consumed() {
        let capacity = SEQUENCE_CHUNK_BITS * 2 + 10;
        let (acked, consumed) =
            (SequenceSet::new(capacity).expect("small"), SequenceSet::new(capacity).expect("small"));
        for n in 0..capacity {
            assert!(acked.insert(n));
            if n % 1_000 != 0 {
                assert!(consumed.insert(n));
            }
        }
        assert!(!consumed.insert(1), "a second insert reports the duplicate");
        assert!(consumed.contains(1) && !consumed.contains(1_000));
        // Multiples of 1000 below capacity (0..=2_097_000), minus those below `from`.
        assert_eq!(acked.count_missing_from(&consumed, 0), 2_098);
        assert_eq!(acked.count_missing_from(&consumed, 1), 2_097);
        assert_eq!(acked.count_missing_from(&consumed, 1_001), 2_096);
        assert_eq!(acked.count_missing_from(&consumed, capacity), 0);
        let untouched = SequenceSet::new(capacity).expect("small");
        assert_eq!(untouched.count_missing_from(&consumed, 0), 0, "nothing acknowledged, nothing lost");
    }

    #[test]
    fn latency_help_parses() {
        let e = crate::Cli::try_parse_from(["sluice", "perf", "latency", "--help"]).expect_err("--help exits");
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        let help = e.to_string();
        assert!(help.contains("--duration-secs") && help.contains("--partitions-per-request"), "{help}");
    }

    #[test]
    fn latency_arguments_parse() {
        let cli = crate::Cli::try_parse_from([
            "sluice",
            "perf",
            "latency",
            "-t",
            "bench",
            "--rate",
            "5000",
            "--duration-secs",
            "3",
            "--partitioner",
            "sticky",
            "--json",
        ])
        .expect("valid arguments");
        let crate::Command::Perf(crate::PerfCommand::Latency(args)) = cli.command else {
            panic!("parsed as another command: {:?}", cli.command);
        };
        assert_eq!((args.topic.as_str(), args.rate, args.duration_secs), ("bench", 5_000, 3));
        assert_eq!((args.size, args.producers, args.warmup_secs), (1024, 4, 5));
        assert_eq!(args.partitioner, Partitioner::Sticky);
        assert!(args.json && args.partitions_per_request.is_none());
        let too_small = crate::Cli::try_parse_from(["sluice", "perf", "latency", "-t", "b", "-s", "31"]);
        assert!(too_small.is_err(), "a value must hold the 32-byte header");
    }
}
