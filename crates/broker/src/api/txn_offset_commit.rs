//! TxnOffsetCommit: a transactional producer commits a group's consumed offsets inside its
//! transaction (consume-transform-produce). They are written to the group's
//! `__consumer_offsets` partition as a transactional batch and take effect only when the
//! transaction's commit marker lands there. From v3 the consumer it commits for is checked as
//! Kafka does (KIP-447): an unknown member, another generation or a fenced static instance is
//! refused.
//!
//! As OffsetCommit: partitions of topics that do not exist are answered
//! UNKNOWN_TOPIC_OR_PARTITION and metadata over `offset.metadata.max.bytes`
//! OFFSET_METADATA_TOO_LARGE; neither is written nor held for the transaction.

use sluice_protocol::messages::{
    TxnOffsetCommitRequest, TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};

use super::RequestContext;
use super::init_producer_id::fenced_code;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::group::offsets_log;
use crate::group::offsets_log::GroupLog;
use crate::group::state::CommittedOffset;

pub async fn handle(
    ctx: RequestContext<'_>,
    log: GroupLog<'_>,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    // WRITE on the transactional id, then READ on the group (each refusal on every partition),
    // then READ on each topic (TOPIC_AUTHORIZATION_FAILED on its partitions).
    let access = ctx
        .transactional_id_access(Operation::Write, &request.transactional_id)
        .and_then(|()| ctx.group_access(Operation::Read, &request.group_id));
    if let Err(code) = access {
        let topics = request
            .topics
            .into_iter()
            .map(|t| TxnOffsetCommitResponseTopic {
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| TxnOffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                    })
                    .collect(),
                name: t.name,
            })
            .collect();
        return TxnOffsetCommitResponse { throttle_time_ms: 0, topics };
    }
    let readable: std::collections::BTreeSet<String> = request
        .topics
        .iter()
        .filter(|t| ctx.authorize(Operation::Read, ResourceType::Topic, &t.name))
        .map(|t| t.name.clone())
        .collect();
    let now = log.groups.now_ms();
    let known = |t: &str, p: i32| {
        readable.contains(t) && log.admin.cluster.topic_meta(t).is_some_and(|m| p >= 0 && p < m.partitions)
    };
    let fits = |p: &sluice_protocol::messages::TxnOffsetCommitRequestPartition| {
        log.config.offset_metadata_fits(p.committed_metadata.as_deref())
    };
    let entries: Vec<((String, i32), CommittedOffset)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().filter(|p| known(&t.name, p.partition_index) && fits(p)).map(|p| {
                let committed = CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.clone(),
                    commit_timestamp_ms: now,
                };
                ((t.name.clone(), p.partition_index), committed)
            })
        })
        .collect();
    // From v3 the request names the consumer: a zombie member's commit is refused (KIP-447).
    let member = match ctx.version() {
        v if v >= 3 => log.groups.with_groups(|g, _| {
            g.validate_txn_commit(
                &request.group_id,
                &request.member_id,
                request.generation_id,
                request.group_instance_id.as_deref(),
            )
        }),
        _ => ErrorCode::None,
    };
    let mut code = match offsets_log::check_coordinator(log, &request.group_id).await {
        Err(e) => e,
        Ok(()) if member != ErrorCode::None => member,
        Ok(()) if entries.is_empty() => ErrorCode::None,
        Ok(()) => {
            // Pending before the record is written, as Kafka's prepareTxnOffsetCommit: the
            // transaction's marker may land (and be completed) while this append still waits
            // for its replicas; offsets added after that would stay pending for ever, and
            // every read_committed consumer of the group be told UNSTABLE_OFFSET_COMMIT.
            let pending: Vec<_> =
                entries.iter().map(|(tp, c)| (request.group_id.clone(), tp.clone(), c.clone())).collect();
            log.groups.add_txn_offsets(request.producer_id, pending.clone());
            match offsets_log::append_txn(log, &request.group_id, request.producer_id, request.producer_epoch, &entries)
                .await
            {
                Ok(()) => ErrorCode::None,
                Err(e) => {
                    log.groups.remove_txn_offsets(request.producer_id, &pending);
                    if e == ErrorCode::InvalidProducerEpoch { ErrorCode::ProducerFenced } else { e }
                }
            }
        }
    };
    code = fenced_code(code, ctx.version(), 3);
    let topics = request
        .topics
        .into_iter()
        .map(|t| TxnOffsetCommitResponseTopic {
            partitions: t
                .partitions
                .iter()
                .map(|p| {
                    let error = if !readable.contains(&t.name) {
                        ErrorCode::TopicAuthorizationFailed
                    } else if !known(&t.name, p.partition_index) {
                        ErrorCode::UnknownTopicOrPartition
                    } else if code == ErrorCode::None && !fits(p) {
                        ErrorCode::OffsetMetadataTooLarge
                    } else {
                        code
                    };
                    TxnOffsetCommitResponsePartition { partition_index: p.partition_index, error_code: error.code() }
                })
                .collect(),
            name: t.name,
        })
        .collect();
    TxnOffsetCommitResponse { throttle_time_ms: 0, topics }
}
