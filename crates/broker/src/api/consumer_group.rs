//! ConsumerGroupHeartbeat and ConsumerGroupDescribe (KIP-848): the consumer group protocol in
//! which the coordinator assigns the partitions ([`crate::group::consumer`]).

use std::collections::BTreeMap;

use sluice_protocol::codec::{Nullable, Uuid};
use sluice_protocol::messages::{
    ConsumerGroupDescribeAssignment, ConsumerGroupDescribeGroup, ConsumerGroupDescribeMember,
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupDescribeTopicPartitions,
    ConsumerGroupHeartbeatAssignment, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    ConsumerGroupTopicPartitions,
};

use super::{RequestContext, authorized_operations};
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::group::consumer::{self, Assignment, TopicInfo, Topics};
use crate::group::offsets_log::GroupLog;
use crate::group::state::ConsumerHeartbeat;

/// ConsumerGroupDescribe's `member_type` (v1, KIP-1099): a classic member of a mixed group, and
/// a member of this protocol.
const MEMBER_TYPE_CLASSIC: i8 = 0;
const MEMBER_TYPE_CONSUMER: i8 = 1;

/// The cluster's topics as the assignors see them (internal topics left out).
pub(crate) fn topics(log: GroupLog<'_>) -> Topics {
    log.admin.cluster.link.cache.read(|view| {
        view.topics
            .iter()
            .filter(|(name, _)| !crate::topics::is_internal(name))
            .map(|(name, t)| (name.clone(), TopicInfo { id: t.id, partitions: t.assignment.len() as i32 }))
            .collect()
    })
}

/// A group config of `group`, else the broker's setting.
fn group_setting(log: GroupLog<'_>, group: &str, key: &str, broker: i32) -> i32 {
    log.admin
        .cluster
        .link
        .cache
        .read(|view| view.group_configs.get(group).and_then(|c| c.get(key)).and_then(|v| v.parse().ok()))
        .unwrap_or(broker)
}

fn to_wire(assignment: &Assignment) -> Vec<ConsumerGroupTopicPartitions> {
    assignment
        .iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(id, ps)| ConsumerGroupTopicPartitions { topic_id: Uuid(*id), partitions: ps.iter().copied().collect() })
        .collect()
}

pub async fn heartbeat(
    ctx: RequestContext<'_>,
    log: GroupLog<'_>,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let refused = |code: ErrorCode, message: Option<String>| ConsumerGroupHeartbeatResponse {
        error_code: code.code(),
        error_message: message,
        member_epoch: -1,
        ..Default::default()
    };
    if let Err(code) = ctx.group_access(Operation::Read, &request.group_id) {
        return refused(code, None);
    }
    // DESCRIBE on every topic subscribed to by name (Kafka's check; a regex only ever matches
    // topics the member may describe... and is resolved here without ACLs, as in Kafka 4.0).
    if let Some(names) = &request.subscribed_topic_names
        && let Some(name) = names.iter().find(|n| !ctx.authorize(Operation::Describe, ResourceType::Topic, n))
    {
        return refused(ErrorCode::TopicAuthorizationFailed, Some(format!("Topic {name} is not authorized.")));
    }
    if let Err(code) = crate::group::offsets_log::check_coordinator(log, &request.group_id).await {
        return refused(code, None);
    }
    let topics = topics(log);
    let owned = request.topic_partitions.as_ref().map(|tps| {
        let mut owned = Assignment::new();
        for tp in tps {
            owned.entry(tp.topic_id.0).or_default().extend(tp.partitions.iter().copied());
        }
        owned
    });
    let session_timeout_ms =
        group_setting(log, &request.group_id, "consumer.session.timeout.ms", log.config.consumer.session_timeout_ms);
    let heartbeat_interval_ms = group_setting(
        log,
        &request.group_id,
        "consumer.heartbeat.interval.ms",
        log.config.consumer.heartbeat_interval_ms,
    );
    let hb = consumer::HeartbeatRequest {
        member_id: request.member_id,
        member_epoch: request.member_epoch,
        instance_id: request.instance_id,
        rack_id: request.rack_id,
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request.subscribed_topic_names,
        subscribed_topic_regex: request.subscribed_topic_regex,
        server_assignor: request.server_assignor,
        owned,
        client_id: ctx.header.client_id.clone().unwrap_or_default(),
        client_host: format!("/{}", ctx.peer.ip()),
    };
    let version = ctx.version();
    let group_id = request.group_id;
    let answer = log.groups.with_groups(|g, now| {
        g.consumer_heartbeat(
            now,
            ConsumerHeartbeat {
                group_id: &group_id,
                request: hb,
                version,
                topics: &topics,
                session_timeout_ms,
                heartbeat_interval_ms,
            },
        )
    });
    match answer {
        Ok(a) => ConsumerGroupHeartbeatResponse {
            throttle_time_ms: 0,
            error_code: 0,
            error_message: None,
            member_id: Some(a.member_id),
            member_epoch: a.member_epoch,
            heartbeat_interval_ms: a.heartbeat_interval_ms,
            assignment: Nullable(
                a.assignment.map(|assigned| ConsumerGroupHeartbeatAssignment { topic_partitions: to_wire(&assigned) }),
            ),
        },
        Err((code, message)) => refused(code, Some(message)),
    }
}

