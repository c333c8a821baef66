//! The consumer group protocol of KIP-848, sans I/O: groups whose members heartbeat with
//! ConsumerGroupHeartbeat and are given partitions by an assignor on the coordinator.
//!
//! A group has an epoch, bumped whenever what its assignment depends on changes (a member joins
//! or leaves, a subscription changes, a subscribed topic appears or grows). Each bump computes a
//! new target assignment at once (so the assignment epoch follows the group epoch). Each member
//! then converges on its target one heartbeat at a time, as Kafka's `CurrentAssignmentBuilder`
//! does: partitions it must give up are revoked first (the member keeps its epoch until its
//! heartbeat no longer lists them), and a partition another member still owns is withheld until
//! that member has released it. A member whose epoch trails the group's is told its target;
//! a member sending an epoch it was never given is fenced.
//!
//! Members that stop heartbeating for their session timeout are removed; a member that does not
//! revoke within its rebalance timeout is removed too, so its partitions can move. Static members
//! (an instance id) leaving with epoch -2 keep their place and assignment for a session
//! timeout, and a member with the same instance id that joins takes it over.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::ErrorCode;

/// A topic id.
pub type TopicId = [u8; 16];

/// Partitions by topic id.
pub type Assignment = BTreeMap<TopicId, BTreeSet<i32>>;

/// The epoch a member sends to leave the group.
pub const LEAVE_EPOCH: i32 = -1;
/// OffsetCommit's and OffsetFetch's check of a member of a consumer-protocol group (Kafka's
/// `ConsumerGroup.validateOffsetCommit`/`validateOffsetFetch`): without a member (epoch < 0)
/// only while the group is empty; else the member must be known and send its current epoch.
/// `commit_version` is OffsetCommit's version (None: a fetch or a transactional commit), and
/// must be 9 or more for a member of this protocol.
pub fn validate_offsets_access(
    group: &ConsumerGroup,
    member_id: &str,
    member_epoch: i32,
    commit_version: Option<i16>,
) -> Result<(), ErrorCode> {
    if member_epoch < 0 && (commit_version.is_none() && member_id.is_empty() || group.members.is_empty()) {
        return Ok(());
    }
    let Some(member) = group.members.get(member_id) else {
        return Err(ErrorCode::UnknownMemberId);
    };
    if member.classic.is_some() {
        // A classic member's generation is its epoch.
        return if member_epoch == member.member_epoch { Ok(()) } else { Err(ErrorCode::IllegalGeneration) };
    }
    if commit_version.is_some_and(|v| v < 9) {
        return Err(ErrorCode::UnsupportedVersion);
    }
    if member_epoch != member.member_epoch {
        return Err(ErrorCode::StaleMemberEpoch);
    }
    Ok(())
}

/// The epoch a static member sends to leave for now, keeping its place for a session timeout.
pub const STATIC_LEAVE_EPOCH: i32 = -2;

/// The server-side assignors (Kafka's `group.consumer.assignors` names).
pub const ASSIGNORS: [&str; 2] = ["uniform", "range"];

/// The longest subscribed topic regex, in bytes.
pub const MAX_TOPIC_REGEX_BYTES: usize = 4096;

/// A topic as the assignors see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub id: TopicId,
    pub partitions: i32,
}

/// The cluster's topics by name (internal topics left out), taken for each heartbeat.
pub type Topics = BTreeMap<String, TopicInfo>;

/// The broker settings for consumer-protocol groups (`group.consumer.*`).
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `group.consumer.session.timeout.ms`
    pub session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`
    pub heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`
    pub max_size: usize,
    /// `group.consumer.assignors`: the first is the default.
    pub assignors: Vec<String>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: i32::MAX as usize,
            assignors: ASSIGNORS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// How far a member is in converging on its target (Kafka's `MemberState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    Stable,
    /// Waiting for the member to give up partitions.
    UnrevokedPartitions,
    /// Waiting for other members to give up partitions meant for this one.
    UnreleasedPartitions,
}

impl MemberState {
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Stable => "stable",
            MemberState::UnrevokedPartitions => "unrevoked_partitions",
            MemberState::UnreleasedPartitions => "unreleased_partitions",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// What the member may use now.
    pub assigned: Assignment,
    /// What it has been asked to give up and still holds.
    pub pending_revocation: Assignment,
    /// When its session ends unless it heartbeats.
    pub session_deadline_ms: i64,
    /// When it must have revoked (while in [`MemberState::UnrevokedPartitions`]).
    pub revocation_deadline_ms: Option<i64>,
    /// Set for a member that speaks the classic protocol (JoinGroup, SyncGroup, Heartbeat) in
    /// this group: a mixed group, as Kafka 4.x allows.
    pub classic: Option<ClassicMember>,
}

/// What a classic member of a consumer-protocol group keeps of its JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassicMember {
    pub session_timeout_ms: i32,
    /// (protocol name, its ConsumerProtocolSubscription), in the member's order of preference.
    pub protocols: Vec<(String, bytes::Bytes)>,
}

impl ConsumerMember {
    /// A static member that left with epoch -2 and may be taken over.
    pub fn left_for_now(&self) -> bool {
        self.member_epoch == STATIC_LEAVE_EPOCH
    }
}

/// A consumer-protocol group's membership and assignment.
#[derive(Debug, Clone, Default)]
pub struct ConsumerGroup {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    /// The assignor of the current target.
    pub assignor: String,
    pub members: BTreeMap<String, ConsumerMember>,
    /// Each member's target assignment.
    pub target: BTreeMap<String, Assignment>,
    /// The subscribed topics' metadata the target was computed from (None: not worked out yet,
    /// for a group just loaded from `__consumer_offsets`).
    subscribed: Option<Topics>,
    /// The records last written for the group (and so the members they name).
    written: Vec<super::consumer_records::Record>,
    /// Who holds each partition now (assigned or pending revocation): partition -> member id.
    owners: BTreeMap<(TopicId, i32), String>,
}

/// Kafka's consumer group states, as ConsumerGroupDescribe and ListGroups name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// What a heartbeat carries (ConsumerGroupHeartbeat's request, resolved).
#[derive(Debug, Clone, Default)]
pub struct HeartbeatRequest {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// The partitions the member owns (null: unchanged since the last heartbeat).
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The member's assignment, when it changed or the request was a full one.
    pub assignment: Option<Assignment>,
}

/// A refused heartbeat: the error and its message.
pub type Refusal = (ErrorCode, String);

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    (code, message.into())
}

/// Compiles a subscription regex as Kafka matches it (the whole topic name, RE2 syntax).
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, Refusal> {
    if pattern.len() > MAX_TOPIC_REGEX_BYTES {
        return Err(refuse(
            ErrorCode::InvalidRegularExpression,
            format!("SubscribedTopicRegex is longer than {MAX_TOPIC_REGEX_BYTES} bytes"),
        ));
    }
    regex::RegexBuilder::new(&format!("^(?:{pattern})$")).size_limit(1 << 20).build().map_err(|e| {
        refuse(ErrorCode::InvalidRegularExpression, format!("SubscribedTopicRegex `{pattern}` is invalid: {e}"))
    })
}

