//! DescribeAcls, CreateAcls and DeleteAcls (KIP-11, KIP-290), answered as Kafka's ACL
//! authorizer answers them: SECURITY_DISABLED when the broker has no authorizer; describing
//! needs DESCRIBE on the cluster, creating and deleting ALTER (CLUSTER_AUTHORIZATION_FAILED);
//! an invalid binding or filter is INVALID_REQUEST for that one entry, the rest carry on.
//! Describe reads the broker's copy of the entries (kept in step with keeper by the metadata
//! link); create and delete write keeper by compare-and-set (`acl::store`) and update the
//! broker's copy at once, so the caller reads its own writes from this broker.

use std::collections::{BTreeMap, BTreeSet};

use sluice_protocol::messages::{
    AclCreationResult, AclDescription, CreateAclsRequest, CreateAclsResponse, DeleteAclsFilterResult,
    DeleteAclsMatchingAcl, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest, DescribeAclsResource,
    DescribeAclsResponse,
};

use super::RequestContext;
use crate::acl::{
    AccessControlEntry, AclBinding, AclBindingFilter, Operation, PatternType, Permission, ResourcePattern,
    ResourceType, store,
};
use crate::cluster::link::KeeperLink;
use crate::error::ErrorCode;
use crate::topic_admin::keeper_error;

const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker (authorizer.class.name)";

pub fn describe(ctx: RequestContext<'_>, request: DescribeAclsRequest) -> DescribeAclsResponse {
    let refuse = |code: ErrorCode, message: &str| DescribeAclsResponse {
        error_code: code.code(),
        error_message: Some(message.to_string()),
        ..Default::default()
    };
    let Some(authorizer) = ctx.authorizer else { return refuse(ErrorCode::SecurityDisabled, NO_AUTHORIZER) };
    if !ctx.authorize_cluster(Operation::Describe) {
        return refuse(ErrorCode::ClusterAuthorizationFailed, "DESCRIBE on the cluster is needed to list ACLs");
    }
    let filter = AclBindingFilter {
        resource_type: ResourceType::from_code(request.resource_type_filter),
        name: request.resource_name_filter,
        pattern_type: PatternType::from_code(request.pattern_type_filter),
        principal: request.principal_filter,
        host: request.host_filter,
        operation: Operation::from_code(request.operation),
        permission: Permission::from_code(request.permission_type),
    };
    if let Some(reason) = filter.invalid() {
        return refuse(ErrorCode::InvalidRequest, &reason);
    }
    let mut by_pattern: BTreeMap<ResourcePattern, Vec<AclDescription>> = BTreeMap::new();
    for b in authorizer.snapshot().matching(&filter) {
        by_pattern.entry(b.pattern).or_default().push(AclDescription {
            principal: b.entry.principal,
            host: b.entry.host,
            operation: b.entry.operation.code(),
            permission_type: b.entry.permission.code(),
        });
    }
    // Before v1 a client knows literal patterns only.
    let resources = by_pattern
        .into_iter()
        .filter(|(p, _)| ctx.version() >= 1 || p.pattern_type == PatternType::Literal)
        .map(|(p, acls)| DescribeAclsResource {
            resource_type: p.resource_type.code(),
            resource_name: p.name,
            pattern_type: p.pattern_type.code(),
            acls,
        })
        .collect();
    DescribeAclsResponse { resources, ..Default::default() }
}

pub async fn create(ctx: RequestContext<'_>, link: &KeeperLink, request: CreateAclsRequest) -> CreateAclsResponse {
    let all = |code: ErrorCode, message: &str| CreateAclsResponse {
        results: request
            .creations
            .iter()
            .map(|_| AclCreationResult { error_code: code.code(), error_message: Some(message.to_string()) })
            .collect(),
        ..Default::default()
    };
    let Some(authorizer) = ctx.authorizer else { return all(ErrorCode::SecurityDisabled, NO_AUTHORIZER) };
    if !ctx.authorize_cluster(Operation::Alter) {
        return all(ErrorCode::ClusterAuthorizationFailed, "ALTER on the cluster is needed to create ACLs");
    }
    let mut results: Vec<Result<(), (ErrorCode, String)>> = Vec::with_capacity(request.creations.len());
    // The valid bindings by pattern, each with the indexes of the creations it came from.
    let mut by_pattern: BTreeMap<ResourcePattern, Vec<(usize, AccessControlEntry)>> = BTreeMap::new();
    for (i, c) in request.creations.into_iter().enumerate() {
        let binding = AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::from_code(c.resource_type),
                pattern_type: PatternType::from_code(c.resource_pattern_type),
                name: c.resource_name,
            },
            entry: AccessControlEntry {
                principal: c.principal,
                host: c.host,
                operation: Operation::from_code(c.operation),
                permission: Permission::from_code(c.permission_type),
            },
        };
        match binding.invalid().or_else(|| store::unstorable(&binding.pattern)) {
            Some(reason) => results.push(Err((ErrorCode::InvalidRequest, reason))),
            None => {
                results.push(Ok(()));
                by_pattern.entry(binding.pattern).or_default().push((i, binding.entry));
            }
        }
    }
    for (pattern, entries) in by_pattern {
        let written = store::modify(link, &pattern, |current| {
            current.extend(entries.iter().map(|(_, e)| e.clone()));
        })
        .await;
        match written {
            Ok(now) => {
                authorizer.update(vec![(pattern.clone(), Some(now))]);
                for (_, e) in &entries {
                    tracing::info!(principal = %ctx.session.principal, pattern = ?pattern, entry = ?e, "ACL created");
                }
            }
            Err(e) => {
                let failure = keeper_error(e);
                for (i, _) in entries {
                    results[i] = Err(failure.clone());
                }
            }
        }
    }
    CreateAclsResponse {
        results: results
            .into_iter()
            .map(|r| match r {
                Ok(()) => AclCreationResult::default(),
                Err((code, message)) => AclCreationResult { error_code: code.code(), error_message: Some(message) },
            })
            .collect(),
        ..Default::default()
    }
}

