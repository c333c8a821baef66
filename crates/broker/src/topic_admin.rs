//! Topic administration shared by CreateTopics, Metadata's auto-creation, CreatePartitions,
//! DeleteTopics and the config APIs: validation with Kafka's error codes, then the znodes in
//! keeper (`/brokers/topics/<topic>` with the replica assignment, `/config/topics/<topic>`).
//! Any broker may do this, as in ZooKeeper-era Kafka; the controller notices new partitions
//! and elects their leaders, and each broker creates or deletes its logs as it sees the
//! assignment change (`ReplicaManager::apply_view`).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use sluice_storage::config::canonical_value;
use sluice_storage::topic_partition::is_valid_topic_name;
use sluice_storage::{LogConfig, StorageError};

use crate::broker::DynamicConfigs;
use crate::cluster::cache::TopicView;
use crate::cluster::handle::ClusterHandle;
use crate::cluster::znodes::{TopicAssignment, TopicConfigZnode, encode_topic_id};
use crate::error::ErrorCode;
use crate::topics::{TopicMeta, new_topic_id};

/// How long a CreateTopics or auto-creation waits at most for the new partitions' leaders.
const MAX_WAIT_FOR_LEADERS_MS: u64 = 30_000;
/// How long an admin change waits to show in this broker's own metadata cache.
const READ_YOUR_WRITE_WAIT_MS: u64 = 5_000;
/// Attempts at the atomic delete of a topic's znodes before giving up.
const MAX_DELETE_ATTEMPTS: usize = 5;

pub type AdminResult<T> = Result<T, (ErrorCode, String)>;

/// What the topic admin paths may touch: the cluster (keeper and the metadata cache, to write
/// and then see a change; the local replicas, to wait for leaders), the topic defaults a new
/// topic's configs are checked against, and the static configs they apply. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TopicAdmin {
    pub cluster: ClusterHandle,
    /// The broker configs changed at run time, with the topic defaults they make.
    pub dynamic: Arc<RwLock<DynamicConfigs>>,
    /// `num.partitions`: the partitions of a topic created without a count.
    pub num_partitions: i32,
    /// `default.replication.factor`: the replicas of a topic created without a factor.
    pub default_replication_factor: i16,
    /// `delete.topic.enable`.
    pub delete_topic_enable: bool,
    /// Clients' `controller_mutation_rate` buckets (KIP-599).
    pub mutations: Arc<crate::quota::MutationQuotas>,
}

impl TopicAdmin {
    /// The mutation quota of the client sending `ctx` (strict from the request versions that
    /// know THROTTLING_QUOTA_EXCEEDED).
    pub fn mutation_quota(
        &self,
        ctx: &crate::api::RequestContext<'_>,
        strict: bool,
    ) -> crate::quota::MutationQuota<'_> {
        self.cluster
            .link
            .cache
            .read(|v| self.mutations.of(&v.quotas, &ctx.session.principal, ctx.header.client_id.as_deref(), strict))
    }
}

impl TopicAdmin {
    /// Every topic's defaults (static broker config, with dynamic broker configs over it).
    pub fn default_log_config(&self) -> LogConfig {
        self.dynamic.read().log_defaults.clone()
    }

    /// The log config of a topic: broker defaults with the topic's overrides applied.
    pub fn topic_log_config(&self, overrides: &BTreeMap<String, String>) -> Result<LogConfig, StorageError> {
        let mut config = self.default_log_config();
        for (k, v) in overrides {
            config.set(k, v)?;
        }
        Ok(config)
    }
}

/// Validates topic config overrides (every topic config Kafka 3.x has; see
/// `sluice_storage::config::TOPIC_CONFIGS`); returns them as a map.
pub fn validate_configs(configs: &[(String, Option<String>)]) -> AdminResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (key, value) in configs {
        let Some(value) = value else {
            return Err((ErrorCode::InvalidConfig, format!("null value for config {key}")));
        };
        // Stored as Kafka prints the parsed value (`1.0`, `true`, `compact,delete`).
        let value = canonical_value(key, value).map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
        out.insert(key.clone(), value);
    }
    Ok(out)
}

