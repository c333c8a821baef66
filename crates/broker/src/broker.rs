//! The broker's shared state: configuration, the cluster identity, the link to keeper with its
//! metadata cache, the log manager, the replica manager, the replica fetchers, the group
//! coordinator and the transaction coordinator. One `Broker` per process, shared by every connection task.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sluice_storage::{DirLock, LogConfig, LogManager, SystemClock};

use crate::cluster::handle::ClusterHandle;
use crate::cluster::link::KeeperLink;
use crate::config::BrokerConfig;
use crate::fetcher::FetcherManager;
use crate::group::GroupCoordinator;
use crate::replica_manager::ReplicaManager;
use crate::topic_admin::TopicAdmin;
use crate::topics::TopicMeta;

/// Name of the file that records the cluster and broker identity in each log directory.
pub const META_PROPERTIES: &str = "meta.properties";

#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub cluster_id: String,
    pub link: Arc<KeeperLink>,
    pub replica_manager: Arc<ReplicaManager>,
    /// The cluster as coordinators and handlers see it (a narrow handle on the two above).
    pub cluster: ClusterHandle,
    /// Topic creation, deletion, partition increases, config changes, reassignments.
    pub admin: TopicAdmin,
    pub fetchers: FetcherManager,
    pub groups: Arc<GroupCoordinator>,
    /// This broker's block of producer ids (InitProducerId).
    pub producer_ids: crate::producer_ids::ProducerIdManager,
    /// The transaction coordinator, for the `__transaction_state` partitions led here.
    pub txns: crate::txn::TransactionCoordinator,
    /// Advertised `(host, port)` per listener name; ports filled in once bound.
    pub advertised: parking_lot::RwLock<BTreeMap<String, (String, u16)>>,
    /// The broker configs set at run time, and the topic defaults they make.
    pub dynamic: Arc<parking_lot::RwLock<DynamicConfigs>>,
    /// `max.connections` and the per-IP limits, over every listener.
    pub connection_slots: crate::connection_limit::ConnectionSlots,
    /// `queued.max.request.bytes`: request frames being read or handled.
    pub request_memory: crate::memory_pool::MemoryPool,
    /// `fetch.response.memory.max.bytes`: record bytes of fetch responses in flight.
    pub fetch_memory: crate::memory_pool::MemoryPool,
    /// Incremental fetch sessions (KIP-227), `max.incremental.fetch.session.cache.slots`.
    pub fetch_sessions: crate::fetch_session::FetchSessions,
    /// Tasks the components start while the broker runs (replica fetchers, transaction
    /// completions), supervised by the node.
    pub subtasks: crate::subtasks::SubTasks,
    /// The request path's counters (`/metrics`).
    pub metrics: crate::observe::BrokerMetrics,
    /// ElectLeaders requests for the controller, served while this broker is it.
    pub elections: crate::cluster::controller::ElectionQueue,
    /// Client quotas' usage (`quota.rs`).
    pub quotas: crate::quota::QuotaManager,
}

/// Broker configs changed at run time (keeper's `/config/brokers/<id>` and
/// `/config/brokers/<default>`), over the static config.
#[derive(Debug, Clone, Default)]
pub struct DynamicConfigs {
    /// This broker's own dynamic configs.
    pub broker: BTreeMap<String, String>,
    /// The cluster-wide dynamic defaults.
    pub default: BTreeMap<String, String>,
    /// Every topic's defaults: the static config's `log.*` keys with the dynamic ones over them.
    pub log_defaults: LogConfig,
}

