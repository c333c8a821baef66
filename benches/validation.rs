//! What the leader's record checks of a produced batch (`sluice_protocol::validator`) cost on
//! the append path, beside the append without them, measured in the same run.
//!
//! For batches of 1 KiB and 16 KiB of records (before compression), uncompressed, lz4 and zstd:
//!
//! - `append/<codec>/<size>/log`: `Log::append_as_leader` of 4 MiB of records (structure,
//!   CRC-32C, offsets, indexing, the segment write): the path without the checks;
//! - `append/<codec>/<size>/validated`: the same, each batch first passing
//!   `validate_produced_batch` (CRC again, then every record walked, decompressing through the
//!   bounded streaming reader), as a Produce does;
//! - `validate/<codec>/<size>`: the checks alone over one batch, no log (gzip and snappy too).
//!
//! The ratio `log / validated` (time) is what to read: the share of append throughput the
//! checks keep. Absolute numbers move with the machine.
//!
//! Run: `nice -n 19 cargo bench --bench validation` (add `-- --quick` for a smoke run).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sluice_protocol::validator::{RecordChecks, validate_produced_batch};
use sluice_protocol::{Compression, RecordBatchBuilder};
use sluice_storage::{Log, LogConfig, LogLoadParams, SystemClock, TopicPartition};

/// Records (uncompressed bytes) appended per measurement.
const APPEND_BYTES: usize = 4 << 20;
const RECORDS_PER_BATCH: usize = 8;

/// A batch of about `size` bytes of records: 8 records with a key and a value of words drawn
/// from a small vocabulary by a fixed xorshift, so that it compresses like text (3–4 times),
/// not like a run of one byte.
fn batch_of(size: usize, codec: Compression) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "sluice",
        "broker",
        "record",
        "batch",
        "offset",
        "leader",
        "replica",
        "epoch",
        "commit",
        "fetch",
        "produce",
        "segment",
        "index",
        "topic",
        "partition",
        "consumer",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut b = RecordBatchBuilder::new(1_700_000_000_000).compression(codec);
    for i in 0..RECORDS_PER_BATCH {
        let mut value = Vec::with_capacity(size / RECORDS_PER_BATCH);
        while value.len() + 24 < size / RECORDS_PER_BATCH {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            value.extend_from_slice(WORDS[(state % 16) as usize].as_bytes());
            value.extend_from_slice(format!(" {} ", state % 1000).as_bytes());
        }
        let key = format!("key-{i:04}");
        b.append(1_700_000_000_000 + i as i64, Some(key.as_bytes()), Some(&value), &[]);
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

fn codec_name(codec: Compression) -> &'static str {
    match codec {
        Compression::None => "none",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Unknown(_) => "unknown",
    }
}

fn append(c: &mut Criterion) {
    let config = LogConfig::default();
    let checks = RecordChecks::for_topic(config.cleanup_policy.compact, config.max_message_bytes);
    for codec in [Compression::None, Compression::Lz4, Compression::Zstd, Compression::Gzip, Compression::Snappy] {
        for size in [1024usize, 16 * 1024] {
            let template = batch_of(size, codec);
            validate_produced_batch(&mut template.clone(), &checks).expect("the template is valid");
            let count = APPEND_BYTES / size;
            let name = format!("{}/{}KiB", codec_name(codec), size / 1024);

            let mut group = c.benchmark_group("validate");
            group.throughput(Throughput::Bytes(template.len() as u64));
            group.bench_function(name.as_str(), |b| {
                let mut bytes = template.clone();
                b.iter(|| black_box(validate_produced_batch(&mut bytes, &checks).expect("valid")))
            });
            group.finish();
            if matches!(codec, Compression::Gzip | Compression::Snappy) {
                continue; // the checks alone; the append comparison is made for none, lz4 and zstd
            }

            let mut group = c.benchmark_group(format!("append/{name}"));
            group.throughput(Throughput::Bytes((count * template.len()) as u64));
            group.sample_size(20);
            for validated in [false, true] {
                group.bench_function(if validated { "validated" } else { "log" }, |b| {
                    b.iter_batched(
                        || {
                            let dir = tempfile::tempdir().expect("tempdir");
                            let mut log = new_log(dir.path());
                            // The epoch checkpoint is written once per epoch: outside the timing.
                            log.append_as_leader(&template.clone(), 0).expect("first append");
                            (dir, log, vec![template.clone(); count])
                        },
                        |(dir, mut log, mut batches)| {
                            for bytes in &mut batches {
                                if validated {
                                    black_box(validate_produced_batch(bytes, &checks).expect("valid"));
                                }
                                black_box(log.append_as_leader(bytes, 0).expect("append"));
                            }
                            (dir, log)
                        },
                        BatchSize::PerIteration,
                    )
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, append);
criterion_main!(benches);
