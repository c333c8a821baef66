//! The transaction coordinator's async shell (Kafka's `TransactionCoordinator` and
//! `TransactionMarkerChannelManager`): the transactional ids of the `__transaction_state`
//! partitions this broker leads, their state transitions written before they take effect,
//! the end-transaction markers sent to every partition a transaction touched, the abort of
//! transactions that outlive their timeout, and the expiry of transactional ids left idle past
//! `transactional.id.expiration.ms`.
//!
//! Concurrency: one mutex over the ids' states, never held across an await. A transition is
//! written to `__transaction_state` while the id is marked `pending`; requests for it meanwhile
//! get CONCURRENT_TRANSACTIONS (the client retries), as Kafka's `pendingState` does. Markers
//! are sent by a task per ending transaction, spawned by [`run`]; while they are out the id is
//! in PrepareCommit/PrepareAbort, which every request treats as "retry later". A new leader of
//! a `__transaction_state` partition reloads it and resumes the markers of every transaction
//! it finds prepared.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sluice_client::connection::BrokerConnection;
use sluice_protocol::api::{Request, Response};
use sluice_protocol::control::{ControlType, EndTxnMarker, marker_batch};
use sluice_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction, WritableTxnMarker,
    WritableTxnMarkerTopic, WriteTxnMarkersRequest,
};
use sluice_storage::TopicPartition;
use tokio::sync::{mpsc, watch};

use super::log::{self as txn_log, TRANSACTION_STATE_TOPIC};
use super::state::{TxnMetadata, TxnState};
use crate::broker::Broker;
use crate::error::{ErrorCode, code_of};
use crate::group::offsets_log::OFFSETS_TOPIC;
use crate::subtasks::SubTaskEnd;
use crate::txn::TxnHandle;

/// Transactions whose markers are waiting to be sent, at most (the sender awaits beyond it).
const MAX_QUEUED_COMPLETIONS: usize = 1024;
/// How long InitProducerId waits for a transaction it aborted to complete before answering
/// CONCURRENT_TRANSACTIONS (the client then retries).
const INIT_WAIT_MS: u64 = 5_000;
/// How long EndTxn waits for its markers before answering anyway (the decision is written).
const END_TXN_WAIT_MS: u64 = 1_000;
/// How long one marker write may wait for replication.
const MARKER_TIMEOUT_MS: u64 = 10_000;
/// The longest pause between rounds of markers to partitions that failed.
const MARKER_BACKOFF_MAX_MS: u64 = 1_000;
/// Tries at writing a transaction's completion before leaving it to the next coordinator.
const COMPLETE_WRITE_TRIES: usize = 20;

#[derive(Debug)]
struct Entry {
    meta: TxnMetadata,
    /// A transition is being written.
    pending: bool,
}

#[derive(Debug, Default)]
struct Inner {
    txns: HashMap<String, Entry>,
    /// `__transaction_state` partitions led and loaded here.
    loaded: HashSet<i32>,
    /// Ids whose markers a task is sending.
    completing: HashSet<String>,
}

#[derive(Debug)]
pub struct TransactionCoordinator {
    inner: Mutex<Inner>,
    /// Bumped whenever a transaction completes (InitProducerId waits on it).
    changes: watch::Sender<u64>,
    completions: mpsc::Sender<String>,
    completions_rx: Mutex<Option<mpsc::Receiver<String>>>,
    connections: tokio::sync::Mutex<HashMap<i32, Arc<BrokerConnection>>>,
}

impl Default for TransactionCoordinator {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(MAX_QUEUED_COMPLETIONS);
        TransactionCoordinator {
            inner: Mutex::new(Inner::default()),
            changes: watch::channel(0).0,
            completions: tx,
            completions_rx: Mutex::new(Some(rx)),
            connections: tokio::sync::Mutex::new(HashMap::new()),
        }
    }
}

/// One transaction as DescribeTransactions and ListTransactions show it.
#[derive(Debug, Clone)]
pub struct TxnView {
    pub transactional_id: String,
    pub meta: TxnMetadata,
}

fn now_ms(env: TxnHandle<'_>) -> i64 {
    env.cluster.replicas.now_ms()
}

