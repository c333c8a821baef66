//! Requests to a coordinator: the broker that coordinates a consumer group (the leader of the
//! group's `__consumer_offsets` partition) or a transactional id (the leader of its
//! `__transaction_state` partition). One path for every such request, as the Java client's
//! `AbstractCoordinator` and admin client have: ask any broker FindCoordinator, connect to the
//! host:port it names, send the request there. While the answer says the coordinator moved
//! (NOT_COORDINATOR), is loading its partition (COORDINATOR_LOAD_IN_PROGRESS) or is not there
//! yet (COORDINATOR_NOT_AVAILABLE), or its connection breaks, the coordinator is looked up
//! again after a short, growing backoff, until the client's request timeout.
//!
//! Found coordinators are remembered per key (a group member heartbeats every second; it should
//! not ask FindCoordinator each time) and forgotten on any of those answers.
//!
//! Concurrency: the cache is a short critical section behind a std mutex; never held across an
//! await.

use std::collections::HashMap;
use std::time::Duration;

use sluice_protocol::api::{Request, Response};
use sluice_protocol::error_code::ErrorCode;
use sluice_protocol::messages::FindCoordinatorRequest;

use crate::client::Client;
use crate::error::{ClientError, Result};

/// The first pause before looking a coordinator up again (Kafka's `retry.backoff.ms`).
const COORDINATOR_RETRY_BACKOFF_MS: u64 = 100;
/// The longest pause between lookups, as the backoff doubles.
const COORDINATOR_RETRY_BACKOFF_MAX_MS: u64 = 1_000;

/// What a coordinator coordinates: FindCoordinator's key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinatorType {
    /// A consumer group (key type 0).
    Group,
    /// A transactional id (key type 1).
    Transaction,
}

impl CoordinatorType {
    /// FindCoordinator's `key_type`.
    pub fn key_type(self) -> i8 {
        match self {
            CoordinatorType::Group => 0,
            CoordinatorType::Transaction => 1,
        }
    }
}

impl std::fmt::Display for CoordinatorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CoordinatorType::Group => "group",
            CoordinatorType::Transaction => "transactional id",
        })
    }
}

/// The broker coordinating a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    pub node_id: i32,
    /// `host:port`, as FindCoordinator named it.
    pub address: String,
}

/// Coordinators found so far, per key type and key.
#[derive(Debug, Default)]
pub(crate) struct CoordinatorCache(std::sync::Mutex<HashMap<(CoordinatorType, String), Coordinator>>);

impl CoordinatorCache {
    fn get(&self, kind: CoordinatorType, key: &str) -> Option<Coordinator> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&(kind, key.to_string())).cloned()
    }

    fn put(&self, kind: CoordinatorType, key: &str, coordinator: Coordinator) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert((kind, key.to_string()), coordinator);
    }

    fn forget(&self, kind: CoordinatorType, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&(kind, key.to_string()));
    }
}

/// Whether `code` says "the coordinator is elsewhere, or not ready yet: look it up again".
fn coordinator_moving(code: i16) -> bool {
    matches!(
        ErrorCode::from_code(code),
        Some(ErrorCode::NotCoordinator | ErrorCode::CoordinatorLoadInProgress | ErrorCode::CoordinatorNotAvailable)
    )
}

/// Whether an attempt that failed with `e` may succeed with the coordinator looked up again.
fn retry_after(e: &ClientError) -> bool {
    match e {
        ClientError::Kafka { code, .. } => coordinator_moving(*code),
        // The coordinator died or is restarting: FindCoordinator names its successor once the
        // partition has a new leader.
        ClientError::Disconnected { .. } | ClientError::Connect { .. } => true,
        _ => false,
    }
}

/// The coordinator-level error code of a response to a coordinator request (0 when none), the
/// field a broker that is not (or not yet) the coordinator answers in.
fn coordinator_error(response: &Response) -> i16 {
    match response {
        Response::OffsetFetch(r) => r.groups.first().map_or(r.error_code, |g| g.error_code),
        Response::OffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .map(|p| p.error_code)
            .find(|&c| coordinator_moving(c))
            .unwrap_or(0),
        Response::DescribeGroups(r) => r.groups.first().map_or(0, |g| g.error_code),
        Response::DeleteGroups(r) => r.results.first().map_or(0, |g| g.error_code),
        Response::JoinGroup(r) => r.error_code,
        Response::SyncGroup(r) => r.error_code,
        Response::Heartbeat(r) => r.error_code,
        Response::LeaveGroup(r) => r.error_code,
        Response::DescribeTransactions(r) => r.transaction_states.first().map_or(0, |t| t.error_code),
        _ => 0,
    }
}

