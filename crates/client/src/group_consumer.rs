//! A consumer-group member: joins (JoinGroup / SyncGroup with the consumer protocol and a range
//! assignor when it leads), keeps its session with heartbeats in the background, starts each
//! assigned partition at the committed offset (or earliest / latest), commits its positions,
//! and leaves on close. A rebalance signalled by a heartbeat makes the next poll rejoin. Every
//! group request goes to the group's coordinator through `Client::send_to_coordinator`, which
//! follows the coordinator when it moves.
//!
//! Consumer protocol encodings (Kafka's `ConsumerProtocolSubscription` / `Assignment`, v0):
//! subscription = version i16 | [topic string] | user data bytes; assignment = version i16 |
//! [topic string, [partition i32]] | user data bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sluice_protocol::api::{Request, Response};
use sluice_protocol::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, ConsumerProtocolTopicPartitions,
};
use sluice_protocol::messages::*;

use crate::client::Client;
use crate::consumer::{Consumer, ConsumerConfig, ConsumerRecord, IsolationLevel, StartOffset};
use crate::coordinator::CoordinatorType;
use crate::error::{ClientError, Result};

const PROTOCOL_TYPE: &str = "consumer";
const ASSIGNOR: &str = "range";
/// How long a member's fetch waits for records.
const FETCH_MAX_WAIT_MS: u64 = 300;
/// How much longer than the rebalance timeout JoinGroup and SyncGroup answers are awaited.
const JOIN_ANSWER_MARGIN_MS: u64 = 5_000;
/// The pause before joining again while the group is rebalancing.
const REJOIN_BACKOFF_MS: u64 = 200;
/// The pause in `poll` of a member assigned no partitions.
const IDLE_POLL_MS: u64 = 100;
/// Kafka's error codes the group protocol reacts to.
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const MEMBER_ID_REQUIRED: i16 = 79;

#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// Where partitions without a committed offset start.
    pub reset: StartOffset,
    /// Whether records of aborted transactions are seen.
    pub isolation: IsolationLevel,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(1),
            reset: StartOffset::End,
            isolation: IsolationLevel::default(),
        }
    }
}

// The embedded consumer protocol, version 0 (what this client's range assignor needs).
fn encode_subscription(topics: &[String]) -> Bytes {
    use sluice_protocol::codec::{Encode, Version};
    let mut b = BytesMut::new();
    0i16.encode(&mut b, Version::new(0, false));
    ConsumerProtocolSubscription { topics: topics.to_vec(), ..Default::default() }
        .encode(&mut b, Version::new(0, false));
    b.freeze()
}

/// The subscribed topics (none when the metadata does not decode).
fn decode_subscription(b: Bytes) -> Vec<String> {
    sluice_protocol::consumer_protocol::decode_subscription(b).map(|(_, s)| s.topics).unwrap_or_default()
}

fn encode_assignment(partitions: &BTreeMap<String, Vec<i32>>) -> Bytes {
    let assignment = ConsumerProtocolAssignment {
        assigned_partitions: partitions
            .iter()
            .map(|(t, ps)| ConsumerProtocolTopicPartitions { topic: t.clone(), partitions: ps.clone() })
            .collect(),
        user_data: None,
    };
    sluice_protocol::consumer_protocol::encode_assignment(&assignment, 0)
}

