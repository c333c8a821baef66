//! The purgatories on a real replica manager and real logs (issue 19): an `acks=all` produce
//! over several partitions is one `DelayedProduce` that completes when the last partition is
//! replicated, and a parked `DelayedFetch` is woken by events on its own partitions only — a
//! follower's by appends, a consumer's by high-watermark moves.
//!
//! Broker 1 leads every partition with broker 2 as its follower (both in the ISR); the test
//! plays the follower by recording its fetches, as the Fetch handler does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sluice_broker::cluster::cache::{ClusterView, TopicView, VersionedState};
use sluice_broker::cluster::znodes::PartitionState;
use sluice_broker::error::ErrorCode;
use sluice_broker::purgatory::{DeferredWakes, DelayedFetch, DelayedProduce, FetchWatch};
use sluice_broker::replica_manager::{Partition, ReplicaManager};
use sluice_protocol::RecordBatchBuilder;
use sluice_storage::{LogConfig, LogManager, LogManagerConfig, SystemClock, TopicPartition};

const LEADER: i32 = 1;
const FOLLOWER: i32 = 2;
const TOPIC: &str = "orders";
const PARTITIONS: i32 = 3;
/// Longer than any test runs: a wait that ends proves its condition, not its timeout.
const NEVER: Duration = Duration::from_secs(3_600);
/// A generous bound on something that must happen.
const BOUND: Duration = Duration::from_secs(30);

fn view() -> ClusterView {
    let state = VersionedState {
        state: PartitionState {
            version: 1,
            leader: LEADER,
            leader_epoch: 1,
            isr: vec![LEADER, FOLLOWER],
            controller_epoch: 1,
        },
        zk_version: 0,
    };
    let topic = TopicView {
        assignment: (0..PARTITIONS).map(|p| (p, vec![LEADER, FOLLOWER])).collect(),
        states: (0..PARTITIONS).map(|p| (p, state.clone())).collect(),
        ..Default::default()
    };
    ClusterView { synced: true, topics: BTreeMap::from([(TOPIC.to_string(), topic)]), ..Default::default() }
}

fn leading_replica_manager(dir: &std::path::Path) -> ReplicaManager {
    let logs = Arc::new(
        LogManager::open(LogManagerConfig::new(vec![dir.to_path_buf()]), Arc::new(SystemClock)).expect("open"),
    );
    let rm = ReplicaManager::new(LEADER, logs, Arc::new(SystemClock), 2);
    let changes = rm.apply_view(&ClusterView::default(), &view(), |_| (LogConfig::default(), 2));
    assert_eq!(changes.len(), PARTITIONS as usize, "broker {LEADER} leads every partition: {changes:?}");
    // The follower has fetched once (everything, at offset 0): it is known and caught up.
    for p in 0..PARTITIONS {
        rm.record_follower_fetch(&partition(&rm, p), FOLLOWER, 0);
    }
    rm
}

fn partition(rm: &ReplicaManager, p: i32) -> Arc<Partition> {
    rm.partition(&TopicPartition::new(TOPIC, p)).expect("hosted partition")
}

fn batch() -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(1_700_000_000_000);
    b.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[]);
    b.build()
}

