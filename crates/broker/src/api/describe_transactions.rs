//! DescribeTransactions: the state of transactional ids this broker coordinates
//! (NOT_COORDINATOR for others, TRANSACTIONAL_ID_NOT_FOUND for unknown ones).

use std::collections::BTreeMap;

use sluice_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, DescribeTransactionsResponseState,
    DescribeTransactionsResponseTopic,
};

use super::RequestContext;
use crate::acl::{Operation, ResourceType};
use crate::error::ErrorCode;
use crate::txn::TxnHandle;

/// DESCRIBE on each transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED in its entry);
/// the partitions of topics the principal may not describe are left out.
pub fn handle(
    ctx: RequestContext<'_>,
    txn: TxnHandle<'_>,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let transaction_states = request
        .transactional_ids
        .into_iter()
        .map(|id| {
            let mut out = DescribeTransactionsResponseState {
                transactional_id: id.clone(),
                producer_id: -1,
                producer_epoch: -1,
                transaction_start_time_ms: -1,
                ..Default::default()
            };
            if let Err(code) = ctx.transactional_id_access(Operation::Describe, &id) {
                out.error_code = code.code();
                return out;
            }
            let view = match txn.txns.check_coordinator(txn, &id) {
                Ok(_) => txn.txns.view(&id),
                Err(e) => {
                    out.error_code = e.code();
                    return out;
                }
            };
            let Some(view) = view else {
                out.error_code = ErrorCode::TransactionalIdNotFound.code();
                return out;
            };
            let m = view.meta;
            let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in m.partitions {
                if !ctx.authorize(Operation::Describe, ResourceType::Topic, &t) {
                    continue;
                }
                topics.entry(t).or_default().push(p);
            }
            out.transaction_state = m.state.name().to_string();
            out.transaction_timeout_ms = m.timeout_ms;
            out.transaction_start_time_ms = m.start_ms;
            out.producer_id = m.producer_id;
            out.producer_epoch = m.producer_epoch;
            out.topics = topics
                .into_iter()
                .map(|(topic, partitions)| DescribeTransactionsResponseTopic { topic, partitions })
                .collect();
            out
        })
        .collect();
    DescribeTransactionsResponse { throttle_time_ms: 0, transaction_states }
}
