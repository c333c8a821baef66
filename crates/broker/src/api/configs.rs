//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics (overrides of the
//! broker defaults, applied to the topic's logs at once) and for brokers: this broker's id, or
//! the empty name for the cluster-wide defaults (see `dynamic_config`), and for groups (resource
//! type 32, KIP-848's group configs: `crate::group::configs`; any group id, existing or not, as
//! in Kafka; GROUP_AUTHORIZATION_FAILED without DESCRIBE_CONFIGS or ALTER_CONFIGS on it).
//! DescribeConfigs v0 tells a default value by `is_default` (Kafka: the source is
//! DEFAULT_CONFIG), later versions by `config_source`; each entry carries both and the version
//! picks.

use std::collections::BTreeMap;

use sluice_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResourceResponse, AlterConfigsResponse, DescribeConfigsRequest,
    DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};

use sluice_protocol::messages::DescribeConfigsSynonym;
use sluice_storage::config::topic_config_def;
use sluice_storage::topic_partition::is_valid_topic_name;

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::cluster::znodes::DEFAULT_BROKER_ENTITY;
use crate::config_source::{self, DescribedBroker, SOURCE_DEFAULT_CONFIG, SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG};
use crate::dynamic_config::ConfigHandle;
use crate::error::ErrorCode;
use crate::group::configs as group_configs;
use crate::topic_admin::{self, AdminResult};

/// Kafka's `ConfigResource.Type` values.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;
/// Kafka's `ConfigType` of a list.
const TYPE_LIST: i8 = 7;

/// Kafka's `ConfigResource.Type` of a broker's loggers (authorized as the broker).
const RESOURCE_BROKER_LOGGER: i8 = 8;
/// Kafka's `ConfigResource.Type.GROUP` (KIP-848) and `ConfigEntry.ConfigSource.GROUP_CONFIG`.
const RESOURCE_GROUP: i8 = 32;
const SOURCE_GROUP_CONFIG: i8 = 8;

/// How long an alteration waits for this broker's cache to show it, so a describe right after
/// sees the change.
const READ_YOUR_WRITE_WAIT_MS: u64 = 5_000;

/// Authorization of a config resource: `op` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on the topic
/// (TOPIC_AUTHORIZATION_FAILED), or on the cluster for a broker (CLUSTER_AUTHORIZATION_FAILED),
/// checked before anything else about the resource.
fn config_access(ctx: &RequestContext<'_>, op: Operation, resource_type: i8, name: &str) -> AdminResult<()> {
    let (allowed, code) = match resource_type {
        RESOURCE_TOPIC => (ctx.authorize(op, ResourceType::Topic, name), ErrorCode::TopicAuthorizationFailed),
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER => (ctx.authorize_cluster(op), ErrorCode::ClusterAuthorizationFailed),
        RESOURCE_GROUP => (ctx.authorize(op, ResourceType::Group, name), ErrorCode::GroupAuthorizationFailed),
        _ => (true, ErrorCode::None),
    };
    if allowed { Ok(()) } else { Err((code, format!("{} is not authorized on this resource", op.name()))) }
}

