//! Cluster control: the broker's link to keeper and its metadata cache, the controller, replica
//! assignment, and the tasks that turn cluster state into local roles (the reconciler) and
//! leaders' ISR proposals into znode writes (the ISR writer).

pub mod cache;
pub mod controller;
pub mod handle;
pub mod link;
pub mod znodes;

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_storage::TopicPartition;

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::replica_manager::RoleChange;
use znodes::PartitionState;

/// The most partitions one assignment holds: a topic's creation, or one CreatePartitions
/// increase. Kafka's controller refuses a CreateTopics request of more than 10,000 partitions in
/// all (`ReplicationControlManager.MAX_PARTITIONS_PER_BATCH`, with POLICY_VIOLATION, because
/// larger ones ran it out of memory) and a CreatePartitions of more than 10,000 records
/// (`MAX_RECORDS_PER_USER_OP`). Unbounded, a count of 2^31 - 1 built its whole assignment in
/// memory first (found by the `serve_request` fuzz target).
pub const MAX_PARTITIONS_PER_ASSIGNMENT: i32 = 10_000;

/// Assigns `rf` replicas to each of `count` partitions numbered from `first`, over the live
/// `brokers` (id, rack). As Kafka's assignment: the first replica of each partition (its
/// preferred leader) walks the broker list from a random start, and the followers sit at a
/// shifting distance from it, so leaders and replicas spread evenly. With racks set, the list
/// alternates racks, so each partition's replicas land on as many racks as possible.
pub fn assign_replicas(
    brokers: &[(i32, Option<String>)],
    count: i32,
    rf: i16,
    first: i32,
    start: Option<usize>,
) -> Result<BTreeMap<i32, Vec<i32>>, (ErrorCode, String)> {
    if count > MAX_PARTITIONS_PER_ASSIGNMENT {
        return Err((
            ErrorCode::PolicyViolation,
            format!(
                "excessively large number of partitions: {count} requested, limit {MAX_PARTITIONS_PER_ASSIGNMENT} per topic creation or increase"
            ),
        ));
    }
    let rf = rf as usize;
    if rf > brokers.len() {
        return Err((
            ErrorCode::InvalidReplicationFactor,
            format!("replication factor: {rf} larger than available brokers: {}", brokers.len()),
        ));
    }
    let list = rack_alternated(brokers);
    let n = list.len();
    let start = start.unwrap_or_else(|| (uuid::Uuid::new_v4().as_u128() % n as u128) as usize);
    let mut shift = start % n.max(1);
    let mut out = BTreeMap::new();
    for i in 0..count.max(0) as usize {
        if i > 0 && i % n == 0 {
            shift += 1;
        }
        let lead = (start + i) % n;
        let mut replicas = vec![list[lead]];
        let racks = brokers.iter().map(|(_, r)| r.clone()).collect::<std::collections::BTreeSet<_>>().len();
        for j in 0..rf.saturating_sub(1) {
            let used: std::collections::BTreeSet<Option<String>> =
                replicas.iter().map(|&r| rack_of(brokers, r)).collect();
            let candidates = (0..n - 1).map(|d| list[(lead + 1 + (shift + j + d) % (n - 1)) % n]);
            let free = |c: &i32| !replicas.contains(c);
            let pick = candidates
                .clone()
                .find(|c| free(c) && (used.len() >= racks || !used.contains(&rack_of(brokers, *c))))
                .or_else(|| candidates.clone().find(free))
                .expect("rf <= brokers leaves a free broker");
            replicas.push(pick);
        }
        out.insert(first + i as i32, replicas);
    }
    Ok(out)
}

fn rack_of(brokers: &[(i32, Option<String>)], id: i32) -> Option<String> {
    brokers.iter().find(|(b, _)| *b == id).and_then(|(_, r)| r.clone())
}

/// Broker ids ordered so that consecutive entries are on different racks where possible.
fn rack_alternated(brokers: &[(i32, Option<String>)]) -> Vec<i32> {
    let mut by_rack: BTreeMap<Option<String>, Vec<i32>> = BTreeMap::new();
    for (id, rack) in brokers {
        by_rack.entry(rack.clone()).or_default().push(*id);
    }
    for ids in by_rack.values_mut() {
        ids.sort_unstable();
    }
    let mut out = Vec::with_capacity(brokers.len());
    let mut i = 0;
    while out.len() < brokers.len() {
        for ids in by_rack.values() {
            if let Some(&id) = ids.get(i) {
                out.push(id);
            }
        }
        i += 1;
    }
    out
}

