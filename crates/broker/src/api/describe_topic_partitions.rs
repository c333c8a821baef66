//! DescribeTopicPartitions (KIP-966): topics and their partitions as Metadata has them, in topic
//! name order, a page of at most `response_partition_limit` partitions (and never more than
//! [`MAX_RESPONSE_PARTITIONS`], Kafka's `max.request.partition.size.limit` default), with a
//! cursor naming the topic and partition the next page starts at. No topics asked for means
//! every topic the principal may describe; a topic asked for but not describable is
//! TOPIC_AUTHORIZATION_FAILED, one that does not exist UNKNOWN_TOPIC_OR_PARTITION (neither takes
//! room on the page). Each topic reports the operations the principal may perform on it.
//! Eligible leader replicas (KIP-966's ELR) are empty: leaders are elected from the ISR here.

use sluice_protocol::codec::{Nullable, Uuid};
use sluice_protocol::messages::{
    DescribeTopicPartitionsCursor, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
    DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};

use super::RequestContext;
use super::metadata::MetadataHandle;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;

/// The most partitions one answer describes, whatever the request asks (Kafka's
/// `max.request.partition.size.limit` default).
pub const MAX_RESPONSE_PARTITIONS: usize = 2000;

pub fn handle(
    ctx: RequestContext<'_>,
    md: MetadataHandle<'_>,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let describable = |name: &str| ctx.authorize(Operation::Describe, ResourceType::Topic, name);
    let mut names: Vec<String> = if request.topics.is_empty() {
        md.cluster.topic_names().into_iter().filter(|n| describable(n)).collect()
    } else {
        request.topics.into_iter().map(|t| t.name).collect()
    };
    names.sort_unstable();
    names.dedup();
    let limit = match usize::try_from(request.response_partition_limit) {
        Ok(n) if n > 0 => n.min(MAX_RESPONSE_PARTITIONS),
        _ => MAX_RESPONSE_PARTITIONS,
    };
    let (start_topic, start_partition) = match request.cursor.0 {
        Some(c) => (Some(c.topic_name), c.partition_index.max(0)),
        None => (None, 0),
    };
    let mut topics = Vec::new();
    let mut next_cursor = None;
    let mut room = limit;
    md.cluster.link.cache.read(|view| {
        for name in names.into_iter().filter(|n| start_topic.as_ref().is_none_or(|s| n >= s)) {
            if !describable(&name) {
                topics.push(DescribeTopicPartitionsResponseTopic {
                    error_code: ErrorCode::TopicAuthorizationFailed.code(),
                    name: Some(name),
                    ..Default::default()
                });
                continue;
            }
            let Some(topic) = view.topics.get(&name) else {
                topics.push(DescribeTopicPartitionsResponseTopic {
                    error_code: ErrorCode::UnknownTopicOrPartition.code(),
                    name: Some(name),
                    ..Default::default()
                });
                continue;
            };
            let first = if start_topic.as_ref() == Some(&name) { start_partition } else { 0 };
            let mut partitions = Vec::new();
            for (&p, replicas) in topic.assignment.range(first..) {
                if room == 0 {
                    next_cursor = Some(DescribeTopicPartitionsCursor { topic_name: name.clone(), partition_index: p });
                    break;
                }
                room -= 1;
                let offline: Vec<i32> = replicas.iter().copied().filter(|r| !view.is_live(*r)).collect();
                let (error, leader, epoch, isr) = match topic.states.get(&p) {
                    Some(s) if s.state.leader >= 0 && view.is_live(s.state.leader) => {
                        (ErrorCode::None, s.state.leader, s.state.leader_epoch, s.state.isr.clone())
                    }
                    Some(s) => (ErrorCode::LeaderNotAvailable, -1, s.state.leader_epoch, s.state.isr.clone()),
                    None => (ErrorCode::LeaderNotAvailable, -1, -1, Vec::new()),
                };
                partitions.push(DescribeTopicPartitionsResponsePartition {
                    error_code: error.code(),
                    partition_index: p,
                    leader_id: leader,
                    leader_epoch: epoch,
                    replica_nodes: replicas.clone(),
                    isr_nodes: isr,
                    eligible_leader_replicas: Some(Vec::new()),
                    last_known_elr: Some(Vec::new()),
                    offline_replicas: offline,
                });
            }
            let done = next_cursor.is_some();
            if !partitions.is_empty() || !done {
                topics.push(DescribeTopicPartitionsResponseTopic {
                    error_code: 0,
                    topic_authorized_operations: ctx.authorized_operations(ResourceType::Topic, &name),
                    is_internal: crate::topics::is_internal(&name),
                    topic_id: Uuid(topic.id),
                    name: Some(name),
                    partitions,
                });
            }
            if done {
                break;
            }
        }
    });
    DescribeTopicPartitionsResponse { throttle_time_ms: 0, topics, next_cursor: Nullable(next_cursor) }
}
