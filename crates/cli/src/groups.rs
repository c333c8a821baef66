//! `sluice group list|describe|lag|reset-offsets|delete`, after Kafka's
//! `kafka-consumer-groups.sh`: a list merged from every broker (a broker that cannot be asked is
//! named, and the command fails after printing what it found), a description with committed
//! offsets, log ends and lag per partition and in total, every group's lag at once (what
//! Burrow-like tools show), and offset resets that print their plan and change nothing without
//! `--execute` (the tool's `--dry-run` default).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use sluice_client::{BrokerFailure, Client, ClientError};

use crate::table::{Table, or_dash, print_json};

/// Kafka's error codes the commands answer with themselves.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
/// ListOffsets' timestamps for the log start and end.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
/// Group states in which no member holds partitions, so offsets may be set from outside.
const INACTIVE_STATES: [&str; 2] = ["Empty", "Dead"];

/// Where `reset-offsets` moves a group's offsets.
#[derive(Debug, Clone, Copy)]
pub enum ResetTarget {
    Earliest,
    Latest,
    Offset(i64),
    /// The first offset at or after this timestamp (ms), the log end if none is that late.
    Datetime(i64),
}

/// Names each broker that could not be asked, on stderr; an error when there was one, after
/// the caller has printed what the others answered (as Kafka's tools report a failed broker).
pub fn report_failures(failures: &[BrokerFailure], what: &str) -> anyhow::Result<()> {
    for f in failures {
        eprintln!("warning: broker {} ({}) did not list its {what}: {}", f.broker.id, f.broker.address(), f.error);
    }
    match failures.len() {
        0 => Ok(()),
        n => anyhow::bail!("the {what} of {n} broker(s) are missing from the list above"),
    }
}

pub async fn list(client: &Client, json: bool) -> anyhow::Result<()> {
    let (groups, failures) = client.list_groups().await?;
    if json {
        let rows: Vec<serde_json::Value> = groups
            .iter()
            .map(|g| {
                json!({"group": g.group_id, "state": g.state, "protocol_type": g.protocol_type,
                       "coordinator": g.coordinator})
            })
            .collect();
        print_json(&serde_json::Value::Array(rows))?;
    } else {
        let mut table = Table::new(&["GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"]);
        for g in &groups {
            let protocol_type = if g.protocol_type.is_empty() { "-".to_string() } else { g.protocol_type.clone() };
            table.row(vec![g.group_id.clone(), g.state.clone(), protocol_type, g.coordinator.to_string()]);
        }
        table.print()?;
    }
    report_failures(&failures, "groups")
}

/// One partition of a described group.
struct OffsetRow {
    topic: String,
    partition: i32,
    committed: Option<i64>,
    log_end: Option<i64>,
    owner: Option<String>,
}

impl OffsetRow {
    fn lag(&self) -> Option<i64> {
        Some((self.log_end? - self.committed?).max(0))
    }
}

