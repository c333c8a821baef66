//! OffsetCommit: record a group's consumed positions, per partition, in `__consumer_offsets`
//! and then in memory (the answer waits until the records are written; a failed write leaves
//! the cached offsets as they were).
//!
//! Old versions, as Kafka's group coordinator takes them:
//! - v0 names no generation and no member (they decode to -1 and ""): a standalone commit,
//!   accepted while the group has no members, UNKNOWN_MEMBER_ID otherwise
//!   (`ClassicGroup.validateOffsetCommit`). Kafka 3.9 wrote v0 commits to ZooKeeper, apart from
//!   the group's offsets, and refuses them in KRaft mode; here they are the group's offsets, so
//!   OffsetFetch v0 and v1+ both read them back. Such clients send v0 to any broker, never
//!   asking for the coordinator, so v0 creates `__consumer_offsets` when it does not exist;
//!   in a cluster a v0 commit sent to a broker other than the group's coordinator is answered
//!   NOT_COORDINATOR (ZooKeeper let every broker take it).
//! - v1 adds the generation and member id, checked as in later versions, and a commit time per
//!   partition: the client's time, when it gives one (not -1), becomes the offset's commit time,
//!   from which `offsets.retention.minutes` counts (`OffsetAndMetadata.fromRequest`); the
//!   records themselves carry the coordinator's time.
//! - v2 to v4's `retention_time_ms` is not honoured: every offset keeps the broker's retention.
//!
//! Bounds, as Kafka's `KafkaApis.handleOffsetCommitRequest` and `storeOffsets`: a partition of
//! a topic that does not exist is answered UNKNOWN_TOPIC_OR_PARTITION and neither written nor
//! cached (so a group's offsets are at most the cluster's partitions, not whatever names a
//! client makes up); metadata over `offset.metadata.max.bytes` is answered
//! OFFSET_METADATA_TOO_LARGE for its partition while the others are committed. A request with
//! no existing partition is answered without touching the group, as in Kafka.

use sluice_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::group::offsets_log;
use crate::group::offsets_log::GroupLog;
use crate::group::state::CommittedOffset;

/// A v1 partition's `commit_timestamp` meaning "now, by the coordinator's clock" (Kafka's
/// `OffsetCommitRequest.DEFAULT_TIMESTAMP`); what later versions decode to.
const DEFAULT_COMMIT_TIMESTAMP: i64 = -1;

pub async fn handle(ctx: RequestContext<'_>, log: GroupLog<'_>, request: OffsetCommitRequest) -> OffsetCommitResponse {
    // READ on the group, else GROUP_AUTHORIZATION_FAILED on every partition (the response has
    // no top-level error).
    let group_refused = ctx.group_access(Operation::Read, &request.group_id).err();
    // Each partition's own verdict, before the group's: a topic the principal may not read,
    // unknown, metadata too large, or to write.
    let verdicts: Vec<Vec<ErrorCode>> = request
        .topics
        .iter()
        .map(|t| {
            let partitions = log.admin.cluster.topic_meta(&t.name).map(|m| m.partitions);
            let readable = group_refused.is_some() || ctx.authorize(Operation::Read, ResourceType::Topic, &t.name);
            t.partitions
                .iter()
                .map(|p| {
                    if let Some(code) = group_refused {
                        code
                    } else if !readable {
                        ErrorCode::TopicAuthorizationFailed
                    } else if !partitions.is_some_and(|n| p.partition_index >= 0 && p.partition_index < n) {
                        ErrorCode::UnknownTopicOrPartition
                    } else if !log.config.offset_metadata_fits(p.committed_metadata.as_deref()) {
                        ErrorCode::OffsetMetadataTooLarge
                    } else {
                        ErrorCode::None
                    }
                })
                .collect()
        })
        .collect();
    let refused = |v: ErrorCode| {
        matches!(
            v,
            ErrorCode::UnknownTopicOrPartition
                | ErrorCode::TopicAuthorizationFailed
                | ErrorCode::GroupAuthorizationFailed
        )
    };
    let any_known = verdicts.iter().flatten().any(|&v| !refused(v));
    // (partition, offset, leader epoch, metadata, the client's commit time or -1)
    let mut offsets = Vec::new();
    for (t, verdicts) in request.topics.iter().zip(&verdicts) {
        for (p, &verdict) in t.partitions.iter().zip(verdicts) {
            if verdict == ErrorCode::None {
                offsets.push((
                    (t.name.clone(), p.partition_index),
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.committed_metadata.clone(),
                    p.commit_timestamp,
                ));
            }
        }
    }
    let mut code = ErrorCode::None;
    if any_known {
        code = commit(&ctx, log, &request, offsets).await;
    }
    let topics = request
        .topics
        .into_iter()
        .zip(verdicts)
        .map(|(t, verdicts)| {
            assert_eq!(t.partitions.len(), verdicts.len(), "one verdict per partition of {}", t.name);
            let partitions = t
                .partitions
                .iter()
                .zip(verdicts)
                .map(|(p, verdict)| {
                    // Unknown partitions first (Kafka filters them before the coordinator), then
                    // the group's answer, then the partition's metadata.
                    let error = match verdict {
                        v if refused(v) => v,
                        _ if code != ErrorCode::None => code,
                        _ => verdict,
                    };
                    OffsetCommitResponsePartition { partition_index: p.partition_index, error_code: error.code() }
                })
                .collect();
            OffsetCommitResponseTopic { name: t.name, partitions }
        })
        .collect();
    OffsetCommitResponse { throttle_time_ms: 0, topics }
}

