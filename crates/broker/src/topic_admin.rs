//! Topic administration shared by CreateTopics, Metadata's auto-creation, CreatePartitions,
//! DeleteTopics and the config APIs: validation with Kafka's error codes, then the znodes in
//! keeper (`/brokers/topics/<topic>` with the replica assignment, `/config/topics/<topic>`).
//! Any broker may do this, as in ZooKeeper-era Kafka; the controller notices new partitions
//! and elects their leaders, and each broker creates or deletes its logs as it sees the
//! assignment change (`ReplicaManager::apply_view`).

use std::collections::BTreeMap;

use sluice_storage::LogConfig;
use sluice_storage::topic_partition::is_valid_topic_name;

use crate::broker::Broker;
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

/// Topic-level configs this broker implements: the log's, plus `min.insync.replicas`.
pub fn topic_config_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = LogConfig::KEYS.to_vec();
    keys.push("min.insync.replicas");
    keys.sort_unstable();
    keys
}

/// The effective value of a topic config key under `config`.
pub fn topic_config_value(
    broker: &Broker,
    config: &LogConfig,
    overrides: &BTreeMap<String, String>,
    key: &str,
) -> String {
    if let Some(v) = overrides.get(key) {
        return v.clone();
    }
    match key {
        "segment.bytes" => config.segment_bytes.to_string(),
        "segment.ms" => config.segment_ms.to_string(),
        "segment.index.bytes" => config.segment_index_bytes.to_string(),
        "index.interval.bytes" => config.index_interval_bytes.to_string(),
        "retention.ms" => config.retention_ms.to_string(),
        "retention.bytes" => config.retention_bytes.to_string(),
        "flush.messages" => config.flush_messages.to_string(),
        "flush.ms" => config.flush_ms.to_string(),
        "max.message.bytes" => config.max_message_bytes.to_string(),
        "delete.retention.ms" => config.delete_retention_ms.to_string(),
        "cleanup.policy" => match (config.cleanup_policy.delete, config.cleanup_policy.compact) {
            (true, true) => "compact,delete".into(),
            (false, true) => "compact".into(),
            _ => "delete".into(),
        },
        "min.insync.replicas" => broker.config.min_insync_replicas.to_string(),
        _ => String::new(),
    }
}

/// Validates topic config overrides; returns them as a map.
pub fn validate_configs(
    broker: &Broker,
    configs: &[(String, Option<String>)],
) -> AdminResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut probe = broker.config.log.clone();
    for (key, value) in configs {
        let Some(value) = value else {
            return Err((ErrorCode::InvalidConfig, format!("null value for config {key}")));
        };
        if key == "min.insync.replicas" {
            match value.trim().parse::<i32>() {
                Ok(n) if n >= 1 => {}
                _ => {
                    return Err((
                        ErrorCode::InvalidConfig,
                        format!("invalid value {value:?} for min.insync.replicas: must be at least 1"),
                    ));
                }
            }
        } else {
            probe.set(key, value).map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
        }
        out.insert(key.clone(), value.trim().to_string());
    }
    Ok(out)
}

/// A keeper failure as the client sees it.
fn keeper_error(e: sluice_keeper::ZkError) -> (ErrorCode, String) {
    (ErrorCode::RequestTimedOut, format!("the cluster metadata store did not answer: {e}"))
}

/// Creates a topic: `partitions`/`replication_factor` of -1 take the broker defaults. Waits up
/// to `wait_ms` for every partition to have a leader.
pub async fn create_topic(
    broker: &Broker,
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
    let partitions = if partitions == -1 { broker.config.num_partitions } else { partitions };
    if partitions <= 0 {
        return Err((
            ErrorCode::InvalidPartitions,
            format!("number of partitions must be at least 1, got {partitions}"),
        ));
    }
    let replication_factor =
        if replication_factor == -1 { broker.config.default_replication_factor } else { replication_factor };
    if replication_factor <= 0 {
        return Err((
            ErrorCode::InvalidReplicationFactor,
            format!("replication factor must be at least 1, got {replication_factor}"),
        ));
    }
    let live = broker.link.cache.read(|v| v.brokers.iter().map(|(id, r)| (*id, r.rack.clone())).collect::<Vec<_>>());
    let assignment = crate::cluster::assign_replicas(&live, partitions, replication_factor, 0, None)?;
    write_topic(broker, name, assignment, configs, validate_only, wait_ms).await
}

/// Creates a topic with the replicas given per partition (CreateTopics' `assignments`).
pub async fn create_topic_with_assignment(
    broker: &Broker,
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
    validate_assignment(broker, &assignment, 0)?;
    write_topic(broker, name, assignment, configs, validate_only, wait_ms).await
}