/// Kafka's checks of a heartbeat's fields before anything changes
/// (`throwIfConsumerGroupHeartbeatRequestIsInvalid`).
pub fn validate(request: &HeartbeatRequest, version: i16, config: &ConsumerConfig) -> Result<(), Refusal> {
    let epoch = request.member_epoch;
    if version >= 1 && request.member_id.is_empty() {
        return Err(refuse(ErrorCode::InvalidRequest, "MemberId can't be empty."));
    }
    if epoch != 0 && request.member_id.is_empty() {
        return Err(refuse(ErrorCode::InvalidRequest, "MemberId can't be empty."));
    }
    if epoch < STATIC_LEAVE_EPOCH {
        return Err(refuse(ErrorCode::InvalidRequest, format!("MemberEpoch {epoch} is invalid.")));
    }
    if epoch == STATIC_LEAVE_EPOCH && request.instance_id.is_none() {
        return Err(refuse(ErrorCode::InvalidRequest, "InstanceId can't be null when MemberEpoch is -2."));
    }
    if epoch == 0 {
        if request.rebalance_timeout_ms == -1 {
            return Err(refuse(ErrorCode::InvalidRequest, "RebalanceTimeoutMs must be provided in first request."));
        }
        if request.owned.as_ref().is_none_or(|o| o.values().any(|p| !p.is_empty())) {
            return Err(refuse(ErrorCode::InvalidRequest, "TopicPartitions must be empty when (re-)joining."));
        }
        if request.subscribed_topic_names.is_none() && request.subscribed_topic_regex.is_none() {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
            ));
        }
    }
    if let Some(assignor) = &request.server_assignor
        && !config.assignors.iter().any(|a| a == assignor)
    {
        return Err(refuse(ErrorCode::UnsupportedAssignor, format!("ServerAssignor {assignor} is not supported.")));
    }
    if let Some(pattern) = &request.subscribed_topic_regex
        && !pattern.is_empty()
    {
        compile_regex(pattern)?;
    }
    Ok(())
}

impl ConsumerGroup {
    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| m.member_epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The member's id for `instance_id`, if a member has it.
    fn static_member(&self, instance_id: &str) -> Option<&ConsumerMember> {
        self.members.values().find(|m| m.instance_id.as_deref() == Some(instance_id))
    }

    /// Handles one heartbeat at `now_ms` against the cluster's `topics`. `session_timeout_ms`
    /// and `heartbeat_interval_ms` are the group's (its group configs or the broker's).
    pub fn heartbeat(
        &mut self,
        now_ms: i64,
        request: HeartbeatRequest,
        topics: &Topics,
        config: &ConsumerConfig,
        session_timeout_ms: i32,
        heartbeat_interval_ms: i32,
    ) -> Result<HeartbeatAnswer, Refusal> {
        let epoch = request.member_epoch;
        if epoch == LEAVE_EPOCH || epoch == STATIC_LEAVE_EPOCH {
            return self.leave(now_ms, &request, config, session_timeout_ms);
        }
        let mut member_id = request.member_id.clone();
        let mut bump = false;
        if epoch == 0 {
            if member_id.is_empty() {
                member_id = new_member_id(now_ms, self.group_epoch, self.members.len());
            }
            // A static member takes the place of the one with its instance id that left for
            // now; a place still held is refused.
            let mut inherited = None;
            if let Some(instance) = &request.instance_id
                && let Some(old) = self.static_member(instance)
                && old.member_id != member_id
            {
                if !old.left_for_now() {
                    return Err(refuse(
                        ErrorCode::UnreleasedInstanceId,
                        format!("Static member {} with instance id {instance} is not released yet.", old.member_id),
                    ));
                }
                let old_id = old.member_id.clone();
                inherited = self.hand_over(&old_id, &member_id);
            }
            if !self.members.contains_key(&member_id) {
                if self.members.len() >= config.max_size {
                    return Err(refuse(
                        ErrorCode::GroupMaxSizeReached,
                        format!("The consumer group has reached its maximum capacity of {} members.", config.max_size),
                    ));
                }
                let member = match inherited {
                    // The new instance carries on with the old one's epoch and partitions.
                    Some(old) => ConsumerMember {
                        member_id: member_id.clone(),
                        member_epoch: old.previous_member_epoch.max(0),
                        session_deadline_ms: now_ms + i64::from(session_timeout_ms),
                        ..old
                    },
                    None => {
                        bump = true;
                        ConsumerMember {
                            member_id: member_id.clone(),
                            instance_id: request.instance_id.clone(),
                            rack_id: None,
                            client_id: request.client_id.clone(),
                            client_host: request.client_host.clone(),
                            member_epoch: 0,
                            previous_member_epoch: 0,
                            state: MemberState::Stable,
                            rebalance_timeout_ms: request.rebalance_timeout_ms,
                            subscribed_topic_names: Vec::new(),
                            subscribed_topic_regex: None,
                            server_assignor: None,
                            assigned: Assignment::new(),
                            pending_revocation: Assignment::new(),
                            session_deadline_ms: now_ms,
                            revocation_deadline_ms: None,
                            classic: None,
                        }
                    }
                };
                self.members.insert(member_id.clone(), member);
            } else {
                // The same member joining again (it lost its state): it starts over, its
                // partitions released.
                let member = self.members.get_mut(&member_id).expect("present");
                if member.member_epoch != 0 || !member.assigned.is_empty() || !member.pending_revocation.is_empty() {
                    member.assigned.clear();
                    member.pending_revocation.clear();
                    member.member_epoch = 0;
                    member.previous_member_epoch = 0;
                    member.state = MemberState::Stable;
                    member.revocation_deadline_ms = None;
                    self.owners.retain(|_, owner| *owner != member_id);
                }
            }
        } else {
            let Some(member) = self.members.get(&member_id) else {
                return Err(refuse(
                    ErrorCode::UnknownMemberId,
                    format!("Member {member_id} is not a member of the group."),
                ));
            };
            if epoch > member.member_epoch {
                return Err(refuse(
                    ErrorCode::FencedMemberEpoch,
                    format!(
                        "The consumer group member has a greater epoch ({epoch}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                        member.member_epoch
                    ),
                ));
            }
            if epoch < member.member_epoch {
                // The answer with the new epoch may have been lost: the previous epoch is
                // accepted from a member owning no more than it is assigned.
                let owned_fits = request.owned.as_ref().is_some_and(|owned| is_subset(owned, &member.assigned));
                if epoch != member.previous_member_epoch || !owned_fits {
                    return Err(refuse(
                        ErrorCode::FencedMemberEpoch,
                        format!(
                            "The consumer group member has a smaller epoch ({epoch}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                            member.member_epoch
                        ),
                    ));
                }
            }
        }

        // The member's fields, as far as they came with this heartbeat.
        let member = self.members.get_mut(&member_id).expect("present");
        member.session_deadline_ms = now_ms + i64::from(session_timeout_ms);
        member.client_id = request.client_id.clone();
        member.client_host = request.client_host.clone();
        if let Some(rack) = &request.rack_id {
            member.rack_id = Some(rack.clone());
        }
        if request.rebalance_timeout_ms >= 0 {
            member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        }
        if let Some(names) = &request.subscribed_topic_names {
            let mut names = names.clone();
            names.sort();
            names.dedup();
            if names != member.subscribed_topic_names {
                member.subscribed_topic_names = names;
                bump = true;
            }
        }
        if let Some(regex) = &request.subscribed_topic_regex {
            let regex = Some(regex.clone()).filter(|r| !r.is_empty());
            if regex != member.subscribed_topic_regex {
                member.subscribed_topic_regex = regex;
                bump = true;
            }
        }
        if request.server_assignor.is_some() && request.server_assignor != member.server_assignor {
            member.server_assignor = request.server_assignor.clone();
            bump = true;
        }
        let full_request = epoch == 0
            || (request.rebalance_timeout_ms != -1
                && request.subscribed_topic_names.is_some()
                && request.owned.is_some());

        self.bump_and_assign(bump, topics, config);
        let before = self.members[&member_id].assigned.clone();
        self.reconcile(&member_id, request.owned.as_ref(), now_ms);
        let member = &self.members[&member_id];
        let changed = member.assigned != before;
        Ok(HeartbeatAnswer {
            member_id,
            member_epoch: member.member_epoch,
            heartbeat_interval_ms,
            assignment: (full_request || changed).then(|| member.assigned.clone()),
        })
    }

