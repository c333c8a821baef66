//! DeleteTopics: remove each topic; every replica deletes its logs when it sees the change.
//! Internal topics are refused (INVALID_TOPIC_EXCEPTION). Each deleted partition counts against
//! the client's `controller_mutation_rate` (KIP-599; strict from v5: see `crate::quota`).

use sluice_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, DeleteTopicsResponseTopic};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::topic_admin;
use crate::topic_admin::TopicAdmin;

/// DESCRIBE and DELETE on each topic (TOPIC_AUTHORIZATION_FAILED before the existence check).
/// The first DeleteTopics version that refuses topics over the mutation quota (KIP-599).
const MIN_STRICT_MUTATION_VERSION: i16 = 5;

pub async fn handle(ctx: RequestContext<'_>, admin: &TopicAdmin, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let mut responses = Vec::with_capacity(request.topic_names.len());
    let quota = admin.mutation_quota(&ctx, ctx.version() >= MIN_STRICT_MUTATION_VERSION);
    let mut throttle = std::time::Duration::ZERO;
    for name in request.topic_names {
        if !ctx.authorize(Operation::Describe, ResourceType::Topic, &name)
            || !ctx.authorize(Operation::Delete, ResourceType::Topic, &name)
        {
            responses.push(DeleteTopicsResponseTopic {
                name,
                error_code: ErrorCode::TopicAuthorizationFailed.code(),
                error_message: Some("Authorization failed.".into()),
            });
            continue;
        }
        if crate::topics::is_internal(&name) {
            let error_message = Some(format!("'{name}' is an internal topic and cannot be deleted"));
            responses.push(DeleteTopicsResponseTopic {
                name,
                error_code: ErrorCode::InvalidTopicException.code(),
                error_message,
            });
            continue;
        }
        let now_ms = admin.cluster.replicas.now_ms().max(0) as u64;
        if let Some(wait) = quota.exhausted(now_ms) {
            throttle = throttle.max(wait);
            if quota.strict {
                responses.push(DeleteTopicsResponseTopic {
                    name,
                    error_code: ErrorCode::ThrottlingQuotaExceeded.code(),
                    error_message: Some(crate::quota::THROTTLED_MUTATION_MESSAGE.into()),
                });
                continue;
            }
        }
        let partitions = admin.cluster.link.cache.read(|v| v.topics.get(&name).map_or(0, |t| t.partition_count()));
        responses.push(match topic_admin::delete_topic(admin, &name).await {
            Ok(()) => {
                throttle = throttle.max(quota.record(partitions as u64, now_ms));
                DeleteTopicsResponseTopic { name, error_code: 0, error_message: None }
            }
            Err((code, message)) => {
                DeleteTopicsResponseTopic { name, error_code: code.code(), error_message: Some(message) }
            }
        });
    }
    DeleteTopicsResponse { throttle_time_ms: i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX), responses }
}
