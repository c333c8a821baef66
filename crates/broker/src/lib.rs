//! `sluiced`, the Sluice broker: the network server, the request handlers, the replica
//! manager, topic administration and configuration. See `ARCHITECTURE.md` for the map.

pub mod acl;
pub mod api;
pub mod broker;
pub mod cluster;
pub mod config;
pub mod config_docs;
pub mod config_source;
pub mod connection_limit;
pub mod dynamic_config;
pub mod error;
pub mod fetch_session;
pub mod fetcher;
#[doc(hidden)]
pub mod fuzzing;
pub mod group;
pub mod log_limiter;
pub mod memory_pool;
pub mod node;
pub mod observe;
pub mod partition;
pub mod producer_ids;
pub mod purgatory;
pub mod quota;
pub mod replica_manager;
pub mod sasl;
pub mod server;
pub mod subtasks;
pub mod tls;
pub mod topic_admin;
pub mod topics;
pub mod txn;

pub use broker::Broker;
pub use config::BrokerConfig;
