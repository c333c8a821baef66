//! Transaction administration, as Kafka's `kafka-transactions.sh list` and `describe`:
//! ListTransactions asked of every broker (each answers for the transactional ids it
//! coordinates), DescribeTransactions asked of an id's coordinator.

use sluice_protocol::api::{Request, Response};
use sluice_protocol::messages::*;

use crate::client::{BrokerFailure, Client};
use crate::coordinator::CoordinatorType;
use crate::error::{ClientError, Result};

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
    /// Every broker's transactions, filtered by state names and producer ids (empty: all), and
    /// the brokers that could not be asked; their transactions are missing from the list.
    pub async fn list_transactions(
        &self,
        states: &[String],
        producer_ids: &[i64],
    ) -> Result<(Vec<TransactionListing>, Vec<BrokerFailure>)> {
        let make = || {
            Request::ListTransactions(ListTransactionsRequest {
                state_filters: states.to_vec(),
                producer_id_filters: producer_ids.to_vec(),
                duration_filter: -1,
            })
        };
        let (answers, mut failures) = self.ask_every_broker(make).await?;
        let mut out = Vec::new();
        for (broker, response) in answers {
            let Response::ListTransactions(r) = response else {
                failures.push(BrokerFailure { broker, error: unexpected("ListTransactions") });
                continue;
            };
            if let Some(unknown) = r.unknown_state_filters.first() {
                return Err(ClientError::Invalid(format!("unknown transaction state '{unknown}'")));
            }
            if let Err(error) = ClientError::check(r.error_code, None) {
                failures.push(BrokerFailure { broker, error });
                continue;
            }
            out.extend(r.transaction_states.into_iter().map(|t| TransactionListing {
                transactional_id: t.transactional_id,
                producer_id: t.producer_id,
                state: t.transaction_state,
                coordinator: broker.id,
            }));
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        failures.sort_by_key(|f| f.broker.id);
        Ok((out, failures))
    }

    /// A transactional id's state, from its coordinator.
    pub async fn describe_transaction(&self, transactional_id: &str) -> Result<TransactionDescription> {
        let request = DescribeTransactionsRequest { transactional_ids: vec![transactional_id.to_string()] };
        let (coordinator, response) = self
            .send_to_coordinator(CoordinatorType::Transaction, transactional_id, Request::DescribeTransactions(request))
            .await?;
        let Response::DescribeTransactions(r) = response else {
            return Err(unexpected("DescribeTransactions"));
        };
        let t = r.transaction_states.into_iter().next().ok_or_else(|| unexpected("DescribeTransactions"))?;
        ClientError::check(t.error_code, Some(format!("transactional id '{transactional_id}'")))?;
        Ok(TransactionDescription {
            transactional_id: t.transactional_id,
            coordinator: coordinator.node_id,
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
