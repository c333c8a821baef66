//! CreateTopics: validate and create each topic; with `validate_only`, only validate. Each
//! created partition counts against the client's `controller_mutation_rate` (KIP-599; strict
//! from v6: see `crate::quota`). A request
//! whose topics ask for more than `MAX_PARTITIONS_PER_ASSIGNMENT` partitions in all (counting
//! the broker default for -1, and the assignments given) fails whole with POLICY_VIOLATION
//! before anything is built, as Kafka's controller refuses it (`MAX_PARTITIONS_PER_BATCH`).

use sluice_protocol::codec::Uuid;
use sluice_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, CreateTopicsResponseConfig, CreateTopicsResponseTopic,
};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::dynamic_config::ConfigHandle;
use crate::error::ErrorCode;
use crate::{config_source, topic_admin};

/// Authorization as Kafka's: CREATE on the cluster or on the topic (TOPIC_AUTHORIZATION_FAILED,
/// before any existence check, so a refused principal learns nothing); a created topic's
/// configs only to a principal with DESCRIBE_CONFIGS on it (else `topic_config_error_code`).
pub async fn handle(
    ctx: RequestContext<'_>,
    config: ConfigHandle<'_>,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let cluster_create = ctx.authorize_cluster(Operation::Create);
    let wait_ms = request.timeout_ms.max(0) as u64;
    let requested = request.topics.iter().fold(0u64, |sum, t| {
        let count = match (t.assignments.is_empty(), t.num_partitions) {
            (false, _) => t.assignments.len() as u64,
            (true, -1) => config.admin.num_partitions.max(0) as u64,
            (true, n) => n.max(0) as u64,
        };
        sum.saturating_add(count)
    });
    if requested > crate::cluster::MAX_PARTITIONS_PER_ASSIGNMENT as u64 {
        let message = format!(
            "Excessively large number of partitions per request: {requested} requested, limit {}",
            crate::cluster::MAX_PARTITIONS_PER_ASSIGNMENT
        );
        let topics =
            request.topics.into_iter().map(|t| failed(t.name, ErrorCode::PolicyViolation, message.clone())).collect();
        return CreateTopicsResponse { throttle_time_ms: 0, topics };
    }
    let mut topics = Vec::with_capacity(request.topics.len());
    let quota = config.admin.mutation_quota(&ctx, ctx.version() >= MIN_STRICT_MUTATION_VERSION);
    let mut throttle = std::time::Duration::ZERO;
    for t in request.topics {
        if !cluster_create && !ctx.authorize(Operation::Create, ResourceType::Topic, &t.name) {
            topics.push(failed(t.name, ErrorCode::TopicAuthorizationFailed, "Authorization failed.".into()));
            continue;
        }
        let now_ms = config.admin.cluster.replicas.now_ms().max(0) as u64;
        if !request.validate_only
            && let Some(wait) = quota.exhausted(now_ms)
        {
            throttle = throttle.max(wait);
            if quota.strict {
                let message = crate::quota::THROTTLED_MUTATION_MESSAGE.to_string();
                topics.push(failed(t.name, ErrorCode::ThrottlingQuotaExceeded, message));
                continue;
            }
        }
        let configs: Vec<(String, Option<String>)> = t.configs.into_iter().map(|c| (c.name, c.value)).collect();
        let result = if !t.assignments.is_empty() {
            if t.num_partitions != -1 || t.replication_factor != -1 {
                Err((ErrorCode::InvalidRequest, "give either assignments or num_partitions/replication_factor".into()))
            } else {
                topic_admin::create_topic_with_assignment(
                    config.admin,
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
                config.admin,
                &t.name,
                t.num_partitions,
                t.replication_factor,
                &configs,
                request.validate_only,
                wait_ms,
            )
            .await
        };
        if let Ok(meta) = &result
            && !request.validate_only
        {
            throttle = throttle.max(quota.record(meta.partitions.max(0) as u64, now_ms));
        }
        topics.push(match result {
            Ok(_) if !ctx.authorize(Operation::DescribeConfigs, ResourceType::Topic, &t.name) => {
                CreateTopicsResponseTopic {
                    topic_config_error_code: ErrorCode::TopicAuthorizationFailed.code(),
                    error_message: None,
                    ..failed(t.name, ErrorCode::None, String::new())
                }
            }
            Ok(meta) => {
                let configs = config.with_config_layers(|layers| {
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
            Err((code, message)) => failed(t.name, code, message),
        });
    }
    CreateTopicsResponse { throttle_time_ms: i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX), topics }
}

/// The first CreateTopics version that refuses topics over the mutation quota (KIP-599).
const MIN_STRICT_MUTATION_VERSION: i16 = 6;

fn failed(name: String, code: ErrorCode, message: String) -> CreateTopicsResponseTopic {
    CreateTopicsResponseTopic {
        name,
        error_code: code.code(),
        error_message: Some(message),
        num_partitions: -1,
        replication_factor: -1,
        configs: None,
        ..Default::default()
    }
}
