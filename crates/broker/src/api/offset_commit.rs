//! OffsetCommit: record a group's consumed positions, per partition, in `__consumer_offsets`
//! and then in memory (the answer waits until the records are written; a failed write leaves
//! the cached offsets as they were).

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
        let code = g.validate_commit(
            now,
            &request.group_id,
            &request.member_id,
            request.generation_id_or_member_epoch,
            request.group_instance_id.as_deref(),
        );
        (code, now)
    });
    // Written first; only what was written enters the cache (a failed write changes nothing).
    if code == ErrorCode::None {
        let entries: Vec<((String, i32), Option<CommittedOffset>)> = offsets
            .iter()
            .map(|(tp, offset, leader_epoch, metadata)| {
                let committed = CommittedOffset {
                    offset: *offset,
                    leader_epoch: *leader_epoch,
                    metadata: metadata.clone(),
                    commit_timestamp_ms: now,
                };
                (tp.clone(), Some(committed))
            })
            .collect();
        match offsets_log::append(ctx.broker, &request.group_id, &entries).await {
            Ok(log_offset) => {
                ctx.broker.groups.with_groups(|g, _| g.apply_commit(now, &request.group_id, offsets, log_offset))
            }
            Err(e) => {
                tracing::warn!(group = %request.group_id, error = e.name(), "persisting committed offsets failed");
                code = e;
            }
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
