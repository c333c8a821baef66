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

use crate::topic_admin;
use crate::topic_admin::TopicAdmin;

pub async fn alter(
    admin: &TopicAdmin,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
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

pub fn list(admin: &TopicAdmin, request: ListPartitionReassignmentsRequest) -> ListPartitionReassignmentsResponse {
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