/// A keeper failure as the client sees it.
pub(crate) fn keeper_error(e: sluice_keeper::ZkError) -> (ErrorCode, String) {
    (ErrorCode::RequestTimedOut, format!("the cluster metadata store did not answer: {e}"))
}

/// Creates a topic: `partitions`/`replication_factor` of -1 take the broker defaults. Waits up
/// to `wait_ms` for every partition to have a leader.
pub async fn create_topic(
    admin: &TopicAdmin,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, Option<String>)],
    validate_only: bool,
    wait_ms: u64,
) -> AdminResult<TopicMeta> {
    if !is_valid_topic_name(name) {
        return Err((
            ErrorCode::InvalidTopicException,
            format!("topic name {name:?} is illegal: use 1-249 of ASCII letters, digits, '.', '_' and '-'"),
        ));
    }
    let partitions = if partitions == -1 { admin.num_partitions } else { partitions };
    if partitions <= 0 {
        return Err((
            ErrorCode::InvalidPartitions,
            format!("number of partitions must be at least 1, got {partitions}"),
        ));
    }
    let replication_factor =
        if replication_factor == -1 { admin.default_replication_factor } else { replication_factor };
    if replication_factor <= 0 {
        return Err((
            ErrorCode::InvalidReplicationFactor,
            format!("replication factor must be at least 1, got {replication_factor}"),
        ));
    }
    let live =
        admin.cluster.link.cache.read(|v| v.brokers.iter().map(|(id, r)| (*id, r.rack.clone())).collect::<Vec<_>>());
    let assignment = crate::cluster::assign_replicas(&live, partitions, replication_factor, 0, None)?;
    write_topic(admin, name, assignment, configs, validate_only, wait_ms).await
}

/// Creates a topic with the replicas given per partition (CreateTopics' `assignments`).
pub async fn create_topic_with_assignment(
    admin: &TopicAdmin,
    name: &str,
    assignment: BTreeMap<i32, Vec<i32>>,
    configs: &[(String, Option<String>)],
    validate_only: bool,
    wait_ms: u64,
) -> AdminResult<TopicMeta> {
    if !is_valid_topic_name(name) {
        return Err((
            ErrorCode::InvalidTopicException,
            format!("topic name {name:?} is illegal: use 1-249 of ASCII letters, digits, '.', '_' and '-'"),
        ));
    }
    validate_assignment(admin, &assignment, 0)?;
    write_topic(admin, name, assignment, configs, validate_only, wait_ms).await
}

/// Checks an explicit assignment: partitions numbered from `first` without gaps, the same
/// number of distinct, live replicas each.
fn validate_assignment(admin: &TopicAdmin, assignment: &BTreeMap<i32, Vec<i32>>, first: i32) -> AdminResult<()> {
    let bad = |why: String| Err((ErrorCode::InvalidReplicaAssignment, why));
    if assignment.keys().copied().ne(first..first + assignment.len() as i32) {
        return bad(format!("partitions must be numbered consecutively from {first}"));
    }
    let rf = assignment.values().next().map_or(0, Vec::len);
    for (p, replicas) in assignment {
        let mut distinct = replicas.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if replicas.is_empty() || distinct.len() != replicas.len() || replicas.len() != rf {
            return bad(format!("partition {p}: replicas {replicas:?} must be {rf} distinct brokers"));
        }
        if let Some(r) = replicas.iter().find(|r| !admin.cluster.link.cache.read(|v| v.is_live(**r))) {
            return bad(format!("partition {p}: broker {r} is not a live broker"));
        }
    }
    Ok(())
}