    /// After a member changed (`bump`: its subscription or its membership): the group epoch
    /// goes up if that or the subscribed topics changed, and a new target is computed for it.
    fn bump_and_assign(&mut self, mut bump: bool, topics: &Topics, config: &ConsumerConfig) {
        // What the group's assignment depends on: its members' subscriptions and those topics.
        let subscribed = self.subscribed_topics(topics);
        match &self.subscribed {
            // Just loaded: what the stored target was computed from is taken to be this.
            None => self.subscribed = Some(subscribed),
            Some(known) if *known != subscribed => {
                self.subscribed = Some(subscribed);
                bump = true;
            }
            Some(_) => {}
        }
        if bump {
            self.group_epoch += 1;
        }
        if self.group_epoch > self.assignment_epoch {
            self.assign(config);
        }
    }

    /// A static member's place passes from `old_id` to `new_id`: its target and the partitions
    /// it holds go to the new id; returns the old member, taken out.
    fn hand_over(&mut self, old_id: &str, new_id: &str) -> Option<ConsumerMember> {
        let old = self.members.remove(old_id);
        if let Some(target) = self.target.remove(old_id) {
            self.target.insert(new_id.to_string(), target);
        }
        for owner in self.owners.values_mut() {
            if owner == old_id {
                *owner = new_id.to_string();
            }
        }
        old
    }

    /// A member leaving (-1) or a static member stepping out for now (-2).
    fn leave(
        &mut self,
        now_ms: i64,
        request: &HeartbeatRequest,
        config: &ConsumerConfig,
        session_timeout_ms: i32,
    ) -> Result<HeartbeatAnswer, Refusal> {
        // A static member may leave by its instance id (a new process does not know the old id).
        let member_id = match (&request.instance_id, self.members.contains_key(&request.member_id)) {
            (_, true) => request.member_id.clone(),
            (Some(instance), false) => match self.static_member(instance) {
                Some(m) => m.member_id.clone(),
                None => {
                    return Err(refuse(ErrorCode::UnknownMemberId, format!("Instance id {instance} is unknown.")));
                }
            },
            (None, false) => {
                return Err(refuse(
                    ErrorCode::UnknownMemberId,
                    format!("Member {} is not a member of the group.", request.member_id),
                ));
            }
        };
        if let Some(instance) = &request.instance_id
            && self.members[&member_id].instance_id.as_deref() != Some(instance)
        {
            return Err(refuse(
                ErrorCode::FencedInstanceId,
                format!("Member {member_id} does not have instance id {instance}."),
            ));
        }
        if request.member_epoch == STATIC_LEAVE_EPOCH {
            // Keeps its place and partitions until its session runs out.
            let member = self.members.get_mut(&member_id).expect("present");
            if member.member_epoch != STATIC_LEAVE_EPOCH {
                member.previous_member_epoch = member.member_epoch;
            }
            member.member_epoch = STATIC_LEAVE_EPOCH;
            member.session_deadline_ms = now_ms + i64::from(session_timeout_ms);
        } else {
            self.remove(&member_id, config);
        }
        Ok(HeartbeatAnswer {
            member_id,
            member_epoch: request.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        })
    }

    /// Removes a member and reassigns its partitions.
    pub fn remove(&mut self, member_id: &str, config: &ConsumerConfig) {
        if self.members.remove(member_id).is_none() {
            return;
        }
        self.target.remove(member_id);
        self.owners.retain(|_, owner| owner != member_id);
        self.group_epoch += 1;
        // Just loaded, the topics are not known yet: the next heartbeat assigns.
        if let Some(known) = self.subscribed.take() {
            self.subscribed = Some(self.subscribed_topics(&known));
            self.assign(config);
        }
    }

    /// After a load from `__consumer_offsets`: who owns what, from the members' assignments.
    pub fn restore(&mut self, group_id: &str) {
        self.subscribed = None;
        self.owners.clear();
        for m in self.members.values() {
            for (t, ps) in m.assigned.iter().chain(m.pending_revocation.iter()) {
                for p in ps {
                    self.owners.insert((*t, *p), m.member_id.clone());
                }
            }
        }
        self.written = super::consumer_records::records(group_id, self, &[]);
    }

    /// The records to write if the group changed since they were last written (with
    /// tombstones for the members that left), or None.
    pub fn changed_records(&mut self, group_id: &str) -> Option<Vec<super::consumer_records::Record>> {
        let now = super::consumer_records::records(group_id, self, &[]);
        if now == self.written {
            return None;
        }
        let gone: Vec<String> = self
            .written
            .iter()
            .filter_map(|(k, _)| super::consumer_records::member_of(k))
            .filter(|m| !self.members.contains_key(m))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.written = now;
        Some(super::consumer_records::records(group_id, self, &gone))
    }

