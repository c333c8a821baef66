//! AddPartitionsToTxn: partitions join the producer's open transaction (v0–3, from clients),
//! or, from v4 (KIP-890, between brokers), a partition leader asks whether they already have
//! (`verify_only`), or several transactions are handled at once. Unknown partitions get
//! UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED, as in Kafka.

use sluice_protocol::messages::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, AddPartitionsToTxnResult,
    AddPartitionsToTxnTopic, AddPartitionsToTxnTopicResult,
};
use sluice_storage::TopicPartition;

use super::RequestContext;
use super::init_producer_id::fenced_code;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::txn::TxnHandle;

pub async fn handle(
    ctx: RequestContext<'_>,
    txn: TxnHandle<'_>,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if ctx.version() <= 3 {
        let results = one(
            ctx,
            txn,
            &request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id,
            request.v3_and_below_producer_epoch,
            false,
            &request.v3_and_below_topics,
        )
        .await;
        return AddPartitionsToTxnResponse { results_by_topic_v3_and_below: results, ..Default::default() };
    }
    // v4+ is the brokers' own batch (KIP-890 verification): CLUSTER_ACTION only.
    if !ctx.authorize_cluster(Operation::ClusterAction) {
        return AddPartitionsToTxnResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let mut results_by_transaction = Vec::with_capacity(request.transactions.len());
    for t in &request.transactions {
        let topic_results =
            one(ctx, txn, &t.transactional_id, t.producer_id, t.producer_epoch, t.verify_only, &t.topics).await;
        results_by_transaction
            .push(AddPartitionsToTxnResult { transactional_id: t.transactional_id.clone(), topic_results });
    }
    AddPartitionsToTxnResponse { results_by_transaction, ..Default::default() }
}

async fn one(
    ctx: RequestContext<'_>,
    txn: TxnHandle<'_>,
    id: &str,
    producer_id: i64,
    producer_epoch: i16,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
) -> Vec<AddPartitionsToTxnTopicResult> {
    // A client's request (v3 and below): WRITE on the transactional id (else every partition is
    // refused), and WRITE on each topic (a refused topic's partitions fail, the rest are not
    // attempted).
    if ctx.version() <= 3 {
        let refused = |code: ErrorCode, only: &dyn Fn(&str) -> bool| -> Vec<AddPartitionsToTxnTopicResult> {
            topics
                .iter()
                .map(|t| AddPartitionsToTxnTopicResult {
                    name: t.name.clone(),
                    results_by_partition: t
                        .partitions
                        .iter()
                        .map(|&p| AddPartitionsToTxnPartitionResult {
                            partition_index: p,
                            partition_error_code: if only(&t.name) {
                                code.code()
                            } else {
                                ErrorCode::OperationNotAttempted.code()
                            },
                        })
                        .collect(),
                })
                .collect()
        };
        if let Err(code) = ctx.transactional_id_access(Operation::Write, id) {
            return refused(code, &|_| true);
        }
        let writable = |t: &str| ctx.authorize(Operation::Write, ResourceType::Topic, t);
        if topics.iter().any(|t| !writable(&t.name)) {
            return refused(ErrorCode::TopicAuthorizationFailed, &|t| !writable(t));
        }
    }
    let known = |t: &str, p: i32| txn.cluster.topic_meta(t).is_some_and(|m| p >= 0 && p < m.partitions);
    let all_known = topics.iter().all(|t| t.partitions.iter().all(|&p| known(&t.name, p)));
    let wanted: Vec<(String, i32)> =
        topics.iter().flat_map(|t| t.partitions.iter().map(move |&p| (t.name.clone(), p))).collect();
    let outcome: Result<(), ErrorCode> = if !all_known {
        Err(ErrorCode::OperationNotAttempted)
    } else if verify_only {
        let mut result = Ok(());
        for (t, p) in &wanted {
            let tp = TopicPartition::new(t.clone(), *p);
            if let Err(e) = txn.txns.verify_local(txn, id, producer_id, producer_epoch, &tp) {
                result = Err(e);
                break;
            }
        }
        result
    } else {
        txn.txns.add_partitions(txn, id, producer_id, producer_epoch, &wanted).await
    };
    topics
        .iter()
        .map(|t| AddPartitionsToTxnTopicResult {
            name: t.name.clone(),
            results_by_partition: t
                .partitions
                .iter()
                .map(|&p| {
                    let code = match &outcome {
                        Ok(()) => ErrorCode::None,
                        Err(ErrorCode::OperationNotAttempted) if !known(&t.name, p) => {
                            ErrorCode::UnknownTopicOrPartition
                        }
                        Err(e) => fenced_code(*e, ctx.version(), 2),
                    };
                    AddPartitionsToTxnPartitionResult { partition_index: p, partition_error_code: code.code() }
                })
                .collect(),
        })
        .collect()
}
