//! Role transitions: what applying a partition's state znode (leader, leader epoch, ISR, znode
//! version) does to this broker's role for the partition — Kafka's `Partition.makeLeader` /
//! `makeFollower` decisions, as the ZooKeeper-era `LeaderAndIsr` request drove them.
//!
//! Rules, in order:
//! - a state whose leader epoch is older than the one this partition already applied is stale
//!   (the metadata cache may lag our own view): ignored;
//! - a state naming this broker leader while leaving it out of the replicas or the ISR is
//!   malformed (the controller never writes one; anything else may have): ignored, so the
//!   leader's own invariant (`LeaderState`: the leader is in its ISR) cannot be broken by input;
//! - this broker named leader: in the same epoch while already leading it stays leader,
//!   taking the ISR if the znode is newer than the one it holds; otherwise it becomes leader;
//! - another broker named leader, and this broker a replica: it follows, unless it already
//!   follows that leader in that epoch;
//! - no leader, or this broker is not a replica: offline here.
//!
//! Invariant (asserted in release builds): a transition that applies a state never moves the
//! partition's leader epoch backwards.
//!
//! Concurrency: none; the broker decides and applies under its partition's lock.

use crate::LeaderAndIsr;

/// This broker's role for a partition before a state is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrentRole {
    /// Hosted but neither leading nor following (no state yet, or offline).
    None,
    /// Leading, with the ISR committed at znode version `zk_version`.
    Leader {
        zk_version: i32,
    },
    Follower {
        leader: i32,
    },
}

/// What applying a state does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleTransition {
    /// Nothing changes, not even the replica set or the ISR.
    Ignore(IgnoreReason),
    /// This broker takes the lead at the state's epoch.
    BecomeLeader,
    /// Still the leader in the same epoch. `isr_changed`: the znode is newer than the ISR the
    /// leader holds (the controller shrank it, or our own write arrived), so take its ISR.
    StayLeader { isr_changed: bool },
    /// Follow `leader` at the state's epoch (truncating first).
    BecomeFollower { leader: i32 },
    /// Already following this leader in this epoch: only the ISR and replicas are refreshed.
    StayFollower,
    /// No leader here to follow, or this broker is not a replica: stop fetching and leading.
    GoOffline,
}

/// Why a state is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// Its leader epoch is older than the one already applied.
    StaleEpoch,
    /// It names this broker leader but leaves it out of the ISR.
    LeaderNotInIsr,
    /// It names this broker leader but not among the replicas.
    LeaderNotAReplica,
}

/// The transition for `broker_id`, at `current_epoch` in role `current`, applying `state` (at
/// znode version `zk_version`) with replica set `replicas`. Pure: every input may be anything,
/// the answer is always one of the transitions above.
pub fn decide(
    broker_id: i32,
    current_epoch: i32,
    current: CurrentRole,
    state: &LeaderAndIsr,
    zk_version: i32,
    replicas: &[i32],
) -> RoleTransition {
    if state.leader_epoch < current_epoch {
        return RoleTransition::Ignore(IgnoreReason::StaleEpoch);
    }
    let same_epoch = state.leader_epoch == current_epoch;
    if state.leader == broker_id {
        if !replicas.contains(&broker_id) {
            return RoleTransition::Ignore(IgnoreReason::LeaderNotAReplica);
        }
        if !state.isr.contains(&broker_id) {
            return RoleTransition::Ignore(IgnoreReason::LeaderNotInIsr);
        }
        return match current {
            CurrentRole::Leader { zk_version: held } if same_epoch => {
                RoleTransition::StayLeader { isr_changed: zk_version > held }
            }
            _ => RoleTransition::BecomeLeader,
        };
    }
    if same_epoch && current == (CurrentRole::Follower { leader: state.leader }) {
        return RoleTransition::StayFollower;
    }
    // Any negative leader is no leader (`NO_LEADER` is -1; the keeper may hold anything).
    if state.leader >= 0 && replicas.contains(&broker_id) {
        RoleTransition::BecomeFollower { leader: state.leader }
    } else {
        RoleTransition::GoOffline
    }
}

