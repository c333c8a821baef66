//! Access control lists, Kafka's model (KIP-11, with KIP-290's prefixed patterns), shared by
//! the broker (which stores and enforces them) and the client and CLI (which send them): an
//! entry binds a resource pattern (a type, a name, literal or prefixed) to a principal, a host,
//! an operation and allow or deny. The codes are Kafka's wire codes (`ResourceType`,
//! `PatternType`, `AclOperation`, `AclPermissionType`); the names are the ones Kafka writes in
//! its ZooKeeper znodes and prints in its tools.

/// The name of the one cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// A literal resource name, principal or host that matches every one.
pub const WILDCARD: &str = "*";
/// The principal of a connection that did not authenticate (a PLAINTEXT listener).
pub const ANONYMOUS: &str = "User:ANONYMOUS";

macro_rules! kafka_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant = $code,)* }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant,)*];

            pub fn code(self) -> i8 {
                self as i8
            }

            /// The value of a wire code; an unknown code is `Unknown`, as Kafka reads it.
            pub fn from_code(code: i8) -> $name {
                match code {
                    $($code => $name::$variant,)*
                    _ => $name::Unknown,
                }
            }

            /// Kafka's name as written in znodes (`Topic`, `IdempotentWrite`, `Allow`).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// The value of a name, in any case and with or without underscores
            /// (`IdempotentWrite`, `IDEMPOTENT_WRITE`, `idempotent-write`).
            pub fn from_name(text: &str) -> Option<$name> {
                let fold = |s: &str| s.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect::<String>();
                let wanted = fold(text);
                $name::ALL.iter().copied().find(|v| fold(v.name()) == wanted)
            }
        }
    };
}

kafka_enum! {
    /// Kafka's `ResourceType`.
    ResourceType {
        Unknown = 0, "Unknown";
        Any = 1, "Any";
        Topic = 2, "Topic";
        Group = 3, "Group";
        Cluster = 4, "Cluster";
        TransactionalId = 5, "TransactionalId";
        DelegationToken = 6, "DelegationToken";
        User = 7, "User";
    }
}

kafka_enum! {
    /// Kafka's `PatternType`: how a binding's name matches resources; `Any` and `Match` are
    /// for filters only.
    PatternType {
        Unknown = 0, "Unknown";
        Any = 1, "Any";
        Match = 2, "Match";
        Literal = 3, "Literal";
        Prefixed = 4, "Prefixed";
    }
}

kafka_enum! {
    /// Kafka's `AclOperation`.
    Operation {
        Unknown = 0, "Unknown";
        Any = 1, "Any";
        All = 2, "All";
        Read = 3, "Read";
        Write = 4, "Write";
        Create = 5, "Create";
        Delete = 6, "Delete";
        Alter = 7, "Alter";
        Describe = 8, "Describe";
        ClusterAction = 9, "ClusterAction";
        DescribeConfigs = 10, "DescribeConfigs";
        AlterConfigs = 11, "AlterConfigs";
        IdempotentWrite = 12, "IdempotentWrite";
        CreateTokens = 13, "CreateTokens";
        DescribeTokens = 14, "DescribeTokens";
    }
}

kafka_enum! {
    /// Kafka's `AclPermissionType`.
    Permission {
        Unknown = 0, "Unknown";
        Any = 1, "Any";
        Deny = 2, "Deny";
        Allow = 3, "Allow";
    }
}

impl ResourceType {
    /// Kafka's Java enum constant (`TOPIC`, `TRANSACTIONAL_ID`), what its change notifications
    /// carry.
    pub fn enum_name(self) -> String {
        let mut out = String::new();
        for (i, c) in self.name().char_indices() {
            if c.is_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    /// The operations an entry on this resource type may name (besides `All`), Kafka's
    /// `AclEntry.supportedOperations`; also what KIP-430 reports without an authorizer.
    pub fn operations(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            ResourceType::Topic => &[Read, Write, Create, Describe, Delete, Alter, DescribeConfigs, AlterConfigs],
            ResourceType::Group => &[Read, Describe, Delete],
            ResourceType::Cluster => {
                &[Create, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, Alter, Describe]
            }
            ResourceType::TransactionalId => &[Describe, Write],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            ResourceType::Unknown | ResourceType::Any => &[],
        }
    }
}

impl Operation {
    /// The operations whose grant also grants this one: DESCRIBE comes with READ, WRITE,
    /// DELETE and ALTER; DESCRIBE_CONFIGS with ALTER_CONFIGS; every one with ALL.
    pub fn granted_by(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            Describe => &[Describe, Read, Write, Delete, Alter, All],
            DescribeConfigs => &[DescribeConfigs, AlterConfigs, All],
            Read => &[Read, All],
            Write => &[Write, All],
            Create => &[Create, All],
            Delete => &[Delete, All],
            Alter => &[Alter, All],
            ClusterAction => &[ClusterAction, All],
            AlterConfigs => &[AlterConfigs, All],
            IdempotentWrite => &[IdempotentWrite, All],
            CreateTokens => &[CreateTokens, All],
            DescribeTokens => &[DescribeTokens, All],
            All => &[All],
            Unknown | Any => &[],
        }
    }
}

