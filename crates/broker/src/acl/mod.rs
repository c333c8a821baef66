//! Access control lists in the broker. The model (resource types, patterns, operations,
//! bindings and filters) is `sluice_protocol::acl`, re-exported here; this module adds:
//!
//! - [`authorizer`]: the decision (super users, deny before allow, implied operations,
//!   `allow.everyone.if.no.acl.found`) over a snapshot of every entry;
//! - [`store`]: the entries in keeper at Kafka's paths (`/kafka-acl/<Type>/<name>`,
//!   `/kafka-acl-extended/prefixed/<Type>/<name>`) and the change notifications Kafka writes.

pub mod authorizer;
pub mod store;

use serde::{Deserialize, Serialize};
pub use sluice_protocol::acl::*;

/// One entry as Kafka writes it in a `/kafka-acl*` znode.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AclJson {
    pub principal: String,
    #[serde(rename = "permissionType")]
    pub permission_type: String,
    pub operation: String,
    pub host: String,
}

/// A `/kafka-acl*` znode: `{"version":1,"acls":[...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct AclZnode {
    pub version: i32,
    pub acls: Vec<AclJson>,
}

impl AclJson {
    pub fn from_entry(e: &AccessControlEntry) -> AclJson {
        AclJson {
            principal: e.principal.clone(),
            permission_type: e.permission.name().to_string(),
            operation: e.operation.name().to_string(),
            host: e.host.clone(),
        }
    }

    /// The entry, or `None` for one this broker cannot read (it is then ignored, and logged by
    /// the caller).
    pub fn to_entry(&self) -> Option<AccessControlEntry> {
        let permission = Permission::from_name(&self.permission_type)?;
        let operation = Operation::from_name(&self.operation)?;
        if !matches!(permission, Permission::Allow | Permission::Deny)
            || matches!(operation, Operation::Unknown | Operation::Any)
        {
            return None;
        }
        Some(AccessControlEntry { principal: self.principal.clone(), host: self.host.clone(), operation, permission })
    }
}
