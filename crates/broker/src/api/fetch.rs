//! Fetch: read each partition from its fetch offset, within the per-partition and total byte
//! limits, below the high watermark for consumers (the log end for followers). Replicas fetch
//! from the leader only (NOT_LEADER_OR_FOLLOWER otherwise); consumers from Fetch v11 also from a
//! follower, up to the follower's high watermark (KIP-392). With `replica.selector.class` set to
//! the rack-aware selector, a leader answers a consumer that names its rack, and has a caught-up
//! follower in it, with that follower as `preferred_read_replica` and no records; the consumer
//! then fetches there. A follower's fetch offset is
//! its log end offset: the leader records it, which moves the high watermark and the ISR
//! (`ReplicaManager::record_follower_fetch`). When fewer than
//! `min_bytes` are available the request parks, up to `max_wait_ms`, as a `DelayedFetch` on the
//! partitions it asked for (long polling): a follower's fetch wakes when one of them takes an
//! append, a consumer's when one of their high watermarks moves, and both when one changes role;
//! events on other partitions never wake it (see `purgatory`). A `read_committed` consumer (isolation level 1) reads up to the last stable
//! offset and is told the aborted transactions in what it got, so it can drop their records.
//! Incremental fetch sessions (KIP-227, see `fetch_session`): from Fetch v7 a fetcher may open
//! a session; its later fetches list only the partitions whose position moved and are answered
//! with only the partitions that have news, which is what keeps a follower of many partitions
//! cheap when every append wakes its fetch.
//!
//! Records are sent from their segment files with `sendfile` (`fetch.sendfile.enable`, on by
//! default, as Kafka sends plaintext fetches with `FileChannel.transferTo`): the answer holds
//! file slices, not bytes, and no record byte is copied through user space. With it off they
//! are copied into memory, bounded as follows.
//!
//! Memory: the record bytes of one answer are capped by `fetch.max.bytes` for consumers and
//! `replica.fetch.response.max.bytes` for followers, whatever the request asks (a `max_bytes` of
//! 0 or less asks for the least: one batch, KIP-74), and by what the broker's
//! `fetch.response.memory.max.bytes` pool has free: they are reserved before they are read and
//! held until the answer is written. A fetch never waits for memory: when the pool is short it
//! reads less, down to one batch (the first batch may exceed every limit, KIP-74), so clients
//! that read their answers slowly make other fetches smaller, never stall them. Memory held by
//! fetches is thus at most the pool plus one batch (`max.message.bytes`) per connection. A long
//! poll holds nothing while it waits. Copying reads run off the async workers
//! ([`read_off_workers`]), so a read from a cold disk does not stall other connections; the
//! sendfile path only looks up file positions, on the worker (the bytes move in the kernel
//! when the answer is written).
//!
//! Fetch v0–3 (clients of Kafka 0.8–0.10) read message formats 0 and 1: their answers are the
//! stored batches down-converted (`sluice_protocol::legacy::down_convert`), copied, never sent
//! from the files: each batch's codec kept, transaction markers left out, as Kafka 3.x serves
//! them unless the topic's `message.downconversion.enable` is false (then UNSUPPORTED_VERSION).
//! Two departures, both so an old consumer never stalls where Kafka would leave it stuck: the
//! first message of a partition is sent whole even past `partition_max_bytes` at v0–2 (Kafka
//! treats the limit as hard there and answers an empty set, so a client whose fetch size is
//! below its largest message reads nothing forever), and zstd batches, which the old formats
//! cannot carry, go out as plain messages (Kafka answers UNSUPPORTED_COMPRESSION_TYPE).
//!
//! zstd batches are served at every version when the topic's `compression.type` is `producer`,
//! as Kafka does; below Fetch v10 a topic configured `compression.type=zstd` is
//! UNSUPPORTED_COMPRESSION_TYPE (KIP-110), as in Kafka. Refusing zstd batches by version
//! otherwise would break clients that read zstd over older fetches, such as kafka-python 2.0.2
//! (Fetch v4).

use std::time::{Duration, Instant};

use std::collections::HashMap;

use sluice_protocol::codec::Uuid;
use sluice_protocol::messages::{
    FetchRequest, FetchResponse, FetchResponseAbortedTransaction, FetchResponseNodeEndpoint, FetchResponsePartition,
    FetchResponseTopic,
};
use sluice_storage::TopicPartition;

