//! Behaviour of one partition `Log` on real files: appends, reads, rolling, offsets, lookup by
//! timestamp, retention, DeleteRecords, truncation and the leader-epoch cache.

mod common;

use common::*;
use sluice_protocol::record_batch::{self, BatchError, set_partition_leader_epoch};
use sluice_storage::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, LogConfig, LogLoadParams, MAX_TIMESTAMP, StorageError};

#[test]
fn append_assigns_offsets_and_read_returns_the_same_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    let a = log.append_as_leader(&batch(3, 10, T0, 1), 5).expect("append");
    let b = log.append_as_leader(&batch(2, 10, T0, 2), 5).expect("append");
    assert_eq!((a.first_offset, a.last_offset, b.first_offset, b.last_offset), (0, 2, 3, 4));
    assert_eq!(log.log_end_offset(), 5);
    let read = log.read(0, 1 << 20, log.log_end_offset(), true).expect("read");
    let got = batches_of(&read.records);
    assert_eq!(got.iter().map(|b| (b.0, b.1)).collect::<Vec<_>>(), vec![(0, 2), (3, 4)]);
    assert_eq!(got[0].2, batch(3, 10, T0, 1)[61..].to_vec());
    assert_eq!(read.next_offset, 5);
}

#[test]
fn read_starts_with_the_batch_containing_the_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    for tag in 0..50 {
        log.append_as_leader(&batch(4, 100, T0, tag), 0).expect("append");
    }
    for offset in [0, 1, 3, 4, 77, 150, 199] {
        let read = log.read(offset, 1000, i64::MAX, true).expect("read");
        let got = batches_of(&read.records);
        assert!(got[0].0 <= offset && offset <= got[0].1, "offset {offset} in first batch {:?}", (got[0].0, got[0].1));
    }
}

#[test]
fn read_respects_max_bytes_and_returns_an_oversized_first_batch_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    let one = batch(1, 300, T0, 0).len();
    for tag in 0..10 {
        log.append_as_leader(&batch(1, 300, T0, tag), 0).expect("append");
    }
    let read = log.read(0, one * 3 + one / 2, i64::MAX, true).expect("read");
    assert_eq!(batches_of(&read.records).len(), 3, "only whole batches that fit");
    assert_eq!(read.records.len(), one * 3);
    let read = log.read(2, 10, i64::MAX, true).expect("read");
    assert_eq!(batches_of(&read.records).len(), 1, "first batch whole even if over the limit");
    let read = log.read(2, 10, i64::MAX, false).expect("read");
    assert!(read.records.is_empty());
}

#[test]
fn read_stops_below_max_offset_and_spans_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    for tag in 0..200 {
        log.append_as_leader(&batch(2, 200, T0, tag), 0).expect("append");
    }
    assert!(log.num_segments() > 3, "segments rolled: {}", log.num_segments());
    log.update_high_watermark(101);
    let read = log.read(0, 1 << 20, log.high_watermark(), true).expect("read");
    let got = batches_of(&read.records);
    assert_eq!(got.last().map(|b| b.1), Some(99), "batch 100-101 reaches the high watermark");
    assert_eq!(got.len(), 50);
    assert!(got.windows(2).all(|w| w[1].0 == w[0].1 + 1), "contiguous across segments");
}

#[test]
fn read_outside_the_log_is_offset_out_of_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_leader(&batch(2, 10, T0, 0), 0).expect("append");
    assert!(log.read(2, 100, i64::MAX, true).expect("at the end").records.is_empty());
    assert!(matches!(log.read(3, 100, i64::MAX, true), Err(StorageError::OffsetOutOfRange { offset: 3, .. })));
}

#[test]
fn corrupt_or_oversized_batches_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { max_message_bytes: 500, ..small_config() };
    let mut log = fresh(dir.path(), config, clock());
    let mut bad = batch(2, 10, T0, 0);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let mut two = batch(1, 10, T0, 1);
    two.extend_from_slice(&bad);
    assert!(matches!(
        log.append_as_leader(&two, 0),
        Err(StorageError::InvalidRecord { source: BatchError::CrcMismatch { .. }, .. })
    ));
    assert!(matches!(log.append_as_leader(&batch(1, 600, T0, 0), 0), Err(StorageError::RecordTooLarge { .. })));
    let mut torn = batch(1, 10, T0, 0);
    torn.truncate(40);
    assert!(matches!(log.append_as_leader(&torn, 0), Err(StorageError::InvalidRecord { .. })));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_in_bytes(), 0);
}

