//! DescribeCluster: the brokers (today, this one), the controller and the cluster id.

use sluice_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse, DescribeClusterResponseBroker};

use super::RequestContext;

pub fn handle(ctx: RequestContext<'_>, _request: DescribeClusterRequest) -> DescribeClusterResponse {
    let broker = ctx.broker;
    let (host, port) = super::metadata::advertised(ctx);
    DescribeClusterResponse {
        endpoint_type: 1,
        cluster_id: broker.cluster_id.clone(),
        controller_id: broker.config.broker_id,
        brokers: vec![DescribeClusterResponseBroker { broker_id: broker.config.broker_id, host, port, rack: None }],
        cluster_authorized_operations: i32::MIN,
        ..Default::default()
    }
}
