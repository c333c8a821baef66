//! WriteTxnMarkers (key 27): the transaction coordinator asks a partition leader to append commit
//! or abort control batches for producers' transactions. Kafka's `WriteTxnMarkersRequest.json` /
//! `WriteTxnMarkersResponse.json`; versions 0 to 1, flexible from 1.

kafka_struct! {
    /// The markers to write, one per producer.
    pub struct WriteTxnMarkersRequest {
        markers: Vec<WritableTxnMarker> [0, MAX],
    }
}

kafka_struct! {
    /// One producer's transaction marker and the partitions to write it to.
    pub struct WritableTxnMarker {
        producer_id: i64 [0, MAX],
        producer_epoch: i16 [0, MAX],
        /// True for a COMMIT marker, false for ABORT.
        transaction_result: bool [0, MAX],
        topics: Vec<WritableTxnMarkerTopic> [0, MAX],
        /// Epoch of the `__transaction_state` partition the sending coordinator leads.
        coordinator_epoch: i32 [0, MAX],
    }
}

kafka_struct! {
    /// One topic and the partitions of it that get the marker.
    pub struct WritableTxnMarkerTopic {
        name: String [0, MAX],
        partition_indexes: Vec<i32> [0, MAX],
    }
}

kafka_struct! {
    /// Per-partition results, by producer and topic.
    pub struct WriteTxnMarkersResponse {
        markers: Vec<WritableTxnMarkerResult> [0, MAX],
    }
}

kafka_struct! {
    /// The results for one producer's marker.
    pub struct WritableTxnMarkerResult {
        producer_id: i64 [0, MAX],
        topics: Vec<WritableTxnMarkerTopicResult> [0, MAX],
    }
}

kafka_struct! {
    /// The results for one topic of a marker.
    pub struct WritableTxnMarkerTopicResult {
        name: String [0, MAX],
        partitions: Vec<WritableTxnMarkerPartitionResult> [0, MAX],
    }
}

kafka_struct! {
    /// Whether the marker was written to one partition.
    pub struct WritableTxnMarkerPartitionResult {
        partition_index: i32 [0, MAX],
        error_code: i16 [0, MAX],
    }
}
