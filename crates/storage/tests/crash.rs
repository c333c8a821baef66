//! Crash tests on real files. A log is written and left without a clean shutdown (or its files
//! are damaged afterwards): the active `.log` cut at many byte positions, bytes garbled inside
//! it, index files garbled or deleted, the clean-shutdown marker dropped. Reopening must never
//! return a corrupt batch and must keep every complete batch before the damage.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use sluice_storage::manager::CLEAN_SHUTDOWN_FILE;
use sluice_storage::{Log, LogConfig, LogLoadParams, LogManager, LogManagerConfig, ManualClock};

/// A small deterministic generator (xorshift64*), so failures replay.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Writes `count` batches of varying size to a fresh log and returns `(end position, next
/// offset)` of every batch in the active segment, plus the directory's files.
fn write_log(dir: &Path, count: u64) -> Vec<(i64, i64)> {
    let mut log = fresh(dir, small_config(), clock());
    let mut ranges = Vec::new();
    for tag in 0..count {
        let records = 1 + (tag % 4) as usize;
        let info = log
            .append_as_leader(&batch(records, 50 + (tag as usize * 37) % 300, T0 + tag as i64, tag), 1)
            .expect("append");
        ranges.push((info.first_offset, info.last_offset));
    }
    // Dropped without close(): an unclean stop (data is in the page cache, indexes untrimmed).
    ranges
}

fn active_log_file(dir: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().expect("at least one segment")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("list") {
        let e = e.expect("entry");
        fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

fn reopen_unclean(dir: &Path) -> Log {
    open(dir, small_config(), clock(), LogLoadParams { had_clean_shutdown: false, ..Default::default() })
}

/// Every batch in the log, read from the start, each CRC-checked by `batches_of`.
fn all_batches(log: &Log) -> Vec<(i64, i64)> {
    let read = log.read(log.log_start_offset(), usize::MAX / 2, i64::MAX, true).expect("read all");
    batches_of(&read.records).into_iter().map(|(b, l, _)| (b, l)).collect()
}

#[test]
fn recovery_truncates_torn_tail_at_every_cut_position() {
    let origin = tempfile::tempdir().expect("tempdir");
    let ranges = write_log(origin.path(), 150);
    let active = active_log_file(origin.path());
    let active_base: i64 = active.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()).expect("base");
    let len = fs::metadata(&active).expect("stat").len();
    // Batch end positions within the active segment.
    let mut rng = Rng(0x5eed_1234);
    let mut cuts: Vec<u64> = (0..40).map(|_| rng.below(len)).collect();
    cuts.extend([0, 1, 11, 12, 60, 61, len - 1]);
    for cut in cuts {
        let work = tempfile::tempdir().expect("tempdir");
        copy_dir(origin.path(), work.path());
        let file = work.path().join(active.file_name().expect("name"));
        fs::OpenOptions::new().write(true).open(&file).expect("open").set_len(cut).expect("cut");
        let mut log = reopen_unclean(work.path());
        let got = all_batches(&log);
        // Expected: every batch before the active segment, and those of the active segment
        // that end at or before the cut (sizes read from the original file).
        let original = fs::read(&active).expect("read original");
        let mut complete_in_active = 0;
        let mut pos = 0usize;
        while pos + 12 <= original.len() {
            let size = 12 + u32::from_be_bytes(original[pos + 8..pos + 12].try_into().expect("4")) as usize;
            if (pos + size) as u64 <= cut {
                complete_in_active += 1;
            }
            pos += size;
        }
        let before_active = ranges.iter().filter(|r| r.0 < active_base).count();
        let expected: Vec<(i64, i64)> = ranges.iter().copied().take(before_active + complete_in_active).collect();
        assert_eq!(got, expected, "cut at byte {cut} of {len}");
        let next = expected.last().map_or(active_base, |r| r.1 + 1);
        assert_eq!(log.log_end_offset(), next, "cut at byte {cut}");
        // The log takes appends again right where the valid data ends.
        let info = log.append_as_leader(&batch(1, 10, T0, 999), 1).expect("append after recovery");
        assert_eq!(info.first_offset, next);
    }
}

#[test]
fn recovery_stops_at_a_garbled_batch_and_keeps_everything_before_it() {
    let origin = tempfile::tempdir().expect("tempdir");
    write_log(origin.path(), 150);
    let active = active_log_file(origin.path());
    let original = fs::read(&active).expect("read");
    let mut rng = Rng(0xdead_beef);
    for _ in 0..30 {
        let work = tempfile::tempdir().expect("tempdir");
        copy_dir(origin.path(), work.path());
        let file = work.path().join(active.file_name().expect("name"));
        let mut bytes = original.clone();
        let at = rng.below(bytes.len() as u64) as usize;
        bytes[at] ^= 1 << rng.below(8);
        fs::write(&file, &bytes).expect("write garbled");
        // Which batch holds the damaged byte?
        let mut pos = 0usize;
        let mut intact = 0usize;
        while pos + 12 <= original.len() {
            let size = 12 + u32::from_be_bytes(original[pos + 8..pos + 12].try_into().expect("4")) as usize;
            if pos + size > at {
                break;
            }
            intact += 1;
            pos += size;
        }
        let log = reopen_unclean(work.path());
        let got = all_batches(&log); // every batch CRC-checked
        let base: i64 = active.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()).expect("base");
        let in_active = got.iter().filter(|r| r.0 >= base).count();
        // A flipped base-offset or epoch bit is outside the CRC; it can only be caught as an
        // offset going backwards, or not at all when it still looks consistent. Either way no
        // batch that fails its CRC comes back, and no intact batch before the damage is lost.
        assert!(in_active >= intact, "byte {at}: kept {in_active} batches, {intact} were intact before it");
    }
}

