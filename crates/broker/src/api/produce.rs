//! Produce: validate acks, verify a transactional producer's first batch in a partition with
//! its transaction coordinator (KIP-890), append each partition's batch through the
//! `ReplicaManager` (which checks it record by record first: `Partition::validate_produced`),
//! and answer per partition (from v13 topics are named by id: [`names_from_ids`]), with the refused records (KIP-467) and a message from v8. Produce
//! v0–2's message sets in formats 0 and 1 are converted to one record batch first
//! (`sluice_protocol::legacy`), as Kafka 3.x converts them.
//!
//! With `acks=all` every partition is appended first and the request then waits once, in one
//! `DelayedProduce` over all of them (see `purgatory`): it answers when the last partition's
//! high watermark passes its batch, so a request of N partitions takes one replication round,
//! not N. zstd
//! needs Produce v7 (KIP-110): below it a zstd batch is UNSUPPORTED_COMPRESSION_TYPE, as in
//! Kafka. `acks=0` gets no response at all, as in Kafka.

use std::time::Duration;

use sluice_protocol::legacy;
use sluice_protocol::messages::{
    ProduceRequest, ProduceResponse, ProduceResponseNodeEndpoint, ProduceResponsePartition, ProduceResponseRecordError,
    ProduceResponseTopic,
};
use sluice_protocol::record_batch::{BatchHeader, Compression};
use sluice_storage::TopicPartition;

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::cluster::handle::ClusterHandle;
use crate::error::{ErrorCode, legacy_error_code};
use crate::observe::metrics::{EVENTS, PurgatoryEntry};
use crate::purgatory::{DeferredWakes, DelayedProduce};
use crate::replica_manager::{AppendResult, ReplicaManager, VerificationGuard};
use crate::txn::TxnHandle;

/// The first Produce version whose client handles TRANSACTION_ABORTABLE (KIP-890).
const MIN_TRANSACTION_ABORTABLE_PRODUCE_VERSION: i16 = 11;

/// The first Produce version that names topics by id (KIP-516).
const MIN_TOPIC_ID_PRODUCE_VERSION: i16 = 13;

/// A v13+ request's topics, named by id: each id's name, and the topics whose id the cluster
/// does not know (answered UNKNOWN_TOPIC_ID).
#[derive(Debug, Default)]
pub struct TopicIds {
    ids: std::collections::HashMap<String, sluice_protocol::codec::Uuid>,
    unknown: Vec<sluice_protocol::messages::ProduceRequestTopic>,
}

/// From v13, gives every topic of `request` its name (from its id); topics with an unknown id
/// are taken out. None below v13.
pub fn names_from_ids(version: i16, cluster: &ClusterHandle, request: &mut ProduceRequest) -> Option<TopicIds> {
    if version < MIN_TOPIC_ID_PRODUCE_VERSION {
        return None;
    }
    let names: std::collections::HashMap<[u8; 16], String> =
        cluster.link.cache.read(|v| v.topics.iter().map(|(name, t)| (t.id, name.clone())).collect());
    let mut out = TopicIds::default();
    for mut t in std::mem::take(&mut request.topic_data) {
        match names.get(&t.topic_id.0) {
            Some(name) => {
                t.name = name.clone();
                out.ids.insert(name.clone(), t.topic_id);
                request.topic_data.push(t);
            }
            None => out.unknown.push(t),
        }
    }
    Some(out)
}

/// Puts the ids back on a v13+ answer, and answers the unknown ids.
pub fn ids_for_names(by_id: Option<TopicIds>, response: &mut ProduceResponse) {
    let Some(by_id) = by_id else { return };
    for t in &mut response.responses {
        t.topic_id = by_id.ids.get(&t.name).copied().unwrap_or_default();
    }
    for t in by_id.unknown {
        let partition_responses = t
            .partition_data
            .iter()
            .map(|p| ProduceResponsePartition {
                index: p.index,
                error_code: ErrorCode::UnknownTopicId.code(),
                base_offset: -1,
                log_append_time_ms: -1,
                log_start_offset: -1,
                ..Default::default()
            })
            .collect();
        response.responses.push(ProduceResponseTopic {
            name: String::new(),
            topic_id: t.topic_id,
            partition_responses,
        });
    }
}

/// The first Produce version whose records must be record batches (magic 2, KIP-98); below it
/// they may be in message format 0 or 1.
const MIN_RECORD_BATCH_PRODUCE_VERSION: i16 = 3;

/// The first Produce version that may carry zstd batches (KIP-110).
const MIN_ZSTD_PRODUCE_VERSION: i16 = 7;