/// A resource pattern: what a binding applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub pattern_type: PatternType,
    pub name: String,
}

/// Who may (or may not) do what from where, on a pattern's resources.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccessControlEntry {
    pub principal: String,
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

/// An entry and the pattern it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    pub pattern: ResourcePattern,
    pub entry: AccessControlEntry,
}

impl AclBinding {
    /// Why the binding cannot be stored (INVALID_REQUEST), if it cannot: a type, pattern,
    /// operation or permission that is unknown or a filter's `Any`/`Match`, an empty name, a
    /// cluster binding not named `kafka-cluster` (Kafka's checks), or a principal not of the
    /// form `Type:name` (Kafka fails that one later, with UNKNOWN_SERVER_ERROR). As in Kafka,
    /// an operation the resource type never checks is stored (it grants nothing); the CLI
    /// refuses it before sending.
    pub fn invalid(&self) -> Option<String> {
        let p = &self.pattern;
        let e = &self.entry;
        if matches!(p.resource_type, ResourceType::Unknown | ResourceType::Any) {
            return Some("Invalid resource type: the type must be a specific one".into());
        }
        if !matches!(p.pattern_type, PatternType::Literal | PatternType::Prefixed) {
            return Some("Invalid pattern type: must be LITERAL or PREFIXED".into());
        }
        if matches!(e.operation, Operation::Unknown | Operation::Any) {
            return Some("Invalid operation: must be a specific one".into());
        }
        if matches!(e.permission, Permission::Unknown | Permission::Any) {
            return Some("Invalid permission type: must be ALLOW or DENY".into());
        }
        if p.name.is_empty() {
            return Some("Resource name must not be empty".into());
        }
        if p.resource_type == ResourceType::Cluster && p.name != CLUSTER_NAME {
            return Some(format!("The only valid name for the CLUSTER resource is {CLUSTER_NAME}"));
        }
        if parse_principal(&e.principal).is_none() {
            return Some(format!("Could not parse principal {:?}: expected Type:name such as User:alice", e.principal));
        }
        if e.host.is_empty() {
            return Some("Host must not be empty: use '*' for every host".into());
        }
        None
    }
}

/// `Type:name` split at its first colon, both parts non-empty.
pub fn parse_principal(text: &str) -> Option<(&str, &str)> {
    text.split_once(':').filter(|(t, n)| !t.is_empty() && !n.is_empty())
}

/// A filter over bindings, as DescribeAcls and DeleteAcls carry it: `None` (null) or `Any`
/// matches every value; pattern type `Match` matches the literal name, the literal wildcard
/// and every prefixed pattern the name starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Operation,
    pub permission: Permission,
}