pub fn describe(
    ctx: RequestContext<'_>,
    log: GroupLog<'_>,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let names: BTreeMap<[u8; 16], String> =
        log.admin.cluster.link.cache.read(|view| view.topics.iter().map(|(n, t)| (t.id, n.clone())).collect());
    let describe_assignment = |a: &Assignment| ConsumerGroupDescribeAssignment {
        topic_partitions: a
            .iter()
            .filter(|(_, ps)| !ps.is_empty())
            .map(|(id, ps)| ConsumerGroupDescribeTopicPartitions {
                topic_id: Uuid(*id),
                topic_name: names.get(id).cloned().unwrap_or_default(),
                partitions: ps.iter().copied().collect(),
            })
            .collect(),
    };
    let groups = request
        .group_ids
        .into_iter()
        .map(|id| {
            if !ctx.authorize(Operation::Describe, ResourceType::Group, &id) {
                return ConsumerGroupDescribeGroup {
                    error_code: ErrorCode::GroupAuthorizationFailed.code(),
                    group_id: id,
                    ..Default::default()
                };
            }
            let operations = authorized_operations::reported(
                request.include_authorized_operations,
                ctx.authorized_operations(ResourceType::Group, &id),
            );
            if let Err(code) = crate::group::offsets_log::check_coordinator_now(log, &id) {
                return ConsumerGroupDescribeGroup {
                    error_code: code.code(),
                    group_id: id,
                    authorized_operations: operations,
                    ..Default::default()
                };
            }
            log.groups.with_groups(|g, _| {
                let Some(consumer) = g.group(&id).and_then(|grp| grp.consumer.as_ref()) else {
                    let message = match g.group(&id) {
                        Some(_) => format!("Group {id} is not a consumer group."),
                        None => format!("Group {id} not found."),
                    };
                    return ConsumerGroupDescribeGroup {
                        error_code: ErrorCode::GroupIdNotFound.code(),
                        error_message: Some(message),
                        group_id: id.clone(),
                        authorized_operations: operations,
                        ..Default::default()
                    };
                };
                let empty = Assignment::new();
                ConsumerGroupDescribeGroup {
                    error_code: 0,
                    error_message: None,
                    group_id: id.clone(),
                    group_state: consumer.state().name().to_string(),
                    group_epoch: consumer.group_epoch,
                    assignment_epoch: consumer.assignment_epoch,
                    assignor_name: consumer.assignor.clone(),
                    members: consumer
                        .members
                        .values()
                        .map(|m| ConsumerGroupDescribeMember {
                            member_id: m.member_id.clone(),
                            instance_id: m.instance_id.clone(),
                            rack_id: m.rack_id.clone(),
                            member_epoch: m.member_epoch,
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            subscribed_topic_names: m.subscribed_topic_names.clone(),
                            subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                            assignment: describe_assignment(&m.assigned),
                            target_assignment: describe_assignment(consumer.target.get(&m.member_id).unwrap_or(&empty)),
                            member_type: if m.classic.is_some() { MEMBER_TYPE_CLASSIC } else { MEMBER_TYPE_CONSUMER },
                        })
                        .collect(),
                    authorized_operations: operations,
                }
            })
        })
        .collect();
    ConsumerGroupDescribeResponse { throttle_time_ms: 0, groups }
}
