//! DeleteTopics: remove each topic; every replica deletes its logs when it sees the change.
//! Internal topics are refused (INVALID_TOPIC_EXCEPTION).

use sluice_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, DeleteTopicsResponseTopic};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::topic_admin;
use crate::topic_admin::TopicAdmin;

/// DESCRIBE and DELETE on each topic (TOPIC_AUTHORIZATION_FAILED before the existence check).
pub async fn handle(ctx: RequestContext<'_>, admin: &TopicAdmin, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let mut responses = Vec::with_capacity(request.topic_names.len());
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
        responses.push(match topic_admin::delete_topic(admin, &name).await {
            Ok(()) => DeleteTopicsResponseTopic { name, error_code: 0, error_message: None },
            Err((code, message)) => {
                DeleteTopicsResponseTopic { name, error_code: code.code(), error_message: Some(message) }
            }
        });
    }
    DeleteTopicsResponse { throttle_time_ms: 0, responses }
}
