//! The group coordinator's async shell around the sans-I/O [`Groups`] state machine: it keeps
//! one responder per member left waiting in JoinGroup or SyncGroup, routes the state machine's
//! outputs to them, and ticks the clock so sessions expire and rebalances complete.
//!
//! One lock covers the state machine and the responders, so an output can never be produced
//! between a call returning `Pending` and its responder being registered. Nothing awaits while
//! holding it.
//!
//! Group metadata is written to `__consumer_offsets` by a persister task ([`spawn_persister`]):
//! each change is queued as a [`Persist`]. The SyncGroup answers of a rebalance that completes
//! are held until its new assignment is written, as Kafka answers only after storing the group:
//! a member never starts on an assignment that a coordinator failover would forget. If the write
//! fails they get Kafka's mapping of the failure (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
//! REBALANCE_IN_PROGRESS for a timeout) and rejoin.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sluice_storage::Clock;
use tokio::sync::oneshot;

use super::state::{
    CommittedOffset, GroupConfig, GroupSnapshot, Groups, JoinRequest, JoinResult, Output, Reply, SyncResult,
};

/// Group metadata snapshots waiting to be written, at most.
const MAX_PENDING_SNAPSHOTS: usize = 1024;

/// How long SyncGroup answers wait for their group's metadata to be written before they are
/// answered with COORDINATOR_NOT_AVAILABLE.
const PERSIST_WAIT_MS: u64 = 30_000;

/// A group's metadata to write to `__consumer_offsets` (`snapshot` None: the group is gone), and
/// whom to tell the outcome.
#[derive(Debug)]
pub struct Persist {
    pub group: String,
    pub snapshot: Option<GroupSnapshot>,
    /// Records of a consumer-protocol group (KIP-848) to write instead of `snapshot`.
    pub records: Option<Vec<super::consumer_records::Record>>,
    pub done: Option<oneshot::Sender<Result<(), ErrorCode>>>,
}
use crate::error::ErrorCode;

#[derive(Debug, Default)]
struct Inner {
    groups: Groups,
    joins: HashMap<(String, String), oneshot::Sender<JoinResult>>,
    syncs: HashMap<(String, String), oneshot::Sender<SyncResult>>,
    persist: Option<tokio::sync::mpsc::Sender<Persist>>,
}

/// A transactional offset commit waiting for its transaction's marker: group, partition, offset.
pub type PendingTxnOffset = (String, (String, i32), CommittedOffset);

/// One producer's transactional offsets awaiting its marker, by group and partition: a later
/// TxnOffsetCommit of the same partition in the same transaction replaces the earlier one (as
/// Kafka's `pendingTransactionalOffsetCommits`), so a transaction holds at most one entry per
/// group and existing partition however many commits it sends.
type PendingTxnOffsets = HashMap<(String, (String, i32)), CommittedOffset>;

#[derive(Debug)]
pub struct GroupCoordinator {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
    /// TxnOffsetCommit's offsets by producer id, applied when the commit marker lands in
    /// the group's `__consumer_offsets` partition and dropped on an abort.
    pending_txn: Mutex<HashMap<i64, PendingTxnOffsets>>,
    /// Held while a `__consumer_offsets` partition's open transactions are read from its log
    /// and added to `pending_txn`, and while a marker's completion is applied: a marker
    /// completed between the read (which did not see it) and the add would otherwise leave its
    /// transaction's offsets pending for ever (OffsetFetch answering UNSTABLE_OFFSET_COMMIT to
    /// every `read_committed` consumer of the group).
    txn_offsets_load: Mutex<()>,
}

/// The longest the group timers sleep: deadlines created while they sleep are seen this soon.
const MAX_TIMER_SLEEP_MS: u64 = 100;

/// A bound on how long a JoinGroup/SyncGroup answer may take beyond the rebalance timeout.
const EXTRA_WAIT_MS: u64 = 5_000;