    /// Members whose session ran out, or who did not revoke in time, at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> Vec<String> {
        self.members
            .values()
            .filter(|m| now_ms > m.session_deadline_ms || m.revocation_deadline_ms.is_some_and(|d| now_ms > d))
            .map(|m| m.member_id.clone())
            .collect()
    }

    /// The earliest deadline of any member.
    pub fn next_deadline(&self) -> Option<i64> {
        self.members
            .values()
            .flat_map(|m| [Some(m.session_deadline_ms + 1), m.revocation_deadline_ms.map(|d| d + 1)])
            .flatten()
            .min()
    }

    /// The topics any member subscribes to, by name or regex, that exist.
    fn subscribed_topics(&self, topics: &Topics) -> Topics {
        let regexes: Vec<regex::Regex> = self
            .members
            .values()
            .filter_map(|m| m.subscribed_topic_regex.as_deref())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|r| compile_regex(r).ok())
            .collect();
        let names: BTreeSet<&str> =
            self.members.values().flat_map(|m| m.subscribed_topic_names.iter().map(String::as_str)).collect();
        topics
            .iter()
            .filter(|(name, _)| names.contains(name.as_str()) || regexes.iter().any(|r| r.is_match(name)))
            .map(|(name, info)| (name.clone(), info.clone()))
            .collect()
    }

    /// The topics one member subscribes to, by id.
    fn member_topics(member: &ConsumerMember, subscribed: &Topics) -> BTreeSet<TopicId> {
        let regex = member.subscribed_topic_regex.as_deref().and_then(|r| compile_regex(r).ok());
        subscribed
            .iter()
            .filter(|(name, _)| {
                member.subscribed_topic_names.iter().any(|n| n == *name)
                    || regex.as_ref().is_some_and(|r| r.is_match(name))
            })
            .map(|(_, info)| info.id)
            .collect()
    }

    /// Computes the target assignment of the current group epoch.
    fn assign(&mut self, config: &ConsumerConfig) {
        // The assignor most members ask for, else the broker's first.
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.server_assignor.as_deref() {
                *votes.entry(a).or_default() += 1;
            }
        }
        let default = config.assignors.first().map_or("uniform", String::as_str);
        let assignor = votes.iter().max_by_key(|(_, n)| **n).map_or(default, |(a, _)| *a).to_string();
        let subscribed = self.subscribed.clone().unwrap_or_default();
        let partitions: BTreeMap<TopicId, i32> = subscribed.values().map(|t| (t.id, t.partitions)).collect();
        let subscriptions: BTreeMap<String, BTreeSet<TopicId>> =
            self.members.values().map(|m| (m.member_id.clone(), Self::member_topics(m, &subscribed))).collect();
        self.target = if assignor == "range" {
            range_assign(&subscriptions, &partitions)
        } else {
            uniform_assign(&subscriptions, &partitions, &self.target)
        };
        self.assignor = assignor;
        self.assignment_epoch = self.group_epoch;
    }

    /// Moves a member one step towards its target (Kafka's `CurrentAssignmentBuilder`).
    fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now_ms: i64) {
        let target_epoch = self.assignment_epoch;
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let member = self.members.get(member_id).expect("present").clone();
        match member.state {
            MemberState::UnrevokedPartitions => {
                // Still holding what it was asked to give up: wait (its heartbeat says).
                let still_holds = match owned {
                    None => true,
                    Some(owned) => member
                        .pending_revocation
                        .iter()
                        .any(|(t, ps)| owned.get(t).is_some_and(|o| ps.iter().any(|p| o.contains(p)))),
                };
                if still_holds {
                    return;
                }
            }
            MemberState::Stable if member.member_epoch == target_epoch => return,
            _ => {}
        }
        let mut keep = Assignment::new();
        let mut revoke = Assignment::new();
        let mut add = Assignment::new();
        let mut withheld = false;
        let topics: BTreeSet<TopicId> = member.assigned.keys().chain(target.keys()).copied().collect();
        for topic in topics {
            let current = member.assigned.get(&topic).cloned().unwrap_or_default();
            let wanted = target.get(&topic).cloned().unwrap_or_default();
            for &p in current.intersection(&wanted) {
                keep.entry(topic).or_default().insert(p);
            }
            for &p in current.difference(&wanted) {
                revoke.entry(topic).or_default().insert(p);
            }
            for &p in wanted.difference(&current) {
                match self.owners.get(&(topic, p)) {
                    Some(owner) if owner != member_id => withheld = true,
                    _ => {
                        add.entry(topic).or_default().insert(p);
                    }
                }
            }
        }
        let member = self.members.get_mut(member_id).expect("present");
        if !revoke.is_empty() {
            // Give up first; the epoch stays until it has.
            member.assigned = keep;
            member.pending_revocation = revoke;
            member.state = MemberState::UnrevokedPartitions;
            member.revocation_deadline_ms = Some(now_ms + i64::from(member.rebalance_timeout_ms.max(0)));
        } else {
            // Released (or nothing to release): the revoked ones are free for others.
            let released: Vec<(TopicId, i32)> =
                member.pending_revocation.iter().flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p))).collect();
            for tp in released {
                if self.owners.get(&tp).map(String::as_str) == Some(member_id) {
                    self.owners.remove(&tp);
                }
            }
            let member = self.members.get_mut(member_id).expect("present");
            for (t, ps) in add {
                keep.entry(t).or_default().extend(ps);
            }
            member.assigned = keep;
            member.pending_revocation.clear();
            member.revocation_deadline_ms = None;
            if member.member_epoch != target_epoch {
                member.previous_member_epoch = member.member_epoch;
                member.member_epoch = target_epoch;
            }
            member.state = if withheld { MemberState::UnreleasedPartitions } else { MemberState::Stable };
        }
        let member = &self.members[member_id];
        let held: Vec<(TopicId, i32)> = member
            .assigned
            .iter()
            .chain(member.pending_revocation.iter())
            .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
            .collect();
        for tp in held {
            self.owners.insert(tp, member_id.to_string());
        }
    }
}

/// A classic member's JoinGroup to a consumer-protocol group.
#[derive(Debug, Clone)]
pub struct ClassicJoin {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<(String, bytes::Bytes)>,
    /// v4+: an unknown member is first told MEMBER_ID_REQUIRED with its new id.
    pub require_known_member_id: bool,
}

/// The answer to a classic JoinGroup in a consumer-protocol group: it never waits (the
/// coordinator assigns), and the member is never the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassicJoinAnswer {
    pub member_id: String,
    pub generation_id: i32,
    pub protocol_name: String,
}

/// The subscribed topics and owned partitions in a classic member's first protocol.
fn classic_subscription(
    protocols: &[(String, bytes::Bytes)],
    topics: &Topics,
) -> Result<(Vec<String>, Assignment), ErrorCode> {
    let Some((_, metadata)) = protocols.first() else { return Err(ErrorCode::InconsistentGroupProtocol) };
    let (_, sub) = sluice_protocol::consumer_protocol::decode_subscription(metadata.clone())
        .map_err(|_| ErrorCode::InconsistentGroupProtocol)?;
    let mut owned = Assignment::new();
    for tp in sub.owned_partitions {
        if let Some(info) = topics.get(&tp.topic) {
            owned.entry(info.id).or_default().extend(tp.partitions);
        }
    }
    Ok((sub.topics, owned))
}

impl ConsumerGroup {
    /// A classic member's member (by id, or by its static instance id), fenced as Kafka fences.
    fn classic_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<&ConsumerMember, ErrorCode> {
        let member = match instance_id {
            Some(instance) => {
                let m = self.static_member(instance).ok_or(ErrorCode::UnknownMemberId)?;
                if m.member_id != member_id {
                    return Err(ErrorCode::FencedInstanceId);
                }
                m
            }
            None => self.members.get(member_id).ok_or(ErrorCode::UnknownMemberId)?,
        };
        if member.classic.is_none() {
            return Err(ErrorCode::UnknownMemberId);
        }
        Ok(member)
    }