/// The assigned partitions (none when the assignment does not decode).
pub(crate) fn decode_assignment(b: Bytes) -> Vec<(String, i32)> {
    sluice_protocol::consumer_protocol::decode_assignment(b)
        .map(|a| {
            a.assigned_partitions
                .into_iter()
                .flat_map(|t| {
                    let topic = t.topic;
                    t.partitions.into_iter().map(move |p| (topic.clone(), p))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Kafka's range assignor: per topic, partitions in order split into contiguous ranges over
/// the subscribed members in member-id order, the first members taking one extra.
pub fn range_assign(
    members: &BTreeMap<String, Vec<String>>,
    partitions: &BTreeMap<String, i32>,
) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<i32>>> =
        members.keys().map(|m| (m.clone(), BTreeMap::new())).collect();
    for (topic, &count) in partitions {
        let subscribed: Vec<&String> = members.iter().filter(|(_, ts)| ts.contains(topic)).map(|(m, _)| m).collect();
        if subscribed.is_empty() {
            continue;
        }
        let per = count as usize / subscribed.len();
        let extra = count as usize % subscribed.len();
        let mut next = 0i32;
        for (i, m) in subscribed.iter().enumerate() {
            let n = per + usize::from(i < extra);
            let range: Vec<i32> = (next..next + n as i32).collect();
            next += n as i32;
            if !range.is_empty() {
                out.entry((*m).clone()).or_default().insert(topic.clone(), range);
            }
        }
    }
    out
}

#[derive(Debug, Default)]
struct Membership {
    member_id: String,
    generation: i32,
}

#[derive(Debug)]
pub struct GroupConsumer {
    client: Client,
    group: String,
    topics: Vec<String>,
    config: GroupConfig,
    membership: Arc<std::sync::Mutex<Membership>>,
    rejoin: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// Whether a join has completed (so there is a generation to commit in).
    joined: bool,
    consumer: Consumer,
    assignment: Vec<(String, i32)>,
}

fn unexpected(what: &str) -> ClientError {
    ClientError::Invalid(format!("{what} answered with another response type"))
}

impl GroupConsumer {
    /// Joins `group` subscribed to `topics`.
    pub async fn subscribe(
        client: Client,
        group: &str,
        topics: &[String],
        config: GroupConfig,
    ) -> Result<GroupConsumer> {
        for t in topics {
            client.topic(t).await?;
        }
        let mut gc = GroupConsumer {
            consumer: Consumer::new(client.clone(), consumer_config(&config)),
            client,
            group: group.to_string(),
            topics: topics.to_vec(),
            config,
            membership: Arc::default(),
            rejoin: Arc::new(AtomicBool::new(true)),
            stop: Arc::new(AtomicBool::new(false)),
            joined: false,
            assignment: Vec::new(),
        };
        gc.join().await?;
        gc.spawn_heartbeats();
        Ok(gc)
    }

    pub fn assignment(&self) -> &[(String, i32)] {
        &self.assignment
    }

    pub fn member_id(&self) -> String {
        self.membership.lock().unwrap_or_else(|p| p.into_inner()).member_id.clone()
    }

    async fn join(&mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.config.rebalance_timeout + self.config.session_timeout;
        loop {
            if tokio::time::Instant::now() > deadline {
                return Err(ClientError::Timeout {
                    what: format!("joining group {}", self.group),
                    ms: self.config.rebalance_timeout.as_millis() as u64,
                });
            }
            let member_id = self.member_id();
            let request = JoinGroupRequest {
                group_id: self.group.clone(),
                session_timeout_ms: self.config.session_timeout.as_millis() as i32,
                rebalance_timeout_ms: self.config.rebalance_timeout.as_millis() as i32,
                member_id,
                group_instance_id: None,
                protocol_type: PROTOCOL_TYPE.into(),
                protocols: vec![JoinGroupRequestProtocol {
                    name: ASSIGNOR.into(),
                    metadata: encode_subscription(&self.topics),
                }],
                reason: None,
            };
            let join_timeout = self.config.rebalance_timeout + Duration::from_millis(JOIN_ANSWER_MARGIN_MS);
            let (_, answer) = self
                .client
                .send_to_coordinator_within(
                    CoordinatorType::Group,
                    &self.group,
                    Request::JoinGroup(request),
                    join_timeout,
                )
                .await?;
            let Response::JoinGroup(j) = answer else {
                return Err(unexpected("JoinGroup"));
            };
            match j.error_code {
                0 => {}
                MEMBER_ID_REQUIRED => {
                    // Join again with the id we were given (KIP-394).
                    self.membership.lock().unwrap_or_else(|p| p.into_inner()).member_id = j.member_id;
                    continue;
                }
                UNKNOWN_MEMBER_ID => {
                    self.membership.lock().unwrap_or_else(|p| p.into_inner()).member_id.clear();
                    continue;
                }
                REBALANCE_IN_PROGRESS => {
                    tokio::time::sleep(Duration::from_millis(REJOIN_BACKOFF_MS)).await;
                    continue;
                }
                code => return ClientError::check(code, Some(format!("joining group '{}'", self.group))),
            }
            {
                let mut m = self.membership.lock().unwrap_or_else(|p| p.into_inner());
                m.member_id = j.member_id.clone();
                m.generation = j.generation_id;
            }
            let assignments = if j.leader == j.member_id {
                let members: BTreeMap<String, Vec<String>> =
                    j.members.iter().map(|m| (m.member_id.clone(), decode_subscription(m.metadata.clone()))).collect();
                let topics: BTreeSet<String> = members.values().flatten().cloned().collect();
                let mut counts = BTreeMap::new();
                for t in topics {
                    if let Ok(info) = self.client.topic(&t).await {
                        counts.insert(t, info.partitions.len() as i32);
                    }
                }
                range_assign(&members, &counts)
                    .into_iter()
                    .map(|(member_id, parts)| SyncGroupRequestAssignment {
                        member_id,
                        assignment: encode_assignment(&parts),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let sync = SyncGroupRequest {
                group_id: self.group.clone(),
                generation_id: j.generation_id,
                member_id: j.member_id.clone(),
                group_instance_id: None,
                protocol_type: Some(PROTOCOL_TYPE.into()),
                protocol_name: j.protocol_name.clone(),
                assignments,
            };
            let (_, answer) = self
                .client
                .send_to_coordinator_within(CoordinatorType::Group, &self.group, Request::SyncGroup(sync), join_timeout)
                .await?;
            let Response::SyncGroup(s) = answer else {
                return Err(unexpected("SyncGroup"));
            };
            if matches!(s.error_code, REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION | UNKNOWN_MEMBER_ID) {
                continue;
            }
            ClientError::check(s.error_code, Some(format!("syncing group '{}'", self.group)))?;
            self.assignment = decode_assignment(s.assignment);
            self.joined = true;
            self.position_assignment().await?;
            self.rejoin.store(false, Ordering::SeqCst);
            return Ok(());
        }
    }

    /// Starts each assigned partition at its committed offset, or per `reset`.
    async fn position_assignment(&mut self) -> Result<()> {
        let committed = self.client.committed_offsets(&self.group).await?;
        self.consumer = Consumer::new(self.client.clone(), consumer_config(&self.config));
        for (topic, partition) in self.assignment.clone() {
            let start = match committed.get(&(topic.clone(), partition)) {
                Some(&o) => StartOffset::Offset(o),
                None => self.config.reset,
            };
            self.consumer.seek(&topic, partition, start).await?;
        }
        Ok(())
    }

    fn spawn_heartbeats(&self) {
        let (client, group, membership, rejoin, stop, interval) = (
            self.client.clone(),
            self.group.clone(),
            self.membership.clone(),
            self.rejoin.clone(),
            self.stop.clone(),
            self.config.heartbeat_interval,
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(interval).await;
                if stop.load(Ordering::SeqCst) || rejoin.load(Ordering::SeqCst) {
                    continue;
                }
                let (member_id, generation_id) = {
                    let m = membership.lock().unwrap_or_else(|p| p.into_inner());
                    (m.member_id.clone(), m.generation)
                };
                let request =
                    HeartbeatRequest { group_id: group.clone(), generation_id, member_id, group_instance_id: None };
                match client.send_to_coordinator(CoordinatorType::Group, &group, Request::Heartbeat(request)).await {
                    Ok((_, Response::Heartbeat(r))) if r.error_code == 0 => {}
                    _ => rejoin.store(true, Ordering::SeqCst),
                }
            }
        });
    }

    /// The next records; rejoins first if the group is rebalancing.
    pub async fn poll(&mut self, max_records: usize) -> Result<Vec<ConsumerRecord>> {
        if self.rejoin.load(Ordering::SeqCst) {
            let _ = self.commit().await;
            self.join().await?;
        }
        if self.assignment.is_empty() {
            tokio::time::sleep(Duration::from_millis(IDLE_POLL_MS)).await;
            return Ok(Vec::new());
        }
        self.consumer.poll(max_records).await
    }

    /// Whether every assigned partition is at its end.
    pub fn at_end(&self) -> bool {
        self.consumer.at_end()
    }

    /// Commits the current position of every assigned partition.
    pub async fn commit(&mut self) -> Result<()> {
        if !self.joined {
            return Ok(());
        }
        let (member_id, generation) = {
            let m = self.membership.lock().unwrap_or_else(|p| p.into_inner());
            (m.member_id.clone(), m.generation)
        };
        let mut topics: BTreeMap<String, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for (t, p) in &self.assignment {
            if let Some(o) = self.consumer.position(t, *p) {
                topics.entry(t.clone()).or_default().push(OffsetCommitRequestPartition {
                    partition_index: *p,
                    committed_offset: o,
                    committed_leader_epoch: -1,
                    commit_timestamp: -1,
                    committed_metadata: Some(String::new()),
                });
            }
        }
        if topics.is_empty() {
            return Ok(());
        }
        let request = OffsetCommitRequest {
            group_id: self.group.clone(),
            generation_id_or_member_epoch: generation,
            member_id,
            group_instance_id: None,
            retention_time_ms: -1,
            topics: topics
                .into_iter()
                .map(|(name, partitions)| OffsetCommitRequestTopic { name, partitions })
                .collect(),
        };
        let (_, answer) = self
            .client
            .send_to_coordinator(CoordinatorType::Group, &self.group, Request::OffsetCommit(request))
            .await?;
        let Response::OffsetCommit(r) = answer else {
            return Err(unexpected("OffsetCommit"));
        };
        for t in r.topics {
            for p in t.partitions {
                if matches!(p.error_code, ILLEGAL_GENERATION | UNKNOWN_MEMBER_ID | REBALANCE_IN_PROGRESS) {
                    self.rejoin.store(true, Ordering::SeqCst);
                }
                ClientError::check(p.error_code, Some(format!("commit {}-{}", t.name, p.partition_index)))?;
            }
        }
        Ok(())
    }

    /// Commits, then leaves the group (LeaveGroup) so the others rebalance at once and the
    /// group is empty as soon as its last member closes. Returns the first failure of the two.
    pub async fn close(mut self) -> Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        let commit = self.commit().await;
        if !self.joined {
            return commit;
        }
        let member_id = self.member_id();
        let request = LeaveGroupRequest {
            group_id: self.group.clone(),
            member_id: member_id.clone(),
            members: vec![LeaveGroupRequestMember { member_id, group_instance_id: None, reason: None }],
        };
        let answer =
            self.client.send_to_coordinator(CoordinatorType::Group, &self.group, Request::LeaveGroup(request)).await;
        let left = match answer {
            Ok((_, Response::LeaveGroup(r))) => {
                // UNKNOWN_MEMBER_ID: the coordinator dropped the member already, which is what
                // leaving is for.
                let code = std::iter::once(r.error_code)
                    .chain(r.members.iter().map(|m| m.error_code))
                    .find(|&c| c != 0 && c != UNKNOWN_MEMBER_ID)
                    .unwrap_or(0);
                ClientError::check(code, Some(format!("leaving group '{}'", self.group)))
            }
            Ok(_) => Err(unexpected("LeaveGroup")),
            Err(e) => Err(e),
        };
        commit.and(left)
    }
}

/// The consumer a member fetches its assignment with.
fn consumer_config(config: &GroupConfig) -> ConsumerConfig {
    ConsumerConfig {
        max_wait: Duration::from_millis(FETCH_MAX_WAIT_MS),
        isolation: config.isolation,
        ..ConsumerConfig::default()
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        // Stops the heartbeat task; the coordinator expires the member after its session.
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_assignment_splits_contiguously_with_the_extra_to_the_first() {
        let members: BTreeMap<String, Vec<String>> =
            ["a", "b", "c"].iter().map(|m| (m.to_string(), vec!["t".to_string()])).collect();
        let counts = BTreeMap::from([("t".to_string(), 7)]);
        let a = range_assign(&members, &counts);
        assert_eq!(a["a"]["t"], vec![0, 1, 2]);
        assert_eq!(a["b"]["t"], vec![3, 4]);
        assert_eq!(a["c"]["t"], vec![5, 6]);
    }

    #[test]
    fn consumer_protocol_encodings_round_trip() {
        assert_eq!(
            decode_subscription(encode_subscription(&["x".into(), "y".into()])),
            vec!["x".to_string(), "y".to_string()]
        );
        let parts = BTreeMap::from([("t".to_string(), vec![1, 4])]);
        assert_eq!(decode_assignment(encode_assignment(&parts)), vec![("t".to_string(), 1), ("t".to_string(), 4)]);
    }
}
