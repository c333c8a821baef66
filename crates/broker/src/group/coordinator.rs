//! The group coordinator's async shell around the sans-I/O [`Groups`] state machine: it keeps
//! one responder per member left waiting in JoinGroup or SyncGroup, routes the state machine's
//! outputs to them, and ticks the clock so sessions expire and rebalances complete.
//!
//! One lock covers the state machine and the responders, so an output can never be produced
//! between a call returning `Pending` and its responder being registered. Nothing awaits while
//! holding it.
//!
//! Offsets live in memory here; persisting them in `__consumer_offsets` (so they survive
//! restarts and move with partition leadership) is the next step of the groups work.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sluice_storage::Clock;
use tokio::sync::oneshot;

use super::state::{GroupConfig, GroupSnapshot, Groups, JoinRequest, JoinResult, Output, Reply, SyncResult};

/// Group metadata snapshots waiting to be written, at most.
const MAX_PENDING_SNAPSHOTS: usize = 1024;

/// A group's metadata to write to `__consumer_offsets` (None: the group is gone).
pub type Persist = (String, Option<GroupSnapshot>);
use crate::error::ErrorCode;

#[derive(Debug, Default)]
struct Inner {
    groups: Groups,
    joins: HashMap<(String, String), oneshot::Sender<JoinResult>>,
    syncs: HashMap<(String, String), oneshot::Sender<SyncResult>>,
    persist: Option<tokio::sync::mpsc::Sender<Persist>>,
}

#[derive(Debug)]
pub struct GroupCoordinator {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
}

/// A bound on how long a JoinGroup/SyncGroup answer may take beyond the rebalance timeout.
const EXTRA_WAIT_MS: u64 = 5_000;

impl Inner {
    fn route(&mut self, outputs: Vec<Output>, now_ms: i64) {
        for output in outputs {
            match output {
                Output::Changed { group_id } => {
                    let snapshot = self.groups.snapshot(&group_id, now_ms);
                    if let Some(tx) = &self.persist
                        && tx.try_send((group_id.clone(), snapshot)).is_err()
                    {
                        // Not fatal: the next change writes the group again.
                        tracing::warn!(group = %group_id, "group metadata persistence is backed up; skipping a snapshot");
                    }
                }
                Output::Join { group_id, member_id, result } => {
                    if let Some(tx) = self.joins.remove(&(group_id, member_id)) {
                        let _ = tx.send(result);
                    }
                }
                Output::Sync { group_id, member_id, result } => {
                    if let Some(tx) = self.syncs.remove(&(group_id, member_id)) {
                        let _ = tx.send(result);
                    }
                }
            }
        }
    }
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig, clock: Arc<dyn Clock>) -> Arc<GroupCoordinator> {
        Arc::new(GroupCoordinator {
            inner: Mutex::new(Inner { groups: Groups::new(config), ..Default::default() }),
            clock,
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

    /// Expires sessions and completes rebalances whose time has come.
    pub fn tick(&self) {
        let now = self.clock.now_ms();
        let mut inner = self.inner.lock();
        let outputs = inner.groups.tick(now);
        inner.route(outputs, now);
    }

    /// Expires old offsets of empty groups (`offsets.retention.minutes`); returns them so the
    /// caller writes their tombstones.
    pub fn expire_offsets(&self) -> Vec<(String, (String, i32))> {
        let now = self.clock.now_ms();
        self.inner.lock().groups.expire_offsets(now)
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
            let outputs = inner.groups.take_outputs();
            inner.route(outputs, now);
            match reply {
                Reply::Now(result) => return result,
                Reply::Pending { member_id } => {
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
