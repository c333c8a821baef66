//! Transactions in one partition `Log` on real files: open transactions hold the last stable
//! offset back, markers end them, aborted ones land in the aborted-transaction index, and all
//! of it survives reopening (clean or after a crash), truncation and retention.

mod common;

use common::*;
use sluice_protocol::RecordBatchBuilder;
use sluice_protocol::control::{ControlType, EndTxnMarker, marker_batch};
use sluice_protocol::record_batch::Attributes;
use sluice_storage::{AbortedTxn, AppendOrigin, Log, LogLoadParams, StorageError};

/// A transactional batch of `count` records from producer `pid` at `epoch`, from `sequence`.
fn txn_batch(pid: i64, epoch: i16, sequence: i32, count: usize) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(T0).producer(pid, epoch, sequence).attributes(Attributes::TRANSACTIONAL);
    for i in 0..count {
        b.append(T0, None, Some(format!("{pid}:{}", sequence as usize + i).as_bytes()), &[]);
    }
    b.build()
}

fn marker(log: &mut Log, pid: i64, epoch: i16, control_type: ControlType) -> i64 {
    let bytes = marker_batch(pid, epoch, EndTxnMarker { control_type, coordinator_epoch: 0 }, T0);
    log.append_as_leader_from(&bytes, 0, AppendOrigin::Coordinator).expect("marker").first_offset
}

fn hw_to_end(log: &mut Log) {
    let end = log.log_end_offset();
    log.update_high_watermark(end);
}

#[test]
fn an_open_transaction_holds_the_last_stable_offset_until_its_marker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_leader(&batch(2, 10, T0, 0), 0).expect("plain 0-1");
    log.append_as_leader(&txn_batch(7, 0, 0, 3), 0).expect("txn 2-4");
    log.append_as_leader(&batch(2, 10, T0, 1), 0).expect("plain 5-6");
    hw_to_end(&mut log);
    assert_eq!(log.last_stable_offset(), 2, "stops at the open transaction's first record");
    assert!(log.has_ongoing_txn(7));
    let at = marker(&mut log, 7, 0, ControlType::Commit);
    assert_eq!(at, 7);
    assert_eq!(log.last_stable_offset(), 7, "never above the high watermark");
    hw_to_end(&mut log);
    assert_eq!(log.last_stable_offset(), 8);
    assert!(!log.has_ongoing_txn(7));
    assert!(log.collect_aborted_txns(0, 8).is_empty(), "a commit is not aborted");
}

#[test]
fn an_abort_is_indexed_and_reported_to_fetches_that_overlap_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_leader(&txn_batch(1, 0, 0, 2), 0).expect("txn a 0-1");
    log.append_as_leader(&txn_batch(2, 0, 0, 2), 0).expect("txn b 2-3");
    assert_eq!(marker(&mut log, 1, 0, ControlType::Abort), 4);
    log.append_as_leader(&txn_batch(2, 0, 2, 1), 0).expect("txn b 5");
    assert_eq!(marker(&mut log, 2, 0, ControlType::Abort), 6);
    hw_to_end(&mut log);
    let a = AbortedTxn { producer_id: 1, first_offset: 0, last_offset: 4, last_stable_offset: 2 };
    let b = AbortedTxn { producer_id: 2, first_offset: 2, last_offset: 6, last_stable_offset: 7 };
    assert_eq!(log.collect_aborted_txns(0, 7), vec![a, b]);
    assert_eq!(log.collect_aborted_txns(5, 7), vec![b], "a ended before the fetch");
    assert_eq!(log.collect_aborted_txns(0, 1), vec![a], "b starts after the fetch's end");
    assert!(dir.path().join("00000000000000000000.txnindex").exists());
}

#[test]
fn transactions_survive_a_clean_reopen_and_a_crash() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = fresh(dir.path(), small_config(), clock());
        log.append_as_leader(&txn_batch(1, 0, 0, 2), 0).expect("txn 0-1");
        marker(&mut log, 1, 0, ControlType::Abort);
        log.append_as_leader(&batch(5, 2000, T0, 0), 0).expect("plain 3-7");
        log.roll().expect("roll");
        log.append_as_leader(&txn_batch(3, 0, 0, 2), 0).expect("open txn 8-9");
        hw_to_end(&mut log);
        if clean {
            log.close().expect("close");
        }
        drop(log);
        let params = LogLoadParams { had_clean_shutdown: clean, high_watermark: 10, ..Default::default() };
        let mut log = open(dir.path(), small_config(), clock(), params);
        assert_eq!(log.last_stable_offset(), 8, "clean={clean}: the open transaction is still open");
        assert_eq!(
            log.collect_aborted_txns(0, 10),
            vec![AbortedTxn { producer_id: 1, first_offset: 0, last_offset: 2, last_stable_offset: 3 }],
            "clean={clean}"
        );
        marker(&mut log, 3, 0, ControlType::Commit);
        hw_to_end(&mut log);
        assert_eq!(log.last_stable_offset(), 11, "clean={clean}");
    }
}

