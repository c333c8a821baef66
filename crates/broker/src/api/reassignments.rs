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
            error_code: code,
            error_message: None,
            responses,
        };
    }
    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let moves: Vec<topic_admin::PartitionMove> =
            topic.partitions.into_iter().map(|p| (p.partition_index, p.replicas)).collect();
        let partitions = topic_admin::reassign_partitions(admin, &topic.name, &moves)
            .await
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
    AlterPartitionReassignmentsResponse { throttle_time_ms: 0, error_code: 0, error_message: None, responses }
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
