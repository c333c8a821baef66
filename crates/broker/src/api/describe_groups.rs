//! DescribeGroups: state, protocol and members (with metadata and assignment) of each group.

use sluice_protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, DescribeGroupsResponseGroup, DescribeGroupsResponseMember,
};

use super::{RequestContext, authorized_operations};
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::group::offsets_log::GroupLog;

/// The first DescribeGroups version that answers GROUP_ID_NOT_FOUND for a group that does not
/// exist (KIP-1043).
const MIN_GROUP_NOT_FOUND_VERSION: i16 = 6;

pub fn handle(ctx: RequestContext<'_>, log: GroupLog<'_>, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let groups = request
        .groups
        .into_iter()
        .map(|id| {
            // DESCRIBE on each group (GROUP_AUTHORIZATION_FAILED in its entry).
            if !ctx.authorize(Operation::Describe, ResourceType::Group, &id) {
                return DescribeGroupsResponseGroup {
                    error_code: ErrorCode::GroupAuthorizationFailed.code(),
                    group_id: id,
                    authorized_operations: authorized_operations::NOT_REQUESTED,
                    ..Default::default()
                };
            }
            let operations = authorized_operations::reported(
                request.include_authorized_operations,
                ctx.authorized_operations(ResourceType::Group, &id),
            );
            if let Err(code) = crate::group::offsets_log::check_coordinator_now(log, &id) {
                return DescribeGroupsResponseGroup {
                    error_code: code.code(),
                    group_id: id,
                    authorized_operations: operations,
                    ..Default::default()
                };
            }
            log.groups.with_groups(|g, _| match g.group(&id) {
                // A consumer-protocol group is described with ConsumerGroupDescribe; to this API
                // it is not a (classic) group, as in Kafka.
                Some(grp) if grp.consumer.is_some() && ctx.version() >= MIN_GROUP_NOT_FOUND_VERSION => {
                    DescribeGroupsResponseGroup {
                        error_code: ErrorCode::GroupIdNotFound.code(),
                        error_message: Some(format!("Group {id} is not a classic group.")),
                        group_id: id.clone(),
                        group_state: "Dead".into(),
                        authorized_operations: operations,
                        ..Default::default()
                    }
                }
                Some(grp) if grp.consumer.is_some() => DescribeGroupsResponseGroup {
                    group_id: id.clone(),
                    group_state: "Dead".into(),
                    authorized_operations: operations,
                    ..Default::default()
                },
                Some(grp) => DescribeGroupsResponseGroup {
                    error_code: 0,
                    error_message: None,
                    group_id: id.clone(),
                    group_state: grp.state.name().to_string(),
                    protocol_type: grp.protocol_type.clone().unwrap_or_default(),
                    protocol_data: grp.protocol_name.clone().unwrap_or_default(),
                    members: grp
                        .members
                        .values()
                        .map(|m| DescribeGroupsResponseMember {
                            member_id: m.member_id.clone(),
                            group_instance_id: m.group_instance_id.clone(),
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            member_metadata: grp
                                .protocol_name
                                .as_ref()
                                .and_then(|p| m.protocols.iter().find(|(n, _)| n == p))
                                .map(|(_, md)| md.clone())
                                .unwrap_or_default(),
                            member_assignment: m.assignment.clone(),
                        })
                        .collect(),
                    authorized_operations: operations,
                },
                // Kafka describes an unknown group as Dead with no members, not as an error;
                // from v6 as GROUP_ID_NOT_FOUND (KIP-1043).
                None if ctx.version() >= MIN_GROUP_NOT_FOUND_VERSION => DescribeGroupsResponseGroup {
                    error_code: ErrorCode::GroupIdNotFound.code(),
                    error_message: Some(format!("Group {id} not found.")),
                    group_id: id.clone(),
                    group_state: "Dead".into(),
                    authorized_operations: operations,
                    ..Default::default()
                },
                None => DescribeGroupsResponseGroup {
                    error_code: 0,
                    group_id: id.clone(),
                    group_state: "Dead".into(),
                    authorized_operations: operations,
                    ..Default::default()
                },
            })
        })
        .collect();
    DescribeGroupsResponse { throttle_time_ms: 0, groups }
}