#[test]
fn roll_on_segment_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    let size = batch(5, 100, T0, 0).len() as u64;
    let per_segment = 16 * 1024 / size;
    for tag in 0..per_segment * 3 {
        log.append_as_leader(&batch(5, 100, T0, tag), 0).expect("append");
    }
    assert_eq!(log.num_segments(), 3);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert!(names.contains(&format!("{:020}.log", per_segment * 5)), "{names:?}");
}

#[test]
fn roll_on_segment_ms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let config = LogConfig { segment_ms: 60_000, ..small_config() };
    let mut log = fresh(dir.path(), config, clock.clone());
    log.append_as_leader(&batch(1, 10, T0, 0), 0).expect("append");
    log.append_as_leader(&batch(1, 10, T0 + 59_000, 1), 0).expect("append");
    assert_eq!(log.num_segments(), 1);
    log.append_as_leader(&batch(1, 10, T0 + 60_001, 2), 0).expect("append");
    assert_eq!(log.num_segments(), 2, "a record more than segment.ms after the first rolls");
}

#[test]
fn roll_on_full_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Room for 4 offset index entries, an entry every batch.
    let config = LogConfig { segment_index_bytes: 32, index_interval_bytes: 1, ..small_config() };
    let mut log = fresh(dir.path(), config, clock());
    for tag in 0..12 {
        log.append_as_leader(&batch(1, 10, T0, tag), 0).expect("append");
    }
    assert!(log.num_segments() >= 2, "index full forces a roll ({} segments)", log.num_segments());
    let read = log.read(0, 1 << 20, i64::MAX, true).expect("read all");
    assert_eq!(batches_of(&read.records).len(), 12);
}

#[test]
fn lookup_by_timestamp_finds_first_record_at_or_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    // 100 batches of 5 records; batch k has timestamps T0 + 10k .. T0 + 10k + 4.
    for k in 0..100 {
        log.append_as_leader(&batch(5, 50, T0 + 10 * k, k as u64), 0).expect("append");
    }
    assert!(log.num_segments() > 1);
    let at = |ts| log.fetch_offset_by_timestamp(ts).expect("lookup").map(|t| (t.timestamp, t.offset));
    assert_eq!(at(T0 - 1000), Some((T0, 0)));
    assert_eq!(at(T0 + 3), Some((T0 + 3, 3)));
    assert_eq!(at(T0 + 7), Some((T0 + 10, 5)), "gap between batches: next record");
    assert_eq!(at(T0 + 10 * 57 + 2), Some((T0 + 572, 57 * 5 + 2)));
    assert_eq!(at(T0 + 10 * 99 + 4), Some((T0 + 994, 499)));
    assert_eq!(at(T0 + 10_000), None, "after every record");
    assert_eq!(at(EARLIEST_TIMESTAMP), Some((-1, 0)));
    assert_eq!(at(LATEST_TIMESTAMP), Some((-1, 500)));
    assert_eq!(at(MAX_TIMESTAMP), Some((T0 + 994, 499)));
}

#[test]
fn lookup_by_timestamp_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    {
        let mut log = fresh(dir.path(), small_config(), clock.clone());
        for k in 0..100 {
            log.append_as_leader(&batch(5, 50, T0 + 10 * k, k as u64), 0).expect("append");
        }
        log.close().expect("close");
    }
    let params = LogLoadParams { recovery_point: 500, had_clean_shutdown: true, ..Default::default() };
    let log = open(dir.path(), small_config(), clock, params);
    let found = log.fetch_offset_by_timestamp(T0 + 10 * 42 + 1).expect("lookup").expect("found");
    assert_eq!((found.timestamp, found.offset), (T0 + 421, 42 * 5 + 1));
}

#[test]
fn retention_by_time_deletes_old_segments_but_never_the_active_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let config = LogConfig { retention_ms: 3_600_000, ..small_config() };
    let mut log = fresh(dir.path(), config, clock.clone());
    // Old records: two hours before "now".
    for tag in 0..60 {
        log.append_as_leader(&batch(2, 200, T0 - 7_200_000, tag), 0).expect("append");
    }
    log.roll().expect("roll");
    let old_end = log.log_end_offset();
    for tag in 0..5 {
        log.append_as_leader(&batch(2, 200, T0, tag), 0).expect("append");
    }
    log.update_high_watermark(log.log_end_offset());
    let before = log.num_segments();
    let deleted = log.delete_old_segments().expect("retention");
    assert_eq!(deleted, before - 1, "every old segment goes");
    assert_eq!(log.log_start_offset(), old_end);
    assert_eq!(log.num_segments(), 1);
    // Everything expired, the active segment too: a new empty segment is rolled and every record
    // goes (Kafka's deleteSegments), the log starting at its end.
    clock.advance_ms(10 * 3_600_000);
    assert_eq!(log.delete_old_segments().expect("retention"), 1);
    assert_eq!(log.num_segments(), 1);
    assert_eq!(log.log_start_offset(), log.log_end_offset());
    assert!(matches!(log.read(0, 100, i64::MAX, true), Err(StorageError::OffsetOutOfRange { .. })));
    // An empty active segment is never deleted.
    assert_eq!(log.delete_old_segments().expect("retention"), 0);
}

