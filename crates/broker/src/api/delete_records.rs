//! DeleteRecords: move each partition's log start offset up (to the high watermark for -1), on
//! the partition's leader only (NOT_LEADER_OR_FOLLOWER elsewhere), never past the high watermark
//! (OFFSET_OUT_OF_RANGE), as Kafka's `ReplicaManager.deleteRecords`.

use sluice_protocol::messages::{
    DeleteRecordsRequest, DeleteRecordsResponse, DeleteRecordsResponsePartition, DeleteRecordsResponseTopic,
};
use sluice_storage::TopicPartition;

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::{ErrorCode, storage_error_code};
use crate::replica_manager::ReplicaManager;

/// DELETE on each topic (TOPIC_AUTHORIZATION_FAILED on its partitions).
pub fn handle(
    ctx: RequestContext<'_>,
    replicas: &ReplicaManager,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let rm = replicas;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let allowed = ctx.authorize(Operation::Delete, ResourceType::Topic, &topic.name);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let tp = TopicPartition::new(topic.name.clone(), p.partition_index);
                    let mut out = DeleteRecordsResponsePartition {
                        partition_index: p.partition_index,
                        low_watermark: -1,
                        error_code: 0,
                    };
                    if !allowed {
                        out.error_code = ErrorCode::TopicAuthorizationFailed.code();
                        return out;
                    }
                    let partition = match rm.partition_or_error(&tp) {
                        Ok(partition) => partition,
                        Err(code) => {
                            out.error_code = code.code();
                            return out;
                        }
                    };
                    // Only the leader moves a log start offset; followers follow it from the
                    // leader's fetch answers.
                    if let Err(code) = partition.check_leader(-1) {
                        out.error_code = code.code();
                        return out;
                    }
                    let target = if p.offset == -1 { partition.high_watermark() } else { p.offset };
                    if target < 0 || target > partition.high_watermark() {
                        out.error_code = ErrorCode::OffsetOutOfRange.code();
                        return out;
                    }
                    match rm.log_manager().delete_records(&tp, target) {
                        Ok(start) => out.low_watermark = start,
                        Err(e) => out.error_code = storage_error_code(&e).code(),
                    }
                    out
                })
                .collect();
            DeleteRecordsResponseTopic { name: topic.name, partitions }
        })
        .collect();
    DeleteRecordsResponse { throttle_time_ms: 0, topics }
}
