//! Measures how long the log manager takes to load many partitions after a clean and after an
//! unclean shutdown, and how many file descriptors the loaded logs hold.
//!
//! `cargo run --release -p sluice-storage --example startup -- [partitions] [recovery threads per dir] [dir]`
//! (defaults: 6000 partitions, 1 thread, a temporary directory).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sluice_protocol::RecordBatchBuilder;
use sluice_storage::manager::CLEAN_SHUTDOWN_FILE;
use sluice_storage::{LogConfig, LogManager, LogManagerConfig, SystemClock, TopicPartition};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let partitions: i32 = args.next().map_or(Ok(6000), |a| a.parse())?;
    let threads: usize = args.next().map_or(Ok(1), |a| a.parse())?;
    let tmp = tempfile::tempdir()?;
    let dir = args.next().map_or_else(|| tmp.path().to_path_buf(), PathBuf::from);
    let mut config = LogManagerConfig::new(vec![dir.clone()]);
    config.recovery_threads_per_data_dir = threads;
    let clock = Arc::new(SystemClock);
    let started = Instant::now();
    {
        let manager = LogManager::open(config.clone(), clock.clone())?;
        for p in 0..partitions {
            let tp = TopicPartition::new("many", p);
            let log = manager.get_or_create_log(&tp, LogConfig::default())?;
            let mut b = RecordBatchBuilder::new(1_700_000_000_000);
            b.append(1_700_000_000_000, Some(b"k"), Some(b"value"), &[]);
            log.write().append_as_leader(&b.build(), 0)?;
        }
        manager.checkpoint()?;
        manager.shutdown()?;
    }
    eprintln!("created {partitions} partitions in {:?}", started.elapsed());
    for (name, clean) in [("clean", true), ("unclean", false), ("unclean again", false)] {
        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        if !clean {
            let _ = std::fs::remove_file(&marker);
        }
        let fds = open_fds();
        let started = Instant::now();
        let manager = LogManager::open(config.clone(), clock.clone())?;
        let took = started.elapsed();
        let held = open_fds() - fds;
        eprintln!(
            "{name} open of {} logs with {threads} recovery thread(s): {took:?}, {held} descriptors held",
            manager.all_logs().len()
        );
        if clean {
            manager.shutdown()?;
        } else {
            // Drop without shutdown: the next start is unclean again.
            drop(manager);
        }
    }
    Ok(())
}