#[test]
fn retention_by_size_keeps_the_newest_segments_within_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { retention_bytes: 40 * 1024, retention_ms: -1, ..small_config() };
    let mut log = fresh(dir.path(), config, clock());
    for tag in 0..400 {
        log.append_as_leader(&batch(2, 200, T0, tag), 0).expect("append");
    }
    log.update_high_watermark(log.log_end_offset());
    let total_before = log.size_in_bytes();
    assert!(total_before > 100 * 1024);
    let deleted = log.delete_old_segments().expect("retention");
    assert!(deleted > 0);
    let after = log.size_in_bytes();
    assert!(after <= 40 * 1024 + 16 * 1024, "within one segment of the limit: {after}");
    assert!(after >= 40 * 1024 - 16 * 1024, "no more deleted than needed: {after}");
    let first = log.log_start_offset();
    assert_eq!(first, log.segment_base_offsets()[0]);
    let read = log.read(first, 1 << 20, i64::MAX, true).expect("read from new start");
    assert_eq!(batches_of(&read.records)[0].0, first);
}

#[test]
fn retention_never_deletes_above_the_high_watermark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { retention_bytes: 0, ..small_config() };
    let mut log = fresh(dir.path(), config, clock());
    for tag in 0..200 {
        log.append_as_leader(&batch(2, 200, T0, tag), 0).expect("append");
    }
    log.update_high_watermark(0);
    assert_eq!(log.delete_old_segments().expect("retention"), 0);
    log.update_high_watermark(log.segment_base_offsets()[2]);
    assert_eq!(log.delete_old_segments().expect("retention"), 2);
}

#[test]
fn delete_records_moves_log_start_offset_up_to_the_high_watermark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    for tag in 0..200 {
        log.append_as_leader(&batch(2, 200, T0, tag), 0).expect("append");
    }
    log.update_high_watermark(150);
    let segments_before = log.num_segments();
    assert!(matches!(log.maybe_increment_log_start_offset(151), Err(StorageError::OffsetOutOfRange { .. })));
    assert!(log.maybe_increment_log_start_offset(121).expect("advance"));
    assert_eq!(log.log_start_offset(), 121);
    let first_base = log.segment_base_offsets()[0];
    assert!(0 < first_base && first_base <= 121, "segments wholly below 121 deleted, its own kept: {first_base}");
    assert!(log.num_segments() < segments_before);
    assert!(matches!(log.read(120, 100, i64::MAX, true), Err(StorageError::OffsetOutOfRange { .. })));
    let read = log.read(121, 100, i64::MAX, true).expect("read at the new start");
    assert_eq!(batches_of(&read.records)[0].0, 120, "the batch containing the start");
    assert!(!log.maybe_increment_log_start_offset(100).expect("never backwards"));
}

#[test]
fn truncate_to_removes_whole_batches_from_the_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    for tag in 0..200 {
        log.append_as_leader(&batch(2, 200, T0, tag), 0).expect("append");
    }
    log.update_high_watermark(400);
    assert!(log.truncate_to(150).expect("truncate"));
    assert_eq!(log.log_end_offset(), 150);
    assert_eq!(log.high_watermark(), 150);
    assert!(log.truncate_to(101).expect("mid-batch"));
    assert_eq!(log.log_end_offset(), 100, "the batch holding 100-101 is gone whole");
    let info = log.append_as_leader(&batch(1, 10, T0, 999), 0).expect("append after truncate");
    assert_eq!(info.first_offset, 100);
    let read = log.read(98, 1 << 20, i64::MAX, true).expect("read");
    let got = batches_of(&read.records);
    assert_eq!(got.iter().map(|b| (b.0, b.1)).collect::<Vec<_>>(), vec![(98, 99), (100, 100)]);
    assert!(!log.truncate_to(500).expect("beyond the end"));
}

