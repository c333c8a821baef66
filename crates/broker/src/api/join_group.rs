//! JoinGroup: join (or rejoin) a group; the answer may wait for the rest of the group.

use sluice_protocol::messages::{JoinGroupRequest, JoinGroupResponse, JoinGroupResponseMember};

use super::RequestContext;
use crate::group::offsets_log::GroupLog;
use crate::group::state::JoinRequest;

pub async fn handle(ctx: RequestContext<'_>, log: GroupLog<'_>, request: JoinGroupRequest) -> JoinGroupResponse {
    let version = ctx.version();
    let authorized = ctx.group_access(crate::acl::Operation::Read, &request.group_id);
    let ready = match authorized {
        Ok(()) => crate::group::offsets_log::check_coordinator(log, &request.group_id).await,
        refused => refused,
    };
    if let Err(code) = ready {
        return JoinGroupResponse {
            error_code: code.code(),
            generation_id: -1,
            member_id: request.member_id,
            protocol_name: if version >= 7 { None } else { Some(String::new()) },
            ..Default::default()
        };
    }
    let result = log
        .groups
        .join(JoinRequest {
            group_id: request.group_id,
            member_id: request.member_id,
            group_instance_id: request.group_instance_id,
            client_id: ctx.header.client_id.clone().unwrap_or_default(),
            // Kafka's form: the address as Java prints it (`/127.0.0.1`).
            client_host: format!("/{}", ctx.peer.ip()),
            session_timeout_ms: request.session_timeout_ms,
            // v0 has no rebalance timeout: the session timeout stands in for it.
            rebalance_timeout_ms: if version >= 1 { request.rebalance_timeout_ms } else { request.session_timeout_ms },
            protocol_type: request.protocol_type,
            protocols: request.protocols.into_iter().map(|p| (p.name, p.metadata)).collect(),
            require_known_member_id: version >= 4,
            topics: super::consumer_group::topics(log),
        })
        .await;
    JoinGroupResponse {
        throttle_time_ms: 0,
        error_code: result.error.code(),
        generation_id: result.generation_id,
        protocol_type: result.protocol_type,
        // Non-nullable before v7.
        protocol_name: if version >= 7 { result.protocol_name } else { Some(result.protocol_name.unwrap_or_default()) },
        leader: result.leader_id,
        skip_assignment: result.skip_assignment,
        member_id: result.member_id,
        members: result
            .members
            .into_iter()
            .map(|(member_id, group_instance_id, metadata)| JoinGroupResponseMember {
                member_id,
                group_instance_id,
                metadata,
            })
            .collect(),
    }
}
