//! EndTxn: commit or abort the producer's open transaction. Answered once the decision is
//! written (PrepareCommit/PrepareAbort); the markers follow in the background.

use sluice_protocol::messages::{EndTxnRequest, EndTxnResponse};

use super::RequestContext;
use super::init_producer_id::fenced_code;
use crate::txn::TxnHandle;

pub async fn handle(ctx: RequestContext<'_>, txn: TxnHandle<'_>, request: EndTxnRequest) -> EndTxnResponse {
    if let Err(code) = ctx.transactional_id_access(crate::acl::Operation::Write, &request.transactional_id) {
        return EndTxnResponse { throttle_time_ms: 0, error_code: code.code() };
    }
    let result = txn
        .txns
        .end_txn(txn, &request.transactional_id, request.producer_id, request.producer_epoch, request.committed)
        .await;
    let error_code = result.err().map_or(0, |e| fenced_code(e, ctx.version(), 2).code());
    EndTxnResponse { throttle_time_ms: 0, error_code }
}
