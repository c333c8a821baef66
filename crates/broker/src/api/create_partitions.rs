//! CreatePartitions: raise a topic's partition count.

use sluice_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsResponseTopic};

use super::RequestContext;
use crate::error::ErrorCode;
use crate::topic_admin;

pub async fn handle(ctx: RequestContext<'_>, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for t in request.topics {
        let result = if t.assignments.is_some() {
            Err((
                ErrorCode::InvalidReplicaAssignment,
                "explicit assignments are not supported; let the cluster assign replicas".to_string(),
            ))
        } else {
            topic_admin::add_partitions(ctx.broker, &t.name, t.count, request.validate_only).await
        };
        results.push(match result {
            Ok(()) => CreatePartitionsResponseTopic { name: t.name, error_code: 0, error_message: None },
            Err((code, message)) => {
                CreatePartitionsResponseTopic { name: t.name, error_code: code.code(), error_message: Some(message) }
            }
        });
    }
    CreatePartitionsResponse { throttle_time_ms: 0, results }
}
