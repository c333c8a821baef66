//! ListOffsets: the earliest offset (-2), the latest (-1: the high watermark for consumers, the
//! last stable offset for `read_committed` ones, the log end for followers), the record with the largest timestamp (-3), or the first offset
//! whose timestamp is at or after the one asked for.
//!
//! Version 0 (Kafka's `legacyFetchOffsetsBefore`) answers by segment instead: up to
//! `max_num_offsets` segment base offsets, newest first, of the segments last modified at or
//! before the timestamp (-1: from the log end, -2: from the first segment), the log end
//! counting as a segment modified now; a consumer's list starts at the high watermark at most.

use std::path::PathBuf;

use sluice_protocol::messages::{
    ListOffsetsRequest, ListOffsetsResponse, ListOffsetsResponsePartition, ListOffsetsResponseTopic,
};
use sluice_storage::segment::{LOG_FILE_SUFFIX, segment_file};
use sluice_storage::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, TopicPartition};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::{ErrorCode, storage_error_code};
use crate::replica_manager::Partition;
use crate::replica_manager::ReplicaManager;

/// `replica_id` of a consumer.
const CONSUMER_REPLICA_ID: i32 = -1;
/// `replica_id` of a debugging consumer (v0: may ask any replica, not only the leader).
const DEBUGGING_REPLICA_ID: i32 = -2;

pub fn handle(
    ctx: RequestContext<'_>,
    replicas: &ReplicaManager,
    mut request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    // DESCRIBE on each topic; refused topics are answered TOPIC_AUTHORIZATION_FAILED per
    // partition, after the others.
    let (allowed, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| ctx.authorize(Operation::Describe, ResourceType::Topic, &t.name));
    request.topics = allowed;
    let mut response = answer(ctx, replicas, request);
    response.topics.extend(refused.into_iter().map(|t| {
        ListOffsetsResponseTopic {
            name: t.name,
            partitions: t
                .partitions
                .into_iter()
                .map(|p| ListOffsetsResponsePartition {
                    partition_index: p.partition_index,
                    error_code: ErrorCode::TopicAuthorizationFailed.code(),
                    timestamp: -1,
                    offset: -1,
                    leader_epoch: -1,
                    ..Default::default()
                })
                .collect(),
        }
    }));
    response
}

fn answer(ctx: RequestContext<'_>, replicas: &ReplicaManager, request: ListOffsetsRequest) -> ListOffsetsResponse {
    if ctx.version() == 0 {
        return handle_v0(replicas, request);
    }
    let rm = replicas;
    let for_follower = request.replica_id >= 0;
    let request_isolation = request.isolation_level;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let mut out = ListOffsetsResponsePartition {
                        partition_index: p.partition_index,
                        timestamp: -1,
                        offset: -1,
                        leader_epoch: -1,
                        ..Default::default()
                    };
                    let partition =
                        match rm.partition_or_error(&TopicPartition::new(topic.name.clone(), p.partition_index)) {
                            Ok(partition) => partition,
                            Err(code) => {
                                out.error_code = code.code();
                                return out;
                            }
                        };
                    if !for_follower && let Err(code) = partition.check_leader(p.current_leader_epoch) {
                        out.error_code = code.code();
                        return out;
                    }
                    let leader_epoch = partition.leader_epoch();
                    let offsets = partition.offsets();
                    let bound = if for_follower {
                        offsets.log_end_offset
                    } else if request_isolation == super::fetch::READ_COMMITTED {
                        offsets.last_stable_offset
                    } else {
                        offsets.high_watermark
                    };
                    if p.timestamp == LATEST_TIMESTAMP {
                        out.offset = bound;
                        out.leader_epoch = leader_epoch;
                        return out;
                    }
                    match partition.fetch_offset_by_timestamp(p.timestamp) {
                        Ok(Some(found)) if found.offset < bound || p.timestamp < 0 => {
                            out.timestamp = found.timestamp;
                            out.offset = found.offset;
                            out.leader_epoch = found.leader_epoch.unwrap_or(-1);
                        }
                        Ok(_) => {}
                        Err(e) => out.error_code = storage_error_code(&e).code(),
                    }
                    out
                })
                .collect();
            ListOffsetsResponseTopic { name: topic.name, partitions }
        })
        .collect();
    ListOffsetsResponse { throttle_time_ms: 0, topics }
}

