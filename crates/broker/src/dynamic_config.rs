//! Broker configs changed at run time (Kafka's dynamic broker configuration): AlterConfigs and
//! IncrementalAlterConfigs on a BROKER resource write `/config/brokers/<id>` (this broker) or
//! `/config/brokers/<default>` (every broker; the resource's empty name), every broker watches
//! both, and applies them over its static config without a restart. Precedence, most specific
//! first: dynamic for this broker, dynamic cluster default, static (file, `--override`,
//! environment), Kafka's default.
//!
//! What can change at run time: every broker key that sets a topic config's default (the
//! `log.*` keys, `message.max.bytes`, `min.insync.replicas`, `compression.type`,
//! `unclean.leader.election.enable`, ...; Kafka's `DynamicLogConfig`). Each topic's logs pick up
//! a new default at once unless the topic overrides it; and `max.connections` (a lowered limit
//! takes slots back as connections end). Other known broker keys are read-only: changing one is
//! INVALID_REQUEST, as in Kafka ("cannot be updated dynamically"), and so is a bad value (Kafka
//! 3.2+ answers INVALID_REQUEST for a broker config its ConfigDef refuses). A key no broker
//! config has is stored and described as Kafka stores custom configs (for plugins), changing
//! nothing here.

use std::collections::BTreeMap;

use sluice_storage::LogConfig;
use sluice_storage::config::{BrokerDefaultError, TOPIC_CONFIGS, TopicConfigDef, Unit};

use crate::broker::{Broker, DynamicConfigs};
use crate::cluster::cache::ClusterView;
use crate::cluster::znodes::{DEFAULT_BROKER_ENTITY, TopicConfigZnode};
use crate::error::ErrorCode;
use crate::topic_admin::{self, AdminResult, TopicAdmin};

/// How long an alteration waits to show in this broker's own view, so the client reads its
/// own change.
const READ_YOUR_WRITE_WAIT_MS: u64 = 5_000;

/// The topic config whose default broker key `key` sets, and the key's unit.
fn topic_default_of(key: &str) -> Option<(&'static TopicConfigDef, Unit)> {
    TOPIC_CONFIGS.iter().find_map(|d| d.broker_keys.iter().find(|(k, _)| *k == key).map(|(_, unit)| (d, *unit)))
}

/// Broker keys besides the topic defaults that change at run time.
const DYNAMIC_BROKER_KEYS: &[&str] = &["max.connections", "max.connections.per.ip", "max.connections.per.ip.overrides"];

/// Whether broker key `key` may be changed at run time.
pub fn is_dynamic(key: &str) -> bool {
    topic_default_of(key).is_some() || DYNAMIC_BROKER_KEYS.contains(&key)
}

/// Whether the broker knows `key` at all.
pub fn is_known(key: &str) -> bool {
    is_dynamic(key) || crate::config::broker_key_default(key).is_some()
}

/// Checks one dynamic setting (the key may change at run time, the value is valid for it) and
/// returns the value as it is stored: as Kafka prints the parsed value (`1.0`, `true`).
pub fn validate(key: &str, value: &str) -> AdminResult<String> {
    let invalid = |reason: String| (ErrorCode::InvalidRequest, format!("invalid value {value:?} for {key}: {reason}"));
    if key == "max.connections" || key == "max.connections.per.ip" {
        return connection_count(value)
            .map(|n| n.to_string())
            .ok_or_else(|| invalid("expected a whole number from 0".into()));
    }
    if key == "max.connections.per.ip.overrides" {
        return crate::connection_limit::parse_per_ip_overrides(value)
            .map(|_| value.trim().to_string())
            .map_err(invalid);
    }
    let Some((def, unit)) = topic_default_of(key) else {
        if is_known(key) {
            return Err((
                ErrorCode::InvalidRequest,
                format!("broker config {key} cannot be updated dynamically (read-only)"),
            ));
        }
        return Ok(value.to_string()); // a custom config, kept as given
    };
    let converted = unit.to_topic_value(value).ok_or_else(|| invalid("not a whole number".into()))?;
    let canonical = sluice_storage::config::canonical_value(def.name, &converted).map_err(|e| match e {
        sluice_storage::StorageError::InvalidConfig { reason, .. } => invalid(reason),
        other => invalid(other.to_string()),
    })?;
    // A key in another unit (hours) keeps its own unit, as a whole number.
    Ok(if unit == Unit::Same { canonical } else { value.trim().parse::<i64>().map_or(canonical, |n| n.to_string()) })
}

