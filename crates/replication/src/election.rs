//! The controller's partition decisions (Kafka's `PartitionLeaderElectionAlgorithms` and the
//! ZooKeeper-era `PartitionStateMachine`): who leads a partition and which replicas are in
//! sync, given the current state, the replica assignment and the live brokers.
//!
//! - A new partition: the first live replica in assignment order leads (the preferred replica
//!   when alive), the live replicas form the ISR, leader epoch 0.
//! - A partition without a valid leader (dead, not a replica, or not in its own ISR):
//!   the first replica in assignment order that is alive and in the ISR, the epoch bumped; with
//!   no live ISR member it goes offline (leader -1, ISR kept so a member can come back) unless
//!   `unclean.leader.election.enable`, which lets the first live replica lead with an ISR of
//!   itself (acknowledged records may be lost, Kafka's trade-off).
//! - Dead followers, and replicas a reassignment dropped, leave the ISR without a new epoch.
//! - Preferred leader election (`auto.leader.rebalance.enable`): the first assigned replica
//!   takes the lead back if alive and in the ISR.
//! - A reassignment (KIP-455) completes once every target replica is alive and in the ISR: the
//!   ISR narrowed to the target, the leader kept if it stays, else the first target replica.
//! - Controlled shutdown: a stopping broker's partitions move to the first assigned replica
//!   alive, in the ISR and not stopping; stopping brokers leave every ISR they are in.
//!
//! Invariants (asserted in release builds on every state decided): a leader is one of the
//! replicas and in the ISR it leads with; the ISR of a state with a leader is a subset of the
//! replicas; the leader epoch never goes backwards. The current state comes from the keeper and
//! may break them: such a state is repaired (a leader outside its ISR is re-elected) or left
//! alone (an epoch that cannot be bumped), never asserted on.
//!
//! Concurrency: none; the controller calls these on a snapshot of the cluster.

use crate::{LeaderAndIsr, NO_LEADER, is_subset};

/// Why the controller writes a new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionKind {
    /// The leader is gone; a live ISR member leads.
    Clean,
    /// No ISR member is alive; `unclean.leader.election.enable` lets an out-of-sync replica lead.
    Unclean,
    /// No ISR member is alive: no leader until one returns.
    Offline,
    /// Dead followers (or replicas a reassignment dropped) leave the ISR; the leader stays.
    IsrShrink,
    /// Leadership goes back to the preferred replica.
    Preferred,
    /// Leadership moves off a broker shutting down, and it leaves the ISR.
    ControlledShutdown,
}

/// A state the controller should write, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Election {
    pub next: LeaderAndIsr,
    pub kind: ElectionKind,
}

/// A new partition's first state: the live replicas in assignment order, the first leading.
/// `None` while no replica is alive.
pub fn initial_leader_and_isr(replicas: &[i32], live: &[i32]) -> Option<LeaderAndIsr> {
    let isr: Vec<i32> = replicas.iter().copied().filter(|r| live.contains(r)).collect();
    let leader = *isr.first()?;
    let next = LeaderAndIsr::new(leader, 0, isr);
    assert_valid(&next, replicas);
    Some(next)
}

/// Kafka's `offlinePartitionLeaderElection`: the first replica in assignment order alive and
/// in the ISR; failing that, with `unclean`, the first live replica. `(leader, unclean)`.
pub fn offline_partition_leader(replicas: &[i32], isr: &[i32], live: &[i32], unclean: bool) -> Option<(i32, bool)> {
    if let Some(&leader) = replicas.iter().find(|r| live.contains(r) && isr.contains(r)) {
        return Some((leader, false));
    }
    if unclean && let Some(&leader) = replicas.iter().find(|r| live.contains(r)) {
        return Some((leader, true));
    }
    None
}

/// Kafka's `preferredReplicaPartitionLeaderElection`: the first assigned replica, if alive and
/// in the ISR.
pub fn preferred_replica_leader(replicas: &[i32], isr: &[i32], live: &[i32]) -> Option<i32> {
    replicas.first().copied().filter(|r| live.contains(r) && isr.contains(r))
}

/// Kafka's `controlledShutdownPartitionLeaderElection`: the first assigned replica alive, in the
/// ISR and not shutting down.
pub fn controlled_shutdown_leader(replicas: &[i32], isr: &[i32], live: &[i32], shutting_down: &[i32]) -> Option<i32> {
    replicas.iter().copied().find(|r| live.contains(r) && isr.contains(r) && !shutting_down.contains(r))
}

