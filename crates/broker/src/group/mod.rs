//! Consumer groups (Kafka's classic group protocol). `state` is the sans-I/O core: the group
//! state machine, membership, generations and committed offsets, driven by requests and a
//! clock. The coordinator that wires it to the network and persists it in
//! `__consumer_offsets` builds on it.

pub mod state;
