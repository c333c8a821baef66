//! ListGroups: every group this coordinator knows, optionally filtered by state (v4+) and by type
//! (v5+, KIP-848: every group here is `classic`); to a principal without DESCRIBE on the
//! cluster, only the groups it may describe.

use sluice_protocol::messages::{ListGroupsRequest, ListGroupsResponse, ListGroupsResponseGroup};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::group::offsets_log::GroupLog;

/// The type of every group this coordinator serves (the classic protocol's).
const CLASSIC: &str = "classic";

pub fn handle(ctx: RequestContext<'_>, log: GroupLog<'_>, request: ListGroupsRequest) -> ListGroupsResponse {
    let every_group = ctx.authorize_cluster(Operation::Describe);
    // Type names are matched without regard to case, as Kafka parses them.
    let classic_wanted =
        request.types_filter.is_empty() || request.types_filter.iter().any(|t| t.trim().eq_ignore_ascii_case(CLASSIC));
    let groups = log.groups.with_groups(|g, _| {
        g.groups()
            .filter(|grp| {
                request.states_filter.is_empty()
                    || request.states_filter.iter().any(|s| s.eq_ignore_ascii_case(grp.state.name()))
            })
            .filter(|_| classic_wanted)
            .filter(|grp| every_group || ctx.authorize(Operation::Describe, ResourceType::Group, &grp.group_id))
            .map(|grp| ListGroupsResponseGroup {
                group_id: grp.group_id.clone(),
                protocol_type: grp.protocol_type.clone().unwrap_or_default(),
                group_state: grp.state.name().to_string(),
                group_type: CLASSIC.to_string(),
            })
            .collect()
    });
    ListGroupsResponse { throttle_time_ms: 0, error_code: 0, groups }
}
