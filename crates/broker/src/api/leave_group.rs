//! LeaveGroup: one member (v0–2) or a batch of members (v3+, by member or instance id).

use sluice_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse, LeaveGroupResponseMember};

use super::RequestContext;
use crate::group::offsets_log::GroupLog;

pub async fn handle(ctx: RequestContext<'_>, log: GroupLog<'_>, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let groups = log.groups;
    if let Err(code) = ctx.group_access(crate::acl::Operation::Read, &request.group_id) {
        return LeaveGroupResponse { throttle_time_ms: 0, error_code: code.code(), members: Vec::new() };
    }
    if let Err(code) = crate::group::offsets_log::check_coordinator(log, &request.group_id).await {
        return LeaveGroupResponse { throttle_time_ms: 0, error_code: code.code(), members: Vec::new() };
    }
    if ctx.version() < 3 {
        let code = groups.with_groups(|g, now| g.leave(now, &request.group_id, &request.member_id, None));
        return LeaveGroupResponse { throttle_time_ms: 0, error_code: code.code(), members: Vec::new() };
    }
    let members = request
        .members
        .into_iter()
        .map(|m| {
            let code = groups
                .with_groups(|g, now| g.leave(now, &request.group_id, &m.member_id, m.group_instance_id.as_deref()));
            LeaveGroupResponseMember {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                error_code: code.code(),
            }
        })
        .collect();
    LeaveGroupResponse { throttle_time_ms: 0, error_code: 0, members }
}
