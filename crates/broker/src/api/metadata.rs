//! Metadata: the live brokers (at their address on the listener the request came in on), the
//! controller, the cluster id, and per topic its id and partitions (leader, leader epoch,
//! replicas, ISR, offline replicas), all from the metadata cache. Unknown topics are created
//! when both the request and `auto.create.topics.enable` allow it.

use sluice_protocol::codec::Uuid;
use sluice_protocol::messages::{
    MetadataRequest, MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};

use std::time::Duration;

use tokio::time::Instant;

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::cluster::cache::MetadataCache;
use crate::cluster::handle::ClusterHandle;
use crate::error::ErrorCode;
use crate::topic_admin::TopicAdmin;

/// How long Metadata's auto-creation waits for the new topic's leaders before answering
/// (clients retry LEADER_NOT_AVAILABLE after that).
const AUTO_CREATE_WAIT_MS: u64 = 3_000;

/// How long a Metadata request waits for this broker's first full read of the cluster's
/// metadata from keeper. A broker answers from the moment it listens (its logs load behind it),
/// but before that read its view holds neither the other brokers, nor the controller, nor any
/// topic: librdkafka, told that existing topics are unknown, drops their partitions and fails
/// what it was sending to them. Waiting costs a fresh broker's first client a moment instead.
const METADATA_SYNC_WAIT_MS: u64 = 10_000;

/// How long a Metadata request waits, on a broker that has never seen a controller, for the
/// cluster's first one. A fresh cluster elects it within milliseconds of its first broker's
/// registration, but a client that asks in those milliseconds is told "no controller" (-1);
/// librdkafka's admin client then holds its CreateTopics until a periodic metadata refresh,
/// over a minute later. Once any controller has been seen, a missing one (between a
/// controller's death and its successor's election) is answered at once with -1, as Kafka does:
/// waiting then would slow every client's failover.
const FIRST_CONTROLLER_WAIT_MS: u64 = 3_000;

/// What a Metadata request waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewWait {
    /// A full read of the cluster, with a controller or after one has been seen.
    Ready,
    /// No full read within `METADATA_SYNC_WAIT_MS`.
    NotSynced,
    /// Synced, but no first controller within `FIRST_CONTROLLER_WAIT_MS`.
    NoFirstController,
}

/// Waits until the metadata cache holds a full read of the cluster (at most
/// `METADATA_SYNC_WAIT_MS`) and, on a broker that has never seen a controller, until it names
/// one (at most `FIRST_CONTROLLER_WAIT_MS` more).
pub async fn wait_for_synced_view(cluster: &ClusterHandle) -> ViewWait {
    wait_for_view(
        &cluster.link.cache,
        Duration::from_millis(METADATA_SYNC_WAIT_MS),
        Duration::from_millis(FIRST_CONTROLLER_WAIT_MS),
    )
    .await
}

/// `wait_for_synced_view` with its two bounds given.
pub async fn wait_for_view(cache: &MetadataCache, sync_wait: Duration, first_controller_wait: Duration) -> ViewWait {
    let mut changes = cache.subscribe();
    let sync_deadline = Instant::now() + sync_wait;
    let mut controller_deadline = None;
    let state = || {
        let (synced, controller) = cache.read(|v| (v.synced, v.controller.is_some()));
        match (synced, controller || cache.controller_seen()) {
            (false, _) => ViewWait::NotSynced,
            (true, true) => ViewWait::Ready,
            (true, false) => ViewWait::NoFirstController,
        }
    };
    loop {
        changes.borrow_and_update();
        let deadline = match state() {
            ViewWait::Ready => return ViewWait::Ready,
            ViewWait::NotSynced => sync_deadline,
            ViewWait::NoFirstController => {
                *controller_deadline.get_or_insert_with(|| Instant::now() + first_controller_wait)
            }
        };
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return state(),
        }
    }
}