/// Checks an explicit assignment: partitions numbered from `first` without gaps, the same
/// number of distinct, live replicas each.
fn validate_assignment(broker: &Broker, assignment: &BTreeMap<i32, Vec<i32>>, first: i32) -> AdminResult<()> {
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
        if let Some(r) = replicas.iter().find(|r| !broker.link.cache.read(|v| v.is_live(**r))) {
            return bad(format!("partition {p}: broker {r} is not a live broker"));
        }
    }
    Ok(())
}

async fn write_topic(
    broker: &Broker,
    name: &str,
    assignment: BTreeMap<i32, Vec<i32>>,
    configs: &[(String, Option<String>)],
    validate_only: bool,
    wait_ms: u64,
) -> AdminResult<TopicMeta> {
    let partitions = assignment.len() as i32;
    let replication_factor = assignment.values().next().map_or(0, Vec::len) as i16;
    let overrides = validate_configs(broker, configs)?;
    broker.topic_log_config(&overrides).map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
    if broker.topic_meta(name).is_some() {
        return Err((ErrorCode::TopicAlreadyExists, format!("topic '{name}' already exists")));
    }
    let meta = TopicMeta { id: new_topic_id(), partitions, replication_factor, configs: overrides.clone() };
    if validate_only {
        return Ok(meta);
    }
    let paths = &broker.link.paths;
    let topic = TopicAssignment {
        version: 3,
        topic_id: Some(encode_topic_id(&meta.id)),
        partitions: assignment.iter().map(|(p, r)| (p.to_string(), r.clone())).collect(),
        adding_replicas: BTreeMap::new(),
        removing_replicas: BTreeMap::new(),
    };
    let config = TopicConfigZnode { version: 1, config: overrides };
    let client = broker.link.client().map_err(keeper_error)?;
    // The config first: brokers read it when they see the topic appear.
    match client
        .create(
            &paths.topic_config(name),
            &serde_json::to_vec(&config).expect("small struct"),
            sluice_keeper::CreateMode::Persistent,
        )
        .await
    {
        Ok(_) => {}
        Err(sluice_keeper::ZkError::NodeExists) => {
            client
                .set_data(&paths.topic_config(name), &serde_json::to_vec(&config).expect("small struct"), -1)
                .await
                .map_err(keeper_error)?;
        }
        Err(e) => return Err(keeper_error(e)),
    }
    match client
        .create(
            &paths.topic(name),
            &serde_json::to_vec(&topic).expect("small struct"),
            sluice_keeper::CreateMode::Persistent,
        )
        .await
    {
        Ok(_) => {}
        Err(sluice_keeper::ZkError::NodeExists) => {
            return Err((ErrorCode::TopicAlreadyExists, format!("topic '{name}' already exists")));
        }
        Err(e) => return Err(keeper_error(e)),
    }
    tracing::info!(topic = %name, partitions, replication_factor, ?assignment, "created topic");
    wait_for_leaders(broker, name, wait_ms.min(MAX_WAIT_FOR_LEADERS_MS)).await;
    Ok(meta)
}

/// Waits (bounded) until every partition of `topic` has a live leader in the metadata cache.
pub async fn wait_for_leaders(broker: &Broker, topic: &str, wait_ms: u64) {
    // Ready once every partition has a live leader, and those led here have taken the role
    // (so this client's next request to this broker finds it).
    let me = broker.config.broker_id;
    let ready = |b: &Broker| {
        let leaders: Option<Vec<(i32, i32)>> = b.link.cache.read(|v| {
            let t = v.topics.get(topic)?;
            t.assignment.keys().map(|&p| v.leader(topic, p).map(|l| (p, l))).collect()
        });
        leaders.is_some_and(|ls| {
            ls.iter().all(|&(p, l)| {
                l != me
                    || b.replica_manager
                        .partition(&sluice_storage::TopicPartition::new(topic, p))
                        .is_some_and(|p| p.is_leader())
            })
        })
    };
    broker.wait_until(wait_ms, || ready(broker)).await;
}