#[test]
fn deleted_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let before;
    {
        let mut log = fresh(dir.path(), small_config(), clock.clone());
        for k in 0..300 {
            log.append_as_leader(&batch(3, 100, T0 + k, k as u64), 0).expect("append");
        }
        before = all_batches(&log);
        log.close().expect("close");
    }
    for e in fs::read_dir(dir.path()).expect("list") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "index" || x == "timeindex") {
            fs::remove_file(&p).expect("delete index");
        }
    }
    let params = LogLoadParams { recovery_point: 900, had_clean_shutdown: true, ..Default::default() };
    let log = open(dir.path(), small_config(), clock, params);
    assert_eq!(all_batches(&log), before);
    for offset in [0, 1, 450, 899] {
        let read = log.read(offset, 500, i64::MAX, true).expect("read");
        let first = (batches_of(&read.records)[0].0, batches_of(&read.records)[0].1);
        assert!(first.0 <= offset && offset <= first.1);
    }
    let found = log.fetch_offset_by_timestamp(T0 + 200).expect("lookup").expect("found");
    // Batch k holds timestamps T0+k..T0+k+2 at offsets 3k..3k+2: T0+200 first appears in batch 198.
    assert_eq!(found.offset, 198 * 3 + 2);
    let index = fs::read_dir(dir.path())
        .expect("list")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "index")))
        .count();
    assert_eq!(index, log.num_segments(), "every segment has its index again");
}

#[test]
fn garbled_index_files_never_misdirect_reads() {
    let origin = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let before;
    {
        let mut log = fresh(origin.path(), small_config(), clock.clone());
        for k in 0..300 {
            log.append_as_leader(&batch(3, 100, T0 + k, k as u64), 0).expect("append");
        }
        before = all_batches(&log);
        log.close().expect("close");
    }
    let mut rng = Rng(42);
    for round in 0..20 {
        let work = tempfile::tempdir().expect("tempdir");
        copy_dir(origin.path(), work.path());
        // Garble every index file in one of three ways.
        for e in fs::read_dir(work.path()).expect("list") {
            let p = e.expect("entry").path();
            if !p.extension().is_some_and(|x| x == "index" || x == "timeindex") {
                continue;
            }
            let mut bytes = fs::read(&p).expect("read index");
            match round % 3 {
                0 => bytes.iter_mut().for_each(|b| *b = rng.next() as u8),
                1 if !bytes.is_empty() => {
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes[at] ^= 0xff;
                }
                _ => bytes.truncate(bytes.len().saturating_sub(3)),
            }
            fs::write(&p, bytes).expect("write garbage");
        }
        let params = LogLoadParams { recovery_point: 900, had_clean_shutdown: true, ..Default::default() };
        let log = open(work.path(), small_config(), clock.clone(), params);
        assert_eq!(all_batches(&log), before, "round {round}");
        for offset in (0..900).step_by(37) {
            let read = log.read(offset, 300, i64::MAX, true).expect("read");
            let first = (batches_of(&read.records)[0].0, batches_of(&read.records)[0].1);
            assert!(first.0 <= offset && offset <= first.1, "round {round}: offset {offset} read batch {first:?}");
        }
        let found = log.fetch_offset_by_timestamp(T0 + 123).expect("lookup").expect("found");
        assert_eq!(found.offset, 121 * 3 + 2, "round {round}: T0+123 first appears in batch 121");
    }
}