use sluice_protocol::legacy;
use sluice_protocol::record_set::RecordSet;

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::cluster::handle::ClusterHandle;
use crate::error::ErrorCode;
use crate::fetch_session::FetchContext;
use crate::fetch_session::FetchSessions;
use crate::memory_pool::MemoryPool;
use crate::memory_pool::Reservation;
use crate::observe::metrics::{EVENTS, PurgatoryEntry};
use crate::purgatory::{DelayedFetch, FetchWatch};
use crate::replica_manager::ReadBound;

/// Fetch's and ListOffsets' `isolation_level` for reading only committed transactions.
pub const READ_COMMITTED: i8 = 1;

/// The first Fetch version with the consumer's rack, from which consumers may fetch from
/// followers (KIP-392).
const MIN_FOLLOWER_FETCH_VERSION: i16 = 11;

/// The first Fetch version answered with record batches (magic 2, KIP-98); older fetchers get
/// message format 0 (below v2) or 1 (v2 and v3), converted from the stored batches when the
/// topic's `message.downconversion.enable` allows it, UNSUPPORTED_VERSION otherwise (Kafka's
/// answers).
const MIN_RECORD_BATCH_FETCH_VERSION: i16 = 4;

/// The first Fetch version answered in message format 1 (timestamps, KIP-32) when converted.
const MIN_MAGIC_V1_FETCH_VERSION: i16 = 2;

/// The message format a Fetch of `version` reads, when not record batches.
fn legacy_magic(version: i16) -> Option<i8> {
    match version {
        v if v >= MIN_RECORD_BATCH_FETCH_VERSION => None,
        v if v >= MIN_MAGIC_V1_FETCH_VERSION => Some(legacy::MAGIC_V1),
        _ => Some(legacy::MAGIC_V0),
    }
}

/// The first Fetch version that may carry zstd batches (KIP-110).
const MIN_ZSTD_FETCH_VERSION: i16 = 10;

/// A sendfile answer with at most this many record bytes is copied into memory instead (see
/// [`read`]): below it, the per-partition system calls of sendfile cost more than the copy. A
/// profile of one broker at 20,000 1 KiB records/s over 100 partitions spent 30% of its CPU in
/// `send` and 12% in `setsockopt` (the cork) for answers of a few KiB.
pub const FETCH_COPY_MAX_BYTES: usize = 64 * 1024;

/// Upper bound on how long one fetch may wait, whatever the client asks.
const MAX_FETCH_WAIT_MS: u64 = 60_000;

/// What a Fetch may touch: the cluster (the replicas it reads, the racks of followers a
/// consumer may be sent to), the incremental fetch sessions, the memory pool its copied records
/// come from, and the fetch configs.
#[derive(Debug, Clone, Copy)]
pub struct FetchHandle<'a> {
    pub cluster: &'a ClusterHandle,
    pub sessions: &'a FetchSessions,
    /// `fetch.response.memory.max.bytes`.
    pub memory: &'a MemoryPool,
    /// `fetch.max.bytes`: a consumer's cap on one response.
    pub fetch_max_bytes: usize,
    /// `replica.fetch.response.max.bytes`: a follower's cap on one response.
    pub replica_fetch_response_max_bytes: i32,
    /// `fetch.sendfile.enable`.
    pub sendfile: bool,
    /// `replica.selector.class` is the rack-aware selector (KIP-392).
    pub rack_aware_selector: bool,
}

/// The first Fetch version that names topics by id (KIP-516).
const MIN_TOPIC_ID_FETCH_VERSION: i16 = 13;

/// The first Fetch version whose response carries the endpoints of the leaders it points to
/// (KIP-951).
const MIN_NODE_ENDPOINTS_FETCH_VERSION: i16 = 16;