/// Deletes a topic: its znodes go, and every replica deletes its logs when it sees that.
pub async fn delete_topic(broker: &Broker, name: &str) -> AdminResult<()> {
    if !broker.config.delete_topic_enable {
        return Err((
            ErrorCode::TopicDeletionDisabled,
            "topic deletion is disabled (delete.topic.enable=false)".into(),
        ));
    }
    if broker.topic_meta(name).is_none() {
        return Err((ErrorCode::UnknownTopicOrPartition, format!("topic '{name}' does not exist")));
    }
    let paths = &broker.link.paths;
    let client = broker.link.client().map_err(keeper_error)?;
    // One atomic multi, so the controller (which creates missing partition states) cannot
    // slip a node in between; a concurrent change makes it fail, and it is tried again.
    let mut last = None;
    for _ in 0..MAX_DELETE_ATTEMPTS {
        let mut ops = Vec::new();
        match client.get_children(&paths.partitions(name)).await {
            Ok(parts) => {
                for p in parts.iter().filter_map(|p| p.parse::<i32>().ok()) {
                    if client.exists(&paths.partition_state(name, p)).await.map_err(keeper_error)?.is_some() {
                        ops.push(paths.partition_state(name, p));
                    }
                    ops.push(paths.partition(name, p));
                }
                ops.push(paths.partitions(name));
            }
            Err(sluice_keeper::ZkError::NoNode) => {}
            Err(e) => return Err(keeper_error(e)),
        }
        ops.push(paths.topic(name));
        if client.exists(&paths.topic_config(name)).await.map_err(keeper_error)?.is_some() {
            ops.push(paths.topic_config(name));
        }
        let ops: Vec<sluice_keeper::MultiOp> =
            ops.into_iter().map(|path| sluice_keeper::MultiOp::Delete { path, version: -1 }).collect();
        match client.multi(&ops).await {
            Ok(_) => {
                last = None;
                break;
            }
            Err(e @ (sluice_keeper::ZkError::NotEmpty | sluice_keeper::ZkError::NoNode)) => last = Some(e),
            Err(e) => return Err(keeper_error(e)),
        }
    }
    if let Some(e) = last {
        return Err(keeper_error(e));
    }
    // This broker's next answer should not still list the topic.
    broker.wait_until(READ_YOUR_WRITE_WAIT_MS, || broker.topic_meta(name).is_none()).await;
    tracing::info!(topic = %name, "deleted topic");
    Ok(())
}

/// Raises a topic's partition count to `count`.
pub async fn add_partitions(broker: &Broker, name: &str, count: i32, validate_only: bool) -> AdminResult<()> {
    let Some(view) = broker.link.cache.read(|v| v.topics.get(name).cloned()) else {
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
    let live = broker.link.cache.read(|v| v.brokers.iter().map(|(id, r)| (*id, r.rack.clone())).collect::<Vec<_>>());
    let added = crate::cluster::assign_replicas(&live, count - current, rf, current, None)?;
    if validate_only {
        return Ok(());
    }
    let mut partitions: BTreeMap<String, Vec<i32>> =
        view.assignment.iter().map(|(p, r)| (p.to_string(), r.clone())).collect();
    for (p, r) in added {
        partitions.insert(p.to_string(), r);
    }
    let topic = TopicAssignment {
        version: 3,
        topic_id: Some(encode_topic_id(&view.id)),
        partitions,
        adding_replicas: view.adding.iter().map(|(p, r)| (p.to_string(), r.clone())).collect(),
        removing_replicas: view.removing.iter().map(|(p, r)| (p.to_string(), r.clone())).collect(),
    };
    let client = broker.link.client().map_err(keeper_error)?;
    match client
        .set_data(&broker.link.paths.topic(name), &serde_json::to_vec(&topic).expect("small struct"), view.zk_version)
        .await
    {
        Ok(_) => {}
        Err(sluice_keeper::ZkError::BadVersion) => {
            return Err((ErrorCode::RequestTimedOut, format!("topic '{name}' changed concurrently; retry")));
        }
        Err(e) => return Err(keeper_error(e)),
    }
    tracing::info!(topic = %name, from = current, to = count, "added partitions");
    wait_for_leaders(broker, name, 5_000).await;
    Ok(())
}

/// Replaces a topic's config overrides (after validation); every broker applies them when it
/// sees `/config/topics/<topic>` change.
pub async fn set_topic_configs(
    broker: &Broker,
    name: &str,
    overrides: BTreeMap<String, String>,
    validate_only: bool,
) -> AdminResult<()> {
    if broker.topic_meta(name).is_none() {
        return Err((ErrorCode::UnknownTopicOrPartition, format!("topic '{name}' does not exist")));
    }
    let pairs: Vec<(String, Option<String>)> = overrides.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
    let overrides = validate_configs(broker, &pairs)?;
    broker.topic_log_config(&overrides).map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
    if validate_only {
        return Ok(());
    }
    let body = serde_json::to_vec(&TopicConfigZnode { version: 1, config: overrides.clone() }).expect("small struct");
    let client = broker.link.client().map_err(keeper_error)?;
    let path = broker.link.paths.topic_config(name);
    match client.set_data(&path, &body, -1).await {
        Ok(_) => {}
        Err(sluice_keeper::ZkError::NoNode) => {
            client.create(&path, &body, sluice_keeper::CreateMode::Persistent).await.map_err(keeper_error)?;
        }
        Err(e) => return Err(keeper_error(e)),
    }
    // Apply here at once, so this client reads its own change; the watch brings it to the rest.
    broker.wait_until(READ_YOUR_WRITE_WAIT_MS, || broker.topic_meta(name).is_none_or(|m| m.configs == overrides)).await;
    Ok(())
}
