//! Group administration: list, describe (members and their assigned partitions), committed
//! offsets, resetting offsets of an inactive group, and deleting groups.

use std::collections::BTreeMap;

use bytes::{Buf, Bytes};
use sluice_protocol::api::{Request, Response};
use sluice_protocol::messages::*;

use crate::client::Client;
use crate::error::{ClientError, Result};

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// Partitions assigned by the consumer protocol, when the assignment decodes as one.
    pub assignment: Vec<(String, i32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<GroupMember>,
}

fn unexpected(what: &str) -> ClientError {
    ClientError::Invalid(format!("{what} answered with another response type"))
}

/// Decodes Kafka's ConsumerProtocolAssignment: version i16, [topic string, [partition i32]],
/// user data bytes. Anything else yields no partitions.
fn decode_assignment(mut b: Bytes) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    let mut take = || -> Option<()> {
        if b.remaining() < 6 {
            return None;
        }
        let _version = b.get_i16();
        let topics = b.get_i32();
        for _ in 0..topics.max(0) {
            if b.remaining() < 2 {
                return None;
            }
            let len = b.get_i16().max(0) as usize;
            if b.remaining() < len + 4 {
                return None;
            }
            let topic = String::from_utf8_lossy(&b.split_to(len)).into_owned();
            let n = b.get_i32().max(0) as usize;
            if b.remaining() < n * 4 {
                return None;
            }
            for _ in 0..n {
                out.push((topic.clone(), b.get_i32()));
            }
        }
        Some(())
    };
    let _ = take();
    out
}

impl Client {
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>> {
        let Response::ListGroups(r) = self.send_any(Request::ListGroups(ListGroupsRequest::default())).await? else {
            return Err(unexpected("ListGroups"));
        };
        ClientError::check(r.error_code, None)?;
        Ok(r.groups
            .into_iter()
            .map(|g| GroupListing { group_id: g.group_id, protocol_type: g.protocol_type, state: g.group_state })
            .collect())
    }

    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        let request = DescribeGroupsRequest { groups: vec![group.to_string()], include_authorized_operations: false };
        let Response::DescribeGroups(r) = self.send_any(Request::DescribeGroups(request)).await? else {
            return Err(unexpected("DescribeGroups"));
        };
        let g = r.groups.into_iter().next().ok_or_else(|| unexpected("DescribeGroups"))?;
        ClientError::check(g.error_code, None)?;
        Ok(GroupDescription {
            group_id: g.group_id,
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
                })
                .collect(),
        })
    }

    /// Every committed offset of `group`.
    pub async fn committed_offsets(&self, group: &str) -> Result<BTreeMap<(String, i32), i64>> {
        let request = OffsetFetchRequest {
            group_id: group.to_string(),
            topics: None,
            groups: vec![OffsetFetchRequestGroup { group_id: group.to_string(), topics: None }],
            require_stable: false,
        };
        let Response::OffsetFetch(r) = self.send_any(Request::OffsetFetch(request)).await? else {
            return Err(unexpected("OffsetFetch"));
        };
        let mut out = BTreeMap::new();
        for t in r.topics {
            for p in t.partitions {
                if p.committed_offset >= 0 {
                    out.insert((t.name.clone(), p.partition_index), p.committed_offset);
                }
            }
        }
        for g in r.groups {
            ClientError::check(g.error_code, None)?;
            for t in g.topics {
                for p in t.partitions {
                    if p.committed_offset >= 0 {
                        out.insert((t.name.clone(), p.partition_index), p.committed_offset);
                    }
                }
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
        let Response::OffsetCommit(r) = self.send_any(Request::OffsetCommit(request)).await? else {
            return Err(unexpected("OffsetCommit"));
        };
        for t in r.topics {
            for p in t.partitions {
                if p.error_code == 25 {
                    return Err(ClientError::kafka(
                        25,
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

    pub async fn delete_group(&self, group: &str) -> Result<()> {
        let Response::DeleteGroups(r) =
            self.send_any(Request::DeleteGroups(DeleteGroupsRequest { groups_names: vec![group.to_string()] })).await?
        else {
            return Err(unexpected("DeleteGroups"));
        };
        let result = r.results.into_iter().next().ok_or_else(|| unexpected("DeleteGroups"))?;
        ClientError::check(result.error_code, None)
    }
}