#[test]
fn a_lost_index_entry_is_derived_again_from_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_leader(&txn_batch(4, 0, 0, 3), 0).expect("txn 0-2");
    marker(&mut log, 4, 0, ControlType::Abort);
    drop(log);
    std::fs::remove_file(dir.path().join("00000000000000000000.txnindex")).expect("lose the index");
    let params = LogLoadParams { had_clean_shutdown: false, high_watermark: 4, ..Default::default() };
    let log = open(dir.path(), small_config(), clock(), params);
    assert_eq!(log.collect_aborted_txns(0, 4).len(), 1);
    assert!(dir.path().join("00000000000000000000.txnindex").exists(), "written again");
}

#[test]
fn truncation_forgets_markers_past_the_cut_and_reopens_their_transactions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_leader(&txn_batch(1, 0, 0, 2), 0).expect("txn 0-1");
    marker(&mut log, 1, 0, ControlType::Abort);
    hw_to_end(&mut log);
    assert_eq!(log.collect_aborted_txns(0, 3).len(), 1);
    assert!(log.truncate_to(2).expect("cut the marker"));
    assert!(log.collect_aborted_txns(0, 3).is_empty());
    assert!(log.has_ongoing_txn(1), "the transaction is open again without its marker");
    assert_eq!(log.last_stable_offset(), 0);
    drop(log);
    let params = LogLoadParams { had_clean_shutdown: false, high_watermark: 2, ..Default::default() };
    let log = open(dir.path(), small_config(), clock(), params);
    assert!(log.collect_aborted_txns(0, 3).is_empty(), "the index file was cut too");
}

#[test]
fn clients_cannot_write_markers_and_stale_markers_are_fenced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    let forged = marker_batch(9, 0, EndTxnMarker { control_type: ControlType::Commit, coordinator_epoch: 0 }, T0);
    let err = log.append_as_leader(&forged, 0).expect_err("a client's control batch");
    assert!(matches!(err, StorageError::InvalidRecord { .. }), "{err}");
    log.append_as_leader(&txn_batch(9, 2, 0, 1), 0).expect("txn at epoch 2");
    let stale = marker_batch(9, 1, EndTxnMarker { control_type: ControlType::Abort, coordinator_epoch: 0 }, T0);
    let err = log.append_as_leader_from(&stale, 0, AppendOrigin::Coordinator).expect_err("older epoch");
    assert!(matches!(err, StorageError::Sequence { .. }), "{err}");
    assert!(log.has_ongoing_txn(9));
    // A fencing abort at a newer epoch ends it and moves the producer to that epoch.
    marker(&mut log, 9, 3, ControlType::Abort);
    assert!(!log.has_ongoing_txn(9));
    let err = log.append_as_leader(&txn_batch(9, 2, 1, 1), 0).expect_err("the fenced epoch");
    assert!(matches!(err, StorageError::Sequence { .. }), "{err}");
    log.append_as_leader(&txn_batch(9, 3, 0, 1), 0).expect("the new epoch starts at sequence 0");
}

#[test]
fn retention_drops_the_aborted_transactions_of_deleted_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_leader(&txn_batch(1, 0, 0, 2), 0).expect("txn 0-1");
    marker(&mut log, 1, 0, ControlType::Abort);
    log.roll().expect("roll");
    log.append_as_leader(&batch(2, 10, T0, 0), 0).expect("plain 3-4");
    hw_to_end(&mut log);
    assert!(log.maybe_increment_log_start_offset(3).expect("delete records"));
    assert_eq!(log.segment_base_offsets(), vec![3]);
    assert!(log.collect_aborted_txns(0, 5).is_empty());
    assert!(!dir.path().join("00000000000000000000.txnindex").exists());
}

