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

use sluice_protocol::messages::DescribeConfigsSynonym;
use sluice_storage::config::topic_config_def;

use super::RequestContext;
use crate::config_source::{self, Described, SOURCE_DEFAULT_CONFIG, SOURCE_STATIC_BROKER_CONFIG};
use crate::error::ErrorCode;
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

/// A described config as DescribeConfigs sends it (synonyms only when asked for).
fn entry(d: Described, include_synonyms: bool, read_only: bool) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult {
        is_default: d.source == SOURCE_DEFAULT_CONFIG,
        config_source: d.source,
        synonyms: if include_synonyms {
            d.synonyms
                .into_iter()
                .map(|(name, value, source)| DescribeConfigsSynonym { name, value: Some(value), source })
                .collect()
        } else {
            Vec::new()
        },
        name: d.name,
        value: Some(d.value),
        read_only,
        is_sensitive: false,
        config_type: d.config_type,
        documentation: None,
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
                        result.configs = broker.with_config_layers(|layers| {
                            config_source::topic_configs(&meta.configs, layers)
                                .into_iter()
                                .filter(|d| wanted(&d.name))
                                .map(|d| entry(d, request.include_synonyms, false))
                                .collect()
                        });
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
                            let Some(def) = topic_config_def(&c.name).filter(|d| d.kind.kafka_type() == TYPE_LIST)
                            else {
                                return Err((ErrorCode::InvalidConfig, format!("{} is not a list config", c.name)));
                            };
                            let current = broker.with_config_layers(|layers| {
                                config_source::topic_config(def, &overrides, layers).value
                            });
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