/// `verifier` is the transaction coordinator that checks a transactional batch
/// (KIP-890), when `transaction.partition.verification.enable` is on.
pub async fn handle(
    ctx: RequestContext<'_>,
    replicas: &ReplicaManager,
    verifier: Option<TxnHandle<'_>>,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    let timeout = Duration::from_millis(request.timeout_ms.max(0) as u64);
    let mut responses = Vec::with_capacity(request.topic_data.len());
    // The appended partitions awaiting acks=all: (topic index, partition index, result, index
    // in the DelayedProduce).
    let mut delayed = DelayedProduce::new();
    // Followers parked on the appended partitions are woken once, after the last append.
    let mut wakes = DeferredWakes::default();
    let mut awaiting: Vec<(usize, usize, AppendResult, usize)> = Vec::new();
    // Authorization, as Kafka's: a request carrying transactional batches needs WRITE on its
    // transactional id (else every partition is refused), then each topic WRITE.
    let transactional_id_refused = ctx.authorizer.is_some()
        && request.topic_data.iter().flat_map(|t| &t.partition_data).any(|p| {
            p.records.as_ref().is_some_and(|r| BatchHeader::parse(r).is_ok_and(|h| h.attributes.is_transactional()))
        })
        && !request
            .transactional_id
            .as_deref()
            .is_some_and(|id| ctx.authorize(Operation::Write, ResourceType::TransactionalId, id));
    for topic in request.topic_data {
        let mut partition_responses = Vec::with_capacity(topic.partition_data.len());
        let refused = if transactional_id_refused {
            Some(ErrorCode::TransactionalIdAuthorizationFailed)
        } else if !ctx.authorize(Operation::Write, ResourceType::Topic, &topic.name) {
            Some(ErrorCode::TopicAuthorizationFailed)
        } else {
            None
        };
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
            if let Some(code) = refused {
                partition_responses.push(reply(code, -1, -1));
                continue;
            }
            if !matches!(acks, -1..=1) {
                partition_responses.push(reply(ErrorCode::InvalidRequiredAcks, -1, -1));
                continue;
            }
            // Internal topics are their coordinators' alone (Kafka refuses clients' appends).
            if crate::topics::is_internal(&tp.topic) {
                partition_responses.push(reply(ErrorCode::InvalidTopicException, -1, -1));
                continue;
            }
            // No batch at all is INVALID_RECORD, as Kafka answers from Produce v3.
            let Some(mut records) = partition.records.filter(|r| !r.is_empty()) else {
                partition_responses.push(reply(ErrorCode::InvalidRecord, -1, -1));
                continue;
            };
            // Produce v0–2 may carry message formats 0 and 1: stored as one record batch.
            // From v3 only record batches are allowed; anything else fails the batch checks
            // with INVALID_RECORD, as in Kafka.
            if ctx.version() < MIN_RECORD_BATCH_PRODUCE_VERSION {
                match legacy::to_record_batch(&records) {
                    Ok(batch) => records = batch,
                    Err(e) => {
                        tracing::debug!(topic = %tp.topic, partition = tp.partition, error = %e, "legacy message set refused");
                        partition_responses.push(reply(legacy_error_code(&e), -1, -1));
                        continue;
                    }
                }
            }
            if ctx.version() < MIN_ZSTD_PRODUCE_VERSION
                && BatchHeader::parse(&records).is_ok_and(|h| h.attributes.compression() == Compression::Zstd)
            {
                partition_responses.push(reply(ErrorCode::UnsupportedCompressionType, -1, -1));
                continue;
            }
            if request.transactional_id.is_some() {
                // The verification may ask the transaction coordinator over the network: what
                // is appended already is not held back meanwhile.
                wakes.wake_now();
            }
            let guard = match verify_transaction(
                ctx.version(),
                replicas,
                verifier,
                request.transactional_id.as_deref(),
                &tp,
                &records,
            )
            .await
            {
                Ok(guard) => guard,
                Err(code) => {
                    partition_responses.push(reply(code, -1, -1));
                    continue;
                }
            };
            // Appended straight from the request frame (the log writes the assigned offset and
            // epoch in place of the batch's own).
            let (result, pending) = replicas.append_produced(&tp, &records, acks, guard, &mut wakes);
            match pending {
                Some(pending) => {
                    awaiting.push((responses.len(), partition_responses.len(), result, delayed.add(pending)));
                    partition_responses.push(reply(ErrorCode::RequestTimedOut, -1, -1));
                }
                None => partition_responses.push(respond(partition.index, result)),
            }
        }
        responses.push(ProduceResponseTopic { name: topic.name, topic_id: topic.topic_id, partition_responses });
    }
    drop(wakes);
    if !delayed.is_empty() {
        let waited = std::time::Instant::now();
        let acked = {
            let _waiting = PurgatoryEntry::enter(&EVENTS.produce_purgatory);
            delayed.complete(timeout).await
        };
        ctx.add_remote_time(waited.elapsed());
        for (t, p, result, i) in awaiting {
            let slot = &mut responses[t].partition_responses[p];
            *slot = respond(slot.index, result.acknowledged(acked[i]));
        }
    }
    (acks != 0).then_some(ProduceResponse { responses, ..Default::default() })
}