pub async fn describe(client: &Client, group: &str, json: bool) -> anyhow::Result<()> {
    let d = client.describe_group(group).await?;
    let committed = client.committed_offsets(group).await?;
    if d.state == "Dead" && committed.is_empty() {
        return Err(ClientError::kafka(GROUP_ID_NOT_FOUND, Some(format!("group '{group}' does not exist"))).into());
    }
    let mut owners = BTreeMap::new();
    for m in &d.members {
        for tp in &m.assignment {
            owners.insert(tp.clone(), m.client_id.clone());
        }
    }
    let partitions: BTreeSet<(String, i32)> = committed.keys().chain(owners.keys()).cloned().collect();
    let mut rows = Vec::with_capacity(partitions.len());
    for (topic, partition) in partitions {
        let log_end = client.list_offset(&topic, partition, LATEST).await.ok().map(|(o, _)| o);
        rows.push(OffsetRow {
            committed: committed.get(&(topic.clone(), partition)).copied(),
            owner: owners.get(&(topic.clone(), partition)).cloned(),
            topic,
            partition,
            log_end,
        });
    }
    let total_lag: i64 = rows.iter().filter_map(OffsetRow::lag).sum();
    if json {
        let members: Vec<serde_json::Value> = d
            .members
            .iter()
            .map(|m| {
                let assignment: Vec<serde_json::Value> =
                    m.assignment.iter().map(|(t, p)| json!({"topic": t, "partition": p})).collect();
                let target: Vec<serde_json::Value> =
                    m.target_assignment.iter().map(|(t, p)| json!({"topic": t, "partition": p})).collect();
                let mut member = json!({"member_id": m.member_id, "client_id": m.client_id, "host": m.client_host,
                       "instance_id": m.instance_id, "assignment": assignment});
                if d.consumer.is_some() {
                    member["member_epoch"] = json!(m.member_epoch);
                    member["target_assignment"] = json!(target);
                }
                member
            })
            .collect();
        let offsets: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                json!({"topic": r.topic, "partition": r.partition, "committed": r.committed,
                       "log_end": r.log_end, "lag": r.lag(), "owner": r.owner})
            })
            .collect();
        let mut out = json!({
            "group": d.group_id, "state": d.state, "protocol_type": d.protocol_type, "protocol": d.protocol,
            "coordinator": d.coordinator, "members": members, "offsets": offsets, "total_lag": total_lag,
        });
        if let Some(c) = &d.consumer {
            out["group_epoch"] = json!(c.group_epoch);
            out["assignment_epoch"] = json!(c.assignment_epoch);
            out["assignor"] = json!(c.assignor);
        }
        return Ok(print_json(&out)?);
    }
    println!(
        "group {}: {} ({} members, protocol {}, coordinator {})",
        d.group_id,
        d.state,
        d.members.len(),
        if d.protocol.is_empty() { "-" } else { &d.protocol },
        d.coordinator
    );
    if let Some(c) = &d.consumer {
        println!(
            "consumer protocol (KIP-848): group epoch {}, assignment epoch {}, assignor {}",
            c.group_epoch, c.assignment_epoch, c.assignor
        );
        if !d.members.is_empty() {
            let mut members = Table::new(&["MEMBER-ID", "CLIENT-ID", "HOST", "EPOCH", "PARTITIONS", "TARGET"]);
            let list =
                |tps: &[(String, i32)]| tps.iter().map(|(t, p)| format!("{t}-{p}")).collect::<Vec<_>>().join(",");
            for m in &d.members {
                members.row(vec![
                    m.member_id.clone(),
                    m.client_id.clone(),
                    m.client_host.clone(),
                    or_dash(m.member_epoch),
                    list(&m.assignment),
                    list(&m.target_assignment),
                ]);
            }
            members.print()?;
        }
    } else if !d.members.is_empty() {
        let mut members = Table::new(&["MEMBER-ID", "CLIENT-ID", "HOST", "PARTITIONS"]);
        for m in &d.members {
            let assigned: Vec<String> = m.assignment.iter().map(|(t, p)| format!("{t}-{p}")).collect();
            members.row(vec![m.member_id.clone(), m.client_id.clone(), m.client_host.clone(), assigned.join(",")]);
        }
        members.print()?;
    }
    let mut table = Table::new(&["TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "OWNER"]);
    for r in &rows {
        table.row(vec![
            r.topic.clone(),
            r.partition.to_string(),
            or_dash(r.committed),
            or_dash(r.log_end),
            or_dash(r.lag()),
            or_dash(r.owner.clone()),
        ]);
    }
    table.print()?;
    println!("total lag: {total_lag}");
    Ok(())
}

/// How `sluice group lag` orders its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LagOrder {
    /// Largest total lag first.
    Lag,
    /// Largest lag on one partition first.
    MaxLag,
    /// By group id.
    Group,
}

/// One group's lag over every partition it has committed offsets for.
struct GroupLag {
    group: String,
    state: String,
    partitions: usize,
    total: i64,
    max: i64,
    /// Partitions whose log end could not be read (left out of the sums).
    unknown: usize,
}