/// The state a partition should move to from `current`, if any: a new leader when it has no
/// valid one, an ISR without dead members, or (with `rebalance`) the preferred leader back.
pub fn next_leader_and_isr(
    current: &LeaderAndIsr,
    replicas: &[i32],
    live: &[i32],
    unclean: bool,
    rebalance: bool,
) -> Option<Election> {
    let is_live = |r: &i32| live.contains(r);
    // A replica a reassignment dropped leaves the ISR too.
    let live_isr: Vec<i32> = current.isr.iter().copied().filter(|r| is_live(r) && replicas.contains(r)).collect();
    // An epoch the keeper holds at i32::MAX cannot be bumped: leave such a partition alone.
    let bumped = current.leader_epoch.checked_add(1);
    let leader = current.leader;
    // A leader outside its own ISR is not one the controller ever wrote: elect again.
    let leader_ok = leader >= 0 && is_live(&leader) && replicas.contains(&leader) && current.isr.contains(&leader);
    let election = if !leader_ok {
        match offline_partition_leader(replicas, &live_isr, live, unclean) {
            Some((leader, false)) => {
                Election { next: LeaderAndIsr::new(leader, bumped?, live_isr), kind: ElectionKind::Clean }
            }
            Some((leader, true)) => {
                Election { next: LeaderAndIsr::new(leader, bumped?, vec![leader]), kind: ElectionKind::Unclean }
            }
            // Offline: no leader until an ISR member returns; the ISR is kept so it can.
            None if leader != NO_LEADER => Election {
                next: LeaderAndIsr::new(NO_LEADER, bumped?, current.isr.clone()),
                kind: ElectionKind::Offline,
            },
            None => return None,
        }
    } else if live_isr != current.isr {
        Election { next: LeaderAndIsr::new(leader, current.leader_epoch, live_isr), kind: ElectionKind::IsrShrink }
    } else if rebalance
        && let Some(preferred) = preferred_replica_leader(replicas, &current.isr, live)
        && preferred != leader
    {
        Election { next: LeaderAndIsr::new(preferred, bumped?, current.isr.clone()), kind: ElectionKind::Preferred }
    } else {
        return None;
    };
    assert_epoch_advances(current, &election.next);
    assert_valid(&election.next, replicas);
    Some(election)
}

/// The state that completes a reassignment to `target`, once every target replica is alive and
/// in the ISR and the partition has a leader: the ISR narrowed to the target, the leader kept
/// if it stays (same epoch), else the first target replica with the epoch bumped.
pub fn complete_reassignment(current: &LeaderAndIsr, target: &[i32], live: &[i32]) -> Option<LeaderAndIsr> {
    if current.leader < 0 || target.is_empty() || !target.iter().all(|r| current.isr.contains(r) && live.contains(r)) {
        return None;
    }
    let (leader, leader_epoch) = if target.contains(&current.leader) && current.isr.contains(&current.leader) {
        (current.leader, current.leader_epoch)
    } else {
        (target[0], current.leader_epoch.checked_add(1)?)
    };
    let isr = current.isr.iter().copied().filter(|r| target.contains(r)).collect();
    let next = LeaderAndIsr::new(leader, leader_epoch, isr);
    assert_epoch_advances(current, &next);
    assert_valid(&next, target);
    Some(next)
}

/// Kafka's controlled shutdown for one partition: with `shutting_down` brokers stopping, the
/// state that takes them out of the ISR and, if one of them leads, moves the lead to
/// [`controlled_shutdown_leader`] with the epoch bumped. `None` when nothing changes, or when
/// no other replica can lead (the leader keeps it until it stops; then the partition is
/// elected as any other whose leader died).
pub fn controlled_shutdown(
    current: &LeaderAndIsr,
    replicas: &[i32],
    live: &[i32],
    shutting_down: &[i32],
) -> Option<Election> {
    // Replicas a reassignment dropped leave too, as in `next_leader_and_isr`.
    let isr: Vec<i32> =
        current.isr.iter().copied().filter(|r| !shutting_down.contains(r) && replicas.contains(r)).collect();
    let next = if shutting_down.contains(&current.leader) {
        let leader = controlled_shutdown_leader(replicas, &current.isr, live, shutting_down)?;
        LeaderAndIsr::new(leader, current.leader_epoch.checked_add(1)?, isr)
    } else if isr != current.isr && replicas.contains(&current.leader) && isr.contains(&current.leader) {
        LeaderAndIsr::new(current.leader, current.leader_epoch, isr)
    } else {
        return None;
    };
    assert_epoch_advances(current, &next);
    assert_valid(&next, replicas);
    Some(Election { next, kind: ElectionKind::ControlledShutdown })
}

