//! The log's lock discipline (Kafka's `UnifiedLog`): fsync, unlinking deleted segments and a
//! compaction's reading and rewriting run with no lock of the log held; under the lock only
//! decisions and in-memory updates. Each test runs the outside step on another thread while
//! the test thread holds the log's write lock (or takes it), and waits for that step on a
//! channel with a generous bound: were the step to need the lock, it could not finish.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::*;
use parking_lot::RwLock;
use sluice_protocol::RecordBatchBuilder;
use sluice_protocol::record_batch::BatchIter;
use sluice_storage::{CleanupPolicy, Clock, Log, LogConfig, SharedLog, jobs};

/// How long a step running on another thread may take before the test fails: a bound on a
/// wait, never a measurement.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

fn shared(log: Log) -> SharedLog {
    Arc::new(RwLock::new(log))
}

/// Runs `step` on a thread of its own and returns what it returned, failing the test if it
/// does not finish within `STEP_TIMEOUT`. The caller may hold any lock meanwhile.
fn on_another_thread<T: Send + 'static>(step: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(step());
    });
    let out = rx.recv_timeout(STEP_TIMEOUT).expect("the step finished while the test thread held the log's lock");
    handle.join().expect("step thread");
    out
}

fn files_ending(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

/// (a) The append that reaches `flush.messages` returns with the recovery point where it was:
/// it did not fsync under the lock. The job it made due syncs on another thread while this one
/// holds the write lock (and appends more), then moves the recovery point to what it synced.
#[test]
fn an_append_reaching_flush_messages_leaves_the_fsync_to_a_job_run_outside_the_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = shared(fresh(dir.path(), LogConfig { flush_messages: 10, ..small_config() }, clock()));
    for tag in 0..4 {
        let mut guard = log.write();
        guard.append_as_leader(&batch(3, 10, T0, tag), 0).expect("append");
        assert_eq!(guard.recovery_point(), 0, "no append fsyncs under the lock");
    }
    let job = {
        let mut guard = log.write();
        assert!(guard.flush_due(), "12 records reached flush.messages=10");
        guard.take_due_flush().expect("take").expect("a flush is due")
    };
    assert_eq!(job.up_to(), 12);

    let mut guard = log.write();
    let (job, outcome) = on_another_thread(move || {
        let outcome = job.run();
        (job, outcome)
    });
    guard.append_as_leader(&batch(3, 10, T0, 4), 0).expect("append while the job ran");
    assert_eq!(guard.recovery_point(), 0, "nothing moves the recovery point but the completion");
    guard.complete_flush(job, outcome).expect("complete");
    assert_eq!(guard.recovery_point(), 12, "up to what the job synced, not the later append");
    assert!(!guard.flush_due(), "3 records since the job was taken");
    drop(guard);

    // The broker's one call after an append: a no-op until due, then the whole job.
    sluice_storage::flush_if_due(&log).expect("nothing due");
    assert_eq!(log.read().recovery_point(), 12);
    for tag in 5..8 {
        log.write().append_as_leader(&batch(3, 10, T0, tag), 0).expect("append");
    }
    assert_eq!(log.read().recovery_point(), 12);
    sluice_storage::flush_if_due(&log).expect("flush");
    assert_eq!(log.read().recovery_point(), 24, "the log end: everything appended was synced");
}