fn manager(dir: &Path) -> LogManager {
    let mut c = LogManagerConfig::new(vec![dir.to_path_buf()]);
    c.default_log_config = small_config();
    LogManager::open(c, Arc::new(ManualClock::new(T0))).expect("open manager")
}

#[test]
fn missing_clean_shutdown_marker_triggers_recovery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tp = tp();
    {
        let mgr = manager(dir.path());
        let log = mgr.get_or_create_log(&tp, small_config()).expect("create");
        for k in 0..100 {
            log.write().append_as_leader(&batch(2, 100, T0, k), 0).expect("append");
        }
        mgr.shutdown().expect("shutdown");
    }
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists(), "clean shutdown leaves its marker");
    // Damage the tail, then drop the marker: only recovery can notice the damage.
    let active = active_log_file(&dir.path().join(tp.dir_name()));
    let len = fs::metadata(&active).expect("stat").len();
    fs::OpenOptions::new().write(true).open(&active).expect("open").set_len(len - 5).expect("cut");
    fs::remove_file(dir.path().join(CLEAN_SHUTDOWN_FILE)).expect("drop marker");
    let mgr = manager(dir.path());
    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists(), "marker removed while running");
    let log = mgr.get_log(&tp).expect("loaded");
    let log = log.read();
    assert_eq!(log.log_end_offset(), 198, "the torn last batch is gone");
    assert_eq!(all_batches(&log).len(), 99);
}

#[test]
fn clean_shutdown_keeps_offsets_checkpoints_and_skips_recovery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tp = tp();
    {
        let mgr = manager(dir.path());
        let log = mgr.get_or_create_log(&tp, small_config()).expect("create");
        let mut log = log.write();
        for k in 0..100 {
            log.append_as_leader(&batch(2, 100, T0, k), 0).expect("append");
        }
        log.update_high_watermark(150);
        drop(log);
        mgr.delete_records(&tp, 31).expect("delete records");
        mgr.shutdown().expect("shutdown");
    }
    let checkpoint = fs::read_to_string(dir.path().join("replication-offset-checkpoint")).expect("hw checkpoint");
    assert_eq!(checkpoint, "0\n1\nevents 0 150\n");
    let mgr = manager(dir.path());
    let log = mgr.get_log(&tp).expect("loaded");
    let log = log.read();
    assert_eq!((log.log_start_offset(), log.high_watermark(), log.log_end_offset()), (31, 150, 200));
}

#[test]
fn a_log_directory_is_used_by_one_process_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = manager(dir.path());
    let mut c = LogManagerConfig::new(vec![dir.path().to_path_buf()]);
    c.default_log_config = LogConfig::default();
    let second = LogManager::open(c, Arc::new(ManualClock::new(T0)));
    assert!(matches!(second, Err(sluice_storage::StorageError::DirLocked { .. })));
}