    /// JoinGroup from a classic consumer (Kafka's `classicGroupJoinToConsumerGroup`): it becomes
    /// (or stays) a member with the subscription and owned partitions of its first protocol,
    /// and is answered at once with its epoch as the generation; SyncGroup then gives it what
    /// it may own now.
    pub fn classic_join(
        &mut self,
        now_ms: i64,
        join: ClassicJoin,
        topics: &Topics,
        config: &ConsumerConfig,
    ) -> Result<ClassicJoinAnswer, (ErrorCode, String)> {
        let (subscribed, owned) = classic_subscription(&join.protocols, topics).map_err(|e| (e, String::new()))?;
        let mut member_id = join.member_id.clone();
        if member_id.is_empty() {
            member_id = new_member_id(now_ms, self.group_epoch, self.members.len());
            if join.require_known_member_id && join.instance_id.is_none() {
                return Err((ErrorCode::MemberIdRequired, member_id));
            }
        }
        let mut bump = false;
        // A static member replaces the one with its instance id, taking over its partitions.
        if let Some(instance) = &join.instance_id
            && let Some(old) = self.static_member(instance)
            && old.member_id != member_id
        {
            let old_id = old.member_id.clone();
            if let Some(mut old) = self.hand_over(&old_id, &member_id) {
                old.member_id = member_id.clone();
                self.members.insert(member_id.clone(), old);
            }
        }
        if !self.members.contains_key(&member_id) {
            if self.members.len() >= config.max_size {
                return Err((ErrorCode::GroupMaxSizeReached, String::new()));
            }
            bump = true;
            self.members.insert(
                member_id.clone(),
                ConsumerMember {
                    member_id: member_id.clone(),
                    instance_id: join.instance_id.clone(),
                    rack_id: None,
                    client_id: String::new(),
                    client_host: String::new(),
                    member_epoch: 0,
                    previous_member_epoch: 0,
                    state: MemberState::Stable,
                    rebalance_timeout_ms: join.rebalance_timeout_ms,
                    subscribed_topic_names: Vec::new(),
                    subscribed_topic_regex: None,
                    server_assignor: None,
                    assigned: Assignment::new(),
                    pending_revocation: Assignment::new(),
                    session_deadline_ms: now_ms,
                    revocation_deadline_ms: None,
                    classic: None,
                },
            );
        }
        let member = self.members.get_mut(&member_id).expect("present");
        member.client_id = join.client_id;
        member.client_host = join.client_host;
        member.rebalance_timeout_ms = join.rebalance_timeout_ms;
        member.session_deadline_ms = now_ms + i64::from(join.session_timeout_ms);
        let protocol_name = join.protocols.first().map(|(n, _)| n.clone()).unwrap_or_default();
        member.classic = Some(ClassicMember { session_timeout_ms: join.session_timeout_ms, protocols: join.protocols });
        let mut names = subscribed;
        names.sort();
        names.dedup();
        if names != member.subscribed_topic_names || member.subscribed_topic_regex.is_some() {
            member.subscribed_topic_names = names;
            member.subscribed_topic_regex = None;
            bump = true;
        }
        self.bump_and_assign(bump, topics, config);
        // What it owns is what its subscription says (nothing, for an eager consumer that gave
        // everything up before joining): anything else it was asked to give up is given up.
        self.reconcile(&member_id, Some(&owned), now_ms);
        Ok(ClassicJoinAnswer { generation_id: self.members[&member_id].member_epoch, member_id, protocol_name })
    }

    /// SyncGroup from a classic member: its assignment now, as a ConsumerProtocolAssignment.
    pub fn classic_sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<bytes::Bytes, ErrorCode> {
        let member = self.classic_member(member_id, instance_id)?;
        if generation_id != member.member_epoch {
            return Err(ErrorCode::IllegalGeneration);
        }
        if member.member_epoch < self.group_epoch && member.state != MemberState::UnrevokedPartitions {
            return Err(ErrorCode::RebalanceInProgress);
        }
        let names: BTreeMap<TopicId, &str> =
            self.subscribed.as_ref().map(|s| s.iter().map(|(n, t)| (t.id, n.as_str())).collect()).unwrap_or_default();
        let assignment = sluice_protocol::consumer_protocol::ConsumerProtocolAssignment {
            assigned_partitions: member
                .assigned
                .iter()
                .filter(|(_, ps)| !ps.is_empty())
                .filter_map(|(id, ps)| {
                    Some(sluice_protocol::consumer_protocol::ConsumerProtocolTopicPartitions {
                        topic: names.get(id)?.to_string(),
                        partitions: ps.iter().copied().collect(),
                    })
                })
                .collect(),
            user_data: None,
        };
        let version = member
            .classic
            .as_ref()
            .and_then(|c| c.protocols.first())
            .and_then(|(_, md)| sluice_protocol::consumer_protocol::decode_subscription(md.clone()).ok())
            .map_or(0, |(v, _)| v);
        Ok(sluice_protocol::consumer_protocol::encode_assignment(&assignment, version))
    }

    /// Heartbeat from a classic member: REBALANCE_IN_PROGRESS when it should join again (the
    /// group moved on, it has partitions to give up, or partitions meant for it came free).
    pub fn classic_heartbeat(
        &mut self,
        now_ms: i64,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> ErrorCode {
        let member = match self.classic_member(member_id, instance_id) {
            Ok(m) => m,
            Err(e) => return e,
        };
        if generation_id != member.member_epoch {
            return ErrorCode::IllegalGeneration;
        }
        let id = member.member_id.clone();
        let freed = member.state == MemberState::UnreleasedPartitions
            && self.target.get(&id).is_some_and(|target| {
                target.iter().any(|(t, ps)| {
                    ps.iter().any(|p| {
                        !member.assigned.get(t).is_some_and(|a| a.contains(p))
                            && self.owners.get(&(*t, *p)).is_none_or(|o| *o == id)
                    })
                })
            });
        let rejoin =
            member.member_epoch < self.group_epoch || member.state == MemberState::UnrevokedPartitions || freed;
        let member = self.members.get_mut(&id).expect("present");
        let session = member.classic.as_ref().map_or(0, |c| c.session_timeout_ms);
        member.session_deadline_ms = now_ms + i64::from(session);
        if rejoin { ErrorCode::RebalanceInProgress } else { ErrorCode::None }
    }

    /// LeaveGroup of a classic member (by id, or by instance id with an empty member id).
    pub fn classic_leave(&mut self, member_id: &str, instance_id: Option<&str>, config: &ConsumerConfig) -> ErrorCode {
        let id = match (member_id.is_empty(), instance_id) {
            (true, Some(i)) => match self.static_member(i) {
                Some(m) => m.member_id.clone(),
                None => return ErrorCode::UnknownMemberId,
            },
            _ => match self.classic_member(member_id, instance_id) {
                Ok(m) => m.member_id.clone(),
                Err(e) => return e,
            },
        };
        self.remove(&id, config);
        ErrorCode::None
    }

    /// A stable classic group whose members all speak the consumer protocol, as a
    /// consumer-protocol group (Kafka's online upgrade): every member keeps its partitions and
    /// its generation as its epoch. `members` are (member id, instance id, client id, client
    /// host, session timeout, rebalance timeout, protocols with the chosen one first,
    /// assignment).
    pub fn from_classic(
        generation: i32,
        members: Vec<ClassicSnapshot>,
        topics: &Topics,
        now_ms: i64,
    ) -> Option<ConsumerGroup> {
        let mut group = ConsumerGroup { group_epoch: generation, assignment_epoch: generation, ..Default::default() };
        for m in members {
            let (names, _) = classic_subscription(&m.protocols, topics).ok()?;
            let decoded = sluice_protocol::consumer_protocol::decode_assignment(m.assignment).ok()?;
            let mut assigned = Assignment::new();
            for tp in decoded.assigned_partitions {
                if let Some(info) = topics.get(&tp.topic) {
                    assigned.entry(info.id).or_default().extend(tp.partitions);
                }
            }
            let mut names = names;
            names.sort();
            names.dedup();
            group.target.insert(m.member_id.clone(), assigned.clone());
            group.members.insert(
                m.member_id.clone(),
                ConsumerMember {
                    member_id: m.member_id,
                    instance_id: m.instance_id,
                    rack_id: None,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    member_epoch: generation,
                    previous_member_epoch: generation,
                    state: MemberState::Stable,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    subscribed_topic_names: names,
                    subscribed_topic_regex: None,
                    server_assignor: None,
                    assigned,
                    pending_revocation: Assignment::new(),
                    session_deadline_ms: now_ms + i64::from(m.session_timeout_ms),
                    revocation_deadline_ms: None,
                    classic: Some(ClassicMember { session_timeout_ms: m.session_timeout_ms, protocols: m.protocols }),
                },
            );
        }
        group.restore("");
        group.subscribed = Some(group.subscribed_topics(topics));
        group.written.clear();
        Some(group)
    }
}

/// A classic member as [`ConsumerGroup::from_classic`] takes it.
#[derive(Debug, Clone)]
pub struct ClassicSnapshot {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<(String, bytes::Bytes)>,
    pub assignment: bytes::Bytes,
}

/// A member id for a v0 client that did not bring one.
fn new_member_id(now_ms: i64, epoch: i32, n: usize) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(now_ms as u64).to_be_bytes());
    bytes[8..12].copy_from_slice(&epoch.to_be_bytes());
    bytes[12..].copy_from_slice(&(n as u32).to_be_bytes());
    let hashed: u128 = u128::from_be_bytes(bytes).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
    format!("{hashed:032x}")
}