#[test]
fn truncate_fully_and_start_at_restarts_an_empty_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    for tag in 0..100 {
        log.append_as_leader(&batch(2, 200, T0, tag), 3).expect("append");
    }
    log.truncate_fully_and_start_at(1000).expect("restart");
    assert_eq!((log.log_start_offset(), log.log_end_offset(), log.num_segments()), (1000, 1000, 1));
    assert_eq!(log.latest_epoch(), None);
    let info = log.append_as_follower(&stamped(batch(1, 10, T0, 0), 1000, 4)).expect("follower append");
    assert_eq!(info.first_offset, 1000);
}

fn stamped(mut bytes: Vec<u8>, base_offset: i64, epoch: i32) -> Vec<u8> {
    sluice_protocol::record_batch::set_base_offset(&mut bytes, base_offset);
    set_partition_leader_epoch(&mut bytes, epoch);
    bytes
}

#[test]
fn follower_appends_keep_offsets_and_refuse_going_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_follower(&stamped(batch(3, 10, T0, 0), 0, 1)).expect("append");
    log.append_as_follower(&stamped(batch(3, 10, T0, 1), 3, 2)).expect("append");
    assert!(matches!(
        log.append_as_follower(&stamped(batch(1, 10, T0, 2), 4, 2)),
        Err(StorageError::UnexpectedAppendOffset { first_offset: 4, log_end_offset: 6, .. })
    ));
    assert_eq!(log.end_offset_for_epoch(1), (1, 3));
    assert_eq!(log.end_offset_for_epoch(2), (2, 6));
}

#[test]
fn leader_epoch_cache_follows_appends_and_truncation_and_persists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    {
        let mut log = fresh(dir.path(), small_config(), clock.clone());
        log.append_as_leader(&batch(5, 10, T0, 0), 1).expect("append");
        log.append_as_leader(&batch(5, 10, T0, 1), 1).expect("append");
        log.append_as_leader(&batch(5, 10, T0, 2), 3).expect("append");
        log.append_as_leader(&batch(5, 10, T0, 3), 4).expect("append");
        assert_eq!(log.end_offset_for_epoch(1), (1, 10));
        assert_eq!(log.end_offset_for_epoch(2), (1, 10));
        assert_eq!(log.end_offset_for_epoch(4), (4, 20));
        log.truncate_to(15).expect("truncate");
        assert_eq!(log.latest_epoch(), Some(3));
        assert_eq!(log.end_offset_for_epoch(3), (3, 15));
        log.close().expect("close");
    }
    let params = LogLoadParams { recovery_point: 15, had_clean_shutdown: true, ..Default::default() };
    let log = open(dir.path(), small_config(), clock, params);
    assert_eq!(log.end_offset_for_epoch(1), (1, 10));
    assert_eq!(log.end_offset_for_epoch(3), (3, 15));
    assert_eq!(log.epoch_for_offset(12), Some(3));
}

#[test]
fn config_change_applies_to_the_next_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_leader(&batch(1, 10, T0, 0), 0).expect("append");
    let one = batch(1, 10, T0, 1).len();
    let mut config = log.config().clone();
    config.set("segment.bytes", &one.to_string()).expect("valid");
    log.update_config(config);
    log.append_as_leader(&batch(1, 10, T0, 1), 0).expect("append");
    assert_eq!(log.num_segments(), 2, "the second batch no longer fits beside the first");
    assert!(
        matches!(
            log.append_as_leader(&batch(1, 20, T0, 2), 0),
            Err(StorageError::RecordTooLarge { max, .. }) if max == one
        ),
        "a batch larger than segment.bytes is refused"
    );
}

/// The append itself never fsyncs (see `lock_discipline.rs`): it makes the flush due, and the
/// job the appender runs afterwards moves the recovery point.
#[test]
fn flush_messages_makes_a_flush_due_that_moves_the_recovery_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { flush_messages: 10, ..small_config() };
    let mut log = fresh(dir.path(), config, clock());
    for tag in 0..3 {
        log.append_as_leader(&batch(3, 10, T0, tag), 0).expect("append");
    }
    assert!(!log.flush_due(), "9 records: not yet");
    assert!(log.take_due_flush().expect("take").is_none());
    log.append_as_leader(&batch(3, 10, T0, 3), 0).expect("append");
    assert_eq!(log.recovery_point(), 0, "the append leaves the fsync to the job");
    let job = log.take_due_flush().expect("take").expect("the 10th record makes a flush due");
    assert!(!log.flush_due(), "a taken job covers what made it due");
    let outcome = job.run();
    log.complete_flush(job, outcome).expect("complete");
    assert_eq!(log.recovery_point(), 12, "the job flushed everything");
}