/// Applies every change of the metadata cache to the local partitions, and starts or stops
/// fetchers and group coordination to match. Logs loaded at startup wake it too: the view is
/// applied again, which creates the partitions whose logs have just become available.
pub async fn reconciler(broker: Arc<Broker>) {
    let mut changes = broker.link.cache.subscribe();
    let mut loaded = broker.replica_manager.loaded_logs();
    let mut previous = cache::ClusterView::default();
    loop {
        changes.borrow_and_update();
        loaded.borrow_and_update();
        let view = broker.link.cache.snapshot();
        if view.synced {
            let b = broker.clone();
            let (prev, next) = (previous.clone(), view.clone());
            let role_changes = tokio::task::spawn_blocking(move || {
                // Dynamic broker configs first: the topics' configs are built over them.
                let defaults_changed = b.apply_dynamic_configs(&next);
                let changes = b.replica_manager.apply_view(&prev, &next, |configs| b.log_and_isr_config(configs));
                if defaults_changed {
                    for (name, topic) in &next.topics {
                        let (log, min_isr) = b.log_and_isr_config(&topic.configs);
                        b.replica_manager.update_config(name, &log, min_isr);
                    }
                }
                changes
            })
            .await
            .unwrap_or_default();
            // A deleted topic (or one created again, with a new id) takes its committed
            // offsets with it, from the groups coordinated here.
            for (name, old) in &previous.topics {
                if view.topics.get(name).is_none_or(|t| t.id != old.id) {
                    let removed = broker.groups.with_groups(|g, _| g.remove_topic_offsets(name));
                    if !removed.is_empty() {
                        crate::group::offsets_log::write_tombstones(
                            broker.group_log(),
                            removed,
                            "the topic was deleted",
                        )
                        .await;
                    }
                }
            }
            for change in role_changes {
                match change {
                    RoleChange::BecameLeader(tp) => {
                        broker.fetchers.remove_partition(&tp);
                        crate::group::offsets_log::on_leadership(broker.group_log(), &tp, true).await;
                        broker.txns.on_leadership(broker.txn_handle(), &tp, true).await;
                    }
                    RoleChange::BecameFollower { tp, leader, leader_epoch } => {
                        crate::group::offsets_log::on_leadership(broker.group_log(), &tp, false).await;
                        broker.txns.on_leadership(broker.txn_handle(), &tp, false).await;
                        broker.fetchers.add_partition(&broker, tp, leader, leader_epoch);
                    }
                    RoleChange::Stopped(tp) => {
                        crate::group::offsets_log::on_leadership(broker.group_log(), &tp, false).await;
                        broker.txns.on_leadership(broker.txn_handle(), &tp, false).await;
                        broker.fetchers.remove_partition(&tp);
                    }
                }
            }
            previous = view;
        }
        let woken = tokio::select! {
            r = changes.changed() => r,
            r = loaded.changed() => r,
        };
        if woken.is_err() {
            return;
        }
    }
}

/// Writes the ISR changes leaders propose, with compare-and-set on the state znode's version
/// (Kafka's ZooKeeper-era leaders did the same). A lost race is reported back; the newer state
/// arrives through the cache.
pub async fn isr_writer(broker: Arc<Broker>) {
    let Some(mut proposals) = broker.replica_manager.take_isr_changes() else { return };
    while let Some(change) = proposals.recv().await {
        let outcome = write_isr(&broker, &change).await;
        if let Some(p) = broker.replica_manager.partition(&change.tp) {
            p.isr_written(change.leader_epoch, outcome.map(|v| (change.isr.clone(), v)));
        }
    }
}

