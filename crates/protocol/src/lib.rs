//! Kafka's wire format for Sluice, sans-I/O.
//!
//! This crate turns bytes into values and values into bytes; it never touches a socket or a
//! file. So far it holds the v2 record batch (`record_batch`), the records inside it
//! (`record`), their compression codecs (`compression`) and the leader's checks of a producer's
//! batch (`validator`); the request/response codec joins it with the broker.

#[macro_use]
pub mod codec;
pub mod acl;
pub mod api;
pub mod compression;
pub mod consumer_protocol;
pub mod control;
pub mod error_code;
pub mod legacy;
pub mod messages;
pub mod record;
pub mod record_batch;
pub mod record_set;
pub mod scram;
pub mod validator;
pub mod varint;

#[cfg(test)]
mod oracle_tests;

pub use record::{Record, RecordBatchBuilder, RecordHeader};
pub use record_batch::{Attributes, BatchError, BatchHeader, Compression, RecordBatch, RecordBatches, TimestampType};
