//! ElectLeaders (KIP-183, KIP-460): preferred-replica and unclean elections on request, as
//! `kafka-leader-election.sh` and the admin clients ask for them. As in Kafka's ZooKeeper mode
//! the request goes to the controller (clients find it in Metadata): another broker answers
//! NOT_CONTROLLER, which makes clients look again. The controller decides and writes each
//! partition's state (`cluster::controller`), and the answer waits, within the request's
//! timeout, until this broker's view of the cluster shows the new leaders, so a client that
//! asks Metadata next sees them (Kafka's `DelayedElectLeader`).
//!
//! Outcomes per partition, Kafka's: ELECTION_NOT_NEEDED when the preferred replica leads
//! already (preferred) or a live leader exists (unclean), PREFERRED_LEADER_NOT_AVAILABLE when
//! the preferred replica is dead or out of sync, ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica
//! lives, UNKNOWN_TOPIC_OR_PARTITION, and REQUEST_TIMED_OUT when the controller did not answer
//! in time. A null partition list means every partition of every topic, whose "not needed"
//! outcomes are left out of the answer, as Kafka leaves them out. ALTER on the cluster is
//! required (CLUSTER_AUTHORIZATION_FAILED at the top and on every partition named; none is
//! named back to an asker of every partition).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_protocol::messages::{
    ElectLeadersRequest, ElectLeadersResponse, ElectLeadersResponsePartition, ElectLeadersResponseTopic,
};
use sluice_replication::election::AdminElection;

use super::RequestContext;
use crate::acl::Operation;
use crate::broker::Broker;
use crate::error::ErrorCode;

/// ElectLeaders' election types.
const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

/// Upper bound on how long one request waits for its elections, whatever it asks.
const MAX_ELECTION_WAIT_MS: u64 = 60_000;

pub async fn handle(ctx: RequestContext<'_>, broker: &Broker, request: ElectLeadersRequest) -> ElectLeadersResponse {
    let view = broker.link.cache.snapshot();
    let all_partitions = request.topic_partitions.is_none();
    let asked: Vec<(String, i32)> = match request.topic_partitions {
        Some(topics) => {
            let mut seen = BTreeMap::new();
            for t in topics {
                for p in t.partitions {
                    seen.insert((t.topic.clone(), p), ());
                }
            }
            seen.into_keys().collect()
        }
        None => view.topics.iter().flat_map(|(name, t)| t.assignment.keys().map(move |p| (name.clone(), *p))).collect(),
    };
    let everywhere = |code: ErrorCode, message: &str| {
        answer(asked.iter().map(|(t, p)| (t.clone(), *p, Err((code, message.to_string())))).collect(), code)
    };
    if !ctx.authorize_cluster(Operation::Alter) {
        // Asked for every partition: no partition is named back (their names are not the
        // asker's to learn), as Kafka answers.
        if all_partitions {
            return answer(Vec::new(), ErrorCode::ClusterAuthorizationFailed);
        }
        return everywhere(ErrorCode::ClusterAuthorizationFailed, "ALTER on the cluster is required");
    }
    let kind = match request.election_type {
        PREFERRED => AdminElection::Preferred,
        UNCLEAN => AdminElection::Unclean,
        other => {
            let mut response = everywhere(ErrorCode::InvalidRequest, &format!("unknown election type {other}"));
            response.error_code = ErrorCode::InvalidRequest.code();
            return response;
        }
    };
    if view.controller != Some(broker.config.broker_id) {
        return everywhere(ErrorCode::NotController, "this broker is not the controller");
    }
    let wait = Duration::from_millis((request.timeout_ms.max(0) as u64).min(MAX_ELECTION_WAIT_MS));
    let deadline = Instant::now() + wait;
    let Some(outcomes) = broker.elections.elect(kind, asked.clone(), wait).await else {
        return everywhere(ErrorCode::RequestTimedOut, "the controller did not answer in time");
    };
    // Wait for this broker's view to show the new leaders (within the deadline).
    let mut changes = broker.link.cache.subscribe();
    loop {
        changes.borrow_and_update();
        let pending = broker.link.cache.read(|v| {
            outcomes.iter().any(|(t, p, o)| {
                o.as_ref().is_ok_and(|leader| {
                    v.topics.get(t).and_then(|t| t.states.get(p)).map(|s| s.state.leader) != Some(*leader)
                })
            })
        });
        let now = Instant::now();
        if !pending || now >= deadline {
            break;
        }
        if tokio::time::timeout(deadline - now, changes.changed()).await.is_err() {
            break;
        }
    }
    let outcomes = outcomes
        .into_iter()
        .filter(|(_, _, o)| !(all_partitions && matches!(o, Err((ErrorCode::ElectionNotNeeded, _)))))
        .map(|(t, p, o)| (t, p, o.map(|_| ())))
        .collect();
    answer(outcomes, ErrorCode::None)
}

/// A partition's outcome: elected, or why not.
type Outcome = (String, i32, Result<(), (ErrorCode, String)>);

/// The response: outcomes grouped by topic, in the order asked.
fn answer(outcomes: Vec<Outcome>, top: ErrorCode) -> ElectLeadersResponse {
    let mut topics: Vec<ElectLeadersResponseTopic> = Vec::new();
    for (topic, partition_id, outcome) in outcomes {
        let result = match outcome {
            Ok(()) => ElectLeadersResponsePartition { partition_id, error_code: 0, error_message: None },
            Err((code, message)) => {
                ElectLeadersResponsePartition { partition_id, error_code: code.code(), error_message: Some(message) }
            }
        };
        match topics.last_mut() {
            Some(t) if t.topic == topic => t.partition_result.push(result),
            _ => topics.push(ElectLeadersResponseTopic { topic, partition_result: vec![result] }),
        }
    }
    let error_code = if top == ErrorCode::ClusterAuthorizationFailed { top.code() } else { 0 };
    ElectLeadersResponse { throttle_time_ms: 0, error_code, replica_election_results: topics }
}
