//! `ReplicaManager`: the partitions this broker hosts and their roles (Kafka's
//! `ReplicaManager`; each partition is a `Partition`, in `partition.rs`).
//!
//! A partition's role comes from its state znode (leader, leader epoch, ISR), which the
//! controller writes and every broker follows through the metadata cache (`apply_view`):
//! - **leader**: takes produce requests, stamps batches with its leader epoch, tracks each
//!   follower's log end offset from its fetches (`sluice_replication::LeaderState`), moves the
//!   high watermark to the smallest log end offset of the ISR, and proposes ISR changes (a
//!   follower lagging `replica.lag.time.max.ms`, or caught up again) which the ISR writer task
//!   commits with compare-and-set on the znode version;
//! - **follower**: refuses clients, and is fed by a `ReplicaFetcher` (see `fetcher.rs`) that
//!   truncates by leader epoch, then appends what the leader sends.
//!
//! `acks=all` waits in a purgatory (`purgatory::DelayedProduce`, one per request over all its
//! partitions) until each high watermark passes its batch, the request times out, or the
//! partition stops being led here.
//!
//! At startup the broker serves before its logs are loaded (`LogManager::load_logs`): a
//! partition exists here only once its log is. `apply_view` skips the partitions whose logs are
//! still loading (never creating a log in their place), each load wakes the reconciler
//! (`log_loaded`), which applies the view again and so takes their roles, and requests for them
//! meanwhile get NOT_LEADER_OR_FOLLOWER (`partition_or_error`).
//!
//! Concurrency and lock order: a partition's `status` mutex, then its log's lock; both are held
//! only for short synchronous work. The partition map's lock is held only to look up or change
//! the map. Waiting happens on `watch` channels, never while a lock is held.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use sluice_storage::{AppendOrigin, Clock, LogConfig, LogManager, StorageError, TopicPartition};
use tokio::sync::{mpsc, watch};

use crate::cluster::cache::ClusterView;
use crate::error::ErrorCode;
use crate::log_limiter::LogLimiter;
use crate::observe::TopicCounters;
use crate::partition::Transition;
pub use crate::partition::{
    AppendResult, IsrChange, Partition, PartitionRead, ReadBound, RecordRefusal, VerificationGuard,
};
use crate::purgatory::{DeferredWakes, DelayedProduce, PendingAck};

/// A change the replica manager asks of the outside after applying a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChange {
    BecameLeader(TopicPartition),
    BecameFollower { tp: TopicPartition, leader: i32, leader_epoch: i32 },
    Stopped(TopicPartition),
}

#[derive(Debug)]
pub struct ReplicaManager {
    broker_id: i32,
    log_manager: Arc<LogManager>,
    clock: Arc<dyn Clock>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Bumped whenever applying a cluster view changed some partition's role here.
    roles_changed: watch::Sender<u64>,
    /// Bumped as logs found at startup are loaded: the reconciler applies their states then.
    logs_loaded: watch::Sender<u64>,
    isr_changes: mpsc::UnboundedSender<IsrChange>,
    isr_changes_rx: Mutex<Option<mpsc::UnboundedReceiver<IsrChange>>>,
    default_min_insync: i32,
    /// Logs that cannot be opened (out of descriptors, a bad disk) fail again at every cluster
    /// view: one line per interval for all of them, with a count of the failures held back.
    open_failures: LogLimiter<()>,
    /// Each hosted topic's traffic counters (`/metrics`), shared by its partitions; a topic's
    /// entry goes with its last partition.
    topic_counters: RwLock<HashMap<String, Arc<TopicCounters>>>,
    /// Every partition of the cluster as the last applied view has it, by topic: a partition
    /// there but not hosted here is another broker's (NOT_LEADER_OR_FOLLOWER, as Kafka answers),
    /// one not there does not exist (UNKNOWN_TOPIC_OR_PARTITION).
    cluster_partitions: RwLock<HashMap<String, std::collections::BTreeSet<i32>>>,
}

/// How often a failure to open partitions' logs is logged at most.
const LOG_OPEN_FAILURE_LOG_INTERVAL_MS: u64 = 10_000;

