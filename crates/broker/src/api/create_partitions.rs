//! CreatePartitions: raise a topic's partition count.

use sluice_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsResponseTopic};

use super::RequestContext;
use crate::topic_admin;

pub async fn handle(ctx: RequestContext<'_>, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for t in request.topics {
        let assignments = t.assignments.map(|a| a.into_iter().map(|a| a.broker_ids).collect());
        let result =
            topic_admin::add_partitions(ctx.broker, &t.name, t.count, assignments, request.validate_only).await;
        results.push(match result {
            Ok(()) => CreatePartitionsResponseTopic { name: t.name, error_code: 0, error_message: None },
            Err((code, message)) => {
                CreatePartitionsResponseTopic { name: t.name, error_code: code.code(), error_message: Some(message) }
            }
        });
    }
    CreatePartitionsResponse { throttle_time_ms: 0, results }
}
