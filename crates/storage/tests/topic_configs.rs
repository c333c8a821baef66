//! The topic configs the log applies beyond size and retention: `file.delete.delay.ms`,
//! `segment.jitter.ms`, `preallocate`, and the cleaner's `min.cleanable.dirty.ratio`,
//! `min.compaction.lag.ms` and `max.compaction.lag.ms`.

mod common;

use std::fs;

use common::*;
use sluice_protocol::RecordBatchBuilder;
use sluice_storage::{CleanupPolicy, Clock, Log, LogConfig};

/// Appends one record of `key` at `ts`.
fn put(log: &mut Log, key: &str, value: &str, ts: i64) {
    let mut b = RecordBatchBuilder::new(ts);
    b.append(ts, Some(key.as_bytes()), Some(value.as_bytes()), &[]);
    log.append_as_leader(&b.build(), 0).expect("append");
}

/// Rolls and moves the high watermark to the end, so every closed segment is cleanable.
fn seal(log: &mut Log) {
    log.roll().expect("roll");
    let end = log.log_end_offset();
    log.update_high_watermark(end);
}

fn files_ending(dir: &std::path::Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

fn compacted(extra: impl FnOnce(&mut LogConfig)) -> LogConfig {
    let mut config = LogConfig { cleanup_policy: CleanupPolicy { delete: false, compact: true }, ..small_config() };
    extra(&mut config);
    config
}

#[test]
fn deleted_segments_wait_file_delete_delay_ms_before_their_files_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let config = LogConfig { retention_ms: 1_000, file_delete_delay_ms: 30_000, ..small_config() };
    let mut log = fresh(dir.path(), config, clock.clone());
    log.append_as_leader(&batch(5, 100, T0, 1), 0).expect("append");
    seal(&mut log);
    clock.advance_ms(2_000);
    assert_eq!(log.delete_old_segments().expect("retention"), 1);
    let waiting = files_ending(dir.path(), ".deleted");
    assert!(waiting.iter().any(|n| n.ends_with(".log.deleted")), "renamed, not removed: {waiting:?}");
    assert_eq!(log.pending_deleted_files().len(), waiting.len());
    assert_eq!(log.remove_deleted_files().expect("remove"), 0, "not due yet");
    clock.advance_ms(30_000);
    assert_eq!(log.remove_deleted_files().expect("remove"), waiting.len());
    assert!(files_ending(dir.path(), ".deleted").is_empty());

    // With no delay the files go at once.
    let mut config = log.config().clone();
    config.file_delete_delay_ms = 0;
    log.update_config(config);
    log.append_as_leader(&batch(5, 100, clock.now_ms(), 2), 0).expect("append");
    seal(&mut log);
    clock.advance_ms(2_000);
    assert_eq!(log.delete_old_segments().expect("retention"), 1);
    assert!(files_ending(dir.path(), ".deleted").is_empty());
}

#[test]
fn a_stop_before_the_delay_leaves_nothing_behind_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let config = LogConfig { retention_ms: 1_000, file_delete_delay_ms: 60_000, ..small_config() };
    let mut log = fresh(dir.path(), config.clone(), clock.clone());
    log.append_as_leader(&batch(5, 100, T0, 1), 0).expect("append");
    seal(&mut log);
    clock.advance_ms(2_000);
    log.delete_old_segments().expect("retention");
    assert!(!files_ending(dir.path(), ".deleted").is_empty());
    log.close().expect("close");
    drop(log);
    let log = fresh(dir.path(), config, clock.clone());
    assert!(files_ending(dir.path(), ".deleted").is_empty(), "removed on load, as Kafka does");
    assert_eq!(log.log_start_offset(), 5);
}

#[test]
fn segment_jitter_ms_rolls_segments_of_the_same_age_at_different_times() {
    let clock = clock();
    let config = LogConfig { segment_ms: 100_000, segment_jitter_ms: 100_000, ..small_config() };
    let dirs: Vec<_> = (0..8).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let mut logs: Vec<Log> = dirs.iter().map(|d| fresh(d.path(), config.clone(), clock.clone())).collect();
    let mut rolled_at: Vec<Option<i64>> = vec![None; logs.len()];
    for step in 1..=101i64 {
        let ts = T0 + step * 1_000;
        for (i, log) in logs.iter_mut().enumerate() {
            let before = log.num_segments();
            log.append_as_leader(&batch(1, 10, ts, step as u64), 0).expect("append");
            if rolled_at[i].is_none() && log.num_segments() > before {
                rolled_at[i] = Some(step);
            }
        }
    }
    assert!(rolled_at.iter().all(Option::is_some), "every log rolled by segment.ms: {rolled_at:?}");
    let first = rolled_at[0];
    assert!(rolled_at.iter().any(|r| *r != first), "jitter spreads the rolls: {rolled_at:?}");
}