async fn write_topic(
    admin: &TopicAdmin,
    name: &str,
    assignment: BTreeMap<i32, Vec<i32>>,
    configs: &[(String, Option<String>)],
    validate_only: bool,
    wait_ms: u64,
) -> AdminResult<TopicMeta> {
    let partitions = assignment.len() as i32;
    let replication_factor = assignment.values().next().map_or(0, Vec::len) as i16;
    let overrides = validate_configs(configs)?;
    admin
        .topic_log_config(&overrides)
        .and_then(|c| c.validate_values())
        .map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
    if admin.cluster.topic_meta(name).is_some() {
        return Err((ErrorCode::TopicAlreadyExists, format!("topic '{name}' already exists")));
    }
    let meta = TopicMeta { id: new_topic_id(), partitions, replication_factor, configs: overrides.clone() };
    if validate_only {
        return Ok(meta);
    }
    let paths = &admin.cluster.link.paths;
    let topic = TopicAssignment {
        version: 3,
        topic_id: Some(encode_topic_id(&meta.id)),
        partitions: assignment.iter().map(|(p, r)| (p.to_string(), r.clone())).collect(),
        adding_replicas: BTreeMap::new(),
        removing_replicas: BTreeMap::new(),
    };
    let config = TopicConfigZnode { version: 1, config: overrides };
    // The config first: brokers read it when they see the topic appear.
    write_topic_config(admin, &paths.topic_config(name), &config).await?;
    let body = serde_json::to_vec(&topic).expect("small struct");
    let path = paths.topic(name);
    let created = admin
        .cluster
        .link
        .retrying(|client| {
            let (path, body, id) = (&path, &body, &topic.topic_id);
            async move {
                match client.create(path, body, sluice_keeper::CreateMode::Persistent).await {
                    Ok(_) => Ok(true),
                    // Ours, if an attempt whose answer was lost had landed (the id is new).
                    Err(sluice_keeper::ZkError::NodeExists) => {
                        let (data, _) = client.get_data(path).await?;
                        let existing: Option<TopicAssignment> = serde_json::from_slice(&data).ok();
                        Ok(existing.is_some_and(|t| &t.topic_id == id))
                    }
                    Err(e) => Err(e),
                }
            }
        })
        .await
        .map_err(keeper_error)?;
    if !created {
        return Err((ErrorCode::TopicAlreadyExists, format!("topic '{name}' already exists")));
    }
    tracing::info!(topic = %name, partitions, replication_factor, ?assignment, "created topic");
    wait_for_leaders(admin, name, partitions, wait_ms.min(MAX_WAIT_FOR_LEADERS_MS)).await;
    Ok(meta)
}

/// How often a config znode's read-modify-write is tried while other writers change it in between.
const CONFIG_UPDATE_ATTEMPTS: usize = 10;