#[test]
fn flush_ms_is_applied_by_log_manager_maintenance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let mut c = sluice_storage::LogManagerConfig::new(vec![dir.path().to_path_buf()]);
    c.flush_scheduler_interval_ms = 1000;
    let manager = sluice_storage::LogManager::open(c, clock.clone()).expect("open");
    let config = LogConfig { flush_ms: 5000, ..small_config() };
    let log = manager.get_or_create_log(&tp(), config).expect("create");
    log.write().append_as_leader(&batch(3, 10, T0, 0), 0).expect("append");
    clock.advance_ms(1000);
    assert_eq!(manager.maintenance().logs_flushed, 0, "flush.ms has not passed");
    assert_eq!(log.read().recovery_point(), 0);
    clock.advance_ms(4000);
    assert_eq!(manager.maintenance().logs_flushed, 1);
    assert_eq!(log.read().recovery_point(), 3);
}

/// Compressed batches (encoded by the `kafka-protocol` crate, gzip) are stored byte for byte;
/// a timestamp lookup inside one names the record itself, as Kafka's does.
#[test]
fn compressed_batches_are_stored_untouched_and_found_by_timestamp() {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    let records: Vec<Record> = (0..10)
        .map(|i| {
            kafka_record(
                i,
                (-1, -1, -1 + i as i32),
                T0 + 100 + i,
                Some(Bytes::from(format!("k{i}"))),
                Bytes::from(vec![b'z'; 500]),
            )
        })
        .collect();
    let mut encoded = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut encoded,
        &records,
        &RecordEncodeOptions { version: 2, compression: Compression::Gzip },
    )
    .expect("encode");
    log.append_as_leader(&batch(5, 10, T0, 0), 0).expect("plain batch first");
    let mut gz = encoded.to_vec();
    let info = log.append_as_leader(&gz, 2).expect("append gzip batch");
    assert_eq!((info.first_offset, info.last_offset), (5, 14));
    // Stored with the offset and epoch the log assigned, the rest untouched.
    record_batch::set_base_offset(&mut gz, 5);
    record_batch::set_partition_leader_epoch(&mut gz, 2);
    let read = log.read(7, 1 << 20, i64::MAX, true).expect("read");
    assert_eq!(&read.records[..], &gz[..], "stored and served byte for byte");
    let decoded = RecordBatchDecoder::decode(&mut Bytes::from(read.records.to_vec())).expect("a client can decode it");
    assert_eq!(decoded.records.iter().map(|r| r.offset).collect::<Vec<_>>(), (5..15).collect::<Vec<_>>());
    let found = log.fetch_offset_by_timestamp(T0 + 105).expect("lookup").expect("found");
    assert_eq!((found.offset, found.timestamp), (10, T0 + 105), "compressed: the first record at or after the target");
    let latest = log.fetch_offset_by_timestamp(sluice_storage::MAX_TIMESTAMP).expect("lookup").expect("found");
    assert_eq!((latest.offset, latest.timestamp), (14, T0 + 109), "compressed: the record with the largest timestamp");
    assert_eq!(found.leader_epoch, Some(2));
}

/// A producer cannot make one batch claim more offsets than records (Kafka's validator
/// rejects it); otherwise a few such batches would overflow a segment's relative offsets.
#[test]
fn producer_batch_with_gapped_offsets_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    let mut bytes = batch(1, 10, T0, 0);
    bytes[23..27].copy_from_slice(&i32::MAX.to_be_bytes()); // last offset delta
    sluice_protocol::record_batch::write_crc(&mut bytes);
    assert!(matches!(
        log.append_as_leader(&bytes, 0),
        Err(StorageError::InvalidRecord { source: BatchError::InvalidOffsetDelta { .. }, .. })
    ));
    assert_eq!(log.log_end_offset(), 0);
}

/// Followers may receive batches far apart (compaction on the leader): an append whose
/// offsets span more than a segment's i32 range is split across segments, and survives a
/// reopen with recovery.
#[test]
fn follower_append_spanning_more_than_a_segment_range_is_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut records = stamped(batch(1, 10, T0, 0), 0, 1);
    records.extend(stamped(batch(1, 10, T0, 1), 3_000_000_000, 1));
    records.extend(stamped(batch(1, 10, T0, 2), 6_000_000_000, 1));
    {
        let mut log = fresh(dir.path(), small_config(), clock());
        let info = log.append_as_follower(&records).expect("append");
        assert_eq!((info.first_offset, info.last_offset), (0, 6_000_000_000));
        assert_eq!(log.segment_base_offsets(), vec![0, 3_000_000_000, 6_000_000_000]);
    }
    let log = open(dir.path(), small_config(), clock(), LogLoadParams::default());
    assert_eq!(log.log_end_offset(), 6_000_000_001);
    let read = log.read(1, 1 << 20, i64::MAX, true).expect("read across the gap");
    assert_eq!(batches_of(&read.records).iter().map(|b| b.0).collect::<Vec<_>>(), vec![3_000_000_000, 6_000_000_000]);
}

