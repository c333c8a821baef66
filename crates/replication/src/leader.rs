//! What a partition leader knows about its followers, and the decisions Kafka's `Partition`
//! makes from it — the high watermark (the smallest log end offset in the ISR), which followers
//! fell out of sync (`maybe_shrink_isr` after `replica.lag.time.max.ms`), which caught up and
//! may join (`maybe_expand_isr`), and which replica a consumer in a rack should read from
//! (KIP-392).
//!
//! The caller feeds in follower fetches and the clock, writes proposed ISR changes to the
//! coordination service with compare-and-set, and reports back whether they committed. Until a
//! change commits, the high watermark is computed over the *maximal* ISR, the committed set
//! plus any replica being added (KIP-497's rule): a write is never acknowledged on the strength
//! of an ISR that might not exist, and a proposed shrink does not take effect early.
//!
//! Invariants (asserted in release builds): the leader is one of the replicas and in every ISR
//! it holds or proposes; a proposed ISR is a subset of the replicas; the high watermark is at
//! most the leader's log end offset. A follower's fetch offset comes from the network, so one
//! past the leader's log end is refused (`update_follower` answers false), not asserted on.
//!
//! Concurrency: none; the broker holds a `LeaderState` under its partition's lock.

use std::collections::BTreeMap;

use crate::is_subset;

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

impl FollowerProgress {
    fn unknown(last_caught_up_ms: i64) -> FollowerProgress {
        FollowerProgress { log_end_offset: -1, last_caught_up_ms, last_fetch_leader_leo: -1, last_fetch_ms: 0 }
    }
}

/// The leader's side of one partition, for one leader epoch.
#[derive(Debug, Clone)]
pub struct LeaderState {
    pub broker_id: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    /// The ISR as committed in the coordination service; it contains `broker_id`.
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
    /// The state of a leader that has just taken `leader_epoch` with `isr`. The caller has
    /// checked (see [`crate::role::decide`]) that this broker is a replica and in the ISR.
    pub fn new(
        broker_id: i32,
        leader_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        zk_version: i32,
        epoch_start_offset: i64,
        now_ms: i64,
    ) -> LeaderState {
        assert!(
            replicas.contains(&broker_id),
            "leader {broker_id} is not a replica: replicas={replicas:?} leader_epoch={leader_epoch}"
        );
        assert!(isr.contains(&broker_id), "leader {broker_id} is not in its ISR {isr:?} leader_epoch={leader_epoch}");
        // A new leader knows nothing of its followers' logs yet, but gives those in the ISR a
        // full lag period to show up before dropping them (as Kafka resets lastCaughtUpTime).
        let followers = replicas
            .iter()
            .filter(|&&r| r != broker_id)
            .map(|&r| (r, FollowerProgress::unknown(if isr.contains(&r) { now_ms } else { 0 })))
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
        assert!(
            replicas.contains(&self.broker_id),
            "leader {} dropped from its replicas: {replicas:?} leader_epoch={}",
            self.broker_id,
            self.leader_epoch
        );
        self.followers.retain(|r, _| replicas.contains(r));
        for &r in &replicas {
            if r != self.broker_id {
                self.followers.entry(r).or_insert(FollowerProgress::unknown(0));
            }
        }
        self.replicas = replicas;
    }

    pub fn follower(&self, id: i32) -> Option<&FollowerProgress> {
        self.followers.get(&id)
    }