pub async fn lag(client: &Client, order: LagOrder, json: bool) -> anyhow::Result<()> {
    let (groups, failures) = client.list_groups().await?;
    let mut rows = Vec::with_capacity(groups.len());
    for g in &groups {
        let committed = client.committed_offsets(&g.group_id).await?;
        let mut row = GroupLag {
            group: g.group_id.clone(),
            state: g.state.clone(),
            partitions: committed.len(),
            total: 0,
            max: 0,
            unknown: 0,
        };
        for ((topic, partition), offset) in &committed {
            match client.list_offset(topic, *partition, LATEST).await {
                Ok((end, _)) => {
                    let lag = (end - offset).max(0);
                    row.total += lag;
                    row.max = row.max.max(lag);
                }
                Err(_) => row.unknown += 1,
            }
        }
        rows.push(row);
    }
    match order {
        LagOrder::Lag => rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.group.cmp(&b.group))),
        LagOrder::MaxLag => rows.sort_by(|a, b| b.max.cmp(&a.max).then_with(|| a.group.cmp(&b.group))),
        LagOrder::Group => rows.sort_by(|a, b| a.group.cmp(&b.group)),
    }
    if json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                json!({"group": r.group, "state": r.state, "partitions": r.partitions, "lag": r.total,
                       "max_partition_lag": r.max, "partitions_unknown": r.unknown})
            })
            .collect();
        print_json(&serde_json::Value::Array(out))?;
    } else {
        let mut table = Table::new(&["GROUP", "STATE", "PARTITIONS", "LAG", "MAX-PARTITION-LAG", "UNKNOWN"]);
        for r in &rows {
            table.row(vec![
                r.group.clone(),
                r.state.clone(),
                r.partitions.to_string(),
                r.total.to_string(),
                r.max.to_string(),
                r.unknown.to_string(),
            ]);
        }
        table.print()?;
    }
    report_failures(&failures, "groups")
}

/// The offset `target` names in one partition, refusing an explicit offset outside the log.
async fn target_offset(client: &Client, topic: &str, partition: i32, target: ResetTarget) -> anyhow::Result<i64> {
    let earliest = || client.list_offset(topic, partition, EARLIEST);
    let latest = || client.list_offset(topic, partition, LATEST);
    Ok(match target {
        ResetTarget::Earliest => earliest().await?.0,
        ResetTarget::Latest => latest().await?.0,
        ResetTarget::Offset(o) => {
            let (start, end) = (earliest().await?.0, latest().await?.0);
            // Kafka's tool clamps into the log; a typo silently becoming "the end" is worse
            // than being told.
            if o < start || o > end {
                anyhow::bail!(
                    "--to-offset {o} is outside {topic}-{partition}, whose offsets run from {start} (log start) \
                     to {end} (log end)"
                );
            }
            o
        }
        ResetTarget::Datetime(ts) => match client.list_offset(topic, partition, ts).await?.0 {
            -1 => latest().await?.0,
            o => o,
        },
    })
}

pub async fn reset_offsets(
    client: &Client,
    group: &str,
    topic: &str,
    partition: Option<i32>,
    target: ResetTarget,
    execute: bool,
) -> anyhow::Result<()> {
    let d = client.describe_group(group).await?;
    if !INACTIVE_STATES.contains(&d.state.as_str()) {
        return Err(ClientError::kafka(
            NON_EMPTY_GROUP,
            Some(format!(
                "group '{group}' has active members ({} in state {}); offsets can only be reset while it is inactive",
                d.members.len(),
                d.state
            )),
        )
        .into());
    }
    let info = client.topic(topic).await?;
    let partitions: Vec<i32> = match partition {
        Some(p) if info.partitions.iter().any(|x| x.partition == p) => vec![p],
        Some(p) => {
            return Err(ClientError::kafka(
                UNKNOWN_TOPIC_OR_PARTITION,
                Some(format!("topic '{topic}' has no partition {p}")),
            )
            .into());
        }
        None => info.partitions.iter().map(|p| p.partition).collect(),
    };
    let committed = client.committed_offsets(group).await?;
    let mut plan = BTreeMap::new();
    for p in partitions {
        plan.insert((topic.to_string(), p), target_offset(client, topic, p, target).await?);
    }
    let mut table = Table::new(&["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"]);
    for ((t, p), new) in &plan {
        let current = committed.get(&(t.clone(), *p)).copied();
        table.row(vec![group.to_string(), t.clone(), p.to_string(), or_dash(current), new.to_string()]);
    }
    table.print()?;
    if !execute {
        eprintln!("dry run; add --execute to apply");
        return Ok(());
    }
    client.commit_group_offsets(group, &plan).await?;
    eprintln!("reset {} offsets of group {group}", plan.len());
    Ok(())
}

pub async fn delete(client: &Client, group: &str) -> anyhow::Result<()> {
    client.delete_group(group).await?;
    println!("deleted group {group}");
    Ok(())
}
