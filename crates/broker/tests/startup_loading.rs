//! A broker serves each partition as soon as its log is loaded at startup (issue 18): the
//! replica manager, applying a cluster view in which this broker leads partitions whose logs are
//! still loading, never creates an empty log in their place, answers requests for them with
//! NOT_LEADER_OR_FOLLOWER, and takes their leadership, with their data and their topic's
//! config, once each is loaded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sluice_broker::cluster::cache::{ClusterView, TopicView, VersionedState};
use sluice_broker::cluster::znodes::PartitionState;
use sluice_broker::error::ErrorCode;
use sluice_broker::replica_manager::{ReadBound, ReplicaManager, RoleChange};
use sluice_protocol::RecordBatchBuilder;
use sluice_storage::{DirLock, LogConfig, LogManager, LogManagerConfig, SystemClock, TopicPartition};

const BROKER: i32 = 0;
const TOPIC: &str = "loading";
/// Enough logs that loading them takes a while, so views are applied while some are pending.
const PARTITIONS: i32 = 200;
const BATCHES_PER_PARTITION: i64 = 20;
/// A generous bound on loading every log and applying its state.
const LOAD_BOUND: Duration = Duration::from_secs(120);

fn config(dir: &Path) -> LogManagerConfig {
    let mut c = LogManagerConfig::new(vec![dir.to_path_buf()]);
    // One loader: the slowest load, the most views applied meanwhile.
    c.recovery_threads_per_data_dir = 1;
    c
}

fn compacted() -> LogConfig {
    let mut c = LogConfig::default();
    c.set("cleanup.policy", "compact").expect("valid config");
    c
}

/// Every partition of the topic with data, written by a broker that then crashed (no clean
/// shutdown: loading recovers each log).
fn write_crashed_logs(dir: &Path) {
    let mgr = LogManager::open(config(dir), Arc::new(SystemClock)).expect("open");
    for p in 0..PARTITIONS {
        let log = mgr.get_or_create_log(&TopicPartition::new(TOPIC, p), compacted()).expect("create");
        let mut log = log.write();
        for i in 0..BATCHES_PER_PARTITION {
            let mut b = RecordBatchBuilder::new(1_700_000_000_000);
            b.append(1_700_000_000_000, Some(format!("k{i}").as_bytes()), Some(b"value"), &[]);
            log.append_as_leader(&b.build(), 0).expect("append");
        }
    }
}

/// The view of a synced cache in which this broker alone holds, and leads, every partition.
fn view_led_here() -> ClusterView {
    let state = VersionedState {
        state: PartitionState { version: 1, leader: BROKER, leader_epoch: 1, isr: vec![BROKER], controller_epoch: 1 },
        zk_version: 0,
    };
    let topic = TopicView {
        assignment: (0..PARTITIONS).map(|p| (p, vec![BROKER])).collect(),
        configs: BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]),
        states: (0..PARTITIONS).map(|p| (p, state.clone())).collect(),
        ..Default::default()
    };
    ClusterView { synced: true, topics: BTreeMap::from([(TOPIC.to_string(), topic)]), ..Default::default() }
}

fn topic_config(configs: &BTreeMap<String, String>) -> (LogConfig, i32) {
    let mut c = LogConfig::default();
    for (k, v) in configs {
        c.set(k, v).expect("valid config");
    }
    (c, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_still_loading_are_never_recreated_and_are_served_once_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_crashed_logs(dir.path());
    let lock = DirLock::acquire(dir.path()).expect("lock");
    let logs = Arc::new(LogManager::scan_locked(config(dir.path()), Arc::new(SystemClock), vec![lock]).expect("scan"));
    let rm = Arc::new(ReplicaManager::new(BROKER, logs.clone(), Arc::new(SystemClock), 1));
    let view = view_led_here();
    let tp0 = TopicPartition::new(TOPIC, 0);

    // Nothing is loaded yet: the view names every partition as led here, and none is created.
    let changes = rm.apply_view(&ClusterView::default(), &view, topic_config);
    assert!(changes.is_empty(), "no role is taken before its log is loaded: {changes:?}");
    assert!(rm.partition(&tp0).is_none());
    assert_eq!(rm.partition_or_error(&tp0).err(), Some(ErrorCode::NotLeaderOrFollower), "retriable while loading");
    assert_eq!(
        rm.partition_or_error(&TopicPartition::new("elsewhere", 0)).err(),
        Some(ErrorCode::UnknownTopicOrPartition),
        "a partition not on this broker at all"
    );
    assert_eq!(logs.pending_count(), PARTITIONS as usize);

    // Load in the background, applying the view again at every load, as the reconciler does.
    let mut loaded = rm.loaded_logs();
    let loader = {
        let (logs, rm) = (logs.clone(), rm.clone());
        std::thread::spawn(move || logs.load_logs(&|tp| rm.log_loaded(tp)))
    };
    let mut led = BTreeSet::new();
    let all_led = tokio::time::timeout(LOAD_BOUND, async {
        loop {
            loaded.borrow_and_update();
            for change in rm.apply_view(&view, &view, topic_config) {
                let RoleChange::BecameLeader(tp) = change else { panic!("only leadership is taken: {change:?}") };
                let partition = rm.partition(&tp).expect("a partition that took a role exists");
                assert_eq!(partition.log_end_offset(), BATCHES_PER_PARTITION, "{tp} became leader with its data");
                assert!(partition.config().cleanup_policy.compact, "{tp} has its topic's config, not the defaults");
                assert!(led.insert(tp.clone()), "{tp} took its leadership twice");
            }
            if led.len() == PARTITIONS as usize {
                return;
            }
            loaded.changed().await.expect("the replica manager lives");
        }
    })
    .await;
    assert!(all_led.is_ok(), "only {} of {PARTITIONS} partitions led within {LOAD_BOUND:?}", led.len());
    loader.join().expect("the loader does not panic").expect("every log loads");

    for p in 0..PARTITIONS {
        let tp = TopicPartition::new(TOPIC, p);
        let partition = rm.partition_or_error(&tp).expect("served");
        assert!(partition.is_leader(), "{tp}");
        let read = partition.read(0, 1 << 20, ReadBound::Follower, true, false);
        assert_eq!(read.error, ErrorCode::None, "{tp}");
        assert!(!read.records.is_empty(), "{tp} reads its records back");
    }
}
