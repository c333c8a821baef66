//! The group state machine of Kafka's classic consumer-group protocol, without I/O.
//!
//! States (Kafka's `GroupState`): `Empty` (no members; offsets may still be committed),
//! `PreparingRebalance` (waiting for every member to rejoin, up to the rebalance timeout),
//! `CompletingRebalance` (a new generation exists; waiting for the leader's assignment),
//! `Stable` (everyone has an assignment), `Dead` (deleted).
//!
//! JoinGroup and SyncGroup may have to wait for other members. Such calls return `Pending`;
//! the answer comes later, from a call that completes the rebalance (another member's join,
//! the leader's sync, a leave) or from [`Groups::tick`], as an [`Output`] naming the member it
//! is for. The caller keeps one responder per waiting member and routes outputs to them.
//!
//! Time is a parameter (`now_ms`), so timeouts are tested without sleeping.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use sluice_protocol::error_code::ErrorCode;

/// The most of a client id that goes into a member id it names (see `Group::new_member_id`).
pub const MEMBER_ID_CLIENT_ID_MAX_BYTES: usize = 255;

/// Kafka's default `offset.metadata.max.bytes` (see [`GroupConfig::offset_metadata_max_bytes`]).
pub const DEFAULT_OFFSET_METADATA_MAX_BYTES: usize = 4096;

/// The protocol names and metadata one JoinGroup may register for its member, in bytes at most
/// (1 MiB); a larger set is refused with INVALID_REQUEST. Kafka has no such bound: a member's
/// protocols are limited only by `socket.request.max.bytes` (100 MiB), and a group holds them
/// for each of up to `group.max.size` members, so memory would grow with the frame size times
/// the group size. 1 MiB is generous: a consumer's subscription is its topic names (with
/// cooperative assignors, also the partitions it owns) plus the assignor's user data, kilobytes
/// for ordinary clients and some hundreds of kilobytes for the largest Kafka Streams apps; and
/// the chosen protocol's metadata of every member must fit one group metadata record in
/// `__consumer_offsets` at Kafka's default `message.max.bytes` (1 MiB) anyway. INVALID_REQUEST
/// is what Kafka answers a request it cannot take as sent; clients treat it as fatal rather than
/// retrying the same oversized join.
pub const MAX_MEMBER_PROTOCOLS_BYTES: usize = 1 << 20;

/// Protocols one JoinGroup may name, at most. Kafka has no such bound either; clients name one
/// per configured assignor (`partition.assignment.strategy`), rarely more than three. Counted on
/// its own because a protocol with an empty name and metadata costs no bytes above but still an
/// entry to store and to compare on every join.
pub const MAX_MEMBER_PROTOCOLS_COUNT: usize = 64;

/// Whether a JoinGroup's protocols fit [`MAX_MEMBER_PROTOCOLS_COUNT`] and
/// [`MAX_MEMBER_PROTOCOLS_BYTES`].
fn member_protocols_fit(protocols: &[(String, Bytes)]) -> bool {
    protocols.len() <= MAX_MEMBER_PROTOCOLS_COUNT
        && protocols.iter().map(|(name, metadata)| name.len() + metadata.len()).sum::<usize>()
            <= MAX_MEMBER_PROTOCOLS_BYTES
}

/// Members told MEMBER_ID_REQUIRED (JoinGroup v4+) and not back yet, per group, at most. Kafka
/// bounds them only by their session timeout (up to `group.max.session.timeout.ms`, 30
/// minutes), so a client that sends JoinGroup after JoinGroup and never follows up fills memory
/// at its request rate. Past this bound the pending member whose deadline is nearest is
/// forgotten (it gets UNKNOWN_MEMBER_ID if it ever returns, and joins afresh) rather than the new
/// one refused: GROUP_MAX_SIZE_REACHED is fatal to a Java consumer, UNKNOWN_MEMBER_ID is not.
/// Healthy clients hold a pending id for one round trip, so even a large group starting at once
/// stays far below it.
pub const MAX_PENDING_MEMBERS_PER_GROUP_COUNT: usize = 1_000;

