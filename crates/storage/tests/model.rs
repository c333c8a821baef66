//! Model-based property test of the log: random sequences of appends, reads, rolls,
//! truncations, retention, DeleteRecords, high watermark moves, timestamp lookups and clean or
//! unclean reopens, applied both to a real `LogManager` on disk and to a plain in-memory model
//! (a `Vec` of batches). Every read and every offset must agree. Flush jobs are taken and
//! completed as separate steps, so other operations (truncations above all) run between them,
//! as they do while a job syncs with no lock held; the recovery point must stay within the log.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{T0, batch, batches_of, tp};
use proptest::prelude::*;
use sluice_protocol::record_batch;
use sluice_storage::{LogConfig, LogManager, LogManagerConfig, ManualClock};

#[derive(Debug, Clone)]
enum Op {
    Append { records: usize, value_size: usize, ts_offset: i64, new_epoch: bool },
    Read { at: u64, max_bytes: usize, below_hw: bool, min_one: bool },
    Roll,
    TruncateTo { at: u64 },
    TruncateFully { ahead: i64 },
    SetHighWatermark { at: u64 },
    DeleteRecords { at: u64 },
    Retention { bytes: i64 },
    LookupTimestamp { ts_offset: i64 },
    Checkpoint,
    Reopen { clean: bool },
    TakeFlush,
    CompleteFlush,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1usize..6, 0usize..400, 0i64..2000, proptest::bool::weighted(0.1))
            .prop_map(|(records, value_size, ts_offset, new_epoch)| Op::Append { records, value_size, ts_offset, new_epoch }),
        5 => (any::<u64>(), 1usize..6000, any::<bool>(), proptest::bool::weighted(0.8))
            .prop_map(|(at, max_bytes, below_hw, min_one)| Op::Read { at, max_bytes, below_hw, min_one }),
        1 => Just(Op::Roll),
        1 => any::<u64>().prop_map(|at| Op::TruncateTo { at }),
        1 => (0i64..50).prop_map(|ahead| Op::TruncateFully { ahead }),
        2 => any::<u64>().prop_map(|at| Op::SetHighWatermark { at }),
        1 => any::<u64>().prop_map(|at| Op::DeleteRecords { at }),
        1 => (0i64..20_000).prop_map(|bytes| Op::Retention { bytes }),
        2 => (-100i64..2200).prop_map(|ts_offset| Op::LookupTimestamp { ts_offset }),
        1 => Just(Op::Checkpoint),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => Just(Op::TakeFlush),
        1 => Just(Op::CompleteFlush),
    ]
}

#[derive(Debug, Clone)]
struct ModelBatch {
    base: i64,
    last: i64,
    base_ts: i64,
    bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct Model {
    batches: Vec<ModelBatch>,
    log_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    epochs: Vec<(i32, i64)>,
    epoch: i32,
}

impl Model {
    fn pick(&self, at: u64, lo: i64, hi: i64) -> i64 {
        lo + (at % ((hi - lo + 1) as u64)) as i64
    }

    fn expected_read(&self, offset: i64, max_bytes: usize, max_offset: i64, min_one: bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut total = 0;
        for b in self.batches.iter().filter(|b| b.last >= offset) {
            if b.last >= max_offset {
                break;
            }
            if total + b.bytes.len() > max_bytes && !(out.is_empty() && min_one) {
                break;
            }
            total += b.bytes.len();
            out.push(b.bytes.clone());
        }
        out
    }

    fn truncate_fully(&mut self, offset: i64) {
        self.batches.clear();
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        self.high_watermark = offset;
        self.epochs.clear();
    }

    /// The log start moved up: epochs wholly before it go, the one in force starts there.
    fn advance_log_start(&mut self, start: i64) {
        self.log_start_offset = start;
        if let Some(i) = self.epochs.iter().rposition(|e| e.1 <= start) {
            self.epochs.drain(..i);
            self.epochs[0].1 = start;
        }
    }