impl AclBindingFilter {
    /// Everything.
    pub fn any() -> AclBindingFilter {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: Operation::Any,
            permission: Permission::Any,
        }
    }

    /// Why Kafka would refuse the filter (INVALID_REQUEST): an unknown code in any field.
    pub fn invalid(&self) -> Option<String> {
        if self.resource_type == ResourceType::Unknown {
            return Some("Invalid resource type filter".into());
        }
        if self.pattern_type == PatternType::Unknown {
            return Some("Invalid pattern type filter".into());
        }
        if self.operation == Operation::Unknown {
            return Some("Invalid operation filter".into());
        }
        if self.permission == Permission::Unknown {
            return Some("Invalid permission type filter".into());
        }
        None
    }

    pub fn matches_pattern(&self, p: &ResourcePattern) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != p.resource_type {
            return false;
        }
        match (self.pattern_type, &self.name) {
            (PatternType::Any, None) => true,
            (PatternType::Any, Some(name)) => &p.name == name,
            (PatternType::Match, None) => true,
            (PatternType::Match, Some(name)) => match p.pattern_type {
                PatternType::Literal => &p.name == name || p.name == WILDCARD,
                PatternType::Prefixed => name.starts_with(&p.name),
                _ => false,
            },
            (wanted, name) => wanted == p.pattern_type && name.as_ref().is_none_or(|n| &p.name == n),
        }
    }

    pub fn matches_entry(&self, e: &AccessControlEntry) -> bool {
        self.principal.as_ref().is_none_or(|p| p == &e.principal)
            && self.host.as_ref().is_none_or(|h| h == &e.host)
            && (self.operation == Operation::Any || self.operation == e.operation)
            && (self.permission == Permission::Any || self.permission == e.permission)
    }

    pub fn matches(&self, b: &AclBinding) -> bool {
        self.matches_pattern(&b.pattern) && self.matches_entry(&b.entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(rt: ResourceType, pt: PatternType, name: &str, op: Operation) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern { resource_type: rt, pattern_type: pt, name: name.into() },
            entry: AccessControlEntry {
                principal: "User:alice".into(),
                host: "*".into(),
                operation: op,
                permission: Permission::Allow,
            },
        }
    }

    #[test]
    fn codes_and_names_round_trip() {
        for t in ResourceType::ALL {
            assert_eq!(ResourceType::from_code(t.code()), *t);
            assert_eq!(ResourceType::from_name(t.name()), Some(*t));
        }
        for o in Operation::ALL {
            assert_eq!(Operation::from_code(o.code()), *o);
            assert_eq!(Operation::from_name(o.name()), Some(*o));
        }
        assert_eq!(Operation::from_name("IDEMPOTENT_WRITE"), Some(Operation::IdempotentWrite));
        assert_eq!(Operation::from_name("describe-configs"), Some(Operation::DescribeConfigs));
        assert_eq!(Operation::from_code(99), Operation::Unknown);
        assert_eq!((Operation::IdempotentWrite.code(), ResourceType::TransactionalId.code()), (12, 5));
        assert_eq!(ResourceType::TransactionalId.enum_name(), "TRANSACTIONAL_ID");
        assert_eq!(ResourceType::Topic.enum_name(), "TOPIC");
    }

    #[test]
    fn invalid_bindings_are_named() {
        assert!(binding(ResourceType::Topic, PatternType::Literal, "t", Operation::Read).invalid().is_none());
        assert!(binding(ResourceType::Any, PatternType::Literal, "t", Operation::Read).invalid().is_some());
        assert!(binding(ResourceType::Topic, PatternType::Match, "t", Operation::Read).invalid().is_some());
        assert!(binding(ResourceType::Topic, PatternType::Literal, "t", Operation::Any).invalid().is_some());
        assert!(
            binding(ResourceType::Topic, PatternType::Literal, "t", Operation::IdempotentWrite).invalid().is_none()
        );
        assert!(binding(ResourceType::Cluster, PatternType::Literal, "other", Operation::Alter).invalid().is_some());
        assert!(binding(ResourceType::Topic, PatternType::Prefixed, "*", Operation::Read).invalid().is_none());
        let mut b = binding(ResourceType::Topic, PatternType::Literal, "t", Operation::All);
        assert!(b.invalid().is_none());
        b.entry.principal = "alice".into();
        assert!(b.invalid().is_some());
    }

    #[test]
    fn filters_match_as_kafka_describes() {
        let literal = binding(ResourceType::Topic, PatternType::Literal, "orders", Operation::Read);
        let wildcard = binding(ResourceType::Topic, PatternType::Literal, "*", Operation::Read);
        let prefixed = binding(ResourceType::Topic, PatternType::Prefixed, "ord", Operation::Read);
        let group = binding(ResourceType::Group, PatternType::Literal, "orders", Operation::Read);
        let mut f = AclBindingFilter::any();
        assert!([&literal, &wildcard, &prefixed, &group].iter().all(|b| f.matches(b)));
        f.resource_type = ResourceType::Topic;
        f.name = Some("orders".into());
        f.pattern_type = PatternType::Match;
        assert!(f.matches(&literal) && f.matches(&wildcard) && f.matches(&prefixed) && !f.matches(&group));
        f.pattern_type = PatternType::Literal;
        assert!(f.matches(&literal) && !f.matches(&wildcard) && !f.matches(&prefixed));
        f.pattern_type = PatternType::Any;
        assert!(f.matches(&literal) && !f.matches(&wildcard) && !f.matches(&prefixed));
        f.pattern_type = PatternType::Prefixed;
        f.name = None;
        assert!(!f.matches(&literal) && f.matches(&prefixed));
        f.principal = Some("User:bob".into());
        assert!(!f.matches(&prefixed));
    }
}