impl Client {
    /// One FindCoordinator lookup, asked of any broker, without retries: the coordinator of
    /// `key`, or the error the broker answered.
    pub async fn find_coordinator(&self, kind: CoordinatorType, key: &str) -> Result<Coordinator> {
        let request = FindCoordinatorRequest {
            key: key.to_string(),
            key_type: kind.key_type(),
            coordinator_keys: vec![key.into()],
        };
        let Response::FindCoordinator(r) = self.send_any(Request::FindCoordinator(request)).await? else {
            return Err(ClientError::Invalid("FindCoordinator answered with another response type".into()));
        };
        // v4+ answers per key; earlier versions at the top level.
        let (code, message, node_id, host, port) = match r.coordinators.into_iter().next() {
            Some(c) => (c.error_code, c.error_message, c.node_id, c.host, c.port),
            None => (r.error_code, r.error_message, r.node_id, r.host, r.port),
        };
        ClientError::check(code, message.map(|m| format!("coordinator of {kind} '{key}': {m}")))?;
        Ok(Coordinator { node_id, address: format!("{host}:{port}") })
    }

    /// Sends `request` to the coordinator of `key` and returns the coordinator and its answer,
    /// looking the coordinator up again while it moves or loads (see the module comment), all
    /// within the request timeout.
    pub async fn send_to_coordinator(
        &self,
        kind: CoordinatorType,
        key: &str,
        request: Request,
    ) -> Result<(Coordinator, Response)> {
        self.send_to_coordinator_within(kind, key, request, self.config().request_timeout).await
    }

    /// As [`Client::send_to_coordinator`], waiting up to `answer_within` for each answer
    /// (JoinGroup's answer waits for the whole group to rejoin).
    pub async fn send_to_coordinator_within(
        &self,
        kind: CoordinatorType,
        key: &str,
        request: Request,
        answer_within: Duration,
    ) -> Result<(Coordinator, Response)> {
        let timeout = self.config().request_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut backoff = Duration::from_millis(COORDINATOR_RETRY_BACKOFF_MS);
        loop {
            let attempt = async {
                let coordinator = match self.coordinators().get(kind, key) {
                    Some(c) => c,
                    None => {
                        let c = self.find_coordinator(kind, key).await?;
                        self.coordinators().put(kind, key, c.clone());
                        c
                    }
                };
                let conn = self.connection(&coordinator.address).await?;
                let what = format!("{} from the coordinator of {kind} '{key}'", request.api_key().name());
                let response = tokio::time::timeout(answer_within, conn.send(request.clone()))
                    .await
                    .map_err(|_| ClientError::Timeout { what, ms: answer_within.as_millis() as u64 })??;
                match coordinator_error(&response) {
                    code if coordinator_moving(code) => {
                        Err(ClientError::kafka(code, Some(format!("from broker {}", coordinator.node_id))))
                    }
                    _ => Ok((coordinator, response)),
                }
            }
            .await;
            let last = match attempt {
                Ok(answer) => return Ok(answer),
                Err(e) if retry_after(&e) => e,
                Err(e) => return Err(e),
            };
            self.coordinators().forget(kind, key);
            if tokio::time::Instant::now() + backoff > deadline {
                return Err(ClientError::Timeout {
                    what: format!("the coordinator of {kind} '{key}' (last answer: {last})"),
                    ms: timeout.as_millis() as u64,
                });
            }
            tracing::debug!(%kind, key, error = %last, "looking the coordinator up again");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(COORDINATOR_RETRY_BACKOFF_MAX_MS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::messages::{
        OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic, OffsetFetchResponse,
        OffsetFetchResponseGroup,
    };

    #[test]
    fn offset_fetch_coordinator_error_is_read_at_either_level() {
        let flat = OffsetFetchResponse { error_code: 16, ..Default::default() };
        assert_eq!(coordinator_error(&Response::OffsetFetch(flat)), 16);
        let grouped = OffsetFetchResponse {
            groups: vec![OffsetFetchResponseGroup { error_code: 14, ..Default::default() }],
            ..Default::default()
        };
        assert_eq!(coordinator_error(&Response::OffsetFetch(grouped)), 14);
    }

    #[test]
    fn offset_commit_retries_only_on_coordinator_errors() {
        let answer = |code| {
            Response::OffsetCommit(OffsetCommitResponse {
                topics: vec![OffsetCommitResponseTopic {
                    name: "t".into(),
                    partitions: vec![OffsetCommitResponsePartition { partition_index: 0, error_code: code }],
                }],
                ..Default::default()
            })
        };
        assert!(coordinator_moving(coordinator_error(&answer(15))));
        assert!(!coordinator_moving(coordinator_error(&answer(25))), "UNKNOWN_MEMBER_ID is the caller's to handle");
        assert_eq!(coordinator_error(&answer(0)), 0);
    }
}
