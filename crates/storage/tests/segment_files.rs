//! Descriptors grow with the segments in use, not the segments on disk: an inactive segment's
//! files open on first use and close once cold (the log manager's maintenance), the active
//! segment stays open, and every reader of an inactive segment (fetch, offset for timestamp,
//! retention, the cleaner, recovery) still works on segments that were closed. Descriptors are
//! counted in `/proc/self/fd`, only those pointing into the test's own directory, so tests
//! running in parallel do not disturb each other's counts.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use common::{T0, batch, batches_of, small_config};
use sluice_storage::manager::CLEAN_SHUTDOWN_FILE;
use sluice_storage::{
    CleanupPolicy, LogConfig, LogManager, LogManagerConfig, ManualClock, SharedLog, StorageError, TopicPartition,
};

/// How long a segment stays open after its last use, in these tests.
const IDLE_MS: i64 = 1_000;

/// The directory lock (`.lock`, flock'ed) each log manager holds in its directory.
const LOCK_FDS: usize = 1;

/// Descriptors of this process that point at files under `dir`.
fn fds_under(dir: &Path) -> usize {
    let dir = fs::canonicalize(dir).expect("canonical dir");
    fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .count()
}

fn manager(dir: &Path, clock: Arc<ManualClock>, threads: usize) -> LogManager {
    let mut c = LogManagerConfig::new(vec![dir.to_path_buf()]);
    c.default_log_config = small_config();
    c.cold_segment_idle_ms = IDLE_MS;
    c.recovery_threads_per_data_dir = threads;
    LogManager::open(c, clock).expect("open manager")
}

/// Appends `batches` batches of 10 records (300-byte values, timestamps from `T0 + 10 * i`):
/// with `small_config` about four batches fill a segment.
fn fill(log: &SharedLog, batches: u64) {
    let mut log = log.write();
    for i in 0..batches {
        log.append_as_leader(&batch(10, 300, T0 + 10 * i as i64, i), 0).expect("append");
    }
    let end = log.log_end_offset();
    log.update_high_watermark(end);
    log.flush().expect("flush");
}

/// Runs maintenance until cold segments are closed: one pass notes them unused, one an idle
/// period later closes them.
fn close_cold(mgr: &LogManager, clock: &ManualClock) -> usize {
    let mut closed = 0;
    for _ in 0..3 {
        clock.advance_ms(IDLE_MS);
        closed += mgr.maintenance().segments_closed;
    }
    closed
}

fn read_all(log: &SharedLog) -> Vec<(i64, i64, Vec<u8>)> {
    let log = log.read();
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let data = log.read(offset, 64 * 1024, log.log_end_offset(), true).expect("read");
        assert!(data.next_offset > offset, "a read makes progress at {offset}");
        out.extend(batches_of(&data.records));
        offset = data.next_offset;
    }
    out
}

#[test]
fn cold_segments_close_and_reads_of_them_are_still_correct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let mgr = manager(dir.path(), clock.clone(), 1);
    let log = mgr.get_or_create_log(&TopicPartition::new("many", 0), small_config()).expect("create");
    fill(&log, 400);
    let segments = log.read().num_segments();
    assert!(segments >= 80, "many segments: {segments}");
    let before = read_all(&log);
    assert_eq!(before.len(), 400);

    let closed = close_cold(&mgr, &clock);
    assert_eq!(closed, segments - 1, "every inactive segment closes once cold");
    assert_eq!(log.read().open_segment_count(), 1, "the active segment stays open");
    assert_eq!(fds_under(dir.path()), LOCK_FDS + 1, "one descriptor: the active segment's .log (indexes are mappings)");

    // Reads of closed segments open them again and return the same bytes.
    assert_eq!(read_all(&log), before, "reads after closing");
    assert!(fds_under(dir.path()) >= segments, "reading every segment opened every one");
    let found = log.read().fetch_offset_by_timestamp(T0 + 10 * 123 + 4).expect("lookup").expect("found");
    assert_eq!(found.offset, 123 * 10 + 4, "offset for timestamp in a reopened segment");
    close_cold(&mgr, &clock);
    assert_eq!(fds_under(dir.path()), LOCK_FDS + 1, "closed again once cold");

    // A segment used within the idle period stays open.
    let second = log.read().segment_base_offsets()[1];
    clock.advance_ms(IDLE_MS);
    mgr.maintenance();
    log.read().read(second, 100, i64::MAX, true).expect("read the second segment");
    clock.advance_ms(IDLE_MS);
    mgr.maintenance();
    assert_eq!(log.read().open_segment_count(), 2, "a segment read since the last pass stays open");

    // Offset-for-timestamp on closed segments, from a cold start.
    close_cold(&mgr, &clock);
    let found = log.read().fetch_offset_by_timestamp(T0 + 10 * 250).expect("lookup").expect("found");
    assert_eq!(found.offset, 2_500);
    let max = log.read().fetch_offset_by_timestamp(sluice_storage::MAX_TIMESTAMP).expect("lookup").expect("found");
    assert_eq!(max.offset, 3_999, "the largest timestamp is the last record's");
}

