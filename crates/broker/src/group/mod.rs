//! Consumer groups: Kafka's classic group protocol and KIP-848's. `state` is the sans-I/O core:
//! the group state machine, membership, generations and committed offsets, driven by requests
//! and a clock; `consumer` holds KIP-848's groups (epochs, assignors, reconciliation) and
//! `consumer_records` their records in `__consumer_offsets`. `coordinator` wires it to the
//! request handlers.

pub mod configs;
pub mod consumer;
pub mod consumer_records;
pub mod coordinator;
pub mod offsets_log;
pub mod state;

pub use coordinator::GroupCoordinator;
