//! The metadata cache: every broker's picture of the cluster (live brokers, the controller,
//! topics with their assignment, configs and partition states), fed by keeper watches (Kafka's
//! `MetadataCache`, which the ZooKeeper-era controller filled with UpdateMetadata requests;
//! here each broker follows the znodes itself).
//!
//! Readers take a short read lock and copy what they need; the link applies changes under the
//! write lock and then bumps a version on a `watch` channel, which the replica manager and the
//! controller wait on.

use std::collections::BTreeMap;

use parking_lot::RwLock;
use tokio::sync::watch;

use super::znodes::{BrokerRegistration, PartitionState, TopicAssignment, encode_topic_id};

/// A partition's state and the znode version it was read at (for compare-and-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedState {
    pub state: PartitionState,
    pub zk_version: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicView {
    pub id: [u8; 16],
    /// Replicas per partition; the first is the preferred leader.
    pub assignment: BTreeMap<i32, Vec<i32>>,
    /// A reassignment in progress: replicas being added and removed per partition.
    pub adding: BTreeMap<i32, Vec<i32>>,
    pub removing: BTreeMap<i32, Vec<i32>>,
    /// The `/brokers/topics/<topic>` znode version.
    pub zk_version: i32,
    /// Topic config overrides (`/config/topics/<topic>`).
    pub configs: BTreeMap<String, String>,
    pub states: BTreeMap<i32, VersionedState>,
}

impl TopicView {
    pub fn partition_count(&self) -> i32 {
        self.assignment.len() as i32
    }

    /// Every replica of a partition, including any a reassignment is adding (Kafka's znode
    /// already lists them in `partitions`; an older writer might not have).
    pub fn all_replicas(&self, partition: i32) -> Vec<i32> {
        let mut all = self.assignment.get(&partition).cloned().unwrap_or_default();
        if let Some(adding) = self.adding.get(&partition) {
            for r in adding {
                if !all.contains(r) {
                    all.push(*r);
                }
            }
        }
        all
    }

    /// The replicas a reassignment in progress moves the partition to (all of them less those
    /// being removed), or `None` when none is in progress.
    pub fn reassignment_target(&self, partition: i32) -> Option<Vec<i32>> {
        let adding = self.adding.get(&partition).is_some_and(|a| !a.is_empty());
        let removing = self.removing.get(&partition).filter(|r| !r.is_empty());
        if !adding && removing.is_none() {
            return None;
        }
        let mut target = self.all_replicas(partition);
        if let Some(removing) = removing {
            target.retain(|r| !removing.contains(r));
        }
        Some(target)
    }

    /// The `/brokers/topics/<topic>` znode for this view.
    pub fn to_znode(&self) -> TopicAssignment {
        let by_name = |m: &BTreeMap<i32, Vec<i32>>| -> BTreeMap<String, Vec<i32>> {
            m.iter().filter(|(_, r)| !r.is_empty()).map(|(p, r)| (p.to_string(), r.clone())).collect()
        };
        TopicAssignment {
            version: 3,
            topic_id: Some(encode_topic_id(&self.id)),
            partitions: by_name(&self.assignment),
            adding_replicas: by_name(&self.adding),
            removing_replicas: by_name(&self.removing),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterView {
    /// Whether a full read of the cluster's znodes has completed (before that, absence of a
    /// topic means nothing).
    pub synced: bool,
    pub controller: Option<i32>,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topics: BTreeMap<String, TopicView>,
    /// Dynamic broker configs by `/config/brokers` entity (a broker id, or `<default>`).
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Client quotas of users and client ids (`crate::quota`).
    pub quotas: crate::quota::QuotaTable,
    /// Groups' own configs (`crate::group::configs`), by group id.
    pub group_configs: BTreeMap<String, BTreeMap<String, String>>,
}

impl ClusterView {
    pub fn is_live(&self, broker: i32) -> bool {
        self.brokers.contains_key(&broker)
    }

    pub fn state(&self, topic: &str, partition: i32) -> Option<&VersionedState> {
        self.topics.get(topic)?.states.get(&partition)
    }

    pub fn replicas(&self, topic: &str, partition: i32) -> Option<&Vec<i32>> {
        self.topics.get(topic)?.assignment.get(&partition)
    }

    /// The leader of a partition, if it has one that is alive.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let s = self.state(topic, partition)?;
        (s.state.leader >= 0 && self.is_live(s.state.leader)).then_some(s.state.leader)
    }
}

#[derive(Debug)]
pub struct MetadataCache {
    view: RwLock<ClusterView>,
    changes: watch::Sender<u64>,
    /// Whether any view since this process started named a controller (a full resync replaces
    /// the view, so this lives beside it).
    controller_seen: std::sync::atomic::AtomicBool,
}

impl Default for MetadataCache {
    fn default() -> Self {
        MetadataCache {
            view: RwLock::new(ClusterView::default()),
            changes: watch::channel(0).0,
            controller_seen: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl MetadataCache {
    pub fn read<T>(&self, f: impl FnOnce(&ClusterView) -> T) -> T {
        f(&self.view.read())
    }

    pub fn snapshot(&self) -> ClusterView {
        self.view.read().clone()
    }

    /// Changes the view and tells the waiters.
    pub fn update(&self, f: impl FnOnce(&mut ClusterView)) {
        {
            let mut view = self.view.write();
            f(&mut view);
            if view.controller.is_some() {
                self.controller_seen.store(true, std::sync::atomic::Ordering::Release);
            }
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// Whether a controller has been named since this process started: false only on a broker
    /// whose cluster has not elected its first controller yet (a fresh cluster's first moments).
    pub fn controller_seen(&self) -> bool {
        self.controller_seen.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A receiver that changes after every update.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