pub fn describe(
    ctx: RequestContext<'_>,
    config: ConfigHandle<'_>,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            // No list, or an empty one, asks for every key (Kafka's ConfigHelper).
            let wanted = |key: &str| {
                resource.configuration_keys.as_ref().is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k == key))
            };
            let mut result = DescribeConfigsResult {
                resource_type: resource.resource_type,
                resource_name: resource.resource_name.clone(),
                ..Default::default()
            };
            let access =
                config_access(&ctx, Operation::DescribeConfigs, resource.resource_type, &resource.resource_name);
            let described: AdminResult<Vec<DescribeConfigsResourceResult>> = match resource.resource_type {
                _ if access.is_err() => access.map(|()| Vec::new()),
                RESOURCE_TOPIC if !is_valid_topic_name(&resource.resource_name) => Err((
                    ErrorCode::InvalidTopicException,
                    format!("topic name {:?} is illegal", resource.resource_name),
                )),
                RESOURCE_TOPIC => match config.topic_meta(&resource.resource_name) {
                    Some(meta) => Ok(config.with_config_layers(|layers| {
                        config_source::topic_configs(&meta.configs, layers)
                            .into_iter()
                            .filter(|d| wanted(&d.name))
                            .map(|d| broker_entry(d.into(), request.include_synonyms))
                            .collect()
                    })),
                    None => Err((
                        ErrorCode::UnknownTopicOrPartition,
                        format!("topic '{}' does not exist", resource.resource_name),
                    )),
                },
                RESOURCE_BROKER => config.config_entity(&resource.resource_name).map(|entity| {
                    if entity == DEFAULT_BROKER_ENTITY {
                        // The cluster default resource shows what is set at that level only.
                        config
                            .dynamic_configs_of(&entity)
                            .into_iter()
                            .filter(|(k, _)| wanted(k))
                            .map(|(name, value)| {
                                let source = SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG;
                                broker_entry(
                                    DescribedBroker {
                                        synonyms: vec![(name.clone(), value.clone(), source)],
                                        read_only: !crate::dynamic_config::is_dynamic(&name),
                                        config_type: 2,
                                        name,
                                        value: Some(value),
                                        source,
                                    },
                                    request.include_synonyms,
                                )
                            })
                            .collect()
                    } else {
                        config.with_config_layers(|layers| {
                            // Every key this broker knows, and the custom ones set dynamically.
                            let mut keys: Vec<&str> = config_source::all_broker_keys();
                            keys.extend(
                                layers.dynamic_broker.keys().chain(layers.dynamic_default.keys()).map(String::as_str),
                            );
                            keys.sort_unstable();
                            keys.dedup();
                            keys.into_iter()
                                .filter(|k| wanted(k))
                                .map(|k| {
                                    broker_entry(config_source::broker_config(k, layers), request.include_synonyms)
                                })
                                .collect()
                        })
                    }
                }),
                RESOURCE_GROUP if resource.resource_name.is_empty() => {
                    Err((ErrorCode::InvalidRequest, "a group config resource needs a group id".into()))
                }
                RESOURCE_GROUP => {
                    let set = config.group_configs(&resource.resource_name);
                    Ok(group_configs::GROUP_CONFIGS
                        .iter()
                        .filter(|d| wanted(d.name))
                        .map(|d| {
                            let mut synonyms = Vec::new();
                            if let Some(v) = set.get(d.name) {
                                synonyms.push((d.name.to_string(), v.clone(), SOURCE_GROUP_CONFIG));
                            }
                            if !d.broker_key.is_empty() {
                                synonyms.push((d.broker_key.to_string(), d.default_value(), SOURCE_DEFAULT_CONFIG));
                            }
                            let (value, source) = match set.get(d.name) {
                                Some(v) => (v.clone(), SOURCE_GROUP_CONFIG),
                                None => (d.default_value(), SOURCE_DEFAULT_CONFIG),
                            };
                            broker_entry(
                                DescribedBroker {
                                    name: d.name.to_string(),
                                    value: Some(value),
                                    source,
                                    read_only: false,
                                    config_type: d.config_type(),
                                    synonyms,
                                },
                                request.include_synonyms,
                            )
                        })
                        .collect())
                }
                other => Err((ErrorCode::InvalidRequest, format!("unsupported resource type {other}"))),
            };
            match described {
                Ok(configs) => result.configs = configs,
                Err((code, message)) => {
                    result.error_code = code.code();
                    result.error_message = Some(message);
                }
            }
            result
        })
        .collect();
    DescribeConfigsResponse { throttle_time_ms: 0, results }
}

/// Kafka's `ConfigType.PASSWORD`, the type of a config whose value is never shown.
const CONFIG_TYPE_PASSWORD: i8 = 9;

/// A described config as DescribeConfigs sends it (synonyms only when asked for). A secret
/// (a password, a JAAS login, a private key, keeper credentials) is described without its value
/// and marked sensitive, as Kafka describes its PASSWORD configs.
fn broker_entry(d: DescribedBroker, include_synonyms: bool) -> DescribeConfigsResourceResult {
    let sensitive = crate::config::is_sensitive_key(&d.name);
    DescribeConfigsResourceResult {
        is_default: d.source == SOURCE_DEFAULT_CONFIG,
        config_source: d.source,
        synonyms: if include_synonyms {
            d.synonyms
                .into_iter()
                .map(|(name, value, source)| DescribeConfigsSynonym {
                    value: (!crate::config::is_sensitive_key(&name)).then_some(value),
                    name,
                    source,
                })
                .collect()
        } else {
            Vec::new()
        },
        name: d.name,
        value: if sensitive { None } else { d.value },
        read_only: d.read_only,
        is_sensitive: sensitive,
        config_type: if sensitive { CONFIG_TYPE_PASSWORD } else { d.config_type },
        documentation: None,
    }
}