/// The offset entry OffsetCommit writes: (partition, offset, leader epoch, metadata, commit
/// time from the client or -1).
type OffsetEntry = ((String, i32), i64, i32, Option<String>, i64);

/// Checks the group and writes `offsets` (those of the request that passed their own checks),
/// then caches what was written; returns the group's answer for the whole request.
async fn commit(
    ctx: &RequestContext<'_>,
    log: GroupLog<'_>,
    request: &OffsetCommitRequest,
    offsets: Vec<OffsetEntry>,
) -> ErrorCode {
    if ctx.version() == 0 {
        // Clients of Kafka 0.8.1's time send v0 to any broker without looking up a coordinator
        // (Kafka kept v0 offsets in ZooKeeper): nothing may have created the topic yet.
        let _ = offsets_log::ensure_topic(log).await;
    }
    let coordinator = offsets_log::check_coordinator(log, &request.group_id).await;
    let (code, now) = log.groups.with_groups(|g, now| {
        if let Err(code) = coordinator {
            return (code, now);
        }
        let code = g.validate_commit(
            now,
            &request.group_id,
            &request.member_id,
            request.generation_id_or_member_epoch,
            request.group_instance_id.as_deref(),
            ctx.version(),
            false,
        );
        (code, now)
    });
    // Written first; only what was written enters the cache (a failed write changes nothing).
    if code != ErrorCode::None || offsets.is_empty() {
        return code;
    }
    let committed: Vec<((String, i32), CommittedOffset)> = offsets
        .into_iter()
        .map(|(tp, offset, leader_epoch, metadata, client_time)| {
            let commit_timestamp_ms = if client_time == DEFAULT_COMMIT_TIMESTAMP { now } else { client_time };
            (tp, CommittedOffset { offset, leader_epoch, metadata, commit_timestamp_ms })
        })
        .collect();
    let entries: Vec<((String, i32), Option<CommittedOffset>)> =
        committed.iter().map(|(tp, c)| (tp.clone(), Some(c.clone()))).collect();
    match offsets_log::append_at(log, &request.group_id, now, &entries).await {
        Ok(log_offset) => {
            log.groups.with_groups(|g, _| g.apply_committed(&request.group_id, committed, log_offset));
            ErrorCode::None
        }
        Err(e) => {
            tracing::warn!(group = %request.group_id, error = e.name(), "persisting committed offsets failed");
            e
        }
    }
}
