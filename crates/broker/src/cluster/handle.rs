//! [`ClusterHandle`]: what the coordinators, the topic admin and the request handlers may see of
//! the cluster and of this broker's replicas, and nothing else of the broker: this broker's id,
//! the link to keeper with its metadata cache, and the replica manager. Cheap to clone; each
//! component that needs it holds its own.

use std::sync::Arc;
use std::time::Duration;

use sluice_storage::TopicPartition;

use crate::cluster::link::KeeperLink;
use crate::replica_manager::ReplicaManager;
use crate::topics::TopicMeta;

/// A leader's address on one listener (KIP-951's `NodeEndpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderEndpoint {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ClusterHandle {
    pub broker_id: i32,
    pub link: Arc<KeeperLink>,
    pub replicas: Arc<ReplicaManager>,
}

impl ClusterHandle {
    /// A topic as the metadata cache knows it.
    pub fn topic_meta(&self, name: &str) -> Option<TopicMeta> {
        self.link.cache.read(|v| {
            v.topics.get(name).map(|t| TopicMeta {
                id: t.id,
                partitions: t.partition_count(),
                replication_factor: t.assignment.values().next().map_or(0, |r| r.len() as i16),
                configs: t.configs.clone(),
            })
        })
    }

    pub fn topic_names(&self) -> Vec<String> {
        self.link.cache.read(|v| v.topics.keys().cloned().collect())
    }

    /// Whether this broker's replica of `tp` is its leader.
    pub fn leads(&self, tp: &TopicPartition) -> bool {
        self.replicas.partition(tp).is_some_and(|p| p.is_leader())
    }

    /// Whether keeper names this broker the leader of `topic`'s `partition` (which its replica
    /// may not have taken up yet).
    pub fn named_leader(&self, topic: &str, partition: i32) -> bool {
        self.link.cache.read(|v| v.leader(topic, partition)) == Some(self.broker_id)
    }

    /// KIP-951's leader hints: for each `(topic, partition)` the leader and leader epoch keeper
    /// names (`None` without a live one), and the endpoints on `listener` of those leaders
    /// (id, host, port, rack), so a client sent to the wrong broker moves straight on.
    pub fn leader_hints(
        &self,
        listener: &str,
        asked: &[(&str, i32)],
    ) -> (Vec<Option<(i32, i32)>>, Vec<LeaderEndpoint>) {
        self.link.cache.read(|v| {
            let hints: Vec<Option<(i32, i32)>> = asked
                .iter()
                .map(|(topic, p)| {
                    let state = &v.topics.get(*topic)?.states.get(p)?.state;
                    (state.leader >= 0).then_some((state.leader, state.leader_epoch))
                })
                .collect();
            let leaders: std::collections::BTreeSet<i32> = hints.iter().flatten().map(|(id, _)| *id).collect();
            let endpoints = leaders
                .into_iter()
                .filter_map(|id| {
                    let reg = v.brokers.get(&id)?;
                    let (host, port) = reg.endpoint(listener)?;
                    Some(LeaderEndpoint { id, host, port, rack: reg.rack.clone() })
                })
                .collect();
            (hints, endpoints)
        })
    }

    /// Waits up to `wait_ms` for `cond` to hold, re-checking after every change of the
    /// metadata cache and of the local partitions' roles; returns whether it held.
    pub async fn wait_until(&self, wait_ms: u64, cond: impl Fn() -> bool) -> bool {
        let mut changes = self.link.cache.subscribe();
        let mut roles = self.replicas.role_changes();
        let waited = tokio::time::timeout(Duration::from_millis(wait_ms), async {
            while !cond() {
                tokio::select! {
                    r = changes.changed() => if r.is_err() { return false },
                    r = roles.changed() => if r.is_err() { return false },
                }
            }
            true
        });
        waited.await.unwrap_or(false)
    }
}
