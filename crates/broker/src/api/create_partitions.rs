//! CreatePartitions: raise a topic's partition count. A request adding more than
//! `MAX_PARTITIONS_PER_ASSIGNMENT` partitions in all fails whole with POLICY_VIOLATION before
//! anything is built (Kafka's controller bounds one request's records the same way).

use sluice_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsResponseTopic};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::topic_admin;
use crate::topic_admin::TopicAdmin;

/// ALTER on each topic (TOPIC_AUTHORIZATION_FAILED for it).
pub async fn handle(
    ctx: RequestContext<'_>,
    admin: &TopicAdmin,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let added = admin.cluster.link.cache.read(|v| {
        request.topics.iter().fold(0u64, |sum, t| {
            let current = v.topics.get(&t.name).map_or(0, |view| view.partition_count());
            sum.saturating_add(t.count.saturating_sub(current).max(0) as u64)
        })
    });
    if added > crate::cluster::MAX_PARTITIONS_PER_ASSIGNMENT as u64 {
        let message = format!(
            "Excessively large number of partitions per request: {added} to add, limit {}",
            crate::cluster::MAX_PARTITIONS_PER_ASSIGNMENT
        );
        let results = request
            .topics
            .into_iter()
            .map(|t| CreatePartitionsResponseTopic {
                name: t.name,
                error_code: ErrorCode::PolicyViolation.code(),
                error_message: Some(message.clone()),
            })
            .collect();
        return CreatePartitionsResponse { throttle_time_ms: 0, results };
    }
    let mut results = Vec::with_capacity(request.topics.len());
    let quota = admin.mutation_quota(&ctx, ctx.version() >= MIN_STRICT_MUTATION_VERSION);
    let mut throttle = std::time::Duration::ZERO;
    for t in request.topics {
        if !ctx.authorize(Operation::Alter, ResourceType::Topic, &t.name) {
            results.push(CreatePartitionsResponseTopic {
                name: t.name,
                error_code: ErrorCode::TopicAuthorizationFailed.code(),
                error_message: Some("Authorization failed.".into()),
            });
            continue;
        }
        let now_ms = admin.cluster.replicas.now_ms().max(0) as u64;
        if !request.validate_only
            && let Some(wait) = quota.exhausted(now_ms)
        {
            throttle = throttle.max(wait);
            if quota.strict {
                results.push(CreatePartitionsResponseTopic {
                    name: t.name,
                    error_code: ErrorCode::ThrottlingQuotaExceeded.code(),
                    error_message: Some(crate::quota::THROTTLED_MUTATION_MESSAGE.into()),
                });
                continue;
            }
        }
        let current = admin.cluster.link.cache.read(|v| v.topics.get(&t.name).map_or(0, |view| view.partition_count()));
        let assignments = t.assignments.map(|a| a.into_iter().map(|a| a.broker_ids).collect());
        let result = topic_admin::add_partitions(admin, &t.name, t.count, assignments, request.validate_only).await;
        results.push(match result {
            Ok(()) => {
                if !request.validate_only {
                    let added = t.count.saturating_sub(current).max(0) as u64;
                    throttle = throttle.max(quota.record(added, now_ms));
                }
                CreatePartitionsResponseTopic { name: t.name, error_code: 0, error_message: None }
            }
            Err((code, message)) => {
                CreatePartitionsResponseTopic { name: t.name, error_code: code.code(), error_message: Some(message) }
            }
        });
    }
    CreatePartitionsResponse { throttle_time_ms: i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX), results }
}

/// The first CreatePartitions version that refuses topics over the mutation quota (KIP-599).
const MIN_STRICT_MUTATION_VERSION: i16 = 3;
