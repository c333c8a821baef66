//! Consumer groups (Kafka's classic group protocol). `state` is the sans-I/O core: the group
//! state machine, membership, generations and committed offsets, driven by requests and a
//! clock. `coordinator` wires it to the request handlers.

pub mod configs;
pub mod consumer;
pub mod coordinator;
pub mod offsets_log;
pub mod state;

pub use coordinator::GroupCoordinator;