impl ReplicaManager {
    pub fn new(broker_id: i32, log_manager: Arc<LogManager>, clock: Arc<dyn Clock>, default_min_insync: i32) -> Self {
        let mut topic_counters: HashMap<String, Arc<TopicCounters>> = HashMap::new();
        let partitions = log_manager
            .all_logs()
            .into_iter()
            .map(|(tp, log)| {
                let counters = topic_counters.entry(tp.topic.clone()).or_default().clone();
                (tp.clone(), Partition::new(tp, log, broker_id, default_min_insync, counters))
            })
            .collect();
        let (tx, rx) = mpsc::unbounded_channel();
        ReplicaManager {
            broker_id,
            log_manager,
            clock,
            partitions: RwLock::new(partitions),
            roles_changed: watch::channel(0).0,
            logs_loaded: watch::channel(0).0,
            isr_changes: tx,
            isr_changes_rx: Mutex::new(Some(rx)),
            default_min_insync,
            open_failures: LogLimiter::new(Duration::from_millis(LOG_OPEN_FAILURE_LOG_INTERVAL_MS)),
            topic_counters: RwLock::new(topic_counters),
            cluster_partitions: RwLock::new(HashMap::new()),
        }
    }

    /// The traffic counters of `topic`, if a partition of it is hosted here.
    pub fn counters_of(&self, topic: &str) -> Option<Arc<TopicCounters>> {
        self.topic_counters.read().get(topic).cloned()
    }

    /// Partitions `assigned` here (with the leader epoch of their state in the cluster view)
    /// whose state this broker has not applied yet: no partition, or an older leader epoch
    /// (its log still loading, or the reconciler not there yet).
    pub fn unapplied(&self, assigned: &[(TopicPartition, i32)]) -> usize {
        assigned
            .iter()
            .filter(|(tp, leader_epoch)| self.partition(tp).is_none_or(|p| p.leader_and_epoch().1 < *leader_epoch))
            .count()
    }

    /// Every hosted topic's traffic counters, by name.
    pub fn topic_counters(&self) -> BTreeMap<String, Arc<TopicCounters>> {
        self.topic_counters.read().iter().map(|(t, c)| (t.clone(), c.clone())).collect()
    }

    pub fn broker_id(&self) -> i32 {
        self.broker_id
    }

    pub fn log_manager(&self) -> &Arc<LogManager> {
        &self.log_manager
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn partition(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions.read().get(tp).cloned()
    }

    /// The partition, or the error a request for it gets: NOT_LEADER_OR_FOLLOWER for one whose
    /// log is here but not serving yet (still loading at startup, or loaded and waiting for
    /// the reconciler to apply its state) or one the cluster has on other brokers only, which
    /// clients retry after refreshing metadata, as Kafka answers for a partition it does not
    /// lead; UNKNOWN_TOPIC_OR_PARTITION for a partition the cluster does not have.
    pub fn partition_or_error(&self, tp: &TopicPartition) -> Result<Arc<Partition>, ErrorCode> {
        if let Some(partition) = self.partition(tp) {
            return Ok(partition);
        }
        let in_cluster = || self.cluster_partitions.read().get(&tp.topic).is_some_and(|ps| ps.contains(&tp.partition));
        if self.log_manager.is_loading(tp) || self.log_manager.get_log(tp).is_some() || in_cluster() {
            Err(ErrorCode::NotLeaderOrFollower)
        } else {
            Err(ErrorCode::UnknownTopicOrPartition)
        }
    }

    /// Called by the log loader for each log it has loaded at startup: wakes the reconciler,
    /// which applies the partition's state (see [`ReplicaManager::apply_view`]).
    pub fn log_loaded(&self, tp: &TopicPartition) {
        tracing::trace!(%tp, "log loaded");
        self.logs_loaded.send_modify(|n| *n += 1);
    }

    /// A receiver that changes whenever logs found at startup have been loaded.
    pub fn loaded_logs(&self) -> watch::Receiver<u64> {
        self.logs_loaded.subscribe()
    }

    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().values().cloned().collect()
    }

