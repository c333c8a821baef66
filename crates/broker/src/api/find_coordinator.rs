//! FindCoordinator: a group's coordinator is the leader of its `__consumer_offsets` partition
//! (the topic is created on first use); the transaction coordinator arrives with its issue,
//! until then COORDINATOR_NOT_AVAILABLE ("retry later").

use sluice_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse, FindCoordinatorResult};

use super::RequestContext;
use crate::error::ErrorCode;
use crate::group::offsets_log;

/// FindCoordinator's key type for consumer groups (1 is transactions).
const KEY_TYPE_GROUP: i8 = 0;
/// How long FindCoordinator waits for a group's partition to get a leader (a new
/// `__consumer_offsets`, or a failover) before answering COORDINATOR_NOT_AVAILABLE.
const COORDINATOR_WAIT_MS: u64 = 5_000;

pub async fn handle(ctx: RequestContext<'_>, request: FindCoordinatorRequest) -> FindCoordinatorResponse {
    if request.key_type == KEY_TYPE_GROUP {
        let ready = offsets_log::ensure_topic(ctx.broker).await;
        let keys = if ctx.version() >= 4 { request.coordinator_keys.clone() } else { vec![request.key.clone()] };
        let mut leaders = std::collections::HashMap::new();
        for key in &keys {
            let leader = match ready {
                Ok(()) => offsets_log::wait_for_coordinator(ctx.broker, key, COORDINATOR_WAIT_MS).await,
                Err(_) => None,
            };
            leaders.insert(key.clone(), leader);
        }
        let (_, brokers) = super::metadata::live_brokers(ctx);
        let find = |group: &str| -> FindCoordinatorResult {
            let leader = leaders.get(group).copied().flatten();
            match leader.and_then(|id| brokers.iter().find(|b| b.node_id == id)) {
                Some(b) => FindCoordinatorResult {
                    key: group.to_string(),
                    node_id: b.node_id,
                    host: b.host.clone(),
                    port: b.port,
                    error_code: 0,
                    error_message: None,
                },
                None => FindCoordinatorResult {
                    key: group.to_string(),
                    node_id: -1,
                    host: String::new(),
                    port: -1,
                    error_code: ErrorCode::CoordinatorNotAvailable.code(),
                    error_message: Some("the group's __consumer_offsets partition has no leader yet".into()),
                },
            }
        };
        if ctx.version() >= 4 {
            let coordinators = request.coordinator_keys.iter().map(|key| find(key)).collect();
            return FindCoordinatorResponse { coordinators, ..Default::default() };
        }
        let r = find(&request.key);
        return FindCoordinatorResponse {
            error_code: r.error_code,
            error_message: r.error_message,
            node_id: r.node_id,
            host: r.host,
            port: r.port,
            ..Default::default()
        };
    }
    let code = ErrorCode::CoordinatorNotAvailable;
    let message = Some("the transaction coordinator is not available on this broker yet".to_string());
    if ctx.version() >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| FindCoordinatorResult {
                key,
                node_id: -1,
                host: String::new(),
                port: -1,
                error_code: code.code(),
                error_message: message.clone(),
            })
            .collect();
        return FindCoordinatorResponse { coordinators, ..Default::default() };
    }
    FindCoordinatorResponse {
        error_code: code.code(),
        error_message: message,
        node_id: -1,
        port: -1,
        ..Default::default()
    }
}
