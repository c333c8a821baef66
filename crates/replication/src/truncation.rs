//! Where a follower cuts its log before fetching from a new leader (Kafka's
//! `AbstractFetcherThread.getOffsetTruncationState`, KIP-101 and KIP-279), and what a fetch
//! answered OFFSET_OUT_OF_RANGE means (`handleOutOfRangeError`).
//!
//! The follower asks the leader, with OffsetForLeaderEpoch, for its own latest epoch; the
//! leader answers with the largest epoch it knows at or below it and where that epoch ends in
//! its log. The follower then looks the *leader's* epoch up in its own log:
//! - the leader knows no such epoch (or the answer is undefined): keep the high watermark, the
//!   only offset both are sure of;
//! - the follower has that epoch too: the logs agree up to where it ends in the shorter of the
//!   two, so cut there (a follower ahead in the same epoch is cut to the leader's end offset);
//! - the follower lacks that epoch (the leader led an epoch this follower never heard of): the
//!   logs may already differ inside the follower's older epoch, so cut to where the follower's
//!   own floor epoch ends and **ask again** with its now-older latest epoch (KIP-279's extra
//!   round; stopping after one round here would keep records of an epoch the leader does not
//!   have at the same offsets);
//! - the follower knows no epoch at or below the leader's (its log holds none that old): cut to
//!   at most the leader's end offset, as Kafka does.
//!
//! Cutting to the local high watermark in every case (the pre-KIP-101 rule) can lose records
//! the new leader acknowledged, which is why the high watermark is only the fallback. A cut may
//! land below the high watermark after an unclean election; Kafka allows it and warns, and so
//! does the broker (`TruncationTarget::below_high_watermark`).
//!
//! Invariants (asserted in release builds): the follower's own log has `0 <= hw <= leo`; every
//! target lies in `[0, leo]`; a round that asks again cuts strictly below `leo`, so the rounds
//! end. The leader's answer comes from the network and may be anything.
//!
//! Concurrency: none.

/// An epoch nobody has (Kafka's `UNDEFINED_EPOCH`).
pub const UNDEFINED_EPOCH: i32 = -1;

/// An end offset nobody knows (Kafka's `UNDEFINED_EPOCH_OFFSET`).
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// An OffsetForLeaderEpoch answer: the largest epoch at or below the one asked for, and the
/// offset where it ends (the next epoch's start, or the log end for the latest epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    pub leader_epoch: i32,
    pub end_offset: i64,
}

impl EpochEndOffset {
    pub fn new(leader_epoch: i32, end_offset: i64) -> EpochEndOffset {
        EpochEndOffset { leader_epoch, end_offset }
    }

    /// Whether the answer names no epoch or no end offset.
    pub fn is_undefined(self) -> bool {
        self.leader_epoch < 0 || self.end_offset < 0
    }
}

/// The follower's own log, as far as truncation needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerLog {
    pub log_end_offset: i64,
    pub high_watermark: i64,
}

/// Which rule chose the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruncationReason {
    /// The leader knows no epoch at or below ours: keep the high watermark.
    LeaderEpochUnknown,
    /// Both logs hold the leader's epoch: cut where it ends in the shorter.
    EpochsAgree,
    /// This follower lacks the leader's epoch: cut to the end of its own floor epoch, ask again.
    FollowerLacksEpoch,
    /// This follower knows no epoch at or below the leader's: cut to at most the leader's end.
    FollowerEpochUnknown,
}

/// Kafka's `OffsetTruncationState`: cut the log at `offset` (a no-op when it is the log end);
/// when not `complete`, ask the leader again with the new latest epoch before fetching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TruncationTarget {
    pub offset: i64,
    pub complete: bool,
    pub reason: TruncationReason,
}

impl TruncationTarget {
    /// Whether the cut removes records the follower counted as committed (possible after an
    /// unclean election; worth a warning, not an error).
    pub fn below_high_watermark(&self, follower: FollowerLog) -> bool {
        self.offset < follower.high_watermark
    }
}

