//! `LogLimiter`: a repeated failure is logged once per interval and per key (a peer's address),
//! with a count of what was held back since the last line. A client stuck in a retry loop on a
//! request the broker refuses (kafka-go wrote 1,246 such requests in 40 s) makes one line per
//! interval instead of one per request.
//!
//! Sans-I/O: the caller passes the time, so the policy is tested without a clock. The table of
//! keys is bounded (`LOG_LIMITER_MAX_KEYS`): when full, keys whose interval has passed are
//! dropped, and if none has, the oldest one is.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How many keys (peers) a limiter remembers at most.
pub const LOG_LIMITER_MAX_KEYS: usize = 4_096;

#[derive(Debug, Clone, Copy)]
struct Window {
    /// When the last line for this key was written.
    logged_at: Instant,
    /// Lines held back since then.
    suppressed: u64,
}

#[derive(Debug)]
pub struct LogLimiter<K> {
    interval: Duration,
    windows: Mutex<HashMap<K, Window>>,
}

impl<K: Hash + Eq + Clone> LogLimiter<K> {
    pub fn new(interval: Duration) -> Self {
        LogLimiter { interval, windows: Mutex::new(HashMap::new()) }
    }

    /// Whether to write a line for `key` now: `Some(n)` with the lines held back since the last
    /// one (0 for the first), or `None` to hold this one back too.
    pub fn admit(&self, key: &K, now: Instant) -> Option<u64> {
        let mut windows = self.windows.lock();
        if let Some(w) = windows.get_mut(key) {
            if now.saturating_duration_since(w.logged_at) < self.interval {
                w.suppressed += 1;
                return None;
            }
            let held_back = w.suppressed;
            *w = Window { logged_at: now, suppressed: 0 };
            return Some(held_back);
        }
        if windows.len() >= LOG_LIMITER_MAX_KEYS {
            let interval = self.interval;
            windows.retain(|_, w| now.saturating_duration_since(w.logged_at) < interval);
            if windows.len() >= LOG_LIMITER_MAX_KEYS
                && let Some(oldest) = windows.iter().min_by_key(|(_, w)| w.logged_at).map(|(k, _)| k.clone())
            {
                windows.remove(&oldest);
            }
        }
        windows.insert(key.clone(), Window { logged_at: now, suppressed: 0 });
        assert!(windows.len() <= LOG_LIMITER_MAX_KEYS, "log limiter over its bound: {}", windows.len());
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_key_with_the_count_held_back() {
        let limiter = LogLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limiter.admit(&"a", t0), Some(0));
        for i in 1..=1_245 {
            assert_eq!(limiter.admit(&"a", t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(limiter.admit(&"b", t0 + Duration::from_secs(1)), Some(0), "another peer has its own window");
        assert_eq!(limiter.admit(&"a", t0 + Duration::from_secs(10)), Some(1_245));
        assert_eq!(limiter.admit(&"a", t0 + Duration::from_secs(11)), None);
    }

    #[test]
    fn the_table_of_keys_stays_bounded() {
        let limiter = LogLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for k in 0..(LOG_LIMITER_MAX_KEYS + 100) {
            assert_eq!(limiter.admit(&k, t0 + Duration::from_micros(k as u64)), Some(0));
        }
        assert!(limiter.windows.lock().len() <= LOG_LIMITER_MAX_KEYS);
        // The oldest keys were dropped: they start afresh.
        assert_eq!(limiter.admit(&0, t0 + Duration::from_secs(1)), Some(0));
    }
}
