//! SyncGroup: the leader hands out assignments; everyone receives theirs.

use sluice_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::RequestContext;
use crate::group::offsets_log::GroupLog;

pub async fn handle(ctx: RequestContext<'_>, log: GroupLog<'_>, request: SyncGroupRequest) -> SyncGroupResponse {
    if let Err(code) = ctx.group_access(crate::acl::Operation::Read, &request.group_id) {
        return SyncGroupResponse { error_code: code.code(), ..Default::default() };
    }
    if let Err(code) = crate::group::offsets_log::check_coordinator(log, &request.group_id).await {
        return SyncGroupResponse { error_code: code.code(), ..Default::default() };
    }
    let assignments = request.assignments.into_iter().map(|a| (a.member_id, a.assignment)).collect();
    let result = log
        .groups
        .sync(
            &request.group_id,
            &request.member_id,
            request.generation_id,
            request.group_instance_id.as_deref(),
            assignments,
        )
        .await;
    SyncGroupResponse {
        throttle_time_ms: 0,
        error_code: result.error.code(),
        protocol_type: result.protocol_type,
        protocol_name: result.protocol_name,
        assignment: result.assignment,
    }
}
