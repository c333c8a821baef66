//! CreatePartitions: raise a topic's partition count.

use sluice_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsResponseTopic};

use super::RequestContext;
use crate::error::ErrorCode;
use crate::topic_admin;

pub fn handle(ctx: RequestContext<'_>, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let id = ctx.broker.config.broker_id;
    let results = request
        .topics
        .into_iter()
        .map(|t| {
            let bad_assignment = t.assignments.as_ref().is_some_and(|a| a.iter().any(|a| a.broker_ids != vec![id]));
            let result = if bad_assignment {
                Err((ErrorCode::InvalidReplicaAssignment, format!("only broker {id} exists")))
            } else {
                topic_admin::add_partitions(ctx.broker, &t.name, t.count, request.validate_only)
            };
            match result {
                Ok(()) => CreatePartitionsResponseTopic { name: t.name, error_code: 0, error_message: None },
                Err((code, message)) => CreatePartitionsResponseTopic {
                    name: t.name,
                    error_code: code.code(),
                    error_message: Some(message),
                },
            }
        })
        .collect();
    CreatePartitionsResponse { throttle_time_ms: 0, results }
}
