//! ListOffsets: the earliest offset (-2), the latest (-1: the high watermark for consumers, the
//! last stable offset for `read_committed` ones, the log end for followers), the record with the largest timestamp (-3), or the first offset
//! whose timestamp is at or after the one asked for.

use sluice_protocol::messages::{
    ListOffsetsRequest, ListOffsetsResponse, ListOffsetsResponsePartition, ListOffsetsResponseTopic,
};
use sluice_storage::{LATEST_TIMESTAMP, TopicPartition};

use super::RequestContext;
use crate::error::{ErrorCode, storage_error_code};

pub fn handle(ctx: RequestContext<'_>, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let rm = &ctx.broker.replica_manager;
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
                    let Some(partition) = rm.partition(&TopicPartition::new(topic.name.clone(), p.partition_index))
                    else {
                        out.error_code = ErrorCode::UnknownTopicOrPartition.code();
                        return out;
                    };
                    if !for_follower && let Err(code) = partition.check_leader(p.current_leader_epoch) {
                        out.error_code = code.code();
                        return out;
                    }
                    let leader_epoch = partition.leader_epoch();
                    let log = partition.log.read();
                    let bound = if for_follower {
                        log.log_end_offset()
                    } else if request_isolation == super::fetch::READ_COMMITTED {
                        log.last_stable_offset()
                    } else {
                        log.high_watermark()
                    };
                    if p.timestamp == LATEST_TIMESTAMP {
                        out.offset = bound;
                        out.leader_epoch = leader_epoch;
                        return out;
                    }
                    match log.fetch_offset_by_timestamp(p.timestamp) {
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
