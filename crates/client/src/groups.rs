//! Group administration, as Kafka's `kafka-consumer-groups.sh`: list (ListGroups asked of every
//! broker, since each answers only for the groups it coordinates), describe (members and their
//! assigned partitions), committed offsets, resetting offsets of an inactive group, and
//! deleting groups; all but listing go to the group's coordinator (`coordinator.rs`).

use std::collections::BTreeMap;

use sluice_protocol::api::{Request, Response};
use sluice_protocol::messages::*;

use crate::client::{BrokerFailure, Client};
use crate::coordinator::CoordinatorType;
use crate::error::{ClientError, Result};
use crate::group_consumer::decode_assignment;

/// Kafka's UNKNOWN_MEMBER_ID: a commit outside the group protocol to a group with members.
const UNKNOWN_MEMBER_ID: i16 = 25;

/// A group as ListGroups reports it, with the broker coordinating it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
    pub coordinator: i32,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// Partitions assigned by the consumer protocol, when the assignment decodes as one.
    pub assignment: Vec<(String, i32)>,
    /// A member of a KIP-848 group: its epoch, and the partitions the coordinator means it to
    /// have (which it reaches once others release them).
    pub member_epoch: Option<i32>,
    pub target_assignment: Vec<(String, i32)>,
    pub instance_id: Option<String>,
}

/// What a group of the KIP-848 consumer protocol adds to its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerProtocolGroup {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// The broker coordinating the group.
    pub coordinator: i32,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<GroupMember>,
    /// Set for a group of the KIP-848 consumer protocol.
    pub consumer: Option<ConsumerProtocolGroup>,
}

fn unexpected(what: &str) -> ClientError {
    ClientError::Invalid(format!("{what} answered with another response type"))
}

