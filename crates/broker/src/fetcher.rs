//! `ReplicaFetcher`: a follower's pull of its partitions from their leaders, with the Kafka
//! Fetch API (replica id = this broker's id), as Kafka's `ReplicaFetcherThread` does.
//!
//! One task per leader broker fetches every partition this broker follows from it, in one
//! request. A partition that just became a follower (or whose leader epoch changed) first
//! truncates by leader epoch (KIP-101/279): it asks the leader, with OffsetForLeaderEpoch,
//! where its own latest epoch ends in the leader's log, and cuts its log there — never to its
//! local high watermark, which may be behind what the new leader has and lose acknowledged
//! records. Then it fetches from its log end, appends what comes back, and takes the leader's
//! high watermark.
//!
//! Fetches run in an incremental fetch session with the leader (KIP-227, `fetch_session`): the
//! first is a full fetch that opens it; each later one lists only the partitions whose position
//! moved (and forgets those no longer followed, or backing off), and the answer carries only the
//! partitions with news. A lost or refused session (a reconnection, an evicted slot, an epoch
//! out of step) starts over with a full fetch. A leader without sessions (slot 0) is fetched
//! with full fetches throughout.
//!
//! The fetch tells the leader where this follower's log ends; the leader moves the high
//! watermark and the ISR from it. A fetch waits at the leader up to `replica.fetch.wait.max.ms`
//! for data, so an idle partition costs one request per wait.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sluice_client::connection::BrokerConnection;
use sluice_protocol::api::{Request, Response};
use sluice_protocol::messages::{
    FetchRequest, FetchRequestForgottenTopic, FetchRequestPartition, FetchRequestTopic, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochRequestPartition, OffsetForLeaderEpochRequestTopic,
};
use sluice_replication::truncation::{self, EpochEndOffset, FollowerLog, OutOfRange};
use sluice_storage::TopicPartition;
use tokio::sync::Notify;

use crate::broker::Broker;
use crate::error::{ErrorCode, code_of};
use crate::fetch_session::{INITIAL_EPOCH, INVALID_SESSION_ID, next_epoch};
use crate::subtasks::SubTaskEnd;

/// Longest pause for a partition after an error before it is fetched again.
const PARTITION_BACKOFF_MAX_MS: u64 = 500;

#[derive(Debug, Clone, Copy)]
struct FetchState {
    leader_epoch: i32,
    truncated: bool,
    delayed_until: Option<Instant>,
}

#[derive(Debug)]
struct Fetcher {
    leader: i32,
    partitions: Mutex<BTreeMap<TopicPartition, FetchState>>,
    wake: Notify,
    stopped: AtomicBool,
    /// The incremental fetch session with the leader (KIP-227), if one is open.
    session: Mutex<FetchSession>,
}

/// A follower's side of a fetch session: its id and next epoch, and what the leader's session
/// holds for each partition (what the last request that listed it said). A request lists only
/// the partitions whose entry differs, and forgets those no longer fetched.
#[derive(Debug, Default)]
struct FetchSession {
    /// 0: no session (the next fetch is a full one that opens one).
    id: i32,
    next_epoch: i32,
    sent: HashMap<TopicPartition, FetchRequestPartition>,
}

impl FetchSession {
    fn reset(&mut self) {
        *self = FetchSession::default();
    }
}

/// Starts, feeds and stops the fetcher tasks (Kafka's `ReplicaFetcherManager`).
#[derive(Debug, Default)]
pub struct FetcherManager {
    fetchers: Mutex<HashMap<i32, Arc<Fetcher>>>,
}

