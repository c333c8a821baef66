//! FindCoordinator: group and transaction coordinators arrive with their issues; until then the
//! answer is COORDINATOR_NOT_AVAILABLE, which clients treat as "retry later".

use sluice_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse, FindCoordinatorResult};

use super::RequestContext;
use crate::error::ErrorCode;

pub fn handle(ctx: RequestContext<'_>, request: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let code = ErrorCode::CoordinatorNotAvailable;
    let message = Some("group and transaction coordinators are not available on this broker yet".to_string());
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