/// What Metadata, DescribeCluster and FindCoordinator may touch: the cluster (the metadata
/// cache they answer from), the topic admin (auto-creation), and this broker's advertised
/// listeners, rack, cluster id and `auto.create.topics.enable`.
#[derive(Debug, Clone, Copy)]
pub struct MetadataHandle<'a> {
    pub cluster: &'a ClusterHandle,
    pub admin: &'a TopicAdmin,
    /// Advertised `(host, port)` per listener name.
    pub advertised: &'a parking_lot::RwLock<std::collections::BTreeMap<String, (String, u16)>>,
    pub cluster_id: &'a str,
    pub rack: Option<&'a str>,
    pub auto_create_topics: bool,
}

/// The advertised address of the listener the request came in on.
pub fn advertised(ctx: RequestContext<'_>, md: MetadataHandle<'_>) -> (String, i32) {
    let advertised = md.advertised.read();
    let (host, port) = advertised
        .get(ctx.listener)
        .or_else(|| advertised.values().next())
        .cloned()
        .unwrap_or_else(|| ("localhost".to_string(), 9092));
    (host, i32::from(port))
}

/// The controller id of a Metadata answer when no controller is known.
pub const NO_CONTROLLER_ID: i32 = -1;

/// The controller id and the live brokers, each at its endpoint for the listener the request
/// came in on.
///
/// While no controller is known (between a controller's death and its successor's election)
/// the controller id is -1, as Kafka answers (`MetadataResponse.NO_CONTROLLER_ID`): naming
/// itself would tell clients something false, and a broker restarted after a crash would claim
/// the controller's role the moment it answers. Every broker here handles the admin requests
/// clients send "to the controller", so a client that picks any broker then still succeeds.
pub fn live_brokers(ctx: RequestContext<'_>, md: MetadataHandle<'_>) -> (i32, Vec<MetadataResponseBroker>) {
    let (controller, mut brokers) = md.cluster.link.cache.read(|v| {
        let brokers = v
            .brokers
            .iter()
            .filter_map(|(&id, reg)| {
                let (host, port) = reg.endpoint(ctx.listener).or_else(|| Some((reg.host.clone(), reg.port)))?;
                Some(MetadataResponseBroker { node_id: id, host, port, rack: reg.rack.clone() })
            })
            .collect::<Vec<_>>();
        (v.controller, brokers)
    });
    // This broker answers even before its own registration shows up in the cache.
    let me = md.cluster.broker_id;
    let controller = controller.unwrap_or(NO_CONTROLLER_ID);
    if !brokers.iter().any(|b| b.node_id == me) {
        let (host, port) = advertised(ctx, md);
        brokers.push(MetadataResponseBroker { node_id: me, host, port, rack: md.rack.map(str::to_string) });
    }
    (controller, brokers)
}