pub async fn delete(ctx: RequestContext<'_>, link: &KeeperLink, request: DeleteAclsRequest) -> DeleteAclsResponse {
    let all = |code: ErrorCode, message: &str| DeleteAclsResponse {
        filter_results: request
            .filters
            .iter()
            .map(|_| DeleteAclsFilterResult {
                error_code: code.code(),
                error_message: Some(message.to_string()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let Some(authorizer) = ctx.authorizer else { return all(ErrorCode::SecurityDisabled, NO_AUTHORIZER) };
    if !ctx.authorize_cluster(Operation::Alter) {
        return all(ErrorCode::ClusterAuthorizationFailed, "ALTER on the cluster is needed to delete ACLs");
    }
    let filters: Vec<AclBindingFilter> = request
        .filters
        .into_iter()
        .map(|f| AclBindingFilter {
            resource_type: ResourceType::from_code(f.resource_type_filter),
            name: f.resource_name_filter,
            pattern_type: PatternType::from_code(f.pattern_type_filter),
            principal: f.principal_filter,
            host: f.host_filter,
            operation: Operation::from_code(f.operation),
            permission: Permission::from_code(f.permission_type),
        })
        .collect();
    let mut filter_results: Vec<DeleteAclsFilterResult> = Vec::with_capacity(filters.len());
    for filter in &filters {
        if let Some(reason) = filter.invalid() {
            filter_results.push(DeleteAclsFilterResult {
                error_code: ErrorCode::InvalidRequest.code(),
                error_message: Some(reason),
                ..Default::default()
            });
            continue;
        }
        filter_results.push(DeleteAclsFilterResult::default());
    }
    // Every pattern some valid filter may touch, from the broker's copy; each is then changed
    // in keeper against what keeper holds, and what went is reported under the filters that
    // matched it.
    let valid: Vec<(usize, &AclBindingFilter)> =
        filters.iter().enumerate().filter(|(i, _)| filter_results[*i].error_code == 0).collect();
    let patterns: BTreeSet<ResourcePattern> = authorizer
        .snapshot()
        .by_pattern
        .keys()
        .filter(|p| valid.iter().any(|(_, f)| f.matches_pattern(p)))
        .cloned()
        .collect();
    for pattern in patterns {
        let removed = std::sync::Mutex::new(Vec::new());
        let written = store::modify(link, &pattern, |current| {
            let mut gone = Vec::new();
            current.retain(|e| {
                let binding = AclBinding { pattern: pattern.clone(), entry: e.clone() };
                let matched = valid.iter().any(|(_, f)| f.matches(&binding));
                if matched {
                    gone.push(e.clone());
                }
                !matched
            });
            *removed.lock().expect("not poisoned") = gone;
        })
        .await;
        let removed = removed.into_inner().expect("not poisoned");
        match written {
            Ok(now) => {
                authorizer.update(vec![(pattern.clone(), Some(now))]);
                for e in removed {
                    tracing::info!(principal = %ctx.session.principal, pattern = ?pattern, entry = ?e, "ACL deleted");
                    let binding = AclBinding { pattern: pattern.clone(), entry: e };
                    for (i, f) in &valid {
                        if f.matches(&binding) {
                            filter_results[*i].matching_acls.push(matching(&binding, None));
                        }
                    }
                }
            }
            Err(e) => {
                let (code, message) = keeper_error(e);
                for entry in authorizer.snapshot().by_pattern.get(&pattern).into_iter().flatten() {
                    let binding = AclBinding { pattern: pattern.clone(), entry: entry.clone() };
                    for (i, f) in &valid {
                        if f.matches(&binding) {
                            filter_results[*i].matching_acls.push(matching(&binding, Some((code, message.clone()))));
                        }
                    }
                }
            }
        }
    }
    DeleteAclsResponse { filter_results, ..Default::default() }
}

fn matching(b: &AclBinding, error: Option<(ErrorCode, String)>) -> DeleteAclsMatchingAcl {
    let (error_code, error_message) = match error {
        Some((code, message)) => (code.code(), Some(message)),
        None => (0, None),
    };
    DeleteAclsMatchingAcl {
        error_code,
        error_message,
        resource_type: b.pattern.resource_type.code(),
        resource_name: b.pattern.name.clone(),
        pattern_type: b.pattern.pattern_type.code(),
        principal: b.entry.principal.clone(),
        host: b.entry.host.clone(),
        operation: b.entry.operation.code(),
        permission_type: b.entry.permission.code(),
    }
}