#[test]
fn retention_deletes_closed_segments_and_the_rest_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let mgr = manager(dir.path(), clock.clone(), 1);
    let log = mgr.get_or_create_log(&TopicPartition::new("retained", 0), small_config()).expect("create");
    fill(&log, 200);
    let all = read_all(&log);
    close_cold(&mgr, &clock);
    assert_eq!(fds_under(dir.path()), LOCK_FDS + 1);

    let keep_bytes = 40 * 1024;
    log.write().update_config(LogConfig { retention_bytes: keep_bytes, ..small_config() });
    let deleted = log.write().delete_old_segments().expect("retention");
    assert!(deleted > 10, "retention by bytes deleted closed segments: {deleted}");
    let log_start = log.read().log_start_offset();
    let size = log.read().size_in_bytes();
    let segment_bytes = small_config().segment_bytes;
    assert!(size < keep_bytes as u64 + segment_bytes, "retention.bytes holds (within a segment): {size}");
    let kept: Vec<_> = all.iter().filter(|b| b.0 >= log_start).cloned().collect();
    assert_eq!(read_all(&log), kept, "what retention kept reads back unchanged");
    let files = fs::read_dir(log.read().dir()).expect("list").count();
    assert!(files < 3 * 200 / 4, "deleted segments' files are gone: {files} files left");
}

#[test]
fn the_cleaner_compacts_closed_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let mgr = manager(dir.path(), clock.clone(), 1);
    let config = LogConfig { cleanup_policy: CleanupPolicy { delete: false, compact: true }, ..small_config() };
    let log = mgr.get_or_create_log(&TopicPartition::new("compacted", 0), config).expect("create");
    // `batch` keys records key-0..key-9: every batch supersedes the previous one.
    fill(&log, 120);
    close_cold(&mgr, &clock);
    assert_eq!(log.read().open_segment_count(), 1);
    let stats = log.write().compact().expect("compact");
    assert!(stats.records_removed > 1_000, "compaction removed superseded records: {stats:?}");
    let survivors = read_all(&log);
    // The latest batch below the active segment, and everything in the active one, survive.
    let last = survivors.last().expect("records left");
    assert_eq!(last.1, 1_199, "the last record survives with its offset");
    assert!(survivors.len() < 20, "only the latest records survive: {}", survivors.len());
    close_cold(&mgr, &clock);
    assert_eq!(fds_under(dir.path()), LOCK_FDS + 1, "rewritten segments close when cold too");
}

#[test]
fn an_unclean_restart_loads_many_logs_in_parallel_holding_one_descriptor_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let logs = 24;
    let mut contents = Vec::new();
    {
        let mgr = manager(dir.path(), clock.clone(), 1);
        for p in 0..logs {
            let log = mgr.get_or_create_log(&TopicPartition::new("restart", p), small_config()).expect("create");
            fill(&log, 20 + p as u64);
            contents.push(read_all(&log));
        }
        mgr.checkpoint().expect("checkpoint");
        // Dropped without shutdown: no clean-shutdown marker.
    }
    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    let mgr = manager(dir.path(), clock.clone(), 4);
    assert_eq!(mgr.all_logs().len(), logs as usize);
    assert_eq!(fds_under(dir.path()), LOCK_FDS + logs as usize, "one .log per partition");
    for p in 0..logs {
        let log = mgr.get_log(&TopicPartition::new("restart", p)).expect("loaded");
        assert_eq!(read_all(&log), contents[p as usize], "partition {p} reads back after recovery");
    }
}

#[test]
fn a_closed_segment_whose_file_vanished_is_an_io_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let mgr = manager(dir.path(), clock.clone(), 1);
    let log = mgr.get_or_create_log(&TopicPartition::new("vanished", 0), small_config()).expect("create");
    fill(&log, 20);
    close_cold(&mgr, &clock);
    let first = log.read().segment_base_offsets()[0];
    fs::remove_file(log.read().dir().join(format!("{first:020}.log"))).expect("remove");
    match log.read().read(first, 1_000, i64::MAX, true) {
        Err(StorageError::Io { path, .. }) => assert!(path.ends_with(format!("{first:020}.log")), "{path:?}"),
        other => panic!("expected an I/O error naming the file, got {other:?}"),
    }
}
