//! OffsetCommit: record a group's consumed positions, per partition.

use sluice_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};

use super::RequestContext;
use crate::error::ErrorCode;

pub fn handle(ctx: RequestContext<'_>, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let mut offsets = Vec::new();
    for t in &request.topics {
        for p in &t.partitions {
            offsets.push((
                (t.name.clone(), p.partition_index),
                p.committed_offset,
                p.committed_leader_epoch,
                p.committed_metadata.clone(),
            ));
        }
    }
    let code = ctx.broker.groups.with_groups(|g, now| {
        g.commit_offsets(
            now,
            &request.group_id,
            &request.member_id,
            request.generation_id_or_member_epoch,
            request.group_instance_id.as_deref(),
            offsets,
        )
    });
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let known = ctx
                        .broker
                        .topics
                        .get(&t.name)
                        .is_some_and(|m| p.partition_index >= 0 && p.partition_index < m.partitions);
                    let error =
                        if code == ErrorCode::None && !known { ErrorCode::UnknownTopicOrPartition } else { code };
                    OffsetCommitResponsePartition { partition_index: p.partition_index, error_code: error.code() }
                })
                .collect();
            OffsetCommitResponseTopic { name: t.name, partitions }
        })
        .collect();
    OffsetCommitResponse { throttle_time_ms: 0, topics }
}
