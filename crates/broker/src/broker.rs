//! The broker's shared state: configuration, the cluster and broker identity, the topic
//! registry, the log manager and the replica manager. One `Broker` per process, shared by every
//! connection task.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sluice_storage::{LogConfig, LogManager, SystemClock};

use crate::config::BrokerConfig;
use crate::group::GroupCoordinator;
use crate::replica_manager::ReplicaManager;
use crate::topics::TopicRegistry;

/// Name of the file that records the cluster and broker identity in each log directory.
pub const META_PROPERTIES: &str = "meta.properties";

#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub cluster_id: String,
    pub topics: TopicRegistry,
    pub replica_manager: ReplicaManager,
    pub groups: Arc<GroupCoordinator>,
    /// Advertised `(host, port)` per listener name; ports filled in once bound.
    pub advertised: parking_lot::RwLock<BTreeMap<String, (String, u16)>>,
}

impl Broker {
    /// Opens the log directories (recovering them if needed) and the topic registry.
    pub fn open(config: BrokerConfig) -> anyhow::Result<Arc<Broker>> {
        for dir in &config.log_dirs {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create log directory {}: {e}", dir.display()))?;
        }
        let cluster_id = load_or_create_meta(&config.log_dirs[0], config.broker_id)?;
        let log_manager = Arc::new(LogManager::open(config.log_manager.clone(), Arc::new(SystemClock))?);
        let topics = TopicRegistry::open(&config.log_dirs[0])?;
        let replica_manager = ReplicaManager::new(config.broker_id, log_manager.clone());
        let groups = GroupCoordinator::new(config.group.clone(), Arc::new(SystemClock));
        // Logs opened with broker defaults get their topic overrides back.
        let broker = Arc::new(Broker {
            cluster_id,
            topics,
            replica_manager,
            groups,
            advertised: parking_lot::RwLock::new(BTreeMap::new()),
            config,
        });
        // Committed offsets come back from __consumer_offsets.
        let loaded = crate::group::offsets_log::load(&broker);
        if !loaded.is_empty() {
            tracing::info!(records = loaded.len(), "loaded committed offsets");
        }
        let now = broker.groups.now_ms();
        broker.groups.with_groups(|g, _| {
            for entry in loaded {
                match entry {
                    crate::group::offsets_log::Entry::Offset { group, tp, committed } => {
                        g.load_offset(&group, tp, committed)
                    }
                    crate::group::offsets_log::Entry::Group { group, snapshot } => g.load_group(&group, snapshot, now),
                }
            }
        });
        for (name, meta) in broker.topics.all() {
            if let Ok(cfg) = broker.topic_log_config(&meta.configs) {
                broker.replica_manager.update_config(&name, &cfg);
            }
        }
        Ok(broker)
    }

    /// The log config of a topic: broker defaults with the topic's overrides applied.
    pub fn topic_log_config(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<LogConfig, sluice_storage::StorageError> {
        let mut config = self.config.log.clone();
        for (k, v) in overrides {
            if LogConfig::KEYS.contains(&k.as_str()) {
                config.set(k, v)?;
            }
        }
        Ok(config)
    }

    pub fn log_manager(&self) -> &Arc<LogManager> {
        self.replica_manager.log_manager()
    }
}

/// Reads `meta.properties` (cluster id, broker id) or writes a new one with a fresh cluster id.
fn load_or_create_meta(dir: &Path, broker_id: i32) -> anyhow::Result<String> {
    use base64::Engine;
    let path = dir.join(META_PROPERTIES);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut cluster_id = None;
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                match k.trim() {
                    "cluster.id" => cluster_id = Some(v.trim().to_string()),
                    "broker.id" if v.trim() != broker_id.to_string() => {
                        anyhow::bail!(
                            "{} belongs to broker.id {} but this broker is {broker_id}; use another log.dirs",
                            path.display(),
                            v.trim()
                        );
                    }
                    _ => {}
                }
            }
        }
        return cluster_id.ok_or_else(|| anyhow::anyhow!("{} has no cluster.id", path.display()));
    }
    let cluster_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
    let text = format!("version=0\nbroker.id={broker_id}\ncluster.id={cluster_id}\n");
    sluice_storage::checkpoint::write_atomically(&path, text.as_bytes())?;
    Ok(cluster_id)
}
