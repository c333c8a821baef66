//! A write that fails half-way (the disk is full) is a typed error naming the file, never a
//! panic; the partial batch is undone, the log goes offline for writes, reads still serve
//! every acknowledged batch, and a reopen finds exactly those batches.
//!
//! The "full disk" is the process's file size limit (RLIMIT_FSIZE): past it the kernel refuses
//! writes with EFBIG, as it refuses them with ENOSPC on a full disk. This file holds a single
//! test because the limit applies to the whole test process.

mod common;

use common::*;
use sluice_storage::{LogConfig, LogLoadParams, StorageError};

fn set_file_size_limit(bytes: libc::rlim_t) {
    // SAFETY: plain libc calls with valid arguments; SIGXFSZ is ignored so the failed write
    // returns EFBIG instead of killing the process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = bytes.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0, "setrlimit");
    }
}

#[test]
fn full_disk_fails_the_append_with_the_file_name_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { segment_bytes: 1 << 20, segment_index_bytes: 4096, ..LogConfig::default() };
    let mut log = fresh(dir.path(), config.clone(), clock());
    const LIMIT: u64 = 64 * 1024;
    set_file_size_limit(LIMIT);
    let mut acknowledged = Vec::new();
    let error = loop {
        let tag = acknowledged.len() as u64;
        assert!(tag < 1000, "the size limit never stopped the writes");
        match log.append_as_leader(&batch(3, 300, T0, tag), 0) {
            Ok(info) => acknowledged.push((info.first_offset, info.last_offset)),
            Err(e) => break e,
        }
    };
    set_file_size_limit(libc::RLIM_INFINITY);
    match &error {
        StorageError::Io { path, .. } => {
            assert!(path.to_string_lossy().ends_with(".log"), "names the segment: {error}")
        }
        other => panic!("expected an I/O error, got {other}"),
    }
    assert!(error.to_string().contains("00000000000000000000.log"), "message names the file: {error}");
    assert!(log.is_offline());
    assert!(matches!(log.append_as_leader(&batch(1, 1, T0, 0), 0), Err(StorageError::LogOffline { .. })));
    // The partial write was undone: the file ends at the last whole batch.
    let segment = dir.path().join("00000000000000000000.log");
    assert_eq!(std::fs::metadata(&segment).expect("stat").len(), log.size_in_bytes());
    assert!(log.size_in_bytes() <= LIMIT);
    let read = log.read(0, usize::MAX / 2, i64::MAX, true).expect("reads still work");
    let got: Vec<(i64, i64)> = batches_of(&read.records).into_iter().map(|(b, l, _)| (b, l)).collect();
    assert_eq!(got, acknowledged);
    drop(log);

    let log = open(dir.path(), config, clock(), LogLoadParams::default());
    let read = log.read(0, usize::MAX / 2, i64::MAX, true).expect("read after reopen");
    let got: Vec<(i64, i64)> = batches_of(&read.records).into_iter().map(|(b, l, _)| (b, l)).collect();
    assert_eq!(got, acknowledged, "exactly the acknowledged batches survive");
    assert_eq!(log.log_end_offset(), acknowledged.last().expect("some were written").1 + 1);
}
