//! DeleteGroups: remove empty groups and their committed offsets.

use sluice_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, DeleteGroupsResponseResult};

use super::RequestContext;

pub fn handle(ctx: RequestContext<'_>, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let results = request
        .groups_names
        .into_iter()
        .map(|id| {
            let code = ctx.broker.groups.with_groups(|g, _| g.delete(&id));
            DeleteGroupsResponseResult { group_id: id, error_code: code.code() }
        })
        .collect();
    DeleteGroupsResponse { throttle_time_ms: 0, results }
}
