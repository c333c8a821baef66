//! DescribeProducers (KIP-664): the idempotent and transactional producers with state in
//! partitions this broker leads, as `kafka-transactions.sh describe-producers` and `sluice
//! transaction producers` show them (for finding a transaction that hangs a partition's last
//! stable offset). As Kafka: READ on each topic (TOPIC_AUTHORIZATION_FAILED per partition),
//! UNKNOWN_TOPIC_OR_PARTITION for a partition not hosted here, NOT_LEADER_OR_FOLLOWER for one
//! it does not lead.

use sluice_protocol::messages::{
    DescribeProducersRequest, DescribeProducersResponse, DescribeProducersResponsePartition,
    DescribeProducersResponseProducer, DescribeProducersResponseTopic,
};
use sluice_storage::TopicPartition;

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::replica_manager::ReplicaManager;

pub fn handle(
    ctx: RequestContext<'_>,
    replicas: &ReplicaManager,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let allowed = ctx.authorize(Operation::Read, ResourceType::Topic, &t.name);
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&partition_index| {
                    let mut out = DescribeProducersResponsePartition { partition_index, ..Default::default() };
                    let found = if allowed {
                        describe(replicas, &TopicPartition::new(t.name.clone(), partition_index))
                    } else {
                        Err(ErrorCode::TopicAuthorizationFailed)
                    };
                    match found {
                        Ok(producers) => out.active_producers = producers,
                        Err(code) => out.error_code = code.code(),
                    }
                    out
                })
                .collect();
            DescribeProducersResponseTopic { name: t.name, partitions }
        })
        .collect();
    DescribeProducersResponse { throttle_time_ms: 0, topics }
}

fn describe(
    replicas: &ReplicaManager,
    tp: &TopicPartition,
) -> Result<Vec<DescribeProducersResponseProducer>, ErrorCode> {
    let partition = replicas.partition_or_error(tp)?;
    if !partition.is_leader() {
        return Err(ErrorCode::NotLeaderOrFollower);
    }
    Ok(partition
        .active_producers()
        .into_iter()
        .map(|p| DescribeProducersResponseProducer {
            producer_id: p.producer_id,
            producer_epoch: i32::from(p.epoch),
            last_sequence: p.last_sequence,
            last_timestamp: p.last_timestamp,
            coordinator_epoch: p.coordinator_epoch,
            current_txn_start_offset: p.txn_first_offset.unwrap_or(-1),
        })
        .collect())
}
