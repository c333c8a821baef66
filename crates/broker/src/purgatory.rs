//! Purgatories: requests parked until events on their own partitions complete them (Kafka's
//! `DelayedOperationPurgatory`, with its `DelayedProduce` and `DelayedFetch`).
//!
//! - [`DelayedFetch`]: a fetch that found fewer than `min_bytes` parks on the partitions it
//!   asked for, and only on them: each [`Partition`] keeps a [`WatcherList`] for follower
//!   fetches (woken when the leader's log end moves) and one for consumer fetches (woken when the
//!   high watermark moves), both also woken when the partition's role changes. An append to
//!   partition B never wakes a fetch parked on partition A, so a long poll costs nothing while
//!   other partitions are busy (the broker-wide "something was appended" signal this replaces
//!   made every parked fetch re-read every partition it asked for on any append anywhere).
//! - [`DelayedProduce`]: one per `acks=all` request, over all its partitions: every partition
//!   is appended first, then the request waits once for all of them, so it completes when the
//!   last partition's high watermark passes its batch (or the timeout fires), never after
//!   `N` sequential waits.
//!
//! Nothing here waits on a timer except the request's own timeout: completion is driven by the
//! high watermark's `watch` channel and the watcher lists, which the replica path signals as it
//! moves.
//!
//! Concurrency: a watcher list is a short `parking_lot` mutex around weak references to the
//! parked requests' [`Notify`]; a waker takes the list (swaps in an empty one) and notifies
//! outside the lock. A parked request that gave up (its wait time ran out) leaves a dead weak
//! reference behind; lists purge dead entries when they have doubled since the last purge, so a
//! list holds at most twice the live waiters plus [`WATCHER_PURGE_MIN_COUNT`] (Kafka purges
//! completed operations every `purgeInterval` the same way).

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, watch};

use crate::error::ErrorCode;
use crate::replica_manager::Partition;

/// A watcher list is not purged of dead entries below this many.
pub const WATCHER_PURGE_MIN_COUNT: usize = 64;

/// The requests parked on one partition for one kind of event.
#[derive(Debug, Default)]
pub struct WatcherList {
    inner: Mutex<Watchers>,
}

#[derive(Debug, Default)]
struct Watchers {
    waiters: Vec<Weak<Notify>>,
    /// Purge dead entries when the list reaches this length.
    purge_at: usize,
}

impl WatcherList {
    /// Parks `waiter` here until the next [`wake_all`](Self::wake_all).
    pub fn watch(&self, waiter: &Arc<Notify>) {
        let mut w = self.inner.lock();
        if w.waiters.len() >= w.purge_at.max(WATCHER_PURGE_MIN_COUNT) {
            w.waiters.retain(|n| n.strong_count() > 0);
            w.purge_at = 2 * w.waiters.len();
        }
        w.waiters.push(Arc::downgrade(waiter));
    }

    /// Wakes every request parked here (each re-checks its own condition); returns how many
    /// were still waiting.
    pub fn wake_all(&self) -> usize {
        let waiters = {
            let mut w = self.inner.lock();
            if w.waiters.is_empty() {
                return 0;
            }
            w.purge_at = 0;
            std::mem::take(&mut w.waiters)
        };
        let mut woken = 0;
        for waiter in waiters.iter().filter_map(Weak::upgrade) {
            waiter.notify_one();
            woken += 1;
        }
        woken
    }

    /// Entries held, live or dead (for tests and metrics).
    pub fn len(&self) -> usize {
        self.inner.lock().waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which event a parked fetch waits for on a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchWatch {
    /// A follower's fetch: the leader's log end moved (records to replicate).
    LogEnd,
    /// A consumer's fetch: the high watermark moved (records became visible).
    HighWatermark,
}

/// One parked fetch (Kafka's `DelayedFetch`): registered on each partition it reads, before it
/// reads it, so an append between the read and the wait is not missed (the `Notify` keeps the
/// wake-up as a permit).
#[derive(Debug)]
pub struct DelayedFetch {
    notify: Arc<Notify>,
}

impl Default for DelayedFetch {
    fn default() -> Self {
        Self::new()
    }
}

impl DelayedFetch {
    pub fn new() -> Self {
        DelayedFetch { notify: Arc::new(Notify::new()) }
    }

    /// Parks this fetch on `partition` for `what`.
    pub fn watch(&self, partition: &Partition, what: FetchWatch) {
        partition.watch_for_fetch(&self.notify, what);
    }

    /// Waits until a partition it watches signals, or `timeout`; returns whether it was woken.
    pub async fn wait(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.notify.notified()).await.is_ok()
    }
}

/// One partition's part of a [`DelayedProduce`]: the batch was appended and ends before
/// `required_offset`; the partition's high watermark must reach it.
#[derive(Debug)]
pub struct PendingAck {
    pub partition: Arc<Partition>,
    pub required_offset: i64,
    /// Subscribed before the append: a role change after it ends the wait.
    pub role: watch::Receiver<u64>,
}

/// The partitions a request appended to, whose parked follower fetches are woken together once
/// the request's last append is done, when this is dropped (Kafka completes delayed fetches
/// from its action queue after a request's appends the same way). Woken after each append
/// instead, a follower parked on several partitions of one produce request would answer with
/// the first partition's batch alone, and fetch the others a round trip later, which the
/// request's `acks=all` then waits for.
#[derive(Debug, Default)]
pub struct DeferredWakes {
    partitions: Vec<Arc<Partition>>,
}

impl DeferredWakes {
    pub fn add(&mut self, partition: Arc<Partition>) {
        self.partitions.push(partition);
    }

