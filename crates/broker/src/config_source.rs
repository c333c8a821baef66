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
    let default_name = def.broker_keys.first().map_or(def.name, |(k, _)| k);
    synonyms.push((default_name.to_string(), def.default.to_string(), SOURCE_DEFAULT_CONFIG));
    let source = synonyms[0].2;
    Described {
        name: def.name.to_string(),
        value: value.unwrap_or_else(|| def.default.to_string()),
        source,
        synonyms,
        config_type: def.kind.kafka_type(),
    }
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
        assert_eq!(names, ["retention.ms", "log.retention.hours", "log.retention.ms"]);
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