/// What an alteration of one resource changes: a topic's overrides, or a broker entity's
/// dynamic configs.
enum Target {
    Topic(String),
    Broker(String),
    Group(String),
}

fn target_of(config: ConfigHandle<'_>, resource_type: i8, name: &str) -> AdminResult<Target> {
    match resource_type {
        RESOURCE_TOPIC if name.is_empty() => {
            Err((ErrorCode::InvalidRequest, "default topic resources are not allowed".into()))
        }
        RESOURCE_TOPIC if !is_valid_topic_name(name) => {
            Err((ErrorCode::InvalidTopicException, format!("topic name {name:?} is illegal")))
        }
        RESOURCE_TOPIC => {
            if config.topic_meta(name).is_none() {
                return Err((ErrorCode::UnknownTopicOrPartition, format!("topic '{name}' does not exist")));
            }
            Ok(Target::Topic(name.to_string()))
        }
        RESOURCE_BROKER => config.config_entity(name).map(Target::Broker),
        RESOURCE_GROUP if name.is_empty() => {
            Err((ErrorCode::InvalidRequest, "a group config resource needs a group id".into()))
        }
        RESOURCE_GROUP => Ok(Target::Group(name.to_string())),
        other => Err((ErrorCode::InvalidRequest, format!("unsupported resource type {other}"))),
    }
}

impl Target {
    fn current(&self, config: ConfigHandle<'_>) -> BTreeMap<String, String> {
        match self {
            Target::Topic(name) => config.topic_meta(name).map(|m| m.configs).unwrap_or_default(),
            Target::Broker(entity) => config.dynamic_configs_of(entity),
            Target::Group(group) => config.group_configs(group),
        }
    }

    /// The effective value of `key` (for APPEND and SUBTRACT on a list).
    fn value_of(&self, config: ConfigHandle<'_>, configs: &BTreeMap<String, String>, key: &str) -> AdminResult<String> {
        let not_list = || (ErrorCode::InvalidConfig, format!("{key} is not a list config"));
        match self {
            Target::Topic(_) => {
                let def = topic_config_def(key).filter(|d| d.kind.kafka_type() == TYPE_LIST).ok_or_else(not_list)?;
                Ok(config.with_config_layers(|layers| config_source::topic_config(def, configs, layers).value))
            }
            Target::Broker(_) => {
                let described = config.with_config_layers(|layers| config_source::broker_config(key, layers));
                if described.config_type != TYPE_LIST {
                    return Err(not_list());
                }
                Ok(configs.get(key).cloned().or(described.value).unwrap_or_default())
            }
            // No group config is a list.
            Target::Group(_) => Err(not_list()),
        }
    }

    async fn write(
        &self,
        config: ConfigHandle<'_>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> AdminResult<()> {
        match self {
            Target::Topic(name) => topic_admin::set_topic_configs(config.admin, name, configs, validate_only).await,
            Target::Broker(entity) => config.set_dynamic_configs(entity, configs, validate_only).await,
            Target::Group(group) => {
                let configs = group_configs::validate(&configs).map_err(|m| (ErrorCode::InvalidConfig, m))?;
                if validate_only {
                    return Ok(());
                }
                let path = config.admin.cluster.link.paths.group_config(group);
                let znode = crate::cluster::znodes::TopicConfigZnode { version: 1, config: configs.clone() };
                topic_admin::write_topic_config(config.admin, &path, &znode).await?;
                config
                    .admin
                    .cluster
                    .wait_until(READ_YOUR_WRITE_WAIT_MS, || config.group_configs(group) == configs)
                    .await;
                Ok(())
            }
        }
    }
}