pub async fn handle(ctx: RequestContext<'_>, md: MetadataHandle<'_>, request: MetadataRequest) -> MetadataResponse {
    match wait_for_synced_view(md.cluster).await {
        ViewWait::Ready => {}
        ViewWait::NotSynced => tracing::warn!(
            wait_ms = METADATA_SYNC_WAIT_MS,
            "answering Metadata before the first full read of the cluster's metadata"
        ),
        ViewWait::NoFirstController => tracing::warn!(
            wait_ms = FIRST_CONTROLLER_WAIT_MS,
            "answering Metadata before the cluster has elected its first controller"
        ),
    }
    // v0: an empty list means every topic; v1+: null means every topic.
    let topic_operations = |name: &str| {
        if request.include_topic_authorized_operations {
            ctx.authorized_operations(ResourceType::Topic, name)
        } else {
            super::authorized_operations::NOT_REQUESTED
        }
    };
    // The cluster's operations only to a principal that may describe the cluster, else none.
    let cluster_operations = super::authorized_operations::reported(
        request.include_cluster_authorized_operations,
        if ctx.authorize_cluster(Operation::Describe) {
            ctx.authorized_operations(ResourceType::Cluster, crate::acl::CLUSTER_NAME)
        } else {
            0
        },
    );
    // Topics asked for by id (v12+, KIP-516: a null name) are looked up here; an id the cluster
    // does not have, or one of a topic the principal may not describe, is answered on its own.
    let mut unknown_ids = Vec::new();
    let wanted: Option<Vec<String>> = match request.topics {
        Some(topics) if !(ctx.version() == 0 && topics.is_empty()) => Some(
            topics
                .into_iter()
                .filter_map(|t| match t.name {
                    Some(name) => Some(name),
                    None if t.topic_id != Uuid::ZERO => {
                        let name = md.cluster.link.cache.read(|view| {
                            view.topics.iter().find(|(_, topic)| topic.id == t.topic_id.0).map(|(n, _)| n.clone())
                        });
                        match name {
                            Some(n) if ctx.authorize(Operation::Describe, ResourceType::Topic, &n) => Some(n),
                            _ => {
                                unknown_ids.push(t.topic_id);
                                None
                            }
                        }
                    }
                    None => None,
                })
                .collect(),
        ),
        _ => None,
    };
    let auto_create = md.auto_create_topics && (ctx.version() < 4 || request.allow_auto_topic_creation);
    // Authorization: listing every topic shows only those the principal may describe; a topic
    // named but not describable is TOPIC_AUTHORIZATION_FAILED (whether it exists or not), and
    // so is one auto-creation would make without CREATE on the cluster or the topic.
    let describable = |name: &str| ctx.authorize(Operation::Describe, ResourceType::Topic, name);
    let mut refused = std::collections::BTreeSet::new();
    let names: Vec<String> = match &wanted {
        Some(names) => {
            refused.extend(names.iter().filter(|n| !describable(n)).cloned());
            names.clone()
        }
        None => md.cluster.topic_names().into_iter().filter(|n| describable(n)).collect(),
    };
    for name in &names {
        if auto_create && !refused.contains(name) && md.cluster.topic_meta(name).is_none() {
            if !ctx.authorize_cluster(Operation::Create) && !ctx.authorize(Operation::Create, ResourceType::Topic, name)
            {
                refused.insert(name.clone());
                continue;
            }
            if let Err((code, message)) =
                crate::topic_admin::create_topic(md.admin, name, -1, -1, &[], false, AUTO_CREATE_WAIT_MS).await
            {
                tracing::debug!(topic = %name, error = code.name(), %message, "auto-create failed");
            }
        }
    }
    let (controller_id, brokers) = live_brokers(ctx, md);
    let mut topics: Vec<MetadataResponseTopic> = md.cluster.link.cache.read(|view| {
        names
            .into_iter()
            .map(|name| {
                if refused.contains(&name) {
                    return MetadataResponseTopic {
                        error_code: ErrorCode::TopicAuthorizationFailed.code(),
                        name: Some(name),
                        topic_authorized_operations: super::authorized_operations::NOT_REQUESTED,
                        ..Default::default()
                    };
                }
                let Some(topic) = view.topics.get(&name) else {
                    let code = if sluice_storage::topic_partition::is_valid_topic_name(&name) {
                        ErrorCode::UnknownTopicOrPartition
                    } else {
                        ErrorCode::InvalidTopicException
                    };
                    return MetadataResponseTopic {
                        error_code: code.code(),
                        topic_authorized_operations: topic_operations(&name),
                        name: Some(name),
                        ..Default::default()
                    };
                };
                let partitions = topic
                    .assignment
                    .iter()
                    .map(|(&p, replicas)| {
                        let offline: Vec<i32> = replicas.iter().copied().filter(|r| !view.is_live(*r)).collect();
                        let (error, leader, epoch, isr) = match topic.states.get(&p) {
                            Some(s) if s.state.leader >= 0 && view.is_live(s.state.leader) => {
                                (ErrorCode::None, s.state.leader, s.state.leader_epoch, s.state.isr.clone())
                            }
                            Some(s) => (ErrorCode::LeaderNotAvailable, -1, s.state.leader_epoch, s.state.isr.clone()),
                            None => (ErrorCode::LeaderNotAvailable, -1, -1, Vec::new()),
                        };
                        MetadataResponsePartition {
                            error_code: error.code(),
                            partition_index: p,
                            leader_id: leader,
                            leader_epoch: epoch,
                            replica_nodes: replicas.clone(),
                            isr_nodes: isr,
                            offline_replicas: offline,
                        }
                    })
                    .collect();
                MetadataResponseTopic {
                    error_code: ErrorCode::None.code(),
                    is_internal: crate::topics::is_internal(&name),
                    topic_authorized_operations: topic_operations(&name),
                    name: Some(name),
                    topic_id: Uuid(topic.id),
                    partitions,
                }
            })
            .collect()
    });
    topics.extend(unknown_ids.into_iter().map(|id| MetadataResponseTopic {
        error_code: ErrorCode::UnknownTopicId.code(),
        name: None,
        topic_id: id,
        topic_authorized_operations: super::authorized_operations::NOT_REQUESTED,
        ..Default::default()
    }));
    MetadataResponse {
        brokers,
        cluster_id: Some(md.cluster_id.to_string()),
        controller_id,
        topics,
        cluster_authorized_operations: cluster_operations,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    fn synced(controller: Option<i32>) -> impl FnOnce(&mut crate::cluster::cache::ClusterView) {
        move |v| {
            v.synced = true;
            v.controller = controller;
        }
    }

    #[tokio::test]
    async fn a_synced_view_with_a_controller_is_ready_at_once() {
        let cache = MetadataCache::default();
        cache.update(synced(Some(2)));
        let started = std::time::Instant::now();
        assert_eq!(wait_for_view(&cache, LONG, LONG).await, ViewWait::Ready);
        assert!(started.elapsed() < LONG / 2);
    }

    #[tokio::test]
    async fn a_fresh_cluster_is_answered_once_its_first_controller_is_elected() {
        let cache = std::sync::Arc::new(MetadataCache::default());
        cache.update(synced(None));
        let elect = {
            let cache = cache.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                cache.update(|v| v.controller = Some(1));
            })
        };
        let started = std::time::Instant::now();
        assert_eq!(wait_for_view(&cache, LONG, LONG).await, ViewWait::Ready);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(50) && waited < LONG / 2, "waited {waited:?}");
        assert_eq!(cache.read(|v| v.controller), Some(1));
        elect.await.expect("the election task");
    }

    #[tokio::test]
    async fn a_cluster_that_elects_no_controller_is_answered_after_the_bound() {
        let cache = MetadataCache::default();
        cache.update(synced(None));
        let bound = Duration::from_millis(100);
        let started = std::time::Instant::now();
        assert_eq!(wait_for_view(&cache, LONG, bound).await, ViewWait::NoFirstController);
        let waited = started.elapsed();
        assert!(waited >= bound && waited < LONG / 2, "waited {waited:?}");
    }

    #[tokio::test]
    async fn a_controller_lost_after_one_was_seen_is_answered_at_once() {
        let cache = MetadataCache::default();
        cache.update(synced(Some(3)));
        // The controller dies; then a full resync (a new keeper session) replaces the view.
        cache.update(|v| v.controller = None);
        cache.update(synced(None));
        let started = std::time::Instant::now();
        assert_eq!(wait_for_view(&cache, LONG, LONG).await, ViewWait::Ready);
        assert!(started.elapsed() < LONG / 2);
    }

    #[tokio::test]
    async fn an_unsynced_view_waits_for_the_full_read_then_for_the_first_controller() {
        let cache = std::sync::Arc::new(MetadataCache::default());
        let bound = Duration::from_millis(100);
        assert_eq!(wait_for_view(&cache, bound, LONG).await, ViewWait::NotSynced);
        let sync = {
            let cache = cache.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                cache.update(synced(None));
                tokio::time::sleep(Duration::from_millis(20)).await;
                cache.update(|v| v.controller = Some(1));
            })
        };
        assert_eq!(wait_for_view(&cache, LONG, LONG).await, ViewWait::Ready);
        assert_eq!(cache.read(|v| (v.synced, v.controller)), (true, Some(1)));
        sync.await.expect("the sync task");
    }
}