/// The `__transaction_state` partition of `transactional_id`.
pub fn partition_for(env: TxnHandle<'_>, transactional_id: &str) -> i32 {
    txn_log::partition_for(transactional_id, txn_log::partition_count(env))
}

impl TransactionCoordinator {
    /// Whether this broker coordinates `transactional_id`: NOT_COORDINATOR when another broker
    /// leads its partition, COORDINATOR_LOAD_IN_PROGRESS while the partition is being loaded.
    pub fn check_coordinator(&self, env: TxnHandle<'_>, transactional_id: &str) -> Result<i32, ErrorCode> {
        let p = partition_for(env, transactional_id);
        let tp = TopicPartition::new(TRANSACTION_STATE_TOPIC, p);
        match env.cluster.replicas.partition(&tp) {
            Some(partition) if partition.is_leader() => {
                if self.inner.lock().loaded.contains(&p) {
                    Ok(p)
                } else {
                    Err(ErrorCode::CoordinatorLoadInProgress)
                }
            }
            _ if env.cluster.named_leader(TRANSACTION_STATE_TOPIC, p) => Err(ErrorCode::CoordinatorLoadInProgress),
            _ => Err(ErrorCode::NotCoordinator),
        }
    }

    /// Marks `id` pending and returns its state, unless a transition is already in flight.
    fn begin(&self, id: &str) -> Result<Option<TxnMetadata>, ErrorCode> {
        let mut inner = self.inner.lock();
        match inner.txns.get_mut(id) {
            Some(e) if e.pending => Err(ErrorCode::ConcurrentTransactions),
            Some(e) => {
                e.pending = true;
                Ok(Some(e.meta.clone()))
            }
            None => Ok(None),
        }
    }

