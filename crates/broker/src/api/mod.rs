//! Request handlers, one file per request kind, and the dispatch from a decoded request to its
//! handler. Handlers answer errors at the finest level the protocol allows (per partition, per
//! topic, per resource); only an undecodable frame closes a connection.
//!
//! A handler is handed only the parts of the broker it touches, named in its signature: the
//! group requests a [`GroupLog`](crate::group::offsets_log::GroupLog) (the groups, and the topic
//! admin that finds, creates and appends to `__consumer_offsets`); DeleteTopics,
//! CreatePartitions and the reassignment requests the [`TopicAdmin`](crate::topic_admin::TopicAdmin);
//! ListOffsets, OffsetForLeaderEpoch, DeleteRecords and Produce the
//! [`ReplicaManager`](crate::replica_manager::ReplicaManager) (Produce also the transaction
//! coordinator that verifies a transactional batch, when verification is on); Fetch a
//! [`FetchHandle`](fetch::FetchHandle); the transaction requests a
//! [`TxnHandle`](crate::txn::TxnHandle); Metadata, DescribeCluster and FindCoordinator a
//! [`MetadataHandle`](metadata::MetadataHandle) (FindCoordinator also the group and transaction
//! handles, whose internal topics it creates); CreateTopics and the config requests a
//! [`ConfigHandle`](crate::dynamic_config::ConfigHandle) (the topic admin, and the broker's id
//! and static config, the layers configs are described through). No handler takes the whole
//! `Broker`.

mod acls;
mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_replica_log_dirs;
mod api_versions;
mod authorized_operations;
mod client_quotas;
mod configs;
mod consumer_group;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_groups;
mod describe_log_dirs;
mod describe_producers;
mod describe_topic_partitions;
mod describe_transactions;
mod elect_leaders;
mod end_txn;
pub(crate) mod fetch;
mod find_coordinator;
mod heartbeat;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_transactions;
pub(crate) mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod reassignments;
mod sasl_handshake;
mod scram_credentials;
mod sync_group;
mod telemetry;
mod txn_offset_commit;
mod write_txn_markers;

use sluice_protocol::api::{Request, RequestHeader, Response};

use crate::acl::authorizer::{Authorizer, Session};
use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;

/// What a handler knows about the request beyond its body.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    pub header: &'a RequestHeader,
    /// Name of the listener the request arrived on (Metadata advertises its address).
    pub listener: &'a str,
    /// The client's address (DescribeGroups reports it as the member's host).
    pub peer: std::net::SocketAddr,
    /// Who sent it: the principal, and the address ACL host filters match.
    pub session: &'a Session,
    /// The ACL authorizer, when the broker has one (`authorizer.class.name`).
    pub authorizer: Option<&'a Authorizer>,
    /// The request came over TLS: its answer's records are copied, not sent with `sendfile`.
    pub over_tls: bool,
    /// Memory a handler reserved for its response (a fetch's records), held until the
    /// response is written.
    pub response_memory: &'a parking_lot::Mutex<crate::memory_pool::Reservation>,
    /// Nanoseconds the handler waited in a purgatory (the request's `remote` time).
    pub remote_nanos: &'a std::sync::atomic::AtomicU64,
}

