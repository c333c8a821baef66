//! WriteTxnMarkers (between brokers): a transaction coordinator asks this broker, as leader of
//! the partitions named, to write a producer's commit or abort markers there.

use sluice_protocol::messages::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult, WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
};
use sluice_storage::TopicPartition;

use super::RequestContext;
use crate::acl::Operation;
use crate::error::ErrorCode;
use crate::txn::TxnHandle;
use crate::txn::coordinator::write_markers;

/// Only a transaction coordinator (ALTER or CLUSTER_ACTION on the cluster) writes markers:
/// anyone else gets CLUSTER_AUTHORIZATION_FAILED on every partition, so no client can commit
/// or abort another's transaction.
pub async fn handle(
    ctx: RequestContext<'_>,
    txn: TxnHandle<'_>,
    request: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let refused = !ctx.authorize_cluster(Operation::Alter) && !ctx.authorize_cluster(Operation::ClusterAction);
    let mut markers = Vec::with_capacity(request.markers.len());
    for m in request.markers {
        if refused {
            let topics = m
                .topics
                .into_iter()
                .map(|t| WritableTxnMarkerTopicResult {
                    partitions: t
                        .partition_indexes
                        .iter()
                        .map(|&p| WritableTxnMarkerPartitionResult {
                            partition_index: p,
                            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
                        })
                        .collect(),
                    name: t.name,
                })
                .collect();
            markers.push(WritableTxnMarkerResult { producer_id: m.producer_id, topics });
            continue;
        }
        let tps: Vec<TopicPartition> = m
            .topics
            .iter()
            .flat_map(|t| t.partition_indexes.iter().map(|&p| TopicPartition::new(t.name.clone(), p)))
            .collect();
        let codes =
            write_markers(txn, m.producer_id, m.producer_epoch, m.transaction_result, m.coordinator_epoch, &tps).await;
        let mut codes = codes.into_iter();
        let topics = m
            .topics
            .into_iter()
            .map(|t| WritableTxnMarkerTopicResult {
                partitions: t
                    .partition_indexes
                    .iter()
                    .map(|&p| WritableTxnMarkerPartitionResult {
                        partition_index: p,
                        error_code: codes.next().map_or(0, |c| c.code()),
                    })
                    .collect(),
                name: t.name,
            })
            .collect();
        markers.push(WritableTxnMarkerResult { producer_id: m.producer_id, topics });
    }
    WriteTxnMarkersResponse { markers }
}
