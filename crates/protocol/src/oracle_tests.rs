//! Cross-check of every message at every supported version against the `kafka-protocol` crate
//! (a dev-dependency, written by others from Kafka's definitions): a sampled value encoded here
//! must decode there, and re-encode there to the very same bytes; and it must round-trip here.
//!
//! Two generations of that crate serve as oracles: 0.18, generated from Kafka 4.x's
//! definitions, wherever it knows the version; 0.15 (`kafka_protocol_39`), generated from Kafka
//! 3.9's, for the versions Kafka 4.0 removed (KIP-896: OffsetCommit v0-1, CreateTopics v0-1,
//! DescribeConfigs v0, WriteTxnMarkers v0, ...). A version neither knows fails the test.

use bytes::{Bytes, BytesMut};

use crate::api::ApiKey;
use crate::codec::{Decode, Encode, Sample, Version};
use crate::messages::*;

/// Decodes `bytes` at `version` with an oracle's type, re-encodes it, and returns the new bytes
/// and how many input bytes the oracle left unread.
type OracleRoundTrip = fn(&Bytes, i16) -> Result<(Bytes, usize), String>;

/// The round trip through kafka-protocol 0.18 (Kafka 4.x definitions).
fn through_current<T>(bytes: &Bytes, version: i16) -> Result<(Bytes, usize), String>
where
    T: kafka_protocol::protocol::Decodable + kafka_protocol::protocol::Encodable,
{
    let mut input = bytes.clone();
    let theirs = T::decode(&mut input, version).map_err(|e| format!("cannot decode our bytes: {e:?}"))?;
    let mut again = BytesMut::new();
    theirs.encode(&mut again, version).map_err(|e| format!("re-encode failed: {e:?}"))?;
    Ok((again.freeze(), input.len()))
}

/// The round trip through kafka-protocol 0.15 (Kafka 3.9 definitions).
fn through_kafka39<T>(bytes: &Bytes, version: i16) -> Result<(Bytes, usize), String>
where
    T: kafka_protocol_39::protocol::Decodable + kafka_protocol_39::protocol::Encodable,
{
    let mut input = bytes.clone();
    let theirs = T::decode(&mut input, version).map_err(|e| format!("cannot decode our bytes: {e:?}"))?;
    let mut again = BytesMut::new();
    theirs.encode(&mut again, version).map_err(|e| format!("re-encode failed: {e:?}"))?;
    Ok((again.freeze(), input.len()))
}

/// Checks `Ours` at every version of `key`'s registered range, each against the oracle that
/// knows that version: `Current` (kafka-protocol 0.18) first, else `Kafka39` (0.15).
fn check<Ours, Current, Kafka39>(key: ApiKey, what: &str)
where
    Ours: Sample + Encode + Decode + PartialEq + std::fmt::Debug,
    Current:
        kafka_protocol::protocol::Message + kafka_protocol::protocol::Decodable + kafka_protocol::protocol::Encodable,
    Kafka39: kafka_protocol_39::protocol::Message
        + kafka_protocol_39::protocol::Decodable
        + kafka_protocol_39::protocol::Encodable,
{
    let (lo, hi) = key.versions();
    for version in lo..=hi {
        let current = Current::VERSIONS;
        let kafka39 = Kafka39::VERSIONS;
        let oracle: OracleRoundTrip = if current.min <= version && version <= current.max {
            through_current::<Current>
        } else if kafka39.min <= version && version <= kafka39.max {
            through_kafka39::<Kafka39>
        } else {
            panic!("{what} v{version}: no oracle knows this version")
        };
        check_version::<Ours>(version, key.is_flexible(version), what, oracle);
    }
}

/// The round trips of 25 sampled values of `Ours` at one version.
fn check_version<Ours>(version: i16, flexible: bool, what: &str, oracle: OracleRoundTrip)
where
    Ours: Sample + Encode + Decode + PartialEq + std::fmt::Debug,
{
    let v = Version::new(version, flexible);
    for seed in 1..=25u64 {
        let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (version as u64 + 1);
        let ours = Ours::sample(&mut rng);
        let mut buf = BytesMut::new();
        ours.encode(&mut buf, v);
        let bytes: Bytes = buf.freeze();

        let (again, left) = oracle(&bytes, version).unwrap_or_else(|e| panic!("{what} v{version} seed {seed}: {e}"));
        assert_eq!(left, 0, "{what} v{version} seed {seed}: kafka-protocol left {left} bytes");
        assert_eq!(again, bytes, "{what} v{version} seed {seed}: bytes differ after kafka-protocol round trip");

        let mut ours_in = bytes.clone();
        let back = Ours::decode(&mut ours_in, v).unwrap_or_else(|e| panic!("{what} v{version}: we cannot decode: {e}"));
        assert!(ours_in.is_empty(), "{what} v{version}: {} bytes left", ours_in.len());
        let mut reencoded = BytesMut::new();
        back.encode(&mut reencoded, v);
        assert_eq!(reencoded.freeze(), bytes, "{what} v{version} seed {seed}: our round trip differs");
    }
}

macro_rules! cross_check {
    ($( $test:ident: $key:ident => $ours_req:ident / $theirs_req:ident, $ours_resp:ident / $theirs_resp:ident; )*) => {$(
        #[test]
        fn $test() {
            check::<$ours_req, kafka_protocol::messages::$theirs_req, kafka_protocol_39::messages::$theirs_req>(
                ApiKey::$key,
                stringify!($ours_req),
            );
            check::<$ours_resp, kafka_protocol::messages::$theirs_resp, kafka_protocol_39::messages::$theirs_resp>(
                ApiKey::$key,
                stringify!($ours_resp),
            );
        }
    )*};
}

