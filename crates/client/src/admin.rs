//! Admin operations: topics (create, list, describe, delete, add partitions), topic configs
//! (describe, alter with IncrementalAlterConfigs), the cluster, and offsets.

use std::time::Duration;

use sluice_protocol::acl::{
    AccessControlEntry, AclBinding, AclBindingFilter, Operation, PatternType, Permission, ResourcePattern, ResourceType,
};
use sluice_protocol::api::{Request, Response};
use sluice_protocol::messages::*;

use crate::client::{Client, ClusterMetadata, TopicInfo};
use crate::consumer::IsolationLevel;
use crate::error::{ClientError, Result};

/// Kafka's `ConfigResource.Type.TOPIC`.
/// How long ListOffsets is retried on retriable errors (a leader that moved, or has not yet
/// taken up a partition of a topic just created).
const LIST_OFFSETS_RETRY_MS: u64 = 10_000;
/// The pause before each retry.
const LIST_OFFSETS_BACKOFF_MS: u64 = 100;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// Kafka's `ConfigResource.Type.GROUP` (KIP-848).
const RESOURCE_GROUP: i8 = 32;

/// One config entry of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    /// Kafka's config source: 1 = set on the topic, 5 = default, ...
    pub source: i8,
    pub read_only: bool,
}

impl ConfigEntry {
    pub fn is_override(&self) -> bool {
        self.source == 1
    }
}

/// Whose configs: a topic's, one broker's, or the cluster-wide broker defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigTarget {
    Topic(String),
    Broker(i32),
    BrokerDefaults,
    /// A group's own configs (KIP-848).
    Group(String),
}

impl ConfigTarget {
    /// Kafka's `ConfigResource` type and name.
    fn resource(&self) -> (i8, String) {
        match self {
            ConfigTarget::Topic(name) => (RESOURCE_TOPIC, name.clone()),
            ConfigTarget::Broker(id) => (RESOURCE_BROKER, id.to_string()),
            ConfigTarget::BrokerDefaults => (RESOURCE_BROKER, String::new()),
            ConfigTarget::Group(name) => (RESOURCE_GROUP, name.clone()),
        }
    }
}

/// A partition reassignment in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    pub topic: String,
    pub partition: i32,
    /// Every replica now, old and new.
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

fn unexpected(what: &str) -> ClientError {
    ClientError::Invalid(format!("{what} answered with another response type"))
}

/// A user's SCRAM credential as the cluster describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredentialInfo {
    pub mechanism: sluice_protocol::scram::ScramMechanism,
    pub iterations: i32,
}

impl Client {
    /// Creates ACL bindings (KIP-11): one result per binding, in order.
    pub async fn create_acls(&self, bindings: &[AclBinding]) -> Result<Vec<Result<()>>> {
        let request = CreateAclsRequest {
            creations: bindings
                .iter()
                .map(|b| AclCreation {
                    resource_type: b.pattern.resource_type.code(),
                    resource_name: b.pattern.name.clone(),
                    resource_pattern_type: b.pattern.pattern_type.code(),
                    principal: b.entry.principal.clone(),
                    host: b.entry.host.clone(),
                    operation: b.entry.operation.code(),
                    permission_type: b.entry.permission.code(),
                })
                .collect(),
        };
        let Response::CreateAcls(r) = self.send_any(Request::CreateAcls(request)).await? else {
            return Err(unexpected("CreateAcls"));
        };
        Ok(r.results.into_iter().map(|c| ClientError::check(c.error_code, c.error_message)).collect())
    }