impl FetcherManager {
    /// Follows `tp` from `leader` at `leader_epoch`, truncating first.
    pub fn add_partition(&self, broker: &Arc<Broker>, tp: TopicPartition, leader: i32, leader_epoch: i32) {
        let mut fetchers = self.fetchers.lock();
        for (id, f) in fetchers.iter() {
            if *id != leader {
                f.partitions.lock().remove(&tp);
            }
        }
        let fetcher = fetchers
            .entry(leader)
            .or_insert_with(|| {
                let f = Arc::new(Fetcher {
                    leader,
                    partitions: Mutex::new(BTreeMap::new()),
                    wake: Notify::new(),
                    stopped: AtomicBool::new(false),
                    session: Mutex::new(FetchSession::default()),
                });
                let (fetcher, broker) = (f.clone(), broker.clone());
                let name = format!("replica-fetcher-{leader}");
                broker.clone().subtasks.spawn(name, async move {
                    run(fetcher.clone(), broker).await;
                    // It returns only once stopped (at shutdown).
                    if fetcher.stopped.load(Ordering::Relaxed) { SubTaskEnd::Done } else { SubTaskEnd::Unexpected }
                });
                f
            })
            .clone();
        fetcher.partitions.lock().insert(tp, FetchState { leader_epoch, truncated: false, delayed_until: None });
        fetcher.wake.notify_one();
    }

    /// Stops following `tp` (it became leader, or went away).
    pub fn remove_partition(&self, tp: &TopicPartition) {
        for f in self.fetchers.lock().values() {
            f.partitions.lock().remove(tp);
        }
    }

    /// Stops every fetcher.
    pub fn shutdown(&self) {
        for (_, f) in self.fetchers.lock().drain() {
            f.stopped.store(true, Ordering::Relaxed);
            f.wake.notify_one();
        }
    }
}

async fn run(fetcher: Arc<Fetcher>, broker: Arc<Broker>) {
    let me = broker.config.broker_id;
    let cfg = broker.config.replication.clone();
    let mut conn: Option<Arc<BrokerConnection>> = None;
    let backoff = Duration::from_millis(cfg.fetch_backoff_ms.clamp(10, PARTITION_BACKOFF_MAX_MS));
    while !fetcher.stopped.load(Ordering::Relaxed) {
        let now = Instant::now();
        let work: Vec<(TopicPartition, FetchState)> = fetcher
            .partitions
            .lock()
            .iter()
            .filter(|(_, s)| s.delayed_until.is_none_or(|t| t <= now))
            .map(|(tp, s)| (tp.clone(), *s))
            .collect();
        if work.is_empty() {
            let _ = tokio::time::timeout(backoff, fetcher.wake.notified()).await;
            continue;
        }
        let c = match conn.as_ref().filter(|c| !c.is_closed()) {
            Some(c) => c.clone(),
            None => {
                let address = broker.link.cache.read(|v| {
                    v.brokers.get(&fetcher.leader).and_then(|r| r.endpoint(&broker.config.inter_broker_listener))
                });
                let Some((host, port)) = address else {
                    tokio::time::sleep(backoff).await;
                    continue;
                };
                let address = format!("{host}:{port}");
                let timeout = Duration::from_millis(cfg.socket_timeout_ms);
                let login = &broker.config.inter_broker_security;
                match BrokerConnection::connect_with(&address, &format!("replica-fetcher-{me}"), timeout, login).await {
                    Ok(c) => {
                        conn = Some(c.clone());
                        c
                    }
                    Err(e) => {
                        if matches!(e, sluice_client::ClientError::Authentication { .. }) {
                            tracing::warn!(leader = fetcher.leader, %address, error = %e, "cannot log in to the leader");
                        } else {
                            tracing::debug!(leader = fetcher.leader, %address, error = %e, "cannot reach the leader");
                        }
                        tokio::time::sleep(backoff).await;
                        continue;
                    }
                }
            }
        };
        let untruncated: Vec<_> = work.iter().filter(|(_, s)| !s.truncated).cloned().collect();
        if !untruncated.is_empty() {
            if let Err(e) = truncate(&fetcher, &broker, &c, untruncated).await {
                tracing::debug!(leader = fetcher.leader, error = %e, "OffsetForLeaderEpoch failed");
                conn = None;
                fetcher.session.lock().reset();
                tokio::time::sleep(backoff).await;
            }
            continue;
        }
        if let Err(e) = fetch(&fetcher, &broker, &c, work).await {
            tracing::debug!(leader = fetcher.leader, error = %e, "fetch failed");
            conn = None;
            fetcher.session.lock().reset();
            tokio::time::sleep(backoff).await;
        }
    }
}

