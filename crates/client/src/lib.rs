//! `sluice-client`: an async (tokio) Kafka client for Sluice and any Kafka broker: a cluster
//! handle with metadata and pooled connections ([`Client`]), admin operations, a batching
//! [`Producer`] with compression and Kafka's partitioner, a [`Consumer`] for assigned
//! partitions (read_committed or not), a [`GroupConsumer`], and requests to group and
//! transaction coordinators. Built on `sluice-protocol`; it speaks the same wire protocol as other clients.

pub mod admin;
pub mod client;
pub mod connection;
pub mod consumer;
pub mod coordinator;
pub mod error;
pub mod group_consumer;
pub mod groups;
pub mod jaas;
pub mod partitioner;
pub mod producer;
pub mod tls;
pub mod transactions;

pub use admin::{ConfigEntry, ConfigTarget, Reassignment, ScramCredentialInfo};
pub use client::{BrokerFailure, BrokerInfo, Client, ClientConfig, ClusterMetadata, PartitionInfo, TopicInfo};
pub use connection::{SaslConfig, SaslMechanism, Security};
pub use consumer::{Consumer, ConsumerConfig, ConsumerRecord, IsolationLevel, StartOffset};
pub use coordinator::{Coordinator, CoordinatorType};
pub use error::{ClientError, Result};
pub use group_consumer::{GroupConfig, GroupConsumer};
pub use groups::{GroupDescription, GroupListing, GroupMember};
pub use producer::{Delivery, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
pub use sluice_protocol::Compression;
/// The ACL model (resource types, patterns, operations, bindings, filters) the admin calls take.
pub use sluice_protocol::acl;
pub use sluice_protocol::scram::ScramMechanism;
pub use transactions::{ProducerStateInfo, TransactionDescription, TransactionListing};