pub async fn handle(ctx: RequestContext<'_>, fx: FetchHandle<'_>, mut request: FetchRequest) -> FetchResponse {
    // From v13 topics come by id: read by name, then answered by id; an id no topic has is
    // UNKNOWN_TOPIC_ID on each of its partitions, as Kafka answers.
    let by_id = ctx.version() >= MIN_TOPIC_ID_FETCH_VERSION;
    let mut unknown = Vec::new();
    let mut ids: HashMap<String, Uuid> = HashMap::new();
    if by_id {
        let names: HashMap<[u8; 16], String> =
            fx.cluster.link.cache.read(|v| v.topics.iter().map(|(name, t)| (t.id, name.clone())).collect());
        let topics = std::mem::take(&mut request.topics);
        for mut t in topics {
            match names.get(&t.topic_id.0) {
                Some(name) => {
                    t.topic = name.clone();
                    ids.insert(name.clone(), t.topic_id);
                    request.topics.push(t);
                }
                None => unknown.push(t),
            }
        }
        request.forgotten_topics_data.retain_mut(|f| match names.get(&f.topic_id.0) {
            Some(name) => {
                f.topic = name.clone();
                true
            }
            None => false,
        });
        // Session partitions answered by name need their ids too.
        for (id, name) in names {
            ids.entry(name).or_insert(Uuid(id));
        }
    }
    let mut response = handle_named(ctx, fx, request).await;
    if by_id {
        for t in &mut response.responses {
            t.topic_id = ids.get(&t.topic).copied().unwrap_or(Uuid::ZERO);
        }
        for t in unknown {
            let partitions = t
                .partitions
                .iter()
                .map(|p| FetchResponsePartition {
                    partition_index: p.partition,
                    error_code: ErrorCode::UnknownTopicId.code(),
                    high_watermark: -1,
                    last_stable_offset: -1,
                    log_start_offset: -1,
                    preferred_read_replica: -1,
                    records: Some(RecordSet::default()),
                    ..Default::default()
                })
                .collect();
            response.responses.push(FetchResponseTopic { topic: String::new(), topic_id: t.topic_id, partitions });
        }
    }
    point_at_leaders(ctx, fx, &mut response);
    response
}

/// KIP-951 (Fetch v16+): a partition answered NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH names
/// the leader this broker knows, and the answer carries that leader's endpoint on the listener
/// the fetch came in on, so the client moves without asking Metadata first. Earlier versions
/// have the field but Kafka leaves it empty there, and so does this broker.
fn point_at_leaders(ctx: RequestContext<'_>, fx: FetchHandle<'_>, response: &mut FetchResponse) {
    let moved = [ErrorCode::NotLeaderOrFollower.code(), ErrorCode::FencedLeaderEpoch.code()];
    if ctx.version() < MIN_NODE_ENDPOINTS_FETCH_VERSION
        || !response.responses.iter().flat_map(|t| &t.partitions).any(|p| moved.contains(&p.error_code))
    {
        return;
    }
    let asked: Vec<(&str, i32)> = response
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions.iter().filter(|p| moved.contains(&p.error_code)).map(|p| (t.topic.as_str(), p.partition_index))
        })
        .collect();
    let (hints, endpoints) = fx.cluster.leader_hints(ctx.listener, &asked);
    let mut hints = hints.into_iter();
    for t in &mut response.responses {
        for p in t.partitions.iter_mut().filter(|p| moved.contains(&p.error_code)) {
            if let Some(Some((leader_id, leader_epoch))) = hints.next() {
                p.current_leader.leader_id = leader_id;
                p.current_leader.leader_epoch = leader_epoch;
            }
        }
    }
    response.node_endpoints = endpoints
        .into_iter()
        .map(|e| FetchResponseNodeEndpoint { node_id: e.id, host: e.host, port: e.port, rack: e.rack })
        .collect();
}

async fn handle_named(ctx: RequestContext<'_>, fx: FetchHandle<'_>, mut request: FetchRequest) -> FetchResponse {
    // An incremental fetch reads every partition of its session (KIP-227): the request's
    // topics become the session's; the answer is trimmed to what changed when it is final.
    let session = fx.sessions.begin(ctx.version(), &mut request, fx.cluster.replicas.now_ms());
    if let FetchContext::Refused(_) = session {
        let mut response = FetchResponse::default();
        fx.sessions.finish(&session, &mut response);
        return response;
    }
    let deadline = Instant::now() + Duration::from_millis((request.max_wait_ms.max(0) as u64).min(MAX_FETCH_WAIT_MS));
    let cap =
        if request.replica_id >= 0 { fx.replica_fetch_response_max_bytes.max(0) as usize } else { fx.fetch_max_bytes };
    let max_bytes = (request.max_bytes.max(0) as usize).min(cap);
    loop {
        // Parked on each partition before it is read: an append after its read is not missed.
        let parked = DelayedFetch::new();
        let (response, bytes, memory) = read(ctx, fx, &request, max_bytes, Some(&parked));
        // An error or a redirection to another replica is answered at once, as Kafka does.
        let satisfied = bytes >= request.min_bytes.max(0) as usize
            || response
                .responses
                .iter()
                .flat_map(|t| &t.partitions)
                .any(|p| p.error_code != 0 || p.preferred_read_replica >= 0);
        let now = Instant::now();
        if satisfied || now >= deadline {
            *ctx.response_memory.lock() = memory;
            let mut response = response;
            fx.sessions.finish(&session, &mut response);
            return response;
        }
        drop((response, memory));
        let woken = {
            let _waiting = PurgatoryEntry::enter(&EVENTS.fetch_purgatory);
            let waited = Instant::now();
            let woken = parked.wait(deadline - now).await;
            ctx.add_remote_time(waited.elapsed());
            woken
        };
        if !woken {
            let (mut response, _, memory) = read(ctx, fx, &request, max_bytes, None);
            *ctx.response_memory.lock() = memory;
            fx.sessions.finish(&session, &mut response);
            return response;
        }
    }
}