    /// Records a follower's fetch from `fetch_offset` while the leader's log ended at
    /// `leader_leo`. Returns false for a broker that is not a replica, and for a fetch offset
    /// past the leader's log end (no such read succeeds; counting it could lift the high
    /// watermark past the log end).
    pub fn update_follower(&mut self, id: i32, fetch_offset: i64, leader_leo: i64, now_ms: i64) -> bool {
        if fetch_offset > leader_leo {
            return false;
        }
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
        let hw =
            self.maximal_isr()
                .iter()
                .map(|&r| {
                    if r == self.broker_id {
                        leader_leo
                    } else {
                        self.followers.get(&r).map_or(-1, |f| f.log_end_offset)
                    }
                })
                .min()
                .unwrap_or(leader_leo);
        assert!(
            hw <= leader_leo,
            "high watermark {hw} past the leader's log end offset {leader_leo}: leader={} leader_epoch={} isr={:?}",
            self.broker_id,
            self.leader_epoch,
            self.isr
        );
        hw
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

    /// Kafka's `maybeShrinkIsr`: proposes the ISR without the followers that have not caught
    /// up within `lag_time_max_ms`, unless none lag or a change is already in flight.
    pub fn maybe_shrink_isr(&mut self, now_ms: i64, lag_time_max_ms: i64) -> Option<Vec<i32>> {
        let lagging = self.out_of_sync(now_ms, lag_time_max_ms);
        if lagging.is_empty() {
            return None;
        }
        let isr = self.isr.iter().copied().filter(|r| !lagging.contains(r)).collect();
        self.propose_isr(isr)
    }

    /// Kafka's `maybeExpandIsr`: proposes the ISR with the followers that have caught up to
    /// `high_watermark` (and the start of this epoch), unless none have or a change is in flight.
    pub fn maybe_expand_isr(&mut self, high_watermark: i64) -> Option<Vec<i32>> {
        let joining = self.caught_up(high_watermark);
        if joining.is_empty() {
            return None;
        }
        let mut isr = self.isr.clone();
        isr.extend(joining);
        self.propose_isr(isr)
    }

    /// Starts an ISR change unless one is already in flight; returns the set to write.
    ///
    /// Members that are no longer replicas are left out: the committed ISR may still name a
    /// replica a reassignment has just removed (the topic znode and the state znode reach this
    /// broker separately), and the controller takes it out of the ISR too.
    pub fn propose_isr(&mut self, isr: Vec<i32>) -> Option<Vec<i32>> {
        let isr: Vec<i32> = isr.into_iter().filter(|r| self.replicas.contains(r)).collect();
        assert!(
            isr.contains(&self.broker_id),
            "leader {} proposes an ISR without itself: {isr:?} committed={:?} leader_epoch={}",
            self.broker_id,
            self.isr,
            self.leader_epoch
        );
        assert!(
            is_subset(&isr, &self.replicas),
            "proposed ISR {isr:?} is not a subset of the replicas {:?}: leader={} leader_epoch={}",
            self.replicas,
            self.broker_id,
            self.leader_epoch
        );
        if self.pending_isr.is_some() || isr == self.isr {
            return None;
        }
        self.pending_isr = Some(isr.clone());
        Some(isr)
    }

    /// The coordination service now holds `isr` at `zk_version` (our write, or another's). The
    /// caller has checked that the leader is in it ([`crate::role::decide`] ignores a state
    /// that leaves it out).
    pub fn isr_committed(&mut self, isr: Vec<i32>, zk_version: i32) {
        assert!(
            isr.contains(&self.broker_id),
            "leader {} committed an ISR without itself: {isr:?} zk_version={zk_version} leader_epoch={}",
            self.broker_id,
            self.leader_epoch
        );
        self.pending_isr = None;
        self.isr = isr;
        self.zk_version = zk_version;
    }

    /// Our write lost a compare-and-set race; the next state read decides.
    pub fn isr_failed(&mut self) {
        self.pending_isr = None;
    }

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

    /// Whether the committed ISR has at least `min_insync` members (`min.insync.replicas`).
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
    fn maybe_shrink_isr_proposes_the_isr_without_the_lagging_followers() {
        let mut s = three();
        s.update_follower(2, 120, 120, 5_000);
        assert_eq!(s.maybe_shrink_isr(5_000, 10_000), None, "nobody lags yet");
        assert_eq!(s.maybe_shrink_isr(11_001, 10_000), Some(vec![1, 2]));
        assert_eq!(s.pending_isr, Some(vec![1, 2]));
    }

    #[test]
    fn maybe_expand_isr_proposes_the_isr_with_the_caught_up_followers() {
        let mut s = LeaderState::new(1, 5, vec![1, 2, 3], vec![1, 2], 0, 100, 0);
        s.update_follower(2, 150, 150, 10);
        s.update_follower(3, 90, 150, 10);
        assert_eq!(s.maybe_expand_isr(s.high_watermark(150)), None, "3 is behind");
        s.update_follower(3, 150, 150, 20);
        assert_eq!(s.maybe_expand_isr(s.high_watermark(150)), Some(vec![1, 2, 3]));
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
    fn a_follower_behind_the_epoch_start_does_not_join() {
        // The high watermark (80) lags the start of this epoch (100): reaching it is not enough.
        let mut s = LeaderState::new(1, 5, vec![1, 2, 3], vec![1, 2], 0, 100, 0);
        s.update_follower(2, 80, 150, 10);
        s.update_follower(3, 90, 150, 10);
        assert_eq!(s.high_watermark(150), 80);
        assert_eq!(s.caught_up(80), Vec::<i32>::new());
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
    fn a_proposed_isr_leaves_out_a_replica_the_reassignment_removed() {
        // The narrowed replica set arrived before the narrowed ISR; then follower 2 lags.
        let mut s = three();
        s.set_replicas(vec![1, 2]);
        assert_eq!(s.isr, vec![1, 2, 3], "the committed ISR still names 3");
        assert_eq!(s.maybe_shrink_isr(20_000, 10_000), Some(vec![1]));
    }

    #[test]
    fn unknown_brokers_are_ignored() {
        let mut s = three();
        assert!(!s.update_follower(9, 1, 1, 1));
    }

    #[test]
    fn a_fetch_offset_past_the_leader_log_end_is_refused() {
        let mut s = three();
        assert!(!s.update_follower(2, 121, 120, 10));
        assert_eq!(s.follower(2).map(|f| f.log_end_offset), Some(-1));
        s.update_follower(2, 120, 120, 10);
        s.update_follower(3, 120, 120, 10);
        assert_eq!(s.high_watermark(120), 120);
    }

    #[test]
    #[should_panic(expected = "is not in its ISR")]
    fn a_leader_outside_its_isr_is_a_bug() {
        LeaderState::new(1, 5, vec![1, 2, 3], vec![2, 3], 0, 100, 0);
    }

    #[test]
    #[should_panic(expected = "committed an ISR without itself")]
    fn committing_an_isr_without_the_leader_is_a_bug() {
        three().isr_committed(vec![2, 3], 1);
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
