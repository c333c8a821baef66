//! The controller (Kafka's `KafkaController`, ZooKeeper era): one broker at a time, elected by
//! creating the ephemeral `/controller`, fenced by `/controller_epoch`.
//!
//! On winning, it bumps `/controller_epoch` with compare-and-set; every partition state it
//! writes afterwards is a `multi` that checks the epoch znode's version, so a deposed
//! controller (one whose session expired while it was paused) cannot overwrite the state its
//! successor wrote. Partition states themselves are written with compare-and-set on their own
//! znode version, so the controller and a leader changing its ISR never overwrite each other.
//!
//! Its work is reconciliation, re-run on every change of the metadata cache:
//! - a partition with no state gets one: the first live replica (in assignment order, so the
//!   preferred replica when alive) leads, the live replicas form the ISR, leader epoch 0;
//! - a partition whose leader died gets a new one from the live ISR, in assignment order, with
//!   the leader epoch bumped; with no live ISR member it goes offline (leader -1, ISR kept)
//!   unless `unclean.leader.election.enable` lets a live out-of-sync replica lead;
//! - dead followers leave the ISR (without a new leader epoch);
//! - every `leader.imbalance.check.interval.seconds`, with `auto.leader.rebalance.enable`,
//!   leadership goes back to the preferred replica where it is alive and in the ISR;
//! - a reassignment (KIP-455; the topic znode lists every replica, old and new, with the ones
//!   being added and removed) completes once every target replica is in the ISR: one `multi`
//!   narrows the topic znode to the target, takes the removed replicas out of the ISR and, if
//!   the leader is among them, elects a target replica with the leader epoch bumped. Until
//!   then the added replicas fetch like any follower and join the ISR when caught up.
//!
//! - an administrator's ElectLeaders (KIP-460), handed over by the handler through
//!   [`ElectionQueue`]: the preferred replica takes the lead where it is alive and in the ISR,
//!   or a partition without a leader gets one, out of sync if no ISR member lives.
//!
//! The choices themselves are pure and live in `sluice_replication::election`, with their
//! tests and release-build assertions (a leader is in the ISR it leads with, the ISR is within
//! the replicas, the leader epoch never goes backwards); this file reads the cluster and writes
//! the states they decide.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_keeper::{CreateMode, MultiOp, ZkClient, ZkError};
use sluice_replication::LeaderAndIsr;
use sluice_replication::election::{self, AdminElection, AdminElectionRefused, ElectionKind};

use super::cache::{ClusterView, TopicView, VersionedState};
use super::znodes::{ControllerZnode, PartitionState};
use crate::broker::Broker;
use crate::error::ErrorCode;

/// How often the controller re-checks even without a change (to retry failed writes).
const RECONCILE_INTERVAL_MS: u64 = 1_000;

/// New partitions whose first states one `multi` creates (two znodes each, about 300 bytes in
/// all, so a batch stays well under keeper's 1 MiB frame limit). Created one at a time they cost
/// three keeper commits each: 50-60 partitions a second, 10,000 in three minutes.
const CREATE_STATES_PER_MULTI: usize = 500;

