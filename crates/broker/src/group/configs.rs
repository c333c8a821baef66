//! Group configs (KIP-848, Kafka 4.x's `GroupConfig`): per-group overrides of the group
//! coordinator's timeouts, set and described with the config APIs on resource type GROUP (32),
//! as `kafka-configs.sh --entity-type groups` does. Kept in keeper at `/config/groups/<group>`
//! (the name sanitized as user names are; Kafka keeps them in its KRaft metadata log), followed
//! by every broker's metadata cache.
//!
//! The keys, their defaults (the broker's `group.*` settings, Kafka's defaults) and bounds are
//! Kafka 4.1's. They take effect for groups of the protocols that read them (the consumer, share
//! and streams protocols); classic groups, the only ones this broker serves today, keep their
//! members' own session timeouts, as in Kafka.

use std::collections::BTreeMap;

/// One group config: its default and the bounds a value must keep.
#[derive(Debug, Clone, Copy)]
pub struct GroupConfigDef {
    pub name: &'static str,
    pub default: GroupValue,
    /// The broker config whose value is the default (a synonym in DescribeConfigs).
    pub broker_key: &'static str,
    pub doc: &'static str,
}

/// A group config's type and bounds.
#[derive(Debug, Clone, Copy)]
pub enum GroupValue {
    /// An int within `[min, max]`, `value` by default.
    Int { value: i32, min: i32, max: i32 },
    /// One of `choices`, `value` by default.
    Choice { value: &'static str, choices: &'static [&'static str] },
}

/// Kafka's `ConfigEntry.ConfigType` codes of the types above.
const TYPE_INT: i8 = 3;
const TYPE_STRING: i8 = 2;

/// Every group config, in name order.
pub const GROUP_CONFIGS: &[GroupConfigDef] = &[
    GroupConfigDef {
        name: "consumer.heartbeat.interval.ms",
        default: GroupValue::Int { value: 5_000, min: 5_000, max: 15_000 },
        broker_key: "group.consumer.heartbeat.interval.ms",
        doc: "how often members of a consumer-protocol group send heartbeats",
    },
    GroupConfigDef {
        name: "consumer.session.timeout.ms",
        default: GroupValue::Int { value: 45_000, min: 45_000, max: 60_000 },
        broker_key: "group.consumer.session.timeout.ms",
        doc: "how long a member of a consumer-protocol group may go without a heartbeat",
    },
    GroupConfigDef {
        name: "share.auto.offset.reset",
        default: GroupValue::Choice { value: "latest", choices: &["latest", "earliest"] },
        broker_key: "",
        doc: "where a share group starts reading a partition it has no position in",
    },
    GroupConfigDef {
        name: "share.heartbeat.interval.ms",
        default: GroupValue::Int { value: 5_000, min: 5_000, max: 15_000 },
        broker_key: "group.share.heartbeat.interval.ms",
        doc: "how often members of a share group send heartbeats",
    },
    GroupConfigDef {
        name: "share.isolation.level",
        default: GroupValue::Choice { value: "read_uncommitted", choices: &["read_uncommitted", "read_committed"] },
        broker_key: "",
        doc: "whether a share group reads records of open and aborted transactions",
    },
    GroupConfigDef {
        name: "share.record.lock.duration.ms",
        default: GroupValue::Int { value: 30_000, min: 15_000, max: 60_000 },
        broker_key: "group.share.record.lock.duration.ms",
        doc: "how long a share-group member holds a record it took",
    },
    GroupConfigDef {
        name: "share.session.timeout.ms",
        default: GroupValue::Int { value: 45_000, min: 45_000, max: 60_000 },
        broker_key: "group.share.session.timeout.ms",
        doc: "how long a member of a share group may go without a heartbeat",
    },
    GroupConfigDef {
        name: "streams.heartbeat.interval.ms",
        default: GroupValue::Int { value: 5_000, min: 5_000, max: 15_000 },
        broker_key: "group.streams.heartbeat.interval.ms",
        doc: "how often members of a streams group send heartbeats",
    },
    GroupConfigDef {
        name: "streams.num.standby.replicas",
        default: GroupValue::Int { value: 0, min: 0, max: 2 },
        broker_key: "group.streams.num.standby.replicas",
        doc: "standby replicas of each task of a streams group",
    },
    GroupConfigDef {
        name: "streams.session.timeout.ms",
        default: GroupValue::Int { value: 45_000, min: 45_000, max: 60_000 },
        broker_key: "group.streams.session.timeout.ms",
        doc: "how long a member of a streams group may go without a heartbeat",
    },
];

/// The definition of `key`, if it is a group config.
pub fn group_config_def(key: &str) -> Option<&'static GroupConfigDef> {
    GROUP_CONFIGS.iter().find(|d| d.name == key)
}

impl GroupConfigDef {
    /// The default as a string.
    pub fn default_value(&self) -> String {
        match self.default {
            GroupValue::Int { value, .. } => value.to_string(),
            GroupValue::Choice { value, .. } => value.to_string(),
        }
    }

    /// Kafka's config type code.
    pub fn config_type(&self) -> i8 {
        match self.default {
            GroupValue::Int { .. } => TYPE_INT,
            GroupValue::Choice { .. } => TYPE_STRING,
        }
    }

    /// `value` as stored, or why it is refused.
    fn check(&self, value: &str) -> Result<String, String> {
        match self.default {
            GroupValue::Int { min, max, .. } => {
                let n: i32 =
                    value.trim().parse().map_err(|_| format!("{} must be an int, not {value:?}", self.name))?;
                if n < min || n > max {
                    return Err(format!("{} must be between {min} and {max}, not {n}", self.name));
                }
                Ok(n.to_string())
            }
            GroupValue::Choice { choices, .. } => {
                let v = value.trim();
                if choices.contains(&v) {
                    Ok(v.to_string())
                } else {
                    Err(format!("{} must be one of {}, not {v:?}", self.name, choices.join(", ")))
                }
            }
        }
    }
}

/// A group's overrides as they would be stored: each key known and within its bounds (which
/// also keep every heartbeat interval below its session timeout, as Kafka's
/// `GroupConfig.validate` requires).
pub fn validate(configs: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (key, value) in configs {
        let def = group_config_def(key).ok_or_else(|| format!("{key} is not a group config"))?;
        out.insert(key.clone(), def.check(value)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn values_are_checked_against_kafkas_bounds() {
        assert_eq!(
            validate(&map(&[("consumer.session.timeout.ms", " 50000")])),
            Ok(map(&[("consumer.session.timeout.ms", "50000")]))
        );
        assert!(validate(&map(&[("consumer.session.timeout.ms", "1000")])).is_err(), "below the minimum");
        assert!(validate(&map(&[("consumer.session.timeout.ms", "soon")])).is_err());
        assert!(validate(&map(&[("session.timeout.ms", "50000")])).is_err(), "not a group config");
        assert!(validate(&map(&[("share.auto.offset.reset", "earliest")])).is_ok());
        assert!(validate(&map(&[("share.auto.offset.reset", "middle")])).is_err());
        let sorted: Vec<&str> = GROUP_CONFIGS.iter().map(|d| d.name).collect();
        let mut expected = sorted.clone();
        expected.sort_unstable();
        assert_eq!(sorted, expected, "the table is in name order");
    }
}