/// (b) A flush job taken before a truncation completes without moving the recovery point: the
/// records below its offset are no longer the ones it synced, even once the log grows back
/// past that offset. The recovery point never passes the log end.
#[test]
fn a_flush_job_overtaken_by_a_truncation_leaves_the_recovery_point_within_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    for tag in 0..60 {
        log.append_as_leader(&batch(2, 200, T0, tag), 0).expect("append");
    }
    assert!(log.num_segments() > 1, "the job spans several segments");
    let job = log.take_flush_job(log.log_end_offset()).expect("take").expect("unflushed data");
    assert_eq!(job.up_to(), 120);

    log.truncate_to(5).expect("truncate");
    let outcome = job.run();
    log.complete_flush(job, outcome).expect("complete");
    assert!(log.recovery_point() <= log.log_end_offset(), "rp {} leo {}", log.recovery_point(), log.log_end_offset());
    assert!(log.recovery_point() <= 5, "not moved past the cut: {}", log.recovery_point());

    // Taken before another cut, completed after the log grew back past its offset.
    let job = log.take_flush_job(log.log_end_offset()).expect("take").expect("unflushed data");
    let before = log.recovery_point();
    log.truncate_to(2).expect("truncate");
    for tag in 100..200 {
        log.append_as_leader(&batch(2, 200, T0, tag), 0).expect("append");
    }
    assert!(log.log_end_offset() > job.up_to());
    let outcome = job.run();
    log.complete_flush(job, outcome).expect("complete");
    assert_eq!(log.recovery_point(), before.min(2), "a stale job moves nothing");

    // A job taken after the cuts does move it.
    log.flush().expect("flush");
    assert_eq!(log.recovery_point(), log.log_end_offset());
}

fn compacted_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4 * 1024,
        cleanup_policy: CleanupPolicy { delete: false, compact: true },
        delete_retention_ms: i64::MAX / 2,
        ..small_config()
    }
}

fn put(log: &mut Log, key: &str, value: &str, ts: i64) -> i64 {
    let mut b = RecordBatchBuilder::new(ts);
    b.append(ts, Some(key.as_bytes()), Some(value.as_bytes()), &[]);
    log.append_as_leader(&b.build(), 0).expect("append").first_offset
}

/// Every record in the log: offset -> (key, value).
fn contents(log: &Log) -> BTreeMap<i64, (String, String)> {
    let data = log.read(log.log_start_offset(), usize::MAX / 2, i64::MAX, true).expect("read");
    let mut out = BTreeMap::new();
    for item in BatchIter::new(&data.records) {
        let (_, raw) = item.expect("whole batches");
        sluice_protocol::record_batch::validate(raw).expect("valid CRC");
        let batch = sluice_protocol::RecordBatch::new(bytes::Bytes::copy_from_slice(raw)).expect("batch");
        for r in batch.records().expect("records") {
            let r = r.expect("record");
            let text = |b: Option<bytes::Bytes>| String::from_utf8(b.expect("set").to_vec()).expect("utf8");
            out.insert(r.offset, (text(r.key), text(r.value)));
        }
    }
    out
}

/// A compacted log of 10 keys written 30 times over, sealed: every segment but the new active
/// one is cleanable. Returns the latest offset of each key.
fn superseded_log(dir: &Path) -> (Log, BTreeMap<String, i64>) {
    let mut log = fresh(dir, compacted_config(), clock());
    let mut latest = BTreeMap::new();
    for round in 0..30 {
        for k in 0..10 {
            let key = format!("key-{k}");
            let offset = put(&mut log, &key, &format!("value-{round}"), T0 + round);
            latest.insert(key, offset);
        }
    }
    log.roll().expect("roll");
    let end = log.log_end_offset();
    log.update_high_watermark(end);
    (log, latest)
}

