//! FindCoordinator: this broker coordinates every group (single node); the transaction
//! coordinator arrives with its issue, until then COORDINATOR_NOT_AVAILABLE ("retry later").

use sluice_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse, FindCoordinatorResult};

use super::RequestContext;
use crate::error::ErrorCode;

/// FindCoordinator's key type for consumer groups (1 is transactions).
const KEY_TYPE_GROUP: i8 = 0;

pub fn handle(ctx: RequestContext<'_>, request: FindCoordinatorRequest) -> FindCoordinatorResponse {
    if request.key_type == KEY_TYPE_GROUP {
        // The coordinator of a group is the leader of its __consumer_offsets partition; on a
        // single node that is always this broker.
        let (host, port) = super::metadata::advertised(ctx);
        let node_id = ctx.broker.config.broker_id;
        if ctx.version() >= 4 {
            let coordinators = request
                .coordinator_keys
                .into_iter()
                .map(|key| FindCoordinatorResult {
                    key,
                    node_id,
                    host: host.clone(),
                    port,
                    error_code: 0,
                    error_message: None,
                })
                .collect();
            return FindCoordinatorResponse { coordinators, ..Default::default() };
        }
        return FindCoordinatorResponse {
            error_code: 0,
            error_message: None,
            node_id,
            host,
            port,
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