#[test]
fn a_deposed_coordinators_late_marker_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    let at = |log: &mut Log, control_type, coordinator_epoch| {
        let bytes = marker_batch(5, 0, EndTxnMarker { control_type, coordinator_epoch }, T0);
        log.append_as_leader_from(&bytes, 0, AppendOrigin::Coordinator)
    };
    log.append_as_leader(&txn_batch(5, 0, 0, 1), 0).expect("txn 1");
    assert_eq!(log.txn_markers_seen(5), 0);
    at(&mut log, ControlType::Commit, 4).expect("the coordinator at epoch 4 commits");
    assert_eq!(log.txn_markers_seen(5), 1, "a leader's verification guard sees the marker");
    log.append_as_leader(&txn_batch(5, 0, 1, 1), 0).expect("txn 2, same producer epoch");
    let err = at(&mut log, ControlType::Commit, 3).expect_err("a marker from coordinator epoch 3");
    assert!(
        matches!(
            err,
            StorageError::Sequence {
                source: sluice_storage::producer_state::SequenceError::CoordinatorFenced { current: 4, .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(log.has_ongoing_txn(5), "txn 2 is still open");
    at(&mut log, ControlType::Abort, 4).expect("its own coordinator ends it");
    assert!(!log.has_ongoing_txn(5));
}

#[test]
fn a_fenced_producers_batch_without_sequence_is_refused() {
    // The group coordinator writes a producer's transactional offset commits with no sequence;
    // once a newer epoch's marker landed, the older epoch's commit is refused.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    let offsets = |epoch| {
        let mut b = RecordBatchBuilder::new(T0).producer(8, epoch, -1).attributes(Attributes::TRANSACTIONAL);
        b.append(T0, Some(b"group/topic/0"), Some(b"42"), &[]);
        b.build()
    };
    log.append_as_leader(&offsets(0), 0).expect("epoch 0 commits offsets");
    assert!(log.has_ongoing_txn(8), "a transaction opened without a sequence");
    marker(&mut log, 8, 1, ControlType::Abort);
    let err = log.append_as_leader(&offsets(0), 0).expect_err("the fenced epoch");
    assert!(matches!(err, StorageError::Sequence { .. }), "{err}");
    log.append_as_leader(&offsets(1), 0).expect("the current epoch");
}

#[test]
fn a_snapshot_past_the_recovered_end_is_removed_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fresh(dir.path(), small_config(), clock());
    log.append_as_leader(&txn_batch(1, 0, 0, 2), 0).expect("txn 0-1");
    marker(&mut log, 1, 0, ControlType::Commit);
    hw_to_end(&mut log);
    log.close().expect("close");
    drop(log);
    // A snapshot from a longer history (cut by recovery) claims a transaction open from 0.
    let other = tempfile::tempdir().expect("tempdir");
    let mut ghost = fresh(other.path(), small_config(), clock());
    ghost.append_as_leader(&txn_batch(1, 0, 0, 2), 0).expect("open txn");
    ghost.close().expect("close");
    drop(ghost);
    let ghost_path = dir.path().join("00000000000000000010.snapshot");
    std::fs::copy(other.path().join("00000000000000000002.snapshot"), &ghost_path).expect("copy");

    let params = LogLoadParams { had_clean_shutdown: false, high_watermark: 3, ..Default::default() };
    let mut log = open(dir.path(), small_config(), clock(), params);
    assert!(!ghost_path.exists(), "removed when the log opened");
    for tag in 0..5 {
        log.append_as_leader(&batch(2, 10, T0, tag), 0).expect("plain");
    }
    hw_to_end(&mut log);
    drop(log);
    let params = LogLoadParams { had_clean_shutdown: false, high_watermark: 13, ..Default::default() };
    let log = open(dir.path(), small_config(), clock(), params);
    assert!(!log.has_ongoing_txn(1));
    assert_eq!(log.last_stable_offset(), 13);
}

/// Producer id expiration (KIP-854) never forgets a producer whose transaction is open here: its
/// first offset holds the last stable offset back until the coordinator's marker comes.
#[test]
fn a_producer_with_an_open_transaction_outlives_the_expiration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let mut log = fresh(dir.path(), small_config(), clock.clone());
    log.append_as_leader(&txn_batch(7, 0, 0, 2), 0).expect("txn 0-1");
    log.append_as_leader(&batch(2, 10, T0, 0), 0).expect("plain 2-3");
    hw_to_end(&mut log);
    clock.advance_ms(10_000);
    assert_eq!(log.maybe_remove_expired_producers(1_000, 1_000), 0);
    assert!(log.has_ongoing_txn(7));
    assert_eq!(log.last_stable_offset(), 0);
    marker(&mut log, 7, 0, ControlType::Commit);
    // The marker is stamped T0 too, so the ended transaction's producer is now idle and goes.
    clock.advance_ms(1_000);
    assert_eq!(log.maybe_remove_expired_producers(1_000, 1_000), 1);
    hw_to_end(&mut log);
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
}