/// The first Produce version whose answers carry leader hints (KIP-951).
const MIN_LEADER_HINT_PRODUCE_VERSION: i16 = 10;

/// KIP-951: a partition answered NOT_LEADER_OR_FOLLOWER names the leader this broker knows, and
/// the answer carries that leader's endpoint on the listener the request came in on (v10+), so
/// the producer moves without asking Metadata first.
pub fn point_at_leaders(ctx: RequestContext<'_>, cluster: &ClusterHandle, response: &mut ProduceResponse) {
    let moved = ErrorCode::NotLeaderOrFollower.code();
    if ctx.version() < MIN_LEADER_HINT_PRODUCE_VERSION
        || !response.responses.iter().flat_map(|t| &t.partition_responses).any(|p| p.error_code == moved)
    {
        return;
    }
    let asked: Vec<(&str, i32)> = response
        .responses
        .iter()
        .flat_map(|t| {
            t.partition_responses.iter().filter(|p| p.error_code == moved).map(|p| (t.name.as_str(), p.index))
        })
        .collect();
    let (hints, endpoints) = cluster.leader_hints(ctx.listener, &asked);
    let mut hints = hints.into_iter();
    for t in &mut response.responses {
        for p in t.partition_responses.iter_mut().filter(|p| p.error_code == moved) {
            if let Some(Some((leader_id, leader_epoch))) = hints.next() {
                p.current_leader.leader_id = leader_id;
                p.current_leader.leader_epoch = leader_epoch;
            }
        }
    }
    response.node_endpoints = endpoints
        .into_iter()
        .map(|e| ProduceResponseNodeEndpoint { node_id: e.id, host: e.host, port: e.port, rack: e.rack })
        .collect();
}

/// One partition's answer from its append's result.
fn respond(index: i32, result: AppendResult) -> ProduceResponsePartition {
    ProduceResponsePartition {
        index,
        error_code: result.error.code(),
        base_offset: result.base_offset,
        log_append_time_ms: result.log_append_time_ms,
        log_start_offset: result.log_start_offset,
        record_errors: result
            .record_errors
            .into_iter()
            .map(|(batch_index, message)| ProduceResponseRecordError {
                batch_index,
                batch_index_error_message: Some(message),
            })
            .collect(),
        error_message: result.error_message,
        ..Default::default()
    }
}

/// KIP-890 part 1: before a producer's first transactional batch in a partition (its
/// transaction is not open here yet), the leader asks the transaction coordinator whether the
/// producer added the partition to its transaction; a batch outside the transaction is
/// refused with INVALID_TXN_STATE instead of opening a transaction no marker would close. The
/// guard returned makes the append refuse the batch if a marker of the producer lands while the
/// coordinator is asked.
async fn verify_transaction(
    version: i16,
    replicas: &ReplicaManager,
    verifier: Option<TxnHandle<'_>>,
    transactional_id: Option<&str>,
    tp: &TopicPartition,
    records: &[u8],
) -> Result<Option<VerificationGuard>, ErrorCode> {
    let Ok(h) = BatchHeader::parse(records) else { return Ok(None) };
    if !h.attributes.is_transactional() || h.attributes.is_control() || h.producer_id < 0 {
        return Ok(None);
    }
    let Some(id) = transactional_id else { return Err(ErrorCode::InvalidTxnState) };
    let Some(txn) = verifier else { return Ok(None) };
    let Some(partition) = replicas.partition(tp) else { return Ok(None) };
    let (open, markers_seen) = partition.producer_txn_state(h.producer_id);
    if open {
        return Ok(None);
    }
    let guard = VerificationGuard { producer_id: h.producer_id, markers_seen };
    txn.txns.verify(txn, id, h.producer_id, h.producer_epoch, tp).await.map(|()| Some(guard)).map_err(|e| match e {
        // A partition not in the transaction: TRANSACTION_ABORTABLE to a client that knows it
        // (Produce v11+, KIP-890), INVALID_TXN_STATE before, as Kafka's leader maps it.
        ErrorCode::TransactionAbortable if version >= MIN_TRANSACTION_ABORTABLE_PRODUCE_VERSION => {
            ErrorCode::TransactionAbortable
        }
        ErrorCode::TransactionAbortable | ErrorCode::InvalidTxnState | ErrorCode::InvalidProducerIdMapping => {
            ErrorCode::InvalidTxnState
        }
        // Produce knows fencing as INVALID_PRODUCER_EPOCH.
        ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch => ErrorCode::InvalidProducerEpoch,
        // The coordinator could not be asked (moving, loading, unreachable): retriable.
        _ => ErrorCode::NotEnoughReplicas,
    })
}
