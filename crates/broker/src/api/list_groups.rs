//! ListGroups: every group this coordinator knows, optionally filtered by state (v4+) and by type
//! (v5+, KIP-848: `classic` or `consumer`); to a principal without DESCRIBE on the cluster, only
//! the groups it may describe.

use sluice_protocol::messages::{ListGroupsRequest, ListGroupsResponse, ListGroupsResponseGroup};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::group::offsets_log::GroupLog;

pub fn handle(ctx: RequestContext<'_>, log: GroupLog<'_>, request: ListGroupsRequest) -> ListGroupsResponse {
    let every_group = ctx.authorize_cluster(Operation::Describe);
    // Type names are matched without regard to case, as Kafka parses them.
    let type_wanted = |t: &str| {
        request.types_filter.is_empty() || request.types_filter.iter().any(|w| w.trim().eq_ignore_ascii_case(t))
    };
    let groups = log.groups.with_groups(|g, _| {
        g.groups()
            .filter(|grp| {
                request.states_filter.is_empty()
                    || request.states_filter.iter().any(|s| s.eq_ignore_ascii_case(grp.state_name()))
            })
            .filter(|grp| type_wanted(grp.group_type()))
            .filter(|grp| every_group || ctx.authorize(Operation::Describe, ResourceType::Group, &grp.group_id))
            .map(|grp| ListGroupsResponseGroup {
                group_id: grp.group_id.clone(),
                protocol_type: if grp.consumer.is_some() {
                    "consumer".to_string()
                } else {
                    grp.protocol_type.clone().unwrap_or_default()
                },
                group_state: grp.state_name().to_string(),
                group_type: grp.group_type().to_string(),
            })
            .collect()
    });
    ListGroupsResponse { throttle_time_ms: 0, error_code: 0, groups }
}
