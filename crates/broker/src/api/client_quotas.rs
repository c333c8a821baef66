//! DescribeClientQuotas and AlterClientQuotas (KIP-546): the quotas of users and client ids
//! (`crate::quota`), read from the metadata cache and written to their config znodes in keeper,
//! where `kafka-configs.sh --entity-type users|clients` and ZooKeeper-era Kafka keep them.
//!
//! Kafka's rules: entity types `user` and `client-id` (alone or together; a user's client ids
//! under the user), a null name for the default entity; keys `producer_byte_rate` and
//! `consumer_byte_rate` (whole, positive), `request_percentage` and `controller_mutation_rate`
//! (positive); an entity named twice, a type twice, an unknown key set, or a bad value is
//! INVALID_REQUEST for that entity (removing an unknown key is no error), and the other entities
//! still apply; describing an unknown entity type is UNSUPPORTED_VERSION, as in Kafka. `ip`
//! entities (connection-rate quotas) are not served: INVALID_REQUEST says so. Describing needs
//! DESCRIBE_CONFIGS on the cluster, altering ALTER_CONFIGS (CLUSTER_AUTHORIZATION_FAILED).
//! Describe filters: per type, an exact name (match type 0), the default (1) or any (2); with
//! `strict`, only entities of exactly the filtered types.

use std::collections::{BTreeMap, BTreeSet};

use sluice_protocol::messages::{
    AlterClientQuotasEntry, AlterClientQuotasRequest, AlterClientQuotasResponse, AlterClientQuotasResponseEntry,
    ClientQuotaEntityData, DescribeClientQuotasEntry, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
    DescribeClientQuotasValue,
};

use super::RequestContext;
use crate::acl::Operation;
use crate::cluster::link::KeeperLink;
use crate::error::ErrorCode;
use crate::quota::{CLIENT_QUOTA_KEYS, CONSUMER_BYTE_RATE, EntityName, PRODUCER_BYTE_RATE, QuotaEntity};
use crate::topic_admin;

/// Kafka's entity types.
const USER: &str = "user";
const CLIENT_ID: &str = "client-id";
const IP: &str = "ip";

/// DescribeClientQuotas' match types.
const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_ANY: i8 = 2;

type Refusal = (ErrorCode, String);

fn invalid(message: impl Into<String>) -> Refusal {
    (ErrorCode::InvalidRequest, message.into())
}

/// The entity's parts on the wire: the user first, then the client id.
fn wire_entity(entity: &QuotaEntity) -> Vec<ClientQuotaEntityData> {
    let mut out = Vec::new();
    if let Some(user) = &entity.user {
        out.push(ClientQuotaEntityData { entity_type: USER.into(), entity_name: user.wire() });
    }
    if let Some(client_id) = &entity.client_id {
        out.push(ClientQuotaEntityData { entity_type: CLIENT_ID.into(), entity_name: client_id.wire() });
    }
    out
}

fn entity_name(name: &Option<String>) -> EntityName {
    match name {
        None => EntityName::Default,
        Some(n) => EntityName::Named(n.clone()),
    }
}

pub fn describe(
    ctx: RequestContext<'_>,
    link: &KeeperLink,
    request: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let refuse = |(code, message): Refusal| DescribeClientQuotasResponse {
        throttle_time_ms: 0,
        error_code: code.code(),
        error_message: Some(message),
        entries: None,
    };
    if !ctx.authorize_cluster(Operation::DescribeConfigs) {
        return refuse((ErrorCode::ClusterAuthorizationFailed, "DESCRIBE_CONFIGS on the cluster is required".into()));
    }
    // Per type, the filter: None for any name, Some(name) for one (the default included).
    let mut filters: BTreeMap<&str, Option<EntityName>> = BTreeMap::new();
    for c in &request.components {
        let kind = match c.entity_type.as_str() {
            USER => USER,
            CLIENT_ID => CLIENT_ID,
            IP => return refuse(invalid("ip quotas are not served by this broker")),
            "" => return refuse(invalid("an entity type must not be empty")),
            // Kafka's answer to an entity type it does not know.
            other => {
                return refuse((ErrorCode::UnsupportedVersion, format!("unknown quota entity type {other:?}")));
            }
        };
        let filter = match (c.match_type, &c.r#match) {
            (MATCH_EXACT, Some(name)) => Some(EntityName::Named(name.clone())),
            (MATCH_EXACT, None) => return refuse(invalid(format!("an exact match of {kind} needs a name"))),
            (MATCH_DEFAULT, None) => Some(EntityName::Default),
            (MATCH_ANY, None) => None,
            (MATCH_DEFAULT | MATCH_ANY, Some(_)) => {
                return refuse(invalid(format!("match type {} of {kind} takes no name", c.match_type)));
            }
            (other, _) => return refuse(invalid(format!("unknown match type {other}"))),
        };
        if filters.insert(kind, filter).is_some() {
            return refuse(invalid(format!("entity type {kind} filtered twice")));
        }
    }
    let matches = |part: &Option<EntityName>, kind: &str| match (filters.get(kind), part) {
        (None, None) => true,
        (None, Some(_)) => !request.strict,
        (Some(_), None) => false,
        (Some(None), Some(_)) => true,
        (Some(Some(want)), Some(have)) => want == have,
    };
    let entries = link.cache.read(|v| {
        v.quotas
            .iter()
            .filter(|(e, _)| matches(&e.user, USER) && matches(&e.client_id, CLIENT_ID))
            .map(|(e, values)| DescribeClientQuotasEntry {
                entity: wire_entity(e),
                values: values.iter().map(|(k, v)| DescribeClientQuotasValue { key: k.clone(), value: *v }).collect(),
            })
            .collect()
    });
    DescribeClientQuotasResponse { throttle_time_ms: 0, error_code: 0, error_message: None, entries: Some(entries) }
}

