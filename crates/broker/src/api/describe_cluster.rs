//! DescribeCluster: the live brokers, the controller and the cluster id, from the metadata cache.

use sluice_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse, DescribeClusterResponseBroker};

use super::RequestContext;
use super::metadata::MetadataHandle;

pub fn handle(
    ctx: RequestContext<'_>,
    md: MetadataHandle<'_>,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let (controller, brokers) = super::metadata::live_brokers(ctx, md);
    DescribeClusterResponse {
        endpoint_type: 1,
        cluster_id: md.cluster_id.to_string(),
        controller_id: controller,
        brokers: brokers
            .into_iter()
            .map(|b| DescribeClusterResponseBroker {
                broker_id: b.node_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
                is_fenced: false,
            })
            .collect(),
        // Only to a principal that may describe the cluster, else none (Kafka's answer).
        cluster_authorized_operations: super::authorized_operations::reported(
            request.include_cluster_authorized_operations,
            if ctx.authorize_cluster(crate::acl::Operation::Describe) {
                ctx.authorized_operations(crate::acl::ResourceType::Cluster, crate::acl::CLUSTER_NAME)
            } else {
                0
            },
        ),
        ..Default::default()
    }
}