#[test]
fn recovery_with_a_smaller_index_size_keeps_a_sparser_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = LogConfig { segment_bytes: 1 << 20, index_interval_bytes: 0, ..small_config() };
    {
        let mut log = fresh(dir.path(), big.clone(), clock());
        for tag in 0..200 {
            log.append_as_leader(&batch(1, 10, T0, tag), 0).expect("append");
        }
    }
    // Reopen uncleanly with room for only 4 index entries: recovery must not fail.
    let small = LogConfig { segment_index_bytes: 32, ..big };
    let log = open(dir.path(), small, clock(), LogLoadParams::default());
    assert_eq!(log.log_end_offset(), 200);
    let read = log.read(150, 100, i64::MAX, true).expect("read");
    assert_eq!(batches_of(&read.records)[0].0, 150);
}

#[test]
fn a_closed_log_refuses_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_leader(&batch(1, 10, T0, 0), 0).expect("append");
    log.close().expect("close");
    assert!(matches!(log.append_as_leader(&batch(1, 10, T0, 1), 0), Err(StorageError::LogOffline { .. })));
    assert_eq!(batches_of(&log.read(0, 1000, i64::MAX, true).expect("reads still work").records).len(), 1);
}

/// A batch from an idempotent producer (id 77, `epoch`) of `count` records from `sequence`.
fn idempotent(epoch: i16, sequence: i32, count: i64) -> Vec<u8> {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};
    let records: Vec<Record> = (0..count)
        .map(|i| {
            kafka_record(
                i,
                (77, epoch, sequence + i as i32),
                T0,
                None,
                Bytes::from(format!("s{}", i64::from(sequence) + i)),
            )
        })
        .collect();
    let mut encoded = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut encoded,
        &records,
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .expect("encode");
    encoded.to_vec()
}

fn sequence_error(e: StorageError) -> sluice_storage::producer_state::SequenceError {
    match e {
        StorageError::Sequence { source, .. } => source,
        other => panic!("expected a sequence error, got {other}"),
    }
}

#[test]
fn idempotent_retries_are_deduplicated_across_reopen_and_truncation() {
    use sluice_storage::producer_state::SequenceError;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_leader(&batch(2, 10, T0, 0), 0).expect("a plain batch first");
    let first = log.append_as_leader(&idempotent(0, 0, 3), 0).expect("first batch");
    let second = log.append_as_leader(&idempotent(0, 3, 2), 0).expect("next in sequence");
    assert_eq!((first.first_offset, second.first_offset, log.log_end_offset()), (2, 5, 7));

    // A retry of either answers with its original offsets and writes nothing.
    let retry = log.append_as_leader(&idempotent(0, 0, 3), 0).expect("duplicate is no error");
    assert_eq!((retry.first_offset, retry.last_offset, log.log_end_offset()), (2, 4, 7));
    // A gap, a stale epoch: refused, nothing written.
    let gap = log.append_as_leader(&idempotent(0, 9, 1), 0).expect_err("gap");
    assert_eq!(sequence_error(gap), SequenceError::OutOfOrder { producer_id: 77, epoch: 0, expected: 5, got: 9 });
    assert_eq!(log.log_end_offset(), 7);

    // Reopened: the state is read back from the log.
    log.close().expect("close");
    drop(log);
    let mut log =
        open(dir.path(), small_config(), clock(), LogLoadParams { had_clean_shutdown: true, ..Default::default() });
    let retry = log.append_as_leader(&idempotent(0, 3, 2), 0).expect("duplicate after reopen");
    assert_eq!((retry.first_offset, log.log_end_offset()), (5, 7));
    log.append_as_leader(&idempotent(1, 0, 1), 0).expect("a new epoch starts at 0");
    let stale = log.append_as_leader(&idempotent(0, 5, 1), 0).expect_err("the old epoch is fenced");
    assert_eq!(sequence_error(stale), SequenceError::StaleEpoch { producer_id: 77, epoch: 0, current: 1 });

    // Truncated below the second batch (a follower diverged): it may be appended again.
    log.truncate_to(5).expect("truncate");
    let again = log.append_as_leader(&idempotent(0, 3, 2), 0).expect("no longer a duplicate");
    assert_eq!((again.first_offset, log.log_end_offset()), (5, 7));
}

