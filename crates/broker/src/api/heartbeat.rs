//! Heartbeat: keeps a member's session alive and tells it when to rejoin.

use sluice_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;

pub fn handle(ctx: RequestContext<'_>, request: HeartbeatRequest) -> HeartbeatResponse {
    let code = ctx.broker.groups.with_groups(|g, now| {
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
