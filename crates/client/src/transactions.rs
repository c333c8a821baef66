//! Transaction administration, as Kafka's `kafka-transactions.sh list` and `describe`:
//! ListTransactions asked of every broker (each answers for the transactional ids it
//! coordinates), DescribeTransactions asked of an id's coordinator.

use sluice_protocol::api::{Request, Response};
use sluice_protocol::messages::*;

use crate::client::Client;
use crate::error::{ClientError, Result};

/// FindCoordinator's key type for transactional ids.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// A transaction as ListTransactions reports it, with the broker coordinating it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionListing {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: String,
    pub coordinator: i32,
}

/// A transactional id's state, as DescribeTransactions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    pub transactional_id: String,
    pub coordinator: i32,
    pub state: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    /// Milliseconds since the epoch the open transaction began; -1 when none is open.
    pub start_time_ms: i64,
    pub partitions: Vec<(String, i32)>,
}

fn unexpected(what: &str) -> ClientError {
    ClientError::Invalid(format!("{what} answered with another response type"))
}

impl Client {
    /// Every broker's transactions, filtered by state names and producer ids (empty: all).
    pub async fn list_transactions(&self, states: &[String], producer_ids: &[i64]) -> Result<Vec<TransactionListing>> {
        let brokers: Vec<i32> = self.refresh_metadata(Some(&[])).await?.brokers.keys().copied().collect();
        let mut out = Vec::new();
        for id in brokers {
            let request = ListTransactionsRequest {
                state_filters: states.to_vec(),
                producer_id_filters: producer_ids.to_vec(),
                duration_filter: -1,
            };
            let conn = self.broker_connection(id).await?;
            let Response::ListTransactions(r) = self.send_to(&conn, Request::ListTransactions(request)).await? else {
                return Err(unexpected("ListTransactions"));
            };
            ClientError::check(r.error_code, None)?;
            if let Some(unknown) = r.unknown_state_filters.first() {
                return Err(ClientError::Invalid(format!("unknown transaction state '{unknown}'")));
            }
            out.extend(r.transaction_states.into_iter().map(|t| TransactionListing {
                transactional_id: t.transactional_id,
                producer_id: t.producer_id,
                state: t.transaction_state,
                coordinator: id,
            }));
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(out)
    }

    /// A transactional id's state, from its coordinator.
    pub async fn describe_transaction(&self, transactional_id: &str) -> Result<TransactionDescription> {
        let request = FindCoordinatorRequest {
            key: transactional_id.to_string(),
            key_type: KEY_TYPE_TRANSACTION,
            coordinator_keys: vec![transactional_id.to_string()],
        };
        let Response::FindCoordinator(r) = self.send_any(Request::FindCoordinator(request)).await? else {
            return Err(unexpected("FindCoordinator"));
        };
        let (code, message, node) = match r.coordinators.into_iter().next() {
            Some(c) => (c.error_code, c.error_message, c.node_id),
            None => (r.error_code, r.error_message, r.node_id),
        };
        ClientError::check(code, message)?;
        self.refresh_metadata(Some(&[])).await?;
        let conn = self.broker_connection(node).await?;
        let request = DescribeTransactionsRequest { transactional_ids: vec![transactional_id.to_string()] };
        let Response::DescribeTransactions(r) = self.send_to(&conn, Request::DescribeTransactions(request)).await?
        else {
            return Err(unexpected("DescribeTransactions"));
        };
        let t = r.transaction_states.into_iter().next().ok_or_else(|| unexpected("DescribeTransactions"))?;
        ClientError::check(t.error_code, None)?;
        Ok(TransactionDescription {
            transactional_id: t.transactional_id,
            coordinator: node,
            state: t.transaction_state,
            producer_id: t.producer_id,
            producer_epoch: t.producer_epoch,
            timeout_ms: t.transaction_timeout_ms,
            start_time_ms: t.transaction_start_time_ms,
            partitions: t
                .topics
                .into_iter()
                .flat_map(|x| x.partitions.into_iter().map(move |p| (x.topic.clone(), p)))
                .collect(),
        })
    }
}
