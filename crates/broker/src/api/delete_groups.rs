//! DeleteGroups: remove empty groups and their committed offsets (tombstones in
//! `__consumer_offsets`).

use sluice_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, DeleteGroupsResponseResult};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::group::offsets_log;
use crate::group::offsets_log::GroupLog;

pub async fn handle(ctx: RequestContext<'_>, log: GroupLog<'_>, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for id in request.groups_names {
        if !ctx.authorize(Operation::Delete, ResourceType::Group, &id) {
            results.push(DeleteGroupsResponseResult {
                group_id: id,
                error_code: ErrorCode::GroupAuthorizationFailed.code(),
            });
            continue;
        }
        if let Err(code) = offsets_log::check_coordinator(log, &id).await {
            results.push(DeleteGroupsResponseResult { group_id: id, error_code: code.code() });
            continue;
        }
        let (mut code, offsets) = log.groups.with_groups(|g, _| {
            let offsets: Vec<(String, i32)> =
                g.fetch_offsets(&id).map(|o| o.keys().cloned().collect()).unwrap_or_default();
            (g.delete(&id), offsets)
        });
        if code.code() == 0 {
            let tombstones: Vec<_> = offsets.into_iter().map(|tp| (tp, None)).collect();
            if let Err(e) = offsets_log::append(log, &id, &tombstones).await {
                code = e;
            } else if let Err(e) = offsets_log::append_group(log, &id, None).await {
                code = e;
            }
        }
        results.push(DeleteGroupsResponseResult { group_id: id, error_code: code.code() });
    }
    DeleteGroupsResponse { throttle_time_ms: 0, results }
}