/// Reads every partition asked for: as file slices to send with `sendfile` when
/// `fetch.sendfile.enable` (they hold no memory), else copied into memory reserved from the
/// fetch pool (at most what it has free). Returns the answer, its record bytes and the memory.
/// With `parked`, each partition is watched by it before it is read.
fn read(
    ctx: RequestContext<'_>,
    fx: FetchHandle<'_>,
    request: &FetchRequest,
    max_bytes: usize,
    parked: Option<&DelayedFetch>,
) -> (FetchResponse, usize, Reservation) {
    // Old fetchers' answers are converted from the stored bytes, so they are read into memory.
    if fx.sendfile && !ctx.over_tls && ctx.version() >= MIN_RECORD_BATCH_FETCH_VERSION {
        // Only positions are looked up (in memory-mapped indexes): run in place. Handing the
        // worker's queue to another thread per fetch (`block_in_place`) cost far more than the
        // lookup: a profile at 5,000 produces/s found a quarter of the broker's CPU in those
        // thread hand-offs, woken by every append a follower's parked fetch waits for.
        let (mut response, bytes) = read_all(ctx, fx, request, max_bytes, true, parked);
        if bytes > 0 && bytes <= FETCH_COPY_MAX_BYTES {
            // A small answer (the tail a caught-up follower or consumer reads) costs less
            // copied: one send of the whole frame, where sendfile takes a send and a sendfile
            // per partition plus corking the socket around them.
            let (memory, granted) = fx.memory.reserve_up_to(bytes);
            if granted == bytes && copy_records_in(&mut response).is_ok() {
                return (response, bytes, memory);
            }
        }
        return (response, bytes, Reservation::default());
    }
    let (mut memory, granted) = fx.memory.reserve_up_to(max_bytes);
    let (response, bytes) = read_off_workers(|| read_all(ctx, fx, request, granted, false, parked));
    memory.shrink_to(bytes);
    (response, bytes, memory)
}

/// Reads every file-backed record set of `response` into memory (they were just located, so
/// their bytes are in the page cache as a rule). On an error (a file cut short meanwhile) the
/// sets read so far stay in memory and the rest in files: the answer is sent either way.
fn copy_records_in(response: &mut FetchResponse) -> std::io::Result<()> {
    for p in response.responses.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
        if let Some(records @ RecordSet::Files(_)) = &mut p.records {
            *records = RecordSet::Memory(records.to_bytes()?);
        }
    }
    Ok(())
}

/// Runs `read`, which copies records from the disk, without holding up the other tasks of its
/// async worker:
/// on a multi-threaded runtime the worker first hands its queue to another thread
/// (`block_in_place`); on a current-thread runtime (some tests) it runs in place.
fn read_off_workers<T>(read: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(read),
        _ => read(),
    }
}