fn connection_count(value: &str) -> Option<usize> {
    value.trim().parse::<u32>().ok().filter(|&n| n <= i32::MAX as u32).map(|n| n as usize)
}

/// Every topic's defaults from the three broker layers.
pub fn log_defaults(
    dynamic_broker: &BTreeMap<String, String>,
    dynamic_default: &BTreeMap<String, String>,
    static_config: &BTreeMap<String, String>,
) -> Result<LogConfig, BrokerDefaultError> {
    LogConfig::from_broker(|key| {
        dynamic_broker
            .get(key)
            .or_else(|| dynamic_default.get(key))
            .or_else(|| static_config.get(key))
            .filter(|v| !v.trim().is_empty())
            .cloned()
    })
}

impl Broker {
    /// The connection limits from the dynamic layers over the static config; a value that no
    /// longer parses (a host that stopped resolving) leaves the static one.
    fn connection_limits(
        &self,
        broker: &BTreeMap<String, String>,
        default: &BTreeMap<String, String>,
    ) -> crate::connection_limit::ConnectionLimits {
        let layer = |key: &str| [broker, default].into_iter().find_map(|l| l.get(key));
        let count = |key: &str, fallback: usize| layer(key).and_then(|v| connection_count(v)).unwrap_or(fallback);
        let fixed = &self.config.connection_limits;
        crate::connection_limit::ConnectionLimits {
            max_connections: count("max.connections", fixed.max_connections),
            max_per_ip: count("max.connections.per.ip", fixed.max_per_ip),
            per_ip_overrides: layer("max.connections.per.ip.overrides")
                .and_then(|v| crate::connection_limit::parse_per_ip_overrides(v).ok())
                .unwrap_or_else(|| fixed.per_ip_overrides.clone()),
        }
    }

    /// Takes this broker's and the cluster's dynamic configs from `view`; returns whether the
    /// topic defaults changed (every topic's logs then need their config again). An invalid
    /// value written by some other tool is logged and leaves the defaults as they were.
    pub fn apply_dynamic_configs(&self, view: &ClusterView) -> bool {
        let broker = view.broker_configs.get(&self.config.broker_id.to_string()).cloned().unwrap_or_default();
        let default = view.broker_configs.get(DEFAULT_BROKER_ENTITY).cloned().unwrap_or_default();
        let previous = {
            let d = self.dynamic.read();
            if d.broker == broker && d.default == default {
                return false;
            }
            d.log_defaults.clone()
        };
        let log = match log_defaults(&broker, &default, &self.config.explicit) {
            Ok(log) => log,
            Err(e) => {
                tracing::warn!(key = %e.key, value = %e.value, reason = %e.reason, "ignoring an invalid dynamic broker config");
                previous.clone()
            }
        };
        let limits = self.connection_limits(&broker, &default);
        if limits != self.connection_slots.limits() {
            tracing::info!(?limits, "connection limits changed");
            self.connection_slots.set_limits(limits);
        }
        tracing::info!(broker = ?broker, default = ?default, "dynamic broker configs applied");
        let changed = log != previous;
        *self.dynamic.write() = DynamicConfigs { broker, default, log_defaults: log };
        changed
    }
}

/// What CreateTopics and the config APIs touch: the topic admin (the cluster's topics and their
/// overrides, the dynamic broker configs, writes to keeper), and this broker's id and static
/// config (the layers configs are described through).
#[derive(Debug, Clone, Copy)]
pub struct ConfigHandle<'a> {
    pub admin: &'a TopicAdmin,
    pub broker_id: i32,
    /// The keys set in the file, by `--override` or in the environment.
    pub static_config: &'a BTreeMap<String, String>,
}