    /// Wakes what was added so far (before the request waits on something else).
    pub fn wake_now(&mut self) {
        for partition in self.partitions.drain(..) {
            partition.wake_follower_fetches();
        }
    }
}

impl Drop for DeferredWakes {
    fn drop(&mut self) {
        self.wake_now();
    }
}

/// An `acks=all` request waiting for all its partitions at once (Kafka's `DelayedProduce`).
#[derive(Debug, Default)]
pub struct DelayedProduce {
    pending: Vec<PendingAck>,
}

impl DelayedProduce {
    pub fn new() -> Self {
        DelayedProduce { pending: Vec::new() }
    }

    /// Adds a partition's appended batch; returns its index in [`complete`](Self::complete)'s
    /// answer.
    pub fn add(&mut self, ack: PendingAck) -> usize {
        self.pending.push(ack);
        self.pending.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Waits, for every partition at once, until its high watermark passes its batch
    /// (NONE), its leadership moves before that (NOT_LEADER_OR_FOLLOWER: the new leader may or
    /// may not have the batch), or `timeout` from now passes (REQUEST_TIMED_OUT). Returns one
    /// code per partition, in the order they were added; it returns as soon as the last
    /// partition is decided.
    pub async fn complete(self, timeout: Duration) -> Vec<ErrorCode> {
        // The batches are all appended already, so their replication runs in parallel; waiting
        // for them in turn under one deadline ends when the last is replicated (a partition
        // done earlier answers at once), and a role change seen late is still seen: each
        // receiver keeps it.
        let deadline = tokio::time::Instant::now() + timeout;
        let mut out = Vec::with_capacity(self.pending.len());
        for PendingAck { partition, required_offset, mut role } in self.pending {
            let mut hw = partition.subscribe();
            let outcome = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    biased;
                    r = hw.wait_for(|&hw| hw >= required_offset) => r.is_ok(),
                    _ = role.changed() => false,
                }
            })
            .await;
            out.push(match outcome {
                Ok(true) => ErrorCode::None,
                _ if partition.high_watermark() >= required_offset => ErrorCode::None,
                Ok(false) => ErrorCode::NotLeaderOrFollower,
                Err(_) => ErrorCode::RequestTimedOut,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watcher_list_wakes_each_live_waiter_once_and_empties() {
        let list = WatcherList::default();
        let (a, b) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        list.watch(&a);
        list.watch(&b);
        drop(b);
        assert_eq!(list.wake_all(), 1, "the dropped waiter is skipped");
        assert!(list.is_empty());
        assert_eq!(list.wake_all(), 0);
    }

    #[test]
    fn dead_watchers_are_purged_so_an_idle_list_stays_bounded() {
        let list = WatcherList::default();
        let live = Arc::new(Notify::new());
        list.watch(&live);
        // Long polls on an idle partition that each time out: their entries die.
        for _ in 0..10_000 {
            let gone = Arc::new(Notify::new());
            list.watch(&gone);
        }
        assert!(
            list.len() <= WATCHER_PURGE_MIN_COUNT + 1,
            "an idle partition's list grew to {} entries for 1 live waiter",
            list.len()
        );
        assert_eq!(list.wake_all(), 1);
    }

    #[tokio::test]
    async fn a_wake_before_the_wait_is_kept() {
        let list = WatcherList::default();
        let fetch = DelayedFetch::new();
        list.watch(&fetch.notify);
        list.wake_all();
        assert!(fetch.wait(Duration::from_secs(30)).await, "the wake-up between read and wait was lost");
    }
}