/// (c) Compaction's cleaning phase (reading every segment, rewriting the cleanable ones,
/// fsync) runs on another thread while this one holds the log's write lock, appends and
/// reads; the swap under the lock then keeps exactly the latest record per key, and the
/// records appended meanwhile.
#[test]
fn the_cleaning_phase_of_compaction_runs_while_another_thread_holds_the_log_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, latest) = superseded_log(dir.path());
    let log = shared(log);
    let plan = log.read().plan_compaction().expect("plan").expect("a round is due");
    assert!(log.read().plan_compaction().expect("plan").is_none(), "one round per log at a time");

    let mut guard = log.write();
    let cleaned = on_another_thread(move || plan.clean());
    let appended = put(&mut guard, "key-new", "appended while cleaning", T0 + 100);
    assert_eq!(contents(&guard).get(&appended).map(|r| r.1.as_str()), Some("appended while cleaning"));
    drop(guard);
    {
        let reader = log.read();
        assert!(contents(&reader).len() > 300, "nothing swapped in before the completion");
    }
    let cleaned = cleaned.expect("clean");
    assert!(cleaned.segments_rewritten() > 0);

    let stats = log.write().complete_compaction(cleaned).expect("swap");
    assert!(stats.records_removed >= 300 - 10 - 10, "{stats:?}");
    let log = log.read();
    let got = contents(&log);
    for (key, offset) in &latest {
        assert_eq!(got.get(offset).map(|r| &r.0), Some(key), "the latest {key} survives at its offset");
    }
    assert!(got.contains_key(&appended), "the record appended during the round survives");
    // Superseded records of the cleaned segments are gone (the active segment keeps its own).
    let active = log.active_segment_base_offset();
    let stale = got.iter().filter(|(o, (k, _))| **o < active && latest.get(k).is_some_and(|l| l != *o)).count();
    assert_eq!(stale, 0, "no superseded record left below the active segment");
    assert!(files_ending(dir.path(), ".cleaned").is_empty() && files_ending(dir.path(), ".swap").is_empty());
}

/// A truncation while the cleaning phase runs abandons the round at its completion: nothing is
/// swapped in (the cleaned bytes were read from records that may be gone), the temporary files
/// go, and the next round starts afresh.
#[test]
fn a_truncation_during_cleaning_abandons_the_compaction_round() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = superseded_log(dir.path());
    let plan = log.plan_compaction().expect("plan").expect("a round is due");
    let cleaned = plan.clean().expect("clean");
    assert!(cleaned.segments_rewritten() > 0);
    let cut = log.segment_base_offsets()[2] + 1;
    log.truncate_to(cut).expect("truncate");
    let before = contents(&log);
    let stats = log.complete_compaction(cleaned).expect("complete");
    assert_eq!(stats.segments_rewritten, 0, "{stats:?}");
    assert_eq!(contents(&log), before, "the log is as the truncation left it");
    log.remove_deleted_files().expect("remove");
    assert!(files_ending(dir.path(), ".cleaned").is_empty(), "{:?}", files_ending(dir.path(), ".cleaned"));
    assert!(files_ending(dir.path(), ".deleted").is_empty());
}

/// Retention that removes a segment while the cleaning phase runs wins: the completion swaps in
/// only the segments still in the log, so the removed one does not come back.
#[test]
fn a_segment_retention_removed_during_cleaning_is_not_swapped_back_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = superseded_log(dir.path());
    let plan = log.plan_compaction().expect("plan").expect("a round is due");
    let cleaned = plan.clean().expect("clean");
    let bases = log.segment_base_offsets();
    log.maybe_increment_log_start_offset(bases[1]).expect("delete records up to the second segment");
    assert_eq!(log.segment_base_offsets()[0], bases[1], "the first segment went");
    log.complete_compaction(cleaned).expect("complete");
    assert_eq!(log.segment_base_offsets()[0], bases[1], "and did not come back");
    assert_eq!(log.log_start_offset(), bases[1]);
    assert!(contents(&log).keys().all(|&o| o >= bases[1]));
}