/// Changes the entries of a config znode (`{"version":1,"config":{...}}`) with `edit`, in one
/// compare-and-set write, retried (bounded) while another writer changes the znode in between;
/// a missing znode is created, with `parents`. `edit` sees the entries as stored (empty for no
/// znode) and may refuse. Returns the entries written.
pub(crate) async fn update_config_znode(
    link: &crate::cluster::link::KeeperLink,
    path: &str,
    parents: &[String],
    mut edit: impl FnMut(&mut BTreeMap<String, String>) -> AdminResult<()>,
) -> AdminResult<BTreeMap<String, String>> {
    use sluice_keeper::{CreateMode, ZkError};
    for _ in 0..CONFIG_UPDATE_ATTEMPTS {
        let read = link
            .retrying(|client| async move {
                match client.get_data(path).await {
                    Ok((data, stat)) => Ok(Some((data, stat.version))),
                    Err(ZkError::NoNode) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(keeper_error)?;
        let (mut config, version) = match read {
            Some((data, version)) => {
                (serde_json::from_slice::<TopicConfigZnode>(&data).map(|z| z.config).unwrap_or_default(), Some(version))
            }
            None => (BTreeMap::new(), None),
        };
        edit(&mut config)?;
        let body = serde_json::to_vec(&TopicConfigZnode { version: 1, config: config.clone() }).expect("small struct");
        let written = link
            .retrying(|client| {
                let body = &body;
                async move {
                    match version {
                        Some(v) => client.set_data(path, body, v).await.map(|_| ()),
                        None => {
                            for parent in parents {
                                crate::cluster::link::ensure_node(&client, parent, b"").await?;
                            }
                            client.create(path, body, CreateMode::Persistent).await.map(|_| ())
                        }
                    }
                }
            })
            .await;
        match written {
            Ok(()) => return Ok(config),
            Err(ZkError::BadVersion | ZkError::NodeExists | ZkError::NoNode) => continue,
            Err(e) => return Err(keeper_error(e)),
        }
    }
    Err((ErrorCode::RequestTimedOut, format!("{path} kept changing; retry")))
}

/// Writes `/config/topics/<topic>`, whether or not it exists yet (unconditionally, so safe to
/// repeat after a lost connection).
pub(crate) async fn write_topic_config(admin: &TopicAdmin, path: &str, config: &TopicConfigZnode) -> AdminResult<()> {
    let body = serde_json::to_vec(config).expect("small struct");
    admin
        .cluster
        .link
        .retrying(|client| {
            let body = &body;
            async move {
                match client.set_data(path, body, -1).await {
                    Err(sluice_keeper::ZkError::NoNode) => {
                        match client.create(path, body, sluice_keeper::CreateMode::Persistent).await {
                            // Created meanwhile by another writer: ours still goes on top.
                            Err(sluice_keeper::ZkError::NodeExists) => {
                                client.set_data(path, body, -1).await.map(|_| ())
                            }
                            other => other.map(|_| ()),
                        }
                    }
                    other => other.map(|_| ()),
                }
            }
        })
        .await
        .map_err(keeper_error)
}

/// Waits (bounded) until the metadata cache shows `topic` with `partitions` partitions, each
/// with a live leader.
pub async fn wait_for_leaders(admin: &TopicAdmin, topic: &str, partitions: i32, wait_ms: u64) {
    // Ready once every partition has a live leader, and those led here have taken the role
    // (so this client's next request to this broker finds it).
    let me = admin.cluster.broker_id;
    let ready = || {
        let leaders: Option<Vec<(i32, i32)>> = admin.cluster.link.cache.read(|v| {
            let t = v.topics.get(topic).filter(|t| t.partition_count() >= partitions)?;
            t.assignment.keys().map(|&p| v.leader(topic, p).map(|l| (p, l))).collect()
        });
        leaders.is_some_and(|ls| {
            ls.iter().all(|&(p, l)| l != me || admin.cluster.leads(&sluice_storage::TopicPartition::new(topic, p)))
        })
    };
    admin.cluster.wait_until(wait_ms, ready).await;
}

/// Deletes a topic: its znodes go, and every replica deletes its logs when it sees that.
pub async fn delete_topic(admin: &TopicAdmin, name: &str) -> AdminResult<()> {
    if !admin.delete_topic_enable {
        return Err((
            ErrorCode::TopicDeletionDisabled,
            "topic deletion is disabled (delete.topic.enable=false)".into(),
        ));
    }
    if admin.cluster.topic_meta(name).is_none() {
        return Err((ErrorCode::UnknownTopicOrPartition, format!("topic '{name}' does not exist")));
    }
    let paths = &admin.cluster.link.paths;
    // One atomic multi, so the controller (which creates missing partition states) cannot
    // slip a node in between; a concurrent change makes it fail, and it is tried again.
    let unfinished = admin
        .cluster
        .link
        .retrying(|client| async move {
            let mut last = None;
            for _ in 0..MAX_DELETE_ATTEMPTS {
                // Gone already: deleted by an attempt whose answer was lost.
                if client.exists(&paths.topic(name)).await?.is_none() {
                    return Ok(None);
                }
                let mut ops = Vec::new();
                match client.get_children(&paths.partitions(name)).await {
                    Ok(parts) => {
                        for p in parts.iter().filter_map(|p| p.parse::<i32>().ok()) {
                            if client.exists(&paths.partition_state(name, p)).await?.is_some() {
                                ops.push(paths.partition_state(name, p));
                            }
                            ops.push(paths.partition(name, p));
                        }
                        ops.push(paths.partitions(name));
                    }
                    Err(sluice_keeper::ZkError::NoNode) => {}
                    Err(e) => return Err(e),
                }
                ops.push(paths.topic(name));
                if client.exists(&paths.topic_config(name)).await?.is_some() {
                    ops.push(paths.topic_config(name));
                }
                let ops: Vec<sluice_keeper::MultiOp> =
                    ops.into_iter().map(|path| sluice_keeper::MultiOp::Delete { path, version: -1 }).collect();
                match client.multi(&ops).await {
                    Ok(_) => return Ok(None),
                    Err(e @ (sluice_keeper::ZkError::NotEmpty | sluice_keeper::ZkError::NoNode)) => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
            Ok(last)
        })
        .await
        .map_err(keeper_error)?;
    if let Some(e) = unfinished {
        return Err(keeper_error(e));
    }
    // This broker's next answer should not still list the topic.
    admin.cluster.wait_until(READ_YOUR_WRITE_WAIT_MS, || admin.cluster.topic_meta(name).is_none()).await;
    tracing::info!(topic = %name, "deleted topic");
    Ok(())
}

/// Raises a topic's partition count to `count`; `assignments` (one replica list per new
/// partition) places them explicitly, otherwise the cluster spreads them.
pub async fn add_partitions(
    admin: &TopicAdmin,
    name: &str,
    count: i32,
    assignments: Option<Vec<Vec<i32>>>,
    validate_only: bool,
) -> AdminResult<()> {
    let Some(view) = admin.cluster.link.cache.read(|v| v.topics.get(name).cloned()) else {
        return Err((ErrorCode::UnknownTopicOrPartition, format!("topic '{name}' does not exist")));
    };
    let current = view.partition_count();
    if count <= current {
        return Err((
            ErrorCode::InvalidPartitions,
            format!("topic '{name}' has {current} partitions; the new count must be larger, got {count}"),
        ));
    }
    let rf = view.assignment.values().next().map_or(1, |r| r.len()) as i16;
    let live =
        admin.cluster.link.cache.read(|v| v.brokers.iter().map(|(id, r)| (*id, r.rack.clone())).collect::<Vec<_>>());
    let added = match assignments {
        None => crate::cluster::assign_replicas(&live, count - current, rf, current, None)?,
        Some(lists) => {
            if lists.len() as i32 != count - current {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!("{} assignments given for {} new partitions", lists.len(), count - current),
                ));
            }
            let added: BTreeMap<i32, Vec<i32>> = (current..).zip(lists).collect();
            validate_assignment(admin, &added, current)?;
            if let Some((p, r)) = added.iter().find(|(_, r)| r.len() != rf as usize) {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!("partition {p}: {} replicas given; the topic's replication factor is {rf}", r.len()),
                ));
            }
            added
        }
    };
    if validate_only {
        return Ok(());
    }
    let mut grown = view.clone();
    grown.assignment.extend(added);
    let topic = grown.to_znode();
    let body = serde_json::to_vec(&topic).expect("small struct");
    let path = admin.cluster.link.paths.topic(name);
    let mut attempts = 0;
    let written = admin
        .cluster
        .link
        .retrying(|client| {
            attempts += 1;
            let (path, body, topic, first) = (&path, &body, &topic, attempts == 1);
            async move {
                match client.set_data(path, body, view.zk_version).await {
                    Ok(_) => Ok(true),
                    // After a lost answer, the write may be ours: the znode then says what we wrote.
                    Err(sluice_keeper::ZkError::BadVersion) if !first => {
                        let (data, _) = client.get_data(path).await?;
                        Ok(serde_json::from_slice::<TopicAssignment>(&data).ok().as_ref() == Some(topic))
                    }
                    Err(sluice_keeper::ZkError::BadVersion) => Ok(false),
                    Err(e) => Err(e),
                }
            }
        })
        .await
        .map_err(keeper_error)?;
    if !written {
        return Err((ErrorCode::RequestTimedOut, format!("topic '{name}' changed concurrently; retry")));
    }
    tracing::info!(topic = %name, from = current, to = count, "added partitions");
    wait_for_leaders(admin, name, count, 5_000).await;
    Ok(())
}

/// Replaces a topic's config overrides (after validation); every broker applies them when it
/// sees `/config/topics/<topic>` change.
pub async fn set_topic_configs(
    admin: &TopicAdmin,
    name: &str,
    overrides: BTreeMap<String, String>,
    validate_only: bool,
) -> AdminResult<()> {
    if admin.cluster.topic_meta(name).is_none() {
        return Err((ErrorCode::UnknownTopicOrPartition, format!("topic '{name}' does not exist")));
    }
    let pairs: Vec<(String, Option<String>)> = overrides.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
    let overrides = validate_configs(&pairs)?;
    admin
        .topic_log_config(&overrides)
        .and_then(|c| c.validate_values())
        .map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
    if validate_only {
        return Ok(());
    }
    let config = TopicConfigZnode { version: 1, config: overrides.clone() };
    write_topic_config(admin, &admin.cluster.link.paths.topic_config(name), &config).await?;
    // Apply here at once, so this client reads its own change; the watch brings it to the rest.
    admin
        .cluster
        .wait_until(READ_YOUR_WRITE_WAIT_MS, || admin.cluster.topic_meta(name).is_none_or(|m| m.configs == overrides))
        .await;
    Ok(())
}

/// One partition's requested move (AlterPartitionReassignments): its target replicas, or
/// `None` to cancel the reassignment in progress.
pub type PartitionMove = (i32, Option<Vec<i32>>);

/// Starts (or cancels) reassignments of a topic's partitions: the topic znode then lists every
/// replica, old and new, with those being added and removed (KIP-455), and the controller
/// completes each move once its target replicas are in sync. Answers per partition; the
/// partitions that pass validation are written together, with compare-and-set.
pub async fn reassign_partitions(
    admin: &TopicAdmin,
    name: &str,
    moves: &[PartitionMove],
) -> Vec<(i32, AdminResult<()>)> {
    let mut last_error = None;
    for _ in 0..MAX_REASSIGN_ATTEMPTS {
        let Some(view) = admin.cluster.link.cache.read(|v| v.topics.get(name).cloned()) else {
            let missing = (ErrorCode::UnknownTopicOrPartition, format!("topic '{name}' does not exist"));
            return moves.iter().map(|(p, _)| (*p, Err(missing.clone()))).collect();
        };
        let mut next = view.clone();
        let results: Vec<(i32, AdminResult<()>)> = moves
            .iter()
            .map(|(p, target)| {
                let registered = |r: i32| admin.cluster.link.cache.read(|v| v.is_live(r));
                (*p, plan_move(&mut next, *p, target.as_deref(), registered))
            })
            .collect();
        if next == view {
            return results;
        }
        let client = match admin.cluster.link.client() {
            Ok(client) => client,
            Err(e) => return fail_all(moves, keeper_error(e)),
        };
        let body = serde_json::to_vec(&next.to_znode()).expect("small struct");
        match client.set_data(&admin.cluster.link.paths.topic(name), &body, view.zk_version).await {
            Ok(_) => {
                for (p, target) in moves {
                    tracing::info!(topic = %name, partition = p, target = ?target, "reassignment requested");
                }
                // This broker's next answer (ListPartitionReassignments, Metadata) shows it.
                admin
                    .cluster
                    .wait_until(READ_YOUR_WRITE_WAIT_MS, || {
                        admin
                            .cluster
                            .link
                            .cache
                            .read(|v| v.topics.get(name).is_none_or(|t| t.zk_version != view.zk_version))
                    })
                    .await;
                return results;
            }
            // The topic changed under us (the controller finishing another move), or the
            // answer was lost with the connection (the write may have landed): re-plan on the
            // newer view, where a landed write leaves nothing to do.
            Err(sluice_keeper::ZkError::BadVersion | sluice_keeper::ZkError::ConnectionLoss) => {
                admin
                    .cluster
                    .wait_until(READ_YOUR_WRITE_WAIT_MS, || {
                        admin
                            .cluster
                            .link
                            .cache
                            .read(|v| v.topics.get(name).is_none_or(|t| t.zk_version != view.zk_version))
                    })
                    .await;
                last_error = Some((ErrorCode::RequestTimedOut, format!("topic '{name}' kept changing; retry")));
            }
            Err(e) => return fail_all(moves, keeper_error(e)),
        }
    }
    fail_all(moves, last_error.expect("set after a failed attempt"))
}

const MAX_REASSIGN_ATTEMPTS: usize = 5;

fn fail_all(moves: &[PartitionMove], error: (ErrorCode, String)) -> Vec<(i32, AdminResult<()>)> {
    moves.iter().map(|(p, _)| (*p, Err(error.clone()))).collect()
}

/// Applies one move to `topic` (pure, for tests). The replica set becomes the target followed
/// by the original replicas not in it (Kafka's order, so the target's first replica is the
/// preferred leader); a new move replaces one in progress, measured from the original
/// replicas; cancelling returns to them.
fn plan_move(
    topic: &mut TopicView,
    p: i32,
    target: Option<&[i32]>,
    registered: impl Fn(i32) -> bool,
) -> AdminResult<()> {
    if !topic.assignment.contains_key(&p) {
        return Err((ErrorCode::UnknownTopicOrPartition, format!("partition {p} does not exist")));
    }
    let adding = topic.adding.get(&p).cloned().unwrap_or_default();
    let original: Vec<i32> = topic.all_replicas(p).into_iter().filter(|r| !adding.contains(r)).collect();
    let target = match target {
        None if topic.reassignment_target(p).is_none() => {
            return Err((ErrorCode::NoReassignmentInProgress, format!("partition {p} is not being reassigned")));
        }
        None => original.clone(),
        Some(target) => {
            let mut distinct = target.to_vec();
            distinct.sort_unstable();
            distinct.dedup();
            if target.is_empty() || distinct.len() != target.len() {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!("partition {p}: the replicas {target:?} must be one or more distinct brokers"),
                ));
            }
            if let Some(r) = target.iter().find(|r| !registered(**r)) {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!("partition {p}: broker {r} is not a registered broker"),
                ));
            }
            target.to_vec()
        }
    };
    let added: Vec<i32> = target.iter().copied().filter(|r| !original.contains(r)).collect();
    let removed: Vec<i32> = original.iter().copied().filter(|r| !target.contains(r)).collect();
    let mut replicas = target.clone();
    replicas.extend(removed.iter().copied());
    topic.assignment.insert(p, replicas);
    for (map, list) in [(&mut topic.adding, added), (&mut topic.removing, removed)] {
        if list.is_empty() {
            map.remove(&p);
        } else {
            map.insert(p, list);
        }
    }
    Ok(())
}

