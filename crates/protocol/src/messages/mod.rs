//! Request and response messages, one file per API, each declared once with
//! [`kafka_struct!`](crate::kafka_struct) and the version range of every field, transcribed from
//! the field layouts of Kafka's message definitions.

pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod fetch;
pub mod find_coordinator;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl_handshake;

pub use alter_configs::*;
pub use api_versions::*;
pub use create_partitions::*;
pub use create_topics::*;
pub use delete_records::*;
pub use delete_topics::*;
pub use describe_cluster::*;
pub use describe_configs::*;
pub use fetch::*;
pub use find_coordinator::*;
pub use incremental_alter_configs::*;
pub use init_producer_id::*;
pub use list_offsets::*;
pub use metadata::*;
pub use offset_for_leader_epoch::*;
pub use produce::*;
pub use sasl_handshake::*;
