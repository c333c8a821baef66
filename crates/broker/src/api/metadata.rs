//! Metadata: the live brokers (at their address on the listener the request came in on), the
//! controller, the cluster id, and per topic its id and partitions (leader, leader epoch,
//! replicas, ISR, offline replicas), all from the metadata cache. Unknown topics are created
//! when both the request and `auto.create.topics.enable` allow it.

use sluice_protocol::codec::Uuid;
use sluice_protocol::messages::{
    MetadataRequest, MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};

use super::RequestContext;
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

/// Waits (at most `METADATA_SYNC_WAIT_MS`) until the metadata cache holds a full read of the
/// cluster; whether it does.
pub async fn wait_for_synced_view(cluster: &ClusterHandle) -> bool {
    let mut changes = cluster.link.cache.subscribe();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(METADATA_SYNC_WAIT_MS);
    loop {
        changes.borrow_and_update();
        if cluster.link.cache.read(|v| v.synced) {
            return true;
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return cluster.link.cache.read(|v| v.synced),
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
    if !wait_for_synced_view(md.cluster).await {
        tracing::warn!(
            wait_ms = METADATA_SYNC_WAIT_MS,
            "answering Metadata before the first full read of the cluster's metadata"
        );
    }
    // v0: an empty list means every topic; v1+: null means every topic.
    let topic_operations = super::authorized_operations::reported(
        request.include_topic_authorized_operations,
        super::authorized_operations::TOPIC,
    );
    let cluster_operations = super::authorized_operations::reported(
        request.include_cluster_authorized_operations,
        super::authorized_operations::CLUSTER,
    );
    let wanted: Option<Vec<String>> = match request.topics {
        Some(topics) if !(ctx.version() == 0 && topics.is_empty()) => {
            Some(topics.into_iter().filter_map(|t| t.name).collect())
        }
        _ => None,
    };
    let auto_create = md.auto_create_topics && (ctx.version() < 4 || request.allow_auto_topic_creation);
    let names: Vec<String> = match &wanted {
        Some(names) => names.clone(),
        None => md.cluster.topic_names(),
    };
    for name in &names {
        if auto_create
            && md.cluster.topic_meta(name).is_none()
            && let Err((code, message)) =
                crate::topic_admin::create_topic(md.admin, name, -1, -1, &[], false, AUTO_CREATE_WAIT_MS).await
        {
            tracing::debug!(topic = %name, error = code.name(), %message, "auto-create failed");
        }
    }
    let (controller_id, brokers) = live_brokers(ctx, md);
    let topics = md.cluster.link.cache.read(|view| {
        names
            .into_iter()
            .map(|name| {
                let Some(topic) = view.topics.get(&name) else {
                    let code = if sluice_storage::topic_partition::is_valid_topic_name(&name) {
                        ErrorCode::UnknownTopicOrPartition
                    } else {
                        ErrorCode::InvalidTopicException
                    };
                    return MetadataResponseTopic {
                        error_code: code.code(),
                        name: Some(name),
                        topic_authorized_operations: topic_operations,
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
                    name: Some(name),
                    topic_id: Uuid(topic.id),
                    partitions,
                    topic_authorized_operations: topic_operations,
                }
            })
            .collect()
    });
    MetadataResponse {
        brokers,
        cluster_id: Some(md.cluster_id.to_string()),
        controller_id,
        topics,
        cluster_authorized_operations: cluster_operations,
        ..Default::default()
    }
}
