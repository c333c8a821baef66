//! The counters the request path and the replica path bump: plain relaxed atomics, read and
//! encoded only when `/metrics` is scraped (`exposition.rs`). Nothing here allocates, locks or
//! formats on the hot path: a request costs a few atomic additions (Kafka's Yammer meters cost a
//! striped `LongAdder` each; Prometheus client histograms a mutex — both rejected for that).
//!
//! What is counted where:
//! - [`RequestMetrics`]: every request by API and version, its time split as Kafka splits it
//!   (handled here — `local` — waiting in a purgatory — `remote` — and writing the answer —
//!   `send`; requests are not queued between read and handling here, so there is no queue time),
//!   and the per-partition error codes of Produce and Fetch answers.
//! - [`TopicCounters`]: per topic, what clients wrote and read, and what followers copied; one
//!   `Arc` per topic shared by its partitions, so an append adds to it without a lookup.
//! - [`EVENTS`]: process-wide event counts of the replica path (ISR shrinks and expansions,
//!   leader elections, rebalances) and the purgatories' sizes; process-wide as Kafka's metrics
//!   registry is.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds, in seconds, of the latency histograms' buckets (a last one, +Inf, follows):
/// from half a millisecond, where a produce to a page-cache log lands, to 10 s, past the
/// longest purgatory wait a client asks for by default (`request.timeout.ms` is 30 s; waits
/// longer than 10 s are counted in +Inf).
pub const LATENCY_BUCKETS_S: [f64; 15] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// API keys counted (Kafka's keys are below 128; a larger one is counted as [`OTHER_API_KEY`]).
pub const API_KEY_SLOTS: usize = 128;
/// Versions counted per API (every served version is below 32; a larger one counts as 31).
pub const VERSION_SLOTS: usize = 32;
/// Error codes counted per API: -1 (UNKNOWN_SERVER_ERROR) to 158 (Kafka's run to about 130);
/// any other counts as the last.
pub const ERROR_CODE_SLOTS: usize = 160;
/// Where a request with a key outside `0..API_KEY_SLOTS` is counted.
const OTHER_API_KEY: usize = API_KEY_SLOTS - 1;

/// A latency histogram over [`LATENCY_BUCKETS_S`]: per-bucket counts and the sum in
/// nanoseconds.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_S.len() + 1],
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { buckets: std::array::from_fn(|_| AtomicU64::new(0)), sum_ns: AtomicU64::new(0) }
    }
}

/// A histogram as read at a scrape: the sum in seconds, the count, and each bucket's own count
/// with its upper bound (`f64::MAX` for +Inf, as `prometheus-client` encodes it).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub sum_s: f64,
    pub count: u64,
    pub buckets: Vec<(f64, u64)>,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS_S.iter().position(|&b| seconds <= b).unwrap_or(LATENCY_BUCKETS_S.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    /// The count is the buckets' total, read once each: a scrape racing an observation sees it
    /// in all three places or in none of the buckets and the count.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let buckets: Vec<(f64, u64)> = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| (LATENCY_BUCKETS_S.get(i).copied().unwrap_or(f64::MAX), b.load(Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        HistogramSnapshot { sum_s: self.sum_ns.load(Relaxed) as f64 / 1e9, count, buckets }
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.load(Relaxed) == 0)
    }
}

/// The phases of a request's time, as Kafka's `RequestMetrics` names them.
#[derive(Debug, Default)]
pub struct RequestTimes {
    /// From the frame read to the answer ready: `local` plus `remote`.
    pub total: Histogram,
    /// Handling, without the purgatory wait.
    pub local: Histogram,
    /// Waiting in a purgatory: an `acks=all` produce for its replicas, a fetch for data.
    pub remote: Histogram,
    /// Writing the answer to the socket.
    pub send: Histogram,
}

