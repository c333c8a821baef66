//! Keeper, Sluice's ZooKeeper-compatible coordination service.
//!
//! The sans-I/O core: the znode tree ([`DataTree`]) with ZooKeeper's exact `Stat` bookkeeping,
//! ephemeral and sequential nodes, versioned writes and atomic `multi`, the replicated state
//! machine around it ([`machine`]), the [`WatchManager`], and the ZooKeeper wire format
//! (`jute`). On it: the server speaking ZooKeeper's client protocol on every node of an
//! ensemble replicated with Raft (openraft, behind the [`replication`] seam; the log and
//! snapshots on disk), and the client half ([`ZkClient`]), which also works against Apache
//! ZooKeeper.

pub mod acl;
pub mod client;
pub mod data_tree;
pub mod disk_space;
pub mod error;
#[macro_use]
pub mod jute;
pub mod limits;
pub mod machine;
mod raft;
mod raft_log;
pub mod replication;
pub mod sasl;
pub mod server;
pub mod tls;
pub mod watch;

pub use acl::{AclEntry, Identity};
pub use client::{
    AclPolicy, ClientOptions, MAX_QUEUED_WATCH_EVENTS_COUNT, MultiOp, MultiResult, NodeEvent, SessionCredentials,
    SessionState, WatchNotice, WatchStream, ZkClient,
};
pub use data_tree::{CreateMode, DataTree, Op, OpResult, Stat};
pub use error::ZkError;
pub use server::{Keeper, KeeperConfig, KeeperStats};
pub use watch::{EventType, WatchKind, WatchManager, WatchedEvent};