/// An election an administrator asks for (ElectLeaders, KIP-460).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminElection {
    /// Leadership to the preferred (first assigned) replica.
    Preferred,
    /// A leader for a partition without one: from the live ISR if it can, else any live replica.
    Unclean,
}

/// Why an administrator's election changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminElectionRefused {
    /// The preferred replica leads already (preferred), or a live leader exists (unclean).
    NotNeeded,
    /// The preferred replica is dead or out of the ISR.
    PreferredNotAvailable,
    /// No replica is alive.
    EligibleNotAvailable,
}

/// The state an administrator's election moves a partition to (Kafka's `electLeaders` with
/// `PreferredReplicaPartitionLeaderElectionStrategy` or `OfflinePartitionLeaderElectionStrategy`
/// with unclean allowed): preferred leaves the ISR as it is and bumps the epoch; unclean first
/// tries the live ISR (a clean election), then the first live replica with an ISR of itself.
pub fn admin_election(
    current: &LeaderAndIsr,
    replicas: &[i32],
    live: &[i32],
    kind: AdminElection,
) -> Result<Election, AdminElectionRefused> {
    let is_live = |r: &i32| live.contains(r);
    let bumped = current.leader_epoch.checked_add(1).ok_or(AdminElectionRefused::EligibleNotAvailable)?;
    let leader_ok = current.leader >= 0
        && is_live(&current.leader)
        && replicas.contains(&current.leader)
        && current.isr.contains(&current.leader);
    let election = match kind {
        AdminElection::Preferred => {
            let preferred = *replicas.first().ok_or(AdminElectionRefused::PreferredNotAvailable)?;
            if leader_ok && current.leader == preferred {
                return Err(AdminElectionRefused::NotNeeded);
            }
            let Some(preferred) = preferred_replica_leader(replicas, &current.isr, live) else {
                return Err(AdminElectionRefused::PreferredNotAvailable);
            };
            Election { next: LeaderAndIsr::new(preferred, bumped, current.isr.clone()), kind: ElectionKind::Preferred }
        }
        AdminElection::Unclean => {
            if leader_ok {
                return Err(AdminElectionRefused::NotNeeded);
            }
            let live_isr: Vec<i32> =
                current.isr.iter().copied().filter(|r| is_live(r) && replicas.contains(r)).collect();
            match offline_partition_leader(replicas, &live_isr, live, true) {
                Some((leader, false)) => {
                    Election { next: LeaderAndIsr::new(leader, bumped, live_isr), kind: ElectionKind::Clean }
                }
                Some((leader, true)) => {
                    Election { next: LeaderAndIsr::new(leader, bumped, vec![leader]), kind: ElectionKind::Unclean }
                }
                None => return Err(AdminElectionRefused::EligibleNotAvailable),
            }
        }
    };
    assert_epoch_advances(current, &election.next);
    assert_valid(&election.next, replicas);
    Ok(election)
}

fn assert_epoch_advances(current: &LeaderAndIsr, next: &LeaderAndIsr) {
    assert!(next.leader_epoch >= current.leader_epoch, "leader epoch goes backwards: {current:?} -> {next:?}");
}

