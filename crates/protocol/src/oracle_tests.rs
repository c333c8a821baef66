//! Cross-check of every message at every supported version against the `kafka-protocol` crate
//! (a dev-dependency, written by others from Kafka's definitions): a sampled value encoded here
//! must decode there, and re-encode there to the very same bytes; and it must round-trip here.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable as TheirDecode, Encodable as TheirEncode};

use crate::api::ApiKey;
use crate::codec::{Decode, Encode, Sample, Version};
use crate::messages::*;

fn check<Ours, Theirs>(key: ApiKey, what: &str)
where
    Ours: Sample + Encode + Decode + PartialEq + std::fmt::Debug,
    Theirs: TheirDecode + TheirEncode + std::fmt::Debug,
{
    let (lo, hi) = key.versions();
    let first_flexible = (lo..=hi).find(|&v| key.is_flexible(v)).unwrap_or(i16::MAX);
    check_range::<Ours, Theirs>(lo, hi, first_flexible, what);
}

/// The same check over an explicit version range.
fn check_range<Ours, Theirs>(lo: i16, hi: i16, first_flexible: i16, what: &str)
where
    Ours: Sample + Encode + Decode + PartialEq + std::fmt::Debug,
    Theirs: TheirDecode + TheirEncode + std::fmt::Debug,
{
    for version in lo..=hi {
        let v = Version::new(version, version >= first_flexible);
        for seed in 1..=25u64 {
            let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (version as u64 + 1);
            let ours = Ours::sample(&mut rng);
            let mut buf = BytesMut::new();
            ours.encode(&mut buf, v);
            let bytes: Bytes = buf.freeze();

            let mut theirs_in = bytes.clone();
            let theirs = Theirs::decode(&mut theirs_in, version).unwrap_or_else(|e| {
                panic!("{what} v{version} seed {seed}: kafka-protocol cannot decode our bytes: {e:?}")
            });
            assert!(
                theirs_in.is_empty(),
                "{what} v{version} seed {seed}: kafka-protocol left {} bytes",
                theirs_in.len()
            );
            let mut again = BytesMut::new();
            theirs.encode(&mut again, version).unwrap_or_else(|e| panic!("{what} v{version}: re-encode failed: {e:?}"));
            assert_eq!(
                again.freeze(),
                bytes,
                "{what} v{version} seed {seed}: bytes differ after kafka-protocol round trip"
            );

            let mut ours_in = bytes.clone();
            let back =
                Ours::decode(&mut ours_in, v).unwrap_or_else(|e| panic!("{what} v{version}: we cannot decode: {e}"));
            assert!(ours_in.is_empty(), "{what} v{version}: {} bytes left", ours_in.len());
            let mut reencoded = BytesMut::new();
            back.encode(&mut reencoded, v);
            assert_eq!(reencoded.freeze(), bytes, "{what} v{version} seed {seed}: our round trip differs");
        }
    }
}

macro_rules! cross_check {
    ($( $test:ident: $key:ident => $ours_req:ident / $theirs_req:ident, $ours_resp:ident / $theirs_resp:ident; )*) => {$(
        #[test]
        fn $test() {
            check::<$ours_req, kafka_protocol::messages::$theirs_req>(ApiKey::$key, stringify!($ours_req));
            check::<$ours_resp, kafka_protocol::messages::$theirs_resp>(ApiKey::$key, stringify!($ours_resp));
        }
    )*};
}

cross_check! {
    produce_matches_oracle: Produce => ProduceRequest / ProduceRequest, ProduceResponse / ProduceResponse;
    fetch_matches_oracle: Fetch => FetchRequest / FetchRequest, FetchResponse / FetchResponse;
    list_offsets_matches_oracle: ListOffsets => ListOffsetsRequest / ListOffsetsRequest, ListOffsetsResponse / ListOffsetsResponse;
    metadata_matches_oracle: Metadata => MetadataRequest / MetadataRequest, MetadataResponse / MetadataResponse;
    find_coordinator_matches_oracle: FindCoordinator => FindCoordinatorRequest / FindCoordinatorRequest, FindCoordinatorResponse / FindCoordinatorResponse;
    sasl_handshake_matches_oracle: SaslHandshake => SaslHandshakeRequest / SaslHandshakeRequest, SaslHandshakeResponse / SaslHandshakeResponse;
    api_versions_matches_oracle: ApiVersions => ApiVersionsRequest / ApiVersionsRequest, ApiVersionsResponse / ApiVersionsResponse;
    create_topics_matches_oracle: CreateTopics => CreateTopicsRequest / CreateTopicsRequest, CreateTopicsResponse / CreateTopicsResponse;
    delete_topics_matches_oracle: DeleteTopics => DeleteTopicsRequest / DeleteTopicsRequest, DeleteTopicsResponse / DeleteTopicsResponse;
    delete_records_matches_oracle: DeleteRecords => DeleteRecordsRequest / DeleteRecordsRequest, DeleteRecordsResponse / DeleteRecordsResponse;
    offset_for_leader_epoch_matches_oracle: OffsetForLeaderEpoch => OffsetForLeaderEpochRequest / OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse / OffsetForLeaderEpochResponse;
    describe_configs_matches_oracle: DescribeConfigs => DescribeConfigsRequest / DescribeConfigsRequest, DescribeConfigsResponse / DescribeConfigsResponse;
    alter_configs_matches_oracle: AlterConfigs => AlterConfigsRequest / AlterConfigsRequest, AlterConfigsResponse / AlterConfigsResponse;
    create_partitions_matches_oracle: CreatePartitions => CreatePartitionsRequest / CreatePartitionsRequest, CreatePartitionsResponse / CreatePartitionsResponse;
    incremental_alter_configs_matches_oracle: IncrementalAlterConfigs => IncrementalAlterConfigsRequest / IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse / IncrementalAlterConfigsResponse;
    alter_partition_reassignments_matches_oracle: AlterPartitionReassignments => AlterPartitionReassignmentsRequest / AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse / AlterPartitionReassignmentsResponse;
    list_partition_reassignments_matches_oracle: ListPartitionReassignments => ListPartitionReassignmentsRequest / ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse / ListPartitionReassignmentsResponse;
    init_producer_id_matches_oracle: InitProducerId => InitProducerIdRequest / InitProducerIdRequest, InitProducerIdResponse / InitProducerIdResponse;
    describe_cluster_matches_oracle: DescribeCluster => DescribeClusterRequest / DescribeClusterRequest, DescribeClusterResponse / DescribeClusterResponse;
}