fn is_subset(owned: &Assignment, assigned: &Assignment) -> bool {
    owned.iter().all(|(t, ps)| ps.is_empty() || assigned.get(t).is_some_and(|a| ps.is_subset(a)))
}

/// Kafka's range assignor: for each topic, the members subscribed to it (by member id) take
/// consecutive ranges of its partitions, the first ones one more when they do not divide evenly.
pub fn range_assign(
    subscriptions: &BTreeMap<String, BTreeSet<TopicId>>,
    partitions: &BTreeMap<TopicId, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subscriptions.keys().map(|m| (m.clone(), Assignment::new())).collect();
    for (&topic, &count) in partitions {
        let members: Vec<&String> =
            subscriptions.iter().filter(|(_, ts)| ts.contains(&topic)).map(|(m, _)| m).collect();
        if members.is_empty() {
            continue;
        }
        let (each, extra) = (count as usize / members.len(), count as usize % members.len());
        let mut next = 0i32;
        for (i, m) in members.iter().enumerate() {
            let n = (each + usize::from(i < extra)) as i32;
            if n > 0 {
                out.get_mut(*m).expect("member").entry(topic).or_default().extend(next..next + n);
            }
            next += n;
        }
    }
    out
}

/// Kafka's uniform assignor: every partition to a member subscribed to its topic, counts as
/// even as the subscriptions allow, and partitions stay where they were when that keeps the
/// balance (sticky).
pub fn uniform_assign(
    subscriptions: &BTreeMap<String, BTreeSet<TopicId>>,
    partitions: &BTreeMap<TopicId, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subscriptions.keys().map(|m| (m.clone(), Assignment::new())).collect();
    let mut counts: BTreeMap<&str, usize> = subscriptions.keys().map(|m| (m.as_str(), 0)).collect();
    let total: usize = partitions
        .iter()
        .filter(|(t, _)| subscriptions.values().any(|ts| ts.contains(*t)))
        .map(|(_, &n)| n.max(0) as usize)
        .sum();
    let members = subscriptions.len().max(1);
    let most = total.div_ceil(members);
    // Partitions no one keeps, in topic and partition order.
    let mut free = Vec::new();
    for (&topic, &count) in partitions {
        for p in 0..count {
            let keeper = previous.iter().find(|(m, a)| {
                a.get(&topic).is_some_and(|ps| ps.contains(&p))
                    && subscriptions.get(*m).is_some_and(|ts| ts.contains(&topic))
                    && counts.get(m.as_str()).is_some_and(|&c| c < most)
            });
            match keeper {
                Some((m, _)) => {
                    *counts.get_mut(m.as_str()).expect("member") += 1;
                    out.get_mut(m).expect("member").entry(topic).or_default().insert(p);
                }
                None => free.push((topic, p)),
            }
        }
    }
    for (topic, p) in free {
        let Some(m) = counts
            .iter()
            .filter(|(m, _)| subscriptions[**m].contains(&topic))
            .min_by_key(|(m, c)| (**c, **m))
            .map(|(m, _)| m.to_string())
        else {
            continue;
        };
        *counts.get_mut(m.as_str()).expect("member") += 1;
        out.get_mut(&m).expect("member").entry(topic).or_default().insert(p);
    }
    // Sticky keeping may leave the counts uneven by more than one: move from the fullest to
    // the emptiest while a move narrows the gap.
    for _ in 0..total {
        let Some((rich, poor, tp)) = rebalance_step(subscriptions, &out) else { break };
        out.get_mut(&rich).expect("member").get_mut(&tp.0).expect("topic").remove(&tp.1);
        out.get_mut(&rich).expect("member").retain(|_, ps| !ps.is_empty());
        out.get_mut(&poor).expect("member").entry(tp.0).or_default().insert(tp.1);
    }
    out
}

