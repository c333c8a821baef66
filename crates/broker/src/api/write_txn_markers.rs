//! WriteTxnMarkers (between brokers): a transaction coordinator asks this broker, as leader of
//! the partitions named, to write a producer's commit or abort markers there.

use sluice_protocol::messages::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult, WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
};
use sluice_storage::TopicPartition;

use crate::txn::TxnHandle;
use crate::txn::coordinator::write_markers;

pub async fn handle(txn: TxnHandle<'_>, request: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    let mut markers = Vec::with_capacity(request.markers.len());
    for m in request.markers {
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
