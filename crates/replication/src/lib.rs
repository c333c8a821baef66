//! Partition leadership without I/O: what a partition leader knows about its followers, and the
//! decisions Kafka's `Partition` makes from it — the high watermark (the smallest log end
//! offset in the ISR), which followers fell out of sync (`maybe_shrink_isr` after
//! `replica.lag.time.max.ms`), and which caught up and may join (`maybe_expand_isr`).
//!
//! The caller feeds in follower fetches and the clock, writes proposed ISR changes to the
//! coordination service with compare-and-set, and reports back whether they committed. Until a
//! change commits, the high watermark is computed over the *maximal* ISR, the committed set
//! plus any replica being added (KIP-497's rule): a write is never acknowledged on the strength
//! of an ISR that might not exist, and a proposed shrink does not take effect early.

use std::collections::BTreeMap;

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower's log end offset: the offset of its last fetch. -1 until it first fetches.
    pub log_end_offset: i64,
    /// The last time the follower was known to have everything the leader had.
    pub last_caught_up_ms: i64,
    last_fetch_leader_leo: i64,
    last_fetch_ms: i64,
}

/// The leader's side of one partition, for one leader epoch.
#[derive(Debug, Clone)]
pub struct LeaderState {
    pub broker_id: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    /// The ISR as committed in the coordination service.
    pub isr: Vec<i32>,
    /// The znode version of the committed state (for compare-and-set).
    pub zk_version: i32,
    /// An ISR change written but not yet acknowledged.
    pub pending_isr: Option<Vec<i32>>,
    /// The log end offset when this leader epoch began: a follower must reach it to rejoin.
    pub epoch_start_offset: i64,
    followers: BTreeMap<i32, FollowerProgress>,
}

impl LeaderState {
    pub fn new(
        broker_id: i32,
        leader_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        zk_version: i32,
        epoch_start_offset: i64,
        now_ms: i64,
    ) -> LeaderState {
        // A new leader knows nothing of its followers' logs yet, but gives those in the ISR a
        // full lag period to show up before dropping them (as Kafka resets lastCaughtUpTime).
        let followers = replicas
            .iter()
            .filter(|&&r| r != broker_id)
            .map(|&r| {
                let caught_up = if isr.contains(&r) { now_ms } else { 0 };
                (
                    r,
                    FollowerProgress {
                        log_end_offset: -1,
                        last_caught_up_ms: caught_up,
                        last_fetch_leader_leo: -1,
                        last_fetch_ms: 0,
                    },
                )
            })
            .collect();
        LeaderState {
            broker_id,
            leader_epoch,
            replicas,
            isr,
            zk_version,
            pending_isr: None,
            epoch_start_offset,
            followers,
        }
    }

    /// The replica set changed within this epoch (a reassignment adds or drops replicas): new
    /// followers start unknown and out of the ISR, dropped ones are forgotten.
    pub fn set_replicas(&mut self, replicas: Vec<i32>) {
        self.followers.retain(|r, _| replicas.contains(r));
        for &r in &replicas {
            if r != self.broker_id {
                self.followers.entry(r).or_insert(FollowerProgress {
                    log_end_offset: -1,
                    last_caught_up_ms: 0,
                    last_fetch_leader_leo: -1,
                    last_fetch_ms: 0,
                });
            }
        }
        self.replicas = replicas;
    }

    pub fn follower(&self, id: i32) -> Option<&FollowerProgress> {
        self.followers.get(&id)
    }