impl Broker {
    /// Opens the log directories: checks they belong to this cluster and broker (`cluster_id`
    /// comes from keeper; a directory written for another cluster or broker id is refused), and
    /// scans which partitions they hold. The logs themselves load afterwards, while the broker
    /// already serves ([`Broker::load_logs`]). `locks` holds every log directory
    /// (`DirLock::acquire`, taken by the caller before anything in them was opened for writing).
    pub fn open(
        config: BrokerConfig,
        cluster_id: String,
        link: Arc<KeeperLink>,
        locks: Vec<DirLock>,
    ) -> anyhow::Result<Arc<Broker>> {
        check_or_write_meta(&config.log_dirs[0], config.broker_id, &cluster_id)?;
        let clock = Arc::new(SystemClock);
        let log_manager = Arc::new(LogManager::scan_locked(config.log_manager.clone(), clock.clone(), locks)?);
        let replica_manager = Arc::new(ReplicaManager::new(
            config.broker_id,
            log_manager.clone(),
            clock.clone(),
            config.log.min_insync_replicas,
        ));
        let cluster =
            ClusterHandle { broker_id: config.broker_id, link: link.clone(), replicas: replica_manager.clone() };
        let dynamic = Arc::new(parking_lot::RwLock::new(DynamicConfigs {
            log_defaults: config.log.clone(),
            ..Default::default()
        }));
        let admin = TopicAdmin {
            cluster: cluster.clone(),
            dynamic: dynamic.clone(),
            num_partitions: config.num_partitions,
            default_replication_factor: config.default_replication_factor,
            delete_topic_enable: config.delete_topic_enable,
            mutations: Arc::new(crate::quota::MutationQuotas::new(config.quota_window)),
        };
        let groups = GroupCoordinator::new(config.group.clone(), clock);
        Ok(Arc::new(Broker {
            cluster_id,
            link,
            replica_manager,
            cluster,
            admin,
            fetchers: FetcherManager::default(),
            producer_ids: Default::default(),
            txns: Default::default(),
            groups,
            advertised: parking_lot::RwLock::new(BTreeMap::new()),
            dynamic,
            connection_slots: crate::connection_limit::ConnectionSlots::new(config.connection_limits.clone()),
            request_memory: crate::memory_pool::MemoryPool::new(config.queued_max_request_bytes),
            fetch_memory: crate::memory_pool::MemoryPool::new(Some(config.fetch_response_memory_max_bytes)),
            fetch_sessions: crate::fetch_session::FetchSessions::new(config.max_incremental_fetch_session_cache_slots),
            subtasks: Default::default(),
            metrics: Default::default(),
            elections: Default::default(),
            quotas: crate::quota::QuotaManager::new(config.quota_window),
            config,
        }))
    }

    /// Loads (recovering after a crash) the logs found by [`Broker::open`], with
    /// `num.recovery.threads.per.data.dir` threads per directory. Blocking: the caller runs it on
    /// a thread of its own while the broker serves. Each partition is served as soon as its log
    /// is loaded: the replica manager hears of every load and the reconciler applies the
    /// partition's state then (so the coordinators load their partitions' state only after
    /// the log). Returns early, without error, once [`LogManager::shutdown`] stops it; a log
    /// that cannot be loaded stops it with that error.
    pub fn load_logs(&self) -> Result<(), sluice_storage::StorageError> {
        self.log_manager().load_logs(&|tp| self.replica_manager.log_loaded(tp))
    }

    /// Every topic's defaults (static broker config, with dynamic broker configs over it).
    pub fn default_log_config(&self) -> LogConfig {
        self.admin.default_log_config()
    }

