//! Metadata: brokers, controller, cluster id, and per topic its id and partitions (leader,
//! leader epoch, replicas, ISR). Unknown topics are created when both the request and
//! `auto.create.topics.enable` allow it.

use sluice_protocol::codec::Uuid;
use sluice_protocol::messages::{
    MetadataRequest, MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use sluice_storage::TopicPartition;

use super::RequestContext;
use crate::error::ErrorCode;

/// The advertised address of the listener the request came in on.
pub fn advertised(ctx: RequestContext<'_>) -> (String, i32) {
    let advertised = ctx.broker.advertised.read();
    let (host, port) = advertised
        .get(ctx.listener)
        .or_else(|| advertised.values().next())
        .cloned()
        .unwrap_or_else(|| ("localhost".to_string(), 9092));
    (host, i32::from(port))
}

pub fn handle(ctx: RequestContext<'_>, request: MetadataRequest) -> MetadataResponse {
    let broker = ctx.broker;
    let id = broker.config.broker_id;
    let (host, port) = advertised(ctx);
    // v0: an empty list means every topic; v1+: null means every topic.
    let wanted: Option<Vec<String>> = match request.topics {
        Some(topics) if !(ctx.version() == 0 && topics.is_empty()) => {
            Some(topics.into_iter().filter_map(|t| t.name).collect())
        }
        _ => None,
    };
    let auto_create =
        broker.config.auto_create_topics_enable && (ctx.version() < 4 || request.allow_auto_topic_creation);
    let names: Vec<String> = match &wanted {
        Some(names) => names.clone(),
        None => broker.topics.all().keys().cloned().collect(),
    };
    let mut topics = Vec::with_capacity(names.len());
    for name in names {
        let mut meta = broker.topics.get(&name);
        if meta.is_none() && auto_create {
            match crate::topic_admin::create_topic(broker, &name, -1, -1, &[], false) {
                Ok(created) => meta = Some(created),
                Err((code, message)) => {
                    tracing::debug!(topic = %name, error = code.name(), %message, "auto-create failed");
                }
            }
        }
        let Some(meta) = meta else {
            let code = if sluice_storage::topic_partition::is_valid_topic_name(&name) {
                ErrorCode::UnknownTopicOrPartition
            } else {
                ErrorCode::InvalidTopicException
            };
            topics.push(MetadataResponseTopic {
                error_code: code.code(),
                name: Some(name),
                topic_authorized_operations: i32::MIN,
                ..Default::default()
            });
            continue;
        };
        let partitions = (0..meta.partitions)
            .map(|p| {
                let tp = TopicPartition::new(name.clone(), p);
                let (error, leader, epoch) = match broker.replica_manager.partition(&tp) {
                    Some(partition) => (ErrorCode::None, id, partition.leader_epoch),
                    None => (ErrorCode::LeaderNotAvailable, -1, -1),
                };
                MetadataResponsePartition {
                    error_code: error.code(),
                    partition_index: p,
                    leader_id: leader,
                    leader_epoch: epoch,
                    replica_nodes: vec![id],
                    isr_nodes: vec![id],
                    offline_replicas: Vec::new(),
                }
            })
            .collect();
        topics.push(MetadataResponseTopic {
            error_code: ErrorCode::None.code(),
            is_internal: name.starts_with("__"),
            name: Some(name),
            topic_id: Uuid(meta.id_bytes()),
            partitions,
            topic_authorized_operations: i32::MIN,
        });
    }
    MetadataResponse {
        brokers: vec![MetadataResponseBroker { node_id: id, host, port, rack: None }],
        cluster_id: Some(broker.cluster_id.clone()),
        controller_id: id,
        topics,
        cluster_authorized_operations: i32::MIN,
        ..Default::default()
    }
}
