//! OffsetCommit: record a group's consumed positions, per partition, in memory and in
//! `__consumer_offsets` (the answer waits until the records are written).

use sluice_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};

use super::RequestContext;
use crate::error::ErrorCode;
use crate::group::offsets_log;
use crate::group::state::CommittedOffset;

pub async fn handle(ctx: RequestContext<'_>, request: OffsetCommitRequest) -> OffsetCommitResponse {
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
    let coordinator = offsets_log::check_coordinator(ctx.broker, &request.group_id);
    let (mut code, now) = ctx.broker.groups.with_groups(|g, now| {
        if let Err(code) = coordinator {
            return (code, now);
        }
        let code = g.commit_offsets(
            now,
            &request.group_id,
            &request.member_id,
            request.generation_id_or_member_epoch,
            request.group_instance_id.as_deref(),
            offsets.clone(),
        );
        (code, now)
    });
    if code == ErrorCode::None {
        let entries: Vec<((String, i32), Option<CommittedOffset>)> = offsets
            .into_iter()
            .map(|(tp, offset, leader_epoch, metadata)| {
                (tp, Some(CommittedOffset { offset, leader_epoch, metadata, commit_timestamp_ms: now }))
            })
            .collect();
        if let Err(e) = offsets_log::append(ctx.broker, &request.group_id, &entries).await {
            tracing::warn!(group = %request.group_id, error = e.name(), "persisting committed offsets failed");
            code = e;
        }
    }
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
                        .topic_meta(&t.name)
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
