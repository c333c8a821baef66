//! Keeper, Sluice's ZooKeeper-compatible coordination service.
//!
//! So far this crate holds the sans-I/O core of the server: the znode tree ([`DataTree`]) with
//! ZooKeeper's exact `Stat` bookkeeping, ephemeral and sequential nodes, versioned writes and
//! atomic `multi`, the [`WatchManager`], and the ZooKeeper wire format (`jute`). The protocol
//! server, sessions, the Raft replication (openraft) and the client half build on it.

pub mod data_tree;
pub mod error;
#[macro_use]
pub mod jute;
pub mod server;
pub mod watch;

pub use data_tree::{CreateMode, DataTree, Op, OpResult, Stat};
pub use error::ZkError;
pub use server::Keeper;
pub use watch::{EventType, WatchKind, WatchManager, WatchedEvent};