/// ListOffsets v0: `old_style_offsets` per partition.
fn handle_v0(replicas: &ReplicaManager, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let rm = replicas;
    let from_consumer = request.replica_id == CONSUMER_REPLICA_ID;
    let only_leader = request.replica_id != DEBUGGING_REPLICA_ID;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let mut out =
                        ListOffsetsResponsePartition { partition_index: p.partition_index, ..Default::default() };
                    // Of the negative timestamps v0 knows only latest (-1) and earliest (-2).
                    if p.timestamp < EARLIEST_TIMESTAMP {
                        out.error_code = ErrorCode::UnsupportedVersion.code();
                        return out;
                    }
                    let tp = TopicPartition::new(topic.name.clone(), p.partition_index);
                    match rm.partition_or_error(&tp) {
                        Err(code) => out.error_code = code.code(),
                        Ok(partition) => match partition.check_leader(-1) {
                            Err(code) if only_leader => out.error_code = code.code(),
                            _ => {
                                out.old_style_offsets = old_style_offsets(
                                    &partition,
                                    p.timestamp,
                                    p.max_num_offsets,
                                    from_consumer,
                                    rm.now_ms(),
                                )
                            }
                        },
                    }
                    out
                })
                .collect();
            ListOffsetsResponseTopic { name: topic.name, partitions }
        })
        .collect();
    ListOffsetsResponse { throttle_time_ms: 0, topics }
}

/// The offsets of ListOffsets v0 for one partition (Kafka's `legacyFetchOffsetsBefore`, then
/// `legacyFetchOffsetsForTimestamp`'s high watermark cap for consumers). A negative
/// `max_num_offsets` asks for nothing.
fn old_style_offsets(
    partition: &Partition,
    timestamp: i64,
    max_num_offsets: i32,
    from_consumer: bool,
    now_ms: i64,
) -> Vec<i64> {
    // The log's state under its lock; the segment files' times are read after it.
    let summary = partition.segment_summary();
    let (dir, bases) = (summary.dir, summary.base_offsets);
    let (log_start, log_end, hw) =
        (summary.offsets.log_start_offset, summary.offsets.log_end_offset, summary.offsets.high_watermark);
    let active_has_data = log_end > summary.active_base_offset;
    // (offset, last modified) per segment, and the log end as of now after a non-empty last one.
    let mut points: Vec<(i64, i64)> = bases
        .iter()
        .map(|&base| (base.max(log_start), last_modified_ms(segment_file(&dir, base, LOG_FILE_SUFFIX))))
        .collect();
    if active_has_data {
        points.push((log_end, now_ms));
    }
    // The newest point to answer from, if any.
    let start = match timestamp {
        LATEST_TIMESTAMP => points.len().checked_sub(1),
        EARLIEST_TIMESTAMP => (!points.is_empty()).then_some(0),
        _ => points.iter().rposition(|&(_, modified)| modified <= timestamp),
    };
    let Some(start) = start else { return Vec::new() };
    let wanted = usize::try_from(max_num_offsets).unwrap_or(0);
    let mut offsets: Vec<i64> = points[..=start].iter().rev().take(wanted).map(|&(offset, _)| offset).collect();
    offsets.sort_unstable_by(|a, b| b.cmp(a));
    if from_consumer && offsets.iter().any(|&o| o > hw) {
        offsets.retain(|&o| o <= hw);
        offsets.insert(0, hw);
    }
    offsets
}

/// A segment file's modification time in ms (Kafka's `LogSegment.lastModified`); 0 when it
/// cannot be read (a segment deleted meanwhile counts as very old).
fn last_modified_ms(path: PathBuf) -> i64 {
    std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
