//! Produce: validate acks, append each partition's batches through the `ReplicaManager`, and
//! answer per partition. `acks=0` gets no response at all, as in Kafka.

use std::time::Duration;

use sluice_protocol::messages::{ProduceRequest, ProduceResponse, ProduceResponsePartition, ProduceResponseTopic};
use sluice_storage::TopicPartition;

use super::RequestContext;
use crate::error::ErrorCode;

pub async fn handle(ctx: RequestContext<'_>, request: ProduceRequest) -> Option<ProduceResponse> {
    let acks = request.acks;
    let timeout = Duration::from_millis(request.timeout_ms.max(0) as u64);
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let mut partition_responses = Vec::with_capacity(topic.partition_data.len());
        for partition in topic.partition_data {
            let tp = TopicPartition::new(topic.name.clone(), partition.index);
            let reply = |error: ErrorCode, base_offset: i64, log_start_offset: i64| ProduceResponsePartition {
                index: partition.index,
                error_code: error.code(),
                base_offset,
                log_append_time_ms: -1,
                log_start_offset,
                ..Default::default()
            };
            if !matches!(acks, -1..=1) {
                partition_responses.push(reply(ErrorCode::InvalidRequiredAcks, -1, -1));
                continue;
            }
            let Some(records) = partition.records.filter(|r| !r.is_empty()) else {
                partition_responses.push(reply(ErrorCode::CorruptMessage, -1, -1));
                continue;
            };
            // The batch's offset and epoch fields are rewritten in place: take the bytes out of
            // the shared request frame.
            let mut records = records.to_vec();
            let result = ctx.broker.replica_manager.append(&tp, &mut records, acks, timeout).await;
            partition_responses.push(reply(result.error, result.base_offset, result.log_start_offset));
        }
        responses.push(ProduceResponseTopic { name: topic.name, partition_responses });
    }
    (acks != 0).then_some(ProduceResponse { responses, throttle_time_ms: 0 })
}
