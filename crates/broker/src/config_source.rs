//! Where a config's value comes from, as DescribeConfigs and CreateTopics report it: Kafka's
//! `ConfigSource` and synonyms. A topic config's value is its topic override, else the first of
//! its broker keys (Kafka's synonyms, `log.retention.ms` before `log.retention.hours`) set
//! dynamically for this broker, dynamically for the whole cluster, or in the static config, else
//! Kafka's default.

use std::collections::BTreeMap;

use sluice_storage::config::{TOPIC_CONFIGS, TopicConfigDef};

/// Kafka's `ConfigSource` values.
pub const SOURCE_TOPIC_CONFIG: i8 = 1;
pub const SOURCE_DYNAMIC_BROKER_CONFIG: i8 = 2;
pub const SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
pub const SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
pub const SOURCE_DEFAULT_CONFIG: i8 = 5;

/// The broker-level layers a topic default can come from, most specific first.
#[derive(Debug, Clone, Copy)]
pub struct BrokerLayers<'a> {
    /// `/config/brokers/<this broker's id>`.
    pub dynamic_broker: &'a BTreeMap<String, String>,
    /// `/config/brokers/<default>`.
    pub dynamic_default: &'a BTreeMap<String, String>,
    /// The file, `--override` flags and environment.
    pub static_config: &'a BTreeMap<String, String>,
}

impl BrokerLayers<'_> {
    fn sources(&self) -> [(&BTreeMap<String, String>, i8); 3] {
        [
            (self.dynamic_broker, SOURCE_DYNAMIC_BROKER_CONFIG),
            (self.dynamic_default, SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG),
            (self.static_config, SOURCE_STATIC_BROKER_CONFIG),
        ]
    }

    /// The value of broker key `key` and where it comes from, if any layer sets it.
    pub fn broker_value(&self, key: &str) -> Option<(String, i8)> {
        self.sources().into_iter().find_map(|(layer, source)| layer.get(key).map(|v| (v.clone(), source)))
    }
}

/// One described config entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub name: String,
    pub value: String,
    pub source: i8,
    /// Every source that sets it, most specific first (the first is the value's), ending with
    /// the default: `(name, value, source)`.
    pub synonyms: Vec<(String, String, i8)>,
    /// Kafka's `ConfigType`.
    pub config_type: i8,
}

/// Describes topic config `def` of a topic with `overrides`.
pub fn topic_config(def: &TopicConfigDef, overrides: &BTreeMap<String, String>, layers: BrokerLayers<'_>) -> Described {
    let mut synonyms = Vec::new();
    let mut value = None;
    if let Some(v) = overrides.get(def.name) {
        synonyms.push((def.name.to_string(), v.clone(), SOURCE_TOPIC_CONFIG));
        value = Some(v.clone());
    }
    for (layer, source) in layers.sources() {
        for (key, unit) in def.broker_keys {
            if let Some(v) = layer.get(*key) {
                if value.is_none() {
                    value = unit.to_topic_value(v);
                }
                synonyms.push(((*key).to_string(), v.clone(), source));
            }
        }
    }
    synonyms.push(default_synonym(def));
    let source = synonyms[0].2;
    Described {
        name: def.name.to_string(),
        value: value.unwrap_or_else(|| def.default.to_string()),
        source,
        synonyms,
        config_type: def.kind.kafka_type(),
    }
}

/// One broker config as DescribeConfigs reports it for a broker: `value` is `None` for a key
/// with no value anywhere (`log.retention.ms` when only the hours are set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedBroker {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
    pub synonyms: Vec<(String, String, i8)>,
    pub config_type: i8,
    pub read_only: bool,
}

impl From<Described> for DescribedBroker {
    /// A topic config: always a value, never read-only.
    fn from(d: Described) -> DescribedBroker {
        DescribedBroker {
            name: d.name,
            value: Some(d.value),
            source: d.source,
            synonyms: d.synonyms,
            config_type: d.config_type,
            read_only: false,
        }
    }
}