/// A parked fetch was woken (a wake-up is kept until the wait: a zero wait sees it).
async fn woken(fetch: &DelayedFetch) -> bool {
    fetch.wait(Duration::ZERO).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_partition_acks_all_produce_completes_when_the_last_partition_is_replicated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rm = Arc::new(leading_replica_manager(dir.path()));
    let mut delayed = DelayedProduce::new();
    let mut results = Vec::new();
    for p in 0..PARTITIONS {
        let (result, pending) =
            rm.append_produced(&TopicPartition::new(TOPIC, p), &batch(), -1, None, &mut DeferredWakes::default());
        assert_eq!(result.error, ErrorCode::None, "partition {p} appended");
        results.push(result);
        delayed.add(pending.expect("acks=all waits for the ISR"));
    }
    let waiting = tokio::spawn(delayed.complete(NEVER));

    // The follower catches up on the first two partitions: the request is still waiting.
    for p in 0..PARTITIONS - 1 {
        let leo = partition(&rm, p).log_end_offset();
        rm.record_follower_fetch(&partition(&rm, p), FOLLOWER, leo);
        assert_eq!(partition(&rm, p).high_watermark(), leo, "partition {p}'s high watermark passed its batch");
    }
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished(), "answered before the last partition was replicated");

    // The last one: the request completes at once, not at its (hour-long) timeout.
    let last = partition(&rm, PARTITIONS - 1);
    let leo = last.log_end_offset();
    rm.record_follower_fetch(&last, FOLLOWER, leo);
    let codes = tokio::time::timeout(BOUND, waiting).await.expect("completed by replication").expect("task");
    assert_eq!(codes, vec![ErrorCode::None; PARTITIONS as usize]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acks_all_produce_times_out_per_partition_when_the_follower_never_fetches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rm = leading_replica_manager(dir.path());
    let mut delayed = DelayedProduce::new();
    for p in 0..2 {
        let (_, pending) =
            rm.append_produced(&TopicPartition::new(TOPIC, p), &batch(), -1, None, &mut DeferredWakes::default());
        delayed.add(pending.expect("acks=all waits"));
    }
    let leo = partition(&rm, 0).log_end_offset();
    rm.record_follower_fetch(&partition(&rm, 0), FOLLOWER, leo);
    let codes = tokio::time::timeout(BOUND, delayed.complete(Duration::from_millis(50))).await.expect("bounded");
    assert_eq!(codes, vec![ErrorCode::None, ErrorCode::RequestTimedOut]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_fetch_parked_on_one_partition_is_not_woken_by_appends_to_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rm = leading_replica_manager(dir.path());
    let (a, b) = (TopicPartition::new(TOPIC, 0), TopicPartition::new(TOPIC, 1));
    let fetch = DelayedFetch::new();
    fetch.watch(&partition(&rm, 0), FetchWatch::LogEnd);

    let (result, _) = rm.append_produced(&b, &batch(), 1, None, &mut DeferredWakes::default());
    assert_eq!(result.error, ErrorCode::None);
    assert!(!woken(&fetch).await, "an append to {b} woke a fetch parked on {a}");

    let (result, _) = rm.append_produced(&a, &batch(), 1, None, &mut DeferredWakes::default());
    assert_eq!(result.error, ErrorCode::None);
    assert!(woken(&fetch).await, "an append to {a} did not wake the fetch parked on it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_fetch_wakes_when_the_high_watermark_moves_not_at_the_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rm = leading_replica_manager(dir.path());
    let tp = TopicPartition::new(TOPIC, 0);
    let fetch = DelayedFetch::new();
    fetch.watch(&partition(&rm, 0), FetchWatch::HighWatermark);

    let (result, _) = rm.append_produced(&tp, &batch(), -1, None, &mut DeferredWakes::default());
    assert_eq!(result.error, ErrorCode::None);
    assert!(!woken(&fetch).await, "woken by an append the consumer may not read yet");

    let leo = partition(&rm, 0).log_end_offset();
    rm.record_follower_fetch(&partition(&rm, 0), FOLLOWER, leo);
    assert!(woken(&fetch).await, "the high watermark moved and the consumer's fetch slept on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_fetch_wakes_when_its_partition_changes_leader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rm = leading_replica_manager(dir.path());
    let fetch = DelayedFetch::new();
    fetch.watch(&partition(&rm, 2), FetchWatch::HighWatermark);
    let mut moved = view();
    let topic = moved.topics.get_mut(TOPIC).expect("topic");
    let state = topic.states.get_mut(&2).expect("state");
    state.state.leader = FOLLOWER;
    state.state.leader_epoch = 2;
    state.zk_version = 1;
    rm.apply_view(&view(), &moved, |_| (LogConfig::default(), 2));
    assert!(woken(&fetch).await, "the fetch slept through its partition's leadership moving away");
}

/// A follower parked on two partitions of one produce request is woken once both are appended,
/// not after the first (when it would answer with the first partition's batch alone and fetch
/// the second a round trip later, which the request's acks=all then waits for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_fetch_is_woken_after_the_last_append_of_a_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rm = leading_replica_manager(dir.path());
    let fetch = DelayedFetch::new();
    fetch.watch(&partition(&rm, 0), FetchWatch::LogEnd);
    fetch.watch(&partition(&rm, 1), FetchWatch::LogEnd);

    let mut wakes = DeferredWakes::default();
    for p in [0, 1] {
        let (result, _) = rm.append_produced(&TopicPartition::new(TOPIC, p), &batch(), -1, None, &mut wakes);
        assert_eq!(result.error, ErrorCode::None);
        assert!(!woken(&fetch).await, "woken after partition {p}'s append, before the request's last");
    }
    drop(wakes);
    assert!(woken(&fetch).await, "the request's appends done, the parked follower fetch was not woken");
    assert_eq!((partition(&rm, 0).log_end_offset(), partition(&rm, 1).log_end_offset()), (1, 1));
}
