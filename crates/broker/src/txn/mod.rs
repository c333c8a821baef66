//! Transactions (KIP-98): the transaction coordinator. `state` is the sans-I/O core (one
//! transactional id's state and its transitions), `log` its records in `__transaction_state`,
//! and `coordinator` the async shell that writes transitions, sends end-transaction markers to
//! partition leaders, and aborts transactions past their timeout. The partition side
//! (open transactions, the last stable offset, the aborted-transaction index) lives in
//! `sluice_storage`; transactional offset commits in `group`.

pub mod coordinator;
pub mod log;
pub mod state;

pub use coordinator::TransactionCoordinator;

use crate::cluster::handle::ClusterHandle;
use crate::group::GroupCoordinator;
use crate::producer_ids::ProducerIdManager;
use crate::topic_admin::TopicAdmin;

/// What the transaction coordinator's paths may touch: its own state, the cluster (to find and
/// append to `__transaction_state`, to find partitions' leaders and reach them), the topic
/// admin (to create `__transaction_state`), the group coordinator (a marker on
/// `__consumer_offsets` settles transactional offset commits), the producer id blocks, and the
/// `transaction.*` configs with the inter-broker listener and socket timeout it sends markers
/// with.
#[derive(Debug, Clone, Copy)]
pub struct TxnHandle<'a> {
    pub txns: &'a TransactionCoordinator,
    pub cluster: &'a ClusterHandle,
    pub admin: &'a TopicAdmin,
    pub groups: &'a GroupCoordinator,
    pub producer_ids: &'a ProducerIdManager,
    pub config: &'a TxnConfig,
    /// `inter.broker.listener.name`: the listener markers and verifications are sent to.
    pub inter_broker_listener: &'a str,
    /// The login on that listener, when it is SASL.
    pub inter_broker_security: &'a sluice_client::Security,
    /// `replica.socket.timeout.ms`: the bound on connecting to another broker.
    pub socket_timeout_ms: u64,
}

/// Kafka's default `transactional.id.expiration.ms` (7 days).
pub const DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS: i64 = 604_800_000;

/// Kafka's default `transaction.remove.expired.transaction.cleanup.interval.ms` (1 hour).
pub const DEFAULT_REMOVE_EXPIRED_TRANSACTIONAL_IDS_INTERVAL_MS: u64 = 3_600_000;

/// The `transaction.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask.
    pub max_timeout_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    pub abort_timed_out_interval_ms: u64,
    /// `transaction.state.log.num.partitions`, `.replication.factor`, `.min.isr`,
    /// `.segment.bytes`: the internal topic's shape.
    pub state_log_num_partitions: i32,
    pub state_log_replication_factor: i16,
    pub state_log_min_isr: i32,
    pub state_log_segment_bytes: i64,
    /// `transaction.partition.verification.enable` (KIP-890): a leader asks the coordinator
    /// before taking a producer's first transactional batch in a partition.
    pub partition_verification: bool,
    /// `transactional.id.expiration.ms`: a transactional id with no transaction and no request
    /// for this long is forgotten and tombstoned, so the ids held are bounded by those used
    /// within the window, not every id a client ever sent.
    pub transactional_id_expiration_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`: how often expired
    /// transactional ids are looked for.
    pub remove_expired_transactional_ids_interval_ms: u64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            abort_timed_out_interval_ms: 10_000,
            state_log_num_partitions: 50,
            state_log_replication_factor: 3,
            state_log_min_isr: 2,
            state_log_segment_bytes: 104_857_600,
            partition_verification: true,
            transactional_id_expiration_ms: DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS,
            remove_expired_transactional_ids_interval_ms: DEFAULT_REMOVE_EXPIRED_TRANSACTIONAL_IDS_INTERVAL_MS,
        }
    }
}
