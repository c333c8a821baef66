//! DeleteTopics: remove each topic and its logs.

use sluice_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, DeleteTopicsResponseTopic};

use super::RequestContext;
use crate::topic_admin;

pub fn handle(ctx: RequestContext<'_>, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let responses = request
        .topic_names
        .into_iter()
        .map(|name| match topic_admin::delete_topic(ctx.broker, &name) {
            Ok(()) => DeleteTopicsResponseTopic { name, error_code: 0, error_message: None },
            Err((code, message)) => {
                DeleteTopicsResponseTopic { name, error_code: code.code(), error_message: Some(message) }
            }
        })
        .collect();
    DeleteTopicsResponse { throttle_time_ms: 0, responses }
}