/// Kafka's checks of an alteration request before anything is changed
/// (`ConfigAdminManager.preprocess`), per resource in order: a resource named twice in one
/// request is refused (every occurrence), and so is a key named twice in one resource.
fn malformed(resources: &[(i8, &str, Vec<&str>)]) -> Vec<Option<(ErrorCode, String)>> {
    let mut seen: BTreeMap<(i8, &str), usize> = BTreeMap::new();
    for (resource_type, name, _) in resources {
        *seen.entry((*resource_type, name)).or_default() += 1;
    }
    resources
        .iter()
        .map(|(resource_type, name, keys)| {
            if seen[&(*resource_type, *name)] > 1 {
                return Some((ErrorCode::InvalidRequest, "each resource must appear at most once in a request".into()));
            }
            let mut names = std::collections::BTreeSet::new();
            keys.iter()
                .find(|k| !names.insert(**k))
                .map(|k| (ErrorCode::InvalidRequest, format!("duplicate config key {k}")))
        })
        .collect()
}

pub async fn alter(
    ctx: RequestContext<'_>,
    config: ConfigHandle<'_>,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let checked = malformed(
        &request
            .resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str(), r.configs.iter().map(|c| c.name.as_str()).collect()))
            .collect::<Vec<_>>(),
    );
    let mut responses = Vec::with_capacity(request.resources.len());
    for (resource, refused) in request.resources.into_iter().zip(checked) {
        // AlterConfigs replaces the resource's whole set of configs.
        let result = async {
            config_access(&ctx, Operation::AlterConfigs, resource.resource_type, &resource.resource_name)?;
            if let Some(refused) = refused {
                return Err(refused);
            }
            let target = target_of(config, resource.resource_type, &resource.resource_name)?;
            let mut configs = BTreeMap::new();
            for c in resource.configs {
                let value =
                    c.value.ok_or_else(|| (ErrorCode::InvalidRequest, format!("null value for config {}", c.name)))?;
                configs.insert(c.name, value);
            }
            target.write(config, configs, request.validate_only).await
        }
        .await;
        let (error_code, error_message) = match result {
            Ok(()) => (0, None),
            Err((code, message)) => (code.code(), Some(message)),
        };
        responses.push(AlterConfigsResourceResponse {
            error_code,
            error_message,
            resource_type: resource.resource_type,
            resource_name: resource.resource_name,
        });
    }
    AlterConfigsResponse { throttle_time_ms: 0, responses }
}

pub async fn incremental_alter(
    ctx: RequestContext<'_>,
    config: ConfigHandle<'_>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let checked = malformed(
        &request
            .resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str(), r.configs.iter().map(|c| c.name.as_str()).collect()))
            .collect::<Vec<_>>(),
    );
    let mut responses = Vec::with_capacity(request.resources.len());
    for (resource, refused) in request.resources.into_iter().zip(checked) {
        let result = async {
            config_access(&ctx, Operation::AlterConfigs, resource.resource_type, &resource.resource_name)?;
            if let Some(refused) = refused {
                return Err(refused);
            }
            let target = target_of(config, resource.resource_type, &resource.resource_name)?;
            let mut configs = target.current(config);
            for c in resource.configs {
                match c.config_operation {
                    OP_SET => {
                        let value = c
                            .value
                            .ok_or_else(|| (ErrorCode::InvalidRequest, format!("null value for config {}", c.name)))?;
                        configs.insert(c.name, value);
                    }
                    OP_DELETE => {
                        configs.remove(&c.name);
                    }
                    OP_APPEND | OP_SUBTRACT => {
                        let current = target.value_of(config, &configs, &c.name)?;
                        let mut items: Vec<String> =
                            current.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
                        for item in c.value.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
                            if c.config_operation == OP_APPEND {
                                if !items.iter().any(|i| i == item) {
                                    items.push(item.to_string());
                                }
                            } else {
                                items.retain(|i| i != item);
                            }
                        }
                        configs.insert(c.name, items.join(","));
                    }
                    other => return Err((ErrorCode::InvalidRequest, format!("unknown config operation {other}"))),
                }
            }
            target.write(config, configs, request.validate_only).await
        }
        .await;
        let (error_code, error_message) = match result {
            Ok(()) => (0, None),
            Err((code, message)) => (code.code(), Some(message)),
        };
        responses.push(IncrementalAlterConfigsResourceResponse {
            error_code,
            error_message,
            resource_type: resource.resource_type,
            resource_name: resource.resource_name,
        });
    }
    IncrementalAlterConfigsResponse { throttle_time_ms: 0, responses }
}