/// Whether `transition` moves the partition to the state's leader epoch (rather than keeping
/// its own, which equals it or is newer).
pub fn applies_epoch(transition: RoleTransition) -> bool {
    matches!(
        transition,
        RoleTransition::BecomeLeader | RoleTransition::BecomeFollower { .. } | RoleTransition::GoOffline
    )
}

/// Asserts the leader epoch a partition applies never goes backwards; call where the epoch is
/// stored.
pub fn assert_epoch_advances(current_epoch: i32, applied_epoch: i32, what: &dyn std::fmt::Display) {
    assert!(
        applied_epoch >= current_epoch,
        "leader epoch of {what} would go backwards: {current_epoch} -> {applied_epoch}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NO_LEADER;

    const ME: i32 = 1;

    fn state(leader: i32, epoch: i32, isr: &[i32]) -> LeaderAndIsr {
        LeaderAndIsr::new(leader, epoch, isr.to_vec())
    }

    fn decide3(current_epoch: i32, current: CurrentRole, s: &LeaderAndIsr, zk_version: i32) -> RoleTransition {
        decide(ME, current_epoch, current, s, zk_version, &[1, 2, 3])
    }

    #[test]
    fn an_older_epoch_is_ignored() {
        let t = decide3(5, CurrentRole::Follower { leader: 2 }, &state(ME, 4, &[1, 2]), 9);
        assert_eq!(t, RoleTransition::Ignore(IgnoreReason::StaleEpoch));
    }

    #[test]
    fn named_leader_at_a_new_epoch_becomes_leader() {
        assert_eq!(
            decide3(4, CurrentRole::Follower { leader: 2 }, &state(ME, 5, &[1, 2]), 7),
            RoleTransition::BecomeLeader
        );
        assert_eq!(decide3(-1, CurrentRole::None, &state(ME, 0, &[1, 2, 3]), 0), RoleTransition::BecomeLeader);
    }

    #[test]
    fn a_restarted_broker_becomes_leader_at_the_epoch_its_log_already_holds() {
        // The log's latest epoch is 5 and the state says 5: not led here yet, so lead.
        assert_eq!(decide3(5, CurrentRole::None, &state(ME, 5, &[1, 2]), 3), RoleTransition::BecomeLeader);
    }

    #[test]
    fn the_leader_takes_a_newer_isr_within_its_epoch() {
        let current = CurrentRole::Leader { zk_version: 3 };
        assert_eq!(decide3(5, current, &state(ME, 5, &[1, 2]), 4), RoleTransition::StayLeader { isr_changed: true });
        assert_eq!(
            decide3(5, current, &state(ME, 5, &[1, 2, 3]), 3),
            RoleTransition::StayLeader { isr_changed: false },
            "a znode no newer than the ISR held changes nothing"
        );
        assert_eq!(
            decide3(5, current, &state(ME, 5, &[1, 2, 3]), 2),
            RoleTransition::StayLeader { isr_changed: false },
            "the cache lags our own ISR write"
        );
    }

    #[test]
    fn a_state_naming_this_broker_leader_outside_its_isr_is_ignored() {
        let t = decide3(4, CurrentRole::Follower { leader: 2 }, &state(ME, 5, &[2, 3]), 7);
        assert_eq!(t, RoleTransition::Ignore(IgnoreReason::LeaderNotInIsr));
        let t = decide3(5, CurrentRole::Leader { zk_version: 3 }, &state(ME, 5, &[2]), 4);
        assert_eq!(t, RoleTransition::Ignore(IgnoreReason::LeaderNotInIsr), "nor does a sitting leader take that ISR");
    }

    #[test]
    fn a_state_naming_a_non_replica_leader_here_is_ignored() {
        let t = decide(ME, 4, CurrentRole::None, &state(ME, 5, &[1, 2]), 7, &[2, 3]);
        assert_eq!(t, RoleTransition::Ignore(IgnoreReason::LeaderNotAReplica));
    }

    #[test]
    fn another_leader_is_followed_once_per_epoch() {
        assert_eq!(
            decide3(4, CurrentRole::Leader { zk_version: 3 }, &state(2, 5, &[2, 3]), 4),
            RoleTransition::BecomeFollower { leader: 2 },
            "a deposed leader follows"
        );
        assert_eq!(
            decide3(5, CurrentRole::Follower { leader: 2 }, &state(2, 5, &[2, 3]), 5),
            RoleTransition::StayFollower,
            "an ISR change in the same epoch does not restart fetching"
        );
        assert_eq!(
            decide3(5, CurrentRole::Follower { leader: 2 }, &state(3, 6, &[3]), 6),
            RoleTransition::BecomeFollower { leader: 3 },
            "a new leader"
        );
        assert_eq!(
            decide3(5, CurrentRole::Follower { leader: 2 }, &state(2, 6, &[2]), 6),
            RoleTransition::BecomeFollower { leader: 2 },
            "the same leader at a new epoch: truncate again"
        );
    }

    #[test]
    fn no_leader_takes_the_partition_offline_here() {
        let t = decide3(5, CurrentRole::Follower { leader: 2 }, &state(NO_LEADER, 6, &[2]), 6);
        assert_eq!(t, RoleTransition::GoOffline);
        let t = decide3(5, CurrentRole::Leader { zk_version: 2 }, &state(NO_LEADER, 6, &[1]), 6);
        assert_eq!(t, RoleTransition::GoOffline, "a leader whose ISR died with it steps down");
    }

    #[test]
    fn a_broker_that_is_not_a_replica_does_not_follow() {
        let t = decide(ME, 5, CurrentRole::Follower { leader: 2 }, &state(2, 6, &[2]), 6, &[2, 3]);
        assert_eq!(t, RoleTransition::GoOffline);
    }

    #[test]
    fn only_transitions_to_a_new_role_apply_the_states_epoch() {
        assert!(applies_epoch(RoleTransition::BecomeLeader));
        assert!(applies_epoch(RoleTransition::BecomeFollower { leader: 2 }));
        assert!(applies_epoch(RoleTransition::GoOffline));
        assert!(!applies_epoch(RoleTransition::StayFollower));
        assert!(!applies_epoch(RoleTransition::StayLeader { isr_changed: true }));
        assert!(!applies_epoch(RoleTransition::Ignore(IgnoreReason::StaleEpoch)));
    }

    #[test]
    #[should_panic(expected = "would go backwards: 5 -> 4")]
    fn applying_an_older_epoch_is_a_bug() {
        assert_epoch_advances(5, 4, &"t-0");
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn role() -> impl Strategy<Value = CurrentRole> {
            prop_oneof![
                Just(CurrentRole::None),
                (0..5i32).prop_map(|zk_version| CurrentRole::Leader { zk_version }),
                (-1..5i32).prop_map(|leader| CurrentRole::Follower { leader }),
            ]
        }

        proptest! {
            /// Whatever the keeper holds, a transition never applies an older epoch, and a
            /// broker only leads with itself in the replicas and the ISR.
            #[test]
            fn decisions_keep_the_epoch_and_leader_invariants(
                current_epoch in -1..6i32,
                current in role(),
                leader in -2..5i32,
                epoch in -2..8i32,
                isr in proptest::collection::vec(-1..5i32, 0..5),
                zk_version in 0..5i32,
                replicas in proptest::collection::vec(0..5i32, 0..5),
            ) {
                let s = LeaderAndIsr::new(leader, epoch, isr);
                let t = decide(1, current_epoch, current, &s, zk_version, &replicas);
                if applies_epoch(t) || matches!(t, RoleTransition::StayLeader { .. } | RoleTransition::StayFollower) {
                    prop_assert!(epoch >= current_epoch, "{t:?} applies epoch {epoch} over {current_epoch}");
                }
                if matches!(t, RoleTransition::BecomeLeader | RoleTransition::StayLeader { .. }) {
                    prop_assert!(s.isr.contains(&1) && replicas.contains(&1), "{t:?} with {s:?} {replicas:?}");
                }
                if let RoleTransition::BecomeFollower { leader: l } = t {
                    prop_assert!(l >= 0 && l != 1 && replicas.contains(&1));
                }
            }
        }
    }
}
