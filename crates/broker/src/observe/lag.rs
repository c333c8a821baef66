//! Consumer lag per group, topic and partition, for the groups this broker coordinates: each
//! committed offset against its partition's high watermark (what a `read_uncommitted` consumer
//! could read). The high watermark is this broker's own where it leads the partition; for the
//! others the leaders are asked (ListOffsets, latest) over the inter-broker listener at each
//! scrape, all within [`LAG_LOOKUP_TIMEOUT_MS`]: a leader that does not answer in time leaves
//! its partitions out of that scrape rather than report a wrong lag.
//!
//! Kafka has no such metric on the broker; operators run Burrow or kafka-ui, which do the same
//! (committed offsets against ListOffsets) from outside.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sluice_client::connection::BrokerConnection;
use sluice_protocol::api::{Request, Response};
use sluice_protocol::messages::{ListOffsetsRequest, ListOffsetsRequestPartition, ListOffsetsRequestTopic};
use sluice_storage::{LATEST_TIMESTAMP, TopicPartition};

use super::exposition::Scrape;
use crate::broker::Broker;
use crate::group::offsets_log::{OFFSETS_TOPIC, partition_for};

/// How long a scrape waits for another broker's high watermarks.
pub const LAG_LOOKUP_TIMEOUT_MS: u64 = 2_000;

/// A group's id, state, and committed offsets.
pub type CoordinatedGroup = (String, &'static str, BTreeMap<(String, i32), i64>);

/// The groups whose `__consumer_offsets` partition this broker leads (the coordinator's own:
/// the group coordinator may still hold a group whose partition just moved away).
pub fn coordinated_groups(broker: &Broker) -> Vec<CoordinatedGroup> {
    let groups: Vec<CoordinatedGroup> = broker.groups.with_groups(|groups, _| {
        groups
            .groups()
            .map(|g| {
                let offsets = g.offsets.iter().map(|(tp, c)| (tp.clone(), c.offset)).collect();
                (g.group_id.clone(), g.state_name(), offsets)
            })
            .collect()
    });
    groups
        .into_iter()
        .filter(|(id, _, _)| {
            let tp = TopicPartition::new(OFFSETS_TOPIC, partition_for(id));
            broker.replica_manager.partition(&tp).is_some_and(|p| p.is_leader())
        })
        .collect()
}

/// Connections to the other brokers, kept between scrapes.
#[derive(Debug, Default)]
pub struct LagLookups {
    connections: tokio::sync::Mutex<HashMap<i32, Arc<BrokerConnection>>>,
}

impl LagLookups {
    async fn connection(&self, broker: &Broker, to: i32) -> Option<Arc<BrokerConnection>> {
        let mut conns = self.connections.lock().await;
        if let Some(c) = conns.get(&to).filter(|c| !c.is_closed()) {
            return Some(c.clone());
        }
        let listener = &broker.config.inter_broker_listener;
        let (host, port) = broker.link.cache.read(|v| v.brokers.get(&to).and_then(|r| r.endpoint(listener)))?;
        let client_id = format!("metrics-{}", broker.config.broker_id);
        let conn = BrokerConnection::connect_with(
            &format!("{host}:{port}"),
            &client_id,
            Duration::from_millis(LAG_LOOKUP_TIMEOUT_MS),
            &broker.config.inter_broker_security,
        )
        .await
        .map_err(|e| tracing::debug!(broker = to, error = %e, "cannot reach a broker for consumer lag"))
        .ok()?;
        conns.insert(to, conn.clone());
        Some(conn)
    }

    /// The high watermark of each of `tps` that can be learned now.
    pub async fn high_watermarks(&self, broker: &Broker, tps: &BTreeSet<(String, i32)>) -> HashMap<(String, i32), i64> {
        let me = broker.config.broker_id;
        let mut found = HashMap::new();
        let mut remote: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        for (topic, p) in tps {
            let leader = broker.link.cache.read(|v| v.leader(topic, *p));
            match leader {
                Some(l) if l == me => {
                    if let Some(partition) = broker.replica_manager.partition(&TopicPartition::new(topic.clone(), *p))
                        && partition.is_leader()
                    {
                        found.insert((topic.clone(), *p), partition.high_watermark());
                    }
                }
                Some(l) => remote.entry(l).or_default().push((topic.clone(), *p)),
                None => {}
            }
        }
        // One deadline for all of them: a scrape waits LAG_LOOKUP_TIMEOUT_MS at most.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(LAG_LOOKUP_TIMEOUT_MS);
        for (leader, tps) in remote {
            if let Ok(answers) = tokio::time::timeout_at(deadline, self.ask(broker, leader, tps)).await {
                found.extend(answers);
            }
        }
        found
    }

    async fn ask(&self, broker: &Broker, leader: i32, tps: Vec<(String, i32)>) -> Vec<((String, i32), i64)> {
        let Some(conn) = self.connection(broker, leader).await else { return Vec::new() };
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, p) in tps {
            by_topic.entry(t).or_default().push(p);
        }
        let request = ListOffsetsRequest {
            replica_id: -1,
            isolation_level: 0,
            timeout_ms: 0,
            topics: by_topic
                .into_iter()
                .map(|(name, ps)| ListOffsetsRequestTopic {
                    name,
                    partitions: ps
                        .into_iter()
                        .map(|p| ListOffsetsRequestPartition {
                            partition_index: p,
                            timestamp: LATEST_TIMESTAMP,
                            ..Default::default()
                        })
                        .collect(),
                })
                .collect(),
        };
        match conn.send(Request::ListOffsets(request)).await {
            Ok(Response::ListOffsets(r)) => r
                .topics
                .into_iter()
                .flat_map(|t| {
                    let name = t.name;
                    t.partitions
                        .into_iter()
                        .filter(|p| p.error_code == 0 && p.offset >= 0)
                        .map(move |p| ((name.clone(), p.partition_index), p.offset))
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// `sluice_consumer_group_lag` and `sluice_consumer_group_committed_offset` for the groups
/// coordinated here.
pub async fn lag_families(broker: &Broker, lookups: &LagLookups, scrape: &mut Scrape) {
    let groups = coordinated_groups(broker);
    let tps: BTreeSet<(String, i32)> = groups.iter().flat_map(|(_, _, o)| o.keys().cloned()).collect();
    let ends = lookups.high_watermarks(broker, &tps).await;
    let mut lag = Vec::new();
    let mut committed = Vec::new();
    for (group, _, offsets) in &groups {
        for ((topic, p), offset) in offsets {
            let labels = vec![("group", group.clone()), ("topic", topic.clone()), ("partition", p.to_string())];
            committed.push((labels.clone(), *offset));
            if let Some(end) = ends.get(&(topic.clone(), *p)) {
                lag.push((labels, (end - offset).max(0)));
            }
        }
    }
    scrape.gauge(
        "sluice_consumer_group_lag",
        "Records between a group's committed offset and the partition's high watermark, for the groups this broker coordinates.",
        lag,
    );
    scrape.gauge(
        "sluice_consumer_group_committed_offset",
        "A group's committed offset per partition, for the groups this broker coordinates.",
        committed,
    );
}
