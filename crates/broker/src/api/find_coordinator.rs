//! FindCoordinator: a group's coordinator is the leader of its `__consumer_offsets` partition,
//! a transactional id's the leader of its `__transaction_state` partition (each topic is
//! created on first use). Up to v3 one key is asked; from v4 several. v5 only allows
//! TRANSACTION_ABORTABLE (KIP-890), never answered here; v6's share-group keys (KIP-932) are
//! answered UNSUPPORTED_VERSION.

use std::collections::HashMap;

use sluice_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse, FindCoordinatorResult};
use sluice_storage::TopicPartition;

use super::RequestContext;
use super::metadata::MetadataHandle;
use crate::acl::Operation;
use crate::cluster::handle::ClusterHandle;
use crate::error::ErrorCode;
use crate::group::offsets_log::GroupLog;
use crate::group::offsets_log::{self, OFFSETS_TOPIC};
use crate::txn::TxnHandle;
use crate::txn::log::{self as txn_log, TRANSACTION_STATE_TOPIC};

/// FindCoordinator's key types.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;
const KEY_TYPE_SHARE: i8 = 2;
/// How long FindCoordinator waits for a key's partition to get a leader (a new internal
/// topic, or a failover) before answering COORDINATOR_NOT_AVAILABLE.
const COORDINATOR_WAIT_MS: u64 = 5_000;

/// Waits (up to `wait_ms`) until `topic`'s partition `p` has a live leader (which, when it is
/// this broker, has taken the role); returns it.
async fn wait_for_leader(cluster: &ClusterHandle, topic: &str, p: i32, wait_ms: u64) -> Option<i32> {
    let found = || {
        let leader = cluster.link.cache.read(|v| v.leader(topic, p))?;
        let ready = leader != cluster.broker_id || cluster.leads(&TopicPartition::new(topic, p));
        ready.then_some(leader)
    };
    cluster.wait_until(wait_ms, || found().is_some()).await;
    found()
}

pub async fn handle(
    ctx: RequestContext<'_>,
    md: MetadataHandle<'_>,
    groups: GroupLog<'_>,
    txn: TxnHandle<'_>,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let keys = if ctx.version() >= 4 { request.coordinator_keys.clone() } else { vec![request.key.clone()] };
    // DESCRIBE on each group or transactional id, before anything is looked up or created.
    let access = |key: &str| match request.key_type {
        KEY_TYPE_GROUP => ctx.group_access(Operation::Describe, key),
        KEY_TYPE_TRANSACTION => ctx.transactional_id_access(Operation::Describe, key),
        _ => Ok(()),
    };
    let mut leaders: HashMap<String, Result<i32, ErrorCode>> = HashMap::new();
    for key in &keys {
        if let Err(code) = access(key) {
            leaders.insert(key.clone(), Err(code));
        }
    }
    let (ready, what) = match request.key_type {
        _ if leaders.len() == keys.len() => (Ok(()), ""),
        KEY_TYPE_GROUP => (offsets_log::ensure_topic(groups).await, "group's __consumer_offsets"),
        KEY_TYPE_TRANSACTION => (txn_log::ensure_topic(txn).await, "transactional id's __transaction_state"),
        // v6's share groups (KIP-932) are not served.
        KEY_TYPE_SHARE => (Err(ErrorCode::UnsupportedVersion), ""),
        _ => (Err(ErrorCode::InvalidRequest), ""),
    };
    for key in &keys {
        if leaders.contains_key(key) {
            continue;
        }
        let leader = match ready {
            Ok(()) => {
                let (topic, p) = if request.key_type == KEY_TYPE_GROUP {
                    (OFFSETS_TOPIC, offsets_log::partition_for(key))
                } else {
                    (TRANSACTION_STATE_TOPIC, txn_log::partition_for(key, txn_log::partition_count(txn)))
                };
                wait_for_leader(md.cluster, topic, p, COORDINATOR_WAIT_MS)
                    .await
                    .ok_or(ErrorCode::CoordinatorNotAvailable)
            }
            Err(e) => Err(e),
        };
        leaders.insert(key.clone(), leader);
    }
    let (_, brokers) = super::metadata::live_brokers(ctx, md);
    let find = |key: &str| -> FindCoordinatorResult {
        let leader = leaders.get(key).copied().unwrap_or(Err(ErrorCode::CoordinatorNotAvailable));
        let found =
            leader.and_then(|id| brokers.iter().find(|b| b.node_id == id).ok_or(ErrorCode::CoordinatorNotAvailable));
        match found {
            Ok(b) => FindCoordinatorResult {
                key: key.to_string(),
                node_id: b.node_id,
                host: b.host.clone(),
                port: b.port,
                error_code: 0,
                error_message: None,
            },
            Err(code) => FindCoordinatorResult {
                key: key.to_string(),
                node_id: -1,
                host: String::new(),
                port: -1,
                error_code: code.code(),
                error_message: Some(if code == ErrorCode::InvalidRequest {
                    format!("unknown coordinator key type {}", request.key_type)
                } else if code == ErrorCode::UnsupportedVersion {
                    "share groups (KIP-932) are not served".to_string()
                } else {
                    format!("the {what} partition has no leader yet")
                }),
            },
        }
    };
    if ctx.version() >= 4 {
        let coordinators = request.coordinator_keys.iter().map(|key| find(key)).collect();
        return FindCoordinatorResponse { coordinators, ..Default::default() };
    }
    let r = find(&request.key);
    FindCoordinatorResponse {
        error_code: r.error_code,
        error_message: r.error_message,
        node_id: r.node_id,
        host: r.host,
        port: r.port,
        ..Default::default()
    }
}
