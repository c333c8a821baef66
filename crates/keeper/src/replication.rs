//! The seam between the keeper and its consensus library. The keeper proposes commands through
//! a [`Replicator`] and is told what to apply through a [`Host`]; nothing else of the library
//! shows, so another Raft implementation (or a later openraft) can be swapped in behind it.

use std::future::Future;
use std::pin::Pin;

use crate::machine::Proposal;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why proposals may not have reached the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicateError {
    /// No leader is known (an election is under way, or this node is cut off).
    #[error("no keeper leader is known")]
    NoLeader,
    /// The proposals may or may not be in the log: the leader went away while taking them.
    #[error("keeper leader unreachable: {0}")]
    Unreachable(String),
    #[error("keeper replication stopped: {0}")]
    Fatal(String),
}

/// This node's view of the ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplicaStatus {
    pub id: u64,
    pub leader: Option<u64>,
    pub term: u64,
    pub voters: usize,
    /// The index of the last entry in this node's log.
    pub last_log_index: Option<u64>,
    /// The index of the last entry applied to the state machine here.
    pub last_applied: Option<u64>,
    /// The last entry the newest snapshot here covers.
    pub last_snapshot_index: Option<u64>,
}

impl ReplicaStatus {
    pub fn is_leader(&self) -> bool {
        self.leader == Some(self.id)
    }
}

/// Consensus as the keeper sees it.
pub trait Replicator: Send + Sync + 'static {
    /// Hands a batch to the leader (this node or, forwarded, another). Batches submitted one
    /// after another from one task enter the log in that order. Resolves once the leader has
    /// taken the batch, not once it is committed: the [`Host`] applies it when it is.
    fn submit(&self, batch: Vec<Proposal>) -> BoxFuture<'_, Result<(), ReplicateError>>;

    /// Tells the leader these sessions were heard from (so it does not expire them).
    fn touch(&self, sessions: Vec<i64>) -> BoxFuture<'_, Result<(), ReplicateError>>;

    fn status(&self) -> ReplicaStatus;

    /// Stops taking part in the ensemble.
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}

/// What consensus drives: the replicated state machine and the leader's session clock.
pub trait Host: Send + Sync + 'static {
    /// Applies committed proposals, in log order.
    fn apply(&self, batch: &[Proposal]);
    /// The state machine, serialized, for a snapshot.
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the state machine with a snapshot's.
    fn restore(&self, snapshot: &[u8]) -> Result<(), String>;
    /// Sessions another node heard from (this node being the leader).
    fn touched(&self, sessions: &[i64]);
}
