//! Keeper, Sluice's ZooKeeper-compatible coordination service.
//!
//! The sans-I/O core of the server: the znode tree ([`DataTree`]) with ZooKeeper's exact `Stat`
//! bookkeeping, ephemeral and sequential nodes, versioned writes and atomic `multi`, the
//! [`WatchManager`], and the ZooKeeper wire format (`jute`). On it: a single-node server
//! speaking ZooKeeper's client protocol ([`Keeper`]) and the client half ([`ZkClient`]), which
//! also works against Apache ZooKeeper. Raft replication (openraft) comes next.

pub mod client;
pub mod data_tree;
pub mod error;
#[macro_use]
pub mod jute;
pub mod server;
pub mod watch;

pub use client::{MultiOp, MultiResult, NodeEvent, SessionState, ZkClient};
pub use data_tree::{CreateMode, DataTree, Op, OpResult, Stat};
pub use error::ZkError;
pub use server::{Keeper, KeeperConfig};
pub use watch::{EventType, WatchKind, WatchManager, WatchedEvent};
