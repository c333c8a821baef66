//! ListOffsets: the earliest offset (-2), the latest (-1: the high watermark for consumers, the
//! last stable offset for `read_committed` ones, the log end for followers), the record with the
//! largest timestamp (-3), the earliest local offset (-4, v8: the earliest, every segment being
//! local), the last tiered offset (-5, v9: -1, nothing being tiered), or the first offset whose
//! timestamp is at or after the one asked for.
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
use sluice_storage::{EARLIEST_LOCAL_TIMESTAMP, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, TopicPartition};

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
                    // KIP-207: a leader elected with a high watermark behind the start of its
                    // epoch does not know the committed end yet (its followers have not fetched
                    // since); a client asking for the end, or for a record past what it may
                    // read, is told OFFSET_NOT_AVAILABLE and retries rather than be given a
                    // stale offset.
                    let hw_lags_epoch = !for_follower
                        && partition.leader_epoch_start_offset().is_some_and(|start| start > offsets.high_watermark);
                    if p.timestamp == LATEST_TIMESTAMP {
                        if hw_lags_epoch {
                            out.error_code = ErrorCode::OffsetNotAvailable.code();
                        } else {
                            out.offset = bound;
                            out.leader_epoch = leader_epoch;
                        }
                        return out;
                    }
                    match partition.fetch_offset_by_timestamp(p.timestamp) {
                        Ok(Some(found))
                            if found.offset < bound
                                || p.timestamp == EARLIEST_TIMESTAMP
                                || p.timestamp == EARLIEST_LOCAL_TIMESTAMP =>
                        {
                            out.timestamp = found.timestamp;
                            out.offset = found.offset;
                            out.leader_epoch = found.leader_epoch.unwrap_or(-1);
                        }
                        Ok(_) if hw_lags_epoch => out.error_code = ErrorCode::OffsetNotAvailable.code(),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use sluice_protocol::RecordBatchBuilder;
    use sluice_protocol::api::{ApiKey, RequestHeader};
    use sluice_protocol::messages::{ListOffsetsRequestPartition, ListOffsetsRequestTopic};
    use sluice_storage::{LogConfig, LogManager, LogManagerConfig, SystemClock};

    use super::*;
    use crate::api::Session;
    use crate::cluster::cache::{ClusterView, TopicView, VersionedState};
    use crate::cluster::znodes::PartitionState;
    use crate::memory_pool::Reservation;

    const LEADER: i32 = 1;
    const FOLLOWER: i32 = 2;
    const TOPIC: &str = "t";
    const RECORDS: i64 = 3;
    const FIRST_TIMESTAMP: i64 = 1_700_000_000_000;

    /// Broker 1 takes the leadership of `t-0` (follower 2 in the ISR) with three records in its
    /// log and a high watermark of 0, as a replica restarted from a stale checkpoint would.
    fn leader_with_lagging_high_watermark(dir: &std::path::Path) -> ReplicaManager {
        let logs = Arc::new(
            LogManager::open(LogManagerConfig::new(vec![dir.to_path_buf()]), Arc::new(SystemClock)).expect("open"),
        );
        let log = logs.get_or_create_log(&TopicPartition::new(TOPIC, 0), LogConfig::default()).expect("log");
        for i in 0..RECORDS {
            let mut b = RecordBatchBuilder::new(FIRST_TIMESTAMP + i);
            b.append(FIRST_TIMESTAMP + i, None, Some(b"v"), &[]);
            log.write().append_as_leader(&b.build(), 0).expect("append");
        }
        let state = VersionedState {
            state: PartitionState {
                version: 1,
                leader: LEADER,
                leader_epoch: 1,
                isr: vec![LEADER, FOLLOWER],
                controller_epoch: 1,
            },
            zk_version: 0,
        };
        let topic = TopicView {
            assignment: BTreeMap::from([(0, vec![LEADER, FOLLOWER])]),
            states: BTreeMap::from([(0, state)]),
            ..Default::default()
        };
        let view =
            ClusterView { synced: true, topics: BTreeMap::from([(TOPIC.to_string(), topic)]), ..Default::default() };
        let rm = ReplicaManager::new(LEADER, logs, Arc::new(SystemClock), 1);
        rm.apply_view(&ClusterView::default(), &view, |_| (LogConfig::default(), 1));
        rm
    }

    /// Partition 0's answer to ListOffsets v7 from `replica_id` for `timestamp`.
    fn list(rm: &ReplicaManager, replica_id: i32, timestamp: i64) -> ListOffsetsResponsePartition {
        let header =
            RequestHeader { api_key: ApiKey::ListOffsets as i16, api_version: 7, correlation_id: 1, client_id: None };
        let session = Session { principal: "User:ANONYMOUS".into(), host: [127, 0, 0, 1].into() };
        let memory = parking_lot::Mutex::new(Reservation::default());
        let ctx = RequestContext {
            header: &header,
            listener: "PLAINTEXT",
            peer: "127.0.0.1:1".parse().expect("address"),
            session: &session,
            authorizer: None,
            over_tls: false,
            response_memory: &memory,
            remote_nanos: &std::sync::atomic::AtomicU64::new(0),
        };
        let request = ListOffsetsRequest {
            replica_id,
            isolation_level: 0,
            timeout_ms: 0,
            topics: vec![ListOffsetsRequestTopic {
                name: TOPIC.into(),
                partitions: vec![ListOffsetsRequestPartition { partition_index: 0, timestamp, ..Default::default() }],
            }],
        };
        let mut response = handle(ctx, rm, request);
        response.topics.remove(0).partitions.remove(0)
    }

    #[test]
    fn a_leader_whose_high_watermark_lags_its_epoch_start_answers_offset_not_available() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rm = leader_with_lagging_high_watermark(dir.path());
        let partition = rm.partition(&TopicPartition::new(TOPIC, 0)).expect("hosted");
        assert_eq!(partition.leader_epoch_start_offset(), Some(RECORDS));
        assert_eq!(partition.high_watermark(), 0);

        let not_available = ErrorCode::OffsetNotAvailable.code();
        assert_eq!(list(&rm, -1, LATEST_TIMESTAMP).error_code, not_available, "the end is not known yet");
        assert_eq!(list(&rm, -1, FIRST_TIMESTAMP + 1).error_code, not_available, "a record past the high watermark");
        let earliest = list(&rm, -1, EARLIEST_TIMESTAMP);
        assert_eq!((earliest.error_code, earliest.offset), (0, 0), "the log start is known");
        let follower = list(&rm, FOLLOWER, LATEST_TIMESTAMP);
        assert_eq!((follower.error_code, follower.offset), (0, RECORDS), "a follower is told the log end");

        // The follower fetches from the end: the high watermark reaches the epoch start.
        rm.record_follower_fetch(&partition, FOLLOWER, RECORDS);
        assert_eq!(partition.high_watermark(), RECORDS);
        let latest = list(&rm, -1, LATEST_TIMESTAMP);
        assert_eq!((latest.error_code, latest.offset, latest.leader_epoch), (0, RECORDS, 1));
        let found = list(&rm, -1, FIRST_TIMESTAMP + 1);
        assert_eq!((found.error_code, found.offset, found.timestamp), (0, 1, FIRST_TIMESTAMP + 1));
        // v8's earliest local offset is the log start (every segment is local); v9's last
        // tiered offset is -1 (nothing is tiered), Kafka's answers without remote storage.
        let local = list(&rm, -1, sluice_storage::EARLIEST_LOCAL_TIMESTAMP);
        assert_eq!((local.error_code, local.offset, local.timestamp), (0, 0, -1));
        let tiered = list(&rm, -1, sluice_storage::LATEST_TIERED_TIMESTAMP);
        assert_eq!((tiered.error_code, tiered.offset, tiered.leader_epoch), (0, -1, -1));
    }
}