// The group APIs, registered with the group coordinator.
cross_check! {
    join_group_matches_oracle: JoinGroup => JoinGroupRequest / JoinGroupRequest, JoinGroupResponse / JoinGroupResponse;
    sync_group_matches_oracle: SyncGroup => SyncGroupRequest / SyncGroupRequest, SyncGroupResponse / SyncGroupResponse;
    heartbeat_matches_oracle: Heartbeat => HeartbeatRequest / HeartbeatRequest, HeartbeatResponse / HeartbeatResponse;
    leave_group_matches_oracle: LeaveGroup => LeaveGroupRequest / LeaveGroupRequest, LeaveGroupResponse / LeaveGroupResponse;
    offset_commit_matches_oracle: OffsetCommit => OffsetCommitRequest / OffsetCommitRequest, OffsetCommitResponse / OffsetCommitResponse;
    offset_fetch_matches_oracle: OffsetFetch => OffsetFetchRequest / OffsetFetchRequest, OffsetFetchResponse / OffsetFetchResponse;
    list_groups_matches_oracle: ListGroups => ListGroupsRequest / ListGroupsRequest, ListGroupsResponse / ListGroupsResponse;
    describe_groups_matches_oracle: DescribeGroups => DescribeGroupsRequest / DescribeGroupsRequest, DescribeGroupsResponse / DescribeGroupsResponse;
    delete_groups_matches_oracle: DeleteGroups => DeleteGroupsRequest / DeleteGroupsRequest, DeleteGroupsResponse / DeleteGroupsResponse;
    offset_delete_matches_oracle: OffsetDelete => OffsetDeleteRequest / OffsetDeleteRequest, OffsetDeleteResponse / OffsetDeleteResponse;
}

// The transaction APIs. kafka-protocol 0.18, generated from Kafka 4.x's definitions, no longer
// speaks WriteTxnMarkers v0, so that API is checked from v1 only.
cross_check! {
    add_partitions_to_txn_matches_oracle: AddPartitionsToTxn => AddPartitionsToTxnRequest / AddPartitionsToTxnRequest, AddPartitionsToTxnResponse / AddPartitionsToTxnResponse;
    add_offsets_to_txn_matches_oracle: AddOffsetsToTxn => AddOffsetsToTxnRequest / AddOffsetsToTxnRequest, AddOffsetsToTxnResponse / AddOffsetsToTxnResponse;
    end_txn_matches_oracle: EndTxn => EndTxnRequest / EndTxnRequest, EndTxnResponse / EndTxnResponse;
    txn_offset_commit_matches_oracle: TxnOffsetCommit => TxnOffsetCommitRequest / TxnOffsetCommitRequest, TxnOffsetCommitResponse / TxnOffsetCommitResponse;
    describe_transactions_matches_oracle: DescribeTransactions => DescribeTransactionsRequest / DescribeTransactionsRequest, DescribeTransactionsResponse / DescribeTransactionsResponse;
    list_transactions_matches_oracle: ListTransactions => ListTransactionsRequest / ListTransactionsRequest, ListTransactionsResponse / ListTransactionsResponse;
}

#[test]
fn write_txn_markers_matches_oracle_from_v1() {
    check_range::<WriteTxnMarkersRequest, kafka_protocol::messages::WriteTxnMarkersRequest>(
        1,
        1,
        1,
        "WriteTxnMarkersRequest",
    );
    check_range::<WriteTxnMarkersResponse, kafka_protocol::messages::WriteTxnMarkersResponse>(
        1,
        1,
        1,
        "WriteTxnMarkersResponse",
    );
}
