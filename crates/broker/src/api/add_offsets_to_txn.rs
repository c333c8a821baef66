//! AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the producer's open
//! transaction, so the offsets TxnOffsetCommit writes there are committed or aborted with it.

use sluice_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::RequestContext;
use super::init_producer_id::fenced_code;
use crate::group::offsets_log::GroupLog;
use crate::group::offsets_log::{self, OFFSETS_TOPIC};
use crate::txn::TxnHandle;

pub async fn handle(
    ctx: RequestContext<'_>,
    log: GroupLog<'_>,
    txn: TxnHandle<'_>,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    // WRITE on the transactional id, then READ on the group.
    let access = ctx
        .transactional_id_access(crate::acl::Operation::Write, &request.transactional_id)
        .and_then(|()| ctx.group_access(crate::acl::Operation::Read, &request.group_id));
    if let Err(code) = access {
        return AddOffsetsToTxnResponse { throttle_time_ms: 0, error_code: code.code() };
    }
    let result = match offsets_log::ensure_topic(log).await {
        Ok(()) => {
            let tp = (OFFSETS_TOPIC.to_string(), offsets_log::partition_for(&request.group_id));
            txn.txns
                .add_partitions(txn, &request.transactional_id, request.producer_id, request.producer_epoch, &[tp])
                .await
        }
        Err(e) => Err(e),
    };
    let error_code = result.err().map_or(0, |e| fenced_code(e, ctx.version(), 2).code());
    AddOffsetsToTxnResponse { throttle_time_ms: 0, error_code }
}