#[test]
fn preallocate_reserves_a_segment_of_disk_and_gives_back_the_rest_on_roll() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let segment_bytes = 4 << 20;
    let config = LogConfig { segment_bytes, preallocate: true, ..small_config() };
    let mut log = fresh(dir.path(), config, clock.clone());
    let active = sluice_storage::segment::segment_file(dir.path(), 0, "log");
    let meta = fs::metadata(&active).expect("stat");
    assert_eq!(meta.len(), 0, "the file's size is what was appended");
    let allocated = |path: &std::path::Path| {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path).expect("stat").blocks() * 512
    };
    if allocated(&active) < segment_bytes {
        // A file system without fallocate: the config is accepted and changes nothing.
        eprintln!("this file system does not preallocate; skipping the disk checks");
        return;
    }
    log.append_as_leader(&batch(10, 100, T0, 1), 0).expect("append");
    seal(&mut log);
    assert!(allocated(&active) < 1 << 20, "the unused reservation went back on roll: {}", allocated(&active));
    // What was written reads back; reopening (recovery reads to the file's end) sees the same.
    assert_eq!(log.read(0, 1 << 20, i64::MAX, true).expect("read").next_offset, 10);
}

#[test]
fn compaction_waits_for_min_cleanable_dirty_ratio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let config = compacted(|c| c.min_cleanable_dirty_ratio = 0.5);
    let mut log = fresh(dir.path(), config, clock.clone());
    for round in 0..20 {
        for key in 0..10 {
            put(&mut log, &format!("k{key}"), &format!("v{round}"), T0);
        }
    }
    seal(&mut log);
    let first = log.compact().expect("compact");
    assert!(first.records_removed > 0, "a log never cleaned is all dirty");
    // A little new data: well under half of the cleanable bytes.
    put(&mut log, "k0", "fresh", T0);
    seal(&mut log);
    assert_eq!(log.compact().expect("compact").segments_rewritten, 0, "below the ratio, no pass");
    // Much more: over half.
    for round in 0..20 {
        for key in 0..10 {
            put(&mut log, &format!("k{key}"), &format!("w{round}"), T0);
        }
    }
    seal(&mut log);
    assert!(log.compact().expect("compact").records_removed > 0, "over the ratio, a pass");
}

#[test]
fn max_compaction_lag_ms_cleans_below_the_ratio_and_rolls_the_active_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let config = compacted(|c| {
        c.min_cleanable_dirty_ratio = 0.99;
        c.max_compaction_lag_ms = 10_000;
    });
    let mut log = fresh(dir.path(), config, clock.clone());
    for round in 0..20 {
        put(&mut log, "k", &format!("v{round}"), T0);
    }
    seal(&mut log);
    log.compact().expect("compact");
    put(&mut log, "k", "late", T0);
    // The active segment rolls once its first record is older than the lag...
    let before = log.num_segments();
    clock.advance_ms(11_000);
    put(&mut log, "other", "x", T0 + 11_000);
    assert!(log.num_segments() > before, "max.compaction.lag.ms rolled the active segment");
    log.update_high_watermark(log.log_end_offset());
    // ...and a dirty segment past the lag is cleaned though the ratio is far off.
    assert!(log.compact().expect("compact").records_removed > 0);
}

#[test]
fn min_compaction_lag_ms_keeps_recent_records_uncompacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let config = compacted(|c| c.min_compaction_lag_ms = 60_000);
    let mut log = fresh(dir.path(), config, clock.clone());
    for round in 0..20 {
        put(&mut log, "k", &format!("v{round}"), clock.now_ms());
    }
    seal(&mut log);
    assert_eq!(log.compact().expect("compact").records_removed, 0, "every record is younger than the lag");
    clock.advance_ms(61_000);
    put(&mut log, "k", "newest", clock.now_ms());
    seal(&mut log);
    assert!(log.compact().expect("compact").records_removed >= 19, "older than the lag: compacted");
}