/// (d) Retention takes segments out of the list under the lock and renames their files
/// `*.deleted` there (a rename, no data); the unlinking runs afterwards, on another thread while
/// this one holds the lock again. The shared-log driver does both with nothing left behind.
#[test]
fn retention_unlinks_segment_files_after_the_lock_is_released() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let config = LogConfig { retention_ms: 1_000, file_delete_delay_ms: 0, ..small_config() };
    let log = shared(fresh(dir.path(), config, clock.clone()));
    for tag in 0..150 {
        log.write().append_as_leader(&batch(2, 200, T0, tag), 0).expect("append");
    }
    let files = {
        let mut guard = log.write();
        let end = guard.log_end_offset();
        guard.update_high_watermark(end);
        let bases = guard.segment_base_offsets();
        assert!(bases.len() > 2);
        clock.advance_ms(2_000);
        let deleted = guard.detach_old_segments().expect("retention");
        assert_eq!(deleted, bases.len(), "every segment expired (a new one was rolled at the end)");
        assert_eq!(guard.segment_base_offsets(), vec![end]);
        let first = sluice_storage::segment::segment_file(dir.path(), bases[0], "log");
        assert!(!first.exists(), "the live name is gone under the lock");
        let files = guard.take_due_deleted_files();
        assert!(files.paths().len() >= 3 * bases.len(), "{:?}", files.paths());
        assert!(files.paths().iter().all(|p| p.exists()), "still on disk when the lock is released");
        files
    };
    let _guard = log.write();
    let removed = on_another_thread(move || files.remove()).expect("unlink");
    assert!(removed >= 3);
    assert!(files_ending(dir.path(), ".deleted").is_empty());
    drop(_guard);

    // The driver over the shared log: the same two steps.
    for tag in 150..300 {
        log.write().append_as_leader(&batch(2, 200, clock.now_ms(), tag), 0).expect("append");
    }
    let end = log.read().log_end_offset();
    log.write().update_high_watermark(end);
    clock.advance_ms(2_000);
    assert!(jobs::delete_old_segments(&log).expect("retention") > 0);
    assert_eq!(log.read().segment_base_offsets(), vec![end]);
    assert!(files_ending(dir.path(), ".deleted").is_empty());
}

/// A roll syncs nothing under the lock: the old segment (data and trimmed indexes) and the new
/// directory entries wait for the next flush job, which the log manager's maintenance takes
/// for rolled segments and which runs while another thread holds the lock.
#[test]
fn a_roll_leaves_the_old_segments_fsync_to_the_next_flush_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = shared(fresh(dir.path(), small_config(), clock()));
    let job = {
        let mut guard = log.write();
        for tag in 0..10 {
            guard.append_as_leader(&batch(2, 100, T0, tag), 0).expect("append");
        }
        guard.roll().expect("roll");
        let active = guard.active_segment_base_offset();
        assert_eq!(active, 20);
        assert_eq!(guard.recovery_point(), 0, "the roll synced nothing");
        guard.take_flush_job(active).expect("take").expect("the rolled segment is unflushed")
    };
    let mut guard = log.write();
    let (job, outcome) = on_another_thread(move || {
        let outcome = job.run();
        (job, outcome)
    });
    guard.complete_flush(job, outcome).expect("complete");
    assert_eq!(guard.recovery_point(), 20, "the rolled segment is durable");
}

/// An fsync that fails is an environment failure: completing its job takes the log offline
/// (loudly, as any failed change), and later appends are refused.
#[test]
fn a_failed_flush_job_takes_the_log_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), LogConfig { flush_messages: 1, ..small_config() }, clock());
    log.append_as_leader(&batch(2, 100, T0, 0), 0).expect("append");
    let job = log.take_due_flush().expect("take").expect("due");
    let failure = sluice_storage::StorageError::Io {
        op: "fsync segment",
        path: dir.path().join("00000000000000000000.log"),
        source: std::io::Error::other("injected EIO"),
    };
    assert!(log.complete_flush(job, Err(failure)).is_err());
    assert!(log.is_offline());
    assert_eq!(log.recovery_point(), 0);
    let refused = log.append_as_leader(&batch(2, 100, T0, 1), 0).expect_err("offline");
    assert!(matches!(refused, sluice_storage::StorageError::LogOffline { .. }), "{refused}");
    assert!(!log.flush_due(), "an offline log has no flush due");
}
