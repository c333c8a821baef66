//! Moving a log between log directories (`LogManager::move_log`, AlterReplicaLogDirs): the log
//! keeps serving while it is copied, every record appended before and during the move is there
//! afterwards, in the new directory only, across a restart; a crash in the middle of a move
//! leaves exactly one complete log.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use common::*;
use sluice_storage::manager::FUTURE_DIR_SUFFIX;
use sluice_storage::{LogManager, LogManagerConfig, ManualClock};

fn manager(dirs: &[&Path]) -> LogManager {
    let mut c = LogManagerConfig::new(dirs.iter().map(|d| d.to_path_buf()).collect());
    c.default_log_config = small_config();
    LogManager::open(c, Arc::new(ManualClock::new(T0))).expect("open manager")
}

/// Every record's batch tag in the log, in order.
fn tags(mgr: &LogManager) -> Vec<(i64, i64)> {
    let log = mgr.get_log(&tp()).expect("log");
    let log = log.read();
    let data = log.read(log.log_start_offset(), usize::MAX, i64::MAX, true).expect("read");
    batches_of(&data.records).into_iter().map(|(base, last, _)| (base, last)).collect()
}

#[test]
fn a_moved_log_keeps_every_record_and_lives_in_its_new_directory_only() {
    let (a, b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let before;
    {
        let mgr = Arc::new(manager(&[a.path(), b.path()]));
        let log = mgr.get_or_create_log(&tp(), small_config()).expect("create");
        let src = mgr.log_dir_index(&tp()).expect("placed");
        let dest = 1 - src;
        // Several segments (small_config rolls often).
        for k in 0..200 {
            log.write().append_as_leader(&batch(2, 100, T0, k), 0).expect("append");
        }
        // Appends go on while the move copies.
        let writer = {
            let log = log.clone();
            std::thread::spawn(move || {
                for k in 200..400 {
                    log.write().append_as_leader(&batch(2, 100, T0, k), 0).expect("append during the move");
                }
            })
        };
        assert!(mgr.move_log(&tp(), dest).expect("moved"));
        writer.join().expect("writer");
        for k in 400..410 {
            log.write().append_as_leader(&batch(2, 100, T0, k), 0).expect("append after the move");
        }
        assert_eq!(mgr.log_dir_index(&tp()), Some(dest));
        let dirs = [a.path(), b.path()];
        assert!(dirs[dest].join(tp().dir_name()).is_dir(), "in the destination");
        assert!(!dirs[src].join(tp().dir_name()).exists(), "gone from the source");
        assert!(mgr.moves().is_empty());
        before = tags(&mgr);
        assert_eq!(before.len(), 410);
        assert_eq!(before.last().map(|b| b.1), Some(819), "every record, contiguous");
        assert!(!mgr.move_log(&tp(), dest).expect("no-op"), "already there");
        mgr.shutdown().expect("shutdown");
    }
    let mgr = manager(&[a.path(), b.path()]);
    assert_eq!(tags(&mgr), before, "the same records after a restart");
}

#[test]
fn a_crash_mid_move_leaves_one_complete_log() {
    let (a, b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let (src, written) = {
        let mgr = manager(&[a.path(), b.path()]);
        let log = mgr.get_or_create_log(&tp(), small_config()).expect("create");
        for k in 0..50 {
            log.write().append_as_leader(&batch(1, 100, T0, k), 0).expect("append");
        }
        let src = mgr.log_dir_index(&tp()).expect("placed");
        mgr.shutdown().expect("shutdown");
        (src, 50)
    };
    let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
    let live = dirs[src].join(tp().dir_name());
    let copy = |to: &Path| {
        fs::create_dir_all(to).expect("mkdir");
        for f in fs::read_dir(&live).expect("list").flatten() {
            fs::copy(f.path(), to.join(f.file_name())).expect("copy");
        }
    };
    // An unfinished copy (the source still live): discarded.
    let unfinished = dirs[1 - src].join(format!("{}.123{FUTURE_DIR_SUFFIX}", tp().dir_name()));
    copy(&unfinished);
    {
        let mgr = manager(&[a.path(), b.path()]);
        assert_eq!(mgr.log_dir_index(&tp()), Some(src));
        assert_eq!(tags(&mgr).len(), written);
        assert!(!unfinished.exists(), "the unfinished copy is gone");
        mgr.shutdown().expect("shutdown");
    }
    // A finished copy whose source was renamed away just before the crash: it becomes the log.
    let finished = dirs[1 - src].join(format!("{}.456{FUTURE_DIR_SUFFIX}", tp().dir_name()));
    copy(&finished);
    fs::rename(&live, dirs[src].join(format!("{}.789-delete", tp().dir_name()))).expect("rename away");
    let mgr = manager(&[a.path(), b.path()]);
    assert_eq!(mgr.log_dir_index(&tp()), Some(1 - src));
    assert_eq!(tags(&mgr).len(), written, "every record, from the copy");
    assert!(!finished.exists());
}