    /// The ACL bindings `filter` matches.
    pub async fn describe_acls(&self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>> {
        let request = DescribeAclsRequest {
            resource_type_filter: filter.resource_type.code(),
            resource_name_filter: filter.name.clone(),
            pattern_type_filter: filter.pattern_type.code(),
            principal_filter: filter.principal.clone(),
            host_filter: filter.host.clone(),
            operation: filter.operation.code(),
            permission_type: filter.permission.code(),
        };
        let Response::DescribeAcls(r) = self.send_any(Request::DescribeAcls(request)).await? else {
            return Err(unexpected("DescribeAcls"));
        };
        ClientError::check(r.error_code, r.error_message)?;
        Ok(r.resources
            .into_iter()
            .flat_map(|res| {
                let pattern = ResourcePattern {
                    resource_type: ResourceType::from_code(res.resource_type),
                    pattern_type: PatternType::from_code(res.pattern_type),
                    name: res.resource_name,
                };
                res.acls.into_iter().map(move |a| AclBinding {
                    pattern: pattern.clone(),
                    entry: AccessControlEntry {
                        principal: a.principal,
                        host: a.host,
                        operation: Operation::from_code(a.operation),
                        permission: Permission::from_code(a.permission_type),
                    },
                })
            })
            .collect())
    }

    /// Deletes the ACL bindings each filter matches: per filter, the bindings removed.
    pub async fn delete_acls(&self, filters: &[AclBindingFilter]) -> Result<Vec<Result<Vec<AclBinding>>>> {
        let request = DeleteAclsRequest {
            filters: filters
                .iter()
                .map(|f| DeleteAclsFilter {
                    resource_type_filter: f.resource_type.code(),
                    resource_name_filter: f.name.clone(),
                    pattern_type_filter: f.pattern_type.code(),
                    principal_filter: f.principal.clone(),
                    host_filter: f.host.clone(),
                    operation: f.operation.code(),
                    permission_type: f.permission.code(),
                })
                .collect(),
        };
        let Response::DeleteAcls(r) = self.send_any(Request::DeleteAcls(request)).await? else {
            return Err(unexpected("DeleteAcls"));
        };
        Ok(r.filter_results
            .into_iter()
            .map(|f| {
                ClientError::check(f.error_code, f.error_message)?;
                f.matching_acls
                    .into_iter()
                    .map(|m| {
                        ClientError::check(m.error_code, m.error_message)?;
                        Ok(AclBinding {
                            pattern: ResourcePattern {
                                resource_type: ResourceType::from_code(m.resource_type),
                                pattern_type: PatternType::from_code(m.pattern_type),
                                name: m.resource_name,
                            },
                            entry: AccessControlEntry {
                                principal: m.principal,
                                host: m.host,
                                operation: Operation::from_code(m.operation),
                                permission: Permission::from_code(m.permission_type),
                            },
                        })
                    })
                    .collect()
            })
            .collect())
    }

    /// The SCRAM credentials of `users` (every user with one, when empty): each user's
    /// mechanisms and iteration counts, or the error for that user (RESOURCE_NOT_FOUND when it
    /// has none).
    pub async fn describe_user_scram_credentials(
        &self,
        users: &[String],
    ) -> Result<Vec<(String, Result<Vec<ScramCredentialInfo>>)>> {
        let request = DescribeUserScramCredentialsRequest {
            users: (!users.is_empty()).then(|| users.iter().map(|u| UserName { name: u.clone() }).collect()),
        };
        let Response::DescribeUserScramCredentials(r) =
            self.send_any(Request::DescribeUserScramCredentials(request)).await?
        else {
            return Err(unexpected("DescribeUserScramCredentials"));
        };
        ClientError::check(r.error_code, r.error_message)?;
        Ok(r.results
            .into_iter()
            .map(|u| {
                let infos = ClientError::check(u.error_code, u.error_message).map(|()| {
                    u.credential_infos
                        .iter()
                        .filter_map(|c| {
                            Some(ScramCredentialInfo {
                                mechanism: sluice_protocol::scram::ScramMechanism::from_kafka_type(c.mechanism)?,
                                iterations: c.iterations,
                            })
                        })
                        .collect()
                });
                (u.user, infos)
            })
            .collect())
    }

    /// Sets `user`'s password for `mechanism`: the salt is drawn and the password salted here,
    /// so only the salted password travels (KIP-554).
    pub async fn set_user_scram_password(
        &self,
        user: &str,
        mechanism: sluice_protocol::scram::ScramMechanism,
        password: &str,
        iterations: u32,
    ) -> Result<()> {
        let salt = sluice_protocol::scram::random_salt()
            .map_err(|e| ClientError::Invalid(format!("no randomness for a salt: {e}")))?;
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        let request = AlterUserScramCredentialsRequest {
            deletions: Vec::new(),
            upsertions: vec![ScramCredentialUpsertion {
                name: user.to_string(),
                mechanism: mechanism.kafka_type(),
                iterations: iterations.min(i32::MAX as u32) as i32,
                salt: salt.into(),
                salted_password: salted.into(),
            }],
        };
        self.alter_user_scram_credentials(request).await
    }

    /// Removes `user`'s credential for `mechanism`.
    pub async fn remove_user_scram_credential(
        &self,
        user: &str,
        mechanism: sluice_protocol::scram::ScramMechanism,
    ) -> Result<()> {
        let request = AlterUserScramCredentialsRequest {
            deletions: vec![ScramCredentialDeletion { name: user.to_string(), mechanism: mechanism.kafka_type() }],
            upsertions: Vec::new(),
        };
        self.alter_user_scram_credentials(request).await
    }

    async fn alter_user_scram_credentials(&self, request: AlterUserScramCredentialsRequest) -> Result<()> {
        let Response::AlterUserScramCredentials(r) = self.send_any(Request::AlterUserScramCredentials(request)).await?
        else {
            return Err(unexpected("AlterUserScramCredentials"));
        };
        let result = r.results.into_iter().next().ok_or_else(|| unexpected("AlterUserScramCredentials"))?;
        ClientError::check(result.error_code, result.error_message)
    }

    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
    ) -> Result<()> {
        let request = CreateTopicsRequest {
            topics: vec![CreateTopicsRequestTopic {
                name: name.to_string(),
                num_partitions: partitions,
                replication_factor,
                assignments: Vec::new(),
                configs: configs
                    .iter()
                    .map(|(k, v)| CreateTopicsRequestConfig { name: k.clone(), value: Some(v.clone()) })
                    .collect(),
            }],
            timeout_ms: self.config().request_timeout.as_millis() as i32,
            validate_only: false,
        };
        let Response::CreateTopics(r) = self.send_any(Request::CreateTopics(request)).await? else {
            return Err(unexpected("CreateTopics"));
        };
        let t = r.topics.into_iter().next().ok_or_else(|| unexpected("CreateTopics"))?;
        ClientError::check(t.error_code, t.error_message)
    }

    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        // By name in both layouts: `topic_names` up to v5, `topics` from v6.
        let request = DeleteTopicsRequest {
            topics: vec![DeleteTopicsRequestTopic { name: Some(name.to_string()), ..Default::default() }],
            topic_names: vec![name.to_string()],
            timeout_ms: self.config().request_timeout.as_millis() as i32,
        };
        let Response::DeleteTopics(r) = self.send_any(Request::DeleteTopics(request)).await? else {
            return Err(unexpected("DeleteTopics"));
        };
        let t = r.responses.into_iter().next().ok_or_else(|| unexpected("DeleteTopics"))?;
        ClientError::check(t.error_code, t.error_message)
    }

    pub async fn add_partitions(&self, name: &str, total: i32) -> Result<()> {
        let request = CreatePartitionsRequest {
            topics: vec![CreatePartitionsRequestTopic { name: name.to_string(), count: total, assignments: None }],
            timeout_ms: self.config().request_timeout.as_millis() as i32,
            validate_only: false,
        };
        let Response::CreatePartitions(r) = self.send_any(Request::CreatePartitions(request)).await? else {
            return Err(unexpected("CreatePartitions"));
        };
        let t = r.results.into_iter().next().ok_or_else(|| unexpected("CreatePartitions"))?;
        ClientError::check(t.error_code, t.error_message)
    }

    /// Starts moving partitions of `topic` to new replicas (`Some`), or cancels a move in
    /// progress (`None`); returns each partition's outcome.
    pub async fn reassign_partitions(
        &self,
        topic: &str,
        moves: &[(i32, Option<Vec<i32>>)],
    ) -> Result<Vec<(i32, Result<()>)>> {
        let request = AlterPartitionReassignmentsRequest {
            timeout_ms: self.config().request_timeout.as_millis() as i32,
            allow_replication_factor_change: true,
            topics: vec![ReassignableTopic {
                name: topic.to_string(),
                partitions: moves
                    .iter()
                    .map(|(p, r)| ReassignablePartition { partition_index: *p, replicas: r.clone() })
                    .collect(),
            }],
        };
        let Response::AlterPartitionReassignments(r) =
            self.send_any(Request::AlterPartitionReassignments(request)).await?
        else {
            return Err(unexpected("AlterPartitionReassignments"));
        };
        ClientError::check(r.error_code, r.error_message)?;
        Ok(r.responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .map(|p| (p.partition_index, ClientError::check(p.error_code, p.error_message)))
            .collect())
    }

    /// Leader elections (ElectLeaders, KIP-460) for `partitions` (`None`: every partition),
    /// preferred-replica or, with `unclean`, for partitions without a leader. Sent to the
    /// controller, found again (and asked again) while a broker answers NOT_CONTROLLER within
    /// the request timeout. The outcome per partition; "no election needed" is an error of its
    /// own (ELECTION_NOT_NEEDED) for the caller to treat as it likes.
    pub async fn elect_leaders(
        &self,
        partitions: Option<&[(String, i32)]>,
        unclean: bool,
    ) -> Result<Vec<(String, i32, Result<()>)>> {
        let mut topics: Vec<ElectLeadersRequestTopic> = Vec::new();
        for (topic, p) in partitions.unwrap_or_default() {
            match topics.iter_mut().find(|t| &t.topic == topic) {
                Some(t) => t.partitions.push(*p),
                None => topics.push(ElectLeadersRequestTopic { topic: topic.clone(), partitions: vec![*p] }),
            }
        }
        let timeout = self.config().request_timeout;
        let request = ElectLeadersRequest {
            election_type: i8::from(unclean),
            topic_partitions: partitions.map(|_| topics),
            timeout_ms: timeout.as_millis().min(i32::MAX as u128) as i32,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let md = self.refresh_metadata(Some(&[])).await?;
            let conn = self.broker_connection(md.controller_id).await?;
            let Response::ElectLeaders(r) = self.send_to(&conn, Request::ElectLeaders(request.clone())).await? else {
                return Err(unexpected("ElectLeaders"));
            };
            ClientError::check(r.error_code, None)?;
            let not_controller = r
                .replica_election_results
                .iter()
                .flat_map(|t| &t.partition_result)
                .any(|p| p.error_code == sluice_protocol::error_code::ErrorCode::NotController.code());
            if not_controller && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            return Ok(r
                .replica_election_results
                .into_iter()
                .flat_map(|t| {
                    let topic = t.topic;
                    t.partition_result.into_iter().map(move |p| {
                        (topic.clone(), p.partition_id, ClientError::check(p.error_code, p.error_message))
                    })
                })
                .collect());
        }
    }

    /// The reassignments in progress, for every topic or only `topic`.
    pub async fn list_reassignments(&self, topic: Option<&str>) -> Result<Vec<Reassignment>> {
        let topics = match topic {
            None => None,
            Some(name) => {
                let info = self.topic(name).await?;
                Some(vec![ListPartitionReassignmentsTopic {
                    name: name.to_string(),
                    partition_indexes: info.partitions.iter().map(|p| p.partition).collect(),
                }])
            }
        };
        let request =
            ListPartitionReassignmentsRequest { timeout_ms: self.config().request_timeout.as_millis() as i32, topics };
        let Response::ListPartitionReassignments(r) =
            self.send_any(Request::ListPartitionReassignments(request)).await?
        else {
            return Err(unexpected("ListPartitionReassignments"));
        };
        ClientError::check(r.error_code, r.error_message)?;
        Ok(r.topics
            .into_iter()
            .flat_map(|t| {
                let topic = t.name;
                t.partitions.into_iter().map(move |p| Reassignment {
                    topic: topic.clone(),
                    partition: p.partition_index,
                    replicas: p.replicas,
                    adding: p.adding_replicas,
                    removing: p.removing_replicas,
                })
            })
            .collect())
    }

    /// Every topic, with partitions.
    pub async fn list_topics(&self) -> Result<Vec<TopicInfo>> {
        let md: ClusterMetadata = self.refresh_metadata(None).await?;
        Ok(md.topics.into_values().collect())
    }

    /// Every config of topic `name` (see [`Client::describe_configs`]).
    pub async fn describe_topic_configs(&self, name: &str) -> Result<Vec<ConfigEntry>> {
        self.describe_configs(&ConfigTarget::Topic(name.to_string())).await
    }

    /// Every config of `target` with its value and source (DescribeConfigs, with synonyms). A
    /// broker's are asked of that broker, as Kafka requires.
    pub async fn describe_configs(&self, target: &ConfigTarget) -> Result<Vec<ConfigEntry>> {
        let (resource_type, resource_name) = target.resource();
        let request = Request::DescribeConfigs(DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource { resource_type, resource_name, configuration_keys: None }],
            include_synonyms: true,
            include_documentation: false,
        });
        let Response::DescribeConfigs(r) = self.send_for(target, request).await? else {
            return Err(unexpected("DescribeConfigs"));
        };
        let result = r.results.into_iter().next().ok_or_else(|| unexpected("DescribeConfigs"))?;
        ClientError::check(result.error_code, result.error_message)?;
        Ok(result
            .configs
            .into_iter()
            .map(|c| ConfigEntry { name: c.name, value: c.value, source: c.config_source, read_only: c.read_only })
            .collect())
    }

    /// Sets and deletes topic config overrides (IncrementalAlterConfigs).
    pub async fn alter_topic_configs(&self, name: &str, set: &[(String, String)], delete: &[String]) -> Result<()> {
        self.alter_configs(&ConfigTarget::Topic(name.to_string()), set, delete).await
    }

    /// Sets and deletes configs of `target` (IncrementalAlterConfigs): a topic's overrides, or a
    /// broker's (or every broker's) dynamic configs.
    pub async fn alter_configs(
        &self,
        target: &ConfigTarget,
        set: &[(String, String)],
        delete: &[String],
    ) -> Result<()> {
        let mut configs: Vec<IncrementalAlterableConfig> = set
            .iter()
            .map(|(k, v)| IncrementalAlterableConfig { name: k.clone(), config_operation: 0, value: Some(v.clone()) })
            .collect();
        configs.extend(delete.iter().map(|k| IncrementalAlterableConfig {
            name: k.clone(),
            config_operation: 1,
            value: None,
        }));
        let (resource_type, resource_name) = target.resource();
        let request = Request::IncrementalAlterConfigs(IncrementalAlterConfigsRequest {
            resources: vec![IncrementalAlterConfigsResource { resource_type, resource_name, configs }],
            validate_only: false,
        });
        let Response::IncrementalAlterConfigs(r) = self.send_for(target, request).await? else {
            return Err(unexpected("IncrementalAlterConfigs"));
        };
        let result = r.responses.into_iter().next().ok_or_else(|| unexpected("IncrementalAlterConfigs"))?;
        ClientError::check(result.error_code, result.error_message)
    }

    /// Sends a config request to the broker `target` names, or any broker.
    async fn send_for(&self, target: &ConfigTarget, request: Request) -> Result<Response> {
        match target {
            ConfigTarget::Broker(id) => {
                if !self.metadata().brokers.contains_key(id) {
                    self.refresh_metadata(Some(&[])).await?;
                }
                let conn = self.broker_connection(*id).await?;
                self.send_to(&conn, request).await
            }
            _ => self.send_any(request).await,
        }
    }

    /// ListOffsets for one partition: -2 earliest, -1 latest (the high watermark), or a
    /// timestamp. Returns `(offset, timestamp)`; offset -1 when no record is that late.
    pub async fn list_offset(&self, topic: &str, partition: i32, timestamp: i64) -> Result<(i64, i64)> {
        self.list_offset_isolated(topic, partition, timestamp, IsolationLevel::ReadUncommitted).await
    }

    /// As [`Client::list_offset`]; with read_committed, latest is the last stable offset. A
    /// retriable error (the leader moved, or has not taken up a partition just created) refreshes
    /// the topic's metadata and asks again, for at most `LIST_OFFSETS_RETRY_MS`.
    pub async fn list_offset_isolated(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
        isolation: IsolationLevel,
    ) -> Result<(i64, i64)> {
        let start = tokio::time::Instant::now();
        loop {
            // A topic or partition the metadata does not know is an answer, not retried.
            let leader = self.leader_of(topic, partition).await?;
            match self.list_offset_once(leader, topic, partition, timestamp, isolation).await {
                Err(e) if e.is_retriable() && start.elapsed() < Duration::from_millis(LIST_OFFSETS_RETRY_MS) => {
                    tracing::debug!(topic, partition, error = %e, "ListOffsets: retrying");
                    tokio::time::sleep(Duration::from_millis(LIST_OFFSETS_BACKOFF_MS)).await;
                    self.refresh_metadata(Some(&[topic.to_string()])).await?;
                }
                result => return result,
            }
        }
    }

    /// ListOffsets for many partitions at once: one request per leader in the metadata held now,
    /// all leaders asked together (the metadata of topics whose leaders it does not know is read
    /// first). `timestamp` as in [`Client::list_offset`]. Partitions with no leader, whose
    /// leader cannot be reached, or that answer an error are left out; nothing is retried (a
    /// caller that samples again later sees them then).
    pub async fn list_offsets(
        &self,
        partitions: &[(String, i32)],
        timestamp: i64,
    ) -> std::collections::BTreeMap<(String, i32), i64> {
        use std::collections::BTreeMap;
        let mut metadata = self.metadata();
        // Topics this client has not seen (or whose leaders it does not know) are looked up once.
        let unknown: std::collections::BTreeSet<String> =
            partitions.iter().filter(|(t, p)| metadata.leader(t, *p).is_none()).map(|(t, _)| t.clone()).collect();
        if !unknown.is_empty()
            && let Ok(fresh) = self.refresh_metadata(Some(&unknown.into_iter().collect::<Vec<_>>())).await
        {
            metadata = fresh;
        }
        let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
        for (topic, partition) in partitions {
            if let Some(leader) = metadata.leader(topic, *partition) {
                by_leader.entry(leader.id).or_default().entry(topic).or_default().push(*partition);
            }
        }
        let mut asks = tokio::task::JoinSet::new();
        for (leader, topics) in by_leader {
            let request = ListOffsetsRequest {
                replica_id: -1,
                isolation_level: IsolationLevel::ReadUncommitted.code(),
                timeout_ms: self.config().request_timeout.as_millis().min(i32::MAX as u128) as i32,
                topics: topics
                    .into_iter()
                    .map(|(name, partitions)| ListOffsetsRequestTopic {
                        name: name.to_string(),
                        partitions: partitions
                            .into_iter()
                            .map(|partition_index| ListOffsetsRequestPartition {
                                partition_index,
                                current_leader_epoch: -1,
                                timestamp,
                                max_num_offsets: 1,
                            })
                            .collect(),
                    })
                    .collect(),
            };
            let client = self.clone();
            asks.spawn(async move {
                let conn = client.broker_connection(leader).await?;
                client.send_to(&conn, Request::ListOffsets(request)).await
            });
        }
        let mut out = BTreeMap::new();
        while let Some(done) = asks.join_next().await {
            let Ok(Ok(Response::ListOffsets(r))) = done else { continue };
            for t in r.topics {
                for p in t.partitions.into_iter().filter(|p| p.error_code == 0) {
                    out.insert((t.name.clone(), p.partition_index), p.offset);
                }
            }
        }
        out
    }

    async fn leader_of(&self, topic: &str, partition: i32) -> Result<i32> {
        if let Some(b) = self.metadata().leader(topic, partition) {
            return Ok(b.id);
        }
        let t = self.topic(topic).await?;
        t.partitions
            .iter()
            .find(|p| p.partition == partition)
            .map(|p| p.leader)
            .ok_or_else(|| ClientError::kafka(3, Some(format!("topic '{topic}' has no partition {partition}"))))
    }

    async fn list_offset_once(
        &self,
        leader: i32,
        topic: &str,
        partition: i32,
        timestamp: i64,
        isolation: IsolationLevel,
    ) -> Result<(i64, i64)> {
        let conn = self.broker_connection(leader).await?;
        let request = ListOffsetsRequest {
            replica_id: -1,
            isolation_level: isolation.code(),
            timeout_ms: self.config().request_timeout.as_millis().min(i32::MAX as u128) as i32,
            topics: vec![ListOffsetsRequestTopic {
                name: topic.to_string(),
                partitions: vec![ListOffsetsRequestPartition {
                    partition_index: partition,
                    current_leader_epoch: -1,
                    timestamp,
                    max_num_offsets: 1,
                }],
            }],
        };
        let Response::ListOffsets(r) = self.send_to(&conn, Request::ListOffsets(request)).await? else {
            return Err(unexpected("ListOffsets"));
        };
        let p = r
            .topics
            .into_iter()
            .next()
            .and_then(|t| t.partitions.into_iter().next())
            .ok_or_else(|| unexpected("ListOffsets"))?;
        ClientError::check(p.error_code, Some(format!("offsets of {topic}-{partition}")))?;
        Ok((p.offset, p.timestamp))
    }
}