    /// The stream of ISR changes leaders propose (taken once, by the ISR writer task).
    pub fn take_isr_changes(&self) -> Option<mpsc::UnboundedReceiver<IsrChange>> {
        self.isr_changes_rx.lock().take()
    }

    fn propose(&self, change: Option<IsrChange>) {
        if let Some(c) = change {
            let _ = self.isr_changes.send(c);
        }
    }

    /// Creates the log of a partition hosted here, or takes the one loaded from disk and gives
    /// it the topic's config (logs load with the broker defaults). A log still loading is
    /// refused ([`StorageError::LogNotLoaded`]): the partition is created once it is loaded.
    pub fn create_partition(&self, tp: &TopicPartition, config: LogConfig) -> Result<Arc<Partition>, StorageError> {
        if let Some(p) = self.partition(tp) {
            return Ok(p);
        }
        let log = self.log_manager.get_or_create_log(tp, config.clone())?;
        log.write().update_config(config);
        let counters = self.topic_counters.write().entry(tp.topic.clone()).or_default().clone();
        let partition = Partition::new(tp.clone(), log, self.broker_id, self.default_min_insync, counters);
        self.partitions.write().entry(tp.clone()).or_insert(partition.clone());
        Ok(self.partition(tp).unwrap_or(partition))
    }

