//! Transaction administration, as Kafka's `kafka-transactions.sh list`, `describe` and
//! `describe-producers`: ListTransactions asked of every broker (each answers for the
//! transactional ids it coordinates), DescribeTransactions asked of an id's coordinator,
//! DescribeProducers asked of each partition's leader.

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
                transactional_id_pattern: None,
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

/// One producer with state in a partition, as DescribeProducers reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateInfo {
    pub producer_id: i64,
    pub producer_epoch: i32,
    /// The last sequence number of its last batch (-1: none).
    pub last_sequence: i32,
    /// The max timestamp of its last batch or marker (-1: none).
    pub last_timestamp: i64,
    /// The transaction coordinator epoch of its last marker (-1: none).
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction (-1: none).
    pub current_txn_start_offset: i64,
}

impl Client {
    /// The producers with state in each of `partitions` of `topic` (all of them when empty),
    /// from each partition's leader (DescribeProducers, KIP-664); a partition that answers an
    /// error has it instead.
    pub async fn describe_producers(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<Vec<(i32, Result<Vec<ProducerStateInfo>>)>> {
        let info = self.topic(topic).await?;
        let wanted: Vec<i32> = if partitions.is_empty() {
            info.partitions.iter().map(|p| p.partition).collect()
        } else {
            partitions.to_vec()
        };
        let mut out = Vec::new();
        for partition in wanted {
            let answer = async {
                let leader =
                    info.partitions.iter().find(|p| p.partition == partition).map(|p| p.leader).ok_or_else(|| {
                        ClientError::kafka(3, Some(format!("topic '{topic}' has no partition {partition}")))
                    })?;
                let conn = self.broker_connection(leader).await?;
                let request = DescribeProducersRequest {
                    topics: vec![DescribeProducersRequestTopic {
                        name: topic.to_string(),
                        partition_indexes: vec![partition],
                    }],
                };
                let Response::DescribeProducers(r) = self.send_to(&conn, Request::DescribeProducers(request)).await?
                else {
                    return Err(ClientError::Invalid("DescribeProducers answered with another response type".into()));
                };
                let p = r
                    .topics
                    .into_iter()
                    .flat_map(|t| t.partitions)
                    .find(|p| p.partition_index == partition)
                    .ok_or_else(|| ClientError::Invalid("DescribeProducers left the partition out".into()))?;
                ClientError::check(p.error_code, Some(format!("producers of {topic}-{partition}")))?;
                Ok(p.active_producers
                    .into_iter()
                    .map(|s| ProducerStateInfo {
                        producer_id: s.producer_id,
                        producer_epoch: s.producer_epoch,
                        last_sequence: s.last_sequence,
                        last_timestamp: s.last_timestamp,
                        coordinator_epoch: s.coordinator_epoch,
                        current_txn_start_offset: s.current_txn_start_offset,
                    })
                    .collect())
            }
            .await;
            out.push((partition, answer));
        }
        Ok(out)
    }
}
