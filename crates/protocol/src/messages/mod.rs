//! Request and response messages, one file per API, each declared once with
//! [`kafka_struct!`](crate::kafka_struct) and the version range of every field, transcribed from
//! the field layouts of Kafka's message definitions.

pub mod api_versions;

pub use api_versions::*;