    fn end_offset_for(&self, epoch: i32) -> (i32, i64) {
        if self.epochs.last().map(|e| e.0) == Some(epoch) {
            return (epoch, self.log_end_offset);
        }
        let higher = self.epochs.iter().find(|e| e.0 > epoch);
        let floor = self.epochs.iter().rev().find(|e| e.0 <= epoch);
        match (floor, higher) {
            (_, None) => (-1, -1),
            (None, Some(h)) => (epoch, h.1),
            (Some(f), Some(h)) => (f.0, h.1),
        }
    }
}

fn manager(dir: &Path, config: &LogConfig, clock: &Arc<ManualClock>) -> LogManager {
    let mut c = LogManagerConfig::new(vec![dir.to_path_buf()]);
    c.default_log_config = config.clone();
    LogManager::open(c, clock.clone()).expect("open log manager")
}

fn run(ops: Vec<Op>, config: LogConfig) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0 + 10_000));
    let mut mgr = Some(manager(dir.path(), &config, &clock));
    mgr.as_ref().expect("open").get_or_create_log(&tp(), config.clone()).expect("create");
    let mut m = Model::default();
    let mut tag = 0u64;
    let mut pending_flush: Option<sluice_storage::FlushJob> = None;
    for op in ops {
        let manager_ref = mgr.as_ref().expect("open");
        let log = manager_ref.get_log(&tp()).expect("log exists");
        match op {
            Op::Append { records, value_size, ts_offset, new_epoch } => {
                if new_epoch {
                    m.epoch += 1;
                }
                tag += 1;
                let mut bytes = batch(records, value_size, T0 + ts_offset, tag);
                let info = log.write().append_as_leader(&bytes, m.epoch).expect("append");
                prop_assert_eq!(info.first_offset, m.log_end_offset);
                // The log writes the offset and epoch it assigned; the caller's bytes stay as they were.
                let sent = bytes.clone();
                record_batch::set_base_offset(&mut bytes, info.first_offset);
                record_batch::set_partition_leader_epoch(&mut bytes, m.epoch);
                prop_assert_eq!(
                    &bytes[record_batch::UNCHECKED_PREFIX_SIZE..],
                    &sent[record_batch::UNCHECKED_PREFIX_SIZE..]
                );
                let base = m.log_end_offset;
                let last = base + records as i64 - 1;
                if m.epochs.last().is_none_or(|e| m.epoch > e.0) {
                    m.epochs.push((m.epoch, base));
                }
                m.batches.push(ModelBatch { base, last, base_ts: T0 + ts_offset, bytes });
                m.log_end_offset = last + 1;
            }
            Op::Read { at, max_bytes, below_hw, min_one } => {
                let offset = m.pick(at, m.log_start_offset, m.log_end_offset);
                let max_offset = if below_hw { m.high_watermark } else { m.log_end_offset };
                let got = log.read().read(offset, max_bytes, max_offset, min_one).expect("read in range");
                let got: Vec<Vec<u8>> = {
                    let parsed = batches_of(&got.records);
                    let mut raw = Vec::new();
                    let mut pos = 0;
                    for (_, _, payload) in parsed {
                        let len = 61 + payload.len();
                        raw.push(got.records[pos..pos + len].to_vec());
                        pos += len;
                    }
                    raw
                };
                let want = m.expected_read(offset, max_bytes, max_offset, min_one);
                prop_assert_eq!(
                    got.len(),
                    want.len(),
                    "batch count reading {} max {} bound {}",
                    offset,
                    max_bytes,
                    max_offset
                );
                prop_assert!(got == want, "bytes differ reading {}", offset);
                // The sendfile path (file slices, bounds from the recent batches or the headers)
                // names exactly the bytes the copying path read.
                let (slices, _) =
                    log.read().read_slices(offset, max_bytes, max_offset, min_one).expect("slices in range");
                let mut sliced = bytes::BytesMut::new();
                for slice in &slices {
                    slice.read_into(&mut sliced).expect("slice readable");
                }
                prop_assert!(sliced.to_vec() == want.concat(), "read_slices differs from read at {}", offset);
                if offset < m.log_end_offset {
                    prop_assert!(log.read().read(m.log_end_offset + 1, 10, i64::MAX, true).is_err());
                }
            }
            Op::Roll => log.write().roll().expect("roll"),
            Op::TruncateTo { at } => {
                let target = m.pick(at, 0, m.log_end_offset);
                drop(log);
                manager_ref.truncate_to(&tp(), target).expect("truncate");
                if target < m.log_end_offset {
                    if target <= m.log_start_offset {
                        m.truncate_fully(target);
                    } else {
                        m.batches.retain(|b| b.last < target);
                        let new_end = m.batches.last().map_or(m.log_start_offset, |b| b.last + 1);
                        if new_end < m.log_start_offset {
                            let start = m.log_start_offset;
                            m.truncate_fully(start);
                        } else {
                            m.log_end_offset = new_end;
                            m.high_watermark = m.high_watermark.min(new_end);
                            m.epochs.retain(|e| e.1 < new_end);
                        }
                    }
                }
            }
            Op::TruncateFully { ahead } => {
                let offset = m.log_end_offset + ahead;
                drop(log);
                manager_ref.truncate_fully_and_start_at(&tp(), offset).expect("truncate fully");
                m.truncate_fully(offset);
            }
            Op::SetHighWatermark { at } => {
                let hw = m.pick(at, m.log_start_offset, m.log_end_offset);
                prop_assert_eq!(log.write().update_high_watermark(hw), hw);
                m.high_watermark = hw;
            }
            Op::DeleteRecords { at } => {
                let target = m.pick(at, m.log_start_offset, m.high_watermark);
                drop(log);
                let start = manager_ref.delete_records(&tp(), target).expect("delete records");
                if target > m.log_start_offset {
                    m.advance_log_start(target);
                }
                prop_assert_eq!(start, m.log_start_offset);
            }
            Op::Retention { bytes } => {
                let mut log = log.write();
                let mut c = log.config().clone();
                c.retention_bytes = bytes;
                c.retention_ms = -1;
                log.update_config(c);
                let size_before = log.size_in_bytes() as i64;
                let bases_before = log.segment_base_offsets();
                let leo_before = log.log_end_offset();
                let deleted = log.delete_old_segments().expect("retention");
                let new_start = log.log_start_offset();
                prop_assert!(new_start >= m.log_start_offset && new_start <= m.high_watermark.max(m.log_start_offset));
                if deleted > 0 {
                    prop_assert_eq!(new_start.max(m.log_start_offset), new_start);
                    // The first segment left is an old one, or, when every segment was past
                    // retention, the one rolled at the log end so that all of them could go.
                    let first = log.segment_base_offsets()[0];
                    prop_assert!(bases_before.contains(&first) || first == log.log_end_offset());
                    // Segments wholly below the log start offset go regardless of size (the
                    // active one too, when all it holds is below the log start).
                    let first_end = bases_before.get(1).copied().unwrap_or(leo_before);
                    let below_start = first_end <= m.log_start_offset;
                    if !below_start {
                        prop_assert!(
                            size_before - log.size_in_bytes() as i64 <= (size_before - bytes).max(0),
                            "deleted more than needed"
                        );
                    }
                }
                if new_start > m.log_start_offset {
                    m.advance_log_start(new_start);
                }
                let mut c = log.config().clone();
                c.retention_bytes = -1;
                log.update_config(c);
            }
            Op::LookupTimestamp { ts_offset } => {
                let target = T0 + ts_offset;
                let got =
                    log.read().fetch_offset_by_timestamp(target).expect("lookup").map(|t| (t.timestamp, t.offset));
                let want = m
                    .batches
                    .iter()
                    .flat_map(|b| (b.base..=b.last).map(move |o| (b.base_ts + (o - b.base), o)))
                    .find(|&(ts, o)| o >= m.log_start_offset && ts >= target);
                prop_assert_eq!(got, want, "timestamp lookup {}", target);
            }
            Op::Checkpoint => manager_ref.checkpoint().expect("checkpoint"),
            Op::TakeFlush => {
                if pending_flush.is_none() {
                    pending_flush = log.write().take_flush_job(m.log_end_offset).expect("take flush");
                }
            }
            Op::CompleteFlush => {
                if let Some(job) = pending_flush.take() {
                    // The fsyncs themselves are not what is modelled (and are slow on a real
                    // disk hundreds of times over): the completion is, given a job that synced.
                    log.write().complete_flush(job, Ok(())).expect("complete flush");
                }
            }
            Op::Reopen { clean } => {
                // A job belongs to the log it was taken from.
                pending_flush = None;
                drop(log);
                let old = mgr.take().expect("open");
                if clean {
                    old.shutdown().expect("clean shutdown");
                }
                drop(old); // releases the directory lock
                mgr = Some(manager(dir.path(), &config, &clock));
                let log = mgr.as_ref().expect("reopened").get_log(&tp()).expect("log reloaded");
                let log = log.read();
                prop_assert_eq!(
                    log.log_end_offset(),
                    m.log_end_offset,
                    "log end offset after reopen (clean={})",
                    clean
                );
                // The log start offset is either a segment boundary or checkpointed when set.
                prop_assert_eq!(
                    log.log_start_offset(),
                    m.log_start_offset,
                    "log start offset after reopen (clean={})",
                    clean
                );
                if clean {
                    prop_assert_eq!(log.high_watermark(), m.high_watermark);
                } else {
                    // The high watermark checkpoint is periodic: after a crash it may be stale
                    // (replication moves it on again), but always within the log.
                    m.high_watermark = log.high_watermark();
                    prop_assert!(m.log_start_offset <= m.high_watermark && m.high_watermark <= m.log_end_offset);
                }
            }
        }
        // Invariants after every step.
        let log = mgr.as_ref().expect("open").get_log(&tp()).expect("log");
        let log = log.read();
        prop_assert_eq!(log.log_end_offset(), m.log_end_offset);
        prop_assert_eq!(log.log_start_offset(), m.log_start_offset);
        prop_assert_eq!(log.high_watermark(), m.high_watermark);
        prop_assert!(
            log.recovery_point() <= log.log_end_offset(),
            "recovery point {} past the log end {}",
            log.recovery_point(),
            log.log_end_offset()
        );
        prop_assert_eq!(log.latest_epoch(), m.epochs.last().map(|e| e.0));
        for &(epoch, start) in &m.epochs {
            if start > m.log_start_offset {
                prop_assert_eq!(log.end_offset_for_epoch(epoch), m.end_offset_for(epoch), "epoch {}", epoch);
            }
        }
    }
    Ok(())
}

/// Segments from just over one largest batch (5 records of 400 bytes) to a few of them.
fn config() -> impl Strategy<Value = LogConfig> {
    (2400u64..8192, 0usize..1500, 2usize..50).prop_map(|(segment_bytes, index_interval_bytes, index_entries)| {
        LogConfig {
            segment_bytes,
            index_interval_bytes,
            segment_index_bytes: index_entries * 12,
            retention_ms: -1,
            ..LogConfig::default()
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 4000, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_in_memory_model(ops in proptest::collection::vec(op(), 1..80), config in config()) {
        run(ops, config)?;
    }
}