    /// Ends a transition: the new state when it was written, the old one kept otherwise.
    fn finish(&self, id: &str, written: Option<TxnMetadata>) {
        let mut inner = self.inner.lock();
        if let Some(e) = inner.txns.get_mut(id) {
            e.pending = false;
            if let Some(m) = written {
                e.meta = m;
            }
        }
        drop(inner);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Writes a transition of `id` begun with [`begin`](Self::begin), and makes it current.
    async fn write(&self, env: TxnHandle<'_>, id: &str, partition: i32, next: TxnMetadata) -> Result<(), ErrorCode> {
        let result = txn_log::append(env, partition, id, &next).await;
        self.finish(id, result.is_ok().then_some(next));
        result
    }

    /// InitProducerId with a transactional id.
    pub async fn init_producer_id(
        &self,
        env: TxnHandle<'_>,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ErrorCode> {
        if timeout_ms <= 0 || i64::from(timeout_ms) > env.config.max_timeout_ms {
            return Err(ErrorCode::InvalidTransactionTimeout);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(INIT_WAIT_MS);
        loop {
            let partition = self.check_coordinator(env, id)?;
            let mut changed = self.changes.subscribe();
            let now = now_ms(env);
            if self.view(id).is_some_and(|v| v.meta.state.is_prepare()) {
                // Its markers are being written: wait for the transaction to complete.
                if tokio::time::timeout_at(deadline, changed.changed()).await.is_err() {
                    return Err(ErrorCode::ConcurrentTransactions);
                }
                continue;
            }
            let current = match self.begin(id) {
                Ok(current) => current,
                Err(ErrorCode::ConcurrentTransactions) => {
                    if tokio::time::timeout_at(deadline, changed.changed()).await.is_err() {
                        return Err(ErrorCode::ConcurrentTransactions);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(current) = current else {
                // A new transactional id: a producer id of its own, at epoch 0.
                let producer_id = env.producer_ids.next_id(env.cluster).await?;
                let meta = TxnMetadata::new(producer_id, timeout_ms, now);
                {
                    let mut inner = self.inner.lock();
                    if inner.txns.contains_key(id) {
                        continue; // another request created it meanwhile
                    }
                    inner.txns.insert(id.to_string(), Entry { meta: meta.clone(), pending: true });
                }
                let result = txn_log::append(env, partition, id, &meta).await;
                if result.is_err() {
                    self.inner.lock().txns.remove(id);
                } else {
                    self.finish(id, None);
                }
                result?;
                tracing::info!(transactional_id = id, producer_id, "new transactional producer");
                return Ok((producer_id, 0));
            };
            match current.state {
                TxnState::Ongoing => {
                    // A new instance of the producer: fence the old one and abort its
                    // transaction, then wait for the abort to complete.
                    let aborting = current.fence_and_abort(now);
                    self.write(env, id, partition, aborting).await?;
                    tracing::info!(transactional_id = id, "aborting the open transaction of a fenced producer");
                    self.schedule_completion(id).await;
                    continue;
                }
                TxnState::PrepareCommit | TxnState::PrepareAbort => {
                    // Prepared between the look above and `begin`: look again.
                    self.finish(id, None);
                    continue;
                }
                _ => {}
            }
            let new_id = if current.epoch_exhausted() {
                match env.producer_ids.next_id(env.cluster).await {
                    Ok(id) => Some(id),
                    Err(e) => {
                        self.finish(id, None);
                        return Err(e);
                    }
                }
            } else {
                None
            };
            let next = match current.init_producer(expected, timeout_ms, now, new_id) {
                Ok(next) => next,
                Err(e) => {
                    self.finish(id, None);
                    return Err(e);
                }
            };
            let answer = (next.producer_id, next.producer_epoch);
            self.write(env, id, partition, next).await?;
            return Ok(answer);
        }
    }

    /// Runs one transition of `id` begun here: `step` gives the state to write (`None`: nothing
    /// to write) or the error to answer. Returns whether a state was written.
    async fn transition(
        &self,
        env: TxnHandle<'_>,
        id: &str,
        step: impl FnOnce(&TxnMetadata) -> Result<Option<TxnMetadata>, ErrorCode>,
    ) -> Result<bool, ErrorCode> {
        let partition = self.check_coordinator(env, id)?;
        let Some(current) = self.begin(id)? else { return Err(ErrorCode::InvalidProducerIdMapping) };
        match step(&current) {
            Ok(Some(next)) => self.write(env, id, partition, next).await.map(|()| true),
            Ok(None) => {
                self.finish(id, None);
                Ok(false)
            }
            Err(e) => {
                self.finish(id, None);
                Err(e)
            }
        }
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn: the partitions join the open transaction.
    pub async fn add_partitions(
        &self,
        env: TxnHandle<'_>,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), ErrorCode> {
        let now = now_ms(env);
        self.transition(env, id, |m| m.add_partitions(producer_id, producer_epoch, partitions, now)).await?;
        Ok(())
    }

    /// EndTxn: the transaction is prepared (written), then answered once its markers are out or
    /// `END_TXN_WAIT_MS` has passed, whichever comes first; the markers finish regardless.
    pub async fn end_txn(
        &self,
        env: TxnHandle<'_>,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), ErrorCode> {
        let now = now_ms(env);
        let mut changed = self.changes.subscribe();
        if !self.transition(env, id, |m| m.end(producer_id, producer_epoch, commit, now)).await? {
            return Ok(()); // a retry of an end already complete
        }
        self.schedule_completion(id).await;
        // The decision is durable: the answer may go now. Waiting a little for the markers
        // spares the producer's next AddPartitionsToTxn a CONCURRENT_TRANSACTIONS and its retry
        // backoff, which costs more than the markers usually take.
        let _ = tokio::time::timeout(Duration::from_millis(END_TXN_WAIT_MS), async {
            while self.view(id).is_some_and(|v| v.meta.state.is_prepare()) {
                if changed.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        Ok(())
    }

    /// KIP-890: whether `tp` is in the open transaction of this producer (asked by a partition
    /// leader before it takes the producer's first transactional batch there).
    pub async fn verify(
        &self,
        env: TxnHandle<'_>,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        tp: &TopicPartition,
    ) -> Result<(), ErrorCode> {
        match self.verify_local(env, id, producer_id, producer_epoch, tp) {
            Err(ErrorCode::NotCoordinator) => {
                let p = partition_for(env, id);
                let Some(leader) = env.cluster.link.cache.read(|v| v.leader(TRANSACTION_STATE_TOPIC, p)) else {
                    return Err(ErrorCode::NotEnoughReplicas);
                };
                let request = AddPartitionsToTxnRequest {
                    transactions: vec![AddPartitionsToTxnTransaction {
                        transactional_id: id.to_string(),
                        producer_id,
                        producer_epoch,
                        verify_only: true,
                        topics: vec![AddPartitionsToTxnTopic {
                            name: tp.topic.clone(),
                            partitions: vec![tp.partition],
                        }],
                    }],
                    ..Default::default()
                };
                match self.send(env, leader, Request::AddPartitionsToTxn(request)).await? {
                    Response::AddPartitionsToTxn(r) if r.error_code != 0 => Err(code_of(r.error_code)),
                    Response::AddPartitionsToTxn(r) => {
                        let code = r
                            .results_by_transaction
                            .iter()
                            .flat_map(|t| &t.topic_results)
                            .flat_map(|t| &t.results_by_partition)
                            .map(|p| p.partition_error_code)
                            .find(|&c| c != 0)
                            .unwrap_or(0);
                        if code == 0 { Ok(()) } else { Err(code_of(code)) }
                    }
                    _ => Err(ErrorCode::UnknownServerError),
                }
            }
            result => result,
        }
    }

    /// [`verify`](Self::verify) answered here only: NOT_COORDINATOR when another broker
    /// coordinates the id (a verification sent by a leader is never forwarded again).
    pub fn verify_local(
        &self,
        env: TxnHandle<'_>,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        tp: &TopicPartition,
    ) -> Result<(), ErrorCode> {
        self.check_coordinator(env, id)?;
        let inner = self.inner.lock();
        let Some(e) = inner.txns.get(id) else { return Err(ErrorCode::InvalidProducerIdMapping) };
        e.meta.check_producer(producer_id, producer_epoch)?;
        // As Kafka's coordinator answers a verification: a transaction being completed is
        // CONCURRENT_TRANSACTIONS (retriable), a partition not in the transaction
        // TRANSACTION_ABORTABLE (the producer's leader tells an older client INVALID_TXN_STATE).
        if matches!(e.meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        let member = e.meta.partitions.contains(&(tp.topic.clone(), tp.partition));
        if e.meta.state == TxnState::Ongoing && member { Ok(()) } else { Err(ErrorCode::TransactionAbortable) }
    }

    /// Sends a request to another broker over its inter-broker listener.
    async fn send(&self, env: TxnHandle<'_>, to: i32, request: Request) -> Result<Response, ErrorCode> {
        let conn = {
            let mut conns = self.connections.lock().await;
            match conns.get(&to).filter(|c| !c.is_closed()) {
                Some(c) => c.clone(),
                None => {
                    let address = env
                        .cluster
                        .link
                        .cache
                        .read(|v| v.brokers.get(&to).and_then(|r| r.endpoint(env.inter_broker_listener)));
                    let Some((host, port)) = address else { return Err(ErrorCode::NetworkException) };
                    let client_id = format!("txn-coordinator-{}", env.cluster.broker_id);
                    let timeout = Duration::from_millis(env.socket_timeout_ms);
                    let c = BrokerConnection::connect_with(
                        &format!("{host}:{port}"),
                        &client_id,
                        timeout,
                        env.inter_broker_security,
                    )
                    .await
                    .map_err(|e| {
                        tracing::debug!(broker = to, error = %e, "cannot reach a broker for transaction markers");
                        ErrorCode::NetworkException
                    })?;
                    conns.insert(to, c.clone());
                    c
                }
            }
        };
        conn.send(request).await.map_err(|_| ErrorCode::NetworkException)
    }

    async fn schedule_completion(&self, id: &str) {
        if self.completions.send(id.to_string()).await.is_err() {
            tracing::error!(transactional_id = id, "the transaction completion task is gone");
        }
    }

    /// The transactions coordinated here, for ListTransactions and DescribeTransactions.
    pub fn view(&self, id: &str) -> Option<TxnView> {
        let inner = self.inner.lock();
        inner.txns.get(id).map(|e| TxnView { transactional_id: id.to_string(), meta: e.meta.clone() })
    }

    pub fn all(&self) -> Vec<TxnView> {
        let inner = self.inner.lock();
        inner.txns.iter().map(|(id, e)| TxnView { transactional_id: id.clone(), meta: e.meta.clone() }).collect()
    }

    /// Loads or unloads a `__transaction_state` partition as this broker gains or loses its
    /// leadership; loading resumes the markers of every prepared transaction.
    pub async fn on_leadership(&self, env: TxnHandle<'_>, tp: &TopicPartition, leader: bool) {
        if tp.topic != TRANSACTION_STATE_TOPIC {
            return;
        }
        let p = tp.partition;
        let count = txn_log::partition_count(env);
        let mine = |id: &str| txn_log::partition_for(id, count) == p;
        {
            let mut inner = self.inner.lock();
            inner.loaded.remove(&p);
            inner.txns.retain(|id, _| !mine(id));
        }
        if !leader {
            return;
        }
        let loaded = txn_log::load_partition(env, p);
        let prepared: Vec<String> =
            loaded.iter().filter(|(_, m)| m.state.is_prepare()).map(|(id, _)| id.clone()).collect();
        {
            let mut inner = self.inner.lock();
            for (id, meta) in loaded {
                inner.txns.insert(id, Entry { meta, pending: false });
            }
            inner.loaded.insert(p);
        }
        tracing::info!(partition = p, resumed = prepared.len(), "loaded transactions: now their coordinator");
        for id in prepared {
            self.schedule_completion(&id).await;
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// Aborts every open transaction past its timeout, fencing its producer.
    async fn abort_timed_out(&self, env: TxnHandle<'_>) {
        let now = now_ms(env);
        let expired: Vec<String> = {
            let inner = self.inner.lock();
            inner.txns.iter().filter(|(_, e)| !e.pending && e.meta.timed_out(now)).map(|(id, _)| id.clone()).collect()
        };
        for id in expired {
            let Ok(partition) = self.check_coordinator(env, &id) else { continue };
            let Ok(Some(current)) = self.begin(&id) else { continue };
            if !current.timed_out(now) {
                self.finish(&id, None);
                continue;
            }
            tracing::info!(transactional_id = %id, producer_id = current.producer_id, timeout_ms = current.timeout_ms, "aborting a transaction past its timeout");
            if self.write(env, &id, partition, current.fence_and_abort(now)).await.is_ok() {
                self.schedule_completion(&id).await;
            }
        }
    }

    /// Forgets every transactional id idle past `expiration_ms` (`transactional.id.expiration.ms`),
    /// writing its tombstone first (Kafka's `removeExpiredTransactionalIds`); an id whose
    /// tombstone cannot be written is kept for the next round.
    async fn remove_expired(&self, env: TxnHandle<'_>, expiration_ms: i64) {
        let now = now_ms(env);
        let expired: Vec<String> = {
            let inner = self.inner.lock();
            inner
                .txns
                .iter()
                .filter(|(_, e)| !e.pending && e.meta.expired(now, expiration_ms))
                .map(|(id, _)| id.clone())
                .collect()
        };
        for id in expired {
            let Ok(partition) = self.check_coordinator(env, &id) else { continue };
            let Ok(Some(current)) = self.begin(&id) else { continue };
            if !current.expired(now, expiration_ms) {
                self.finish(&id, None);
                continue;
            }
            match txn_log::append_tombstone(env, partition, &id, now).await {
                Ok(()) => {
                    // Unless the partition was reloaded meanwhile (which read the tombstone).
                    let mut inner = self.inner.lock();
                    if inner.txns.get(&id).is_some_and(|e| e.pending && e.meta == current) {
                        inner.txns.remove(&id);
                    }
                    drop(inner);
                    self.changes.send_modify(|n| *n += 1);
                    tracing::debug!(transactional_id = %id, "transactional id expired");
                }
                Err(e) => {
                    self.finish(&id, None);
                    tracing::debug!(transactional_id = %id, error = e.name(), "expiring a transactional id failed");
                }
            }
        }
    }

    /// Sends a prepared transaction's markers until every partition has its marker, then
    /// writes the transaction complete. Gives up when this broker stops coordinating the id
    /// (the next coordinator resumes it).
    async fn complete(&self, env: TxnHandle<'_>, id: &str) {
        let Ok(partition) = self.check_coordinator(env, id) else { return };
        let Some(meta) = self.view(id).map(|v| v.meta).filter(|m| m.state.is_prepare()) else { return };
        let commit = meta.state == TxnState::PrepareCommit;
        let coordinator_epoch = env
            .cluster
            .replicas
            .partition(&TopicPartition::new(TRANSACTION_STATE_TOPIC, partition))
            .map_or(0, |p| p.leader_epoch());
        let mut remaining: Vec<TopicPartition> =
            meta.partitions.iter().map(|(t, p)| TopicPartition::new(t.clone(), *p)).collect();
        let mut backoff = 20;
        while !remaining.is_empty() {
            if self.check_coordinator(env, id).is_err() {
                return;
            }
            let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
            let mut waiting = Vec::new();
            for tp in remaining.drain(..) {
                if env.cluster.topic_meta(&tp.topic).is_none() {
                    continue; // deleted: nothing to mark
                }
                match env.cluster.link.cache.read(|v| v.leader(&tp.topic, tp.partition)) {
                    Some(leader) => by_leader.entry(leader).or_default().push(tp),
                    None => waiting.push(tp),
                }
            }
            for (leader, tps) in by_leader {
                let results = if leader == env.cluster.broker_id {
                    write_markers(env, meta.producer_id, meta.producer_epoch, commit, coordinator_epoch, &tps).await
                } else {
                    self.send_markers(env, leader, &meta, commit, coordinator_epoch, &tps).await
                };
                for (tp, code) in tps.into_iter().zip(results) {
                    if code == ErrorCode::TransactionCoordinatorFenced {
                        // A newer coordinator already wrote this producer's markers there: this
                        // broker no longer coordinates the id, and the newer one finishes it.
                        tracing::info!(transactional_id = id, %tp, "a newer transaction coordinator took over");
                        return;
                    }
                    let done = match code {
                        ErrorCode::None => true,
                        // The producer moved past this epoch there: a marker of a newer epoch
                        // already ended its transaction.
                        ErrorCode::InvalidProducerEpoch => true,
                        ErrorCode::UnknownTopicOrPartition => env.cluster.topic_meta(&tp.topic).is_none(),
                        _ => false,
                    };
                    if !done {
                        tracing::debug!(transactional_id = id, %tp, error = code.name(), "marker not written yet");
                        waiting.push(tp);
                    }
                }
            }
            remaining = waiting;
            if !remaining.is_empty() {
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                backoff = (backoff * 2).min(MARKER_BACKOFF_MAX_MS);
            }
        }
        for attempt in 0..COMPLETE_WRITE_TRIES {
            let Ok(partition) = self.check_coordinator(env, id) else { return };
            let Ok(Some(current)) = self.begin(id) else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            if current != meta {
                self.finish(id, None);
                return;
            }
            match self.write(env, id, partition, current.complete(now_ms(env))).await {
                Ok(()) => {
                    tracing::debug!(transactional_id = id, commit, "transaction complete");
                    return;
                }
                Err(e) => {
                    tracing::warn!(transactional_id = id, error = e.name(), attempt, "writing the completion failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    async fn send_markers(
        &self,
        env: TxnHandle<'_>,
        leader: i32,
        meta: &TxnMetadata,
        commit: bool,
        coordinator_epoch: i32,
        tps: &[TopicPartition],
    ) -> Vec<ErrorCode> {
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in tps {
            topics.entry(&tp.topic).or_default().push(tp.partition);
        }
        let request = WriteTxnMarkersRequest {
            markers: vec![WritableTxnMarker {
                producer_id: meta.producer_id,
                producer_epoch: meta.producer_epoch,
                transaction_result: commit,
                topics: topics
                    .into_iter()
                    .map(|(name, partition_indexes)| WritableTxnMarkerTopic {
                        name: name.to_string(),
                        partition_indexes,
                    })
                    .collect(),
                coordinator_epoch,
            }],
        };
        let response = match self.send(env, leader, Request::WriteTxnMarkers(request)).await {
            Ok(Response::WriteTxnMarkers(r)) => r,
            Ok(_) => return vec![ErrorCode::UnknownServerError; tps.len()],
            Err(e) => return vec![e; tps.len()],
        };
        let mut codes: HashMap<(String, i32), i16> = HashMap::new();
        for m in response.markers {
            for t in m.topics {
                for p in t.partitions {
                    codes.insert((t.name.clone(), p.partition_index), p.error_code);
                }
            }
        }
        tps.iter()
            .map(|tp| {
                codes.get(&(tp.topic.clone(), tp.partition)).map_or(ErrorCode::UnknownServerError, |&c| code_of(c))
            })
            .collect()
    }
}

/// Writes one producer's end-transaction markers into partitions this broker leads
/// (WriteTxnMarkers), waiting until each is replicated; then completes the producer's
/// transactional offset commits in the `__consumer_offsets` partitions among them.
pub async fn write_markers(
    env: TxnHandle<'_>,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    tps: &[TopicPartition],
) -> Vec<ErrorCode> {
    let control_type = if commit { ControlType::Commit } else { ControlType::Abort };
    let now = now_ms(env);
    let batches = tps
        .iter()
        .map(|tp| {
            let bytes =
                marker_batch(producer_id, producer_epoch, EndTxnMarker { control_type, coordinator_epoch }, now);
            (tp.clone(), bytes)
        })
        .collect();
    let codes = env.cluster.replicas.append_markers(batches, Duration::from_millis(MARKER_TIMEOUT_MS)).await;
    for (tp, code) in tps.iter().zip(&codes) {
        if *code == ErrorCode::None && tp.topic == OFFSETS_TOPIC {
            env.groups.complete_txn_offsets(tp.partition, producer_id, commit);
        }
    }
    codes
}

/// The coordinator's background work: sending the markers of ending transactions (a task per
/// transaction), aborting timed-out ones every
/// `transaction.abort.timed.out.transaction.cleanup.interval.ms`, and removing expired
/// transactional ids.
///
/// The two timer loops run concurrently with the completions' receiver inside this task's own
/// future (a `select!`, not spawned apart): the abort loop queues completions, so the receiver
/// keeps draining while it waits, and the node's supervisor sees a panic in any of them as this
/// task's failure instead of losing it silently.
pub async fn run(broker: Arc<Broker>) {
    let Some(mut completions) = broker.txns.completions_rx.lock().take() else { return };
    let abort_timed_out = async {
        let b = &broker;
        let mut tick = tokio::time::interval(Duration::from_millis(b.config.txn.abort_timed_out_interval_ms));
        loop {
            tick.tick().await;
            b.txns.abort_timed_out(b.txn_handle()).await;
        }
    };
    let remove_expired = async {
        let b = &broker;
        let mut tick =
            tokio::time::interval(Duration::from_millis(b.config.txn.remove_expired_transactional_ids_interval_ms));
        loop {
            tick.tick().await;
            b.txns.remove_expired(b.txn_handle(), b.config.txn.transactional_id_expiration_ms).await;
        }
    };
    let complete = async {
        while let Some(id) = completions.recv().await {
            if !broker.txns.inner.lock().completing.insert(id.clone()) {
                continue; // its markers are already being sent
            }
            let b = broker.clone();
            broker.subtasks.spawn(format!("txn-completion {id}"), async move {
                b.txns.complete(b.txn_handle(), &id).await;
                b.txns.inner.lock().completing.remove(&id);
                b.txns.changes.send_modify(|n| *n += 1);
                // Still prepared (the completion could not be written): try again later, while
                // this broker coordinates it.
                if b.txns.view(&id).is_some_and(|v| v.meta.state.is_prepare())
                    && b.txns.check_coordinator(b.txn_handle(), &id).is_ok()
                {
                    tokio::time::sleep(Duration::from_millis(MARKER_BACKOFF_MAX_MS)).await;
                    b.txns.schedule_completion(&id).await;
                }
                SubTaskEnd::Done
            });
        }
    };
    tokio::select! {
        () = abort_timed_out => {}
        () = remove_expired => {}
        () = complete => {}
    }
}