    /// Records a follower's fetch from `fetch_offset` while the leader's log ended at
    /// `leader_leo`. Returns false for a broker that is not a replica.
    pub fn update_follower(&mut self, id: i32, fetch_offset: i64, leader_leo: i64, now_ms: i64) -> bool {
        let Some(f) = self.followers.get_mut(&id) else { return false };
        if fetch_offset >= leader_leo {
            f.last_caught_up_ms = f.last_caught_up_ms.max(now_ms);
        } else if f.last_fetch_leader_leo >= 0 && fetch_offset >= f.last_fetch_leader_leo {
            // It now has everything the leader had at its previous fetch.
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.log_end_offset = fetch_offset;
        f.last_fetch_leader_leo = leader_leo;
        f.last_fetch_ms = now_ms;
        true
    }

    /// The committed ISR plus any replica a pending change adds.
    pub fn maximal_isr(&self) -> Vec<i32> {
        let mut out = self.isr.clone();
        if let Some(pending) = &self.pending_isr {
            for r in pending {
                if !out.contains(r) {
                    out.push(*r);
                }
            }
        }
        out
    }

    /// The high watermark the ISR allows: the smallest log end offset over the maximal ISR
    /// (the leader's own is `leader_leo`). A follower that has not fetched yet holds it at -1.
    pub fn high_watermark(&self, leader_leo: i64) -> i64 {
        self.maximal_isr()
            .iter()
            .map(
                |&r| {
                    if r == self.broker_id {
                        leader_leo
                    } else {
                        self.followers.get(&r).map_or(-1, |f| f.log_end_offset)
                    }
                },
            )
            .min()
            .unwrap_or(leader_leo)
    }

    /// Followers in the ISR that have not caught up within `lag_time_max_ms`.
    pub fn out_of_sync(&self, now_ms: i64, lag_time_max_ms: i64) -> Vec<i32> {
        self.isr
            .iter()
            .copied()
            .filter(|&r| r != self.broker_id)
            .filter(|r| self.followers.get(r).is_some_and(|f| now_ms - f.last_caught_up_ms > lag_time_max_ms))
            .collect()
    }

    /// Replicas outside the ISR whose log reaches both the high watermark and the start of this
    /// leader epoch: they may join.
    pub fn caught_up(&self, high_watermark: i64) -> Vec<i32> {
        self.followers
            .iter()
            .filter(|(r, _)| !self.isr.contains(r) && self.replicas.contains(r))
            .filter(|(_, f)| f.log_end_offset >= high_watermark && f.log_end_offset >= self.epoch_start_offset)
            .map(|(&r, _)| r)
            .collect()
    }

    /// Starts an ISR change unless one is already in flight; returns the set to write.
    pub fn propose_isr(&mut self, isr: Vec<i32>) -> Option<Vec<i32>> {
        if self.pending_isr.is_some() || isr == self.isr {
            return None;
        }
        self.pending_isr = Some(isr.clone());
        Some(isr)
    }

    /// The coordination service now holds `isr` at `zk_version` (our write, or another's).
    pub fn isr_committed(&mut self, isr: Vec<i32>, zk_version: i32) {
        self.pending_isr = None;
        self.isr = isr;
        self.zk_version = zk_version;
    }

    /// Our write lost a compare-and-set race; the next state read decides.
    pub fn isr_failed(&mut self) {
        self.pending_isr = None;
    }

    /// Whether the committed ISR has at least `min_insync` members (`min.insync.replicas`).
    /// KIP-392's rack-aware replica selection (Kafka's `RackAwareReplicaSelector`): the replica a
    /// consumer in `client_rack` should fetch from at `fetch_offset`. The leader unless it is in
    /// another rack and a follower in the client's rack already has the offset; among several
    /// such followers, the one furthest ahead (then the most recently caught up). `rack_of` gives
    /// each broker's `broker.rack`.
    pub fn preferred_read_replica(
        &self,
        fetch_offset: i64,
        client_rack: &str,
        rack_of: impl Fn(i32) -> Option<String>,
    ) -> i32 {
        let in_rack = |r: i32| rack_of(r).is_some_and(|rack| rack == client_rack);
        if client_rack.is_empty() || in_rack(self.broker_id) {
            return self.broker_id;
        }
        self.followers
            .iter()
            .filter(|(r, f)| self.replicas.contains(r) && f.log_end_offset >= fetch_offset && in_rack(**r))
            .max_by_key(|(_, f)| (f.log_end_offset, f.last_caught_up_ms))
            .map_or(self.broker_id, |(r, _)| *r)
    }

    pub fn has_min_isr(&self, min_insync: i32) -> bool {
        self.isr.len() as i64 >= i64::from(min_insync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> LeaderState {
        LeaderState::new(1, 5, vec![1, 2, 3], vec![1, 2, 3], 0, 100, 1_000)
    }

    #[test]
    fn high_watermark_is_the_smallest_isr_log_end() {
        let mut s = three();
        assert_eq!(s.high_watermark(120), -1, "followers not heard from hold it back");
        s.update_follower(2, 110, 120, 1_010);
        s.update_follower(3, 115, 120, 1_010);
        assert_eq!(s.high_watermark(120), 110);
        s.update_follower(2, 120, 120, 1_020);
        assert_eq!(s.high_watermark(120), 115);
        s.isr_committed(vec![1, 2], 1);
        assert_eq!(s.high_watermark(120), 120, "a follower out of the ISR does not count");
    }

    #[test]
    fn shrink_isr_after_replica_lag_time_max() {
        let mut s = three();
        s.update_follower(2, 120, 120, 5_000);
        s.update_follower(3, 100, 120, 5_000);
        assert_eq!(s.out_of_sync(5_000, 10_000), Vec::<i32>::new(), "everyone gets a lag period at election");
        assert_eq!(s.out_of_sync(11_001, 10_000), vec![3], "3 never caught up since the election");
        // 3 reaches what the leader had at its previous fetch: caught up as of that fetch.
        s.update_follower(3, 120, 130, 11_000);
        assert_eq!(s.follower(3).map(|f| f.last_caught_up_ms), Some(5_000));
        s.update_follower(3, 130, 130, 11_500);
        assert_eq!(s.out_of_sync(11_600, 10_000), Vec::<i32>::new());
    }

    #[test]
    fn a_follower_joins_once_it_reaches_the_high_watermark_and_the_epoch_start() {
        let mut s = LeaderState::new(1, 5, vec![1, 2, 3], vec![1, 2], 0, 100, 0);
        s.update_follower(2, 150, 150, 10);
        s.update_follower(3, 90, 150, 10);
        assert_eq!(s.caught_up(s.high_watermark(150)), Vec::<i32>::new());
        s.update_follower(3, 150, 150, 20);
        assert_eq!(s.caught_up(s.high_watermark(150)), vec![3]);
        assert_eq!(s.propose_isr(vec![1, 2, 3]), Some(vec![1, 2, 3]));
        assert_eq!(s.propose_isr(vec![1, 2]), None, "one change in flight at a time");
        assert_eq!(s.maximal_isr(), vec![1, 2, 3], "the pending joiner counts for the high watermark");
        s.isr_committed(vec![1, 2, 3], 1);
        assert!(s.has_min_isr(3));
    }

    #[test]
    fn a_pending_shrink_does_not_take_effect_early() {
        let mut s = three();
        s.update_follower(2, 120, 120, 10);
        s.update_follower(3, 100, 120, 10);
        assert_eq!(s.propose_isr(vec![1, 2]), Some(vec![1, 2]));
        assert_eq!(s.high_watermark(120), 100, "3 still counts until the shrink commits");
        s.isr_failed();
        assert_eq!(s.pending_isr, None);
        assert_eq!(s.isr, vec![1, 2, 3]);
    }

    #[test]
    fn a_replica_added_by_reassignment_joins_once_caught_up_and_a_dropped_one_is_forgotten() {
        let mut s = three();
        s.set_replicas(vec![1, 2, 3, 4]);
        assert!(s.update_follower(4, 50, 120, 10), "the added replica is tracked");
        s.update_follower(2, 120, 120, 10);
        s.update_follower(3, 120, 120, 10);
        assert_eq!(s.caught_up(s.high_watermark(120)), Vec::<i32>::new());
        s.update_follower(4, 120, 120, 20);
        assert_eq!(s.caught_up(s.high_watermark(120)), vec![4]);
        s.set_replicas(vec![1, 2, 4]);
        assert!(!s.update_follower(3, 120, 120, 30), "the removed replica is no longer tracked");
    }

    #[test]
    fn unknown_brokers_are_ignored() {
        let mut s = three();
        assert!(!s.update_follower(9, 1, 1, 1));
    }

    #[test]
    fn a_consumer_is_sent_to_a_caught_up_follower_in_its_rack() {
        let mut s = LeaderState::new(1, 5, vec![1, 2, 3], vec![1, 2, 3], 0, 100, 0);
        let rack = |r: i32| Some(format!("RACK{r}"));
        assert_eq!(s.preferred_read_replica(50, "", rack), 1, "no client rack: the leader");
        assert_eq!(s.preferred_read_replica(50, "RACK1", rack), 1, "the leader's own rack");
        assert_eq!(s.preferred_read_replica(50, "RACK9", rack), 1, "no replica in the rack");
        assert_eq!(s.preferred_read_replica(50, "RACK2", rack), 1, "follower 2 has not fetched yet");
        s.update_follower(2, 60, 100, 10);
        assert_eq!(s.preferred_read_replica(50, "RACK2", rack), 2);
        assert_eq!(s.preferred_read_replica(70, "RACK2", rack), 1, "follower 2 lacks offset 70");
        let same = |_: i32| Some("A".to_string());
        s.update_follower(3, 80, 100, 10);
        assert_eq!(s.preferred_read_replica(50, "A", same), 1, "the leader shares the rack");
        let two_in_b = |r: i32| Some(if r == 1 { "A" } else { "B" }.to_string());
        assert_eq!(s.preferred_read_replica(50, "B", two_in_b), 3, "the follower furthest ahead");
    }
}
