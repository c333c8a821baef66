//! OffsetFetch: a group's committed offsets (-1 where none), for some partitions or all; v8
//! asks for several groups at once. With `require_stable` (v7+, KIP-447) a partition whose
//! offset a transaction has written but not yet ended answers UNSTABLE_OFFSET_COMMIT, so the
//! consumer retries instead of starting from an offset about to change.
//!
//! v0 reads the same offsets as v1 (Kafka 3.9 read v0 from ZooKeeper, where its OffsetCommit v0
//! wrote; here both versions commit to the group, see `offset_commit`). v0 and v1 have no
//! group-level error code: a coordinator error is given on every partition asked for.

use std::collections::BTreeMap;

use sluice_protocol::messages::{
    OffsetFetchRequest, OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponseGroupPartition,
    OffsetFetchResponseGroupTopic, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::group::offsets_log::GroupLog;
use crate::group::state::CommittedOffset;

/// A topic's partitions with their committed offsets (None where nothing was committed) and
/// their error code (UNSTABLE_OFFSET_COMMIT or none).
type TopicOffsets = (String, Vec<(i32, Option<CommittedOffset>, i16)>);

/// The committed offsets of the partitions asked for (all committed ones when `None`).
/// The committed offsets asked for (`None`: every one). A topic the principal may not describe
/// is TOPIC_AUTHORIZATION_FAILED on each partition when named, and left out of "every one".
fn lookup(
    ctx: &RequestContext<'_>,
    log: GroupLog<'_>,
    group_id: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Vec<TopicOffsets> {
    let describable = |t: &str| ctx.authorize(Operation::Describe, ResourceType::Topic, t);
    let committed: BTreeMap<(String, i32), CommittedOffset> =
        log.groups.with_groups(|g, _| g.fetch_offsets(group_id).cloned().unwrap_or_default());
    let row = |t: &str, p: i32, c: Option<CommittedOffset>| {
        if require_stable && log.groups.has_pending_txn_offset(group_id, &(t.to_string(), p)) {
            (p, None, ErrorCode::UnstableOffsetCommit.code())
        } else {
            (p, c, 0)
        }
    };
    match wanted {
        Some(topics) => topics
            .into_iter()
            .map(|(name, parts)| {
                if !describable(&name) {
                    let refused = ErrorCode::TopicAuthorizationFailed.code();
                    return (name, parts.into_iter().map(|p| (p, None, refused)).collect());
                }
                let rows =
                    parts.into_iter().map(|p| row(&name, p, committed.get(&(name.clone(), p)).cloned())).collect();
                (name, rows)
            })
            .collect(),
        None => {
            let mut by_topic: BTreeMap<String, Vec<(i32, Option<CommittedOffset>, i16)>> = BTreeMap::new();
            for ((t, p), c) in committed {
                if !describable(&t) {
                    continue;
                }
                let r = row(&t, p, Some(c));
                by_topic.entry(t).or_default().push(r);
            }
            by_topic.into_iter().collect()
        }
    }
}

pub async fn handle(ctx: RequestContext<'_>, log: GroupLog<'_>, request: OffsetFetchRequest) -> OffsetFetchResponse {
    if ctx.version() == 0 {
        // As for OffsetCommit v0: sent to any broker, maybe before `__consumer_offsets` exists.
        let _ = crate::group::offsets_log::ensure_topic(log).await;
    }
    if ctx.version() >= 8 {
        let mut groups = Vec::with_capacity(request.groups.len());
        for g in request.groups {
            let ready = match ctx.group_access(Operation::Describe, &g.group_id) {
                Ok(()) => crate::group::offsets_log::check_coordinator(log, &g.group_id).await,
                refused => refused,
            };
            // v9: a member of a consumer-protocol group fetches with its current epoch.
            let ready = ready.and_then(|()| {
                let member = g.member_id.as_deref().unwrap_or_default();
                log.groups.with_groups(|groups, _| match groups.group(&g.group_id).and_then(|x| x.consumer.as_ref()) {
                    Some(consumer) => {
                        crate::group::consumer::validate_offsets_access(consumer, member, g.member_epoch, None)
                    }
                    None => Ok(()),
                })
            });
            if let Err(code) = ready {
                groups.push(OffsetFetchResponseGroup {
                    group_id: g.group_id,
                    topics: Vec::new(),
                    error_code: code.code(),
                });
                continue;
            }
            let wanted = g.topics.map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect());
            let topics = lookup(&ctx, log, &g.group_id, wanted, request.require_stable)
                .into_iter()
                .map(|(name, rows)| OffsetFetchResponseGroupTopic {
                    name,
                    partitions: rows
                        .into_iter()
                        .map(|(p, c, error_code)| OffsetFetchResponseGroupPartition {
                            partition_index: p,
                            committed_offset: c.as_ref().map_or(-1, |c| c.offset),
                            committed_leader_epoch: c.as_ref().map_or(-1, |c| c.leader_epoch),
                            metadata: Some(c.and_then(|c| c.metadata).unwrap_or_default()),
                            error_code,
                        })
                        .collect(),
                })
                .collect();
            groups.push(OffsetFetchResponseGroup { group_id: g.group_id, topics, error_code: 0 });
        }
        return OffsetFetchResponse { groups, ..Default::default() };
    }
    let ready = match ctx.group_access(Operation::Describe, &request.group_id) {
        Ok(()) => crate::group::offsets_log::check_coordinator(log, &request.group_id).await,
        refused => refused,
    };
    if let Err(code) = ready {
        if ctx.version() >= 2 {
            return OffsetFetchResponse { error_code: code.code(), ..Default::default() };
        }
        // v0 and v1 have no group-level error: each partition asked for carries it.
        let topics = request
            .topics
            .unwrap_or_default()
            .into_iter()
            .map(|t| OffsetFetchResponseTopic {
                name: t.name,
                partitions: t
                    .partition_indexes
                    .into_iter()
                    .map(|p| OffsetFetchResponsePartition {
                        partition_index: p,
                        committed_offset: -1,
                        metadata: Some(String::new()),
                        error_code: code.code(),
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect();
        return OffsetFetchResponse { topics, ..Default::default() };
    }
    let wanted = request.topics.map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect());
    let topics = lookup(&ctx, log, &request.group_id, wanted, request.require_stable)
        .into_iter()
        .map(|(name, rows)| OffsetFetchResponseTopic {
            name,
            partitions: rows
                .into_iter()
                .map(|(p, c, error_code)| OffsetFetchResponsePartition {
                    partition_index: p,
                    committed_offset: c.as_ref().map_or(-1, |c| c.offset),
                    committed_leader_epoch: c.as_ref().map_or(-1, |c| c.leader_epoch),
                    metadata: Some(c.and_then(|c| c.metadata).unwrap_or_default()),
                    error_code,
                })
                .collect(),
        })
        .collect();
    OffsetFetchResponse { topics, ..Default::default() }
}