cross_check! {
    produce_matches_oracle: Produce => ProduceRequest / ProduceRequest, ProduceResponse / ProduceResponse;
    fetch_matches_oracle: Fetch => FetchRequest / FetchRequest, FetchResponse / FetchResponse;
    list_offsets_matches_oracle: ListOffsets => ListOffsetsRequest / ListOffsetsRequest, ListOffsetsResponse / ListOffsetsResponse;
    metadata_matches_oracle: Metadata => MetadataRequest / MetadataRequest, MetadataResponse / MetadataResponse;
    find_coordinator_matches_oracle: FindCoordinator => FindCoordinatorRequest / FindCoordinatorRequest, FindCoordinatorResponse / FindCoordinatorResponse;
    sasl_authenticate_matches_oracle: SaslAuthenticate => SaslAuthenticateRequest / SaslAuthenticateRequest, SaslAuthenticateResponse / SaslAuthenticateResponse;
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
    describe_user_scram_credentials_matches_oracle: DescribeUserScramCredentials => DescribeUserScramCredentialsRequest / DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse / DescribeUserScramCredentialsResponse;
    alter_user_scram_credentials_matches_oracle: AlterUserScramCredentials => AlterUserScramCredentialsRequest / AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse / AlterUserScramCredentialsResponse;
    describe_acls_matches_oracle: DescribeAcls => DescribeAclsRequest / DescribeAclsRequest, DescribeAclsResponse / DescribeAclsResponse;
    create_acls_matches_oracle: CreateAcls => CreateAclsRequest / CreateAclsRequest, CreateAclsResponse / CreateAclsResponse;
    delete_acls_matches_oracle: DeleteAcls => DeleteAclsRequest / DeleteAclsRequest, DeleteAclsResponse / DeleteAclsResponse;
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

// The transaction APIs.
cross_check! {
    add_partitions_to_txn_matches_oracle: AddPartitionsToTxn => AddPartitionsToTxnRequest / AddPartitionsToTxnRequest, AddPartitionsToTxnResponse / AddPartitionsToTxnResponse;
    add_offsets_to_txn_matches_oracle: AddOffsetsToTxn => AddOffsetsToTxnRequest / AddOffsetsToTxnRequest, AddOffsetsToTxnResponse / AddOffsetsToTxnResponse;
    end_txn_matches_oracle: EndTxn => EndTxnRequest / EndTxnRequest, EndTxnResponse / EndTxnResponse;
    write_txn_markers_matches_oracle: WriteTxnMarkers => WriteTxnMarkersRequest / WriteTxnMarkersRequest, WriteTxnMarkersResponse / WriteTxnMarkersResponse;
    txn_offset_commit_matches_oracle: TxnOffsetCommit => TxnOffsetCommitRequest / TxnOffsetCommitRequest, TxnOffsetCommitResponse / TxnOffsetCommitResponse;
    elect_leaders_matches_oracle: ElectLeaders => ElectLeadersRequest / ElectLeadersRequest, ElectLeadersResponse / ElectLeadersResponse;
    describe_log_dirs_matches_oracle: DescribeLogDirs => DescribeLogDirsRequest / DescribeLogDirsRequest, DescribeLogDirsResponse / DescribeLogDirsResponse;
    alter_replica_log_dirs_matches_oracle: AlterReplicaLogDirs => AlterReplicaLogDirsRequest / AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse / AlterReplicaLogDirsResponse;
    describe_client_quotas_matches_oracle: DescribeClientQuotas => DescribeClientQuotasRequest / DescribeClientQuotasRequest, DescribeClientQuotasResponse / DescribeClientQuotasResponse;
    alter_client_quotas_matches_oracle: AlterClientQuotas => AlterClientQuotasRequest / AlterClientQuotasRequest, AlterClientQuotasResponse / AlterClientQuotasResponse;
    get_telemetry_subscriptions_matches_oracle: GetTelemetrySubscriptions => GetTelemetrySubscriptionsRequest / GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse / GetTelemetrySubscriptionsResponse;
    push_telemetry_matches_oracle: PushTelemetry => PushTelemetryRequest / PushTelemetryRequest, PushTelemetryResponse / PushTelemetryResponse;
    describe_topic_partitions_matches_oracle: DescribeTopicPartitions => DescribeTopicPartitionsRequest / DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse / DescribeTopicPartitionsResponse;
    describe_producers_matches_oracle: DescribeProducers => DescribeProducersRequest / DescribeProducersRequest, DescribeProducersResponse / DescribeProducersResponse;
    describe_transactions_matches_oracle: DescribeTransactions => DescribeTransactionsRequest / DescribeTransactionsRequest, DescribeTransactionsResponse / DescribeTransactionsResponse;
    list_transactions_matches_oracle: ListTransactions => ListTransactionsRequest / ListTransactionsRequest, ListTransactionsResponse / ListTransactionsResponse;
    consumer_group_heartbeat_matches_oracle: ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest / ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse / ConsumerGroupHeartbeatResponse;
    consumer_group_describe_matches_oracle: ConsumerGroupDescribe => ConsumerGroupDescribeRequest / ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse / ConsumerGroupDescribeResponse;
}
