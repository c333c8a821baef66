//! ACL entries in keeper, where ZooKeeper-era Kafka keeps them, so its tools and a Kafka
//! operator's habits read a Sluice cluster the same way:
//!
//! ```text
//! /kafka-acl/<ResourceType>/<name>                     literal patterns
//! /kafka-acl-extended/prefixed/<ResourceType>/<name>   prefixed patterns
//!      {"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read","host":"*"}]}
//! /kafka-acl-changes/acl_changes_<seq>                 "TOPIC:orders"        (a literal pattern changed)
//! /kafka-acl-extended-changes/acl_changes_<seq>        {"version":1,"resourceType":"TOPIC","name":"app-","patternType":"PREFIXED"}
//! ```
//!
//! Writers change one pattern's znode by compare-and-set (re-read and retried when another
//! writer won), delete it when its last entry goes, and announce the change with a sequential
//! notification, as Kafka does; notifications older than
//! [`ACL_CHANGE_NOTIFICATION_EXPIRY_MS`] are removed by the next writer. Brokers themselves
//! follow the pattern znodes with persistent recursive watches (the metadata link), so every
//! change is seen whoever wrote it, notification or not.

use std::collections::BTreeSet;

use serde::Serialize;
use sluice_keeper::{CreateMode, ZkClient, ZkError};

use super::authorizer::AclSnapshot;
use super::{AccessControlEntry, AclJson, AclZnode, PatternType, ResourcePattern, ResourceType};
use crate::cluster::link::{KeeperLink, ensure_node};
use crate::cluster::znodes::Paths;

/// How long a change notification is kept (Kafka's 15 minutes).
pub const ACL_CHANGE_NOTIFICATION_EXPIRY_MS: i64 = 15 * 60 * 1000;

/// Attempts at one pattern's read-modify-write before a concurrent writer wins (each retry
/// follows a change by someone else).
const ACL_WRITE_ATTEMPTS: usize = 10;

/// The entries of one pattern and its znode's version; `None` when there is no znode.
/// Entries this broker cannot read are skipped and logged.
pub async fn read_pattern(
    client: &ZkClient,
    paths: &Paths,
    pattern: &ResourcePattern,
) -> Result<Option<(BTreeSet<AccessControlEntry>, i32)>, ZkError> {
    let path = paths.acl(pattern);
    let (data, stat) = match client.get_data(&path).await {
        Ok(found) => found,
        Err(ZkError::NoNode) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some((parse_entries(&path, &data), stat.version)))
}

fn parse_entries(path: &str, data: &[u8]) -> BTreeSet<AccessControlEntry> {
    if data.is_empty() {
        return BTreeSet::new();
    }
    let Ok(znode) = serde_json::from_slice::<AclZnode>(data) else {
        tracing::warn!(%path, "ACL znode is not Kafka's JSON; its entries are ignored");
        return BTreeSet::new();
    };
    znode
        .acls
        .iter()
        .filter_map(|a| {
            let entry = a.to_entry();
            if entry.is_none() {
                tracing::warn!(%path, entry = ?a, "ACL entry with an unknown operation or permission is ignored");
            }
            entry
        })
        .collect()
}

/// Every pattern's entries.
pub async fn read_all(client: &ZkClient, paths: &Paths) -> Result<AclSnapshot, ZkError> {
    let mut snapshot = AclSnapshot::default();
    for pattern_type in [PatternType::Literal, PatternType::Prefixed] {
        let types = match client.get_children(&paths.acl_root(pattern_type)).await {
            Ok(t) => t,
            Err(ZkError::NoNode) => continue,
            Err(e) => return Err(e),
        };
        for type_name in types {
            let Some(resource_type) = ResourceType::ALL.iter().copied().find(|t| t.name() == type_name) else {
                continue;
            };
            let names = match client.get_children(&paths.acl_type(pattern_type, resource_type)).await {
                Ok(n) => n,
                Err(ZkError::NoNode) => continue,
                Err(e) => return Err(e),
            };
            for name in names {
                let pattern = ResourcePattern { resource_type, pattern_type, name };
                if let Some((entries, _)) = read_pattern(client, paths, &pattern).await?
                    && !entries.is_empty()
                {
                    snapshot.by_pattern.insert(pattern, entries);
                }
            }
        }
    }
    Ok(snapshot)
}