/// A state with a leader: the leader is a replica and in the ISR, the ISR within the replicas.
fn assert_valid(next: &LeaderAndIsr, replicas: &[i32]) {
    if !next.has_leader() {
        return;
    }
    assert!(next.isr.contains(&next.leader), "leader {} outside its ISR: {next:?} replicas={replicas:?}", next.leader);
    assert!(replicas.contains(&next.leader), "leader {} not a replica: {next:?} replicas={replicas:?}", next.leader);
    assert!(is_subset(&next.isr, replicas), "ISR not within the replicas: {next:?} replicas={replicas:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(leader: i32, epoch: i32, isr: &[i32]) -> LeaderAndIsr {
        LeaderAndIsr::new(leader, epoch, isr.to_vec())
    }

    fn next(
        current: &LeaderAndIsr,
        replicas: &[i32],
        live: &[i32],
        unclean: bool,
        rebalance: bool,
    ) -> Option<(LeaderAndIsr, ElectionKind)> {
        next_leader_and_isr(current, replicas, live, unclean, rebalance).map(|e| (e.next, e.kind))
    }

    #[test]
    fn a_new_partition_is_led_by_the_first_live_replica_with_the_live_replicas_in_sync() {
        assert_eq!(initial_leader_and_isr(&[1, 2, 3], &[1, 2, 3]), Some(state(1, 0, &[1, 2, 3])));
        assert_eq!(initial_leader_and_isr(&[1, 2, 3], &[3, 2]), Some(state(2, 0, &[2, 3])), "assignment order");
        assert_eq!(initial_leader_and_isr(&[1, 2, 3], &[4]), None, "no replica alive");
    }

    #[test]
    fn a_live_isr_leader_is_preferred_in_replica_order() {
        let (n, kind) = next(&state(1, 4, &[1, 3, 2]), &[1, 2, 3], &[2, 3], false, false).expect("elects");
        assert_eq!((n, kind), (state(2, 5, &[3, 2]), ElectionKind::Clean), "2 comes before 3 in the assignment");
    }

    #[test]
    fn a_live_replica_out_of_the_isr_is_not_elected_cleanly() {
        let (n, _) = next(&state(1, 4, &[1, 3]), &[1, 2, 3], &[2, 3], false, false).expect("elects");
        assert_eq!(n.leader, 3, "2 is alive but out of sync");
    }

    #[test]
    fn no_live_isr_member_takes_the_partition_offline_with_its_isr_kept() {
        let (n, kind) = next(&state(1, 4, &[1]), &[1, 2, 3], &[2, 3], false, false).expect("goes offline");
        assert_eq!((n.clone(), kind), (state(NO_LEADER, 5, &[1]), ElectionKind::Offline));
        assert_eq!(next(&n, &[1, 2, 3], &[2, 3], false, false), None, "stays offline quietly");
    }

    #[test]
    fn unclean_election_picks_the_first_live_replica_with_an_isr_of_itself() {
        let (n, kind) = next(&state(1, 4, &[1]), &[1, 3, 2], &[2, 3], true, false).expect("unclean");
        assert_eq!((n, kind), (state(3, 5, &[3]), ElectionKind::Unclean));
        let (n, kind) = next(&state(NO_LEADER, 5, &[1]), &[1, 2, 3], &[2], true, false).expect("from offline too");
        assert_eq!((n, kind), (state(2, 6, &[2]), ElectionKind::Unclean));
    }

    #[test]
    fn unclean_election_still_prefers_a_live_isr_member() {
        let (n, kind) = next(&state(1, 4, &[1, 3]), &[1, 2, 3], &[2, 3], true, false).expect("elects");
        assert_eq!((n.leader, kind), (3, ElectionKind::Clean));
    }

    #[test]
    fn an_offline_partition_is_led_again_when_an_isr_member_returns() {
        let (n, kind) = next(&state(NO_LEADER, 5, &[1]), &[1, 2, 3], &[1, 2, 3], false, false).expect("back");
        assert_eq!((n, kind), (state(1, 6, &[1]), ElectionKind::Clean));
    }

    #[test]
    fn no_replica_alive_leaves_an_offline_partition_alone() {
        assert_eq!(next(&state(NO_LEADER, 5, &[1]), &[1, 2], &[], true, false), None);
    }

    #[test]
    fn dead_followers_leave_the_isr_without_a_new_epoch() {
        let (n, kind) = next(&state(1, 4, &[1, 2, 3]), &[1, 2, 3], &[1, 2], false, false).expect("shrinks");
        assert_eq!((n, kind), (state(1, 4, &[1, 2]), ElectionKind::IsrShrink));
        assert_eq!(
            next(&state(1, 4, &[1, 2]), &[1, 2, 3], &[1, 2, 3], false, false),
            None,
            "rejoining is the leader's call"
        );
    }

    #[test]
    fn a_replica_dropped_from_the_assignment_leaves_the_isr() {
        let (n, _) = next(&state(1, 4, &[1, 2, 4]), &[1, 2], &[1, 2, 4], false, false).expect("shrinks");
        assert_eq!(n, state(1, 4, &[1, 2]));
    }

    #[test]
    fn a_leader_dropped_from_the_assignment_is_replaced() {
        let (n, kind) = next(&state(4, 4, &[4, 1, 2]), &[1, 2], &[1, 2, 4], false, false).expect("elects");
        assert_eq!((n, kind), (state(1, 5, &[1, 2]), ElectionKind::Clean));
    }

    #[test]
    fn a_leader_outside_its_own_isr_is_replaced() {
        // Not a state the controller writes; anything may have written the znode.
        let (n, kind) = next(&state(1, 4, &[2, 3]), &[1, 2, 3], &[1, 2, 3], false, false).expect("elects");
        assert_eq!((n, kind), (state(2, 5, &[2, 3]), ElectionKind::Clean));
    }

    #[test]
    fn an_epoch_that_cannot_be_bumped_is_left_alone() {
        assert_eq!(next(&state(1, i32::MAX, &[1]), &[1, 2], &[2], true, false), None);
    }

    #[test]
    fn preferred_leader_election_moves_leadership_back_to_the_first_replica() {
        assert_eq!(next(&state(2, 4, &[2, 1]), &[1, 2], &[1, 2], false, false), None, "only when rebalancing");
        let (n, kind) = next(&state(2, 4, &[2, 1]), &[1, 2], &[1, 2], false, true).expect("rebalances");
        assert_eq!((n, kind), (state(1, 5, &[2, 1]), ElectionKind::Preferred));
        assert_eq!(next(&state(2, 4, &[2]), &[1, 2], &[1, 2], false, true), None, "not while out of sync");
        assert_eq!(
            next(&state(2, 4, &[2, 1]), &[1, 2], &[2], false, true).map(|(_, kind)| kind),
            Some(ElectionKind::IsrShrink),
            "not while dead: the dead preferred replica leaves the ISR instead"
        );
        assert_eq!(next(&state(1, 4, &[1, 2]), &[1, 2], &[1, 2], false, true), None, "already there");
    }

    #[test]
    fn a_reassignment_completes_only_when_every_target_replica_is_in_sync_and_alive() {
        assert_eq!(complete_reassignment(&state(1, 4, &[1, 2, 3]), &[2, 3, 4], &[1, 2, 3, 4]), None, "4 not in sync");
        assert_eq!(complete_reassignment(&state(1, 4, &[1, 4]), &[1, 4], &[1]), None, "4 dead");
        assert_eq!(complete_reassignment(&state(NO_LEADER, 4, &[1, 4]), &[1, 4], &[1, 4]), None, "not while offline");
        assert_eq!(complete_reassignment(&state(1, 4, &[1]), &[], &[1]), None, "no target");
    }

    #[test]
    fn a_completed_reassignment_hands_over_from_a_leader_moved_away() {
        let n = complete_reassignment(&state(1, 4, &[1, 2, 3, 4]), &[2, 3, 4], &[1, 2, 3, 4]).expect("done");
        assert_eq!(n, state(2, 5, &[2, 3, 4]));
    }

    #[test]
    fn a_completed_reassignment_keeps_a_leader_that_stays() {
        let n = complete_reassignment(&state(3, 4, &[3, 1, 4]), &[1, 3, 4], &[1, 3, 4]).expect("done");
        assert_eq!(n, state(3, 4, &[3, 1, 4]));
    }

    #[test]
    fn controlled_shutdown_moves_leadership_off_the_stopping_broker_and_out_of_the_isr() {
        let e = controlled_shutdown(&state(1, 4, &[1, 2, 3]), &[1, 2, 3], &[1, 2, 3], &[1]).expect("moves");
        assert_eq!((e.next, e.kind), (state(2, 5, &[2, 3]), ElectionKind::ControlledShutdown));
    }

    #[test]
    fn controlled_shutdown_skips_replicas_out_of_sync_dead_or_stopping() {
        let e =
            controlled_shutdown(&state(1, 4, &[1, 3, 4, 5]), &[1, 2, 3, 4, 5], &[1, 2, 4, 5], &[1, 4]).expect("moves");
        assert_eq!(e.next, state(5, 5, &[3, 5]), "2 out of sync, 3 dead, 4 stopping");
    }

    #[test]
    fn controlled_shutdown_of_a_follower_shrinks_the_isr_in_the_same_epoch() {
        let e = controlled_shutdown(&state(1, 4, &[1, 2, 3]), &[1, 2, 3], &[1, 2, 3], &[3]).expect("shrinks");
        assert_eq!(e.next, state(1, 4, &[1, 2]));
        assert_eq!(controlled_shutdown(&state(1, 4, &[1, 2]), &[1, 2, 3], &[1, 2, 3], &[3]), None, "already out");
    }

    #[test]
    fn controlled_shutdown_keeps_the_lead_when_no_other_isr_member_can_take_it() {
        assert_eq!(controlled_shutdown(&state(1, 4, &[1]), &[1, 2], &[1, 2], &[1]), None);
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Whatever state the keeper holds, every state decided has its leader in the ISR
            /// and the replicas, the ISR within the replicas, and no older epoch; the offline
            /// state only when no live ISR member exists.
            #[test]
            fn decided_states_keep_the_invariants(
                leader in -1..6i32,
                epoch in 0..10i32,
                isr in proptest::collection::vec(0..6i32, 0..5),
                replicas in proptest::collection::vec(0..6i32, 0..5),
                live in proptest::collection::vec(0..6i32, 0..6),
                unclean in any::<bool>(),
                rebalance in any::<bool>(),
                shutting_down in proptest::collection::vec(0..6i32, 0..2),
            ) {
                let current = LeaderAndIsr::new(leader, epoch, isr);
                // The asserts inside hold for any input; check what they do not cover.
                if let Some(e) = next_leader_and_isr(&current, &replicas, &live, unclean, rebalance) {
                    prop_assert!(e.next != current, "a no-op write: {e:?}");
                    if e.next.has_leader() {
                        prop_assert!(live.contains(&e.next.leader));
                        prop_assert!(e.next.isr.iter().all(|r| live.contains(r)), "a dead ISR member kept: {e:?}");
                    } else {
                        prop_assert!(!current.isr.iter().any(|r| live.contains(r) && replicas.contains(r)));
                    }
                }
                if let Some(e) = controlled_shutdown(&current, &replicas, &live, &shutting_down) {
                    prop_assert!(!e.next.isr.iter().any(|r| shutting_down.contains(r)));
                    prop_assert!(!shutting_down.contains(&e.next.leader));
                }
                if let Some(target) = replicas.get(..replicas.len().min(2))
                    && let Some(n) = complete_reassignment(&current, target, &live)
                {
                    prop_assert!(is_subset(&n.isr, target) && n.isr.contains(&n.leader));
                }
            }
        }
    }

    #[test]
    fn an_administrator_moves_leadership_to_the_preferred_replica_only_when_it_can() {
        let current = LeaderAndIsr::new(2, 5, vec![1, 2, 3]);
        let e = admin_election(&current, &[1, 2, 3], &[1, 2, 3], AdminElection::Preferred).expect("elected");
        assert_eq!(
            (e.next.leader, e.next.leader_epoch, e.next.isr.clone(), e.kind),
            (1, 6, vec![1, 2, 3], ElectionKind::Preferred)
        );
        let leading = LeaderAndIsr::new(1, 5, vec![1, 2]);
        assert_eq!(
            admin_election(&leading, &[1, 2], &[1, 2], AdminElection::Preferred),
            Err(AdminElectionRefused::NotNeeded)
        );
        let out_of_sync = LeaderAndIsr::new(2, 5, vec![2, 3]);
        assert_eq!(
            admin_election(&out_of_sync, &[1, 2, 3], &[1, 2, 3], AdminElection::Preferred),
            Err(AdminElectionRefused::PreferredNotAvailable)
        );
        assert_eq!(
            admin_election(&current, &[1, 2, 3], &[2, 3], AdminElection::Preferred),
            Err(AdminElectionRefused::PreferredNotAvailable),
            "a dead preferred replica"
        );
    }

    #[test]
    fn an_unclean_election_prefers_the_isr_and_is_refused_while_a_leader_lives() {
        let leading = LeaderAndIsr::new(2, 5, vec![2]);
        assert_eq!(
            admin_election(&leading, &[1, 2, 3], &[1, 2, 3], AdminElection::Unclean),
            Err(AdminElectionRefused::NotNeeded)
        );
        let offline = LeaderAndIsr::new(NO_LEADER, 6, vec![2, 3]);
        let clean = admin_election(&offline, &[1, 2, 3], &[1, 3], AdminElection::Unclean).expect("from the ISR");
        assert_eq!((clean.next.leader, clean.next.isr.clone(), clean.kind), (3, vec![3], ElectionKind::Clean));
        let unclean = admin_election(&offline, &[1, 2, 3], &[1], AdminElection::Unclean).expect("out of sync");
        assert_eq!(
            (unclean.next.leader, unclean.next.leader_epoch, unclean.next.isr.clone(), unclean.kind),
            (1, 7, vec![1], ElectionKind::Unclean)
        );
        assert_eq!(
            admin_election(&offline, &[1, 2, 3], &[], AdminElection::Unclean),
            Err(AdminElectionRefused::EligibleNotAvailable)
        );
    }
}