/// Reads every partition asked for, `max_bytes` of records in all (the first batch excepted).
fn read_all(
    ctx: RequestContext<'_>,
    fx: FetchHandle<'_>,
    request: &FetchRequest,
    max_bytes: usize,
    in_files: bool,
    parked: Option<&DelayedFetch>,
) -> (FetchResponse, usize) {
    let rm = &*fx.cluster.replicas;
    let for_follower = request.replica_id >= 0;
    let bound = match (for_follower, request.isolation_level) {
        (true, _) => ReadBound::Follower,
        (false, READ_COMMITTED) => ReadBound::ReadCommitted,
        (false, _) => ReadBound::ReadUncommitted,
    };
    let mut remaining = max_bytes;
    let mut total = 0usize;
    let mut responses = Vec::with_capacity(request.topics.len());
    // A follower's fetch needs CLUSTER_ACTION (so no client poses as a replica to move the
    // high watermark); a consumer's READ on each topic. Refused: TOPIC_AUTHORIZATION_FAILED on
    // each partition, as Kafka answers both.
    let follower_refused = for_follower && !ctx.authorize_cluster(Operation::ClusterAction);
    for topic in &request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        let refused =
            follower_refused || (!for_follower && !ctx.authorize(Operation::Read, ResourceType::Topic, &topic.topic));
        for p in &topic.partitions {
            let tp = TopicPartition::new(topic.topic.clone(), p.partition);
            let mut out = FetchResponsePartition {
                partition_index: p.partition,
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                preferred_read_replica: -1,
                // An empty record set, never a null one, also beside an error: librdkafka drops
                // the whole response on a null record set (Kafka always sends an empty one).
                records: Some(RecordSet::default()),
                ..Default::default()
            };
            if refused {
                out.error_code = ErrorCode::TopicAuthorizationFailed.code();
                partitions.push(out);
                continue;
            }
            let partition = match rm.partition_or_error(&tp) {
                Ok(partition) => partition,
                Err(code) => {
                    out.error_code = code.code();
                    partitions.push(out);
                    continue;
                }
            };
            let may_read_follower = !for_follower && ctx.version() >= MIN_FOLLOWER_FETCH_VERSION;
            let serves = if may_read_follower && partition.is_follower() {
                partition.check_leader_epoch(p.current_leader_epoch)
            } else {
                partition.check_leader(p.current_leader_epoch)
            };
            if let Err(code) = serves {
                out.error_code = code.code();
                partitions.push(out);
                continue;
            }
            if may_read_follower
                && fx.rack_aware_selector
                && !request.rack_id.is_empty()
                && let Some(replica) = partition.preferred_read_replica(p.fetch_offset, &request.rack_id, |id| {
                    fx.cluster.link.cache.read(|v| v.brokers.get(&id).and_then(|b| b.rack.clone()))
                })
            {
                out.preferred_read_replica = replica;
                let offsets = partition.offsets();
                out.high_watermark = offsets.high_watermark;
                out.last_stable_offset = offsets.last_stable_offset;
                out.log_start_offset = offsets.log_start_offset;
                partitions.push(out);
                continue;
            }
            // Old fetchers' answers are converted (zstd batches to plain messages), not sent as stored.
            let down_convert_to = legacy_magic(ctx.version());
            if down_convert_to.is_none()
                && ctx.version() < MIN_ZSTD_FETCH_VERSION
                && partition.config().compression_type == sluice_storage::TopicCompression::Zstd
            {
                out.error_code = ErrorCode::UnsupportedCompressionType.code();
                partitions.push(out);
                continue;
            }
            if down_convert_to.is_some() && !partition.config().message_downconversion_enable {
                out.error_code = ErrorCode::UnsupportedVersion.code();
                partitions.push(out);
                continue;
            }
            if let Some(parked) = parked {
                parked.watch(&partition, if for_follower { FetchWatch::LogEnd } else { FetchWatch::HighWatermark });
            }
            let limit = (p.partition_max_bytes.max(0) as usize).min(remaining);
            // KIP-74: the first partition with data may exceed the limits by one batch, so a
            // consumer can always make progress.
            let read = partition.read(p.fetch_offset, limit, bound, total == 0, in_files);
            if for_follower && read.error == ErrorCode::None {
                rm.record_follower_fetch(&partition, request.replica_id, p.fetch_offset);
            }
            out.error_code = read.error.code();
            out.high_watermark = partition.high_watermark();
            out.last_stable_offset = read.last_stable_offset;
            out.log_start_offset = read.log_start_offset;
            out.aborted_transactions = read.aborted.map(|list| {
                list.into_iter()
                    .map(|a| FetchResponseAbortedTransaction {
                        producer_id: a.producer_id,
                        first_offset: a.first_offset,
                    })
                    .collect()
            });
            let records = match (down_convert_to, read.records) {
                (Some(magic), RecordSet::Memory(stored)) if !stored.is_empty() => {
                    match legacy::down_convert(stored, magic, p.fetch_offset, limit) {
                        Ok(converted) => RecordSet::Memory(converted),
                        Err(e) => {
                            tracing::warn!(topic = %tp.topic, partition = tp.partition, error = %e, "stored batches do not down-convert");
                            out.error_code = ErrorCode::CorruptMessage.code();
                            RecordSet::default()
                        }
                    }
                }
                (_, records) => records,
            };
            total += records.len();
            remaining = remaining.saturating_sub(records.len());
            out.records = Some(records);
            partitions.push(out);
        }
        responses.push(FetchResponseTopic { topic: topic.topic.clone(), partitions, ..Default::default() });
    }
    (FetchResponse { responses, ..Default::default() }, total)
}
