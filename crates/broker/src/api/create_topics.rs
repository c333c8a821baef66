//! CreateTopics: validate and create each topic; with `validate_only`, only validate.

use sluice_protocol::codec::Uuid;
use sluice_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, CreateTopicsResponseConfig, CreateTopicsResponseTopic,
};

use super::RequestContext;
use crate::error::ErrorCode;
use crate::{config_source, topic_admin};

pub async fn handle(ctx: RequestContext<'_>, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let broker = ctx.broker;
    let wait_ms = request.timeout_ms.max(0) as u64;
    let mut topics = Vec::with_capacity(request.topics.len());
    for t in request.topics {
        let configs: Vec<(String, Option<String>)> = t.configs.into_iter().map(|c| (c.name, c.value)).collect();
        let result = if !t.assignments.is_empty() {
            if t.num_partitions != -1 || t.replication_factor != -1 {
                Err((ErrorCode::InvalidRequest, "give either assignments or num_partitions/replication_factor".into()))
            } else {
                topic_admin::create_topic_with_assignment(
                    broker,
                    &t.name,
                    t.assignments.iter().map(|a| (a.partition_index, a.broker_ids.clone())).collect(),
                    &configs,
                    request.validate_only,
                    wait_ms,
                )
                .await
            }
        } else {
            topic_admin::create_topic(
                broker,
                &t.name,
                t.num_partitions,
                t.replication_factor,
                &configs,
                request.validate_only,
                wait_ms,
            )
            .await
        };
        topics.push(match result {
            Ok(meta) => {
                let configs = broker.with_config_layers(|layers| {
                    config_source::topic_configs(&meta.configs, layers)
                        .into_iter()
                        .map(|d| CreateTopicsResponseConfig {
                            name: d.name,
                            value: Some(d.value),
                            read_only: false,
                            config_source: d.source,
                            is_sensitive: false,
                        })
                        .collect()
                });
                CreateTopicsResponseTopic {
                    name: t.name,
                    topic_id: Uuid(meta.id_bytes()),
                    num_partitions: meta.partitions,
                    replication_factor: meta.replication_factor,
                    configs: Some(configs),
                    ..Default::default()
                }
            }
            Err((code, message)) => CreateTopicsResponseTopic {
                name: t.name,
                error_code: code.code(),
                error_message: Some(message),
                num_partitions: -1,
                replication_factor: -1,
                configs: None,
                ..Default::default()
            },
        });
    }
    CreateTopicsResponse { throttle_time_ms: 0, topics }
}
