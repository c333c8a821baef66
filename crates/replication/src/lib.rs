//! Partition replication without I/O: the decisions Kafka's `Partition`, `ReplicaFetcherThread`
//! and `KafkaController` make, as functions and types over plain values. The broker reads its
//! logs, the coordination service and the network, hands the values in, and carries out what
//! comes back; nothing here touches a socket, a file, a runtime or the clock (time comes in as
//! `now_ms`), so every decision is tested without any of them.
//!
//! - [`leader`]: what a partition leader knows about its followers ([`LeaderState`]), the high
//!   watermark, ISR shrink (`replica.lag.time.max.ms`) and expansion, the preferred read
//!   replica (KIP-392).
//! - [`role`]: what applying a partition state znode does to this broker's role — become
//!   leader, follow another broker, stay, go offline, or ignore a stale or malformed state.
//! - [`truncation`]: where a follower cuts its log from the leader's OffsetForLeaderEpoch answer
//!   (KIP-101/279), and what a fetch answered OFFSET_OUT_OF_RANGE means.
//! - [`election`]: the controller's choices — a new partition's first leader, a leader for an
//!   offline partition (clean, or unclean when allowed), preferred leader election, ISR
//!   shrinks for dead followers, completing a reassignment, controlled shutdown.
//!
//! Invariants asserted in release builds (with the values in the message): a leader is in the
//! ISR it leads with and in the replica set; a proposed ISR is a subset of the replicas; the
//! high watermark never passes the leader's log end offset; a leader epoch applied never goes
//! backwards; a truncation target lies within the follower's log. Values that arrive from the
//! network or the coordination service are never asserted on: a state that breaks these rules
//! is answered with a decision to ignore it (see [`role::IgnoreReason`]).
//!
//! Concurrency: none. Every type is plain data; the broker holds it under its partition lock.

pub mod election;
pub mod leader;
pub mod role;
pub mod truncation;

pub use leader::{FollowerProgress, LeaderState};

/// `leader` of a partition state that has no leader (Kafka's `LeaderAndIsr.NoLeader`).
pub const NO_LEADER: i32 = -1;

/// A partition's leadership as the controller writes it to the state znode (Kafka's
/// `LeaderAndIsr`), without the controller epoch and the znode version, which fence the write
/// but decide nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderAndIsr {
    /// The leading broker, or [`NO_LEADER`].
    pub leader: i32,
    pub leader_epoch: i32,
    /// The in-sync replicas; they contain `leader` whenever there is one.
    pub isr: Vec<i32>,
}

impl LeaderAndIsr {
    pub fn new(leader: i32, leader_epoch: i32, isr: Vec<i32>) -> LeaderAndIsr {
        LeaderAndIsr { leader, leader_epoch, isr }
    }

    pub fn has_leader(&self) -> bool {
        self.leader != NO_LEADER
    }
}

/// Whether every member of `isr` is one of `replicas`.
pub fn is_subset(isr: &[i32], replicas: &[i32]) -> bool {
    isr.iter().all(|r| replicas.contains(r))
}
