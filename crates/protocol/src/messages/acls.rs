//! DescribeAcls (key 29), CreateAcls (key 30) and DeleteAcls (key 31), KIP-11 with KIP-290's
//! pattern types from v1: list, add and remove access control entries. Each entry binds a
//! resource pattern (type, name, literal or prefixed) to a principal, a host, an operation and
//! allow or deny. Kafka's `DescribeAcls*.json`, `CreateAcls*.json`, `DeleteAcls*.json`;
//! flexible from v2. A version without the pattern type means a literal pattern (3).

kafka_struct! {
    /// The ACLs matching every given filter field (null or ANY: any value).
    pub struct DescribeAclsRequest {
        resource_type_filter: i8 [0, MAX],
        resource_name_filter: Option<String> [0, MAX],
        pattern_type_filter: i8 [1, MAX] = 3,
        principal_filter: Option<String> [0, MAX],
        host_filter: Option<String> [0, MAX],
        operation: i8 [0, MAX],
        permission_type: i8 [0, MAX],
    }
}

kafka_struct! {
    pub struct DescribeAclsResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        resources: Vec<DescribeAclsResource> [0, MAX],
    }
}

kafka_struct! {
    /// One resource pattern and the entries bound to it.
    pub struct DescribeAclsResource {
        resource_type: i8 [0, MAX],
        resource_name: String [0, MAX],
        pattern_type: i8 [1, MAX] = 3,
        acls: Vec<AclDescription> [0, MAX],
    }
}

kafka_struct! {
    pub struct AclDescription {
        principal: String [0, MAX],
        host: String [0, MAX],
        operation: i8 [0, MAX],
        permission_type: i8 [0, MAX],
    }
}

kafka_struct! {
    pub struct CreateAclsRequest {
        creations: Vec<AclCreation> [0, MAX],
    }
}

kafka_struct! {
    pub struct AclCreation {
        resource_type: i8 [0, MAX],
        resource_name: String [0, MAX],
        resource_pattern_type: i8 [1, MAX] = 3,
        principal: String [0, MAX],
        host: String [0, MAX],
        operation: i8 [0, MAX],
        permission_type: i8 [0, MAX],
    }
}

kafka_struct! {
    /// One result per creation, in the request's order.
    pub struct CreateAclsResponse {
        throttle_time_ms: i32 [0, MAX],
        results: Vec<AclCreationResult> [0, MAX],
    }
}

kafka_struct! {
    pub struct AclCreationResult {
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
    }
}

kafka_struct! {
    pub struct DeleteAclsRequest {
        filters: Vec<DeleteAclsFilter> [0, MAX],
    }
}

kafka_struct! {
    pub struct DeleteAclsFilter {
        resource_type_filter: i8 [0, MAX],
        resource_name_filter: Option<String> [0, MAX],
        pattern_type_filter: i8 [1, MAX] = 3,
        principal_filter: Option<String> [0, MAX],
        host_filter: Option<String> [0, MAX],
        operation: i8 [0, MAX],
        permission_type: i8 [0, MAX],
    }
}

kafka_struct! {
    /// One result per filter, in the request's order, with the entries it removed.
    pub struct DeleteAclsResponse {
        throttle_time_ms: i32 [0, MAX],
        filter_results: Vec<DeleteAclsFilterResult> [0, MAX],
    }
}

kafka_struct! {
    pub struct DeleteAclsFilterResult {
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        matching_acls: Vec<DeleteAclsMatchingAcl> [0, MAX],
    }
}

kafka_struct! {
    pub struct DeleteAclsMatchingAcl {
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        resource_type: i8 [0, MAX],
        resource_name: String [0, MAX],
        pattern_type: i8 [1, MAX] = 3,
        principal: String [0, MAX],
        host: String [0, MAX],
        operation: i8 [0, MAX],
        permission_type: i8 [0, MAX],
    }
}
