//! Authorized operations (KIP-430): Metadata, DescribeCluster and DescribeGroups report, when
//! asked, the operations the caller may perform on each resource, as a bit field with bit `n`
//! set for Kafka's `AclOperation` code `n` (`RequestContext::authorized_operations`: from the
//! ACLs, or every operation the resource type supports when the broker has no authorizer, as
//! Kafka answers); not asked, the field is `i32::MIN`.

/// What the field holds when the client did not ask.
pub const NOT_REQUESTED: i32 = i32::MIN;

/// `operations` if the client asked for them, else [`NOT_REQUESTED`].
pub fn reported(requested: bool, operations: i32) -> i32 {
    if requested { operations } else { NOT_REQUESTED }
}

#[cfg(test)]
mod tests {
    use crate::acl::ResourceType;

    fn bits(rt: ResourceType) -> i32 {
        rt.operations().iter().fold(0, |b, op| b | (1 << op.code()))
    }

    #[test]
    fn without_an_authorizer_the_bits_are_kafkas() {
        assert_eq!(bits(ResourceType::Topic), 3576);
        assert_eq!(bits(ResourceType::Group), 328);
        assert_eq!(bits(ResourceType::Cluster), 8096);
    }
}
