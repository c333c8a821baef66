//! AlterPartitionReassignments and ListPartitionReassignments (KIP-455): move partitions'
//! replicas between brokers, or change a topic's replication factor, without downtime. Any
//! broker accepts them (the move is a compare-and-set on the topic znode; the controller
//! completes it), so they need not find the controller first.

use std::collections::BTreeMap;

use sluice_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse, OngoingPartitionReassignment, OngoingTopicReassignment,
    ReassignablePartitionResponse, ReassignableTopicResponse,
};

use super::RequestContext;
use crate::acl::Operation;
use crate::error::ErrorCode;
use crate::topic_admin;
use crate::topic_admin::TopicAdmin;

/// ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED at the top and on every partition.
pub async fn alter(
    ctx: RequestContext<'_>,
    admin: &TopicAdmin,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    if !ctx.authorize_cluster(Operation::Alter) {
        let code = ErrorCode::ClusterAuthorizationFailed.code();
        let responses = request
            .topics
            .into_iter()
            .map(|t| ReassignableTopicResponse {
                name: t.name,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| ReassignablePartitionResponse {
                        partition_index: p.partition_index,
                        error_code: code,
                        error_message: None,
                    })
                    .collect(),
            })
            .collect();
        return AlterPartitionReassignmentsResponse {
            throttle_time_ms: 0,
            allow_replication_factor_change: request.allow_replication_factor_change,
            error_code: code,
            error_message: None,
            responses,
        };
    }
    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut moves: Vec<topic_admin::PartitionMove> =
            topic.partitions.into_iter().map(|p| (p.partition_index, p.replicas)).collect();
        // v1 (KIP-860): a move that would change the partition's replication factor (its
        // replicas less any being added) is refused when the request does not allow it.
        let mut refused = Vec::new();
        if !request.allow_replication_factor_change {
            let factors: std::collections::BTreeMap<i32, usize> = admin.cluster.link.cache.read(|v| {
                v.topics.get(&topic.name).map_or_else(Default::default, |t| {
                    t.assignment
                        .keys()
                        .map(|p| {
                            let adding = t.adding.get(p).map_or(0, Vec::len);
                            (*p, t.all_replicas(*p).len().saturating_sub(adding))
                        })
                        .collect()
                })
            });
            moves.retain(|(p, target)| {
                let changes = target.as_ref().is_some_and(|t| factors.get(p).is_some_and(|rf| *rf != t.len()));
                if changes {
                    refused.push((
                        *p,
                        Err((
                            ErrorCode::InvalidReplicationFactor,
                            "the reassignment would change the replication factor, which the request does not allow"
                                .to_string(),
                        )),
                    ));
                }
                !changes
            });
        }
        let mut outcomes = topic_admin::reassign_partitions(admin, &topic.name, &moves).await;
        outcomes.extend(refused);
        outcomes.sort_by_key(|(p, _)| *p);
        let partitions = outcomes
            .into_iter()
            .map(|(partition_index, result)| match result {
                Ok(()) => ReassignablePartitionResponse { partition_index, error_code: 0, error_message: None },
                Err((code, message)) => ReassignablePartitionResponse {
                    partition_index,
                    error_code: code.code(),
                    error_message: Some(message),
                },
            })
            .collect();
        responses.push(ReassignableTopicResponse { name: topic.name, partitions });
    }
    AlterPartitionReassignmentsResponse {
        throttle_time_ms: 0,
        allow_replication_factor_change: request.allow_replication_factor_change,
        error_code: 0,
        error_message: None,
        responses,
    }
}

/// DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED.
pub fn list(
    ctx: RequestContext<'_>,
    admin: &TopicAdmin,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if !ctx.authorize_cluster(Operation::Describe) {
        return ListPartitionReassignmentsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let only: Option<BTreeMap<String, Vec<i32>>> =
        request.topics.map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect());
    let topics = topic_admin::list_reassignments(admin, only.as_ref())
        .into_iter()
        .map(|(name, partitions)| OngoingTopicReassignment {
            name,
            partitions: partitions
                .into_iter()
                .map(|m| OngoingPartitionReassignment {
                    partition_index: m.partition,
                    replicas: m.replicas,
                    adding_replicas: m.adding,
                    removing_replicas: m.removing,
                })
                .collect(),
        })
        .collect();
    ListPartitionReassignmentsResponse { throttle_time_ms: 0, error_code: 0, error_message: None, topics }
}