#[test]
fn producer_snapshots_keep_a_producer_known_after_its_batches_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_leader(&idempotent(0, 0, 3), 0).expect("offsets 0-2");
    log.roll().expect("roll");
    assert!(dir.path().join("00000000000000000003.snapshot").exists(), "a roll writes the state as of the new segment");
    log.append_as_leader(&batch(2, 10, T0, 0), 0).expect("offsets 3-4");
    log.update_high_watermark(5);
    assert!(log.maybe_increment_log_start_offset(5).expect("delete records"));
    // Everything below the new start went, the active segment too (a new one rolled at 5).
    assert_eq!(log.segment_base_offsets(), vec![5], "the producer's batches are gone from the log");
    log.close().expect("close");
    drop(log);

    let reopen = |dir: &std::path::Path| {
        open(
            dir,
            small_config(),
            clock(),
            LogLoadParams {
                had_clean_shutdown: true,
                log_start_offset: Some(5),
                high_watermark: 5,
                ..Default::default()
            },
        )
    };
    // A damaged newest snapshot is passed over for the one before it.
    std::fs::write(dir.path().join("00000000000000000005.snapshot"), b"garbage").expect("damage");
    let mut log = reopen(dir.path());
    let retry = log.append_as_leader(&idempotent(0, 0, 3), 0).expect("still a duplicate");
    assert_eq!((retry.first_offset, log.log_end_offset()), (0, 5));
    let next = log.append_as_leader(&idempotent(0, 3, 1), 0).expect("the producer's sequence carries on");
    assert_eq!(next.first_offset, 5);

    // Truncation removes the snapshots past the cut; the state is read again from the one
    // before it and the batches after that.
    log.append_as_leader(&idempotent(0, 4, 1), 0).expect("offset 6");
    log.roll().expect("roll");
    assert!(dir.path().join("00000000000000000007.snapshot").exists());
    log.truncate_to(6).expect("truncate");
    assert!(!dir.path().join("00000000000000000007.snapshot").exists());
    let again = log.append_as_leader(&idempotent(0, 4, 1), 0).expect("appendable again after the cut");
    assert_eq!((again.first_offset, log.log_end_offset()), (6, 7));
    let gap = log.append_as_leader(&idempotent(0, 9, 1), 0).expect_err("the sequence is known");
    assert!(matches!(
        sequence_error(gap),
        sluice_storage::producer_state::SequenceError::OutOfOrder { expected: 5, .. }
    ));
}

/// KIP-854: the log manager's maintenance forgets a producer idle for `producer.id.expiration.ms`
/// once `producer.id.expiration.check.interval.ms` has passed since the log's last look, and the
/// next snapshot no longer carries it, so a reopened log does not know it either.
#[test]
fn idle_producer_ids_expire_through_maintenance_and_leave_the_snapshots() {
    const EXPIRATION_MS: i64 = 3_600_000;
    const CHECK_INTERVAL_MS: i64 = 60_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let mut c = sluice_storage::LogManagerConfig::new(vec![dir.path().to_path_buf()]);
    c.producer_id_expiration_ms = EXPIRATION_MS;
    c.producer_id_expiration_check_interval_ms = CHECK_INTERVAL_MS;
    let manager = sluice_storage::LogManager::open(c, clock.clone()).expect("open");
    let log = manager.get_or_create_log(&tp(), small_config()).expect("create");
    // The batch's records are stamped T0, the clock's time: the producer last wrote at T0.
    log.write().append_as_leader(&idempotent(0, 0, 2), 0).expect("offsets 0-1");
    log.write().roll().expect("roll");
    let snapshot = |offset: i64| {
        let path = log.read().dir().join(format!("{offset:020}.snapshot"));
        let bytes = std::fs::read(&path).expect("snapshot written");
        sluice_storage::producer_state::ProducerStateManager::decode(&bytes, T0).expect("readable")
    };
    assert_eq!(snapshot(2).epoch_of(77), Some(0), "the roll's snapshot carries the producer");

    clock.advance_ms(EXPIRATION_MS - 1);
    manager.maintenance();
    assert_eq!(log.read().producer_count(), 1, "idle one millisecond short of the expiration");
    clock.advance_ms(1);
    manager.maintenance();
    assert_eq!(log.read().producer_count(), 1, "expired, but looked at less than a check interval ago");
    clock.advance_ms(CHECK_INTERVAL_MS);
    manager.maintenance();
    assert_eq!(log.read().producer_count(), 0, "forgotten at the next check");

    log.write().append_as_leader(&batch(2, 10, T0, 0), 0).expect("plain 2-3");
    log.write().roll().expect("roll");
    assert_eq!(snapshot(4).len(), 0, "the next snapshot does not carry it");
    manager.shutdown().expect("shutdown");
    drop(log);
    drop(manager);
    let reopened = fresh(&dir.path().join("events-0"), small_config(), clock.clone());
    assert_eq!((reopened.log_end_offset(), reopened.producer_count()), (4, 0));
}

