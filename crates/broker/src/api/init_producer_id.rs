//! InitProducerId: a producer id and epoch. An idempotent producer gets a fresh id from this
//! broker's block (see `producer_ids`); a transactional one is answered by its transaction
//! coordinator, which bumps the epoch of the id's producer (fencing older instances and
//! aborting their open transaction).

use sluice_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::txn::TxnHandle;

pub async fn handle(
    ctx: RequestContext<'_>,
    txn: TxnHandle<'_>,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let fail = |code: ErrorCode| InitProducerIdResponse {
        error_code: fenced_code(code, ctx.version(), 4).code(),
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    // A transactional producer needs WRITE on its transactional id; an idempotent one
    // IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
    if let Some(id) = request.transactional_id.as_deref() {
        if let Err(code) = ctx.transactional_id_access(Operation::Write, id) {
            return fail(code);
        }
    } else if !ctx.authorize_cluster(Operation::IdempotentWrite)
        && !ctx.authorize_any(Operation::Write, ResourceType::Topic)
    {
        return fail(ErrorCode::ClusterAuthorizationFailed);
    }
    if let Some(id) = request.transactional_id.as_deref() {
        // v3+ may name the producer's current id and epoch (KIP-360); -1 means none.
        let expected =
            (ctx.version() >= 3 && request.producer_id >= 0).then_some((request.producer_id, request.producer_epoch));
        return match txn.txns.init_producer_id(txn, id, request.transaction_timeout_ms, expected).await {
            Ok((producer_id, producer_epoch)) => {
                InitProducerIdResponse { producer_id, producer_epoch, ..Default::default() }
            }
            Err(code) => fail(code),
        };
    }
    // An idempotent producer (re)starting, or bumping its epoch after an error (KIP-360),
    // gets a fresh id at epoch 0: its old sequences no longer matter.
    match txn.producer_ids.next_id(txn.cluster).await {
        Ok(id) => InitProducerIdResponse { producer_id: id, producer_epoch: 0, ..Default::default() },
        Err(code) => fail(code),
    }
}

/// PRODUCER_FENCED (KIP-588) exists from `since` on of a request's versions; older clients
/// are told INVALID_PRODUCER_EPOCH, which they know as fencing.
pub fn fenced_code(code: ErrorCode, version: i16, since: i16) -> ErrorCode {
    if code == ErrorCode::ProducerFenced && version < since { ErrorCode::InvalidProducerEpoch } else { code }
}
