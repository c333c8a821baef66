//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics (overrides of the
//! broker defaults, applied to the topic's logs at once) and, read-only, for this broker.
//! DescribeConfigs v0 tells a default value by `is_default` (Kafka: the source is
//! DEFAULT_CONFIG), later versions by `config_source`; each entry carries both and the version
//! picks.

use std::collections::BTreeMap;

use sluice_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResourceResponse, AlterConfigsResponse, DescribeConfigsRequest,
    DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};

use super::RequestContext;
use crate::error::ErrorCode;
use crate::topic_admin::{self, AdminResult};

/// Kafka's `ConfigResource.Type` values.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// Kafka's `ConfigSource` values.
const SOURCE_TOPIC_CONFIG: i8 = 1;
const SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
const SOURCE_DEFAULT_CONFIG: i8 = 5;
/// Kafka's `ConfigType` values.
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_LIST: i8 = 7;
/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

fn config_type(key: &str) -> i8 {
    match key {
        "cleanup.policy" => TYPE_LIST,
        "segment.bytes"
        | "segment.index.bytes"
        | "index.interval.bytes"
        | "max.message.bytes"
        | "min.insync.replicas" => TYPE_INT,
        _ => TYPE_LONG,
    }
}

pub fn describe(ctx: RequestContext<'_>, request: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let broker = ctx.broker;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let wanted =
                |key: &str| resource.configuration_keys.as_ref().is_none_or(|keys| keys.iter().any(|k| k == key));
            let mut result = DescribeConfigsResult {
                resource_type: resource.resource_type,
                resource_name: resource.resource_name.clone(),
                ..Default::default()
            };
            match resource.resource_type {
                RESOURCE_TOPIC => match broker.topic_meta(&resource.resource_name) {
                    Some(meta) => {
                        let log_config =
                            broker.topic_log_config(&meta.configs).unwrap_or_else(|_| broker.config.log.clone());
                        result.configs = topic_admin::topic_config_keys()
                            .into_iter()
                            .filter(|k| wanted(k))
                            .map(|key| {
                                let overridden = meta.configs.contains_key(key);
                                DescribeConfigsResourceResult {
                                    name: key.to_string(),
                                    value: Some(topic_admin::topic_config_value(
                                        broker,
                                        &log_config,
                                        &meta.configs,
                                        key,
                                    )),
                                    read_only: false,
                                    is_default: !overridden,
                                    config_source: if overridden { SOURCE_TOPIC_CONFIG } else { SOURCE_DEFAULT_CONFIG },
                                    is_sensitive: false,
                                    synonyms: Vec::new(),
                                    config_type: config_type(key),
                                    documentation: None,
                                }
                            })
                            .collect();
                    }
                    None => {
                        result.error_code = ErrorCode::UnknownTopicOrPartition.code();
                        result.error_message = Some(format!("topic '{}' does not exist", resource.resource_name));
                    }
                },
                RESOURCE_BROKER
                    if resource.resource_name.is_empty()
                        || resource.resource_name == broker.config.broker_id.to_string() =>
                {
                    result.configs = broker
                        .config
                        .values
                        .iter()
                        .filter(|(k, _)| wanted(k))
                        .map(|(k, v)| DescribeConfigsResourceResult {
                            name: k.clone(),
                            value: Some(v.clone()),
                            read_only: true,
                            is_default: false,
                            config_source: SOURCE_STATIC_BROKER_CONFIG,
                            is_sensitive: false,
                            synonyms: Vec::new(),
                            config_type: 2,
                            documentation: None,
                        })
                        .collect();
                }
                RESOURCE_BROKER => {
                    result.error_code = ErrorCode::InvalidRequest.code();
                    result.error_message =
                        Some(format!("this is broker {}, not {}", broker.config.broker_id, resource.resource_name));
                }
                other => {
                    result.error_code = ErrorCode::InvalidRequest.code();
                    result.error_message = Some(format!("unsupported resource type {other}"));
                }
            }
            result
        })
        .collect();
    DescribeConfigsResponse { throttle_time_ms: 0, results }
}

fn topic_only(resource_type: i8) -> AdminResult<()> {
    match resource_type {
        RESOURCE_TOPIC => Ok(()),
        RESOURCE_BROKER => Err((ErrorCode::InvalidRequest, "broker configs cannot be changed at run time yet".into())),
        other => Err((ErrorCode::InvalidRequest, format!("unsupported resource type {other}"))),
    }
}

pub async fn alter(ctx: RequestContext<'_>, request: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        {
            let prepared = topic_only(resource.resource_type).and_then(|()| {
                let mut overrides = BTreeMap::new();
                for c in resource.configs {
                    let Some(value) = c.value else {
                        return Err((ErrorCode::InvalidConfig, format!("null value for config {}", c.name)));
                    };
                    overrides.insert(c.name, value);
                }
                Ok(overrides)
            });
            let result = match prepared {
                Ok(overrides) => {
                    topic_admin::set_topic_configs(
                        ctx.broker,
                        &resource.resource_name,
                        overrides,
                        request.validate_only,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
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
    }
    AlterConfigsResponse { throttle_time_ms: 0, responses }
}

pub async fn incremental_alter(
    ctx: RequestContext<'_>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let broker = ctx.broker;
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        {
            let prepared = topic_only(resource.resource_type).and_then(|()| {
                let meta = broker.topic_meta(&resource.resource_name).ok_or_else(|| {
                    (ErrorCode::UnknownTopicOrPartition, format!("topic '{}' does not exist", resource.resource_name))
                })?;
                let mut overrides = meta.configs.clone();
                let log_config = broker.topic_log_config(&meta.configs).unwrap_or_else(|_| broker.config.log.clone());
                for c in resource.configs {
                    match c.config_operation {
                        OP_SET => {
                            let value = c.value.ok_or_else(|| {
                                (ErrorCode::InvalidConfig, format!("null value for config {}", c.name))
                            })?;
                            overrides.insert(c.name, value);
                        }
                        OP_DELETE => {
                            overrides.remove(&c.name);
                        }
                        OP_APPEND | OP_SUBTRACT => {
                            if config_type(&c.name) != TYPE_LIST {
                                return Err((ErrorCode::InvalidConfig, format!("{} is not a list config", c.name)));
                            }
                            let current = topic_admin::topic_config_value(broker, &log_config, &overrides, &c.name);
                            let mut items: Vec<String> =
                                current.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
                            for item in c.value.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty())
                            {
                                if c.config_operation == OP_APPEND {
                                    if !items.iter().any(|i| i == item) {
                                        items.push(item.to_string());
                                    }
                                } else {
                                    items.retain(|i| i != item);
                                }
                            }
                            overrides.insert(c.name, items.join(","));
                        }
                        other => return Err((ErrorCode::InvalidRequest, format!("unknown config operation {other}"))),
                    }
                }
                Ok(overrides)
            });
            let result = match prepared {
                Ok(overrides) => {
                    topic_admin::set_topic_configs(broker, &resource.resource_name, overrides, request.validate_only)
                        .await
                }
                Err(e) => Err(e),
            };
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
    }
    IncrementalAlterConfigsResponse { throttle_time_ms: 0, responses }
}