impl Client {
    /// Every broker's groups, merged (a group moving between coordinators is listed once, as
    /// the first broker by id reports it), and the brokers that could not be asked; their
    /// groups are missing from the list.
    pub async fn list_groups(&self) -> Result<(Vec<GroupListing>, Vec<BrokerFailure>)> {
        let (answers, mut failures) =
            self.ask_every_broker(|| Request::ListGroups(ListGroupsRequest::default())).await?;
        let mut groups: BTreeMap<String, GroupListing> = BTreeMap::new();
        for (broker, response) in answers {
            let Response::ListGroups(r) = response else {
                failures.push(BrokerFailure { broker, error: unexpected("ListGroups") });
                continue;
            };
            if let Err(error) = ClientError::check(r.error_code, None) {
                failures.push(BrokerFailure { broker, error });
                continue;
            }
            for g in r.groups {
                groups.entry(g.group_id.clone()).or_insert(GroupListing {
                    group_id: g.group_id,
                    protocol_type: g.protocol_type,
                    state: g.group_state,
                    coordinator: broker.id,
                });
            }
        }
        failures.sort_by_key(|f| f.broker.id);
        Ok((groups.into_values().collect(), failures))
    }

    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        let request = DescribeGroupsRequest { groups: vec![group.to_string()], include_authorized_operations: false };
        let (coordinator, response) =
            self.send_to_coordinator(CoordinatorType::Group, group, Request::DescribeGroups(request)).await?;
        let Response::DescribeGroups(r) = response else {
            return Err(unexpected("DescribeGroups"));
        };
        let mut g = r.groups.into_iter().next().ok_or_else(|| unexpected("DescribeGroups"))?;
        // DescribeGroups v6 answers a group it does not know GROUP_ID_NOT_FOUND (KIP-1043);
        // earlier versions describe it as Dead, which is what this returns either way (the
        // group may still have committed offsets).
        if g.error_code == sluice_protocol::error_code::ErrorCode::GroupIdNotFound.code() {
            // It may be a group of the KIP-848 protocol, which DescribeGroups does not describe.
            if let Some(d) = self.describe_consumer_group(group).await? {
                return Ok(d);
            }
            g.error_code = 0;
            g.group_state = "Dead".into();
        }
        ClientError::check(g.error_code, Some(format!("group '{group}'")))?;
        Ok(GroupDescription {
            group_id: g.group_id,
            coordinator: coordinator.node_id,
            state: g.group_state,
            protocol_type: g.protocol_type,
            protocol: g.protocol_data,
            members: g
                .members
                .into_iter()
                .map(|m| GroupMember {
                    member_id: m.member_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    assignment: decode_assignment(m.member_assignment),
                    member_epoch: None,
                    target_assignment: Vec::new(),
                    instance_id: m.group_instance_id,
                })
                .collect(),
            consumer: None,
        })
    }

    /// `group` described with ConsumerGroupDescribe (KIP-848); None when it is not a group of
    /// that protocol (or the coordinator does not serve the API).
    pub async fn describe_consumer_group(&self, group: &str) -> Result<Option<GroupDescription>> {
        use sluice_protocol::messages::{ConsumerGroupDescribeAssignment, ConsumerGroupDescribeRequest};
        let request =
            ConsumerGroupDescribeRequest { group_ids: vec![group.to_string()], include_authorized_operations: false };
        let (coordinator, response) = match self
            .send_to_coordinator(CoordinatorType::Group, group, Request::ConsumerGroupDescribe(request))
            .await
        {
            Ok(answer) => answer,
            Err(ClientError::Unsupported { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Response::ConsumerGroupDescribe(r) = response else {
            return Err(unexpected("ConsumerGroupDescribe"));
        };
        let Some(g) = r.groups.into_iter().next() else { return Err(unexpected("ConsumerGroupDescribe")) };
        if g.error_code == sluice_protocol::error_code::ErrorCode::GroupIdNotFound.code() {
            return Ok(None);
        }
        ClientError::check(g.error_code, Some(format!("group '{group}'")))?;
        let partitions = |a: ConsumerGroupDescribeAssignment| -> Vec<(String, i32)> {
            a.topic_partitions
                .into_iter()
                .flat_map(|t| {
                    let name = t.topic_name;
                    t.partitions.into_iter().map(move |p| (name.clone(), p))
                })
                .collect()
        };
        Ok(Some(GroupDescription {
            group_id: g.group_id,
            coordinator: coordinator.node_id,
            state: g.group_state,
            protocol_type: "consumer".into(),
            protocol: g.assignor_name.clone(),
            members: g
                .members
                .into_iter()
                .map(|m| GroupMember {
                    member_id: m.member_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    assignment: partitions(m.assignment),
                    member_epoch: Some(m.member_epoch),
                    target_assignment: partitions(m.target_assignment),
                    instance_id: m.instance_id,
                })
                .collect(),
            consumer: Some(ConsumerProtocolGroup {
                group_epoch: g.group_epoch,
                assignment_epoch: g.assignment_epoch,
                assignor: g.assignor_name,
            }),
        }))
    }

    /// Every committed offset of `group`, from its coordinator.
    pub async fn committed_offsets(&self, group: &str) -> Result<BTreeMap<(String, i32), i64>> {
        let request = OffsetFetchRequest {
            group_id: group.to_string(),
            topics: None,
            groups: vec![OffsetFetchRequestGroup {
                group_id: group.to_string(),
                member_id: None,
                member_epoch: -1,
                topics: None,
            }],
            require_stable: false,
        };
        let (_, response) =
            self.send_to_coordinator(CoordinatorType::Group, group, Request::OffsetFetch(request)).await?;
        let Response::OffsetFetch(r) = response else {
            return Err(unexpected("OffsetFetch"));
        };
        let context = |what: String| Some(format!("committed offsets of group '{group}'{what}"));
        // Up to v7 one group answers at the top level; from v8 under `groups`.
        ClientError::check(r.error_code, context(String::new()))?;
        let mut rows: Vec<(String, i32, i64, i16)> = Vec::new();
        for t in r.topics {
            rows.extend(
                t.partitions.into_iter().map(|p| (t.name.clone(), p.partition_index, p.committed_offset, p.error_code)),
            );
        }
        for g in r.groups {
            ClientError::check(g.error_code, context(String::new()))?;
            for t in g.topics {
                rows.extend(
                    t.partitions
                        .into_iter()
                        .map(|p| (t.name.clone(), p.partition_index, p.committed_offset, p.error_code)),
                );
            }
        }
        let mut out = BTreeMap::new();
        for (topic, partition, offset, code) in rows {
            ClientError::check(code, context(format!(" in {topic}-{partition}")))?;
            if offset >= 0 {
                out.insert((topic, partition), offset);
            }
        }
        Ok(out)
    }

    /// Commits offsets for a group outside the group protocol (the group must have no active
    /// members), as `reset-offsets` does.
    pub async fn commit_group_offsets(&self, group: &str, offsets: &BTreeMap<(String, i32), i64>) -> Result<()> {
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for ((topic, partition), offset) in offsets {
            topics.entry(topic).or_default().push(OffsetCommitRequestPartition {
                partition_index: *partition,
                committed_offset: *offset,
                committed_leader_epoch: -1,
                commit_timestamp: -1,
                committed_metadata: Some(String::new()),
            });
        }
        let request = OffsetCommitRequest {
            group_id: group.to_string(),
            generation_id_or_member_epoch: -1,
            member_id: String::new(),
            group_instance_id: None,
            retention_time_ms: -1,
            topics: topics
                .into_iter()
                .map(|(name, partitions)| OffsetCommitRequestTopic { name: name.to_string(), partitions })
                .collect(),
        };
        let (_, response) =
            self.send_to_coordinator(CoordinatorType::Group, group, Request::OffsetCommit(request)).await?;
        let Response::OffsetCommit(r) = response else {
            return Err(unexpected("OffsetCommit"));
        };
        for t in r.topics {
            for p in t.partitions {
                if p.error_code == UNKNOWN_MEMBER_ID {
                    return Err(ClientError::kafka(
                        UNKNOWN_MEMBER_ID,
                        Some(format!(
                            "group '{group}' has active members; stop its consumers before resetting offsets"
                        )),
                    ));
                }
                ClientError::check(p.error_code, Some(format!("{}-{}", t.name, p.partition_index)))?;
            }
        }
        Ok(())
    }

    /// Deletes a group without members, and its committed offsets, at its coordinator.
    pub async fn delete_group(&self, group: &str) -> Result<()> {
        let request = DeleteGroupsRequest { groups_names: vec![group.to_string()] };
        let (_, response) =
            self.send_to_coordinator(CoordinatorType::Group, group, Request::DeleteGroups(request)).await?;
        let Response::DeleteGroups(r) = response else {
            return Err(unexpected("DeleteGroups"));
        };
        let result = r.results.into_iter().next().ok_or_else(|| unexpected("DeleteGroups"))?;
        ClientError::check(result.error_code, Some(format!("group '{group}'")))
    }
}