async fn write_isr(broker: &Broker, change: &crate::replica_manager::IsrChange) -> Option<i32> {
    let TopicPartition { topic, partition } = &change.tp;
    let controller_epoch =
        broker.link.cache.read(|v| v.state(topic, *partition).map(|s| s.state.controller_epoch)).unwrap_or(0);
    let state = PartitionState {
        version: 1,
        leader: broker.config.broker_id,
        leader_epoch: change.leader_epoch,
        isr: change.isr.clone(),
        controller_epoch,
    };
    let client = broker.link.client().ok()?;
    let path = broker.link.paths.partition_state(topic, *partition);
    match client.set_data(&path, &serde_json::to_vec(&state).expect("small struct"), change.zk_version).await {
        Ok(stat) => {
            tracing::info!(tp = %change.tp, isr = ?change.isr, "ISR updated");
            Some(stat.version)
        }
        Err(e) => {
            tracing::info!(tp = %change.tp, error = %e, "ISR update refused; waiting for the newer state");
            None
        }
    }
}

/// Writes the topics of a pre-keeper single node into keeper (see `topics.rs`).
pub async fn import_legacy_topics(broker: &Broker) -> anyhow::Result<()> {
    let Some((path, topics)) = crate::topics::read_legacy(&broker.config.log_dirs[0])? else { return Ok(()) };
    let client = broker.link.client()?;
    let me = broker.config.broker_id;
    for (name, t) in &topics {
        let topic = znodes::TopicAssignment {
            version: 3,
            topic_id: Some(znodes::encode_topic_id(&t.id_bytes())),
            partitions: (0..t.partitions).map(|p| (p.to_string(), vec![me])).collect(),
            adding_replicas: BTreeMap::new(),
            removing_replicas: BTreeMap::new(),
        };
        let config = znodes::TopicConfigZnode { version: 1, config: t.configs.clone() };
        link::ensure_node(&client, &broker.link.paths.topic_config(name), &serde_json::to_vec(&config)?).await?;
        link::ensure_node(&client, &broker.link.paths.topic(name), &serde_json::to_vec(&topic)?).await?;
    }
    let imported = path.with_extension("json.imported");
    std::fs::rename(&path, &imported)?;
    tracing::info!(topics = topics.len(), file = %imported.display(), "imported the single-node topic registry into keeper");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(ids: &[i32]) -> Vec<(i32, Option<String>)> {
        ids.iter().map(|&i| (i, None)).collect()
    }

    #[test]
    fn assignment_spreads_leaders_and_never_repeats_a_broker() {
        let a = assign_replicas(&brokers(&[1, 2, 3]), 6, 3, 0, Some(0)).expect("fits");
        let mut leaders = BTreeMap::new();
        for replicas in a.values() {
            let mut sorted = replicas.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 3, "{replicas:?}");
            *leaders.entry(replicas[0]).or_insert(0) += 1;
        }
        assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2, 2, 2], "{a:?}");
        let err = assign_replicas(&brokers(&[1, 2]), 1, 3, 0, None).expect_err("too few brokers");
        assert_eq!(err.0, ErrorCode::InvalidReplicationFactor);
        assert!(err.1.contains("larger than available brokers: 2"), "{}", err.1);
    }

    #[test]
    fn rack_aware_assignment_puts_replicas_on_different_racks() {
        let b: Vec<(i32, Option<String>)> =
            vec![(1, Some("a".into())), (2, Some("a".into())), (3, Some("b".into())), (4, Some("b".into()))];
        let a = assign_replicas(&b, 8, 2, 0, Some(1)).expect("fits");
        let rack = |id: i32| b.iter().find(|(i, _)| *i == id).and_then(|(_, r)| r.clone());
        for replicas in a.values() {
            assert_ne!(rack(replicas[0]), rack(replicas[1]), "{a:?}");
        }
    }

    #[test]
    fn assignment_refuses_more_partitions_than_the_limit() {
        let err = assign_replicas(&brokers(&[1]), i32::MAX, 1, 0, None).expect_err("over the limit");
        assert_eq!(err.0, ErrorCode::PolicyViolation);
        assert!(err.1.contains("2147483647 requested, limit 10000"), "{}", err.1);
        let a = assign_replicas(&brokers(&[1]), MAX_PARTITIONS_PER_ASSIGNMENT, 1, 0, None).expect("at the limit");
        assert_eq!(a.len(), MAX_PARTITIONS_PER_ASSIGNMENT as usize);
    }

    #[test]
    fn new_partitions_are_numbered_from_first() {
        let a = assign_replicas(&brokers(&[1]), 2, 1, 3, None).expect("fits");
        assert_eq!(a.keys().copied().collect::<Vec<_>>(), vec![3, 4]);
    }
}