/// Why a pattern cannot be stored as a znode name (INVALID_REQUEST), if it cannot.
pub fn unstorable(pattern: &ResourcePattern) -> Option<String> {
    let name = &pattern.name;
    if name.contains('/') || name == "." || name == ".." || name.contains('\0') {
        return Some(format!("resource name {name:?} cannot be stored: it may not contain '/' or be '.' or '..'"));
    }
    None
}

/// Applies `change` to one pattern's entries in keeper (compare-and-set, retried), deleting
/// the znode when none remain and announcing the change. Returns the entries written.
pub async fn modify(
    link: &KeeperLink,
    pattern: &ResourcePattern,
    change: impl Fn(&mut BTreeSet<AccessControlEntry>),
) -> Result<BTreeSet<AccessControlEntry>, ZkError> {
    let paths = &link.paths;
    let path = paths.acl(pattern);
    for _ in 0..ACL_WRITE_ATTEMPTS {
        let current = link.retrying(|client| async move { read_pattern(&client, paths, pattern).await }).await?;
        let (mut entries, version) = match current {
            Some((entries, version)) => (entries, Some(version)),
            None => (BTreeSet::new(), None),
        };
        let before = entries.clone();
        change(&mut entries);
        if entries == before {
            return Ok(entries);
        }
        let body =
            serde_json::to_vec(&AclZnode { version: 1, acls: entries.iter().map(AclJson::from_entry).collect() })
                .expect("serializing a small struct");
        let written = link
            .retrying(|client| {
                let (path, body, entries) = (&path, &body, &entries);
                async move {
                    match (version, entries.is_empty()) {
                        (Some(v), true) => client.delete(path, v).await,
                        (Some(v), false) => client.set_data(path, body, v).await.map(drop),
                        (None, _) => {
                            ensure_node(&client, &paths.acl_root(pattern.pattern_type), b"").await?;
                            ensure_node(&client, &paths.acl_type(pattern.pattern_type, pattern.resource_type), b"")
                                .await?;
                            client.create(path, body, CreateMode::Persistent).await.map(drop)
                        }
                    }
                }
            })
            .await;
        match written {
            Ok(()) => {
                if let Err(e) = announce(link, pattern).await {
                    tracing::warn!(error = %e, ?pattern, "ACL change notification not written (brokers follow the ACL znodes themselves)");
                }
                return Ok(entries);
            }
            Err(ZkError::BadVersion | ZkError::NodeExists | ZkError::NoNode) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ZkError::OperationTimeout)
}

#[derive(Serialize)]
struct ExtendedChange<'a> {
    version: i32,
    #[serde(rename = "resourceType")]
    resource_type: &'a str,
    name: &'a str,
    #[serde(rename = "patternType")]
    pattern_type: &'a str,
}

/// Writes the change notification for `pattern` and removes expired ones.
async fn announce(link: &KeeperLink, pattern: &ResourcePattern) -> Result<(), ZkError> {
    let root = link.paths.acl_changes(pattern.pattern_type);
    let data = match pattern.pattern_type {
        PatternType::Prefixed => serde_json::to_vec(&ExtendedChange {
            version: 1,
            resource_type: &pattern.resource_type.enum_name(),
            name: &pattern.name,
            pattern_type: "PREFIXED",
        })
        .expect("serializing a small struct"),
        _ => format!("{}:{}", pattern.resource_type.enum_name(), pattern.name).into_bytes(),
    };
    let client = link.client()?;
    ensure_node(&client, &root, b"").await?;
    client.create(&format!("{root}/acl_changes_"), &data, CreateMode::PersistentSequential).await?;
    let mut children = client.get_children(&root).await?;
    children.sort();
    // Keeper stamps ctime with its wall clock; compare with ours.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let expired_before = now_ms - ACL_CHANGE_NOTIFICATION_EXPIRY_MS;
    for child in children {
        let path = format!("{root}/{child}");
        match client.exists(&path).await? {
            Some(stat) if stat.ctime < expired_before => match client.delete(&path, -1).await {
                Ok(()) | Err(ZkError::NoNode) => {}
                Err(e) => return Err(e),
            },
            // Sequence order is creation order: the rest are younger.
            Some(_) => break,
            None => {}
        }
    }
    Ok(())
}
