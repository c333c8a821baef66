//! Log compaction: the latest record per key survives with its offset, tombstones go after
//! `delete.retention.ms`, the active segment is never rewritten, and a pass interrupted at any
//! point leaves either the old or the new segment (a `.cleaned` file is discarded on load, a
//! `.swap` file completes its swap).

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::*;
use sluice_protocol::RecordBatchBuilder;
use sluice_protocol::record_batch::BatchIter;
use sluice_storage::{CleanupPolicy, Log, LogConfig, LogLoadParams};

fn compact_config(delete_retention_ms: i64) -> LogConfig {
    LogConfig {
        segment_bytes: 4 * 1024,
        cleanup_policy: CleanupPolicy { delete: false, compact: true },
        delete_retention_ms,
        ..small_config()
    }
}

/// Appends `value` (None: tombstone) for `key`; returns its offset.
fn put(log: &mut Log, key: &str, value: Option<&str>, ts: i64) -> i64 {
    let mut b = RecordBatchBuilder::new(ts);
    b.append(ts, Some(key.as_bytes()), value.map(str::as_bytes), &[("h", Some(b"v"))]);
    log.append_as_leader(&b.build(), 0).expect("append").first_offset
}

/// Every record in the log: (offset, key, value).
fn contents(log: &Log) -> Vec<(i64, String, Option<String>)> {
    let data = log.read(log.log_start_offset(), usize::MAX / 2, i64::MAX, true).expect("read");
    let mut out = Vec::new();
    for item in BatchIter::new(&data.records) {
        let (_, raw) = item.expect("whole batches");
        sluice_protocol::record_batch::validate(raw).expect("valid CRC after compaction");
        let batch = sluice_protocol::RecordBatch::new(bytes::Bytes::copy_from_slice(raw)).expect("batch");
        for r in batch.records().expect("records") {
            let r = r.expect("record");
            out.push((
                r.offset,
                String::from_utf8(r.key.expect("key").to_vec()).expect("utf8"),
                r.value.map(|v| String::from_utf8(v.to_vec()).expect("utf8")),
            ));
        }
    }
    out
}

#[test]
fn compaction_keeps_exactly_the_latest_record_per_key_with_its_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), compact_config(i64::MAX / 2), clock());
    let mut latest: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for round in 0..40 {
        for k in 0..10 {
            let key = format!("key-{k}");
            let value = format!("value-{round}-{k}");
            let offset = put(&mut log, &key, Some(&value), T0 + round);
            latest.insert(key, (offset, value));
        }
    }
    log.roll().expect("roll: every record is in a cleanable segment");
    let end = log.log_end_offset();
    log.update_high_watermark(end);
    let before = log.size_in_bytes();
    let stats = log.compact().expect("compact");
    assert!(stats.records_removed >= 390 - 10, "{stats:?}");
    assert!(log.size_in_bytes() < before / 5, "compaction shrank the log");
    let got = contents(&log);
    let expected: Vec<(i64, String, Option<String>)> =
        latest.iter().map(|(k, (o, v))| (*o, k.clone(), Some(v.clone()))).collect::<Vec<_>>();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(got, expected_sorted, "exactly the latest value per key, at its original offset");
    assert_eq!(log.log_end_offset(), end, "offsets never move");
    // Idempotent: a second pass has nothing to do.
    assert_eq!(log.compact().expect("compact").records_removed, 0);
}

#[test]
fn the_active_segment_and_records_above_the_high_watermark_are_not_rewritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), compact_config(i64::MAX / 2), clock());
    for round in 0..30 {
        put(&mut log, "k", Some(&format!("v{round}")), T0);
    }
    log.update_high_watermark(0);
    assert_eq!(log.compact().expect("compact").records_removed, 0, "nothing below the high watermark");
    let end = log.log_end_offset();
    log.update_high_watermark(end);
    log.compact().expect("compact");
    let got = contents(&log);
    // The active segment keeps what it has; everything before it collapsed into nothing
    // (every older record of "k" is superseded by the newest, which lives in the active segment).
    let active = log.active_segment_base_offset();
    assert!(got.iter().all(|(o, _, _)| *o >= active), "{got:?}");
    assert_eq!(got.last().map(|r| r.2.clone()), Some(Some("v29".to_string())));
}