fn delay(fetcher: &Fetcher, tp: &TopicPartition, epoch: i32, ms: u64) {
    if let Some(s) = fetcher.partitions.lock().get_mut(tp)
        && s.leader_epoch == epoch
    {
        s.delayed_until = Some(Instant::now() + Duration::from_millis(ms));
    }
}

/// Truncates each partition to where its log and the leader's agree (KIP-279).
async fn truncate(
    fetcher: &Fetcher,
    broker: &Arc<Broker>,
    conn: &BrokerConnection,
    work: Vec<(TopicPartition, FetchState)>,
) -> Result<(), sluice_client::ClientError> {
    let rm = &broker.replica_manager;
    let mut asks: BTreeMap<String, Vec<OffsetForLeaderEpochRequestPartition>> = BTreeMap::new();
    for (tp, state) in &work {
        let Some(partition) = rm.partition(tp) else { continue };
        match partition.latest_epoch() {
            Some(epoch) => asks.entry(tp.topic.clone()).or_default().push(OffsetForLeaderEpochRequestPartition {
                partition: tp.partition,
                current_leader_epoch: state.leader_epoch,
                leader_epoch: epoch,
            }),
            None => mark_truncated(fetcher, tp, state.leader_epoch), // nothing of ours to disagree
        }
    }
    if asks.is_empty() {
        return Ok(());
    }
    let request = OffsetForLeaderEpochRequest {
        replica_id: broker.config.broker_id,
        topics: asks
            .into_iter()
            .map(|(topic, partitions)| OffsetForLeaderEpochRequestTopic { topic, partitions })
            .collect(),
    };
    let Response::OffsetForLeaderEpoch(response) = conn.send(Request::OffsetForLeaderEpoch(request)).await? else {
        return Err(sluice_client::ClientError::Invalid("OffsetForLeaderEpoch answered with something else".into()));
    };
    let epochs: HashMap<&TopicPartition, i32> = work.iter().map(|(tp, s)| (tp, s.leader_epoch)).collect();
    for topic in response.topics {
        for p in topic.partitions {
            let tp = TopicPartition::new(topic.topic.clone(), p.partition);
            let Some(&epoch) = epochs.get(&tp) else { continue };
            let Some(partition) = rm.partition(&tp) else { continue };
            if p.error_code != 0 {
                tracing::debug!(%tp, error = code_of(p.error_code).name(), "leader refused OffsetForLeaderEpoch");
                delay(fetcher, &tp, epoch, PARTITION_BACKOFF_MAX_MS);
                continue;
            }
            let cut = partition.with_follower_log(fetcher.leader, epoch, |log| {
                let follower =
                    FollowerLog { log_end_offset: log.log_end_offset(), high_watermark: log.high_watermark() };
                let (our_epoch, our_end) = log.end_offset_for_epoch(p.leader_epoch);
                let target = truncation::truncation_target(
                    EpochEndOffset::new(p.leader_epoch, p.end_offset),
                    follower,
                    EpochEndOffset::new(our_epoch, our_end),
                );
                if target.below_high_watermark(follower) {
                    tracing::warn!(%tp, leader = fetcher.leader, leader_epoch = epoch, target = target.offset, high_watermark = follower.high_watermark, "truncating below the high watermark");
                }
                log.truncate_to(target.offset).map(|cut| (cut, follower.log_end_offset, log.log_end_offset(), target))
            });
            match cut {
                Ok(Ok((cut, before, after, target))) => {
                    if cut {
                        tracing::info!(%tp, leader = fetcher.leader, leader_epoch = epoch, from = before, to = after, reason = ?target.reason, "truncated by leader epoch");
                    }
                    // An incomplete round asks the leader again, with the older latest epoch
                    // the cut left (KIP-279).
                    if target.complete {
                        mark_truncated(fetcher, &tp, epoch);
                    }
                }
                Ok(Err(e)) => {
                    tracing::error!(%tp, error = %e, "truncation failed");
                    delay(fetcher, &tp, epoch, PARTITION_BACKOFF_MAX_MS);
                }
                Err(_) => delay(fetcher, &tp, epoch, PARTITION_BACKOFF_MAX_MS),
            }
        }
    }
    Ok(())
}