/// A partition being reassigned: every replica, and those being added and removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovingPartition {
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// The reassignments in progress, by topic. `only` limits the answer to the given partitions
/// of the given topics.
pub fn list_reassignments(
    admin: &TopicAdmin,
    only: Option<&BTreeMap<String, Vec<i32>>>,
) -> BTreeMap<String, Vec<MovingPartition>> {
    admin.cluster.link.cache.read(|v| {
        let mut out = BTreeMap::new();
        for (name, topic) in &v.topics {
            let wanted = only.map(|o| o.get(name));
            if wanted == Some(None) {
                continue;
            }
            let moving: Vec<_> = topic
                .assignment
                .keys()
                .filter(|p| wanted.flatten().is_none_or(|ps| ps.contains(p)))
                .filter(|&&p| topic.reassignment_target(p).is_some())
                .map(|&p| {
                    let list = |m: &BTreeMap<i32, Vec<i32>>| m.get(&p).cloned().unwrap_or_default();
                    MovingPartition {
                        partition: p,
                        replicas: topic.all_replicas(p),
                        adding: list(&topic.adding),
                        removing: list(&topic.removing),
                    }
                })
                .collect();
            if !moving.is_empty() {
                out.insert(name.clone(), moving);
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(replicas: &[i32]) -> TopicView {
        TopicView { assignment: BTreeMap::from([(0, replicas.to_vec())]), ..TopicView::default() }
    }

    #[test]
    fn a_move_lists_target_then_old_replicas_with_the_added_and_removed() {
        let mut t = topic(&[1, 2, 3]);
        plan_move(&mut t, 0, Some(&[2, 3, 4]), |_| true).expect("valid");
        assert_eq!(t.assignment[&0], vec![2, 3, 4, 1]);
        assert_eq!((t.adding[&0].clone(), t.removing[&0].clone()), (vec![4], vec![1]));
        assert_eq!(t.reassignment_target(0), Some(vec![2, 3, 4]));
    }

    #[test]
    fn a_new_move_replaces_the_one_in_progress_and_cancel_restores_the_original() {
        let mut t = topic(&[1, 2, 3]);
        plan_move(&mut t, 0, Some(&[2, 3, 4]), |_| true).expect("valid");
        plan_move(&mut t, 0, Some(&[1, 2, 5]), |_| true).expect("valid");
        assert_eq!(t.assignment[&0], vec![1, 2, 5, 3], "4 is no longer being added");
        assert_eq!((t.adding[&0].clone(), t.removing[&0].clone()), (vec![5], vec![3]));
        plan_move(&mut t, 0, None, |_| true).expect("cancel");
        assert_eq!(t.assignment[&0], vec![1, 2, 3]);
        assert!(t.adding.is_empty() && t.removing.is_empty() && t.reassignment_target(0).is_none());
        let err = plan_move(&mut t, 0, None, |_| true).expect_err("nothing to cancel");
        assert_eq!(err.0, ErrorCode::NoReassignmentInProgress);
    }

    #[test]
    fn bad_targets_are_refused_with_kafka_codes() {
        let mut t = topic(&[1, 2, 3]);
        for bad in [&[][..], &[1, 1][..]] {
            assert_eq!(
                plan_move(&mut t, 0, Some(bad), |_| true).expect_err("bad").0,
                ErrorCode::InvalidReplicaAssignment
            );
        }
        let unknown = plan_move(&mut t, 0, Some(&[1, 9]), |r| r != 9).expect_err("broker 9 unknown");
        assert_eq!(unknown.0, ErrorCode::InvalidReplicaAssignment);
        assert_eq!(
            plan_move(&mut t, 7, Some(&[1]), |_| true).expect_err("no partition 7").0,
            ErrorCode::UnknownTopicOrPartition
        );
        assert_eq!(t, topic(&[1, 2, 3]), "nothing changed");
    }

    #[test]
    fn reordering_alone_changes_the_preferred_leader_without_a_reassignment() {
        let mut t = topic(&[1, 2, 3]);
        plan_move(&mut t, 0, Some(&[3, 1, 2]), |_| true).expect("valid");
        assert_eq!(t.assignment[&0], vec![3, 1, 2]);
        assert_eq!(t.reassignment_target(0), None);
    }
}