pub async fn alter(
    ctx: RequestContext<'_>,
    link: &KeeperLink,
    request: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let allowed = ctx.authorize_cluster(Operation::AlterConfigs);
    let mut entries = Vec::with_capacity(request.entries.len());
    let mut seen = BTreeSet::new();
    for entry in &request.entries {
        let outcome = if !allowed {
            Err((ErrorCode::ClusterAuthorizationFailed, "ALTER_CONFIGS on the cluster is required".to_string()))
        } else {
            match validate(entry) {
                Ok((entity, _)) if !seen.insert(entity.clone()) => Err(invalid("the entity is named twice")),
                Ok(_) if request.validate_only => Ok(()),
                Ok((entity, ops)) => match write(link, &entity, &ops).await {
                    Ok(quotas) => {
                        await_cache(link, &entity, &quotas).await;
                        Ok(())
                    }
                    Err(refusal) => Err(refusal),
                },
                Err(refusal) => Err(refusal),
            }
        };
        let (error_code, error_message) = match outcome {
            Ok(()) => (0, None),
            Err((code, message)) => (code.code(), Some(message)),
        };
        entries.push(AlterClientQuotasResponseEntry { error_code, error_message, entity: entry.entity.clone() });
    }
    AlterClientQuotasResponse { throttle_time_ms: 0, entries }
}

/// A key's new value, or its removal.
type Ops = Vec<(String, Option<String>)>;

/// The entity an entry names and its changes as stored (whole numbers for the byte rates).
fn validate(entry: &AlterClientQuotasEntry) -> Result<(QuotaEntity, Ops), Refusal> {
    let mut entity = QuotaEntity { user: None, client_id: None };
    for part in &entry.entity {
        let slot = match part.entity_type.as_str() {
            USER => &mut entity.user,
            CLIENT_ID => &mut entity.client_id,
            IP => return Err(invalid("ip quotas are not served by this broker")),
            other => return Err(invalid(format!("unknown quota entity type {other:?}"))),
        };
        if slot.replace(entity_name(&part.entity_name)).is_some() {
            return Err(invalid(format!("entity type {} named twice", part.entity_type)));
        }
        if part.entity_name.as_deref() == Some("") {
            return Err(invalid(format!("an empty {} name", part.entity_type)));
        }
    }
    if entity.user.is_none() && entity.client_id.is_none() {
        return Err(invalid("an entity needs a user or a client id"));
    }
    let mut ops = Vec::with_capacity(entry.ops.len());
    let mut keys = BTreeSet::new();
    for op in &entry.ops {
        if !keys.insert(op.key.as_str()) {
            return Err(invalid(format!("{} changed twice", op.key)));
        }
        // Kafka checks keys only when setting them: removing one that is not there is no error.
        if op.remove {
            ops.push((op.key.clone(), None));
            continue;
        }
        if !CLIENT_QUOTA_KEYS.contains(&op.key.as_str()) {
            return Err(invalid(format!("{:?} is not a quota of users or client ids", op.key)));
        }
        if !op.value.is_finite() || op.value <= 0.0 {
            return Err(invalid(format!("{} must be positive, not {}", op.key, op.value)));
        }
        let whole = [PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE].contains(&op.key.as_str());
        let stored = if whole {
            if op.value.fract() != 0.0 || op.value > i64::MAX as f64 {
                return Err(invalid(format!("{} must be a whole number, not {}", op.key, op.value)));
            }
            (op.value as i64).to_string()
        } else {
            op.value.to_string()
        };
        ops.push((op.key.clone(), Some(stored)));
    }
    Ok((entity, ops))
}

/// Applies `ops` to the entity's config znode in one compare-and-set write (its other entries,
/// a user's SCRAM credentials, kept), retried while another writer changes it in between.
/// How long an answer waits for this broker's cache to show what it wrote, so a describe
/// right after an alter sees the change.
const CACHE_WAIT_MS: u64 = 5_000;

/// Waits (bounded) until the cache holds `quotas` for `entity`.
async fn await_cache(link: &KeeperLink, entity: &QuotaEntity, quotas: &BTreeMap<String, f64>) {
    let mut changes = link.cache.subscribe();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(CACHE_WAIT_MS);
    loop {
        changes.borrow_and_update();
        let shown = link.cache.read(|v| match v.quotas.get(entity) {
            Some(q) => q == quotas,
            None => quotas.is_empty(),
        });
        if shown || tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
            return;
        }
    }
}

/// Returns the entity's quotas as written (its other entries, a user's SCRAM credentials, kept).
async fn write(link: &KeeperLink, entity: &QuotaEntity, ops: &Ops) -> Result<BTreeMap<String, f64>, Refusal> {
    let path = link.paths.quota_config(entity);
    let mut parents = vec![link.paths.config_root(), link.paths.users(), link.paths.clients()];
    if entity.user.is_some() && entity.client_id.is_some() {
        let user_only = QuotaEntity { user: entity.user.clone(), client_id: None };
        let user_path = link.paths.quota_config(&user_only);
        parents.push(user_path.clone());
        parents.push(format!("{user_path}/clients"));
    }
    let config = topic_admin::update_config_znode(link, &path, &parents, |config| {
        for (key, value) in ops {
            match value {
                Some(v) => config.insert(key.clone(), v.clone()),
                None => config.remove(key),
            };
        }
        Ok(())
    })
    .await?;
    Ok(config
        .iter()
        .filter(|(k, _)| CLIENT_QUOTA_KEYS.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.clone(), v.parse::<f64>().ok()?)))
        .collect())
}