/// Requests by API and version, their times, and the error codes Produce and Fetch answered.
#[derive(Debug)]
pub struct RequestMetrics {
    /// `API_KEY_SLOTS * VERSION_SLOTS` counts.
    requests: Box<[AtomicU64]>,
    times: Box<[RequestTimes]>,
    /// Per API key and error code, the partitions answered with it (Produce and Fetch), or the
    /// requests (the others' top-level codes are not counted).
    errors: Box<[AtomicU64]>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics {
            requests: (0..API_KEY_SLOTS * VERSION_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            times: (0..API_KEY_SLOTS).map(|_| RequestTimes::default()).collect(),
            errors: (0..API_KEY_SLOTS * ERROR_CODE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn api_slot(api_key: i16) -> usize {
    usize::try_from(api_key).ok().filter(|&k| k < API_KEY_SLOTS).unwrap_or(OTHER_API_KEY)
}

impl RequestMetrics {
    /// One request of `api_key` at `version`, answered after `local + remote` (its purgatory
    /// wait being `remote`).
    pub fn record(&self, api_key: i16, version: i16, local: Duration, remote: Duration) {
        let api = api_slot(api_key);
        let version = usize::try_from(version).unwrap_or(0).min(VERSION_SLOTS - 1);
        self.requests[api * VERSION_SLOTS + version].fetch_add(1, Relaxed);
        let times = &self.times[api];
        times.total.observe(local + remote);
        times.local.observe(local);
        if !remote.is_zero() {
            times.remote.observe(remote);
        }
    }

    /// The answer to a request of `api_key` took `elapsed` to write.
    pub fn record_send(&self, api_key: i16, elapsed: Duration) {
        self.times[api_slot(api_key)].send.observe(elapsed);
    }

    /// A partition (or request) of `api_key` answered with error `code` (not NONE).
    pub fn record_error(&self, api_key: i16, code: i16) {
        let slot = usize::try_from(i32::from(code) + 1).unwrap_or(ERROR_CODE_SLOTS - 1).min(ERROR_CODE_SLOTS - 1);
        self.errors[api_slot(api_key) * ERROR_CODE_SLOTS + slot].fetch_add(1, Relaxed);
    }

    /// `(api_key, version, count)` for every pair seen.
    pub fn request_counts(&self) -> Vec<(i16, i16, u64)> {
        (0..API_KEY_SLOTS * VERSION_SLOTS)
            .filter_map(|i| {
                let n = self.requests[i].load(Relaxed);
                (n > 0).then_some(((i / VERSION_SLOTS) as i16, (i % VERSION_SLOTS) as i16, n))
            })
            .collect()
    }

    /// The times of every API seen.
    pub fn times(&self) -> impl Iterator<Item = (i16, &RequestTimes)> {
        self.times
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.total.is_empty() || !t.send.is_empty())
            .map(|(i, t)| (i as i16, t))
    }

    /// `(api_key, error_code, count)` for every pair seen.
    pub fn error_counts(&self) -> Vec<(i16, i16, u64)> {
        (0..API_KEY_SLOTS * ERROR_CODE_SLOTS)
            .filter_map(|i| {
                let n = self.errors[i].load(Relaxed);
                (n > 0).then_some(((i / ERROR_CODE_SLOTS) as i16, (i % ERROR_CODE_SLOTS) as i16 - 1, n))
            })
            .collect()
    }
}

/// One topic's traffic on this broker (Kafka's per-topic `BrokerTopicMetrics`).
#[derive(Debug, Default)]
pub struct TopicCounters {
    /// Record bytes clients produced, as appended (Kafka's BytesInPerSec).
    pub bytes_in: AtomicU64,
    /// Records clients produced (MessagesInPerSec).
    pub messages_in: AtomicU64,
    /// Record bytes sent to consumers (BytesOutPerSec).
    pub bytes_out: AtomicU64,
    /// Record bytes this broker copied from leaders as a follower (ReplicationBytesInPerSec).
    pub replication_bytes_in: AtomicU64,
    /// Record bytes sent to followers (ReplicationBytesOutPerSec).
    pub replication_bytes_out: AtomicU64,
    /// Produce requests' partitions refused (FailedProduceRequestsPerSec, by partition).
    pub failed_produces: AtomicU64,
    /// Fetch requests' partitions answered with an error (FailedFetchRequestsPerSec).
    pub failed_fetches: AtomicU64,
}

/// Event counts and gauges of the replica path, process-wide.
#[derive(Debug)]
pub struct Events {
    /// ISR changes committed that removed replicas (Kafka's IsrShrinksPerSec).
    pub isr_shrinks: AtomicU64,
    /// ISR changes committed that added replicas (IsrExpandsPerSec).
    pub isr_expands: AtomicU64,
    /// Partition leaders this broker elected as the controller (LeaderElectionRateAndTimeMs).
    pub leader_elections: AtomicU64,
    /// Leaders elected outside the ISR (UncleanLeaderElectionsPerSec).
    pub unclean_leader_elections: AtomicU64,
    /// Rebalances the group coordinator started (a group entering PreparingRebalance).
    pub group_rebalances: AtomicU64,
    /// Responses throttled by a client quota (`quota.rs`; Kafka's throttle-time sensors).
    pub quota_throttles: AtomicU64,
    /// `acks=all` produce requests waiting for their replicas (the produce purgatory's size).
    pub produce_purgatory: AtomicI64,
    /// Fetch requests parked for data (the fetch purgatory's size).
    pub fetch_purgatory: AtomicI64,
}

/// The replica path's event counts (see [`Events`]).
pub static EVENTS: Events = Events {
    isr_shrinks: AtomicU64::new(0),
    isr_expands: AtomicU64::new(0),
    leader_elections: AtomicU64::new(0),
    unclean_leader_elections: AtomicU64::new(0),
    group_rebalances: AtomicU64::new(0),
    quota_throttles: AtomicU64::new(0),
    produce_purgatory: AtomicI64::new(0),
    fetch_purgatory: AtomicI64::new(0),
};

/// Counts one waiter in a purgatory gauge while it lives.
#[derive(Debug)]
pub struct PurgatoryEntry(&'static AtomicI64);

impl PurgatoryEntry {
    pub fn enter(gauge: &'static AtomicI64) -> PurgatoryEntry {
        gauge.fetch_add(1, Relaxed);
        PurgatoryEntry(gauge)
    }
}

impl Drop for PurgatoryEntry {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_observation_in_the_first_bucket_that_holds_it() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0], (0.0005, 1));
        assert_eq!(s.buckets[1], (0.001, 1), "an observation on a bound is in that bucket (le)");
        assert_eq!(*s.buckets.last().expect("+Inf"), (f64::MAX, 1));
        assert!((s.sum_s - 60.0013).abs() < 1e-9, "sum {}", s.sum_s);
    }

    #[test]
    fn requests_are_counted_by_api_and_version_and_out_of_range_keys_do_not_panic() {
        let m = RequestMetrics::default();
        m.record(0, 9, Duration::from_millis(1), Duration::ZERO);
        m.record(0, 9, Duration::from_millis(1), Duration::from_millis(5));
        m.record(-7, 99, Duration::ZERO, Duration::ZERO);
        m.record_error(0, 6);
        m.record_error(1, -1);
        m.record_error(1, -9);
        assert_eq!(m.request_counts(), vec![(0, 9, 2), (OTHER_API_KEY as i16, (VERSION_SLOTS - 1) as i16, 1)]);
        let produce = m.times().find(|(k, _)| *k == 0).expect("produce timed").1;
        assert_eq!(produce.total.snapshot().count, 2);
        assert_eq!(produce.remote.snapshot().count, 1, "only the request that waited has a remote time");
        assert_eq!(m.error_counts(), vec![(0, 6, 1), (1, -1, 1), (1, (ERROR_CODE_SLOTS - 2) as i16, 1)]);
    }
}