/// A producer forgotten for being idle goes on with the sequence it had: Kafka (since KIP-360)
/// takes any sequence from a producer it holds no state for, and so does the log.
#[test]
fn an_expired_producer_is_taken_at_the_sequence_it_goes_on_with() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let mut log = fresh(dir.path(), small_config(), clock.clone());
    log.append_as_leader(&idempotent(0, 0, 3), 0).expect("sequences 0-2");
    clock.advance_ms(2_000);
    assert_eq!(log.maybe_remove_expired_producers(1_000, 1_000), 1);
    let next = log.append_as_leader(&idempotent(0, 3, 1), 0).expect("sequence 3, no state");
    assert_eq!(next.first_offset, 3);
    // From there on its sequence is checked again.
    let gap = log.append_as_leader(&idempotent(0, 9, 1), 0).expect_err("a gap");
    assert!(matches!(
        sequence_error(gap),
        sluice_storage::producer_state::SequenceError::OutOfOrder { expected: 4, got: 9, .. }
    ));
}

#[test]
fn a_new_leader_epoch_is_recorded_at_the_log_end_before_any_append() {
    // KIP-101: a follower whose latest epoch (5, from a leader that never got to write here) is
    // newer than anything this leader appended learns, from OffsetForLeaderEpoch, where this
    // leader's epoch 7 begins; before the fix the leader knew no epoch above 1 and answered
    // "undefined". An epoch that held no record is replaced by the next one at the same offset.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_leader(&batch(4, 10, T0, 0), 1).expect("append");
    assert_eq!(log.end_offset_for_epoch(5), (-1, -1), "no epoch above 1 is known yet");
    assert!(log.assign_epoch_start_offset(3).expect("assign"));
    assert_eq!(log.end_offset_for_epoch(1), (1, 4), "epoch 1 ends where the new leader's epoch starts");
    assert!(log.assign_epoch_start_offset(7).expect("assign"));
    assert_eq!(log.latest_epoch(), Some(7));
    assert_eq!(log.epoch_entries().iter().map(|e| (e.epoch, e.start_offset)).collect::<Vec<_>>(), vec![(1, 0), (7, 4)]);
    assert_eq!(log.end_offset_for_epoch(5), (1, 4), "a follower at epoch 5 learns where the logs part");
    assert!(!log.assign_epoch_start_offset(7).expect("assign"), "the same epoch again changes nothing");
    log.append_as_leader(&batch(2, 10, T0, 1), 7).expect("append");
    assert_eq!(log.end_offset_for_epoch(7), (7, 6));
}

/// A leader's append leaves the caller's bytes as they were (the request buffer they come from
/// is shared) and writes the offset and epoch it assigned.
#[test]
fn a_leader_append_writes_the_assigned_offset_and_epoch_without_touching_the_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), LogConfig::default(), clock());
    log.append_as_leader(&batch(4, 10, T0, 0), 0).expect("first");
    let sent = batch(3, 10, T0, 1);
    let info = log.append_as_leader(&sent, 6).expect("second");
    assert_eq!(sent, batch(3, 10, T0, 1), "the input is not rewritten");
    let read = log.read(4, 1 << 20, i64::MAX, true).expect("read");
    let stored = record_batch::validate(&read.records).expect("CRC holds");
    assert_eq!((info.first_offset, stored.base_offset, stored.partition_leader_epoch), (4, 4, 6));
    assert_eq!(read.records[record_batch::UNCHECKED_PREFIX_SIZE..], sent[record_batch::UNCHECKED_PREFIX_SIZE..]);
}

/// A follower's append of more batches than one vectored write takes (two buffers a batch,
/// over Linux's 1,024) stores every batch byte for byte.
#[test]
fn a_follower_append_of_thousands_of_batches_is_stored_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), LogConfig::default(), clock());
    let mut fetched = Vec::new();
    for i in 0..3000 {
        fetched.extend_from_slice(&stamped(batch(1, 3, T0 + i, i as u64), i, 1));
    }
    let info = log.append_as_follower(&fetched).expect("append");
    assert_eq!((info.first_offset, info.last_offset, info.batch_count), (0, 2999, 3000));
    let read = log.read(0, fetched.len(), i64::MAX, true).expect("read");
    assert_eq!(&read.records[..], &fetched[..]);
}
