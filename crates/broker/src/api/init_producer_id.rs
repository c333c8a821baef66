//! InitProducerId: a producer id and epoch for an idempotent producer, from this broker's block
//! of ids (see `producer_ids`). Transactional ids need the transaction coordinator, which is
//! not built yet: they get COORDINATOR_NOT_AVAILABLE, as FindCoordinator gives them.

use sluice_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};

use super::RequestContext;
use crate::error::ErrorCode;

pub async fn handle(ctx: RequestContext<'_>, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let fail = |code: ErrorCode| InitProducerIdResponse {
        error_code: code.code(),
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    if request.transactional_id.is_some() {
        return fail(ErrorCode::CoordinatorNotAvailable);
    }
    // An idempotent producer (re)starting, or bumping its epoch after an error (KIP-360),
    // gets a fresh id at epoch 0: its old sequences no longer matter.
    match ctx.broker.producer_ids.next_id(ctx.broker).await {
        Ok(id) => InitProducerIdResponse { producer_id: id, producer_epoch: 0, ..Default::default() },
        Err(code) => fail(code),
    }
}