#[test]
fn deleted_logs_are_gone_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keep = sluice_storage::TopicPartition::new("keep-me", 0);
    {
        let mgr = manager(dir.path());
        mgr.get_or_create_log(&tp(), small_config())
            .expect("create")
            .write()
            .append_as_leader(&batch(1, 1, T0, 0), 0)
            .expect("append");
        mgr.get_or_create_log(&keep, small_config()).expect("create");
        mgr.delete_log(&tp()).expect("delete");
        assert!(mgr.get_log(&tp()).is_none());
        mgr.shutdown().expect("shutdown");
    }
    let mgr = manager(dir.path());
    assert!(mgr.get_log(&tp()).is_none());
    assert!(mgr.get_log(&keep).is_some());
    assert!(!dir.path().join(tp().dir_name()).exists());
}

#[test]
fn maintenance_applies_retention_and_flushes_rolled_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let mut c = LogManagerConfig::new(vec![dir.path().to_path_buf()]);
    c.default_log_config = LogConfig { retention_ms: 60_000, ..small_config() };
    let mgr = LogManager::open(c.clone(), clock.clone()).expect("open");
    let log = mgr.get_or_create_log(&tp(), c.default_log_config.clone()).expect("create");
    {
        let mut log = log.write();
        for k in 0..200 {
            log.append_as_leader(&batch(2, 200, T0, k), 0).expect("append");
        }
        let end = log.log_end_offset();
        log.update_high_watermark(end);
        assert_eq!(log.recovery_point(), 0);
    }
    let report = mgr.maintenance();
    assert_eq!(report.segments_deleted, 0, "retention check interval has not passed");
    assert_eq!(report.logs_flushed, 1, "rolled segments are flushed");
    assert_eq!(log.read().recovery_point(), log.read().active_segment_base_offset());
    clock.advance_ms(c.retention_check_interval_ms);
    let report = mgr.maintenance();
    assert!(report.segments_deleted > 0);
    assert!(report.checkpoints_written);
    assert_eq!(log.read().num_segments(), 1);
}

/// A time index whose last entry names an offset the log does not have (or a wrong
/// timestamp) is caught when the segment loads, and rebuilt: no panic at the next roll, and
/// timestamp lookups stay right.
#[test]
fn time_index_with_a_bogus_last_entry_is_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    {
        let mut log = fresh(dir.path(), small_config(), clock.clone());
        for k in 0..300 {
            log.append_as_leader(&batch(3, 100, T0 + k, k as u64), 0).expect("append");
        }
        log.close().expect("close");
    }
    let active = active_log_file(dir.path()).with_extension("timeindex");
    let mut bytes = fs::read(&active).expect("read time index");
    let n = bytes.len();
    assert!(n >= 12, "the active segment has time index entries");
    bytes[n - 12..n - 4].copy_from_slice(&(T0 + 1_000_000).to_be_bytes());
    bytes[n - 4..].copy_from_slice(&1_000_000u32.to_be_bytes());
    fs::write(&active, bytes).expect("write");
    let params = LogLoadParams { recovery_point: 900, had_clean_shutdown: true, ..Default::default() };
    let mut log = open(dir.path(), small_config(), clock, params);
    let found = log.fetch_offset_by_timestamp(T0 + 290).expect("lookup").expect("found");
    assert_eq!(found.offset, 288 * 3 + 2);
    log.append_as_leader(&batch(3, 100, T0 + 400, 400), 0).expect("append");
    log.roll().expect("roll after rebuild");
}

/// A segment whose indexes were rebuilt at load is trimmed again, so the next start finds it
/// sound instead of recovering it once more.
#[test]
fn rebuilt_indexes_of_old_segments_are_trimmed() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut log = fresh(dir.path(), small_config(), clock());
        for k in 0..300 {
            log.append_as_leader(&batch(3, 100, T0, k), 0).expect("append");
        }
        log.close().expect("close");
    }
    let first_index = dir.path().join("00000000000000000000.index");
    fs::remove_file(&first_index).expect("delete");
    let params = LogLoadParams { recovery_point: 900, had_clean_shutdown: true, ..Default::default() };
    let log = open(dir.path(), small_config(), clock(), params);
    let len = fs::metadata(&first_index).expect("rebuilt").len();
    assert!(len > 0 && len < small_config().segment_index_bytes as u64, "trimmed to its entries: {len} bytes");
    drop(log);
}
