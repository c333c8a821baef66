//! Startup in two steps (`LogManager::scan_locked`, then `load_logs`): a log found on disk and
//! not loaded yet is never replaced by a fresh empty one, keeps its checkpointed offsets, can be
//! deleted, and survives a shutdown that comes before it loads.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{T0, batch, small_config};
use sluice_storage::manager::CLEAN_SHUTDOWN_FILE;
use sluice_storage::{DirLock, LogManager, LogManagerConfig, ManualClock, StorageError, TopicPartition};

/// Batches of two records written to each partition.
const BATCHES: i64 = 20;

fn config(dir: &Path) -> LogManagerConfig {
    let mut c = LogManagerConfig::new(vec![dir.to_path_buf()]);
    c.default_log_config = small_config();
    c.recovery_threads_per_data_dir = 2;
    c
}

fn scan(dir: &Path) -> LogManager {
    let lock = DirLock::acquire(dir).expect("lock");
    LogManager::scan_locked(config(dir), Arc::new(ManualClock::new(T0)), vec![lock]).expect("scan")
}

fn tps(count: i32) -> Vec<TopicPartition> {
    (0..count).map(|p| TopicPartition::new("loading", p)).collect()
}

/// Writes `BATCHES` batches to each of `tps`, then shuts down cleanly or not (a dropped manager
/// leaves no clean-shutdown marker, as a crash).
fn write_logs(dir: &Path, tps: &[TopicPartition], clean: bool) {
    let mgr = LogManager::open(config(dir), Arc::new(ManualClock::new(T0))).expect("open");
    for tp in tps {
        let log = mgr.get_or_create_log(tp, small_config()).expect("create");
        let mut log = log.write();
        for k in 0..BATCHES {
            log.append_as_leader(&batch(2, 100, T0, k as u64), 0).expect("append");
        }
        log.update_high_watermark(2 * BATCHES);
    }
    if clean {
        mgr.shutdown().expect("shutdown");
    }
}

#[test]
fn pending_log_is_refused_until_loaded_then_served_with_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = tps(8);
    write_logs(dir.path(), &all, false);
    let mgr = scan(dir.path());
    for tp in &all {
        assert!(mgr.is_loading(tp), "{tp} is pending after the scan");
        assert!(mgr.get_log(tp).is_none(), "{tp} is not available before it loads");
        match mgr.get_or_create_log(tp, small_config()) {
            Err(StorageError::LogNotLoaded { tp: refused }) => assert_eq!(&refused, tp),
            other => panic!("{tp}: a pending log must be refused, got {other:?}"),
        }
    }
    assert_eq!(mgr.pending_count(), all.len());
    let announced = AtomicUsize::new(0);
    mgr.load_logs(&|tp| {
        assert!(mgr.get_log(tp).is_some(), "{tp} is available when announced");
        announced.fetch_add(1, Ordering::SeqCst);
    })
    .expect("load");
    assert_eq!(announced.load(Ordering::SeqCst), all.len(), "every loaded log is announced once");
    assert_eq!(mgr.pending_count(), 0);
    for tp in &all {
        let log = mgr.get_or_create_log(tp, small_config()).expect("loaded log");
        let log = log.read();
        assert_eq!(log.log_end_offset(), 2 * BATCHES, "{tp} kept its records");
        assert_eq!(log.high_watermark(), 0, "{tp}: no checkpoint was written before the crash");
    }
}

#[test]
fn scan_removes_the_clean_shutdown_marker_and_checkpoints_keep_pending_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = tps(4);
    write_logs(dir.path(), &all, true);
    let marker = dir.path().join(CLEAN_SHUTDOWN_FILE);
    assert!(marker.exists(), "a clean shutdown leaves its marker");
    let mgr = scan(dir.path());
    assert!(!marker.exists(), "the scan removes the marker before any log can change");
    // A checkpoint while every log is pending still lists them with their offsets.
    mgr.checkpoint().expect("checkpoint");
    let hws = fs::read_to_string(dir.path().join("replication-offset-checkpoint")).expect("hw checkpoint");
    for tp in &all {
        assert!(hws.contains(&format!("{} {} {}\n", tp.topic, tp.partition, 2 * BATCHES)), "{tp} in {hws:?}");
    }
    mgr.load_logs(&|_| {}).expect("load");
    for tp in &all {
        let log = mgr.get_log(tp).expect("loaded");
        let log = log.read();
        assert_eq!((log.high_watermark(), log.log_end_offset()), (2 * BATCHES, 2 * BATCHES), "{tp}");
    }
}

#[test]
fn shutdown_before_loading_leaves_every_log_for_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = tps(6);
    write_logs(dir.path(), &all, false);
    {
        let mgr = scan(dir.path());
        mgr.shutdown().expect("shutdown with every log pending");
        mgr.load_logs(&|tp| panic!("{tp} loaded after the shutdown")).expect("a stopped loader returns");
        assert_eq!(mgr.pending_count(), all.len());
    }
    assert!(
        !dir.path().join(CLEAN_SHUTDOWN_FILE).exists(),
        "logs that were never recovered leave no clean-shutdown marker"
    );
    let mgr = LogManager::open(config(dir.path()), Arc::new(ManualClock::new(T0))).expect("reopen");
    for tp in &all {
        assert_eq!(mgr.get_log(tp).expect("loaded").read().log_end_offset(), 2 * BATCHES, "{tp}");
    }
}

#[test]
fn deleting_a_pending_log_waits_for_its_loader_and_never_revives_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = tps(3);
    write_logs(dir.path(), &all, false);
    let mgr = scan(dir.path());
    let doomed = &all[1];
    mgr.delete_log(doomed).expect("delete while pending");
    assert!(
        matches!(mgr.get_or_create_log(doomed, small_config()), Err(StorageError::LogNotLoaded { .. })),
        "no log is created before the old files are gone"
    );
    assert!(dir.path().join(doomed.dir_name()).exists(), "the files stay until the loader gets to them");
    let announced = std::sync::Mutex::new(Vec::new());
    mgr.load_logs(&|tp| announced.lock().expect("not poisoned").push(tp.clone())).expect("load");
    let mut announced = announced.into_inner().expect("not poisoned");
    announced.sort();
    assert_eq!(announced, vec![all[0].clone(), all[2].clone()], "the deleted log is never announced");
    assert!(mgr.get_log(doomed).is_none());
    assert!(!dir.path().join(doomed.dir_name()).exists(), "its directory is gone");
    let fresh = mgr.get_or_create_log(doomed, small_config()).expect("created again");
    assert_eq!(fresh.read().log_end_offset(), 0, "a log created after the deletion starts empty");
}