/// Describes broker key `key`: its value from the most specific layer that sets it (else its
/// default), and as synonyms every layer's value of it and of the other broker keys for the
/// same topic default (`log.retention.hours` for `log.retention.ms`), ending with the defaults.
pub fn broker_config(key: &str, layers: BrokerLayers<'_>) -> DescribedBroker {
    let def = TOPIC_CONFIGS.iter().find(|d| d.broker_keys.iter().any(|(k, _)| *k == key));
    // The described key and the less specific names after it (Kafka's `configSynonyms`, from
    // the described name on).
    let related: Vec<&str> = match def {
        Some(def) => def.broker_keys.iter().map(|(k, _)| *k).skip_while(|k| *k != key).collect(),
        None => vec![key],
    };
    let default_of = |k: &str| -> Option<String> {
        match crate::config::broker_key_default(k) {
            Some(d) if !d.is_empty() => Some(d.to_string()),
            Some(_) => None,
            // A topic default's broker key the table above does not list: the topic's default.
            None => def
                .filter(|d| d.broker_keys.first().is_some_and(|(first, _)| *first == k))
                .map(|d| d.default.to_string()),
        }
    };
    let mut synonyms = Vec::new();
    for (layer, source) in layers.sources() {
        for k in &related {
            if let Some(v) = layer.get(*k) {
                synonyms.push(((*k).to_string(), v.clone(), source));
            }
        }
    }
    for k in &related {
        if let Some(d) = default_of(k) {
            synonyms.push(((*k).to_string(), d, SOURCE_DEFAULT_CONFIG));
        }
    }
    let own = synonyms.iter().find(|(k, _, _)| k == key);
    DescribedBroker {
        name: key.to_string(),
        value: own.map(|(_, v, _)| v.clone()),
        source: own.map_or(SOURCE_DEFAULT_CONFIG, |(_, _, s)| *s),
        synonyms,
        config_type: def.map_or_else(|| crate::config::broker_key_type(key), |d| d.kind.kafka_type()),
        // A custom key (no broker config has it) can be changed too.
        read_only: crate::dynamic_config::is_known(key) && !crate::dynamic_config::is_dynamic(key),
    }
}

/// Every broker key this broker knows, in name order: its own keys and the topic defaults'.
pub fn all_broker_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = crate::config::broker_keys()
        .chain(TOPIC_CONFIGS.iter().flat_map(|d| d.broker_keys.iter().map(|(k, _)| *k)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The default-level synonym of a topic config, as Kafka lists it: the first of its broker keys
/// that has a default of its own (`log.retention.hours=168` for `retention.ms`, since
/// `log.retention.ms` has none), or the topic default under the first broker key that is not a
/// broker config here, or under its own name.
fn default_synonym(def: &TopicConfigDef) -> (String, String, i8) {
    for (key, _) in def.broker_keys {
        match crate::config::broker_key_default(key) {
            Some("") => continue,
            Some(d) => return ((*key).to_string(), d.to_string(), SOURCE_DEFAULT_CONFIG),
            None => return ((*key).to_string(), def.default.to_string(), SOURCE_DEFAULT_CONFIG),
        }
    }
    (def.name.to_string(), def.default.to_string(), SOURCE_DEFAULT_CONFIG)
}

/// Every topic config of a topic with `overrides`, in name order.
pub fn topic_configs(overrides: &BTreeMap<String, String>, layers: BrokerLayers<'_>) -> Vec<Described> {
    TOPIC_CONFIGS.iter().map(|def| topic_config(def, overrides, layers)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_storage::config::topic_config_def;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn the_most_specific_source_wins_and_every_source_is_a_synonym() {
        let def = topic_config_def("retention.ms").expect("known");
        let empty = BTreeMap::new();
        let static_config = map(&[("log.retention.hours", "2")]);
        let layers = BrokerLayers { dynamic_broker: &empty, dynamic_default: &empty, static_config: &static_config };
        let d = topic_config(def, &empty, layers);
        assert_eq!((d.value.as_str(), d.source), ("7200000", SOURCE_STATIC_BROKER_CONFIG));
        let overrides = map(&[("retention.ms", "1000")]);
        let d = topic_config(def, &overrides, layers);
        assert_eq!((d.value.as_str(), d.source), ("1000", SOURCE_TOPIC_CONFIG));
        let names: Vec<&str> = d.synonyms.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, ["retention.ms", "log.retention.hours", "log.retention.hours"]);
        assert_eq!(d.synonyms.last().map(|s| s.2), Some(SOURCE_DEFAULT_CONFIG));
        let dynamic = map(&[("log.retention.ms", "5")]);
        let layers = BrokerLayers { dynamic_broker: &empty, dynamic_default: &dynamic, static_config: &static_config };
        let d = topic_config(def, &empty, layers);
        assert_eq!((d.value.as_str(), d.source), ("5", SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG));
    }

    #[test]
    fn an_unset_config_is_kafkas_default() {
        let empty = BTreeMap::new();
        let layers = BrokerLayers { dynamic_broker: &empty, dynamic_default: &empty, static_config: &empty };
        let d = topic_config(topic_config_def("min.cleanable.dirty.ratio").expect("known"), &empty, layers);
        assert_eq!((d.value.as_str(), d.source, d.config_type), ("0.5", SOURCE_DEFAULT_CONFIG, 6));
    }
}
