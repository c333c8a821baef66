//! Fetch (key 1): consumers and followers read record batches from partition leaders. Kafka's
//! `FetchRequest.json` / `FetchResponse.json`; we speak versions 0 to 17, flexible from 12 (below
//! v4 the records are down-converted to message format 0 or 1: `crate::legacy`; from v13 topics
//! are named by id).

use crate::codec::Uuid;

kafka_struct! {
    /// What to read, with session and size limits.
    pub struct FetchRequest {
        cluster_id: Option<String> [12, MAX] tag 0,
        /// The fetching follower, or -1 for a consumer (in `replica_state` from v15).
        replica_id: i32 [0, 14] = -1,
        replica_state: FetchRequestReplicaState [15, MAX] tag 1,
        max_wait_ms: i32 [0, MAX],
        min_bytes: i32 [0, MAX],
        /// No limit on the whole answer (only per partition) before v3.
        max_bytes: i32 [3, MAX] = i32::MAX,
        isolation_level: i8 [4, MAX],
        session_id: i32 [7, MAX],
        /// -1 (no session: a full fetch) before v7.
        session_epoch: i32 [7, MAX] = -1,
        topics: Vec<FetchRequestTopic> [0, MAX],
        forgotten_topics_data: Vec<FetchRequestForgottenTopic> [7, MAX],
        rack_id: String [11, MAX],
    }
}

kafka_struct! {
    /// The fetching follower and its broker epoch (v15+, KIP-903); -1 for a consumer.
    pub struct FetchRequestReplicaState {
        replica_id: i32 [15, MAX] = -1,
        replica_epoch: i64 [15, MAX] = -1,
    }
}

kafka_struct! {
    /// One topic to read from: by name up to v12, by topic id from v13 (KIP-516).
    pub struct FetchRequestTopic {
        topic: String [0, 12],
        topic_id: Uuid [13, MAX],
        partitions: Vec<FetchRequestPartition> [0, MAX],
    }
}

kafka_struct! {
    /// One partition to read from, and where to start.
    pub struct FetchRequestPartition {
        partition: i32 [0, MAX],
        /// The asker's view of the leader epoch; -1 (unchecked) before v9.
        current_leader_epoch: i32 [9, MAX] = -1,
        fetch_offset: i64 [0, MAX],
        /// -1 (unknown: no divergence check) before v12.
        last_fetched_epoch: i32 [12, MAX] = -1,
        /// A follower's log start offset; -1 (unknown) before v5.
        log_start_offset: i64 [5, MAX] = -1,
        partition_max_bytes: i32 [0, MAX],
        /// The follower's log directory (v17, KIP-853).
        replica_directory_id: Uuid [17, MAX] tag 0,
        /// The follower's high watermark (v18, KIP-1166); i64::MAX: not told.
        high_watermark: i64 [18, MAX] tag 1 = i64::MAX,
    }
}

kafka_struct! {
    /// Partitions an incremental fetch session should drop.
    pub struct FetchRequestForgottenTopic {
        topic: String [7, 12],
        topic_id: Uuid [13, MAX],
        partitions: Vec<i32> [7, MAX],
    }
}

kafka_struct! {
    /// The data read, per topic and partition.
    pub struct FetchResponse {
        throttle_time_ms: i32 [1, MAX],
        error_code: i16 [7, MAX],
        session_id: i32 [7, MAX],
        responses: Vec<FetchResponseTopic> [0, MAX],
        /// The brokers named in `current_leader` hints (v16+, KIP-951).
        node_endpoints: Vec<FetchResponseNodeEndpoint> [16, MAX] tag 0,
    }
}

kafka_struct! {
    /// A broker a client is pointed at, on the listener it fetched on.
    pub struct FetchResponseNodeEndpoint {
        node_id: i32 [16, MAX],
        host: String [16, MAX],
        port: i32 [16, MAX],
        rack: Option<String> [16, MAX],
    }
}

kafka_struct! {
    /// One topic of a fetch response.
    pub struct FetchResponseTopic {
        topic: String [0, 12],
        topic_id: Uuid [13, MAX],
        partitions: Vec<FetchResponsePartition> [0, MAX],
    }
}

kafka_struct! {
    /// One partition's offsets, transaction markers and record bytes.
    pub struct FetchResponsePartition {
        partition_index: i32 [0, MAX],
        error_code: i16 [0, MAX],
        high_watermark: i64 [0, MAX],
        last_stable_offset: i64 [4, MAX],
        log_start_offset: i64 [5, MAX],
        diverging_epoch: FetchResponseEpochEndOffset [12, MAX] tag 0,
        current_leader: FetchResponseLeaderIdAndEpoch [12, MAX] tag 1,
        snapshot_id: FetchResponseSnapshotId [12, MAX] tag 2,
        aborted_transactions: Option<Vec<FetchResponseAbortedTransaction>> [4, MAX],
        preferred_read_replica: i32 [11, MAX],
        /// In memory, or in segment files for `sendfile` (`crate::record_set`).
        records: Option<crate::record_set::RecordSet> [0, MAX],
    }
}

kafka_struct! {
    /// The last epoch the leader and the follower share, and where it ends.
    pub struct FetchResponseEpochEndOffset {
        epoch: i32 [12, MAX],
        end_offset: i64 [12, MAX],
    }
}

kafka_struct! {
    /// The partition leader as the responding broker knows it.
    pub struct FetchResponseLeaderIdAndEpoch {
        leader_id: i32 [12, MAX],
        leader_epoch: i32 [12, MAX],
    }
}

kafka_struct! {
    /// The snapshot to fetch when the requested offset is below the log start.
    pub struct FetchResponseSnapshotId {
        end_offset: i64 [0, MAX],
        epoch: i32 [0, MAX],
    }
}

kafka_struct! {
    /// A transaction that was aborted within the returned range.
    pub struct FetchResponseAbortedTransaction {
        producer_id: i64 [4, MAX],
        first_offset: i64 [4, MAX],
    }
}
