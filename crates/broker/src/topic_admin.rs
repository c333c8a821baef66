//! Topic administration shared by CreateTopics, Metadata's auto-creation, CreatePartitions,
//! DeleteTopics and the config APIs: validation with Kafka's error codes, the registry update,
//! and the partitions' logs.

use std::collections::BTreeMap;

use sluice_storage::topic_partition::is_valid_topic_name;
use sluice_storage::{LogConfig, TopicPartition};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::topics::{TopicMeta, new_topic_id};

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

/// Creates a topic: `partitions`/`replication_factor` of -1 take the broker defaults.
pub fn create_topic(
    broker: &Broker,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, Option<String>)],
    validate_only: bool,
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
    if replication_factor > 1 {
        return Err((
            ErrorCode::InvalidReplicationFactor,
            format!("replication factor: {replication_factor} larger than available brokers: 1"),
        ));
    }
    let overrides = validate_configs(broker, configs)?;
    let log_config = broker.topic_log_config(&overrides).map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
    if broker.topics.get(name).is_some() {
        return Err((ErrorCode::TopicAlreadyExists, format!("topic '{name}' already exists")));
    }
    let meta = TopicMeta { id: new_topic_id(), partitions, configs: overrides };
    if validate_only {
        return Ok(meta);
    }
    let inserted = broker
        .topics
        .update(|topics| {
            if topics.contains_key(name) {
                false
            } else {
                topics.insert(name.to_string(), meta.clone());
                true
            }
        })
        .map_err(|e| (ErrorCode::KafkaStorageError, e.to_string()))?;
    if !inserted {
        return Err((ErrorCode::TopicAlreadyExists, format!("topic '{name}' already exists")));
    }
    for p in 0..partitions {
        broker
            .replica_manager
            .create_partition(&TopicPartition::new(name, p), log_config.clone())
            .map_err(|e| (ErrorCode::KafkaStorageError, e.to_string()))?;
    }
    tracing::info!(topic = %name, partitions, "created topic");
    Ok(meta)
}

/// Deletes a topic and its logs.
pub fn delete_topic(broker: &Broker, name: &str) -> AdminResult<()> {
    if !broker.config.delete_topic_enable {
        return Err((
            ErrorCode::TopicDeletionDisabled,
            "topic deletion is disabled (delete.topic.enable=false)".into(),
        ));
    }
    let Some(meta) = broker.topics.get(name) else {
        return Err((ErrorCode::UnknownTopicOrPartition, format!("topic '{name}' does not exist")));
    };
    broker.topics.update(|topics| topics.remove(name)).map_err(|e| (ErrorCode::KafkaStorageError, e.to_string()))?;
    for p in 0..meta.partitions {
        if let Err(e) = broker.replica_manager.delete_partition(&TopicPartition::new(name, p)) {
            tracing::error!(topic = %name, partition = p, error = %e, "deleting partition log failed");
        }
    }
    tracing::info!(topic = %name, "deleted topic");
    Ok(())
}

/// Raises a topic's partition count to `count`.
pub fn add_partitions(broker: &Broker, name: &str, count: i32, validate_only: bool) -> AdminResult<()> {
    let Some(meta) = broker.topics.get(name) else {
        return Err((ErrorCode::UnknownTopicOrPartition, format!("topic '{name}' does not exist")));
    };
    if count <= meta.partitions {
        return Err((
            ErrorCode::InvalidPartitions,
            format!("topic '{name}' has {} partitions; the new count must be larger, got {count}", meta.partitions),
        ));
    }
    if validate_only {
        return Ok(());
    }
    let log_config = broker.topic_log_config(&meta.configs).map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
    broker
        .topics
        .update(|topics| {
            if let Some(t) = topics.get_mut(name) {
                t.partitions = count;
            }
        })
        .map_err(|e| (ErrorCode::KafkaStorageError, e.to_string()))?;
    for p in meta.partitions..count {
        broker
            .replica_manager
            .create_partition(&TopicPartition::new(name, p), log_config.clone())
            .map_err(|e| (ErrorCode::KafkaStorageError, e.to_string()))?;
    }
    tracing::info!(topic = %name, from = meta.partitions, to = count, "added partitions");
    Ok(())
}

/// Replaces a topic's config overrides (after validation) and applies them to its logs.
pub fn set_topic_configs(
    broker: &Broker,
    name: &str,
    overrides: BTreeMap<String, String>,
    validate_only: bool,
) -> AdminResult<()> {
    if broker.topics.get(name).is_none() {
        return Err((ErrorCode::UnknownTopicOrPartition, format!("topic '{name}' does not exist")));
    }
    let pairs: Vec<(String, Option<String>)> = overrides.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
    let overrides = validate_configs(broker, &pairs)?;
    let log_config = broker.topic_log_config(&overrides).map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
    if validate_only {
        return Ok(());
    }
    broker
        .topics
        .update(|topics| {
            if let Some(t) = topics.get_mut(name) {
                t.configs = overrides;
            }
        })
        .map_err(|e| (ErrorCode::KafkaStorageError, e.to_string()))?;
    broker.replica_manager.update_config(name, &log_config);
    Ok(())
}
