//! ListTransactions: the transactional ids this broker coordinates, filtered by state name,
//! producer id and (v1) how long the transaction has been open. Admin clients ask every broker.

use sluice_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ListTransactionsResponseState};

use super::RequestContext;
use crate::error::ErrorCode;
use crate::txn::TxnHandle;
use crate::txn::state::TxnState;

pub fn handle(
    ctx: RequestContext<'_>,
    txn: TxnHandle<'_>,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let now = txn.cluster.replicas.now_ms();
    // v2's pattern must match a whole transactional id, as Java's `Matcher.matches` does.
    let pattern = match request.transactional_id_pattern.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(re) => Some(re),
            Err(_) => {
                return ListTransactionsResponse {
                    error_code: ErrorCode::InvalidRegularExpression.code(),
                    ..Default::default()
                };
            }
        },
    };
    let unknown_state_filters: Vec<String> = request
        .state_filters
        .iter()
        .filter(|f| !TxnState::ALL.iter().any(|s| s.name() == f.as_str()))
        .cloned()
        .collect();
    let mut transaction_states: Vec<ListTransactionsResponseState> = txn
        .txns
        .all()
        .into_iter()
        .filter(|v| request.state_filters.is_empty() || request.state_filters.iter().any(|f| f == v.meta.state.name()))
        // Only the transactional ids the principal may describe.
        .filter(|v| {
            ctx.authorize(
                crate::acl::Operation::Describe,
                crate::acl::ResourceType::TransactionalId,
                &v.transactional_id,
            )
        })
        .filter(|v| request.producer_id_filters.is_empty() || request.producer_id_filters.contains(&v.meta.producer_id))
        .filter(|v| pattern.as_ref().is_none_or(|re| re.is_match(&v.transactional_id)))
        .filter(|v| {
            request.duration_filter < 0
                || ctx.version() < 1
                || (v.meta.start_ms >= 0 && now - v.meta.start_ms > request.duration_filter)
        })
        .map(|v| ListTransactionsResponseState {
            transactional_id: v.transactional_id,
            producer_id: v.meta.producer_id,
            transaction_state: v.meta.state.name().to_string(),
        })
        .collect();
    transaction_states.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    ListTransactionsResponse { throttle_time_ms: 0, error_code: 0, unknown_state_filters, transaction_states }
}
