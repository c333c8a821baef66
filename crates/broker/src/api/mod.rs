//! Request handlers, one file per request kind, and the dispatch from a decoded request to its
//! handler. Handlers answer errors at the finest level the protocol allows (per partition, per
//! topic, per resource); only an undecodable frame closes a connection.

mod api_versions;
mod configs;
mod create_partitions;
mod create_topics;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod fetch;
mod find_coordinator;
mod list_offsets;
mod metadata;
mod offset_for_leader_epoch;
mod produce;
mod sasl_handshake;

use sluice_protocol::api::{Request, RequestHeader, Response};

use crate::broker::Broker;

/// What a handler knows about the request beyond its body.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    pub broker: &'a Broker,
    pub header: &'a RequestHeader,
    /// Name of the listener the request arrived on (Metadata advertises its address).
    pub listener: &'a str,
}

impl RequestContext<'_> {
    pub fn version(&self) -> i16 {
        self.header.api_version
    }
}

/// Handles one request. `None` means no response is sent (Produce with `acks=0`).
pub async fn handle(ctx: RequestContext<'_>, request: Request) -> Option<Response> {
    Some(match request {
        Request::Produce(r) => return produce::handle(ctx, r).await.map(Response::Produce),
        Request::Fetch(r) => Response::Fetch(fetch::handle(ctx, r).await),
        Request::ListOffsets(r) => Response::ListOffsets(list_offsets::handle(ctx, r)),
        Request::Metadata(r) => Response::Metadata(metadata::handle(ctx, r)),
        Request::FindCoordinator(r) => Response::FindCoordinator(find_coordinator::handle(ctx, r)),
        Request::SaslHandshake(r) => Response::SaslHandshake(sasl_handshake::handle(ctx, r)),
        Request::ApiVersions(r) => Response::ApiVersions(api_versions::handle(ctx, r)),
        Request::CreateTopics(r) => Response::CreateTopics(create_topics::handle(ctx, r)),
        Request::DeleteTopics(r) => Response::DeleteTopics(delete_topics::handle(ctx, r)),
        Request::DeleteRecords(r) => Response::DeleteRecords(delete_records::handle(ctx, r)),
        Request::OffsetForLeaderEpoch(r) => Response::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(ctx, r)),
        Request::DescribeConfigs(r) => Response::DescribeConfigs(configs::describe(ctx, r)),
        Request::AlterConfigs(r) => Response::AlterConfigs(configs::alter(ctx, r)),
        Request::CreatePartitions(r) => Response::CreatePartitions(create_partitions::handle(ctx, r)),
        Request::IncrementalAlterConfigs(r) => Response::IncrementalAlterConfigs(configs::incremental_alter(ctx, r)),
        Request::DescribeCluster(r) => Response::DescribeCluster(describe_cluster::handle(ctx, r)),
    })
}