    pub fn delete_partition(&self, tp: &TopicPartition) -> Result<(), StorageError> {
        let removed = {
            let mut partitions = self.partitions.write();
            let removed = partitions.remove(tp);
            if removed.is_some() && !partitions.keys().any(|other| other.topic == tp.topic) {
                self.topic_counters.write().remove(&tp.topic);
            }
            removed
        };
        if let Some(p) = removed {
            p.removed();
        }
        match self.log_manager.delete_log(tp) {
            Ok(()) | Err(StorageError::UnknownPartition { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Applies a topic's new config to each of its partitions' logs.
    pub fn update_config(&self, topic: &str, config: &LogConfig, min_insync: i32) {
        for (tp, partition) in self.partitions.read().iter() {
            if tp.topic == topic {
                partition.update_config(config.clone());
                partition.set_min_insync(min_insync);
            }
        }
    }

    /// Brings the hosted partitions in line with the cluster view: creates the logs of
    /// partitions assigned here, applies each state znode (becoming leader or follower),
    /// and deletes the logs of partitions no longer assigned here (topic deleted, or replica
    /// moved away) — only on a change seen between `previous` and `view`, never because a
    /// partition is merely unknown.
    pub fn apply_view(
        &self,
        previous: &ClusterView,
        view: &ClusterView,
        config_of: impl Fn(&BTreeMap<String, String>) -> (LogConfig, i32),
    ) -> Vec<RoleChange> {
        let now = self.now_ms();
        let me = self.broker_id;
        let mut changes = Vec::new();
        *self.cluster_partitions.write() =
            view.topics.iter().map(|(name, t)| (name.clone(), t.assignment.keys().copied().collect())).collect();
        for (name, topic) in &view.topics {
            let config_changed = previous.topics.get(name).is_none_or(|t| t.configs != topic.configs);
            let (log_config, min_insync) = config_of(&topic.configs);
            if config_changed {
                self.update_config(name, &log_config, min_insync);
            }
            for &p in topic.assignment.keys() {
                let all = topic.all_replicas(p);
                if !all.contains(&me) {
                    continue;
                }
                let Some(state) = topic.states.get(&p) else { continue };
                let tp = TopicPartition::new(name.clone(), p);
                let replicas_before = previous.topics.get(name).map(|t| t.all_replicas(p));
                if previous.state(name, p) == Some(state)
                    && replicas_before.as_ref() == Some(&all)
                    && self.partition(&tp).is_some()
                    && !config_changed
                {
                    continue;
                }
                // A log still loading gets its partition (and role) when it is loaded: the
                // loader wakes the reconciler, which applies the view again.
                if self.log_manager.is_loading(&tp) {
                    continue;
                }
                let partition = match self.create_partition(&tp, log_config.clone()) {
                    Ok(partition) => partition,
                    // Loaded meanwhile is checked again under the log manager's lock.
                    Err(StorageError::LogNotLoaded { .. }) => continue,
                    Err(e) => {
                        if let Some(held_back) = self.open_failures.admit(&(), std::time::Instant::now()) {
                            tracing::error!(%tp, error = %e, failures_held_back = held_back, "cannot open the partition's log");
                        }
                        continue;
                    }
                };
                partition.set_min_insync(min_insync);
                let transition = partition.apply_state(state, &all, now);
                if transition != Transition::None {
                    partition.wake_all_fetches();
                }
                match transition {
                    Transition::None => {}
                    Transition::Leader => changes.push(RoleChange::BecameLeader(tp)),
                    Transition::Follower { leader, leader_epoch } => {
                        changes.push(RoleChange::BecameFollower { tp, leader, leader_epoch })
                    }
                    Transition::Offline => changes.push(RoleChange::Stopped(tp)),
                }
            }
        }
        // Deletions: a topic that went away, or a replica moved off this broker.
        if previous.synced {
            for (name, before) in &previous.topics {
                for &p in before.assignment.keys() {
                    let was_here = before.all_replicas(p).contains(&me);
                    let now_here = view.topics.get(name).is_some_and(|t| t.all_replicas(p).contains(&me));
                    if was_here && !now_here {
                        let tp = TopicPartition::new(name.clone(), p);
                        changes.push(RoleChange::Stopped(tp.clone()));
                        tracing::info!(%tp, "partition no longer assigned here; deleting its log");
                        if let Err(e) = self.delete_partition(&tp) {
                            tracing::error!(%tp, error = %e, "deleting the partition's log failed");
                        }
                    }
                }
            }
        }
        if !changes.is_empty() {
            self.roles_changed.send_modify(|n| *n += 1);
        }
        changes
    }

    /// Checks every led partition for followers out of sync (Kafka's `isr-expiration` task).
    pub fn maybe_shrink_isrs(&self, lag_time_max_ms: u64) {
        let now = self.now_ms();
        for p in self.all_partitions() {
            self.propose(p.maybe_shrink_isr(now, lag_time_max_ms as i64));
        }
    }

    /// A follower fetched `tp` from `fetch_offset`: track it, maybe move the high watermark
    /// (which completes the `acks=all` produces it covers and wakes consumers' fetches).
    pub fn record_follower_fetch(&self, partition: &Partition, replica: i32, fetch_offset: i64) {
        self.propose(partition.update_follower_fetch(replica, fetch_offset, self.now_ms()));
    }

    /// Appends `records`, built by this broker (the coordinators' writes to their internal
    /// topics), to `tp` as its leader, without the record checks of a producer's batch.
    /// `required_acks` of -1 waits (up to `timeout`) until the high watermark covers the batch.
    pub async fn append(
        &self,
        tp: &TopicPartition,
        records: &[u8],
        required_acks: i16,
        timeout: Duration,
    ) -> AppendResult {
        let partition = match self.partition_or_error(tp) {
            Ok(partition) => partition,
            Err(code) => return AppendResult::failed(code),
        };
        let mut wakes = DeferredWakes::default();
        let (result, pending) =
            self.append_to(partition, records, required_acks, AppendOrigin::Client, None, &mut wakes);
        drop(wakes);
        let Some(pending) = pending else { return result };
        let mut delayed = DelayedProduce::new();
        delayed.add(pending);
        let code = delayed.complete(timeout).await.pop().unwrap_or(ErrorCode::RequestTimedOut);
        result.acknowledged(code)
    }

    /// Appends a client's batch (Produce) after it passed the record checks
    /// ([`Partition::validate_produced`]), with `guard` from the KIP-890 verification of a
    /// transactional batch (see [`Partition::append_as_leader`]). A refused batch writes
    /// nothing, so the partition's next batch takes the next offset. Does not wait: with
    /// `acks=all` the caller adds the returned [`PendingAck`] to the request's
    /// [`DelayedProduce`] and settles the result with [`AppendResult::acknowledged`].
    pub fn append_produced(
        &self,
        tp: &TopicPartition,
        records: &[u8],
        required_acks: i16,
        guard: Option<VerificationGuard>,
        wakes: &mut DeferredWakes,
    ) -> (AppendResult, Option<PendingAck>) {
        let partition = match self.partition_or_error(tp) {
            Ok(partition) => partition,
            Err(code) => return (AppendResult::failed(code), None),
        };
        let (log_append_time_ms, rewritten) = match partition.validate_produced(records, self.now_ms()) {
            Ok(validated) => validated,
            Err(refusal) => return (refusal.into(), None),
        };
        // Appended from the request's buffer, unless the topic's configs rewrote the batch.
        let records = rewritten.as_deref().unwrap_or(records);
        let (result, pending) = self.append_to(partition, records, required_acks, AppendOrigin::Client, guard, wakes);
        let log_append_time_ms = if result.error == ErrorCode::None { log_append_time_ms } else { -1 };
        (AppendResult { log_append_time_ms, ..result }, pending)
    }

    /// Appends as leader; with `acks=all`, also returns what a [`DelayedProduce`] must wait for.
    /// No record checks here: the coordinators write what they built; clients' batches come
    /// through [`append_produced`](Self::append_produced).
    fn append_to(
        &self,
        partition: Arc<Partition>,
        records: &[u8],
        required_acks: i16,
        origin: AppendOrigin,
        guard: Option<VerificationGuard>,
        wakes: &mut DeferredWakes,
    ) -> (AppendResult, Option<PendingAck>) {
        let role = partition.role_changes();
        let info = match partition.append_as_leader(records, required_acks, origin, guard) {
            Ok(info) => info,
            Err(e) => return (AppendResult::failed(e), None),
        };
        wakes.add(partition.clone());
        if origin == AppendOrigin::Client {
            partition.counters.bytes_in.fetch_add(info.bytes as u64, Ordering::Relaxed);
            partition.counters.messages_in.fetch_add(u64::try_from(info.record_count).unwrap_or(0), Ordering::Relaxed);
        }
        let result = AppendResult {
            error: ErrorCode::None,
            base_offset: info.first_offset,
            log_start_offset: info.log_start_offset,
            error_message: None,
            record_errors: Vec::new(),
            log_append_time_ms: -1,
        };
        let pending =
            (required_acks == -1).then(|| PendingAck { partition, required_offset: info.last_offset + 1, role });
        (result, pending)
    }

    /// Writes end-transaction markers (WriteTxnMarkers), one batch per partition: all appended
    /// first, then one [`DelayedProduce`] over them (as `acks=all`).
    pub async fn append_markers(&self, markers: Vec<(TopicPartition, Vec<u8>)>, timeout: Duration) -> Vec<ErrorCode> {
        let mut delayed = DelayedProduce::new();
        let mut wakes = DeferredWakes::default();
        let mut out: Vec<Result<usize, ErrorCode>> = Vec::with_capacity(markers.len());
        for (tp, bytes) in markers {
            let partition = match self.partition_or_error(&tp) {
                Ok(partition) => partition,
                Err(code) => {
                    out.push(Err(code));
                    continue;
                }
            };
            match self.append_to(partition, &bytes, -1, AppendOrigin::Coordinator, None, &mut wakes) {
                (_, Some(pending)) => out.push(Ok(delayed.add(pending))),
                (result, None) => out.push(Err(result.error)),
            }
        }
        drop(wakes);
        let acked = delayed.complete(timeout).await;
        out.into_iter().map(|r| r.map_or_else(|code| code, |i| acked[i])).collect()
    }

    /// Calls `f` on every batch of a hosted partition, in log order (the coordinators replay
    /// their internal topics with it when they take a partition's leadership).
    pub fn scan_partition(&self, tp: &TopicPartition, mut f: impl FnMut(sluice_protocol::RecordBatch)) {
        if let Some(partition) = self.partition(tp) {
            partition.scan_batches(&mut f);
        }
    }

    /// A receiver that changes whenever applying a cluster view changed a partition's role here.
    pub fn role_changes(&self) -> watch::Receiver<u64> {
        self.roles_changed.subscribe()
    }
}