impl RequestContext<'_> {
    pub fn version(&self) -> i16 {
        self.header.api_version
    }

    /// Counts `waited` in a purgatory as the request's remote time (`/metrics`).
    pub fn add_remote_time(&self, waited: std::time::Duration) {
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.remote_nanos.fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the sender may perform `op` on resource `name` of type `rt` (always, without an
    /// authorizer).
    pub fn authorize(&self, op: Operation, rt: ResourceType, name: &str) -> bool {
        self.authorizer.is_none_or(|a| a.authorize(self.session, op, rt, name))
    }

    /// `op` on group `id`, or GROUP_AUTHORIZATION_FAILED.
    pub fn group_access(&self, op: Operation, id: &str) -> Result<(), crate::error::ErrorCode> {
        if self.authorize(op, ResourceType::Group, id) {
            Ok(())
        } else {
            Err(crate::error::ErrorCode::GroupAuthorizationFailed)
        }
    }

    /// `op` on transactional id `id`, or TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
    pub fn transactional_id_access(&self, op: Operation, id: &str) -> Result<(), crate::error::ErrorCode> {
        if self.authorize(op, ResourceType::TransactionalId, id) {
            Ok(())
        } else {
            Err(crate::error::ErrorCode::TransactionalIdAuthorizationFailed)
        }
    }

    /// Whether the sender may perform `op` on the cluster.
    pub fn authorize_cluster(&self, op: Operation) -> bool {
        self.authorize(op, ResourceType::Cluster, crate::acl::CLUSTER_NAME)
    }

    /// Whether the sender may perform `op` on some resource of type `rt` (KIP-679).
    pub fn authorize_any(&self, op: Operation, rt: ResourceType) -> bool {
        self.authorizer.is_none_or(|a| a.authorize_any(self.session, op, rt))
    }

    /// The operations the sender may perform on a resource (KIP-430), as Kafka's bit field;
    /// without an authorizer every operation the type supports.
    pub fn authorized_operations(&self, rt: ResourceType, name: &str) -> i32 {
        match self.authorizer {
            Some(a) => a.authorized_operations(self.session, rt, name),
            None => rt.operations().iter().fold(0, |bits, op| bits | (1 << op.code())),
        }
    }
}

/// Handles one request. `None` means no response is sent (Produce with `acks=0`). Each handler
/// is handed the parts of the broker it may touch.
pub async fn handle(broker: &Broker, ctx: RequestContext<'_>, request: Request) -> Option<Response> {
    let config = broker.config_handle();
    let replicas = &*broker.replica_manager;
    let admin = &broker.admin;
    let groups = broker.group_log();
    let txn = broker.txn_handle();
    let md = broker.metadata_handle();
    Some(match request {
        Request::Produce(mut r) => {
            let by_id = produce::names_from_ids(ctx.version(), &broker.cluster, &mut r);
            let verifier = broker.config.txn.partition_verification.then_some(txn);
            let mut response = produce::handle(ctx, replicas, verifier, r).await;
            if let Some(response) = response.as_mut() {
                produce::ids_for_names(by_id, response);
                produce::point_at_leaders(ctx, &broker.cluster, response);
            }
            return response.map(Response::Produce);
        }
        Request::Fetch(r) => Response::Fetch(fetch::handle(ctx, broker.fetch_handle(), r).await),
        Request::ListOffsets(r) => Response::ListOffsets(list_offsets::handle(ctx, replicas, r)),
        Request::Metadata(r) => Response::Metadata(metadata::handle(ctx, md, r).await),
        Request::FindCoordinator(r) => {
            Response::FindCoordinator(find_coordinator::handle(ctx, md, groups, txn, r).await)
        }
        Request::SaslHandshake(r) => Response::SaslHandshake(sasl_handshake::handle(ctx, r)),
        Request::SaslAuthenticate(r) => Response::SaslAuthenticate(sasl_handshake::authenticate(ctx, r)),
        Request::ApiVersions(r) => Response::ApiVersions(api_versions::handle(ctx, r)),
        Request::CreateTopics(r) => Response::CreateTopics(create_topics::handle(ctx, config, r).await),
        Request::DeleteTopics(r) => Response::DeleteTopics(delete_topics::handle(ctx, admin, r).await),
        Request::DeleteRecords(r) => Response::DeleteRecords(delete_records::handle(ctx, replicas, r)),
        Request::OffsetForLeaderEpoch(r) => {
            Response::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(ctx, replicas, r))
        }
        Request::DescribeConfigs(r) => Response::DescribeConfigs(configs::describe(ctx, config, r)),
        Request::AlterConfigs(r) => Response::AlterConfigs(configs::alter(ctx, config, r).await),
        Request::CreatePartitions(r) => Response::CreatePartitions(create_partitions::handle(ctx, admin, r).await),
        Request::IncrementalAlterConfigs(r) => {
            Response::IncrementalAlterConfigs(configs::incremental_alter(ctx, config, r).await)
        }
        Request::AlterPartitionReassignments(r) => {
            Response::AlterPartitionReassignments(reassignments::alter(ctx, admin, r).await)
        }
        Request::ListPartitionReassignments(r) => {
            Response::ListPartitionReassignments(reassignments::list(ctx, admin, r))
        }
        Request::DescribeUserScramCredentials(r) => {
            Response::DescribeUserScramCredentials(scram_credentials::describe(ctx, config, r).await)
        }
        Request::AlterUserScramCredentials(r) => {
            Response::AlterUserScramCredentials(scram_credentials::alter(ctx, config, r).await)
        }
        Request::DescribeAcls(r) => Response::DescribeAcls(acls::describe(ctx, r)),
        Request::CreateAcls(r) => Response::CreateAcls(acls::create(ctx, &broker.link, r).await),
        Request::DeleteAcls(r) => Response::DeleteAcls(acls::delete(ctx, &broker.link, r).await),
        Request::DescribeCluster(r) => Response::DescribeCluster(describe_cluster::handle(ctx, md, r)),
        Request::InitProducerId(r) => Response::InitProducerId(init_producer_id::handle(ctx, txn, r).await),
        Request::JoinGroup(r) => Response::JoinGroup(join_group::handle(ctx, groups, r).await),
        Request::SyncGroup(r) => Response::SyncGroup(sync_group::handle(ctx, groups, r).await),
        Request::Heartbeat(r) => Response::Heartbeat(heartbeat::handle(ctx, groups, r).await),
        Request::LeaveGroup(r) => Response::LeaveGroup(leave_group::handle(ctx, groups, r).await),
        Request::OffsetCommit(r) => Response::OffsetCommit(offset_commit::handle(ctx, groups, r).await),
        Request::OffsetFetch(r) => Response::OffsetFetch(offset_fetch::handle(ctx, groups, r).await),
        Request::ListGroups(r) => Response::ListGroups(list_groups::handle(ctx, groups, r)),
        Request::DescribeGroups(r) => Response::DescribeGroups(describe_groups::handle(ctx, groups, r)),
        Request::ConsumerGroupHeartbeat(r) => {
            Response::ConsumerGroupHeartbeat(consumer_group::heartbeat(ctx, groups, r).await)
        }
        Request::ConsumerGroupDescribe(r) => Response::ConsumerGroupDescribe(consumer_group::describe(ctx, groups, r)),
        Request::DeleteGroups(r) => Response::DeleteGroups(delete_groups::handle(ctx, groups, r).await),
        Request::OffsetDelete(r) => Response::OffsetDelete(offset_delete::handle(ctx, groups, r).await),
        Request::AddPartitionsToTxn(r) => {
            Response::AddPartitionsToTxn(add_partitions_to_txn::handle(ctx, txn, r).await)
        }
        Request::AddOffsetsToTxn(r) => Response::AddOffsetsToTxn(add_offsets_to_txn::handle(ctx, groups, txn, r).await),
        Request::EndTxn(r) => Response::EndTxn(end_txn::handle(ctx, txn, r).await),
        Request::WriteTxnMarkers(r) => Response::WriteTxnMarkers(write_txn_markers::handle(ctx, txn, r).await),
        Request::TxnOffsetCommit(r) => Response::TxnOffsetCommit(txn_offset_commit::handle(ctx, groups, r).await),
        Request::ElectLeaders(r) => Response::ElectLeaders(elect_leaders::handle(ctx, broker, r).await),
        Request::DescribeLogDirs(r) => Response::DescribeLogDirs(describe_log_dirs::handle(ctx, replicas, r)),
        Request::AlterReplicaLogDirs(r) => {
            Response::AlterReplicaLogDirs(alter_replica_log_dirs::handle(ctx, replicas, r))
        }
        Request::DescribeClientQuotas(r) => {
            Response::DescribeClientQuotas(client_quotas::describe(ctx, &broker.link, r))
        }
        Request::AlterClientQuotas(r) => Response::AlterClientQuotas(client_quotas::alter(ctx, &broker.link, r).await),
        Request::GetTelemetrySubscriptions(r) => Response::GetTelemetrySubscriptions(telemetry::subscriptions(r)),
        Request::PushTelemetry(r) => Response::PushTelemetry(telemetry::push(r)),
        Request::DescribeTopicPartitions(r) => {
            Response::DescribeTopicPartitions(describe_topic_partitions::handle(ctx, md, r))
        }
        Request::DescribeProducers(r) => Response::DescribeProducers(describe_producers::handle(ctx, replicas, r)),
        Request::DescribeTransactions(r) => Response::DescribeTransactions(describe_transactions::handle(ctx, txn, r)),
        Request::ListTransactions(r) => Response::ListTransactions(list_transactions::handle(ctx, txn, r)),
    })
}
