//! Producer ids for idempotent and transactional producers (InitProducerId). Each broker takes
//! blocks of ids from keeper (Kafka's `/latest_producer_id_block`, claimed with
//! compare-and-set, so no two brokers ever hand out the same id) and gives them out one by one.

use sluice_keeper::{CreateMode, ZkError};

use crate::cluster::handle::ClusterHandle;
use crate::cluster::znodes::ProducerIdBlockZnode;
use crate::error::ErrorCode;

/// Ids per block, as Kafka.
pub const BLOCK_SIZE: i64 = 1000;

/// The ids left in this broker's current block: `next..=end`.
#[derive(Debug, Default)]
pub struct ProducerIdManager {
    block: tokio::sync::Mutex<Option<(i64, i64)>>,
}

impl ProducerIdManager {
    /// A producer id never handed out before, anywhere in the cluster.
    pub async fn next_id(&self, cluster: &ClusterHandle) -> Result<i64, ErrorCode> {
        let mut block = self.block.lock().await;
        if !matches!(*block, Some((next, end)) if next <= end) {
            let (start, end) = claim_block(cluster).await?;
            *block = Some((start, end));
        }
        let (next, end) = block.expect("set above");
        *block = Some((next + 1, end));
        Ok(next)
    }
}

/// Claims the block after the latest one in keeper.
async fn claim_block(cluster: &ClusterHandle) -> Result<(i64, i64), ErrorCode> {
    let path = cluster.link.paths.producer_id_block();
    let me = cluster.broker_id;
    let claimed = cluster
        .link
        .retrying(|client| {
            let path = &path;
            async move {
                loop {
                    let (previous_end, version) = match client.get_data(path).await {
                        Ok((data, stat)) => {
                            let block: Option<ProducerIdBlockZnode> = serde_json::from_slice(&data).ok();
                            let end = block.and_then(|b| b.block_end.parse::<i64>().ok()).unwrap_or(-1);
                            (end, Some(stat.version))
                        }
                        Err(ZkError::NoNode) => (-1, None),
                        Err(e) => return Err(e),
                    };
                    let (start, end) = (previous_end + 1, previous_end + BLOCK_SIZE);
                    let body = serde_json::to_vec(&ProducerIdBlockZnode {
                        version: 1,
                        broker: me,
                        block_start: start.to_string(),
                        block_end: end.to_string(),
                    })
                    .expect("small struct");
                    let written = match version {
                        Some(v) => client.set_data(path, &body, v).await.map(|_| ()),
                        None => client.create(path, &body, CreateMode::Persistent).await.map(|_| ()),
                    };
                    match written {
                        Ok(()) => return Ok((start, end)),
                        // Another broker took this block first: take the next.
                        Err(ZkError::BadVersion | ZkError::NodeExists) => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
        })
        .await;
    match claimed {
        Ok((start, end)) => {
            tracing::info!(start, end, "claimed a block of producer ids");
            Ok((start, end))
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not claim producer ids from keeper");
            Err(ErrorCode::CoordinatorNotAvailable)
        }
    }
}
