//! Storage throughput beside plain-file baselines measured in the same run.
//!
//! - `append/<size>/log`: `Log::append_as_leader` of 4 MiB in batches of 1 KiB or 16 KiB
//!   (validation, CRC-32C, offset assignment, indexing included), against
//!   `append/<size>/write_all`: `File::write_all` of the same bytes to a fresh file.
//! - `read/<size>/log`: a consumer-style scan of a 64 MiB log with 1 MiB `Log::read`s, against
//!   `read/<size>/read`: plain 1 MiB `read`s of the same segment file.
//!
//! Both sides of a pair write to or read from the same directory, so the ratio between them
//! is what to look at (`scripts/bench` prints it); absolute numbers move with the machine.

use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sluice_protocol::RecordBatchBuilder;
use sluice_storage::{Log, LogConfig, LogLoadParams, SystemClock, TopicPartition};

const APPEND_BYTES: usize = 4 << 20;
const READ_LOG_BYTES: usize = 64 << 20;
const FETCH_BYTES: usize = 1 << 20;

/// One batch of roughly `size` bytes: 8 records of `size / 8` bytes each.
fn batch_of(size: usize) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(1_700_000_000_000);
    let value = vec![b'v'; size / 8 - 20];
    for i in 0..8 {
        b.append(1_700_000_000_000 + i, Some(b"key-0001"), Some(&value), &[]);
    }
    b.build()
}

fn new_log(dir: &std::path::Path) -> Log {
    Log::open(
        dir,
        TopicPartition::new("bench", 0),
        LogConfig::default(),
        LogLoadParams { had_clean_shutdown: true, ..Default::default() },
        Arc::new(SystemClock),
    )
    .expect("open log")
}

fn append(c: &mut Criterion) {
    for size in [1024usize, 16 * 1024] {
        let template = batch_of(size);
        let count = APPEND_BYTES / template.len();
        let mut group = c.benchmark_group(format!("append/{}KiB", size / 1024));
        group.throughput(Throughput::Bytes((count * template.len()) as u64));
        group.sample_size(30);
        group.bench_function("write_all", |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let file = File::create(dir.path().join("plain.log")).expect("create");
                    // The same input as the log gets: `count` separate buffers, not one hot one.
                    (dir, file, vec![template.clone(); count])
                },
                |(dir, mut file, batches)| {
                    for bytes in &batches {
                        file.write_all(bytes).expect("write");
                    }
                    (dir, file)
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function("log", |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let mut log = new_log(dir.path());
                    // Start the leader epoch outside the timing: its checkpoint is written (and
                    // fsync'd) once per epoch, not per append.
                    log.append_as_leader(&template.clone(), 0).expect("first append");
                    let batches = vec![template.clone(); count];
                    (dir, log, batches)
                },
                |(dir, mut log, mut batches)| {
                    for bytes in &mut batches {
                        black_box(log.append_as_leader(bytes, 0).expect("append"));
                    }
                    (dir, log)
                },
                BatchSize::PerIteration,
            )
        });
        group.finish();
    }
}

fn read(c: &mut Criterion) {
    for size in [1024usize, 16 * 1024] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = new_log(dir.path());
        let template = batch_of(size);
        for _ in 0..READ_LOG_BYTES / template.len() {
            log.append_as_leader(&template.clone(), 0).expect("append");
        }
        log.flush().expect("flush");
        let end = log.log_end_offset();
        let total = log.size_in_bytes();
        let segment = dir.path().join("00000000000000000000.log");
        let mut group = c.benchmark_group(format!("read/{}KiB", size / 1024));
        group.throughput(Throughput::Bytes(total));
        group.sample_size(30);
        group.bench_function("read", |b| {
            let mut buf = vec![0u8; FETCH_BYTES];
            b.iter(|| {
                let mut file = File::open(&segment).expect("open");
                let mut read = 0usize;
                loop {
                    let n = file.read(&mut buf).expect("read");
                    if n == 0 {
                        break;
                    }
                    read += n;
                }
                black_box(read)
            })
        });
        group.bench_function("log", |b| {
            b.iter(|| {
                let mut offset = 0;
                let mut read = 0usize;
                while offset < end {
                    let data = log.read(offset, FETCH_BYTES, end, true).expect("read");
                    read += data.records.len();
                    offset = data.next_offset;
                }
                black_box(read)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, append, read);
criterion_main!(benches);
