//! Process-wide counts of the log's disk work, for the broker's `/metrics`: flushes (fsyncs of
//! a segment's log and indexes) with their time, and segment rolls. Relaxed atomics, bumped
//! where the work is done; Kafka keeps the same figures in its global metrics registry
//! (`LogFlushRateAndTimeMs`, roll counts in the log's metrics).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

static FLUSHES: AtomicU64 = AtomicU64::new(0);
static FLUSH_MICROS: AtomicU64 = AtomicU64::new(0);
static ROLLS: AtomicU64 = AtomicU64::new(0);

/// The counts as read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageStats {
    pub flushes: u64,
    /// Time spent in flushes, summed, in microseconds.
    pub flush_micros: u64,
    pub rolls: u64,
}

pub fn snapshot() -> StorageStats {
    StorageStats {
        flushes: FLUSHES.load(Relaxed),
        flush_micros: FLUSH_MICROS.load(Relaxed),
        rolls: ROLLS.load(Relaxed),
    }
}

/// Counts a flush that started at `started`.
pub(crate) fn flushed(started: Instant) {
    FLUSHES.fetch_add(1, Relaxed);
    FLUSH_MICROS.fetch_add(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX), Relaxed);
}

pub(crate) fn rolled() {
    ROLLS.fetch_add(1, Relaxed);
}