impl Inner {
    fn route(&mut self, outputs: Vec<Output>, now_ms: i64) {
        // Queue each changed group's snapshot first; the SyncGroup answers of a group whose
        // snapshot was queued wait for it to be written.
        let mut written: HashMap<String, oneshot::Receiver<Result<(), ErrorCode>>> = HashMap::new();
        for output in &outputs {
            let Output::Changed { group_id } = output else { continue };
            let snapshot = self.groups.snapshot(group_id, now_ms);
            let Some(tx) = &self.persist else { continue };
            let (done, wait) = oneshot::channel();
            match tx.try_send(Persist { group: group_id.clone(), snapshot, records: None, done: Some(done) }) {
                Ok(()) => {
                    written.insert(group_id.clone(), wait);
                }
                // Not fatal: the next change writes the group again.
                Err(_) => {
                    tracing::warn!(group = %group_id, "group metadata persistence is backed up; skipping a snapshot")
                }
            }
        }
        let mut held: HashMap<String, Vec<(oneshot::Sender<SyncResult>, SyncResult)>> = HashMap::new();
        for output in outputs {
            match output {
                Output::Changed { .. } => {}
                Output::ConsumerChanged { group_id, records } => {
                    let Some(tx) = &self.persist else { continue };
                    let change =
                        Persist { group: group_id.clone(), snapshot: None, records: Some(records), done: None };
                    if tx.try_send(change).is_err() {
                        tracing::warn!(group = %group_id, "group metadata persistence is backed up; skipping a change");
                    }
                }
                Output::Join { group_id, member_id, result } => {
                    if let Some(tx) = self.joins.remove(&(group_id, member_id)) {
                        let _ = tx.send(result);
                    }
                }
                Output::Sync { group_id, member_id, result } => {
                    self.groups.touch(&group_id, &member_id, now_ms);
                    let Some(tx) = self.syncs.remove(&(group_id.clone(), member_id)) else { continue };
                    if written.contains_key(&group_id) && tokio::runtime::Handle::try_current().is_ok() {
                        held.entry(group_id).or_default().push((tx, result));
                    } else {
                        let _ = tx.send(result);
                    }
                }
            }
        }
        for (group_id, answers) in held {
            let Some(wait) = written.remove(&group_id) else { continue };
            tokio::spawn(async move {
                let outcome = match tokio::time::timeout(Duration::from_millis(PERSIST_WAIT_MS), wait).await {
                    Ok(Ok(outcome)) => outcome,
                    _ => Err(ErrorCode::RequestTimedOut),
                };
                // The persister's error is already the coordinator's (offsets_log::coordinator_error);
                // SyncGroup tells a timed-out write as a rebalance and a too-large one as unknown,
                // as Kafka's storeGroup callback does.
                let failure = match outcome {
                    Ok(()) => None,
                    Err(e) => {
                        tracing::warn!(group = %group_id, error = e.name(), "the group's assignment could not be written");
                        Some(match e {
                            ErrorCode::RequestTimedOut => ErrorCode::RebalanceInProgress,
                            ErrorCode::InvalidCommitOffsetSize => ErrorCode::UnknownServerError,
                            other => other,
                        })
                    }
                };
                for (tx, result) in answers {
                    let result = match failure {
                        Some(error) => SyncResult { error, assignment: bytes::Bytes::new(), ..result },
                        None => result,
                    };
                    let _ = tx.send(result);
                }
            });
        }
    }
}

