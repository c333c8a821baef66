//! Heartbeat: keeps a member's session alive and tells it when to rejoin.

use sluice_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;
use crate::group::offsets_log::GroupLog;

pub async fn handle(ctx: RequestContext<'_>, log: GroupLog<'_>, request: HeartbeatRequest) -> HeartbeatResponse {
    if let Err(code) = ctx.group_access(crate::acl::Operation::Read, &request.group_id) {
        return HeartbeatResponse { throttle_time_ms: 0, error_code: code.code() };
    }
    if let Err(code) = crate::group::offsets_log::check_coordinator(log, &request.group_id).await {
        return HeartbeatResponse { throttle_time_ms: 0, error_code: code.code() };
    }
    let code = log.groups.with_groups(|g, now| {
        g.heartbeat(
            now,
            &request.group_id,
            &request.member_id,
            request.generation_id,
            request.group_instance_id.as_deref(),
        )
    });
    HeartbeatResponse { throttle_time_ms: 0, error_code: code.code() }
}
