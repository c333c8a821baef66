//! The keeper's bounds on its clients, ZooKeeper's: connections per client IP
//! (`maxClientCnxns`), the time a connection may take to send its ConnectRequest (ZooKeeper's
//! `zookeeper.nio.sessionlessCnxnTimeout`), and the largest frame (`jute.maxbuffer`).
//!
//! Keeper and broker share one process and so one file-descriptor limit: without these, idle
//! connections to the keeper port starve the broker (issue 18, "nothing unbounded").
//!
//! Sans-I/O: [`ClientCnxnLimit`] counts and [`RefusalLog`] decides when to log; the server
//! (`server.rs`) accepts, closes and times out. Concurrency: the per-IP counts sit behind one
//! short lock, taken at accept and when a connection ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// ZooKeeper's `maxClientCnxns` default: connections from one IP address at once, at most.
pub const DEFAULT_MAX_CLIENT_CNXNS: u32 = 60;

/// ZooKeeper's `zookeeper.nio.sessionlessCnxnTimeout` default: how long a new connection may
/// take to send its whole ConnectRequest (or a four-letter word) before it is closed. ZooKeeper
/// uses a fixed 10 s rather than a number of ticks, and so does the keeper: the bound is about
/// a client's network, not about the ensemble's clock (`tickTime`), and a client that has not
/// managed 50 bytes in 10 s is not going to.
pub const DEFAULT_SESSIONLESS_CNXN_TIMEOUT_MS: u64 = 10_000;

/// ZooKeeper's `jute.maxbuffer` default (0xfffff): a frame whose length prefix is larger (or
/// negative) closes the connection, as ZooKeeper's `NIOServerCnxn.readLength` does.
pub const JUTE_MAX_BUFFER_BYTES: usize = 0xfffff;

/// How often refused connections are logged at most: one line with a count per interval, not one
/// per connection (a flood of refused connections must not become a flood of log lines).
pub const REFUSED_CNXN_LOG_INTERVAL_MS: u64 = 10_000;

/// Open connections per client IP, against a limit (0: unlimited, as in ZooKeeper).
#[derive(Debug)]
pub struct ClientCnxnLimit {
    max: u32,
    counts: Mutex<HashMap<IpAddr, u32>>,
}

/// One counted connection; the count drops when it does.
#[derive(Debug)]
pub struct CnxnPermit {
    limit: Arc<ClientCnxnLimit>,
    ip: IpAddr,
}

impl ClientCnxnLimit {
    pub fn new(max: u32) -> Arc<ClientCnxnLimit> {
        Arc::new(ClientCnxnLimit { max, counts: Mutex::new(HashMap::new()) })
    }

    /// Counts a new connection from `ip`, or `None` when `ip` already has `max` open (ZooKeeper
    /// refuses at `count >= maxClientCnxns`, so `max` connections are allowed).
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<CnxnPermit> {
        let mut counts = self.counts.lock();
        let n = counts.entry(ip).or_insert(0);
        if self.max > 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(CnxnPermit { limit: self.clone(), ip })
    }

    /// Connections open from `ip`.
    pub fn count(&self, ip: IpAddr) -> u32 {
        self.counts.lock().get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for CnxnPermit {
    fn drop(&mut self) {
        let mut counts = self.limit.counts.lock();
        if let Some(n) = counts.get_mut(&self.ip) {
            assert!(*n > 0, "a connection count went below zero for {}", self.ip);
            *n -= 1;
            if *n == 0 {
                // The map holds only addresses with open connections, so it is bounded by them.
                counts.remove(&self.ip);
            }
        }
    }
}

/// Counts refusals and says when to log them: the first at once, later ones summed once an
/// interval has passed since the last line.
#[derive(Debug)]
pub struct RefusalLog {
    interval: Duration,
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl RefusalLog {
    pub fn new(interval: Duration) -> RefusalLog {
        RefusalLog { interval, last_logged: None, unlogged: 0 }
    }

    /// Notes one refusal at `now`; returns the number of refusals to log now (this one included),
    /// or `None` to stay quiet.
    pub fn refused(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        let due = self.last_logged.is_none_or(|t| now.duration_since(t) >= self.interval);
        if !due {
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an IP address")
    }

    #[test]
    fn connections_beyond_the_limit_from_one_ip_are_refused() {
        let limit = ClientCnxnLimit::new(2);
        let a = limit.try_acquire(ip("127.0.0.1")).expect("first");
        let _b = limit.try_acquire(ip("127.0.0.1")).expect("second");
        assert!(limit.try_acquire(ip("127.0.0.1")).is_none(), "the third is over the limit");
        assert!(limit.try_acquire(ip("127.0.0.2")).is_some(), "another IP has its own count");
        drop(a);
        assert_eq!(limit.count(ip("127.0.0.1")), 1);
        assert!(limit.try_acquire(ip("127.0.0.1")).is_some(), "a closed connection frees its place");
    }

    #[test]
    fn a_limit_of_zero_is_unlimited() {
        let limit = ClientCnxnLimit::new(0);
        let permits: Vec<_> = (0..1000).map(|_| limit.try_acquire(ip("10.0.0.1")).expect("unlimited")).collect();
        assert_eq!(limit.count(ip("10.0.0.1")), 1000);
        drop(permits);
        assert_eq!(limit.count(ip("10.0.0.1")), 0);
        assert!(limit.counts.lock().is_empty(), "addresses without connections are forgotten");
    }

    #[test]
    fn refusals_are_logged_once_per_interval_with_their_count() {
        let start = Instant::now();
        let mut log = RefusalLog::new(Duration::from_secs(10));
        assert_eq!(log.refused(start), Some(1), "the first is logged at once");
        for i in 1..=99 {
            assert_eq!(log.refused(start + Duration::from_millis(i)), None);
        }
        assert_eq!(log.refused(start + Duration::from_secs(10)), Some(100), "then the sum, after the interval");
        assert_eq!(log.refused(start + Duration::from_secs(11)), None);
    }
}
