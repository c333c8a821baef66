//! OffsetForLeaderEpoch (KIP-101/279): the largest epoch at or below the one asked for, and the
//! offset where it ended, from the leader-epoch cache.

use sluice_protocol::messages::{
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, OffsetForLeaderEpochResponsePartition,
    OffsetForLeaderEpochResponseTopic,
};
use sluice_storage::TopicPartition;

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::replica_manager::ReplicaManager;

/// CLUSTER_ACTION on the cluster (a follower) covers every topic; otherwise DESCRIBE on each
/// (TOPIC_AUTHORIZATION_FAILED on its partitions).
pub fn handle(
    ctx: RequestContext<'_>,
    replicas: &ReplicaManager,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let rm = replicas;
    let cluster_action = ctx.authorize_cluster(Operation::ClusterAction);
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let allowed = cluster_action || ctx.authorize(Operation::Describe, ResourceType::Topic, &topic.topic);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let mut out = OffsetForLeaderEpochResponsePartition {
                        partition: p.partition,
                        leader_epoch: -1,
                        end_offset: -1,
                        error_code: 0,
                    };
                    if !allowed {
                        out.error_code = crate::error::ErrorCode::TopicAuthorizationFailed.code();
                        return out;
                    }
                    let partition = match rm.partition_or_error(&TopicPartition::new(topic.topic.clone(), p.partition))
                    {
                        Ok(partition) => partition,
                        Err(code) => {
                            out.error_code = code.code();
                            return out;
                        }
                    };
                    if let Err(code) = partition.check_leader(p.current_leader_epoch) {
                        out.error_code = code.code();
                        return out;
                    }
                    let (epoch, end) = partition.end_offset_for_epoch(p.leader_epoch);
                    out.leader_epoch = epoch;
                    out.end_offset = end;
                    out
                })
                .collect();
            OffsetForLeaderEpochResponseTopic { topic: topic.topic, partitions }
        })
        .collect();
    OffsetForLeaderEpochResponse { throttle_time_ms: 0, topics }
}
