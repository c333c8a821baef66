//! Authorized operations (KIP-430): Metadata, DescribeCluster and DescribeGroups report, when
//! asked, the operations the caller may perform on each resource, as a bit field with bit `n`
//! set for Kafka's `AclOperation` code `n`. Without an authorizer every principal may do
//! everything a resource type supports (Kafka's `AclEntry.supportedOperations`); not asked,
//! the field is `i32::MIN`.

/// Kafka's `AclOperation` codes.
const READ: u32 = 3;
const WRITE: u32 = 4;
const CREATE: u32 = 5;
const DELETE: u32 = 6;
const ALTER: u32 = 7;
const DESCRIBE: u32 = 8;
const CLUSTER_ACTION: u32 = 9;
const DESCRIBE_CONFIGS: u32 = 10;
const ALTER_CONFIGS: u32 = 11;
const IDEMPOTENT_WRITE: u32 = 12;

/// What the field holds when the client did not ask.
pub const NOT_REQUESTED: i32 = i32::MIN;

const fn bits(operations: &[u32]) -> i32 {
    let mut out = 0i32;
    let mut i = 0;
    while i < operations.len() {
        out |= 1 << operations[i];
        i += 1;
    }
    out
}

/// A topic: read, write, create, delete, alter, describe, describe and alter configs.
pub const TOPIC: i32 = bits(&[READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS]);
/// A consumer group: read, delete, describe.
pub const GROUP: i32 = bits(&[READ, DELETE, DESCRIBE]);
/// The cluster: create, alter, describe, cluster action, describe and alter configs,
/// idempotent write.
pub const CLUSTER: i32 =
    bits(&[CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE]);

const _: () = assert!(TOPIC == 3576 && GROUP == 328 && CLUSTER == 8096, "Kafka's bit fields without an authorizer");

/// `operations` if the client asked for them, else [`NOT_REQUESTED`].
pub fn reported(requested: bool, operations: i32) -> i32 {
    if requested { operations } else { NOT_REQUESTED }
}