/// Writes every group change the coordinator queues to `__consumer_offsets`, one after another,
/// telling each change's waiters the outcome.
pub fn spawn_persister(broker: Arc<crate::broker::Broker>) -> tokio::task::JoinHandle<()> {
    let mut changes = broker.groups.persist_changes();
    tokio::spawn(async move {
        while let Some(Persist { group, snapshot, records, done }) = changes.recv().await {
            let outcome = match records {
                Some(records) => super::offsets_log::append_records(broker.group_log(), &group, &records).await,
                None => super::offsets_log::append_group(broker.group_log(), &group, snapshot.as_ref()).await,
            };
            if let Err(e) = outcome {
                tracing::warn!(%group, error = e.name(), "writing group metadata failed");
            }
            if let Some(done) = done {
                let _ = done.send(outcome);
            }
        }
    })
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig, clock: Arc<dyn Clock>) -> Arc<GroupCoordinator> {
        Arc::new(GroupCoordinator {
            inner: Mutex::new(Inner { groups: Groups::new(config), ..Default::default() }),
            clock,
            pending_txn: Mutex::new(HashMap::new()),
            txn_offsets_load: Mutex::new(()),
        })
    }

    /// Starts sending group metadata snapshots to the returned receiver (the broker writes them
    /// to `__consumer_offsets`).
    pub fn persist_changes(&self) -> tokio::sync::mpsc::Receiver<Persist> {
        let (tx, rx) = tokio::sync::mpsc::channel(MAX_PENDING_SNAPSHOTS);
        self.inner.lock().persist = Some(tx);
        rx
    }

    /// The clock's now, for replaying state.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Runs `f` on the state machine and routes what it produced.
    pub fn with_groups<T>(&self, f: impl FnOnce(&mut Groups, i64) -> T) -> T {
        let now = self.clock.now_ms();
        let mut inner = self.inner.lock();
        let out = f(&mut inner.groups, now);
        let outputs = inner.groups.take_outputs();
        inner.route(outputs, now);
        out
    }

    /// Holds a producer's transactional offset commits until its transaction ends; a partition
    /// committed again replaces its earlier offset.
    pub fn add_txn_offsets(&self, producer_id: i64, offsets: Vec<PendingTxnOffset>) {
        let mut pending = self.pending_txn.lock();
        let mine = pending.entry(producer_id).or_default();
        for (group, tp, offset) in offsets {
            mine.insert((group, tp), offset);
        }
    }

    /// Takes back offsets [`add_txn_offsets`](Self::add_txn_offsets) held for a TxnOffsetCommit
    /// whose record could not be written (each only if no later commit replaced it).
    pub fn remove_txn_offsets(&self, producer_id: i64, offsets: &[PendingTxnOffset]) {
        let mut pending = self.pending_txn.lock();
        let Some(mine) = pending.get_mut(&producer_id) else { return };
        for (group, tp, offset) in offsets {
            let key = (group.clone(), tp.clone());
            if mine.get(&key) == Some(offset) {
                mine.remove(&key);
            }
        }
        if mine.is_empty() {
            pending.remove(&producer_id);
        }
    }

    /// A marker of `producer_id` landed in `__consumer_offsets` partition `partition`: its
    /// pending offsets for the groups there are committed (or dropped on an abort).
    pub fn complete_txn_offsets(&self, partition: i32, producer_id: i64, commit: bool) {
        let _load = self.txn_offsets_load.lock();
        let mine = |group: &str| super::offsets_log::partition_for(group) == partition;
        let ended: Vec<PendingTxnOffset> = {
            let mut pending = self.pending_txn.lock();
            let Some(offsets) = pending.get_mut(&producer_id) else { return };
            let (ended, kept): (PendingTxnOffsets, PendingTxnOffsets) =
                offsets.drain().partition(|((g, _), _)| mine(g));
            *offsets = kept;
            if offsets.is_empty() {
                pending.remove(&producer_id);
            }
            ended.into_iter().map(|((group, tp), offset)| (group, tp, offset)).collect()
        };
        if commit && !ended.is_empty() {
            self.with_groups(|g, _| {
                for (group, tp, offset) in ended {
                    g.load_offset(&group, tp, Some(offset));
                }
            });
        }
    }

    /// Whether a transaction has an offset for `tp` of `group` not yet committed or aborted
    /// (OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT then, KIP-447).
    pub fn has_pending_txn_offset(&self, group: &str, tp: &(String, i32)) -> bool {
        let key = (group.to_string(), tp.clone());
        self.pending_txn.lock().values().any(|offsets| offsets.contains_key(&key))
    }

    /// Runs `load` (reading a partition's open transactions and adding them with
    /// [`add_txn_offsets`](Self::add_txn_offsets)) with no marker completed meanwhile.
    pub fn loading_txn_offsets<T>(&self, load: impl FnOnce() -> T) -> T {
        let _load = self.txn_offsets_load.lock();
        load()
    }

    /// Forgets the pending offsets of the groups of a `__consumer_offsets` partition (no longer
    /// coordinated here).
    pub fn unload_txn_offsets(&self, partition: i32) {
        let mut pending = self.pending_txn.lock();
        for offsets in pending.values_mut() {
            offsets.retain(|(g, _), _| super::offsets_log::partition_for(g) != partition);
        }
        pending.retain(|_, offsets| !offsets.is_empty());
    }

    /// Expires sessions and completes rebalances whose time has come.
    pub fn tick(&self) {
        let now = self.clock.now_ms();
        let mut inner = self.inner.lock();
        let outputs = inner.groups.tick(now);
        inner.route(outputs, now);
    }

    /// Runs [`tick`](Self::tick) whenever a deadline falls due (a session, a join phase), and at
    /// least every [`MAX_TIMER_SLEEP_MS`], so a member expires at its session timeout, not up to
    /// a polling interval later (Kafka schedules a timer per member).
    pub async fn run_timers(self: Arc<Self>) {
        loop {
            let now = self.clock.now_ms();
            let next = self.inner.lock().groups.next_deadline();
            let wait = next.map_or(MAX_TIMER_SLEEP_MS, |at| (at - now).clamp(1, MAX_TIMER_SLEEP_MS as i64) as u64);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            self.tick();
        }
    }

    /// Expires old offsets of empty groups (`offsets.retention.minutes`); returns them so the
    /// caller writes their tombstones.
    ///
    /// Empty groups left with no offsets go too, their metadata tombstones queued for the
    /// persister like any other group change.
    pub fn expire_offsets(&self) -> Vec<(String, (String, i32))> {
        let now = self.clock.now_ms();
        let mut inner = self.inner.lock();
        let expired = inner.groups.expire_offsets(now);
        let outputs = inner.groups.take_outputs();
        inner.route(outputs, now);
        expired
    }

    pub async fn join(&self, request: JoinRequest) -> JoinResult {
        let wait_ms = request.rebalance_timeout_ms.max(request.session_timeout_ms).max(0) as u64 + EXTRA_WAIT_MS;
        let group_id = request.group_id.clone();
        let rx = {
            let now = self.clock.now_ms();
            let mut inner = self.inner.lock();
            let reply = inner.groups.join(now, request);
            let rx = match reply {
                Reply::Now(result) => {
                    let outputs = inner.groups.take_outputs();
                    inner.route(outputs, now);
                    return result;
                }
                Reply::Pending { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    // A newer join of the same member replaces (and so answers) the older one.
                    inner.joins.insert((group_id.clone(), member_id.clone()), tx);
                    (rx, member_id)
                }
            };
            let outputs = inner.groups.take_outputs();
            inner.route(outputs, now);
            rx
        };
        let (rx, member_id) = rx;
        match tokio::time::timeout(Duration::from_millis(wait_ms), rx).await {
            Ok(Ok(result)) => result,
            _ => JoinResult {
                error: ErrorCode::RebalanceInProgress,
                generation_id: -1,
                protocol_type: None,
                protocol_name: None,
                leader_id: String::new(),
                member_id,
                members: Vec::new(),
                skip_assignment: false,
            },
        }
    }

    pub async fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        instance: Option<&str>,
        assignments: Vec<(String, bytes::Bytes)>,
    ) -> SyncResult {
        let rx = {
            let now = self.clock.now_ms();
            let mut inner = self.inner.lock();
            let reply = inner.groups.sync(group_id, member_id, generation_id, instance, assignments);
            let mut outputs = inner.groups.take_outputs();
            // (Unless an earlier SyncGroup of the same member is still parked: its responder
            // must keep the key, and this one is answered at once.)
            let completes = outputs.iter().any(|o| matches!(o, Output::Changed { group_id: g } if g == group_id))
                && !inner.syncs.contains_key(&(group_id.to_string(), member_id.to_string()));
            match reply {
                // The leader's SyncGroup that completes the rebalance waits, like the others',
                // for the assignment to be written.
                Reply::Now(result) if completes && inner.persist.is_some() => {
                    let (tx, rx) = oneshot::channel();
                    inner.syncs.insert((group_id.to_string(), member_id.to_string()), tx);
                    outputs.push(Output::Sync {
                        group_id: group_id.to_string(),
                        member_id: member_id.to_string(),
                        result,
                    });
                    inner.route(outputs, now);
                    rx
                }
                Reply::Now(result) => {
                    inner.route(outputs, now);
                    return result;
                }
                Reply::Pending { member_id } => {
                    // Outputs first: they may answer this member's earlier SyncGroup.
                    inner.route(outputs, now);
                    let (tx, rx) = oneshot::channel();
                    inner.syncs.insert((group_id.to_string(), member_id), tx);
                    rx
                }
            }
        };
        match tokio::time::timeout(Duration::from_millis(60_000 + EXTRA_WAIT_MS), rx).await {
            Ok(Ok(result)) => result,
            _ => SyncResult {
                error: ErrorCode::RebalanceInProgress,
                protocol_type: None,
                protocol_name: None,
                assignment: bytes::Bytes::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_storage::ManualClock;

    fn offset(offset: i64) -> CommittedOffset {
        CommittedOffset { offset, leader_epoch: -1, metadata: None, commit_timestamp_ms: 0 }
    }

    #[test]
    fn a_transaction_holds_one_pending_offset_per_group_and_partition() {
        let coordinator = GroupCoordinator::new(GroupConfig::default(), Arc::new(ManualClock::new(0)));
        let tp = ("t".to_string(), 0);
        // The same partition committed over and over in one transaction.
        for n in 0..1_000 {
            coordinator.add_txn_offsets(7, vec![("g".into(), tp.clone(), offset(n))]);
        }
        coordinator.add_txn_offsets(7, vec![("g".into(), ("t".into(), 1), offset(5))]);
        assert_eq!(coordinator.pending_txn.lock().get(&7).map(HashMap::len), Some(2));
        assert!(coordinator.has_pending_txn_offset("g", &tp));
        // The commit marker applies the last offset of each partition and forgets them.
        let partition = super::super::offsets_log::partition_for("g");
        coordinator.complete_txn_offsets(partition, 7, true);
        assert!(!coordinator.has_pending_txn_offset("g", &tp));
        let committed = coordinator.with_groups(|g, _| g.fetch_offsets("g").and_then(|o| o.get(&tp)).map(|c| c.offset));
        assert_eq!(committed, Some(999));
    }
}
