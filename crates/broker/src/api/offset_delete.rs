//! OffsetDelete: forget some committed offsets of a group with no active members.

use sluice_protocol::messages::{
    OffsetDeleteRequest, OffsetDeleteResponse, OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::group::offsets_log;
use crate::group::offsets_log::GroupLog;

/// DELETE on the group (GROUP_AUTHORIZATION_FAILED for the request), then READ on each topic
/// (TOPIC_AUTHORIZATION_FAILED on its partitions, whose offsets stay).
pub async fn handle(
    ctx: RequestContext<'_>,
    log: GroupLog<'_>,
    mut request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    if let Err(code) = ctx.group_access(Operation::Delete, &request.group_id) {
        return OffsetDeleteResponse { error_code: code.code(), throttle_time_ms: 0, topics: Vec::new() };
    }
    let (allowed, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| ctx.authorize(Operation::Read, ResourceType::Topic, &t.name));
    request.topics = allowed;
    let mut response = delete(log, request).await;
    if response.error_code == 0 {
        response.topics.extend(refused.into_iter().map(|t| {
            OffsetDeleteResponseTopic {
                name: t.name,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| OffsetDeleteResponsePartition {
                        partition_index: p.partition_index,
                        error_code: ErrorCode::TopicAuthorizationFailed.code(),
                    })
                    .collect(),
            }
        }));
    }
    response
}

async fn delete(log: GroupLog<'_>, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let partitions: Vec<(String, i32)> =
        request.topics.iter().flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.partition_index))).collect();
    if let Err(code) = offsets_log::check_coordinator(log, &request.group_id).await {
        return OffsetDeleteResponse { error_code: code.code(), throttle_time_ms: 0, topics: Vec::new() };
    }
    let result = log.groups.with_groups(|g, _| g.delete_offsets(&request.group_id, &partitions));
    match result {
        Err(code) => OffsetDeleteResponse { error_code: code.code(), throttle_time_ms: 0, topics: Vec::new() },
        Ok(codes) => {
            let deleted: Vec<_> = partitions
                .iter()
                .zip(&codes)
                .filter(|(_, c)| **c == ErrorCode::None)
                .map(|(tp, _)| (tp.clone(), None))
                .collect();
            if let Err(e) = offsets_log::append(log, &request.group_id, &deleted).await {
                return OffsetDeleteResponse { error_code: e.code(), throttle_time_ms: 0, topics: Vec::new() };
            }
            let mut codes = codes.into_iter();
            let topics = request
                .topics
                .into_iter()
                .map(|t| OffsetDeleteResponseTopic {
                    name: t.name,
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| OffsetDeleteResponsePartition {
                            partition_index: p.partition_index,
                            error_code: codes.next().map_or(0, |c| c.code()),
                        })
                        .collect(),
                })
                .collect();
            OffsetDeleteResponse { error_code: 0, throttle_time_ms: 0, topics }
        }
    }
}