/// One move from a member with at least two more partitions than another that can take one.
fn rebalance_step(
    subscriptions: &BTreeMap<String, BTreeSet<TopicId>>,
    out: &BTreeMap<String, Assignment>,
) -> Option<(String, String, (TopicId, i32))> {
    let count = |m: &str| out[m].values().map(BTreeSet::len).sum::<usize>();
    let mut by_count: Vec<(usize, &String)> = out.keys().map(|m| (count(m), m)).collect();
    by_count.sort();
    for &(rich_n, rich) in by_count.iter().rev() {
        for &(poor_n, poor) in &by_count {
            if rich_n < poor_n + 2 {
                break;
            }
            let movable = out[rich]
                .iter()
                .find(|(t, ps)| !ps.is_empty() && subscriptions[poor].contains(*t))
                .map(|(t, ps)| (*t, *ps.iter().next_back().expect("non-empty")));
            if let Some(tp) = movable {
                return Some((rich.clone(), poor.clone(), tp));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: TopicId = [1; 16];
    const T2: TopicId = [2; 16];

    fn topics(list: &[(&str, TopicId, i32)]) -> Topics {
        list.iter().map(|(n, id, p)| (n.to_string(), TopicInfo { id: *id, partitions: *p })).collect()
    }

    fn join(member: &str, names: &[&str]) -> HeartbeatRequest {
        HeartbeatRequest {
            member_id: member.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 10_000,
            subscribed_topic_names: Some(names.iter().map(|s| s.to_string()).collect()),
            owned: Some(Assignment::new()),
            ..Default::default()
        }
    }

    fn beat(member: &str, epoch: i32, owned: &Assignment) -> HeartbeatRequest {
        HeartbeatRequest {
            member_id: member.into(),
            member_epoch: epoch,
            owned: Some(owned.clone()),
            ..Default::default()
        }
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    fn hb(g: &mut ConsumerGroup, now: i64, req: HeartbeatRequest, t: &Topics) -> Result<HeartbeatAnswer, Refusal> {
        g.heartbeat(now, req, t, &ConsumerConfig::default(), 45_000, 5_000)
    }

    #[test]
    fn a_second_member_gets_partitions_only_after_the_first_revokes_them() {
        let t = topics(&[("a", T1, 6)]);
        let mut g = ConsumerGroup::default();
        let a = hb(&mut g, 0, join("A", &["a"]), &t).expect("answered");
        assert_eq!((a.member_epoch, count(a.assignment.as_ref().expect("answered"))), (1, 6));
        let a_owned = a.assignment.expect("answered");
        // B joins: epoch 2; its partitions are A's, so it gets none yet.
        let b = hb(&mut g, 10, join("B", &["a"]), &t).expect("answered");
        assert_eq!(b.member_epoch, 2);
        assert_eq!(count(b.assignment.as_ref().expect("answered")), 0);
        assert_eq!(g.state(), ConsumerGroupState::Reconciling);
        // A is asked to give three up and keeps epoch 1 until it has.
        let a = hb(&mut g, 20, beat("A", 1, &a_owned), &t).expect("answered");
        assert_eq!(a.member_epoch, 1);
        let a_kept = a.assignment.expect("answered");
        assert_eq!(count(&a_kept), 3);
        // While A still holds them nothing changes.
        let a = hb(&mut g, 30, beat("A", 1, &a_owned), &t).expect("answered");
        assert_eq!((a.member_epoch, a.assignment), (1, None));
        // A revoked: epoch 2. Then B gets the other three.
        let a = hb(&mut g, 40, beat("A", 1, &a_kept), &t).expect("answered");
        assert_eq!(a.member_epoch, 2);
        let b = hb(&mut g, 50, beat("B", 2, &Assignment::new()), &t).expect("answered");
        let b_got = b.assignment.expect("answered");
        assert_eq!(count(&b_got), 3);
        assert!(b_got[&T1].is_disjoint(&a_kept[&T1]));
        assert_eq!(g.state(), ConsumerGroupState::Stable);
    }

    #[test]
    fn epochs_are_checked() {
        let t = topics(&[("a", T1, 2)]);
        let mut g = ConsumerGroup::default();
        let a = hb(&mut g, 0, join("A", &["a"]), &t).expect("answered");
        let owned = a.assignment.expect("answered");
        assert_eq!(hb(&mut g, 1, beat("A", 5, &owned), &t).expect_err("refused").0, ErrorCode::FencedMemberEpoch);
        assert_eq!(hb(&mut g, 1, beat("X", 1, &owned), &t).expect_err("refused").0, ErrorCode::UnknownMemberId);
        // The previous epoch with a subset of the assignment is accepted (a lost answer).
        hb(&mut g, 2, join("B", &["a"]), &t).expect("answered");
        let a = hb(&mut g, 3, beat("A", 1, &owned), &t).expect("answered");
        let kept = a.assignment.expect("answered");
        let a = hb(&mut g, 4, beat("A", 1, &kept), &t).expect("answered");
        assert_eq!(a.member_epoch, 2);
        assert_eq!(hb(&mut g, 5, beat("A", 1, &kept), &t).expect("answered").member_epoch, 2);
        assert_eq!(hb(&mut g, 5, beat("A", 1, &owned), &t).expect_err("refused").0, ErrorCode::FencedMemberEpoch);
    }

    #[test]
    fn a_member_that_leaves_or_expires_gives_its_partitions_to_the_rest() {
        let t = topics(&[("a", T1, 4)]);
        let mut g = ConsumerGroup::default();
        let config = ConsumerConfig::default();
        hb(&mut g, 0, join("A", &["a"]), &t).expect("answered");
        hb(&mut g, 0, join("B", &["a"]), &t).expect("answered");
        assert!(g.expired(45_000).is_empty());
        assert_eq!(g.expired(45_001).len(), 2);
        g.remove("B", &config);
        assert_eq!(count(&g.target["A"]), 4);
        let left =
            hb(&mut g, 10, HeartbeatRequest { member_epoch: LEAVE_EPOCH, ..beat("A", -1, &Assignment::new()) }, &t);
        assert_eq!(left.expect("answered").member_epoch, LEAVE_EPOCH);
        assert_eq!(g.state(), ConsumerGroupState::Empty);
    }

    #[test]
    fn a_static_member_returning_takes_over_its_partitions() {
        let t = topics(&[("a", T1, 4)]);
        let mut g = ConsumerGroup::default();
        let mut a = join("A", &["a"]);
        a.instance_id = Some("i".into());
        let first = hb(&mut g, 0, a.clone(), &t).expect("answered");
        hb(&mut g, 0, join("B", &["a"]), &t).expect("answered");
        // Another process with the same instance id while A holds it.
        let mut a2 = join("A2", &["a"]);
        a2.instance_id = Some("i".into());
        assert_eq!(hb(&mut g, 1, a2.clone(), &t).expect_err("refused").0, ErrorCode::UnreleasedInstanceId);
        let mut out = beat("A", STATIC_LEAVE_EPOCH, &Assignment::new());
        out.instance_id = Some("i".into());
        hb(&mut g, 2, out, &t).expect("answered");
        let epoch = g.group_epoch;
        let back = hb(&mut g, 3, a2, &t).expect("answered");
        assert_eq!(g.group_epoch, epoch, "no rebalance");
        assert!(!g.members.contains_key("A") && g.members.contains_key("A2"));
        assert!(back.member_epoch >= first.member_epoch);
    }

    #[test]
    fn regex_subscriptions_follow_new_topics() {
        let mut g = ConsumerGroup::default();
        let mut a = join("A", &[]);
        a.subscribed_topic_names = None;
        a.subscribed_topic_regex = Some("in-.*".into());
        let t1 = topics(&[("in-1", T1, 2), ("out", T2, 2)]);
        let got = hb(&mut g, 0, a, &t1).expect("answered");
        assert_eq!(got.assignment.expect("answered").keys().collect::<Vec<_>>(), vec![&T1]);
        let t2 = topics(&[("in-1", T1, 2), ("in-2", T2, 3)]);
        let got = hb(&mut g, 1, beat("A", 1, &BTreeMap::from([(T1, BTreeSet::from([0, 1]))])), &t2).expect("answered");
        assert_eq!(got.member_epoch, 2);
        assert_eq!(count(&got.assignment.expect("answered")), 5);
        assert_eq!(compile_regex("(").expect_err("refused").0, ErrorCode::InvalidRegularExpression);
    }

    #[test]
    fn the_assignors_balance_and_range_lines_partitions_up() {
        let subs: BTreeMap<String, BTreeSet<TopicId>> =
            [("a", [T1, T2]), ("b", [T1, T2])].into_iter().map(|(m, t)| (m.to_string(), t.into())).collect();
        let parts = BTreeMap::from([(T1, 3), (T2, 3)]);
        let r = range_assign(&subs, &parts);
        assert_eq!(r["a"][&T1], r["a"][&T2]);
        assert_eq!(count(&r["a"]) + count(&r["b"]), 6);
        let u = uniform_assign(&subs, &parts, &BTreeMap::new());
        assert_eq!((count(&u["a"]), count(&u["b"])), (3, 3));
        // Sticky: with a third member, what stays stays.
        let mut subs3 = subs.clone();
        subs3.insert("c".into(), [T1, T2].into());
        let u3 = uniform_assign(&subs3, &parts, &u);
        assert!(u3.values().all(|a| count(a) == 2));
        for m in ["a", "b"] {
            for (t, ps) in &u3[m] {
                assert!(ps.is_subset(&u[m][t]), "{m} kept its own");
            }
        }
    }

    fn subscription(topics: &[&str], owned: &[(&str, i32)]) -> bytes::Bytes {
        use sluice_protocol::codec::{Encode, Version};
        use sluice_protocol::consumer_protocol::{ConsumerProtocolSubscription, ConsumerProtocolTopicPartitions};
        let sub = ConsumerProtocolSubscription {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            owned_partitions: owned
                .iter()
                .map(|(t, p)| ConsumerProtocolTopicPartitions { topic: t.to_string(), partitions: vec![*p] })
                .collect(),
            ..Default::default()
        };
        let mut buf = bytes::BytesMut::new();
        1i16.encode(&mut buf, Version::new(0, false));
        sub.encode(&mut buf, Version::new(1, false));
        buf.freeze()
    }

    fn classic(member: &str, sub: bytes::Bytes) -> ClassicJoin {
        ClassicJoin {
            member_id: member.into(),
            instance_id: None,
            client_id: "classic".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocols: vec![("range".into(), sub)],
            require_known_member_id: true,
        }
    }

    #[test]
    fn a_classic_consumer_joins_a_consumer_group_and_follows_it_by_rejoining() {
        let t = topics(&[("a", T1, 4)]);
        let c = ConsumerConfig::default();
        let mut g = ConsumerGroup::default();
        let a = hb(&mut g, 0, join("A", &["a"]), &t).expect("joined");
        let a_owned = a.assignment.expect("assigned");
        // v4+ with no id: told its id first.
        let (code, id) = g.classic_join(1, classic("", subscription(&["a"], &[])), &t, &c).expect_err("id first");
        assert_eq!(code, ErrorCode::MemberIdRequired);
        let joined = g.classic_join(2, classic(&id, subscription(&["a"], &[])), &t, &c).expect("joined");
        assert_eq!(joined.protocol_name, "range");
        // Nothing free yet: A holds all four.
        let sync = g.classic_sync(&id, None, joined.generation_id).expect("synced");
        let got = sluice_protocol::consumer_protocol::decode_assignment(sync).expect("decodes");
        assert!(got.assigned_partitions.is_empty());
        assert_eq!(g.classic_heartbeat(3, &id, None, joined.generation_id), ErrorCode::None);
        // A gives two up; then the classic member is told to rejoin and gets them.
        let kept = hb(&mut g, 4, beat("A", 1, &a_owned), &t).expect("beat").assignment.expect("revoke");
        hb(&mut g, 5, beat("A", 1, &kept), &t).expect("revoked");
        assert_eq!(g.classic_heartbeat(6, &id, None, joined.generation_id), ErrorCode::RebalanceInProgress);
        let again = g.classic_join(7, classic(&id, subscription(&["a"], &[])), &t, &c).expect("rejoined");
        let sync = g.classic_sync(&id, None, again.generation_id).expect("synced");
        let got = sluice_protocol::consumer_protocol::decode_assignment(sync).expect("decodes");
        assert_eq!(got.assigned_partitions.iter().map(|tp| tp.partitions.len()).sum::<usize>(), 2);
        assert_eq!(g.classic_heartbeat(8, &id, None, again.generation_id), ErrorCode::None);
        assert_eq!(g.classic_heartbeat(8, &id, None, 99), ErrorCode::IllegalGeneration);
        // Its commits carry the generation; the wrong one is ILLEGAL_GENERATION.
        assert_eq!(validate_offsets_access(&g, &id, again.generation_id, Some(2)), Ok(()));
        assert_eq!(validate_offsets_access(&g, &id, 1, Some(2)), Err(ErrorCode::IllegalGeneration));
        // Leaving hands its partitions back to A.
        assert_eq!(g.classic_leave(&id, None, &c), ErrorCode::None);
        assert_eq!(count(&g.target["A"]), 4);
    }

    #[test]
    fn a_stable_classic_group_upgrades_with_its_members_keeping_their_partitions() {
        use sluice_protocol::consumer_protocol::{
            ConsumerProtocolAssignment, ConsumerProtocolTopicPartitions, encode_assignment,
        };
        let t = topics(&[("a", T1, 2)]);
        let assignment = |p: i32| {
            encode_assignment(
                &ConsumerProtocolAssignment {
                    assigned_partitions: vec![ConsumerProtocolTopicPartitions {
                        topic: "a".into(),
                        partitions: vec![p],
                    }],
                    user_data: None,
                },
                1,
            )
        };
        let members = ["X", "Y"]
            .iter()
            .enumerate()
            .map(|(i, m)| ClassicSnapshot {
                member_id: m.to_string(),
                instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 10_000,
                protocols: vec![("range".into(), subscription(&["a"], &[]))],
                assignment: assignment(i as i32),
            })
            .collect();
        let mut g = ConsumerGroup::from_classic(5, members, &t, 0).expect("upgradable");
        assert_eq!((g.group_epoch, g.state()), (5, ConsumerGroupState::Stable));
        assert_eq!(count(&g.members["X"].assigned) + count(&g.members["Y"].assigned), 2);
        // A member of the new protocol joins: epoch 6; it waits for a classic member to rejoin.
        let z = hb(&mut g, 1, join("Z", &["a"]), &t).expect("joined");
        assert_eq!(z.member_epoch, 6);
        assert_eq!(g.classic_heartbeat(2, "X", None, 5), ErrorCode::RebalanceInProgress);
    }

    #[test]
    fn bad_heartbeats_are_refused_with_kafkas_errors() {
        let c = ConsumerConfig::default();
        let mut r = join("A", &["a"]);
        r.rebalance_timeout_ms = -1;
        assert_eq!(validate(&r, 1, &c).expect_err("refused").0, ErrorCode::InvalidRequest);
        assert_eq!(validate(&join("", &["a"]), 1, &c).expect_err("refused").0, ErrorCode::InvalidRequest);
        assert!(validate(&join("", &["a"]), 0, &c).is_ok());
        let mut r = join("A", &["a"]);
        r.server_assignor = Some("nope".into());
        assert_eq!(validate(&r, 1, &c).expect_err("refused").0, ErrorCode::UnsupportedAssignor);
        let mut r = join("A", &["a"]);
        r.subscribed_topic_names = None;
        assert_eq!(validate(&r, 1, &c).expect_err("refused").0, ErrorCode::InvalidRequest);
        let r = beat("A", STATIC_LEAVE_EPOCH, &Assignment::new());
        assert_eq!(validate(&r, 1, &c).expect_err("refused").0, ErrorCode::InvalidRequest);
    }
}