/// Broker settings for groups, with Kafka's names and defaults.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members.
    pub initial_rebalance_delay_ms: i64,
    /// `group.max.size`
    pub max_size: usize,
    /// `offsets.retention.minutes`, in ms: an empty group's committed offsets expire this long
    /// after they were committed (KIP-211).
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`: the longest metadata string one committed offset may
    /// carry. A longer one is refused for its partition with OFFSET_METADATA_TOO_LARGE while
    /// the request's other partitions are committed, as Kafka's
    /// `GroupMetadataManager.storeOffsets` does. The metadata stays in memory as long as its
    /// offset, so this bounds the offset cache per partition. Kafka counts UTF-16 units; this
    /// counts bytes, the stricter reading for non-ASCII text.
    pub offset_metadata_max_bytes: usize,
    /// `group.consumer.*`: groups of the consumer protocol (KIP-848).
    pub consumer: super::consumer::ConsumerConfig,
}

impl GroupConfig {
    /// Whether an offset commit's metadata fits `offset.metadata.max.bytes` (no metadata does).
    pub fn offset_metadata_fits(&self, metadata: Option<&str>) -> bool {
        metadata.is_none_or(|m| m.len() <= self.offset_metadata_max_bytes)
    }
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_size: usize::MAX,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offset_metadata_max_bytes: DEFAULT_OFFSET_METADATA_MAX_BYTES,
            consumer: super::consumer::ConsumerConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub const ALL: [GroupState; 5] = [
        GroupState::Empty,
        GroupState::PreparingRebalance,
        GroupState::CompletingRebalance,
        GroupState::Stable,
        GroupState::Dead,
    ];

    /// Kafka's name, as DescribeGroups and ListGroups report it.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    last_heartbeat_ms: i64,
    awaiting_join: bool,
    awaiting_sync: bool,
}

/// An offset to commit: partition, offset, leader epoch, metadata.
pub type OffsetCommit = ((String, i32), i64, i32, Option<String>);

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub group_id: String,
    pub state: GroupState,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Members told MEMBER_ID_REQUIRED (v4+), allowed to join with that id.
    pending_members: HashMap<String, i64>,
    /// Static membership: instance id -> member id.
    static_members: HashMap<String, String>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Per partition, the `__consumer_offsets` offset of the commit that `offsets` holds:
    /// commits written concurrently land in the cache in log order, whatever order their
    /// writes complete in (Kafka's `CommitRecordMetadataAndOffset`).
    offset_log_positions: HashMap<(String, i32), i64>,
    /// When the join phase ends whoever has not rejoined (the largest rebalance timeout).
    rebalance_deadline_ms: i64,
    /// Before this the join phase does not complete even if everyone joined (the initial delay
    /// of a group's first rebalance, waiting for more members).
    initial_delay_until_ms: i64,
    next_member: u64,
    /// A group of the consumer protocol (KIP-848) has its membership here; its classic
    /// `members` stay empty. None: a classic group.
    pub consumer: Option<super::consumer::ConsumerGroup>,
}

impl Group {
    fn new(group_id: &str) -> Group {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            pending_members: HashMap::new(),
            static_members: HashMap::new(),
            offsets: BTreeMap::new(),
            offset_log_positions: HashMap::new(),
            rebalance_deadline_ms: 0,
            initial_delay_until_ms: 0,
            next_member: 0,
            consumer: None,
        }
    }

    /// No members of either protocol.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.consumer.as_ref().is_none_or(|c| c.members.is_empty())
    }

    /// The protocol type ListGroups reports ("consumer" for both protocols' consumer groups).
    pub fn group_type(&self) -> &'static str {
        if self.consumer.is_some() { "consumer" } else { "classic" }
    }

    /// The state name DescribeGroups and ListGroups report.
    pub fn state_name(&self) -> &'static str {
        match &self.consumer {
            Some(c) => c.state().name(),
            None => self.state.name(),
        }
    }

    /// `<client id>-<n>-<hash>`, Kafka's shape (client id first). The client id part is cut to
    /// `MEMBER_ID_CLIENT_ID_MAX_BYTES` (at a character boundary): a client id can be 32,767
    /// bytes, and the member id must still fit the i16-length strings it is sent and stored in.
    /// Every member with its metadata for the selected protocol: what the leader's JoinGroup
    /// answer lists.
    fn member_list(&self) -> Vec<(String, Option<String>, Bytes)> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| {
                let metadata =
                    m.protocols.iter().find(|(n, _)| n == protocol).map(|(_, md)| md.clone()).unwrap_or_default();
                (m.member_id.clone(), m.group_instance_id.clone(), metadata)
            })
            .collect()
    }

    /// A JoinGroup answer with the current generation, for a member rejoining without a rebalance.
    fn current_generation_answer(
        &self,
        member_id: String,
        members: Vec<(String, Option<String>, Bytes)>,
        skip_assignment: bool,
    ) -> JoinResult {
        JoinResult {
            error: ErrorCode::None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone().unwrap_or_default(),
            member_id,
            members,
            skip_assignment,
        }
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        self.next_member += 1;
        let mut cut = client_id.len().min(MEMBER_ID_CLIENT_ID_MAX_BYTES);
        while !client_id.is_char_boundary(cut) {
            cut -= 1;
        }
        let prefix = &client_id[..cut];
        format!("{prefix}-{}-{:016x}", self.next_member, self.next_member.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// Protocols every member supports, best first by the members' votes (Kafka picks the one
    /// most members prefer among those all support).
    fn select_protocol(&self) -> Option<String> {
        let mut candidates: Vec<String> =
            self.members.values().next()?.protocols.iter().map(|(n, _)| n.clone()).collect();
        candidates.retain(|p| self.members.values().all(|m| m.protocols.iter().any(|(n, _)| n == p)));
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.entry(n.as_str()).or_default() += 1;
            }
        }
        candidates
            .into_iter()
            .max_by_key(|p| (votes.get(p.as_str()).copied().unwrap_or(0), std::cmp::Reverse(p.clone())))
    }

    fn supports_common_protocol(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(n, _)| self.members.values().all(|m| m.protocols.iter().any(|(mn, _)| mn == n)))
    }

    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    /// Records a member told MEMBER_ID_REQUIRED, allowed to join with `member_id` until
    /// `deadline_ms`; past [`MAX_PENDING_MEMBERS_PER_GROUP_COUNT`] the one due soonest goes.
    fn add_pending_member(&mut self, member_id: String, deadline_ms: i64) {
        if self.pending_members.len() >= MAX_PENDING_MEMBERS_PER_GROUP_COUNT {
            let soonest = self.pending_members.iter().min_by_key(|&(_, &at)| at).map(|(id, _)| id.clone());
            if let Some(id) = soonest {
                tracing::debug!(group = %self.group_id, member = %id, "too many pending members; forgetting one");
                self.pending_members.remove(&id);
            }
        }
        self.pending_members.insert(member_id, deadline_ms);
        assert!(
            self.pending_members.len() <= MAX_PENDING_MEMBERS_PER_GROUP_COUNT,
            "group {} holds {} pending members",
            self.group_id,
            self.pending_members.len()
        );
    }
}

/// A JoinGroup request, as the state machine needs it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: an unknown member first gets MEMBER_ID_REQUIRED with its new id.
    pub require_known_member_id: bool,
    /// The cluster's topics, for a join to a consumer-protocol group (a mixed group).
    pub topics: super::consumer::Topics,
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub error: ErrorCode,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: String,
    pub member_id: String,
    /// Filled for the leader only: every member with its metadata for the chosen protocol.
    pub members: Vec<(String, Option<String>, Bytes)>,
    /// KIP-814: the leader is told the group keeps its current assignment (a static leader
    /// that came back to a stable group), so it computes none.
    pub skip_assignment: bool,
}

impl JoinResult {
    fn error(error: ErrorCode, member_id: &str) -> JoinResult {
        JoinResult {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader_id: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// A SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    fn error(error: ErrorCode) -> SyncResult {
        SyncResult { error, protocol_type: None, protocol_name: None, assignment: Bytes::new() }
    }
}

/// An answer now, or later through an [`Output`] for the named member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    Now(T),
    Pending { member_id: String },
}

/// An answer for a member that was left waiting, or news that a group's membership changed in
/// a way worth persisting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Join {
        group_id: String,
        member_id: String,
        result: JoinResult,
    },
    Sync {
        group_id: String,
        member_id: String,
        result: SyncResult,
    },
    /// The group became Stable or Empty: its metadata should be written.
    Changed {
        group_id: String,
    },
    /// A consumer-protocol group changed: these records (KIP-848's types) should be written.
    ConsumerChanged {
        group_id: String,
        records: Vec<super::consumer_records::Record>,
    },
}

/// What `__consumer_offsets` keeps of a group's membership (Kafka's GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub group_id: String,
    pub protocol_type: String,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub state_timestamp_ms: i64,
    pub members: Vec<MemberSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Default)]
pub struct Groups {
    config: GroupConfig,
    groups: HashMap<String, Group>,
    outputs: Vec<Output>,
}

/// A ConsumerGroupHeartbeat as the coordinator passes it on: the request, its version, the
/// cluster's topics and the group's timeouts.
#[derive(Debug)]
pub struct ConsumerHeartbeat<'a> {
    pub group_id: &'a str,
    pub request: super::consumer::HeartbeatRequest,
    pub version: i16,
    pub topics: &'a super::consumer::Topics,
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: i32,
}

impl Groups {
    pub fn new(config: GroupConfig) -> Groups {
        Groups { config, groups: HashMap::new(), outputs: Vec::new() }
    }

    pub fn group(&self, group_id: &str) -> Option<&Group> {
        self.groups.get(group_id)
    }

    /// Forgets the groups `owned` selects (their `__consumer_offsets` partition moved to
    /// another coordinator); returns how many went.
    pub fn unload(&mut self, owned: impl Fn(&str) -> bool) -> usize {
        let before = self.groups.len();
        self.groups.retain(|id, _| !owned(id));
        before - self.groups.len()
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Answers for waiting members produced by the last calls.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    pub fn join(&mut self, now_ms: i64, req: JoinRequest) -> Reply<JoinResult> {
        if req.group_id.is_empty() {
            return Reply::Now(JoinResult::error(ErrorCode::InvalidGroupId, &req.member_id));
        }
        if !member_protocols_fit(&req.protocols) {
            return Reply::Now(JoinResult::error(ErrorCode::InvalidRequest, &req.member_id));
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return Reply::Now(JoinResult::error(ErrorCode::InvalidSessionTimeout, &req.member_id));
        }
        if !req.member_id.is_empty() && !self.groups.contains_key(&req.group_id) {
            return Reply::Now(JoinResult::error(ErrorCode::UnknownMemberId, &req.member_id));
        }
        let config = self.config.clone();
        let group = self.groups.entry(req.group_id.clone()).or_insert_with(|| Group::new(&req.group_id));
        if group.state == GroupState::Dead {
            return Reply::Now(JoinResult::error(ErrorCode::CoordinatorNotAvailable, &req.member_id));
        }
        // A consumer-protocol group with members takes classic consumers as members of its own
        // (a mixed group); once it is empty it becomes a classic one again.
        if let Some(consumer) = group.consumer.as_mut() {
            if !consumer.members.is_empty() {
                if req.protocol_type != "consumer" {
                    return Reply::Now(JoinResult::error(ErrorCode::InconsistentGroupProtocol, &req.member_id));
                }
                let join = super::consumer::ClassicJoin {
                    member_id: req.member_id.clone(),
                    instance_id: req.group_instance_id.clone(),
                    client_id: req.client_id.clone(),
                    client_host: req.client_host.clone(),
                    session_timeout_ms: req.session_timeout_ms,
                    rebalance_timeout_ms: req.rebalance_timeout_ms,
                    protocols: req.protocols.clone(),
                    require_known_member_id: req.require_known_member_id,
                };
                let answer = consumer.classic_join(now_ms, join, &req.topics, &config.consumer);
                if let Some(records) = consumer.changed_records(&req.group_id) {
                    self.outputs.push(Output::ConsumerChanged { group_id: req.group_id.clone(), records });
                }
                return Reply::Now(match answer {
                    Ok(a) => JoinResult {
                        error: ErrorCode::None,
                        generation_id: a.generation_id,
                        protocol_type: Some("consumer".into()),
                        protocol_name: Some(a.protocol_name),
                        leader_id: String::new(),
                        member_id: a.member_id,
                        members: Vec::new(),
                        skip_assignment: false,
                    },
                    Err((ErrorCode::MemberIdRequired, new_id)) => {
                        JoinResult::error(ErrorCode::MemberIdRequired, &new_id)
                    }
                    Err((code, _)) => JoinResult::error(code, &req.member_id),
                });
            }
            group.consumer = None;
            self.outputs.push(Output::ConsumerChanged {
                group_id: req.group_id.clone(),
                records: super::consumer_records::tombstones(&req.group_id, &[]),
            });
        }
        if !group.supports_common_protocol(&req.protocol_type, &req.protocols) {
            return Reply::Now(JoinResult::error(ErrorCode::InconsistentGroupProtocol, &req.member_id));
        }
        let mut member_id = req.member_id.clone();
        let mut static_rejoin = false;
        if member_id.is_empty() {
            // A static member that comes back takes its old place under a new id.
            if let Some(instance) = &req.group_instance_id
                && let Some(old) = group.static_members.get(instance).cloned()
            {
                let new_id = group.new_member_id(&req.client_id);
                if let Some(mut m) = group.members.remove(&old) {
                    m.member_id = new_id.clone();
                    group.members.insert(new_id.clone(), m);
                }
                if group.leader_id.as_deref() == Some(old.as_str()) {
                    group.leader_id = Some(new_id.clone());
                }
                group.static_members.insert(instance.clone(), new_id.clone());
                member_id = new_id;
                static_rejoin = true;
            } else {
                if group.members.len() >= config.max_size {
                    return Reply::Now(JoinResult::error(ErrorCode::GroupMaxSizeReached, ""));
                }
                let new_id = group.new_member_id(&req.client_id);
                if req.require_known_member_id && req.group_instance_id.is_none() {
                    group.add_pending_member(new_id.clone(), now_ms + i64::from(req.session_timeout_ms));
                    return Reply::Now(JoinResult::error(ErrorCode::MemberIdRequired, &new_id));
                }
                member_id = new_id;
            }
        } else if !group.members.contains_key(&member_id) && group.pending_members.remove(&member_id).is_none() {
            return Reply::Now(JoinResult::error(ErrorCode::UnknownMemberId, &member_id));
        }
        if let Some(instance) = &req.group_instance_id {
            if let Some(known) = group.static_members.get(instance)
                && known != &member_id
            {
                return Reply::Now(JoinResult::error(ErrorCode::FencedInstanceId, &member_id));
            }
            group.static_members.insert(instance.clone(), member_id.clone());
        }
        let is_new = !group.members.contains_key(&member_id);
        let changed = is_new || group.members.get(&member_id).is_some_and(|m| m.protocols != req.protocols);
        let is_leader = group.leader_id.as_deref() == Some(member_id.as_str());
        let member = group.members.entry(member_id.clone()).or_insert_with(|| Member {
            member_id: member_id.clone(),
            group_instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocol_type: req.protocol_type.clone(),
            protocols: Vec::new(),
            assignment: Bytes::new(),
            last_heartbeat_ms: now_ms,
            awaiting_join: false,
            awaiting_sync: false,
        });
        member.protocols = req.protocols.clone();
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.last_heartbeat_ms = now_ms;
        if group.protocol_type.is_none() {
            group.protocol_type = Some(req.protocol_type.clone());
        }
        // A follower of a stable group rejoining with unchanged metadata gets the current
        // generation back without a rebalance (Kafka does the same).
        if group.state == GroupState::Stable && !changed && !is_leader {
            return Reply::Now(group.current_generation_answer(member_id, Vec::new(), false));
        }
        // A static member restarted into a stable group (KIP-345) takes its place without a
        // rebalance as long as the group's protocol would stay the one selected (its metadata
        // bytes may differ: it is a new process). Were it the leader, it gets the members with
        // `skip_assignment` (KIP-814): the group keeps its assignment.
        if static_rejoin && group.state == GroupState::Stable && group.select_protocol() == group.protocol_name {
            let members = if is_leader { group.member_list() } else { Vec::new() };
            self.outputs.push(Output::Changed { group_id: group.group_id.clone() });
            return Reply::Now(group.current_generation_answer(member_id, members, is_leader));
        }
        group.members.get_mut(&member_id).expect("inserted above").awaiting_join = true;
        if group.state != GroupState::PreparingRebalance {
            Self::prepare_rebalance(group, &config, now_ms);
        }
        Self::maybe_complete_join(group, now_ms, &mut self.outputs, false);
        // The join answers the caller through outputs; if it completed right now, hand the
        // caller its own answer directly.
        let mine = self.outputs.iter().position(
            |o| matches!(o, Output::Join { member_id: m, group_id, .. } if m == &member_id && group_id == &req.group_id),
        );
        if let Some(pos) = mine
            && let Output::Join { result, .. } = self.outputs.remove(pos)
        {
            return Reply::Now(result);
        }
        Reply::Pending { member_id }
    }

    fn prepare_rebalance(group: &mut Group, config: &GroupConfig, now_ms: i64) {
        let timeout = group.members.values().map(|m| i64::from(m.rebalance_timeout_ms)).max().unwrap_or(0);
        let initial_delay = if group.state == GroupState::Empty { config.initial_rebalance_delay_ms } else { 0 };
        group.rebalance_deadline_ms = now_ms + timeout.max(initial_delay);
        group.initial_delay_until_ms = now_ms + initial_delay;
        group.state = GroupState::PreparingRebalance;
        crate::observe::EVENTS.group_rebalances.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(group = %group.group_id, "preparing rebalance");
    }

    /// Completes the join phase when every member has rejoined (and the initial delay, if
    /// any, has passed), or when `expired` (the deadline passed: stragglers are removed).
    fn maybe_complete_join(group: &mut Group, now_ms: i64, outputs: &mut Vec<Output>, expired: bool) {
        if group.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = group.members.values().all(|m| m.awaiting_join);
        if !(expired || (all_joined && now_ms >= group.initial_delay_until_ms)) {
            return;
        }
        if expired {
            let stragglers: Vec<String> =
                group.members.values().filter(|m| !m.awaiting_join).map(|m| m.member_id.clone()).collect();
            for id in stragglers {
                Self::remove_member(group, &id, outputs);
            }
        }
        group.generation_id += 1;
        if group.members.is_empty() {
            group.state = GroupState::Empty;
            group.protocol_name = None;
            group.leader_id = None;
            outputs.push(Output::Changed { group_id: group.group_id.clone() });
            return;
        }
        group.protocol_name = group.select_protocol();
        if group.leader_id.as_ref().is_none_or(|l| !group.members.contains_key(l)) {
            group.leader_id = group.members.keys().next().cloned();
        }
        group.state = GroupState::CompletingRebalance;
        let leader = group.leader_id.clone().unwrap_or_default();
        let all = group.member_list();
        for m in group.members.values_mut() {
            m.awaiting_join = false;
            m.awaiting_sync = false;
            m.assignment = Bytes::new();
            m.last_heartbeat_ms = now_ms;
            outputs.push(Output::Join {
                group_id: group.group_id.clone(),
                member_id: m.member_id.clone(),
                result: JoinResult {
                    error: ErrorCode::None,
                    generation_id: group.generation_id,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    leader_id: leader.clone(),
                    member_id: m.member_id.clone(),
                    members: if m.member_id == leader { all.clone() } else { Vec::new() },
                    skip_assignment: false,
                },
            });
        }
        tracing::debug!(group = %group.group_id, generation = group.generation_id, members = group.members.len(), "rebalance: join phase complete");
    }

    /// Removes a member. A JoinGroup or SyncGroup of it still waiting is answered
    /// UNKNOWN_MEMBER_ID: no request is ever left without an answer.
    fn remove_member(group: &mut Group, member_id: &str, outputs: &mut Vec<Output>) {
        let Some(m) = group.members.remove(member_id) else { return };
        if m.awaiting_join {
            outputs.push(Output::Join {
                group_id: group.group_id.clone(),
                member_id: member_id.to_string(),
                result: JoinResult::error(ErrorCode::UnknownMemberId, member_id),
            });
        }
        if m.awaiting_sync {
            outputs.push(Output::Sync {
                group_id: group.group_id.clone(),
                member_id: member_id.to_string(),
                result: SyncResult::error(ErrorCode::UnknownMemberId),
            });
        }
        if let Some(instance) = m.group_instance_id
            && group.static_members.get(&instance).map(String::as_str) == Some(member_id)
        {
            group.static_members.remove(&instance);
        }
        if group.leader_id.as_deref() == Some(member_id) {
            group.leader_id = None;
        }
    }

    fn check_member(
        group: &Group,
        member_id: &str,
        generation_id: i32,
        instance: Option<&str>,
    ) -> Result<(), ErrorCode> {
        if let Some(instance) = instance
            && let Some(known) = group.static_members.get(instance)
            && known != member_id
        {
            return Err(ErrorCode::FencedInstanceId);
        }
        if !group.members.contains_key(member_id) {
            return Err(ErrorCode::UnknownMemberId);
        }
        if generation_id != group.generation_id {
            return Err(ErrorCode::IllegalGeneration);
        }
        Ok(())
    }

    pub fn sync(
        &mut self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        instance: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> Reply<SyncResult> {
        let Some(group) = self.groups.get_mut(group_id) else {
            return Reply::Now(SyncResult::error(ErrorCode::UnknownMemberId));
        };
        if let Some(consumer) = group.consumer.as_mut() {
            return Reply::Now(match consumer.classic_sync(member_id, instance, generation_id) {
                Ok(assignment) => SyncResult {
                    error: ErrorCode::None,
                    protocol_type: Some("consumer".into()),
                    protocol_name: consumer
                        .members
                        .get(member_id)
                        .and_then(|m| m.classic.as_ref())
                        .and_then(|c| c.protocols.first())
                        .map(|(n, _)| n.clone()),
                    assignment,
                },
                Err(e) => SyncResult::error(e),
            });
        }
        if let Err(e) = Self::check_member(group, member_id, generation_id, instance) {
            return Reply::Now(SyncResult::error(e));
        }
        match group.state {
            GroupState::PreparingRebalance => Reply::Now(SyncResult::error(ErrorCode::RebalanceInProgress)),
            GroupState::Stable => {
                let m = &group.members[member_id];
                Reply::Now(SyncResult {
                    error: ErrorCode::None,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    assignment: m.assignment.clone(),
                })
            }
            GroupState::CompletingRebalance => {
                group.members.get_mut(member_id).expect("checked").awaiting_sync = true;
                if group.leader_id.as_deref() == Some(member_id) {
                    let given: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for m in group.members.values_mut() {
                        m.assignment = given.get(&m.member_id).cloned().unwrap_or_default();
                    }
                    group.state = GroupState::Stable;
                    for m in group.members.values_mut() {
                        if m.awaiting_sync && m.member_id != member_id {
                            self.outputs.push(Output::Sync {
                                group_id: group.group_id.clone(),
                                member_id: m.member_id.clone(),
                                result: SyncResult {
                                    error: ErrorCode::None,
                                    protocol_type: group.protocol_type.clone(),
                                    protocol_name: group.protocol_name.clone(),
                                    assignment: m.assignment.clone(),
                                },
                            });
                        }
                        m.awaiting_sync = false;
                    }
                    tracing::debug!(group = %group.group_id, generation = group.generation_id, "group stable");
                    self.outputs.push(Output::Changed { group_id: group.group_id.clone() });
                    let m = &group.members[member_id];
                    return Reply::Now(SyncResult {
                        error: ErrorCode::None,
                        protocol_type: group.protocol_type.clone(),
                        protocol_name: group.protocol_name.clone(),
                        assignment: m.assignment.clone(),
                    });
                }
                Reply::Pending { member_id: member_id.to_string() }
            }
            GroupState::Empty | GroupState::Dead => Reply::Now(SyncResult::error(ErrorCode::UnknownMemberId)),
        }
    }

    pub fn heartbeat(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        instance: Option<&str>,
    ) -> ErrorCode {
        let Some(group) = self.groups.get_mut(group_id) else { return ErrorCode::UnknownMemberId };
        if let Some(consumer) = group.consumer.as_mut() {
            return consumer.classic_heartbeat(now_ms, member_id, instance, generation_id);
        }
        if let Err(e) = Self::check_member(group, member_id, generation_id, instance) {
            return e;
        }
        group.members.get_mut(member_id).expect("checked").last_heartbeat_ms = now_ms;
        match group.state {
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            _ => ErrorCode::None,
        }
    }

    /// LeaveGroup for one member (by id, or by static instance id with an empty member id).
    pub fn leave(&mut self, now_ms: i64, group_id: &str, member_id: &str, instance: Option<&str>) -> ErrorCode {
        let config = self.config.clone();
        let Some(group) = self.groups.get_mut(group_id) else { return ErrorCode::UnknownMemberId };
        if let Some(consumer) = group.consumer.as_mut() {
            let code = consumer.classic_leave(member_id, instance, &config.consumer);
            if let Some(records) = consumer.changed_records(group_id) {
                self.outputs.push(Output::ConsumerChanged { group_id: group_id.to_string(), records });
            }
            return code;
        }
        let id = match (member_id.is_empty(), instance) {
            (true, Some(i)) => match group.static_members.get(i) {
                Some(id) => id.clone(),
                None => return ErrorCode::UnknownMemberId,
            },
            _ => member_id.to_string(),
        };
        if let Some(i) = instance
            && group.static_members.get(i).is_some_and(|known| known != &id)
        {
            return ErrorCode::FencedInstanceId;
        }
        if !group.members.contains_key(&id) {
            return ErrorCode::UnknownMemberId;
        }
        Self::remove_member(group, &id, &mut self.outputs);
        Self::rebalance_after_departure(group, &config, now_ms, &mut self.outputs);
        ErrorCode::None
    }

    fn rebalance_after_departure(group: &mut Group, config: &GroupConfig, now_ms: i64, outputs: &mut Vec<Output>) {
        if group.members.is_empty() {
            group.state = GroupState::Empty;
            group.generation_id += 1;
            group.leader_id = None;
            group.protocol_name = None;
            outputs.push(Output::Changed { group_id: group.group_id.clone() });
            return;
        }
        if group.state != GroupState::PreparingRebalance {
            // Members blocked in SyncGroup of the old generation are told to rejoin.
            for m in group.members.values_mut() {
                if m.awaiting_sync {
                    m.awaiting_sync = false;
                    outputs.push(Output::Sync {
                        group_id: group.group_id.clone(),
                        member_id: m.member_id.clone(),
                        result: SyncResult::error(ErrorCode::RebalanceInProgress),
                    });
                }
            }
            Self::prepare_rebalance(group, config, now_ms);
        }
        Self::maybe_complete_join(group, now_ms, outputs, false);
    }

    /// Expires members whose session timed out and completes rebalances whose deadline passed.
    /// A member waiting in JoinGroup or SyncGroup has satisfied its heartbeat (Kafka's
    /// `hasSatisfiedHeartbeat`): it is not expired while it waits. (A leader that dies before
    /// its SyncGroup expires; the members waiting in theirs are then told to rejoin.)
    pub fn tick(&mut self, now_ms: i64) -> Vec<Output> {
        self.expire_consumer_members(now_ms);
        let config = self.config.clone();
        for group in self.groups.values_mut() {
            let expired: Vec<String> = group
                .members
                .values()
                .filter(|m| {
                    !m.awaiting_join
                        && !m.awaiting_sync
                        && now_ms - m.last_heartbeat_ms > i64::from(m.session_timeout_ms)
                })
                .map(|m| m.member_id.clone())
                .collect();
            group.pending_members.retain(|_, deadline| *deadline > now_ms);
            if !expired.is_empty() {
                for id in &expired {
                    tracing::info!(group = %group.group_id, member = %id, "member session expired");
                    Self::remove_member(group, id, &mut self.outputs);
                }
                Self::rebalance_after_departure(group, &config, now_ms, &mut self.outputs);
            }
            if group.state == GroupState::PreparingRebalance {
                let expired = now_ms >= group.rebalance_deadline_ms && !group.members.values().all(|m| m.awaiting_join);
                Self::maybe_complete_join(group, now_ms, &mut self.outputs, expired);
            }
        }
        self.take_outputs()
    }

    /// Counts as `member_id`'s heartbeat at `now_ms`: a member answered after waiting in
    /// SyncGroup gets a whole session from the answer, as Kafka reschedules the heartbeat expiry
    /// of every member whose parked request it answers (its session may have run out while it
    /// waited, which is allowed).
    pub fn touch(&mut self, group_id: &str, member_id: &str, now_ms: i64) {
        if let Some(m) = self.groups.get_mut(group_id).and_then(|g| g.members.get_mut(member_id)) {
            m.last_heartbeat_ms = m.last_heartbeat_ms.max(now_ms);
        }
    }

    /// The earliest time [`tick`](Self::tick) has something to do: a session that expires, a
    /// pending member's deadline, a join phase's deadline. `None` when nothing is waiting.
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups
            .values()
            .flat_map(|group| {
                let sessions = group
                    .members
                    .values()
                    .filter(|m| !m.awaiting_join && !m.awaiting_sync)
                    .map(|m| m.last_heartbeat_ms + i64::from(m.session_timeout_ms) + 1);
                let pending = group.pending_members.values().copied();
                let join = (group.state == GroupState::PreparingRebalance).then_some(group.rebalance_deadline_ms);
                let consumer = group.consumer.as_ref().and_then(|c| c.next_deadline());
                sessions.chain(pending).chain(join).chain(consumer)
            })
            .min()
    }

    /// ConsumerGroupHeartbeat (KIP-848). A group joined for the first time, or an empty classic
    /// group (its offsets kept), becomes a consumer-protocol group; a classic group with members
    /// is refused as Kafka refuses it. A heartbeat other than a join for a group this
    /// coordinator does not know is UNKNOWN_MEMBER_ID, so that a member whose coordinator moved
    /// joins again (the groups' membership is not written to `__consumer_offsets` yet).
    pub fn consumer_heartbeat(
        &mut self,
        now_ms: i64,
        hb: ConsumerHeartbeat<'_>,
    ) -> Result<super::consumer::HeartbeatAnswer, super::consumer::Refusal> {
        let config = &self.config.consumer;
        super::consumer::validate(&hb.request, hb.version, config)?;
        if hb.group_id.is_empty() {
            return Err((ErrorCode::InvalidGroupId, "GroupId can't be empty.".into()));
        }
        let joining = hb.request.member_epoch == 0;
        let group = match self.groups.get_mut(hb.group_id) {
            Some(g) => g,
            None if joining => self.groups.entry(hb.group_id.to_string()).or_insert_with(|| Group::new(hb.group_id)),
            None => {
                return Err((
                    ErrorCode::UnknownMemberId,
                    format!("Member {} is not a member of group {}.", hb.request.member_id, hb.group_id),
                ));
            }
        };
        if group.consumer.is_none() {
            let not_consumer =
                || (ErrorCode::GroupIdNotFound, format!("Group {} is not a consumer group.", hb.group_id));
            if !joining || group.state == GroupState::Dead {
                return Err(not_consumer());
            }
            if group.members.is_empty() {
                group.consumer = Some(super::consumer::ConsumerGroup::default());
            } else {
                // Kafka's online upgrade: a stable classic group of consumers becomes a
                // consumer-protocol group, its members keeping their partitions as classic
                // members of it.
                let upgradable = group.state == GroupState::Stable
                    && group.protocol_type.as_deref() == Some("consumer")
                    && group.members.len() < config.max_size;
                if !upgradable {
                    return Err(not_consumer());
                }
                let chosen = group.protocol_name.clone().unwrap_or_default();
                let members = group
                    .members
                    .values()
                    .map(|m| {
                        let mut protocols = m.protocols.clone();
                        protocols.sort_by_key(|(name, _)| *name != chosen);
                        super::consumer::ClassicSnapshot {
                            member_id: m.member_id.clone(),
                            instance_id: m.group_instance_id.clone(),
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            session_timeout_ms: m.session_timeout_ms,
                            rebalance_timeout_ms: m.rebalance_timeout_ms,
                            protocols,
                            assignment: m.assignment.clone(),
                        }
                    })
                    .collect();
                let converted =
                    super::consumer::ConsumerGroup::from_classic(group.generation_id, members, hb.topics, now_ms)
                        .ok_or_else(not_consumer)?;
                tracing::info!(group = %hb.group_id, members = group.members.len(), "classic group upgraded to the consumer protocol");
                group.members.clear();
                group.static_members.clear();
                group.state = GroupState::Empty;
                group.consumer = Some(converted);
                // Its classic metadata record no longer holds members.
                self.outputs.push(Output::Changed { group_id: hb.group_id.to_string() });
            }
            group.pending_members.clear();
        }
        let consumer = group.consumer.as_mut().expect("a consumer group");
        let answer =
            consumer.heartbeat(now_ms, hb.request, hb.topics, config, hb.session_timeout_ms, hb.heartbeat_interval_ms);
        if let Some(records) = consumer.changed_records(hb.group_id) {
            self.outputs.push(Output::ConsumerChanged { group_id: hb.group_id.to_string(), records });
        }
        answer
    }

    /// Replays one KIP-848 record read back from `__consumer_offsets` (a group epoch tombstone:
    /// the group of that protocol is gone). `session_timeout_ms` starts every member's session.
    pub fn load_consumer_record(
        &mut self,
        group_id: &str,
        record: super::consumer_records::ConsumerRecord,
        now_ms: i64,
        session_timeout_ms: i32,
    ) {
        use super::consumer_records::ConsumerRecord;
        let group = self.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id));
        if record == ConsumerRecord::GroupEpoch(None) {
            group.consumer = None;
            return;
        }
        let consumer = group.consumer.get_or_insert_with(Default::default);
        super::consumer_records::apply(consumer, record, now_ms, session_timeout_ms);
    }

    /// After a load: the loaded consumer-protocol groups of `owned` work out who owns what.
    pub fn finish_consumer_load(&mut self, owned: impl Fn(&str) -> bool) {
        for (id, group) in self.groups.iter_mut().filter(|(id, _)| owned(id)) {
            if let Some(consumer) = group.consumer.as_mut() {
                consumer.restore(id);
            }
        }
    }

    /// Removes the consumer-protocol members whose session or revocation time ran out.
    fn expire_consumer_members(&mut self, now_ms: i64) {
        let config = &self.config.consumer;
        for group in self.groups.values_mut() {
            let Some(consumer) = group.consumer.as_mut() else { continue };
            for id in consumer.expired(now_ms) {
                tracing::info!(group = %group.group_id, member = %id, "consumer group member expired");
                consumer.remove(&id, config);
            }
            if let Some(records) = consumer.changed_records(&group.group_id) {
                self.outputs.push(Output::ConsumerChanged { group_id: group.group_id.clone(), records });
            }
        }
    }

    /// OffsetCommit's checks: `generation_id` -1 with an empty member id is a commit from outside
    /// the group protocol (a standalone consumer), allowed while the group has no members;
    /// otherwise the member must belong to the current generation, and the group must not be
    /// between its join and its assignment. Counts as the member's heartbeat. Nothing is
    /// committed here: the offsets are written to `__consumer_offsets` first, and only what was
    /// written enters the cache ([`Groups::apply_commit`]), as Kafka's pending offset commits.
    #[allow(clippy::too_many_arguments)]
    pub fn validate_commit(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        instance: Option<&str>,
        version: i16,
        transactional: bool,
    ) -> ErrorCode {
        if group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        let group = self.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id));
        if let Some(consumer) = &group.consumer {
            let version = Some(version).filter(|_| !transactional);
            return super::consumer::validate_offsets_access(consumer, member_id, generation_id, version)
                .err()
                .unwrap_or(ErrorCode::None);
        }
        // A negative generation on an empty group is a commit from outside the group protocol
        // (an `assign()`ing consumer, an admin), whatever member id it carries: librdkafka's
        // KIP-848 consumer sends the id it made itself (Kafka's `ClassicGroup.validateOffsetCommit`).
        let outside = member_id.is_empty() || (group.state == GroupState::Empty && group.members.is_empty());
        if generation_id < 0 && outside {
            if !group.members.is_empty() {
                return ErrorCode::UnknownMemberId;
            }
        } else {
            if let Err(e) = Self::check_member(group, member_id, generation_id, instance) {
                return e;
            }
            // A member of the current generation commits while the group prepares a rebalance
            // (eager clients commit in their revoke callback and as they rejoin); only between
            // the join and the assignment (CompletingRebalance) is it told to wait, as in Kafka.
            if group.state == GroupState::CompletingRebalance {
                return ErrorCode::RebalanceInProgress;
            }
            group.members.get_mut(member_id).expect("checked").last_heartbeat_ms = now_ms;
        }
        ErrorCode::None
    }

    /// TxnOffsetCommit's checks (KIP-447, from v3, whose requests name the consumer): a static
    /// member replaced by a newer instance is FENCED_INSTANCE_ID, a member id the group does not
    /// know is UNKNOWN_MEMBER_ID, another generation is ILLEGAL_GENERATION; an empty member id
    /// or a negative generation skips its check (a producer not tied to a group member).
    pub fn validate_txn_commit(
        &self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        instance: Option<&str>,
    ) -> ErrorCode {
        let Some(group) = self.groups.get(group_id) else {
            return if member_id.is_empty() { ErrorCode::None } else { ErrorCode::UnknownMemberId };
        };
        if let Some(consumer) = &group.consumer {
            if member_id.is_empty() || generation_id < 0 {
                return ErrorCode::None;
            }
            return super::consumer::validate_offsets_access(consumer, member_id, generation_id, None)
                .err()
                .unwrap_or(ErrorCode::None);
        }
        if let Some(instance) = instance
            && group.static_members.get(instance).is_some_and(|known| known != member_id)
        {
            return ErrorCode::FencedInstanceId;
        }
        if !member_id.is_empty() && !group.members.contains_key(member_id) {
            return ErrorCode::UnknownMemberId;
        }
        if generation_id >= 0 && generation_id != group.generation_id {
            return ErrorCode::IllegalGeneration;
        }
        ErrorCode::None
    }

    /// Puts offsets that were written to `__consumer_offsets` at `log_offset` into the cache,
    /// except where a commit written later is already there.
    pub fn apply_commit(&mut self, now_ms: i64, group_id: &str, offsets: Vec<OffsetCommit>, log_offset: i64) {
        let offsets = offsets
            .into_iter()
            .map(|(tp, offset, leader_epoch, metadata)| {
                (tp, CommittedOffset { offset, leader_epoch, metadata, commit_timestamp_ms: now_ms })
            })
            .collect();
        self.apply_committed(group_id, offsets, log_offset);
    }

    /// `apply_commit` with each offset's commit time given (OffsetCommit v1 lets the client set
    /// it): exactly what was written to `__consumer_offsets` enters the cache.
    pub fn apply_committed(&mut self, group_id: &str, offsets: Vec<((String, i32), CommittedOffset)>, log_offset: i64) {
        // Only what was written enters the cache, and a write has a place in the log.
        assert!(log_offset >= 0, "offsets of group {group_id} applied at log offset {log_offset}");
        let group = self.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id));
        for (tp, committed) in offsets {
            if group.offset_log_positions.get(&tp).is_some_and(|&newer| newer > log_offset) {
                continue;
            }
            group.offset_log_positions.insert(tp.clone(), log_offset);
            group.offsets.insert(tp, committed);
        }
    }

    /// `validate_commit` then `apply_commit`, as if written at once (for tests of the rules).
    #[cfg(test)]
    pub fn commit_offsets(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        instance: Option<&str>,
        offsets: Vec<OffsetCommit>,
    ) -> ErrorCode {
        let code = self.validate_commit(now_ms, group_id, member_id, generation_id, instance, 9, false);
        if code == ErrorCode::None {
            let next = self.groups.get(group_id).map_or(0, |g| g.offset_log_positions.len() as i64);
            self.apply_commit(now_ms, group_id, offsets, next);
        }
        code
    }

    /// The persistable view of a group (None once it is gone).
    pub fn snapshot(&self, group_id: &str, now_ms: i64) -> Option<GroupSnapshot> {
        let g = self.groups.get(group_id)?;
        Some(GroupSnapshot {
            group_id: g.group_id.clone(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            generation_id: g.generation_id,
            protocol_name: g.protocol_name.clone(),
            leader_id: g.leader_id.clone(),
            state_timestamp_ms: now_ms,
            members: g
                .members
                .values()
                .map(|m| MemberSnapshot {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: g
                        .protocol_name
                        .as_ref()
                        .and_then(|p| m.protocols.iter().find(|(n, _)| n == p))
                        .map(|(_, md)| md.clone())
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// Replays a group's metadata read back from `__consumer_offsets` (None: deleted). Members
    /// come back Stable with a fresh session: those still alive keep heartbeating, the others
    /// expire as usual.
    pub fn load_group(&mut self, group_id: &str, snapshot: Option<GroupSnapshot>, now_ms: i64) {
        let Some(s) = snapshot else {
            self.groups.remove(group_id);
            return;
        };
        let group = self.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id));
        group.generation_id = s.generation_id;
        group.protocol_type = (!s.protocol_type.is_empty()).then_some(s.protocol_type);
        group.protocol_name = s.protocol_name.clone();
        group.leader_id = s.leader_id;
        group.members.clear();
        group.static_members.clear();
        for m in s.members {
            if let Some(i) = &m.group_instance_id {
                group.static_members.insert(i.clone(), m.member_id.clone());
            }
            let protocols = s.protocol_name.clone().map(|p| vec![(p, m.subscription.clone())]).unwrap_or_default();
            group.members.insert(
                m.member_id.clone(),
                Member {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocol_type: group.protocol_type.clone().unwrap_or_default(),
                    protocols,
                    assignment: m.assignment,
                    last_heartbeat_ms: now_ms,
                    awaiting_join: false,
                    awaiting_sync: false,
                },
            );
        }
        group.state = if group.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
    }

    /// Replays one committed offset (or its deletion) read back from `__consumer_offsets`.
    pub fn load_offset(&mut self, group_id: &str, tp: (String, i32), committed: Option<CommittedOffset>) {
        let group = self.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id));
        group.offset_log_positions.remove(&tp);
        match committed {
            Some(c) => {
                group.offsets.insert(tp, c);
            }
            None => {
                group.offsets.remove(&tp);
            }
        }
    }

    /// Committed offsets of a group: all, or those of `partitions`.
    pub fn fetch_offsets(&self, group_id: &str) -> Option<&BTreeMap<(String, i32), CommittedOffset>> {
        self.groups.get(group_id).map(|g| &g.offsets)
    }

    /// Removes committed offsets of empty groups older than `offsets.retention.minutes`, and
    /// groups left with nothing; returns what expired, for tombstones in `__consumer_offsets`.
    pub fn expire_offsets(&mut self, now_ms: i64) -> Vec<(String, (String, i32))> {
        let retention = self.config.offsets_retention_ms;
        let mut expired = Vec::new();
        for group in self.groups.values_mut() {
            if group.state != GroupState::Empty || !group.is_empty() {
                continue;
            }
            group.offsets.retain(|tp, c| {
                let keep = now_ms - c.commit_timestamp_ms <= retention;
                if !keep {
                    expired.push((group.group_id.clone(), tp.clone()));
                }
                keep
            });
            let offsets = &group.offsets;
            group.offset_log_positions.retain(|tp, _| offsets.contains_key(tp));
        }
        // An empty group left with no offsets goes, whatever its generation (Kafka's
        // `cleanupGroupMetadata` makes it Dead): otherwise every group id a client ever joined
        // and left would stay in memory for good. One that had a generation has a metadata record
        // in `__consumer_offsets`; its removal is reported as a change, so the coordinator writes
        // the tombstone. One with members told MEMBER_ID_REQUIRED waits for them to come or go.
        let outputs = &mut self.outputs;
        self.groups.retain(|_, g| {
            let gone =
                g.state == GroupState::Empty && g.is_empty() && g.offsets.is_empty() && g.pending_members.is_empty();
            if gone && g.generation_id > 0 {
                outputs.push(Output::Changed { group_id: g.group_id.clone() });
            }
            if gone && g.consumer.is_some() {
                outputs.push(Output::ConsumerChanged {
                    group_id: g.group_id.clone(),
                    records: super::consumer_records::tombstones(&g.group_id, &[]),
                });
            }
            !gone
        });
        expired
    }

    /// A deleted topic's committed offsets go from every group (Kafka's
    /// `handleDeletedPartitions`), so a topic created again under the name is read from where
    /// `auto.offset.reset` says, not from an offset of the old one. Returns what went, for the
    /// tombstones.
    pub fn remove_topic_offsets(&mut self, topic: &str) -> Vec<(String, (String, i32))> {
        let mut removed = Vec::new();
        for group in self.groups.values_mut() {
            group.offsets.retain(|tp, _| {
                let keep = tp.0 != topic;
                if !keep {
                    removed.push((group.group_id.clone(), tp.clone()));
                }
                keep
            });
            let offsets = &group.offsets;
            group.offset_log_positions.retain(|tp, _| offsets.contains_key(tp));
        }
        removed
    }

    /// OffsetDelete: forgets committed offsets of a group that has no active members (with
    /// members, GROUP_SUBSCRIBED_TO_TOPIC: the classic protocol's subscription is opaque here).
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let group = self.groups.get_mut(group_id).ok_or(ErrorCode::GroupIdNotFound)?;
        let busy = !group.is_empty();
        Ok(partitions
            .iter()
            .map(|tp| {
                if busy {
                    ErrorCode::GroupSubscribedToTopic
                } else {
                    group.offsets.remove(tp);
                    group.offset_log_positions.remove(tp);
                    ErrorCode::None
                }
            })
            .collect())
    }

    /// DeleteGroups for one group: only an empty group can go.
    pub fn delete(&mut self, group_id: &str) -> ErrorCode {
        match self.groups.get(group_id) {
            None => ErrorCode::GroupIdNotFound,
            Some(g) if !g.is_empty() => ErrorCode::NonEmptyGroup,
            Some(g) => {
                if g.consumer.is_some() {
                    self.outputs.push(Output::ConsumerChanged {
                        group_id: group_id.to_string(),
                        records: super::consumer_records::tombstones(group_id, &[]),
                    });
                }
                self.groups.remove(group_id);
                ErrorCode::None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answers among `outputs` (without the persistence notices).
    fn answers(outputs: Vec<Output>) -> Vec<Output> {
        outputs.into_iter().filter(|o| !matches!(o, Output::Changed { .. })).collect()
    }

    fn config() -> GroupConfig {
        GroupConfig { initial_rebalance_delay_ms: 0, ..GroupConfig::default() }
    }

    fn join_req(group: &str, member: &str) -> JoinRequest {
        JoinRequest {
            group_id: group.into(),
            member_id: member.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: vec![
                ("range".into(), Bytes::from_static(b"md")),
                ("roundrobin".into(), Bytes::from_static(b"rr")),
            ],
            require_known_member_id: true,
            topics: Default::default(),
        }
    }

    /// Joins a new member through MEMBER_ID_REQUIRED; returns its id and the reply.
    fn join_new(groups: &mut Groups, now: i64, group: &str) -> (String, Reply<JoinResult>) {
        let Reply::Now(first) = groups.join(now, join_req(group, "")) else { panic!("immediate") };
        assert_eq!(first.error, ErrorCode::MemberIdRequired);
        let id = first.member_id;
        let reply = groups.join(now, join_req(group, &id));
        (id, reply)
    }

    #[test]
    fn a_single_member_joins_syncs_and_becomes_stable() {
        let mut g = Groups::new(config());
        let (id, reply) = join_new(&mut g, 0, "g");
        let Reply::Now(joined) = reply else { panic!("a lone member completes the join at once") };
        assert_eq!((joined.error, joined.generation_id, joined.leader_id.as_str()), (ErrorCode::None, 1, id.as_str()));
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));
        assert_eq!(joined.members.len(), 1, "the leader gets the member list");
        let Reply::Now(synced) = g.sync("g", &id, 1, None, vec![(id.clone(), Bytes::from_static(b"all"))]) else {
            panic!()
        };
        assert_eq!((synced.error, synced.assignment.as_ref()), (ErrorCode::None, &b"all"[..]));
        assert_eq!(g.group("g").map(|g| g.state), Some(GroupState::Stable));
        assert_eq!(g.heartbeat(1000, "g", &id, 1, None), ErrorCode::None);
        assert_eq!(g.heartbeat(1000, "g", &id, 0, None), ErrorCode::IllegalGeneration);
        assert_eq!(g.heartbeat(1000, "g", "stranger", 1, None), ErrorCode::UnknownMemberId);
    }

    #[test]
    fn a_second_member_triggers_a_rebalance_that_waits_for_everyone() {
        let mut g = Groups::new(config());
        let (a, _) = join_new(&mut g, 0, "g");
        g.sync("g", &a, 1, None, vec![(a.clone(), Bytes::from_static(b"p0-p5"))]);
        let (b, reply) = join_new(&mut g, 100, "g");
        assert!(matches!(reply, Reply::Pending { .. }), "b waits for a to rejoin");
        assert_eq!(g.heartbeat(200, "g", &a, 1, None), ErrorCode::RebalanceInProgress, "a learns of the rebalance");
        let Reply::Now(a_joined) = g.join(300, join_req("g", &a)) else { panic!("a's rejoin completes the join") };
        assert_eq!(
            (a_joined.generation_id, a_joined.leader_id.as_str()),
            (2, a.as_str()),
            "the leader stays the leader"
        );
        assert_eq!(a_joined.members.len(), 2);
        let outputs = answers(g.take_outputs());
        assert!(
            matches!(&outputs[..], [Output::Join { member_id, result, .. }] if member_id == &b && result.generation_id == 2 && result.members.is_empty())
        );
        // b syncs first and waits for the leader's assignment.
        assert!(matches!(g.sync("g", &b, 2, None, vec![]), Reply::Pending { .. }));
        let Reply::Now(_) = g.sync(
            "g",
            &a,
            2,
            None,
            vec![(a.clone(), Bytes::from_static(b"p0-p2")), (b.clone(), Bytes::from_static(b"p3-p5"))],
        ) else {
            panic!()
        };
        let outputs = answers(g.take_outputs());
        assert!(
            matches!(&outputs[..], [Output::Sync { member_id, result, .. }] if member_id == &b && result.assignment.as_ref() == b"p3-p5")
        );
    }

    #[test]
    fn a_member_that_stops_heartbeating_is_removed_and_the_rest_rebalance() {
        let mut g = Groups::new(config());
        let (a, _) = join_new(&mut g, 0, "g");
        let (b, _) = join_new(&mut g, 0, "g");
        g.join(0, join_req("g", &a));
        g.take_outputs();
        g.sync("g", &a, 2, None, vec![]);
        g.sync("g", &b, 2, None, vec![]);
        // b keeps heartbeating, a goes silent past its 10 s session.
        assert_eq!(g.heartbeat(9_000, "g", &b, 2, None), ErrorCode::None);
        assert!(answers(g.tick(10_500)).is_empty(), "b's session is not over");
        answers(g.tick(10_001 + 1000));
        assert!(!g.group("g").expect("exists").has_member(&a), "a expired");
        assert_eq!(g.heartbeat(11_100, "g", &b, 2, None), ErrorCode::RebalanceInProgress);
        let Reply::Now(joined) = g.join(11_200, join_req("g", &b)) else { panic!("b alone completes the rebalance") };
        assert_eq!((joined.generation_id, joined.leader_id.as_str()), (3, b.as_str()));
    }

    #[test]
    fn the_next_deadline_is_the_earliest_session_end() {
        let mut g = Groups::new(config());
        assert_eq!(g.next_deadline(), None, "nothing to wait for");
        let (a, _) = join_new(&mut g, 0, "g");
        g.take_outputs();
        g.sync("g", &a, 1, None, vec![]);
        assert_eq!(g.heartbeat(2_000, "g", &a, 1, None), ErrorCode::None);
        assert_eq!(g.next_deadline(), Some(12_001), "a's 10 s session, from its last heartbeat");
        assert!(answers(g.tick(12_000)).is_empty() && g.group("g").expect("exists").has_member(&a));
        g.tick(12_001);
        assert!(!g.group("g").expect("exists").has_member(&a), "expired exactly at its deadline");
    }

    #[test]
    fn stragglers_are_dropped_when_the_rebalance_timeout_passes() {
        let mut g = Groups::new(config());
        let (a, _) = join_new(&mut g, 0, "g");
        let (b, _) = join_new(&mut g, 0, "g");
        g.join(0, join_req("g", &a));
        g.take_outputs();
        g.sync("g", &a, 2, None, vec![]);
        g.sync("g", &b, 2, None, vec![]);
        // A third member arrives; a rejoins, b never does (but keeps its session alive).
        let (_c, reply) = join_new(&mut g, 1_000, "g");
        assert!(matches!(reply, Reply::Pending { .. }));
        assert!(matches!(g.join(1_000, join_req("g", &a)), Reply::Pending { .. }));
        for t in [9_000, 18_000, 27_000] {
            assert_eq!(
                g.heartbeat(t, "g", &b, 2, None),
                ErrorCode::RebalanceInProgress,
                "b is alive but not rejoining"
            );
            assert!(answers(g.tick(t)).is_empty());
        }
        let outputs = answers(g.tick(31_001));
        assert_eq!(outputs.len(), 2, "a and c get the new generation");
        assert!(!g.group("g").expect("exists").has_member(&b));
    }

    #[test]
    fn offsets_of_empty_groups_expire_after_the_retention() {
        let mut g = Groups::new(GroupConfig { offsets_retention_ms: 1_000, ..config() });
        let tp = ("t".to_string(), 0);
        g.commit_offsets(0, "idle", "", -1, None, vec![(tp.clone(), 5, -1, None)]);
        let (a, _) = join_new(&mut g, 0, "busy");
        g.sync("busy", &a, 1, None, vec![]);
        assert_eq!(g.commit_offsets(0, "busy", &a, 1, None, vec![(tp.clone(), 9, -1, None)]), ErrorCode::None);
        assert!(g.expire_offsets(900).is_empty());
        assert_eq!(g.expire_offsets(1_001), vec![("idle".to_string(), tp.clone())], "only the empty group's offsets");
        assert!(g.group("idle").is_none(), "a group with nothing left is forgotten");
        assert_eq!(g.fetch_offsets("busy").and_then(|o| o.get(&tp)).map(|c| c.offset), Some(9));
    }

    #[test]
    fn leaving_and_deleting() {
        let mut g = Groups::new(config());
        let (a, _) = join_new(&mut g, 0, "g");
        assert_eq!(g.delete("g"), ErrorCode::NonEmptyGroup);
        assert_eq!(g.leave(10, "g", &a, None), ErrorCode::None);
        assert_eq!(g.group("g").map(|g| g.state), Some(GroupState::Empty));
        assert_eq!(g.leave(10, "g", &a, None), ErrorCode::UnknownMemberId);
        assert_eq!(g.delete("g"), ErrorCode::None);
        assert_eq!(g.delete("g"), ErrorCode::GroupIdNotFound);
    }

    #[test]
    fn offsets_commit_within_the_generation_or_standalone() {
        let mut g = Groups::new(config());
        let tp = ("t".to_string(), 0);
        assert_eq!(g.commit_offsets(0, "solo", "", -1, None, vec![(tp.clone(), 42, -1, None)]), ErrorCode::None);
        assert_eq!(g.fetch_offsets("solo").and_then(|o| o.get(&tp)).map(|c| c.offset), Some(42));
        // A negative generation on an empty group needs no member, whatever id it names
        // (librdkafka's KIP-848 consumer sends one it made up while it `assign()`s).
        assert_eq!(g.commit_offsets(0, "solo", "made-up", -1, None, vec![(tp.clone(), 43, -1, None)]), ErrorCode::None);
        let (a, _) = join_new(&mut g, 0, "g");
        assert_eq!(
            g.commit_offsets(0, "g", "made-up", -1, None, vec![(tp.clone(), 1, -1, None)]),
            ErrorCode::UnknownMemberId,
            "not once the group has members"
        );
        assert_eq!(
            g.commit_offsets(0, "g", &a, 0, None, vec![(tp.clone(), 1, -1, None)]),
            ErrorCode::IllegalGeneration
        );
        assert_eq!(g.commit_offsets(0, "g", "", -1, None, vec![(tp.clone(), 1, -1, None)]), ErrorCode::UnknownMemberId);
        assert_eq!(
            g.commit_offsets(0, "g", &a, 1, None, vec![(tp.clone(), 7, 0, None)]),
            ErrorCode::RebalanceInProgress,
            "joined but not yet assigned (CompletingRebalance)"
        );
        g.sync("g", &a, 1, None, vec![]);
        assert_eq!(g.commit_offsets(0, "g", &a, 1, None, vec![(tp.clone(), 7, 0, Some("m".into()))]), ErrorCode::None);
        assert_eq!(
            g.fetch_offsets("g").and_then(|o| o.get(&tp)).map(|c| (c.offset, c.metadata.clone())),
            Some((7, Some("m".into())))
        );
    }

    #[test]
    fn commits_enter_the_cache_in_log_order_whatever_order_their_writes_complete_in() {
        let mut g = Groups::new(config());
        let tp = ("t".to_string(), 0);
        assert_eq!(g.validate_commit(0, "solo", "", -1, None, 9, false), ErrorCode::None);
        assert!(g.fetch_offsets("solo").is_none_or(|o| o.is_empty()), "validated, not yet written: nothing cached");
        g.apply_commit(0, "solo", vec![(tp.clone(), 20, -1, None)], 8);
        g.apply_commit(0, "solo", vec![(tp.clone(), 10, -1, None)], 7);
        assert_eq!(g.fetch_offsets("solo").and_then(|o| o.get(&tp)).map(|c| c.offset), Some(20));
        g.apply_commit(0, "solo", vec![(tp.clone(), 30, -1, None)], 9);
        assert_eq!(g.fetch_offsets("solo").and_then(|o| o.get(&tp)).map(|c| c.offset), Some(30));
    }

    #[test]
    fn transactional_commits_of_a_zombie_consumer_are_refused() {
        let mut g = Groups::new(config());
        let (a, _) = join_new(&mut g, 0, "g");
        g.sync("g", &a, 1, None, vec![]);
        assert_eq!(g.validate_txn_commit("g", &a, 1, None), ErrorCode::None);
        assert_eq!(g.validate_txn_commit("g", "", -1, None), ErrorCode::None, "a producer not tied to a member");
        assert_eq!(g.validate_txn_commit("g", "zombie", 1, None), ErrorCode::UnknownMemberId);
        assert_eq!(g.validate_txn_commit("g", &a, 0, None), ErrorCode::IllegalGeneration);
        assert_eq!(g.validate_txn_commit("nobody", "x", 1, None), ErrorCode::UnknownMemberId);
        let mut s = join_req("g", "");
        s.group_instance_id = Some("i1".into());
        s.require_known_member_id = false;
        g.join(0, s);
        assert_eq!(g.validate_txn_commit("g", "old-id", -1, Some("i1")), ErrorCode::FencedInstanceId);
    }

    #[test]
    fn a_huge_client_id_makes_a_member_id_that_still_fits_an_i16_string() {
        let mut g = Groups::new(config());
        let mut req = join_req("g", "");
        req.client_id = "é".repeat(16_383) + "x";
        let Reply::Now(first) = g.join(0, req) else { panic!("immediate") };
        assert_eq!(first.error, ErrorCode::MemberIdRequired);
        assert!(first.member_id.len() < 300, "{} bytes", first.member_id.len());
        assert!(first.member_id.starts_with("éé"));
    }

    #[test]
    fn a_member_commits_while_the_group_prepares_a_rebalance() {
        let mut g = Groups::new(config());
        let tp = ("t".to_string(), 0);
        let (a, _) = join_new(&mut g, 0, "g");
        g.sync("g", &a, 1, None, vec![]);
        let (_b, reply) = join_new(&mut g, 100, "g");
        assert!(matches!(reply, Reply::Pending { .. }));
        assert_eq!(g.group("g").map(|g| g.state), Some(GroupState::PreparingRebalance));
        // a's revoke callback commits with the generation it still has, before rejoining.
        assert_eq!(g.commit_offsets(200, "g", &a, 1, None, vec![(tp.clone(), 5, -1, None)]), ErrorCode::None);
        assert_eq!(g.fetch_offsets("g").and_then(|o| o.get(&tp)).map(|c| c.offset), Some(5));
        assert_eq!(g.commit_offsets(200, "g", &a, 0, None, vec![(tp, 6, -1, None)]), ErrorCode::IllegalGeneration);
    }

    #[test]
    fn members_waiting_in_sync_outlive_their_session_and_rejoin_when_the_leader_expires() {
        let mut g = Groups::new(config());
        let (a, _) = join_new(&mut g, 0, "g");
        g.sync("g", &a, 1, None, vec![]);
        let (b, _) = join_new(&mut g, 0, "g");
        let Reply::Now(joined) = g.join(0, join_req("g", &a)) else { panic!("a's rejoin completes the join") };
        assert_eq!(joined.leader_id, a, "a leads generation 2");
        g.take_outputs();
        // b waits in SyncGroup for the leader's assignment; the leader never sends it.
        assert!(matches!(g.sync("g", &b, 2, None, vec![]), Reply::Pending { .. }));
        let outputs = answers(g.tick(10_500));
        assert_eq!(
            outputs,
            vec![Output::Sync {
                group_id: "g".into(),
                member_id: b.clone(),
                result: SyncResult::error(ErrorCode::RebalanceInProgress)
            }],
            "the silent leader expires; b, waiting, is told to rejoin rather than expired unanswered"
        );
        assert!(g.group("g").is_some_and(|g| g.has_member(&b) && !g.has_member(&a)));
    }

    #[test]
    fn a_member_that_leaves_while_its_join_waits_gets_an_answer() {
        let mut g = Groups::new(config());
        let (a, _) = join_new(&mut g, 0, "g");
        g.sync("g", &a, 1, None, vec![]);
        let (b, reply) = join_new(&mut g, 100, "g");
        assert!(matches!(reply, Reply::Pending { .. }), "b's join waits for a");
        assert_eq!(g.leave(200, "g", &b, None), ErrorCode::None);
        let outputs = answers(g.take_outputs());
        assert!(
            outputs.iter().any(|o| matches!(o, Output::Join { member_id, result, .. }
                if member_id == &b && result.error == ErrorCode::UnknownMemberId)),
            "b's parked JoinGroup is answered: {outputs:?}"
        );
    }

    #[test]
    fn incompatible_protocols_and_bad_timeouts_are_refused() {
        let mut g = Groups::new(config());
        join_new(&mut g, 0, "g");
        let mut other = join_req("g", "");
        other.protocols = vec![("sticky".into(), Bytes::new())];
        assert!(matches!(g.join(0, other), Reply::Now(r) if r.error == ErrorCode::InconsistentGroupProtocol));
        let mut short = join_req("g", "");
        short.session_timeout_ms = 10;
        assert!(matches!(g.join(0, short), Reply::Now(r) if r.error == ErrorCode::InvalidSessionTimeout));
    }

    #[test]
    fn a_static_member_rejoining_takes_its_place_and_fences_the_old_id() {
        let mut g = Groups::new(config());
        let mut req = join_req("g", "");
        req.group_instance_id = Some("pod-1".into());
        let Reply::Now(first) = g.join(0, req.clone()) else { panic!() };
        assert_eq!(first.error, ErrorCode::None, "static members skip MEMBER_ID_REQUIRED");
        let old = first.member_id;
        g.sync("g", &old, 1, Some("pod-1"), vec![]);
        let Reply::Now(again) = g.join(100, req) else { panic!("the restarted instance is answered") };
        let new = again.member_id;
        assert_ne!(old, new);
        assert_eq!(g.heartbeat(200, "g", &old, again.generation_id, Some("pod-1")), ErrorCode::FencedInstanceId);
    }

    #[test]
    fn a_restarted_static_leader_keeps_the_group_stable_and_skips_assignment() {
        let mut g = Groups::new(config());
        let mut leader = join_req("g", "");
        leader.group_instance_id = Some("pod-1".into());
        let Reply::Now(first) = g.join(0, leader.clone()) else { panic!() };
        let (old, generation) = (first.member_id, first.generation_id);
        g.sync("g", &old, generation, Some("pod-1"), vec![(old.clone(), Bytes::from_static(b"all"))]);
        let (follower, _) = join_new(&mut g, 10, "g");
        let Reply::Now(_) = g.join(20, {
            let mut r = leader.clone();
            r.member_id = old.clone();
            r
        }) else {
            panic!("the leader's rejoin completes the join")
        };
        g.take_outputs();
        let generation = g.group("g").map(|g| g.generation_id).expect("group");
        g.sync("g", &follower, generation, None, vec![]);
        g.sync("g", &old, generation, Some("pod-1"), vec![]);
        g.take_outputs();
        assert_eq!(g.group("g").map(|g| g.state), Some(GroupState::Stable));

        // The leader's process restarts: new metadata bytes, same protocols, no member id.
        leader.protocols = vec![("range".into(), Bytes::from_static(b"md-v2")), ("roundrobin".into(), Bytes::new())];
        let Reply::Now(back) = g.join(30, leader) else { panic!("answered at once") };
        assert_eq!((back.error, back.generation_id), (ErrorCode::None, generation), "no new generation");
        assert!(back.skip_assignment, "KIP-814: the leader keeps the current assignment");
        assert_eq!(back.leader_id, back.member_id);
        assert_eq!(back.members.len(), 2, "the leader still gets the member list");
        assert_eq!(g.group("g").map(|g| g.state), Some(GroupState::Stable));
        assert_eq!(g.heartbeat(40, "g", &follower, generation, None), ErrorCode::None, "no rebalance for the others");
        assert_eq!(g.heartbeat(40, "g", &old, generation, Some("pod-1")), ErrorCode::FencedInstanceId);
    }

    #[test]
    fn the_initial_delay_holds_the_first_rebalance_for_more_members() {
        let mut g = Groups::new(GroupConfig { initial_rebalance_delay_ms: 3_000, ..GroupConfig::default() });
        let (_a, reply) = join_new(&mut g, 0, "g");
        assert!(matches!(reply, Reply::Pending { .. }), "held by group.initial.rebalance.delay.ms");
        let (_b, reply) = join_new(&mut g, 1_000, "g");
        assert!(matches!(reply, Reply::Pending { .. }));
        assert!(answers(g.tick(2_000)).is_empty());
        let outputs = answers(g.tick(3_001));
        assert_eq!(outputs.len(), 2, "both members answered in one generation");
    }

    #[test]
    fn pending_members_past_the_bound_forget_the_one_due_soonest() {
        let mut g = Groups::new(config());
        // Each JoinGroup without a member id leaves a pending member; the first is due soonest.
        let mut ids = Vec::new();
        for t in 0..=MAX_PENDING_MEMBERS_PER_GROUP_COUNT as i64 {
            let Reply::Now(first) = g.join(t, join_req("g", "")) else { panic!("immediate") };
            assert_eq!(first.error, ErrorCode::MemberIdRequired);
            ids.push(first.member_id);
        }
        let group = g.group("g").expect("exists");
        assert_eq!(group.pending_members.len(), MAX_PENDING_MEMBERS_PER_GROUP_COUNT);
        assert!(!group.pending_members.contains_key(&ids[0]), "the oldest went");
        let now = MAX_PENDING_MEMBERS_PER_GROUP_COUNT as i64;
        let Reply::Now(late) = g.join(now, join_req("g", &ids[0])) else { panic!("answered at once") };
        assert_eq!(late.error, ErrorCode::UnknownMemberId, "it starts over, as after its deadline");
        let newest = ids.last().expect("some").clone();
        assert!(matches!(g.join(now, join_req("g", &newest)), Reply::Now(JoinResult { error: ErrorCode::None, .. })));
    }

    #[test]
    fn an_empty_group_without_offsets_is_forgotten_and_tombstoned_whatever_its_generation() {
        let mut g = Groups::new(config());
        let (a, _) = join_new(&mut g, 0, "left");
        assert_eq!(g.leave(10, "left", &a, None), ErrorCode::None);
        assert_eq!(g.group("left").map(|x| (x.state, x.generation_id)), Some((GroupState::Empty, 2)));
        g.take_outputs();
        assert!(g.expire_offsets(20).is_empty(), "no offsets to expire");
        assert!(g.group("left").is_none(), "nothing is left of it");
        assert_eq!(g.take_outputs(), vec![Output::Changed { group_id: "left".into() }], "its metadata is tombstoned");
        assert_eq!(g.snapshot("left", 20), None, "the change writes a tombstone");
        // A group that still has offsets stays.
        let tp = ("t".to_string(), 0);
        let (b, _) = join_new(&mut g, 0, "kept");
        g.sync("kept", &b, 1, None, vec![]);
        assert_eq!(g.commit_offsets(0, "kept", &b, 1, None, vec![(tp, 1, -1, None)]), ErrorCode::None);
        assert_eq!(g.leave(10, "kept", &b, None), ErrorCode::None);
        g.expire_offsets(20);
        assert!(g.group("kept").is_some());
    }

    #[test]
    fn offset_metadata_is_bounded_by_offset_metadata_max_bytes() {
        let c = GroupConfig::default();
        let max = DEFAULT_OFFSET_METADATA_MAX_BYTES;
        assert!(c.offset_metadata_fits(None));
        assert!(c.offset_metadata_fits(Some(&"m".repeat(max))));
        assert!(!c.offset_metadata_fits(Some(&"m".repeat(max + 1))));
        // Bytes, not characters: 2,049 two-byte characters are 4,098 bytes.
        assert!(!c.offset_metadata_fits(Some(&"é".repeat(max / 2 + 1))));
        let small = GroupConfig { offset_metadata_max_bytes: 3, ..GroupConfig::default() };
        assert!(small.offset_metadata_fits(Some("abc")) && !small.offset_metadata_fits(Some("abcd")));
    }

    #[test]
    fn a_join_with_protocols_over_their_bound_is_an_invalid_request() {
        let mut g = Groups::new(config());
        // Exactly the bound, names included: taken.
        let mut fits = join_req("g", "");
        let metadata_bytes = MAX_MEMBER_PROTOCOLS_BYTES - "range".len();
        fits.protocols = vec![("range".into(), Bytes::from(vec![0u8; metadata_bytes]))];
        assert!(matches!(g.join(0, fits), Reply::Now(r) if r.error == ErrorCode::MemberIdRequired));
        // One byte more, over two protocols: refused, and nothing of it is kept.
        let mut over = join_req("big", "");
        over.protocols = vec![("range".into(), Bytes::from(vec![0u8; metadata_bytes])), ("x".into(), Bytes::new())];
        assert!(matches!(g.join(0, over), Reply::Now(r) if r.error == ErrorCode::InvalidRequest));
        assert!(g.group("big").is_none(), "a refused join creates no group");
        // Too many protocols, however small.
        let mut many = join_req("many", "");
        many.protocols = (0..=MAX_MEMBER_PROTOCOLS_COUNT).map(|i| (format!("p{i}"), Bytes::new())).collect();
        assert!(matches!(g.join(0, many.clone()), Reply::Now(r) if r.error == ErrorCode::InvalidRequest));
        many.protocols.pop();
        assert!(matches!(g.join(0, many), Reply::Now(r) if r.error == ErrorCode::MemberIdRequired));
    }
}
