//! DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554): the SCRAM credentials
//! of users, kept in keeper at `/config/users/<user>` as Kafka keeps them (one entry per
//! mechanism, `salt=...,stored_key=...,server_key=...,iterations=...`). A SASL listener reads
//! them at each authentication, so a change applies to the next login. Errors as Kafka's:
//! DUPLICATE_RESOURCE for a user named twice, RESOURCE_NOT_FOUND for a credential that does not
//! exist, UNSUPPORTED_SASL_MECHANISM for a mechanism other than SCRAM-SHA-256/512, and
//! UNACCEPTABLE_CREDENTIAL for an empty name, salt or password or iterations outside
//! 4096..=16384.

use std::collections::{BTreeMap, BTreeSet};

use sluice_keeper::ZkError;
use sluice_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, AlterUserScramCredentialsResult,
    CredentialInfo, DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
    DescribeUserScramCredentialsResult,
};

use super::RequestContext;
use crate::acl::Operation;
use crate::cluster::znodes::TopicConfigZnode;
use crate::dynamic_config::ConfigHandle;
use crate::error::ErrorCode;
use crate::sasl::scram::{MAX_ITERATIONS, MIN_ITERATIONS, ScramCredential, ScramMechanism};
use crate::sasl::unsanitize_user;
use crate::topic_admin::{self, AdminResult, keeper_error};

/// DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED at the top and for each user.
pub async fn describe(
    ctx: RequestContext<'_>,
    config: ConfigHandle<'_>,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !ctx.authorize_cluster(Operation::Describe) {
        let code = ErrorCode::ClusterAuthorizationFailed;
        let message = "DESCRIBE on the cluster is needed to describe credentials";
        return DescribeUserScramCredentialsResponse {
            error_code: code.code(),
            error_message: Some(message.into()),
            results: request
                .users
                .unwrap_or_default()
                .into_iter()
                .map(|u| DescribeUserScramCredentialsResult {
                    user: u.name,
                    error_code: code.code(),
                    error_message: Some(message.into()),
                    credential_infos: Vec::new(),
                })
                .collect(),
            ..Default::default()
        };
    }
    let link = &config.admin.cluster.link;
    let named: Vec<String> = match request.users {
        Some(users) if !users.is_empty() => users.into_iter().map(|u| u.name).collect(),
        // Null or empty: every user with a credential.
        _ => match link
            .retrying(|client| {
                let path = link.paths.users();
                async move {
                    match client.get_children(&path).await {
                        Err(ZkError::NoNode) => Ok(Vec::new()),
                        other => other,
                    }
                }
            })
            .await
        {
            Ok(children) => children.iter().filter_map(|c| unsanitize_user(c)).collect(),
            Err(e) => {
                let (code, message) = keeper_error(e);
                return DescribeUserScramCredentialsResponse {
                    error_code: code.code(),
                    error_message: Some(message),
                    ..Default::default()
                };
            }
        },
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for name in &named {
        *counts.entry(name).or_default() += 1;
    }
    let mut results = Vec::with_capacity(named.len());
    let mut done = BTreeSet::new();
    for name in &named {
        if !done.insert(name.as_str()) {
            continue;
        }
        let failed = |code: ErrorCode, message: String| DescribeUserScramCredentialsResult {
            user: name.clone(),
            error_code: code.code(),
            error_message: Some(message),
            credential_infos: Vec::new(),
        };
        if counts[name.as_str()] > 1 {
            results.push(failed(
                ErrorCode::DuplicateResource,
                "Cannot describe SCRAM credentials for the same user twice in a single request".into(),
            ));
            continue;
        }
        results.push(match read_user(config, name).await {
            Ok(credentials) if !credentials.is_empty() => DescribeUserScramCredentialsResult {
                user: name.clone(),
                credential_infos: credentials
                    .iter()
                    .map(|(m, c)| CredentialInfo { mechanism: m.kafka_type(), iterations: c.iterations as i32 })
                    .collect(),
                ..Default::default()
            },
            Ok(_) => {
                failed(ErrorCode::ResourceNotFound, "Attempt to describe a user credential that does not exist".into())
            }
            Err((code, message)) => failed(code, message),
        });
    }
    DescribeUserScramCredentialsResponse { results, ..Default::default() }
}

/// One requested change to a user's credentials.
#[derive(Debug)]
enum Change {
    Delete(ScramMechanism),
    Upsert(ScramMechanism, ScramCredential),
}

/// ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED for each user.
pub async fn alter(
    ctx: RequestContext<'_>,
    config: ConfigHandle<'_>,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    if !ctx.authorize_cluster(Operation::Alter) {
        let users: BTreeSet<String> = request
            .deletions
            .iter()
            .map(|d| d.name.clone())
            .chain(request.upsertions.iter().map(|u| u.name.clone()))
            .collect();
        return AlterUserScramCredentialsResponse {
            results: users
                .into_iter()
                .map(|user| AlterUserScramCredentialsResult {
                    user,
                    error_code: ErrorCode::ClusterAuthorizationFailed.code(),
                    error_message: Some("ALTER on the cluster is needed to change credentials".into()),
                })
                .collect(),
            ..Default::default()
        };
    }
    // Every user named, in order; each gets one result covering all its changes.
    let mut users: Vec<String> = Vec::new();
    let mut changes: BTreeMap<String, Result<Vec<Change>, (ErrorCode, String)>> = BTreeMap::new();
    let mut seen: BTreeSet<(String, i8)> = BTreeSet::new();
    let mut add = |user: &str, mechanism: i8, change: Result<Change, (ErrorCode, String)>| {
        if !changes.contains_key(user) {
            users.push(user.to_string());
            changes.insert(user.to_string(), Ok(Vec::new()));
        }
        let entry = changes.get_mut(user).expect("inserted above");
        if !seen.insert((user.to_string(), mechanism)) {
            *entry = Err((
                ErrorCode::DuplicateResource,
                "A user credential cannot be altered twice in the same request".into(),
            ));
            return;
        }
        match (entry.as_mut(), change) {
            (Ok(list), Ok(change)) => list.push(change),
            (Ok(_), Err(e)) => *entry = Err(e),
            (Err(_), _) => {}
        }
    };
    for d in &request.deletions {
        add(&d.name, d.mechanism, checked_user(&d.name).and_then(|()| mechanism(d.mechanism)).map(Change::Delete));
    }
    for u in &request.upsertions {
        let change = checked_user(&u.name).and_then(|()| mechanism(u.mechanism)).and_then(|m| {
            if u.iterations < MIN_ITERATIONS as i32 {
                return Err((
                    ErrorCode::UnacceptableCredential,
                    format!("Too few iterations: at least {MIN_ITERATIONS}"),
                ));
            }
            if u.iterations > MAX_ITERATIONS as i32 {
                return Err((
                    ErrorCode::UnacceptableCredential,
                    format!("Too many iterations: at most {MAX_ITERATIONS}"),
                ));
            }
            if u.salt.is_empty() || u.salted_password.is_empty() {
                return Err((ErrorCode::UnacceptableCredential, "Salt and salted password must not be empty".into()));
            }
            Ok(Change::Upsert(
                m,
                ScramCredential::from_salted_password(m, &u.salted_password, &u.salt, u.iterations as u32),
            ))
        });
        add(&u.name, u.mechanism, change);
    }
    let mut results = Vec::with_capacity(users.len());
    for user in users {
        let outcome = match changes.remove(&user).expect("every user has an entry") {
            Ok(list) => apply(config, &user, &list).await,
            Err(e) => Err(e),
        };
        let (error_code, error_message) = match outcome {
            Ok(()) => (ErrorCode::None.code(), None),
            Err((code, message)) => (code.code(), Some(message)),
        };
        results.push(AlterUserScramCredentialsResult { user, error_code, error_message });
    }
    AlterUserScramCredentialsResponse { throttle_time_ms: 0, results }
}

fn checked_user(name: &str) -> AdminResult<()> {
    if name.is_empty() { Err((ErrorCode::UnacceptableCredential, "Username must not be empty".into())) } else { Ok(()) }
}

fn mechanism(kafka_type: i8) -> AdminResult<ScramMechanism> {
    ScramMechanism::from_kafka_type(kafka_type)
        .ok_or_else(|| (ErrorCode::UnsupportedSaslMechanism, format!("Unknown SCRAM mechanism {kafka_type}")))
}

/// A user's credentials as stored (none without a znode).
async fn read_user(config: ConfigHandle<'_>, user: &str) -> AdminResult<BTreeMap<ScramMechanism, ScramCredential>> {
    let link = &config.admin.cluster.link;
    let path = link.paths.user_config(user);
    let read = link
        .retrying(|client| {
            let path = path.clone();
            async move {
                match client.get_data(&path).await {
                    Ok((data, _)) => Ok(Some(data)),
                    Err(ZkError::NoNode) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        })
        .await
        .map_err(keeper_error)?;
    let Some(data) = read else { return Ok(BTreeMap::new()) };
    let entries = serde_json::from_slice::<TopicConfigZnode>(&data).map(|z| z.config).unwrap_or_default();
    Ok(ScramMechanism::ALL
        .into_iter()
        .filter_map(|m| Some((m, ScramCredential::from_kafka_string(entries.get(m.name())?)?)))
        .collect())
}

/// Applies one user's changes in one write, retried (bounded) while another writer changes
/// the same znode in between (its other entries, the user's quotas, kept).
async fn apply(config: ConfigHandle<'_>, user: &str, changes: &[Change]) -> AdminResult<()> {
    let link = &config.admin.cluster.link;
    let path = link.paths.user_config(user);
    let parents = [link.paths.config_root(), link.paths.users()];
    topic_admin::update_config_znode(link, &path, &parents, |entries| {
        for change in changes {
            match change {
                Change::Delete(m) => {
                    let held = entries.get(m.name()).and_then(|v| ScramCredential::from_kafka_string(v)).is_some();
                    if !held {
                        return Err((
                            ErrorCode::ResourceNotFound,
                            "Attempt to delete a user credential that does not exist".into(),
                        ));
                    }
                    entries.remove(m.name());
                }
                Change::Upsert(m, credential) => {
                    entries.insert(m.name().to_string(), credential.to_kafka_string());
                }
            }
        }
        Ok(())
    })
    .await
    .map(|_| ())
}