impl ConfigHandle<'_> {
    /// Runs `f` over the broker's config layers (dynamic for this broker, dynamic default,
    /// static).
    pub fn with_config_layers<T>(&self, f: impl FnOnce(crate::config_source::BrokerLayers<'_>) -> T) -> T {
        let dynamic = self.admin.dynamic.read();
        f(crate::config_source::BrokerLayers {
            dynamic_broker: &dynamic.broker,
            dynamic_default: &dynamic.default,
            static_config: self.static_config,
        })
    }

    pub fn topic_meta(&self, name: &str) -> Option<crate::topics::TopicMeta> {
        self.admin.cluster.topic_meta(name)
    }

    /// The `/config/brokers` entity a BROKER resource names here: this broker's id, or the
    /// cluster default for the empty name. Another broker's id is INVALID_REQUEST (clients send
    /// a broker's configs to that broker, as Kafka requires).
    pub fn config_entity(&self, resource_name: &str) -> AdminResult<String> {
        if resource_name.is_empty() {
            Ok(DEFAULT_BROKER_ENTITY.to_string())
        } else if resource_name == self.broker_id.to_string() {
            Ok(resource_name.to_string())
        } else {
            Err((
                ErrorCode::InvalidRequest,
                format!(
                    "this is broker {}: send broker {resource_name}'s configs to it, or use the empty name for the cluster default",
                    self.broker_id
                ),
            ))
        }
    }

    /// The dynamic configs of `entity` as this broker last saw them.
    pub fn dynamic_configs_of(&self, entity: &str) -> BTreeMap<String, String> {
        let d = self.admin.dynamic.read();
        if entity == DEFAULT_BROKER_ENTITY { d.default.clone() } else { d.broker.clone() }
    }

    /// Replaces the dynamic configs of `entity` with `configs` (validated first), and waits
    /// (bounded) until this broker applies them.
    /// The configs a group has of its own (`crate::group::configs`).
    pub fn group_configs(&self, group: &str) -> BTreeMap<String, String> {
        self.admin.cluster.link.cache.read(|v| v.group_configs.get(group).cloned().unwrap_or_default())
    }

    pub async fn set_dynamic_configs(
        &self,
        entity: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> AdminResult<()> {
        let configs = configs
            .into_iter()
            .map(|(k, v)| validate(&k, &v).map(|v| (k, v)))
            .collect::<AdminResult<BTreeMap<String, String>>>()?;
        let default =
            if entity == DEFAULT_BROKER_ENTITY { &configs } else { &self.admin.dynamic.read().default.clone() };
        let broker = if entity == DEFAULT_BROKER_ENTITY { &self.admin.dynamic.read().broker.clone() } else { &configs };
        log_defaults(broker, default, self.static_config)
            .map_err(|e| format!("invalid value {:?} for {}: {}", e.value, e.key, e.reason))
            .and_then(|log| log.validate_values().map_err(|e| e.to_string()))
            .map_err(|message| (ErrorCode::InvalidRequest, message))?;
        if validate_only {
            return Ok(());
        }
        let znode = TopicConfigZnode { version: 1, config: configs.clone() };
        topic_admin::write_topic_config(self.admin, &self.admin.cluster.link.paths.broker_config(entity), &znode)
            .await?;
        self.admin.cluster.wait_until(READ_YOUR_WRITE_WAIT_MS, || self.dynamic_configs_of(entity) == configs).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_defaults_are_dynamic_and_the_rest_read_only() {
        assert_eq!(validate("log.retention.ms", "1000"), Ok("1000".into()));
        assert_eq!(validate("log.retention.hours", "2"), Ok("2".into()));
        assert_eq!(validate("log.cleaner.min.cleanable.ratio", "1"), Ok("1.0".into()));
        assert_eq!(validate("log.cleanup.policy", "compact, delete"), Ok("compact,delete".into()));
        assert_eq!(validate("log.segment.bytes", "3").map_err(|e| e.0), Err(ErrorCode::InvalidRequest));
        assert_eq!(validate("log.retention.ms", "soon").map_err(|e| e.0), Err(ErrorCode::InvalidRequest));
        assert_eq!(validate("broker.id", "7").map_err(|e| e.0), Err(ErrorCode::InvalidRequest));
        assert_eq!(validate("my.plugin.setting", "x"), Ok("x".into()), "custom configs are kept");
        assert_eq!(validate("max.connections", "100"), Ok("100".into()));
        assert_eq!(validate("max.connections", "-1").map_err(|e| e.0), Err(ErrorCode::InvalidRequest));
    }

    #[test]
    fn the_most_specific_layer_wins() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
        };
        let stat = map(&[("log.retention.hours", "5"), ("log.segment.bytes", "2000000")]);
        let default = map(&[("log.retention.ms", "1000"), ("log.segment.bytes", "3000000")]);
        let broker = map(&[("log.segment.bytes", "4000000")]);
        let log = log_defaults(&broker, &default, &stat).expect("valid");
        assert_eq!((log.retention_ms, log.segment_bytes), (1000, 4_000_000));
        let log = log_defaults(&BTreeMap::new(), &BTreeMap::new(), &stat).expect("valid");
        assert_eq!((log.retention_ms, log.segment_bytes), (5 * 3_600_000, 2_000_000));
    }
}