    /// What CreateTopics and the config APIs touch.
    pub fn config_handle(&self) -> crate::dynamic_config::ConfigHandle<'_> {
        crate::dynamic_config::ConfigHandle {
            admin: &self.admin,
            broker_id: self.config.broker_id,
            static_config: &self.config.explicit,
        }
    }

    /// The log config of a topic: broker defaults with the topic's overrides applied.
    pub fn topic_log_config(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<LogConfig, sluice_storage::StorageError> {
        self.admin.topic_log_config(overrides)
    }

    /// The log config and `min.insync.replicas` of a topic with these overrides (invalid
    /// overrides fall back to the broker defaults; they were validated when written).
    pub fn log_and_isr_config(&self, overrides: &BTreeMap<String, String>) -> (LogConfig, i32) {
        let log = self.topic_log_config(overrides).unwrap_or_else(|_| self.default_log_config());
        let min_isr = log.min_insync_replicas;
        (log, min_isr)
    }

    /// A topic as the metadata cache knows it.
    pub fn topic_meta(&self, name: &str) -> Option<TopicMeta> {
        self.cluster.topic_meta(name)
    }

    pub fn topic_names(&self) -> Vec<String> {
        self.cluster.topic_names()
    }

    /// Waits up to `wait_ms` for `cond` to hold (see [`ClusterHandle::wait_until`]).
    pub async fn wait_until(&self, wait_ms: u64, cond: impl Fn() -> bool) -> bool {
        self.cluster.wait_until(wait_ms, cond).await
    }

    /// The group coordinator with what its log paths touch.
    pub fn group_log(&self) -> crate::group::offsets_log::GroupLog<'_> {
        crate::group::offsets_log::GroupLog {
            groups: &self.groups,
            admin: &self.admin,
            replication_factor: self.config.replication.offsets_topic_replication_factor,
            config: &self.config.group,
        }
    }

    /// What Metadata, DescribeCluster and FindCoordinator touch.
    pub fn metadata_handle(&self) -> crate::api::metadata::MetadataHandle<'_> {
        crate::api::metadata::MetadataHandle {
            cluster: &self.cluster,
            admin: &self.admin,
            advertised: &self.advertised,
            cluster_id: &self.cluster_id,
            rack: self.config.rack.as_deref(),
            auto_create_topics: self.config.auto_create_topics_enable,
        }
    }

    /// What a Fetch touches.
    pub fn fetch_handle(&self) -> crate::api::fetch::FetchHandle<'_> {
        crate::api::fetch::FetchHandle {
            cluster: &self.cluster,
            sessions: &self.fetch_sessions,
            memory: &self.fetch_memory,
            fetch_max_bytes: self.config.fetch_max_bytes,
            replica_fetch_response_max_bytes: self.config.replication.fetch_response_max_bytes,
            sendfile: self.config.fetch_sendfile_enable,
            rack_aware_selector: self.config.replication.rack_aware_replica_selector,
        }
    }

    /// The transaction coordinator with what its paths touch.
    pub fn txn_handle(&self) -> crate::txn::TxnHandle<'_> {
        crate::txn::TxnHandle {
            txns: &self.txns,
            cluster: &self.cluster,
            admin: &self.admin,
            groups: &self.groups,
            producer_ids: &self.producer_ids,
            config: &self.config.txn,
            inter_broker_listener: &self.config.inter_broker_listener,
            inter_broker_security: &self.config.inter_broker_security,
            socket_timeout_ms: self.config.replication.socket_timeout_ms,
        }
    }

    pub fn log_manager(&self) -> &Arc<LogManager> {
        self.replica_manager.log_manager()
    }
}

/// Reads the cluster id a log directory belongs to, if it has a `meta.properties`.
pub fn stored_cluster_id(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(META_PROPERTIES)).ok()?;
    text.lines()
        .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == "cluster.id").map(|(_, v)| v.trim().to_string()))
}

/// A fresh cluster id: 16 random bytes, URL-safe base64 (Kafka's format).
pub fn new_cluster_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// Checks `meta.properties` against this broker and cluster, or writes it.
fn check_or_write_meta(dir: &Path, broker_id: i32, cluster_id: &str) -> anyhow::Result<()> {
    let path = dir.join(META_PROPERTIES);
    if let Ok(text) = std::fs::read_to_string(&path) {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                match k.trim() {
                    "cluster.id" if v.trim() != cluster_id => anyhow::bail!(
                        "{} belongs to cluster {} but keeper holds cluster {cluster_id}; use another log.dirs or keeper.connect",
                        path.display(),
                        v.trim()
                    ),
                    "broker.id" if v.trim() != broker_id.to_string() => anyhow::bail!(
                        "{} belongs to broker.id {} but this broker is {broker_id}; use another log.dirs",
                        path.display(),
                        v.trim()
                    ),
                    _ => {}
                }
            }
        }
        return Ok(());
    }
    let text = format!("version=0\nbroker.id={broker_id}\ncluster.id={cluster_id}\n");
    sluice_storage::checkpoint::write_atomically(&path, text.as_bytes())?;
    Ok(())
}
