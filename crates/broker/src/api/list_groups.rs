//! ListGroups: every group this coordinator knows, optionally filtered by state (v4+).

use sluice_protocol::messages::{ListGroupsRequest, ListGroupsResponse, ListGroupsResponseGroup};

use crate::group::offsets_log::GroupLog;

pub fn handle(log: GroupLog<'_>, request: ListGroupsRequest) -> ListGroupsResponse {
    let groups = log.groups.with_groups(|g, _| {
        g.groups()
            .filter(|grp| {
                request.states_filter.is_empty()
                    || request.states_filter.iter().any(|s| s.eq_ignore_ascii_case(grp.state.name()))
            })
            .map(|grp| ListGroupsResponseGroup {
                group_id: grp.group_id.clone(),
                protocol_type: grp.protocol_type.clone().unwrap_or_default(),
                group_state: grp.state.name().to_string(),
            })
            .collect()
    });
    ListGroupsResponse { throttle_time_ms: 0, error_code: 0, groups }
}