/// Runs for the life of the broker: campaigns whenever there is no controller.
pub async fn run(broker: Arc<Broker>) {
    let link = broker.link.clone();
    let me = broker.config.broker_id;
    let mut sessions = link.session_epoch();
    let mut changes = link.cache.subscribe();
    loop {
        if *sessions.borrow_and_update() == 0 {
            let _ = sessions.changed().await;
            continue;
        }
        let Ok(client) = link.client() else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        match campaign(&broker, &client).await {
            Ok(Some((epoch, epoch_version))) => {
                tracing::info!(broker_id = me, controller_epoch = epoch, "elected controller");
                let outcome = act(&broker, &client, epoch, epoch_version, &mut sessions).await;
                tracing::info!(broker_id = me, controller_epoch = epoch, reason = %outcome, "no longer the controller");
            }
            Ok(None) => {
                // Someone else controls; campaign again when /controller goes or our session changes.
                changes.borrow_and_update();
                let gone = link.cache.read(|v| v.controller.is_none());
                if !gone {
                    tokio::select! {
                        _ = changes.changed() => {}
                        _ = sessions.changed() => {}
                        _ = tokio::time::sleep(Duration::from_millis(RECONCILE_INTERVAL_MS)) => {}
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "controller election failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Tries to become controller; on success returns the new controller epoch and the version of
/// the `/controller_epoch` znode that holds it.
async fn campaign(broker: &Broker, client: &ZkClient) -> Result<Option<(i32, i32)>, ZkError> {
    let paths = &broker.link.paths;
    let now = broker.replica_manager.now_ms();
    let body = serde_json::to_vec(&ControllerZnode {
        version: 1,
        brokerid: broker.config.broker_id,
        timestamp: now.to_string(),
    })
    .expect("serializing a small struct");
    match client.create(&paths.controller(), &body, CreateMode::Ephemeral).await {
        Ok(_) => {}
        Err(ZkError::NodeExists) => return Ok(None),
        Err(e) => return Err(e),
    }
    loop {
        match client.get_data(&paths.controller_epoch()).await {
            Ok((data, stat)) => {
                let current: i32 = std::str::from_utf8(&data).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
                let next = current + 1;
                match client.set_data(&paths.controller_epoch(), next.to_string().as_bytes(), stat.version).await {
                    Ok(stat) => return Ok(Some((next, stat.version))),
                    Err(ZkError::BadVersion) => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(ZkError::NoNode) => {
                match client.create(&paths.controller_epoch(), b"1", CreateMode::Persistent).await {
                    Ok(_) => return Ok(Some((1, 0))),
                    Err(ZkError::NodeExists) => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Acts as controller until the role is lost; returns why.
async fn act(
    broker: &Arc<Broker>,
    client: &ZkClient,
    epoch: i32,
    epoch_version: i32,
    sessions: &mut tokio::sync::watch::Receiver<u64>,
) -> String {
    let link = &broker.link;
    let me = broker.config.broker_id;
    let cfg = &broker.config.replication;
    let mut changes = link.cache.subscribe();
    let mut rebalance = tokio::time::interval(Duration::from_millis(cfg.leader_imbalance_check_interval_ms));
    rebalance.tick().await;
    let mut rebalance_due = false;
    let started = tokio::time::Instant::now();
    let session = *sessions.borrow_and_update();
    // ElectLeaders requests are this controller's to serve while it acts.
    let mut elections = broker.elections.receiver.lock().await;
    loop {
        if *sessions.borrow() != session {
            return "the keeper session ended".into();
        }
        let view = link.cache.snapshot();
        match view.controller {
            Some(id) if id != me => return format!("broker {id} holds /controller"),
            None if started.elapsed() > Duration::from_millis(broker.config.keeper_session_timeout_ms) => {
                return "/controller is gone".into();
            }
            _ => {}
        }
        let ctx = Ctx { broker, client, epoch, epoch_version };
        match reconcile(&ctx, &view, rebalance_due && cfg.auto_leader_rebalance).await {
            Ok(()) => rebalance_due = false,
            Err(Lost) => return "a newer controller epoch exists".into(),
        }
        changes.borrow_and_update();
        tokio::select! {
            _ = changes.changed() => {}
            _ = sessions.changed() => {}
            _ = rebalance.tick() => rebalance_due = true,
            Some(request) = elections.recv() => {
                let view = link.cache.snapshot();
                match elect(&ctx, &view, request.kind, &request.partitions).await {
                    Ok(outcomes) => {
                        let _ = request.reply.send(outcomes);
                    }
                    Err(Lost) => return "a newer controller epoch exists".into(),
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(RECONCILE_INTERVAL_MS)) => {}
        }
    }
}

/// ElectLeaders requests waiting for the controller (`Broker::elections`): any handler may
/// submit one; the broker acting as controller serves them, one at a time, between its rounds.
#[derive(Debug)]
pub struct ElectionQueue {
    sender: tokio::sync::mpsc::Sender<ElectionRequest>,
    receiver: tokio::sync::Mutex<tokio::sync::mpsc::Receiver<ElectionRequest>>,
}

/// ElectLeaders requests that may wait for the controller at once; more wait to be queued,
/// within their own timeouts.
const ELECTION_QUEUE_CAPACITY: usize = 16;

impl Default for ElectionQueue {
    fn default() -> Self {
        let (sender, receiver) = tokio::sync::mpsc::channel(ELECTION_QUEUE_CAPACITY);
        ElectionQueue { sender, receiver: tokio::sync::Mutex::new(receiver) }
    }
}

impl ElectionQueue {
    /// Hands `partitions` to the controller and waits for their outcomes; `None` when the
    /// controller did not answer within `timeout`.
    pub async fn elect(
        &self,
        kind: AdminElection,
        partitions: Vec<(String, i32)>,
        timeout: Duration,
    ) -> Option<Vec<ElectionOutcome>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        tokio::time::timeout(timeout, async {
            self.sender.send(ElectionRequest { kind, partitions, reply }).await.ok()?;
            answer.await.ok()
        })
        .await
        .ok()
        .flatten()
    }
}

/// One ElectLeaders request for the controller.
#[derive(Debug)]
pub struct ElectionRequest {
    kind: AdminElection,
    partitions: Vec<(String, i32)>,
    reply: tokio::sync::oneshot::Sender<Vec<ElectionOutcome>>,
}

/// A partition's election: the leader it now has, or why not.
pub type ElectionOutcome = (String, i32, Result<i32, (ErrorCode, String)>);

/// Runs an administrator's elections (KIP-460) on `view`: each partition's new state is written
/// as the controller writes any, fenced by its epoch and compare-and-set on the state.
async fn elect(
    ctx: &Ctx<'_>,
    view: &ClusterView,
    kind: AdminElection,
    partitions: &[(String, i32)],
) -> Result<Vec<ElectionOutcome>, Lost> {
    let mut outcomes = Vec::with_capacity(partitions.len());
    for (name, p) in partitions {
        let outcome = match view.topics.get(name).filter(|t| t.assignment.contains_key(p)) {
            None => Err((ErrorCode::UnknownTopicOrPartition, "no such topic or partition".to_string())),
            Some(topic) => match topic.states.get(p) {
                None => Err((ErrorCode::LeaderNotAvailable, "the partition has no state yet".to_string())),
                Some(vs) => {
                    let all = topic.all_replicas(*p);
                    let live: Vec<i32> = all.iter().copied().filter(|r| view.is_live(*r)).collect();
                    let s = &vs.state;
                    let current = LeaderAndIsr::new(s.leader, s.leader_epoch, s.isr.clone());
                    match election::admin_election(&current, &all, &live, kind) {
                        Err(refused) => Err(refusal(refused, s.leader, &all)),
                        Ok(elected) => {
                            if elected.kind == ElectionKind::Unclean {
                                tracing::warn!(topic = %name, partition = p, leader = elected.next.leader, isr = ?s.isr, "unclean leader election by request: records acknowledged by the old ISR may be lost");
                                crate::observe::EVENTS
                                    .unclean_leader_elections
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            let leader = elected.next.leader;
                            let next = partition_state(elected.next, ctx.epoch);
                            if ctx.write(name, *p, &next, Some(vs.zk_version)).await? {
                                crate::observe::EVENTS
                                    .leader_elections
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                Ok(leader)
                            } else {
                                Err((
                                    ErrorCode::RequestTimedOut,
                                    "the partition's state changed meanwhile; ask again".to_string(),
                                ))
                            }
                        }
                    }
                }
            },
        };
        outcomes.push((name.clone(), *p, outcome));
    }
    Ok(outcomes)
}

/// Kafka's answer to an election that changes nothing.
fn refusal(refused: AdminElectionRefused, leader: i32, replicas: &[i32]) -> (ErrorCode, String) {
    match refused {
        AdminElectionRefused::NotNeeded => (ErrorCode::ElectionNotNeeded, format!("leader {leader} needs no election")),
        AdminElectionRefused::PreferredNotAvailable => (
            ErrorCode::PreferredLeaderNotAvailable,
            format!("the preferred replica {:?} is not alive and in the ISR", replicas.first()),
        ),
        AdminElectionRefused::EligibleNotAvailable => {
            (ErrorCode::EligibleLeadersNotAvailable, "no replica is alive to lead".to_string())
        }
    }
}

struct Ctx<'a> {
    broker: &'a Arc<Broker>,
    client: &'a ZkClient,
    epoch: i32,
    epoch_version: i32,
}

/// This controller has been superseded.
#[derive(Debug)]
struct Lost;

impl Ctx<'_> {
    /// Writes a partition state, fenced by the controller epoch; `None` creates it.
    /// `Ok(false)` when it did not apply (the znode moved on, or keeper did not answer).
    async fn write(&self, topic: &str, p: i32, state: &PartitionState, version: Option<i32>) -> Result<bool, Lost> {
        let paths = &self.broker.link.paths;
        let data = Bytes::from(serde_json::to_vec(state).expect("serializing a small struct"));
        let path = paths.partition_state(topic, p);
        let op = match version {
            Some(version) => MultiOp::SetData { path, data, version },
            None => {
                for parent in [paths.partitions(topic), paths.partition(topic, p)] {
                    if let Err(e) = super::link::ensure_node(self.client, &parent, b"").await {
                        tracing::debug!(%topic, partition = p, error = %e, "creating partition parents failed");
                        return Ok(false);
                    }
                }
                MultiOp::Create { path, data, mode: CreateMode::Persistent }
            }
        };
        let written = self.fenced_multi(vec![op]).await?;
        if written {
            tracing::info!(%topic, partition = p, leader = state.leader, leader_epoch = state.leader_epoch, isr = ?state.isr, "partition state written");
        }
        Ok(written)
    }

    /// Writes new partitions' first states, `CREATE_STATES_PER_MULTI` to a `multi`. A batch
    /// that does not apply (a znode left by an interrupted earlier attempt exists) is written
    /// again one partition at a time.
    async fn create_states(&self, topic: &str, new: &[(i32, PartitionState)]) -> Result<(), Lost> {
        let paths = &self.broker.link.paths;
        if let Err(e) = super::link::ensure_node(self.client, &paths.partitions(topic), b"").await {
            tracing::debug!(%topic, error = %e, "creating the partitions znode failed");
            return Ok(());
        }
        for chunk in new.chunks(CREATE_STATES_PER_MULTI) {
            let mut ops = Vec::with_capacity(2 * chunk.len());
            for (p, state) in chunk {
                let data = Bytes::from(serde_json::to_vec(state).expect("serializing a small struct"));
                let mode = CreateMode::Persistent;
                ops.push(MultiOp::Create { path: paths.partition(topic, *p), data: Bytes::new(), mode });
                ops.push(MultiOp::Create { path: paths.partition_state(topic, *p), data, mode });
            }
            if self.fenced_multi(ops).await? {
                let (first, last) = (chunk[0].0, chunk[chunk.len() - 1].0);
                tracing::info!(%topic, partitions = chunk.len(), first, last, "partition states written");
            } else {
                for (p, state) in chunk {
                    self.write(topic, *p, state, None).await?;
                }
            }
        }
        Ok(())
    }

    /// Runs `ops` in one `multi` behind a check of the controller epoch. `Ok(false)` when it
    /// did not apply but this controller still holds its epoch (a znode moved on: the next
    /// view settles it; or keeper did not answer: the next round retries).
    async fn fenced_multi(&self, ops: Vec<MultiOp>) -> Result<bool, Lost> {
        let epoch_path = self.broker.link.paths.controller_epoch();
        let mut all = vec![MultiOp::Check { path: epoch_path.clone(), version: self.epoch_version }];
        all.extend(ops);
        match self.client.multi(&all).await {
            Ok(_) => Ok(true),
            Err(ZkError::BadVersion) => match self.client.get_data(&epoch_path).await {
                Ok((_, stat)) if stat.version != self.epoch_version => Err(Lost),
                _ => Ok(false),
            },
            Err(e) => {
                tracing::debug!(error = %e, "a controller write failed; will retry");
                Ok(false)
            }
        }
    }
}

impl Ctx<'_> {
    /// Completes a partition's reassignment: the topic znode narrowed to `target` and the
    /// partition's `state`, both compare-and-set, fenced by the controller epoch.
    async fn finish_reassignment(
        &self,
        name: &str,
        topic: &TopicView,
        p: i32,
        target: Vec<i32>,
        state: &PartitionState,
        state_version: i32,
    ) -> Result<(), Lost> {
        let paths = &self.broker.link.paths;
        let mut done = topic.clone();
        done.assignment.insert(p, target.clone());
        done.adding.remove(&p);
        done.removing.remove(&p);
        let state_json = Bytes::from(serde_json::to_vec(state).expect("serializing a small struct"));
        let topic_json = Bytes::from(serde_json::to_vec(&done.to_znode()).expect("serializing a small struct"));
        let ops = vec![
            MultiOp::SetData { path: paths.partition_state(name, p), data: state_json, version: state_version },
            MultiOp::SetData { path: paths.topic(name), data: topic_json, version: topic.zk_version },
        ];
        if self.fenced_multi(ops).await? {
            tracing::info!(topic = %name, partition = p, replicas = ?target, leader = state.leader, isr = ?state.isr, "reassignment completed");
        }
        Ok(())
    }
}

async fn reconcile(ctx: &Ctx<'_>, view: &ClusterView, rebalance: bool) -> Result<(), Lost> {
    // The cluster's default (static, or changed at run time), unless the topic overrides it.
    let unclean = ctx.broker.default_log_config().unclean_leader_election_enable;
    for (name, topic) in &view.topics {
        let unclean = topic
            .configs
            .get("unclean.leader.election.enable")
            .map_or(unclean, |v| v.trim().eq_ignore_ascii_case("true"));
        let mut new = Vec::new();
        for &p in topic.assignment.keys() {
            let all = topic.all_replicas(p);
            let live: Vec<i32> = all.iter().copied().filter(|r| view.is_live(*r)).collect();
            match topic.states.get(&p) {
                None => {
                    let Some(first) = election::initial_leader_and_isr(&all, &live) else { continue };
                    new.push((p, partition_state(first, ctx.epoch)));
                }
                Some(vs) => {
                    if let Some(next) = decide(vs, &all, &live, unclean, rebalance, ctx.epoch) {
                        ctx.write(name, p, &next, Some(vs.zk_version)).await?;
                    } else if let Some(target) = topic.reassignment_target(p)
                        && let Some(next) = finish_reassignment(vs, &target, &live, ctx.epoch)
                    {
                        ctx.finish_reassignment(name, topic, p, target, &next, vs.zk_version).await?;
                    }
                }
            }
        }
        if !new.is_empty() {
            ctx.create_states(name, &new).await?;
        }
    }
    Ok(())
}

/// The state a partition should move to, if any: [`election::next_leader_and_isr`] under this
/// controller's epoch.
fn decide(
    vs: &VersionedState,
    replicas: &[i32],
    live: &[i32],
    unclean: bool,
    rebalance: bool,
    controller_epoch: i32,
) -> Option<PartitionState> {
    let s = &vs.state;
    let current = LeaderAndIsr::new(s.leader, s.leader_epoch, s.isr.clone());
    let elected = election::next_leader_and_isr(&current, replicas, live, unclean, rebalance)?;
    let events = &crate::observe::EVENTS;
    if elected.kind == ElectionKind::Unclean {
        tracing::warn!(leader = elected.next.leader, isr = ?s.isr, "unclean leader election: records acknowledged by the old ISR may be lost");
        events.unclean_leader_elections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    if elected.next.leader != s.leader && elected.next.leader >= 0 {
        events.leader_elections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    Some(partition_state(elected.next, controller_epoch))
}

/// The state that completes a reassignment to `target` ([`election::complete_reassignment`])
/// under this controller's epoch.
fn finish_reassignment(
    vs: &VersionedState,
    target: &[i32],
    live: &[i32],
    controller_epoch: i32,
) -> Option<PartitionState> {
    let s = &vs.state;
    let current = LeaderAndIsr::new(s.leader, s.leader_epoch, s.isr.clone());
    election::complete_reassignment(&current, target, live).map(|next| partition_state(next, controller_epoch))
}

/// The state znode's payload for `next`, written by the controller of `controller_epoch`.
fn partition_state(next: LeaderAndIsr, controller_epoch: i32) -> PartitionState {
    PartitionState { version: 1, leader: next.leader, leader_epoch: next.leader_epoch, isr: next.isr, controller_epoch }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vs(leader: i32, epoch: i32, isr: &[i32]) -> VersionedState {
        VersionedState {
            state: PartitionState { version: 1, leader, leader_epoch: epoch, isr: isr.to_vec(), controller_epoch: 1 },
            zk_version: 3,
        }
    }

    #[test]
    fn a_dead_leader_is_replaced_from_the_isr_in_assignment_order() {
        let next = decide(&vs(1, 4, &[1, 3, 2]), &[1, 2, 3], &[2, 3], false, false, 2).expect("elects");
        assert_eq!((next.leader, next.leader_epoch, next.isr.clone(), next.controller_epoch), (2, 5, vec![3, 2], 2));
    }

    #[test]
    fn no_live_isr_member_means_offline_unless_unclean() {
        let next = decide(&vs(1, 4, &[1]), &[1, 2, 3], &[2, 3], false, false, 1).expect("goes offline");
        assert_eq!((next.leader, next.isr.clone()), (-1, vec![1]));
        assert_eq!(decide(&next_vs(&next), &[1, 2, 3], &[2, 3], false, false, 1), None, "stays offline quietly");
        let next = decide(&vs(1, 4, &[1]), &[1, 2, 3], &[2, 3], true, false, 1).expect("unclean");
        assert_eq!((next.leader, next.isr), (2, vec![2]));
        let back = decide(&vs(-1, 5, &[1]), &[1, 2, 3], &[1, 2, 3], false, false, 1).expect("the ISR member returns");
        assert_eq!((back.leader, back.leader_epoch), (1, 6));
    }

    fn next_vs(s: &PartitionState) -> VersionedState {
        VersionedState { state: s.clone(), zk_version: 4 }
    }

    #[test]
    fn dead_followers_leave_the_isr_without_a_new_epoch() {
        let next = decide(&vs(1, 4, &[1, 2, 3]), &[1, 2, 3], &[1, 2], false, false, 1).expect("shrinks");
        assert_eq!((next.leader, next.leader_epoch, next.isr), (1, 4, vec![1, 2]));
        assert_eq!(
            decide(&vs(1, 4, &[1, 2]), &[1, 2, 3], &[1, 2, 3], false, false, 1),
            None,
            "rejoining is the leader's call"
        );
    }

    #[test]
    fn a_reassignment_finishes_only_when_every_target_replica_is_in_sync() {
        assert_eq!(finish_reassignment(&vs(1, 4, &[1, 2, 3]), &[2, 3, 4], &[1, 2, 3, 4], 1), None, "4 not in sync");
        let next = finish_reassignment(&vs(1, 4, &[1, 2, 3, 4]), &[2, 3, 4], &[1, 2, 3, 4], 2).expect("done");
        assert_eq!(
            (next.leader, next.leader_epoch, next.isr),
            (2, 5, vec![2, 3, 4]),
            "the moved-away leader hands over"
        );
        let next = finish_reassignment(&vs(3, 4, &[3, 1, 4]), &[1, 3, 4], &[1, 3, 4], 2).expect("done");
        assert_eq!((next.leader, next.leader_epoch), (3, 4), "a leader that stays keeps its epoch");
        assert_eq!(finish_reassignment(&vs(-1, 4, &[1, 4]), &[1, 4], &[1, 4], 1), None, "not while offline");
        assert_eq!(finish_reassignment(&vs(1, 4, &[1, 4]), &[1, 4], &[1], 1), None, "not with a target replica dead");
    }

    #[test]
    fn a_replica_dropped_from_the_assignment_leaves_the_isr() {
        let next = decide(&vs(1, 4, &[1, 2, 4]), &[1, 2], &[1, 2, 4], false, false, 1).expect("shrinks");
        assert_eq!((next.leader, next.leader_epoch, next.isr), (1, 4, vec![1, 2]));
    }

    #[test]
    fn rebalance_moves_leadership_back_to_the_preferred_replica() {
        assert_eq!(decide(&vs(2, 4, &[2, 1]), &[1, 2], &[1, 2], false, false, 1), None);
        let next = decide(&vs(2, 4, &[2, 1]), &[1, 2], &[1, 2], false, true, 1).expect("rebalances");
        assert_eq!((next.leader, next.leader_epoch), (1, 5));
        assert_eq!(decide(&vs(2, 4, &[2]), &[1, 2], &[1, 2], false, true, 1), None, "not while out of sync");
    }
}