/// Where the follower cuts its log, given the leader's answer `leader` to its
/// OffsetForLeaderEpoch request and `ours`: the follower's own answer for
/// `leader.leader_epoch` (its log's `end_offset_for_epoch`).
pub fn truncation_target(leader: EpochEndOffset, follower: FollowerLog, ours: EpochEndOffset) -> TruncationTarget {
    let FollowerLog { log_end_offset: leo, high_watermark: hw } = follower;
    assert!(0 <= hw && hw <= leo, "follower log out of order: hw={hw} leo={leo}");
    let target = |offset: i64, complete: bool, reason: TruncationReason| {
        assert!(
            (0..=leo).contains(&offset),
            "truncation target {offset} outside the follower's log [0, {leo}]: leader={leader:?} ours={ours:?} {reason:?}"
        );
        assert!(complete || offset < leo, "another round that cuts nothing would never end: {offset} leo={leo}");
        TruncationTarget { offset, complete, reason }
    };
    if leader.is_undefined() {
        return target(hw, true, TruncationReason::LeaderEpochUnknown);
    }
    if ours.is_undefined() {
        return target(leader.end_offset.min(leo), true, TruncationReason::FollowerEpochUnknown);
    }
    if ours.leader_epoch == leader.leader_epoch {
        return target(leader.end_offset.min(ours.end_offset).min(leo), true, TruncationReason::EpochsAgree);
    }
    let intermediate = ours.end_offset.min(leo);
    if intermediate < leo {
        return target(intermediate, false, TruncationReason::FollowerLacksEpoch);
    }
    // The follower's epochs after its floor epoch hold no records (its log never has such
    // entries; this keeps the rounds finite if one appears): its floor epoch runs to the log
    // end, and the cut at the leader's end offset is the best this round can do.
    target(leader.end_offset.min(leo), true, TruncationReason::FollowerLacksEpoch)
}

/// What a follower does when its fetch at `fetch_offset` (its log end offset) is answered
/// OFFSET_OUT_OF_RANGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfRange {
    /// The leader's log starts past ours (retention deleted what we lack): empty the log and
    /// restart it at the leader's log start offset.
    RestartAt(i64),
    /// Our log end is past the leader's (an unclean election, or a truncation we missed):
    /// truncate by leader epoch again before fetching.
    TruncateByEpoch,
}

