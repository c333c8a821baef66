//! DeleteTopics: remove each topic; every replica deletes its logs when it sees the change.
//! Internal topics are refused (INVALID_TOPIC_EXCEPTION). Each deleted partition counts against
//! the client's `controller_mutation_rate` (KIP-599; strict from v5: see `crate::quota`).

use sluice_protocol::codec::Uuid;
use sluice_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, DeleteTopicsResponseTopic};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::topic_admin;
use crate::topic_admin::TopicAdmin;

/// DESCRIBE and DELETE on each topic (TOPIC_AUTHORIZATION_FAILED before the existence check).
/// The first DeleteTopics version that refuses topics over the mutation quota (KIP-599).
const MIN_STRICT_MUTATION_VERSION: i16 = 5;

/// The first DeleteTopics version that names topics by name or id (KIP-516).
const MIN_TOPIC_ID_VERSION: i16 = 6;

pub async fn handle(ctx: RequestContext<'_>, admin: &TopicAdmin, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let mut request = request;
    let mut responses = Vec::new();
    // From v6 each topic comes by name or by id: ids become names; an id no topic has is
    // UNKNOWN_TOPIC_ID, a topic with both a name and an id INVALID_REQUEST, as Kafka answers.
    let mut ids = std::collections::HashMap::new();
    if ctx.version() >= MIN_TOPIC_ID_VERSION {
        let names: std::collections::HashMap<[u8; 16], String> =
            admin.cluster.link.cache.read(|v| v.topics.iter().map(|(n, t)| (t.id, n.clone())).collect());
        for t in std::mem::take(&mut request.topics) {
            let refused = |code: ErrorCode, message: &str| DeleteTopicsResponseTopic {
                name: t.name.clone(),
                topic_id: t.topic_id,
                error_code: code.code(),
                error_message: Some(message.to_string()),
            };
            match (t.name.clone(), t.topic_id == Uuid::ZERO) {
                (Some(_), false) => {
                    responses.push(refused(ErrorCode::InvalidRequest, "give a topic's name or its id, not both"))
                }
                (Some(name), true) => request.topic_names.push(name),
                (None, true) => responses.push(refused(ErrorCode::InvalidRequest, "a topic needs a name or an id")),
                (None, false) => match names.get(&t.topic_id.0) {
                    Some(name) => {
                        ids.insert(name.clone(), t.topic_id);
                        request.topic_names.push(name.clone());
                    }
                    None => responses.push(refused(ErrorCode::UnknownTopicId, "no topic has this id")),
                },
            }
        }
        for name in &request.topic_names {
            if !ids.contains_key(name)
                && let Some((id, _)) = names.iter().find(|(_, n)| *n == name)
            {
                ids.insert(name.clone(), Uuid(*id));
            }
        }
    }
    let quota = admin.mutation_quota(&ctx, ctx.version() >= MIN_STRICT_MUTATION_VERSION);
    let mut throttle = std::time::Duration::ZERO;
    for name in std::mem::take(&mut request.topic_names) {
        if !ctx.authorize(Operation::Describe, ResourceType::Topic, &name)
            || !ctx.authorize(Operation::Delete, ResourceType::Topic, &name)
        {
            responses.push(DeleteTopicsResponseTopic {
                topic_id: ids.get(&name).copied().unwrap_or(Uuid::ZERO),
                name: Some(name),
                error_code: ErrorCode::TopicAuthorizationFailed.code(),
                error_message: Some("Authorization failed.".into()),
            });
            continue;
        }
        if crate::topics::is_internal(&name) {
            let error_message = Some(format!("'{name}' is an internal topic and cannot be deleted"));
            responses.push(DeleteTopicsResponseTopic {
                topic_id: ids.get(&name).copied().unwrap_or(Uuid::ZERO),
                name: Some(name),
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
                    topic_id: ids.get(&name).copied().unwrap_or(Uuid::ZERO),
                    name: Some(name),
                    error_code: ErrorCode::ThrottlingQuotaExceeded.code(),
                    error_message: Some(crate::quota::THROTTLED_MUTATION_MESSAGE.into()),
                });
                continue;
            }
        }
        let partitions = admin.cluster.link.cache.read(|v| v.topics.get(&name).map_or(0, |t| t.partition_count()));
        let topic_id = ids.get(&name).copied().unwrap_or(Uuid::ZERO);
        responses.push(match topic_admin::delete_topic(admin, &name).await {
            Ok(()) => {
                throttle = throttle.max(quota.record(partitions as u64, now_ms));
                DeleteTopicsResponseTopic { name: Some(name), topic_id, error_code: 0, error_message: None }
            }
            Err((code, message)) => DeleteTopicsResponseTopic {
                name: Some(name),
                topic_id,
                error_code: code.code(),
                error_message: Some(message),
            },
        });
    }
    DeleteTopicsResponse { throttle_time_ms: i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX), responses }
}