#[test]
fn tombstones_stay_for_delete_retention_ms_then_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let mut log = fresh(dir.path(), compact_config(60_000), clock.clone());
    for round in 0..20 {
        put(&mut log, "gone", Some(&format!("v{round}")), T0);
        put(&mut log, "kept", Some(&format!("v{round}")), T0);
    }
    put(&mut log, "gone", None, T0);
    log.roll().expect("roll");
    let end = log.log_end_offset();
    log.update_high_watermark(end);
    log.compact().expect("compact");
    let got = contents(&log);
    assert_eq!(
        got.iter().filter(|r| r.1 == "gone").map(|r| r.2.clone()).collect::<Vec<_>>(),
        vec![None],
        "the tombstone stays"
    );
    clock.advance_ms(61_000);
    // A log with nothing new to clean is not cleaned (as Kafka's cleaner picks only logs with
    // dirty bytes); new writes make it dirty again.
    assert_eq!(log.compact().expect("compact").segments_rewritten, 0, "nothing dirty");
    for round in 0..20 {
        put(&mut log, "kept", Some(&format!("w{round}")), T0 + 61_000);
    }
    log.roll().expect("roll");
    let end = log.log_end_offset();
    log.update_high_watermark(end);
    log.compact().expect("compact");
    let got = contents(&log);
    assert!(got.iter().all(|r| r.1 != "gone"), "past delete.retention.ms the tombstone goes: {got:?}");
    assert_eq!(got.iter().filter(|r| r.1 == "kept").count(), 1);
}

#[test]
fn an_interrupted_swap_is_completed_and_a_partial_clean_is_discarded() {
    // Build the same log twice; compact one; hand its cleaned first segment to the other as a
    // `.swap` file (a crash after the swap was decided) and a garbage `.cleaned` file.
    let config = compact_config(i64::MAX / 2);
    let build = |dir: &std::path::Path| {
        let mut log = fresh(dir, config.clone(), clock());
        for round in 0..40 {
            for k in 0..5 {
                put(&mut log, &format!("k{k}"), Some(&format!("v{round}")), T0);
            }
        }
        log.roll().expect("roll");
        let end = log.log_end_offset();
        log.update_high_watermark(end);
        log
    };
    let cleaned_dir = tempfile::tempdir().expect("tempdir");
    let mut cleaned = build(cleaned_dir.path());
    cleaned.compact().expect("compact");
    let expected = contents(&cleaned);
    let first = cleaned_dir.path().join("00000000000000000000.log");

    // The other copy "crashed" with the first segment's swap decided but not done, and a
    // half-written clean of another segment.
    let crashed_dir = tempfile::tempdir().expect("tempdir");
    drop(build(crashed_dir.path()));
    fs::copy(&first, crashed_dir.path().join("00000000000000000000.log.swap")).expect("copy swap");
    fs::write(crashed_dir.path().join("00000000000000000020.log.cleaned"), b"half-written").expect("write garbage");
    let mut reopened = open(crashed_dir.path(), config, clock(), LogLoadParams::default());
    assert_eq!(
        fs::read(crashed_dir.path().join("00000000000000000000.log")).expect("read"),
        fs::read(&first).expect("read"),
        "the decided swap was completed"
    );
    // The log is consistent: a pass over it ends where the uninterrupted one did.
    let end = reopened.log_end_offset();
    reopened.update_high_watermark(end);
    reopened.compact().expect("compact");
    assert_eq!(contents(&reopened), expected);
    assert!(!crashed_dir.path().join("00000000000000000000.log.swap").exists());
    assert!(!crashed_dir.path().join("00000000000000000020.log.cleaned").exists());
}