/// Kafka's `handleOutOfRangeError`: restart at the leader's log start when behind it, else
/// truncate again. `leader_log_start_offset` is the fetch answer's (from the network; -1 when
/// the leader gave none).
pub fn on_offset_out_of_range(fetch_offset: i64, leader_log_start_offset: i64) -> OutOfRange {
    assert!(fetch_offset >= 0, "a follower fetched at a negative offset {fetch_offset}");
    if leader_log_start_offset > fetch_offset {
        OutOfRange::RestartAt(leader_log_start_offset)
    } else {
        OutOfRange::TruncateByEpoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer a log whose records carry `epochs` (one per offset, from offset 0) gives to
    /// OffsetForLeaderEpoch for `requested`, by the leader-epoch cache's rules. A leader's
    /// `current` epoch, which it may not have written to yet, has an entry at its log end (as
    /// Kafka's leader assigns on election).
    fn end_offset_for(epochs: &[i32], current: Option<i32>, requested: i32) -> EpochEndOffset {
        let undefined = EpochEndOffset::new(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        let len = epochs.len() as i64;
        let mut entries: Vec<(i32, i64)> = Vec::new();
        for (offset, &epoch) in epochs.iter().enumerate() {
            if entries.last().is_none_or(|&(e, _)| e < epoch) {
                entries.push((epoch, offset as i64));
            }
        }
        if let Some(current) = current {
            entries.push((current, len));
        }
        if requested == UNDEFINED_EPOCH {
            return undefined;
        }
        if entries.last().map(|e| e.0) == Some(requested) {
            return EpochEndOffset::new(requested, len);
        }
        let Some(&(_, higher_start)) = entries.iter().find(|e| e.0 > requested) else { return undefined };
        match entries.iter().rev().find(|e| e.0 <= requested) {
            None => EpochEndOffset::new(requested, higher_start),
            Some(&(floor, _)) => EpochEndOffset::new(floor, higher_start),
        }
    }

    fn follower(epochs: &[i32], hw: i64) -> FollowerLog {
        FollowerLog { log_end_offset: epochs.len() as i64, high_watermark: hw }
    }

    /// One round: the follower asks with its latest epoch, the leader (leading an epoch newer
    /// than any either log holds) answers from its log.
    fn round(leader: &[i32], ours: &[i32], hw: i64) -> TruncationTarget {
        let asked = *ours.last().expect("a follower with epochs asks");
        let current = leader.iter().chain(ours).max().map_or(0, |e| e + 1);
        let answer = end_offset_for(leader, Some(current), asked);
        truncation_target(answer, follower(ours, hw), end_offset_for(ours, None, answer.leader_epoch))
    }

    #[test]
    fn leader_epoch_unknown_keeps_the_high_watermark() {
        let t = truncation_target(
            EpochEndOffset::new(-1, -1),
            FollowerLog { log_end_offset: 50, high_watermark: 40 },
            EpochEndOffset::new(-1, -1),
        );
        assert_eq!((t.offset, t.complete, t.reason), (40, true, TruncationReason::LeaderEpochUnknown));
        let t = truncation_target(
            EpochEndOffset::new(3, -1),
            FollowerLog { log_end_offset: 50, high_watermark: 40 },
            EpochEndOffset::new(3, 50),
        );
        assert_eq!(t.offset, 40, "an epoch without an end offset is no answer");
    }

    #[test]
    fn a_follower_ahead_in_the_same_epoch_is_cut_to_the_leader_end_offset() {
        // Both led by epoch 2; the follower got 2 records the leader never had.
        let t = round(&[0, 0, 2, 2], &[0, 0, 2, 2, 2, 2], 3);
        assert_eq!((t.offset, t.complete, t.reason), (4, true, TruncationReason::EpochsAgree));
    }

    #[test]
    fn a_follower_behind_in_the_same_epoch_keeps_its_log() {
        let t = round(&[0, 0, 2, 2, 2, 2], &[0, 0, 2], 1);
        assert_eq!((t.offset, t.complete), (3, true), "nothing to cut: fetch from the log end");
    }

    #[test]
    fn a_follower_diverged_at_an_older_epoch_cuts_where_that_epoch_ends_in_the_leader() {
        // The follower led epoch 2 from offset 3 with records the new leader (epoch 3) lacks.
        let t = round(&[0, 0, 0, 3, 3], &[0, 0, 0, 2, 2, 2], 2);
        assert_eq!((t.offset, t.complete, t.reason), (3, true, TruncationReason::EpochsAgree));
    }

    #[test]
    fn a_follower_with_more_of_an_older_epoch_cuts_where_the_leader_ended_it() {
        let t = round(&[0, 0, 1, 1], &[0, 0, 0, 0, 2], 1);
        assert_eq!(t.reason, TruncationReason::FollowerLacksEpoch, "the leader answers epoch 1, unknown here");
        assert_eq!((t.offset, t.complete), (4, false), "cut to where our epoch 0 ends, then ask again");
        let t = round(&[0, 0, 1, 1], &[0, 0, 0, 0], 1);
        assert_eq!((t.offset, t.complete, t.reason), (2, true, TruncationReason::EpochsAgree));
    }

    #[test]
    fn a_leader_epoch_the_follower_never_saw_takes_a_second_round() {
        // The follower's epoch-0 records at 5..8 differ from the leader's epoch-1 records there;
        // one round ending at min(8, 10) would keep them.
        let leader = [0, 0, 0, 0, 0, 1, 1, 1, 3, 3];
        let mut ours = vec![0; 10];
        ours.extend([2, 2]);
        let t = round(&leader, &ours, 5);
        assert_eq!((t.offset, t.complete), (10, false));
        ours.truncate(10);
        let t = round(&leader, &ours, 5);
        assert_eq!((t.offset, t.complete), (5, true));
    }

    #[test]
    fn a_follower_without_the_leaders_epoch_floor_cuts_to_the_leader_end() {
        // The leader answered an epoch at or below ours that our log holds nothing that old for.
        let t = truncation_target(
            EpochEndOffset::new(4, 30),
            FollowerLog { log_end_offset: 50, high_watermark: 10 },
            EpochEndOffset::new(-1, -1),
        );
        assert_eq!((t.offset, t.complete, t.reason), (30, true, TruncationReason::FollowerEpochUnknown));
        assert!(!t.below_high_watermark(FollowerLog { log_end_offset: 50, high_watermark: 10 }));
    }

    #[test]
    fn a_cut_below_the_high_watermark_is_reported() {
        // After an unclean election the new leader may hold less than we counted committed.
        let t = round(&[0, 0, 3], &[0, 0, 0, 0, 2], 4);
        assert_eq!(t.offset, 2);
        assert!(t.below_high_watermark(follower(&[0, 0, 0, 0, 2], 4)));
    }

    #[test]
    fn a_target_never_passes_the_follower_log_end() {
        let t = truncation_target(
            EpochEndOffset::new(2, 1_000),
            FollowerLog { log_end_offset: 50, high_watermark: 50 },
            EpochEndOffset::new(2, 50),
        );
        assert_eq!(t.offset, 50);
    }

    #[test]
    fn behind_the_leader_log_start_restarts_there() {
        assert_eq!(on_offset_out_of_range(10, 500), OutOfRange::RestartAt(500));
    }

    #[test]
    fn ahead_of_the_leader_truncates_by_epoch_again() {
        assert_eq!(on_offset_out_of_range(900, 500), OutOfRange::TruncateByEpoch);
        assert_eq!(on_offset_out_of_range(10, -1), OutOfRange::TruncateByEpoch, "no log start in the answer");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Two logs with one history up to `common` records, then each with its own epochs
        /// (disjoint sets, so no epoch was led twice); one of them may first hold more of the
        /// last common epoch than the other.
        fn histories() -> impl Strategy<Value = (Vec<i32>, Vec<i32>, usize)> {
            (
                proptest::collection::vec(0..3i32, 0..6),
                0..3usize,
                any::<bool>(),
                proptest::collection::vec((1..4i32, any::<bool>(), 1..4usize), 0..6),
            )
                .prop_map(|(mut common, extra, extra_to_leader, tail)| {
                    common.sort_unstable();
                    let (mut leader, mut ours) = (common.clone(), common.clone());
                    if let Some(&last) = common.last() {
                        let more = if extra_to_leader { &mut leader } else { &mut ours };
                        more.extend(std::iter::repeat_n(last, extra));
                    }
                    let mut epoch = common.last().copied().unwrap_or(0);
                    for (step, to_leader, count) in tail {
                        epoch += step;
                        let log = if to_leader { &mut leader } else { &mut ours };
                        log.extend(std::iter::repeat_n(epoch, count));
                    }
                    (leader, ours, common.len())
                })
        }

        proptest! {
            /// KIP-279: after the rounds end the follower holds a prefix of the leader's log,
            /// and never less than the history the two share.
            #[test]
            fn truncation_leaves_a_prefix_of_the_leader_log((leader, mut ours, common) in histories()) {
                let mut rounds = 0;
                while !ours.is_empty() {
                    rounds += 1;
                    prop_assert!(rounds <= 20, "rounds do not end: leader={leader:?} ours={ours:?}");
                    let t = round(&leader, &ours, 0);
                    prop_assert!(t.offset <= ours.len() as i64);
                    ours.truncate(t.offset as usize);
                    if t.complete {
                        break;
                    }
                }
                prop_assert!(ours.len() <= leader.len() && ours[..] == leader[..ours.len()], "diverged: leader={leader:?} ours={ours:?}");
                prop_assert!(ours.len() >= common, "cut into the shared history: leader={leader:?} ours={ours:?} common={common}");
            }
        }
    }
}
