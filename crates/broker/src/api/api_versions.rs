//! ApiVersions: exactly the registry of `sluice_protocol::api`.

use sluice_protocol::api::supported_api_versions;
use sluice_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::RequestContext;

pub fn handle(_ctx: RequestContext<'_>, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse { api_keys: supported_api_versions(), finalized_features_epoch: -1, ..Default::default() }
}