fn mark_truncated(fetcher: &Fetcher, tp: &TopicPartition, epoch: i32) {
    if let Some(s) = fetcher.partitions.lock().get_mut(tp)
        && s.leader_epoch == epoch
    {
        s.truncated = true;
        s.delayed_until = None;
    }
}

async fn fetch(
    fetcher: &Fetcher,
    broker: &Arc<Broker>,
    conn: &BrokerConnection,
    work: Vec<(TopicPartition, FetchState)>,
) -> Result<(), sluice_client::ClientError> {
    let rm = &broker.replica_manager;
    let cfg = &broker.config.replication;
    let mut wanted: HashMap<TopicPartition, FetchRequestPartition> = HashMap::with_capacity(work.len());
    let mut offsets = HashMap::new();
    for (tp, state) in &work {
        let Some(partition) = rm.partition(tp) else { continue };
        let log = partition.offsets();
        let (leo, start) = (log.log_end_offset, log.log_start_offset);
        offsets.insert(tp.clone(), (leo, state.leader_epoch));
        wanted.insert(
            tp.clone(),
            FetchRequestPartition {
                partition: tp.partition,
                current_leader_epoch: state.leader_epoch,
                fetch_offset: leo,
                last_fetched_epoch: -1,
                log_start_offset: start,
                partition_max_bytes: cfg.fetch_max_bytes,
                ..Default::default()
            },
        );
    }
    // With a session open, only what moved is listed, and what is no longer fetched forgotten.
    let mut topics: BTreeMap<String, Vec<FetchRequestPartition>> = BTreeMap::new();
    let mut forgotten: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let (session_id, session_epoch) = {
        let mut session = fetcher.session.lock();
        if session.id == INVALID_SESSION_ID {
            session.sent.clear();
        } else {
            let gone: Vec<TopicPartition> =
                session.sent.keys().filter(|tp| !wanted.contains_key(*tp)).cloned().collect();
            for tp in gone {
                session.sent.remove(&tp);
                forgotten.entry(tp.topic.clone()).or_default().push(tp.partition);
            }
        }
        for (tp, p) in &wanted {
            if session.sent.get(tp) != Some(p) {
                topics.entry(tp.topic.clone()).or_default().push(p.clone());
                session.sent.insert(tp.clone(), p.clone());
            }
        }
        if session.id == INVALID_SESSION_ID {
            (INVALID_SESSION_ID, INITIAL_EPOCH)
        } else {
            (session.id, session.next_epoch)
        }
    };
    let request = FetchRequest {
        cluster_id: None,
        replica_id: broker.config.broker_id,
        max_wait_ms: cfg.fetch_wait_max_ms,
        min_bytes: 1,
        max_bytes: cfg.fetch_response_max_bytes,
        isolation_level: 0,
        session_id,
        session_epoch,
        topics: topics
            .into_iter()
            .map(|(topic, partitions)| FetchRequestTopic { topic, partitions, ..Default::default() })
            .collect(),
        forgotten_topics_data: forgotten
            .into_iter()
            .map(|(topic, partitions)| FetchRequestForgottenTopic { topic, partitions, ..Default::default() })
            .collect(),
        rack_id: String::new(),
        ..Default::default()
    };
    let wait = Duration::from_millis(cfg.socket_timeout_ms + cfg.fetch_wait_max_ms as u64);
    let Response::Fetch(response) =
        tokio::time::timeout(wait, conn.send(Request::Fetch(request))).await.map_err(|_| {
            sluice_client::ClientError::Timeout { what: "replica fetch".into(), ms: wait.as_millis() as u64 }
        })??
    else {
        return Err(sluice_client::ClientError::Invalid("Fetch answered with something else".into()));
    };
    {
        let mut session = fetcher.session.lock();
        match code_of(response.error_code) {
            ErrorCode::None if response.session_id == INVALID_SESSION_ID => session.reset(),
            ErrorCode::None => {
                if session.id == INVALID_SESSION_ID {
                    tracing::debug!(leader = fetcher.leader, session_id = response.session_id, "fetch session opened");
                }
                session.id = response.session_id;
                session.next_epoch = next_epoch(session_epoch);
            }
            code => {
                // The session is gone or out of step (FETCH_SESSION_ID_NOT_FOUND,
                // INVALID_FETCH_SESSION_EPOCH): start over with a full fetch.
                tracing::debug!(leader = fetcher.leader, error = code.name(), "fetch session reset");
                session.reset();
                return Ok(());
            }
        }
    }
    for topic in response.responses {
        for p in topic.partitions {
            let tp = TopicPartition::new(topic.topic.clone(), p.partition_index);
            let Some(&(fetch_offset, epoch)) = offsets.get(&tp) else { continue };
            let Some(partition) = rm.partition(&tp) else { continue };
            match code_of(p.error_code) {
                ErrorCode::None => {
                    // Decoded from the wire: in memory, so reading cannot fail.
                    let records = match p.records.map(|r| r.to_bytes()).transpose() {
                        Ok(records) => records.unwrap_or_default(),
                        Err(e) => {
                            tracing::warn!(%tp, error = %e, "unreadable fetched records");
                            delay(fetcher, &tp, epoch, PARTITION_BACKOFF_MAX_MS);
                            continue;
                        }
                    };
                    match partition.append_as_follower(
                        fetcher.leader,
                        epoch,
                        &records,
                        p.high_watermark,
                        p.log_start_offset,
                    ) {
                        // Consumers long-polling this follower (KIP-392) were woken if its high
                        // watermark moved.
                        Ok(_) => {}
                        Err(code) => {
                            tracing::debug!(%tp, error = code.name(), "dropping fetched data");
                            delay(fetcher, &tp, epoch, PARTITION_BACKOFF_MAX_MS);
                        }
                    }
                }
                ErrorCode::OffsetOutOfRange => {
                    match truncation::on_offset_out_of_range(fetch_offset, p.log_start_offset) {
                        // Behind the leader's log start (retention moved it): start over there.
                        OutOfRange::RestartAt(offset) => {
                            let _ = partition.with_follower_log(fetcher.leader, epoch, |log| {
                                tracing::warn!(%tp, from = fetch_offset, to = offset, "behind the leader's log start; restarting the log there");
                                let _ = log.truncate_fully_and_start_at(offset);
                            });
                        }
                        // Ahead of its log end cannot follow a truncation; truncate again.
                        OutOfRange::TruncateByEpoch => {
                            if let Some(s) = fetcher.partitions.lock().get_mut(&tp)
                                && s.leader_epoch == epoch
                            {
                                s.truncated = false;
                            }
                        }
                    }
                }
                code => {
                    tracing::debug!(%tp, leader = fetcher.leader, error = code.name(), "leader refused the fetch");
                    delay(fetcher, &tp, epoch, PARTITION_BACKOFF_MAX_MS);
                }
            }
        }
    }
    Ok(())
}
