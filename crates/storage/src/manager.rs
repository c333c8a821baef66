//! `LogManager`: every partition log under the configured `log.dirs`. Kafka's `LogManager`.
//!
//! Per log directory it owns:
//!
//! | file | purpose |
//! |---|---|
//! | `.lock` | held (flock) while a process uses the directory |
//! | `.kafka_cleanshutdown` | written last at a clean shutdown, removed once the directory is scanned at startup (before any log in it can change); its absence at startup means recovery |
//! | `recovery-point-offset-checkpoint` | per partition, the offset below which data is flushed |
//! | `log-start-offset-checkpoint` | per partition, the log start offset |
//! | `replication-offset-checkpoint` | per partition, the high watermark |
//! | `<topic>-<partition>/` | one partition's segments and `leader-epoch-checkpoint` |
//!
//! Startup is two steps, so that a broker serves each partition as soon as its own log is
//! loaded rather than after all of them ([`LogManager::scan_locked`], then
//! [`LogManager::load_logs`]; [`LogManager::open`] does both):
//! 1. the scan lists which partitions each directory holds (cheap: directory names and the
//!    checkpoint files) and removes the clean-shutdown markers, since loaded logs take writes
//!    while others still load;
//! 2. the load opens (and, after a crash, recovers) each log, `num.recovery.threads.per.data.dir`
//!    threads per directory (Kafka's recovery thread pools), in partition order; each log is
//!    available the moment it is loaded. Kafka instead loads every log before it serves any.
//!
//! A log found by the scan and not loaded yet is *pending*. Invariant: a pending partition never
//! gets a new log ([`LogManager::get_or_create_log`] refuses it with
//! [`StorageError::LogNotLoaded`]), because a fresh log in its place would lose its data. Its
//! checkpointed offsets stay in the checkpoint files until it loads, and a deletion asked for
//! while it is pending happens once the loader is done with it. [`LogManager::shutdown`] stops
//! the loaders (each finishes the log it is on) before it closes anything.
//!
//! Periodic work (retention, flushes, compaction, checkpoints, closing cold segments' files,
//! producer id expiration) is driven by [`LogManager::maintenance`], which the broker calls on a
//! timer. It follows the log's lock discipline (see `log` and `jobs`): each log's lock is held
//! only to decide and to update memory, never across an fsync, an unlink or a compaction's
//! reading and writing. The only threads this crate starts are the scoped ones of
//! `load_logs`, joined before it returns.
//!
//! Concurrency: the map of logs is behind a read-write lock held only to look up, add or remove
//! a log; each log is behind its own read-write lock (appends write, reads read). The pending
//! logs sit behind a mutex taken after the map's lock when both are needed, so "not loaded" and
//! "loaded" change together for every observer.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::checkpoint;
use crate::clock::Clock;
use crate::config::LogConfig;
use crate::dir_lock::DirLock;
use crate::error::{Result, StorageError, io_err};
use crate::jobs;
use crate::log::{Log, LogLoadParams};
use crate::topic_partition::TopicPartition;

pub use crate::dir_lock::LOCK_FILE;
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
pub const RECOVERY_POINT_CHECKPOINT_FILE: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_OFFSET_CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";
pub const HIGH_WATERMARK_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";
/// Suffix of a partition directory being deleted.
pub const DELETE_DIR_SUFFIX: &str = "-delete";
/// Suffix of a partition directory being copied into another log directory
/// ([`LogManager::move_log`], AlterReplicaLogDirs): Kafka's future replica.
pub const FUTURE_DIR_SUFFIX: &str = "-future";

/// Files of a partition directory a move does not copy: segments detached for deletion and a
/// compaction's or a checkpoint's work in progress.
const UNCOPIED_SUFFIXES: [&str; 4] = [".deleted", ".cleaned", ".swap", ".tmp"];

/// A log shared between the threads that append to and read from it.
pub type SharedLog = Arc<RwLock<Log>>;

/// How long a segment other than the active one keeps its files open after its last use
/// (see `segment`): long enough that a consumer reading through a segment keeps it open, short
/// enough that a sweep over old data (a new consumer group from the earliest offset) gives its
/// descriptors back soon after. Kafka has no such bound (every `.log` stays open).
pub const DEFAULT_COLD_SEGMENT_IDLE_MS: i64 = 60_000;

/// Kafka's default `num.recovery.threads.per.data.dir`.
pub const DEFAULT_RECOVERY_THREADS_PER_DATA_DIR: usize = 1;

/// Loading logs at startup writes a progress line every this many logs.
const LOAD_PROGRESS_EVERY_LOGS: usize = 1_000;

/// Broker-level storage settings, with Kafka's keys and defaults.
#[derive(Debug, Clone)]
pub struct LogManagerConfig {
    /// `log.dirs`
    pub log_dirs: Vec<PathBuf>,
    /// Defaults for every log (`log.segment.bytes`, `log.retention.ms`, ...).
    pub default_log_config: LogConfig,
    /// `log.retention.check.interval.ms`
    pub retention_check_interval_ms: i64,
    /// `log.flush.scheduler.interval.ms`: how often logs are checked against `flush.ms`.
    pub flush_scheduler_interval_ms: i64,
    /// `log.flush.offset.checkpoint.interval.ms`: recovery point and high watermark checkpoints.
    pub flush_offset_checkpoint_interval_ms: i64,
    /// `log.flush.start.offset.checkpoint.interval.ms`
    pub flush_start_offset_checkpoint_interval_ms: i64,
    /// `log.cleaner.backoff.ms`: how often compacted logs are cleaned.
    pub cleaner_backoff_ms: i64,
    /// `num.recovery.threads.per.data.dir`: threads loading (and recovering) the logs of each
    /// directory at startup, all directories at once, and closing them at shutdown.
    pub recovery_threads_per_data_dir: usize,
    /// How long an inactive segment's files stay open after their last use.
    pub cold_segment_idle_ms: i64,
    /// `producer.id.expiration.ms` and `producer.id.expiration.check.interval.ms` (KIP-854):
    /// see `Log::maybe_remove_expired_producers`.
    pub producer_id_expiration_ms: i64,
    pub producer_id_expiration_check_interval_ms: i64,
}

impl LogManagerConfig {
    pub fn new(log_dirs: Vec<PathBuf>) -> Self {
        LogManagerConfig {
            log_dirs,
            default_log_config: LogConfig::default(),
            retention_check_interval_ms: 5 * 60 * 1000,
            flush_scheduler_interval_ms: i64::MAX,
            flush_offset_checkpoint_interval_ms: 60_000,
            flush_start_offset_checkpoint_interval_ms: 60_000,
            cleaner_backoff_ms: 15_000,
            recovery_threads_per_data_dir: DEFAULT_RECOVERY_THREADS_PER_DATA_DIR,
            cold_segment_idle_ms: DEFAULT_COLD_SEGMENT_IDLE_MS,
            producer_id_expiration_ms: crate::producer_state::DEFAULT_PRODUCER_ID_EXPIRATION_MS,
            producer_id_expiration_check_interval_ms:
                crate::producer_state::DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS,
        }
    }
}

#[derive(Debug)]
struct LogDir {
    path: PathBuf,
    _lock: DirLock,
}

#[derive(Debug, Default)]
struct Timers {
    last_retention_ms: i64,
    last_flush_check_ms: i64,
    last_offset_checkpoint_ms: i64,
    last_start_offset_checkpoint_ms: i64,
    last_clean_ms: i64,
    last_cold_check_ms: i64,
}

/// What one maintenance pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub segments_deleted: usize,
    pub logs_flushed: usize,
    pub checkpoints_written: bool,
    pub records_compacted: u64,
    /// Inactive segments whose files were closed for being cold.
    pub segments_closed: usize,
}

/// A log the startup scan found and the loaders have not made available yet.
#[derive(Debug, Clone)]
struct PendingLog {
    dir_index: usize,
    dir: PathBuf,
    /// What the directory's checkpoints and clean-shutdown marker said at the scan.
    params: LogLoadParams,
    /// `delete_log` was asked while the log was pending: the loader deletes it instead of
    /// making it available (or `shutdown` does, if no loader got to it).
    delete_when_loaded: bool,
}

/// The logs still to load, and the loaders' bookkeeping.
#[derive(Debug, Default)]
struct Loading {
    pending: BTreeMap<TopicPartition, PendingLog>,
    /// Set by `shutdown`: the loaders take no further log.
    stop: bool,
    /// `load_logs` calls in progress; `shutdown` waits for none.
    running: usize,
}

#[derive(Debug)]
pub struct LogManager {
    config: LogManagerConfig,
    dirs: Vec<LogDir>,
    logs: RwLock<BTreeMap<TopicPartition, (usize, SharedLog)>>,
    /// Lock order: `logs` first, then `loading`.
    loading: Mutex<Loading>,
    /// Signalled when a `load_logs` call ends.
    loaders_done: Condvar,
    clock: Arc<dyn Clock>,
    timers: Mutex<Timers>,
    /// Serialises checkpoint writes: each snapshots every log, and a slower writer must not
    /// replace a newer snapshot with an older one.
    checkpoint_lock: Mutex<()>,
    /// Logs being moved to another directory: partition -> destination directory index.
    moving: Mutex<BTreeMap<TopicPartition, usize>>,
}

impl LogManager {
    /// Locks every log directory and loads every log in them, recovering those of a directory
    /// that was not shut down cleanly.
    pub fn open(config: LogManagerConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let locks = config.log_dirs.iter().map(|d| DirLock::acquire(d)).collect::<Result<Vec<_>>>()?;
        Self::open_locked(config, clock, locks)
    }

    /// As [`LogManager::open`], with every log directory already locked by the caller (a process
    /// locks all its directories before it writes to any of them).
    pub fn open_locked(config: LogManagerConfig, clock: Arc<dyn Clock>, locks: Vec<DirLock>) -> Result<Self> {
        let manager = Self::scan_locked(config, clock, locks)?;
        manager.load_logs(&|_| {})?;
        Ok(manager)
    }

    /// The first half of [`LogManager::open_locked`]: finds the logs of every directory and
    /// notes what their checkpoints say, without opening any. Until [`LogManager::load_logs`]
    /// has loaded a log it is pending: absent from [`LogManager::get_log`] and refused by
    /// [`LogManager::get_or_create_log`].
    pub fn scan_locked(config: LogManagerConfig, clock: Arc<dyn Clock>, locks: Vec<DirLock>) -> Result<Self> {
        assert!(!config.log_dirs.is_empty(), "log.dirs must name at least one directory");
        let mut locks: BTreeMap<PathBuf, DirLock> = locks.into_iter().map(|l| (l.dir().to_path_buf(), l)).collect();
        let started = Instant::now();
        let mut dirs = Vec::new();
        let mut pending: BTreeMap<TopicPartition, PendingLog> = BTreeMap::new();
        let mut clean_markers = Vec::new();
        let mut futures: Vec<(usize, TopicPartition, PathBuf)> = Vec::new();
        for (dir_index, path) in config.log_dirs.iter().enumerate() {
            let lock = locks.remove(path).unwrap_or_else(|| panic!("log directory {} opened unlocked", path.display()));
            // Temporary checkpoint files of a write interrupted by a crash.
            for entry in fs::read_dir(path).map_err(|e| io_err("list log directory", path, e))?.flatten() {
                let p = entry.path();
                if p.is_file() && p.extension().is_some_and(|e| e == "tmp") {
                    fs::remove_file(&p).map_err(|e| io_err("remove temporary file", &p, e))?;
                }
            }
            let clean_marker = path.join(CLEAN_SHUTDOWN_FILE);
            let had_clean_shutdown = clean_marker.exists();
            let recovery_points = checkpoint::read_offsets(&path.join(RECOVERY_POINT_CHECKPOINT_FILE)).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "ignoring unreadable recovery point checkpoint; recovering all logs in the directory");
                BTreeMap::new()
            });
            let start_offsets =
                checkpoint::read_offsets(&path.join(LOG_START_OFFSET_CHECKPOINT_FILE)).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "ignoring unreadable log start offset checkpoint");
                    BTreeMap::new()
                });
            let high_watermarks =
                checkpoint::read_offsets(&path.join(HIGH_WATERMARK_CHECKPOINT_FILE)).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "ignoring unreadable high watermark checkpoint");
                    BTreeMap::new()
                });
            for entry in fs::read_dir(path).map_err(|e| io_err("list log directory", path, e))? {
                let entry = entry.map_err(|e| io_err("list log directory", path, e))?;
                let child = entry.path();
                if !child.is_dir() {
                    continue;
                }
                let Some(name) = child.file_name().and_then(|n| n.to_str()) else { continue };
                if name.ends_with(".tmp") && child.is_file() {
                    continue;
                }
                if name.ends_with(DELETE_DIR_SUFFIX) {
                    fs::remove_dir_all(&child).map_err(|e| io_err("remove deleted log", &child, e))?;
                    continue;
                }
                if let Some(stem) = name.strip_suffix(FUTURE_DIR_SUFFIX) {
                    // `<topic>-<partition>.<ms>-future`: decided once every directory is scanned.
                    if let Some(tp) = stem.rsplit_once('.').and_then(|(d, _)| TopicPartition::from_dir_name(d)) {
                        futures.push((dir_index, tp, child));
                        continue;
                    }
                }
                // The embedded keeper's Raft log and snapshots (keeper.data.dir's default).
                if name == "keeper" {
                    continue;
                }
                let Some(tp) = TopicPartition::from_dir_name(name) else {
                    tracing::warn!(dir = %child.display(), "ignoring a directory that is not a partition log");
                    continue;
                };
                if let Some(first) = pending.get(&tp) {
                    return Err(StorageError::DuplicateLog { tp, first: first.dir.clone(), second: child });
                }
                let params = LogLoadParams {
                    // Without a clean shutdown and without a checkpoint, recover everything.
                    recovery_point: recovery_points.get(&tp).copied().unwrap_or(0),
                    log_start_offset: start_offsets.get(&tp).copied(),
                    high_watermark: high_watermarks.get(&tp).copied().unwrap_or(0),
                    had_clean_shutdown,
                };
                pending.insert(tp, PendingLog { dir_index, dir: child, params, delete_when_loaded: false });
            }
            if had_clean_shutdown {
                clean_markers.push(clean_marker);
            }
            dirs.push(LogDir { path: path.clone(), _lock: lock });
        }
        // A move interrupted by a crash: its copy is complete once the source directory was
        // renamed away (the last step before the copy takes the live name), so a copy whose
        // partition has no live directory anywhere becomes it (and is recovered); any other is
        // an unfinished copy and goes.
        for (dir_index, tp, future) in futures {
            if pending.contains_key(&tp) {
                tracing::info!(%tp, dir = %future.display(), "removing an unfinished log move");
                fs::remove_dir_all(&future).map_err(|e| io_err("remove unfinished log move", &future, e))?;
                continue;
            }
            let live = config.log_dirs[dir_index].join(tp.dir_name());
            fs::rename(&future, &live).map_err(|e| io_err("complete log move", &future, e))?;
            checkpoint::sync_dir(&config.log_dirs[dir_index])?;
            tracing::info!(%tp, dir = %live.display(), "completed a log move interrupted by a restart");
            let params = LogLoadParams {
                recovery_point: 0,
                log_start_offset: None,
                high_watermark: 0,
                had_clean_shutdown: false,
            };
            pending.insert(tp, PendingLog { dir_index, dir: live, params, delete_when_loaded: false });
        }
        // Each pending log keeps what the marker said. From here on a crash must be noticed:
        // logs loaded early take writes while the others still load.
        for marker in clean_markers {
            fs::remove_file(&marker).map_err(|e| io_err("remove clean shutdown marker", &marker, e))?;
            if let Some(dir) = marker.parent() {
                checkpoint::sync_dir(dir)?;
            }
        }
        let now = clock.now_ms();
        let timers = Timers {
            last_retention_ms: now,
            last_flush_check_ms: now,
            last_offset_checkpoint_ms: now,
            last_start_offset_checkpoint_ms: now,
            last_clean_ms: now,
            last_cold_check_ms: now,
        };
        tracing::info!(
            logs = pending.len(),
            dirs = dirs.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "log directories scanned; their logs load next"
        );
        Ok(LogManager {
            config,
            dirs,
            logs: RwLock::new(BTreeMap::new()),
            loading: Mutex::new(Loading { pending, ..Default::default() }),
            loaders_done: Condvar::new(),
            clock,
            timers: Mutex::new(timers),
            checkpoint_lock: Mutex::new(()),
            moving: Mutex::new(BTreeMap::new()),
        })
    }

    /// Loads (recovering where needed) every pending log, `num.recovery.threads.per.data.dir`
    /// threads per directory and all directories at once, as Kafka's per-directory recovery
    /// pools; blocks until all are loaded or [`LogManager::shutdown`] stops it. Each log is
    /// available (and `on_loaded` called with its partition) as soon as it is loaded, in
    /// partition order per directory. The first failure stops the loading and is returned; the
    /// logs not loaded stay pending. A thread that cannot be started leaves its share to the
    /// others, and whatever no thread took is loaded on the calling thread.
    pub fn load_logs(&self, on_loaded: &(dyn Fn(&TopicPartition) + Sync)) -> Result<()> {
        let jobs: Vec<Vec<TopicPartition>> = {
            let mut loading = self.loading.lock();
            if loading.stop {
                return Ok(());
            }
            loading.running += 1;
            let mut jobs = vec![Vec::new(); self.dirs.len()];
            for (tp, p) in &loading.pending {
                jobs[p.dir_index].push(tp.clone());
            }
            jobs
        };
        let _running = RunningLoader(self);
        let started = Instant::now();
        let total: usize = jobs.iter().map(Vec::len).sum();
        let next: Vec<AtomicUsize> = jobs.iter().map(|_| AtomicUsize::new(0)).collect();
        let done = AtomicUsize::new(0);
        let failed: Mutex<Option<StorageError>> = Mutex::new(None);
        let worker = |dir_index: usize| {
            let dir_jobs = &jobs[dir_index];
            while failed.lock().is_none() && !self.loading.lock().stop {
                let i = next[dir_index].fetch_add(1, Ordering::Relaxed);
                let Some(tp) = dir_jobs.get(i) else { break };
                match self.load_one(tp) {
                    Ok(true) => on_loaded(tp),
                    Ok(false) => {}
                    Err(e) => {
                        failed.lock().get_or_insert(e);
                        break;
                    }
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(LOAD_PROGRESS_EVERY_LOGS) {
                    tracing::info!(loaded = n, total, "loading logs");
                }
            }
        };
        std::thread::scope(|scope| {
            for dir_index in (0..jobs.len()).filter(|&d| !jobs[d].is_empty()) {
                for t in 0..self.config.recovery_threads_per_data_dir.min(jobs[dir_index].len()) {
                    let spawned = std::thread::Builder::new()
                        .name(format!("log-recovery-{dir_index}-{t}"))
                        .spawn_scoped(scope, move || worker(dir_index));
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "cannot start a log recovery thread; the others take its share");
                        break;
                    }
                }
            }
        });
        for dir_index in 0..jobs.len() {
            worker(dir_index);
        }
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        let loaded = done.load(Ordering::Relaxed);
        let stopped = loaded < total;
        tracing::info!(
            loaded,
            total,
            dirs = self.dirs.len(),
            threads_per_dir = self.config.recovery_threads_per_data_dir,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "{}",
            if stopped { "log loading stopped: shutting down" } else { "log manager loaded" }
        );
        Ok(())
    }

    /// Loads the pending log of `tp` and makes it available (true), or deletes it if that was
    /// asked meanwhile (false). A log no longer pending (another `load_logs` call took it) is
    /// left alone (false).
    fn load_one(&self, tp: &TopicPartition) -> Result<bool> {
        let Some(p) = self.loading.lock().pending.get(tp).cloned() else { return Ok(false) };
        if p.delete_when_loaded {
            self.discard_pending(tp, &p, None)?;
            return Ok(false);
        }
        let log = Log::open(&p.dir, tp.clone(), self.config.default_log_config.clone(), p.params, self.clock.clone())?;
        let mut logs = self.logs.write();
        let mut loading = self.loading.lock();
        match loading.pending.get(tp) {
            None => return Ok(false),
            Some(now) if now.delete_when_loaded => {
                drop(loading);
                drop(logs);
                self.discard_pending(tp, &p, Some(log))?;
                return Ok(false);
            }
            Some(_) => {}
        }
        loading.pending.remove(tp);
        let previous = logs.insert(tp.clone(), (p.dir_index, Arc::new(RwLock::new(log))));
        assert!(previous.is_none(), "{tp}: a log was created while its log on disk was pending");
        Ok(true)
    }

    /// Deletes the files of a pending log (closing `log` first if it was opened), then takes it
    /// out of the pending map. The directory is renamed away before the partition stops being
    /// pending, so a log created for it afterwards never finds the old files.
    fn discard_pending(&self, tp: &TopicPartition, p: &PendingLog, log: Option<Log>) -> Result<()> {
        if let Some(mut log) = log {
            let _ = log.close();
        }
        let doomed = self.doomed_dir(p.dir_index, tp);
        fs::rename(&p.dir, &doomed).map_err(|e| io_err("rename for deletion", &p.dir, e))?;
        checkpoint::sync_dir(&self.dirs[p.dir_index].path)?;
        {
            let _logs = self.logs.write();
            self.loading.lock().pending.remove(tp);
        }
        fs::remove_dir_all(&doomed).map_err(|e| io_err("delete log directory", &doomed, e))?;
        tracing::info!(%tp, "deleted log (asked while it was loading)");
        Ok(())
    }

    /// Where a partition's directory goes while it is deleted: `<topic>-<partition>.<ms>-delete`
    /// (a crash mid-delete finishes at the next start).
    fn doomed_dir(&self, dir_index: usize, tp: &TopicPartition) -> PathBuf {
        self.dirs[dir_index].path.join(format!("{}.{}{}", tp.dir_name(), self.clock.now_ms(), DELETE_DIR_SUFFIX))
    }

    /// Whether `tp` has a log on disk here that is not loaded yet.
    pub fn is_loading(&self, tp: &TopicPartition) -> bool {
        self.loading.lock().pending.contains_key(tp)
    }

    /// How many logs are not loaded yet.
    pub fn pending_count(&self) -> usize {
        self.loading.lock().pending.len()
    }

    /// Stops the loaders (each finishes the log it is on) and waits for them.
    fn stop_loading(&self) {
        let mut loading = self.loading.lock();
        loading.stop = true;
        while loading.running > 0 {
            self.loaders_done.wait(&mut loading);
        }
    }

    pub fn config(&self) -> &LogManagerConfig {
        &self.config
    }

    pub fn get_log(&self, tp: &TopicPartition) -> Option<SharedLog> {
        self.logs.read().get(tp).map(|(_, log)| log.clone())
    }

    pub fn all_logs(&self) -> Vec<(TopicPartition, SharedLog)> {
        self.logs.read().iter().map(|(tp, (_, log))| (tp.clone(), log.clone())).collect()
    }

    /// The log of `tp`, created with `config` in the least-loaded directory if missing. A
    /// partition whose log on disk is still loading is refused with
    /// [`StorageError::LogNotLoaded`]: creating a log in its place would lose its data.
    pub fn get_or_create_log(&self, tp: &TopicPartition, config: LogConfig) -> Result<SharedLog> {
        let mut logs = self.logs.write();
        if let Some((_, log)) = logs.get(tp) {
            return Ok(log.clone());
        }
        let mut counts = vec![0usize; self.dirs.len()];
        for (dir, _) in logs.values() {
            counts[*dir] += 1;
        }
        {
            let loading = self.loading.lock();
            if loading.pending.contains_key(tp) {
                return Err(StorageError::LogNotLoaded { tp: tp.clone() });
            }
            for p in loading.pending.values() {
                counts[p.dir_index] += 1;
            }
        }
        let dir_index = (0..self.dirs.len()).min_by_key(|&i| counts[i]).expect("at least one log dir");
        let dir = self.dirs[dir_index].path.join(tp.dir_name());
        let log = Log::open(
            &dir,
            tp.clone(),
            config,
            LogLoadParams { had_clean_shutdown: true, ..Default::default() },
            self.clock.clone(),
        )?;
        checkpoint::sync_dir(&self.dirs[dir_index].path)?;
        let log = Arc::new(RwLock::new(log));
        logs.insert(tp.clone(), (dir_index, log.clone()));
        tracing::info!(%tp, dir = %dir.display(), "created log");
        Ok(log)
    }

    /// Removes the log of `tp` and deletes its files: the directory is first renamed to
    /// `<topic>-<partition>.<ms>-delete` (so a crash mid-delete finishes at the next start).
    /// A log still loading is deleted once its loader is done with it (it stays pending, so no
    /// log is created for `tp` before its old files are gone).
    pub fn delete_log(&self, tp: &TopicPartition) -> Result<()> {
        let (dir_index, log) = {
            let mut logs = self.logs.write();
            match logs.remove(tp) {
                Some(entry) => entry,
                None => {
                    let mut loading = self.loading.lock();
                    let p =
                        loading.pending.get_mut(tp).ok_or_else(|| StorageError::UnknownPartition { tp: tp.clone() })?;
                    p.delete_when_loaded = true;
                    tracing::info!(%tp, "log still loading; deleting it once loaded");
                    return Ok(());
                }
            }
        };
        let doomed = self.doomed_dir(dir_index, tp);
        {
            let mut log = log.write();
            let dir = log.dir().to_path_buf();
            let _ = log.close();
            fs::rename(&dir, &doomed).map_err(|e| io_err("rename for deletion", &dir, e))?;
        }
        // The files go with no lock held: a holder of the log (a fetch finishing) only finds
        // it closed, and removing a large directory takes a while.
        checkpoint::sync_dir(&self.dirs[dir_index].path)?;
        fs::remove_dir_all(&doomed).map_err(|e| io_err("delete log directory", &doomed, e))?;
        tracing::info!(%tp, "deleted log");
        Ok(())
    }

    /// Truncates the log of `tp` to `offset` (a follower diverged), then checkpoints, so a
    /// crash cannot bring back a recovery point or log start offset from before the cut.
    pub fn truncate_to(&self, tp: &TopicPartition, offset: i64) -> Result<bool> {
        let log = self.get_log(tp).ok_or_else(|| StorageError::UnknownPartition { tp: tp.clone() })?;
        let truncated = log.write().truncate_to(offset)?;
        if truncated {
            self.checkpoint()?;
        }
        Ok(truncated)
    }

    /// DeleteRecords: moves the log start offset of `tp` to `offset` (at most the high
    /// watermark), then checkpoints. Retention can only raise the start to a segment boundary,
    /// which reloading finds again by itself; a start inside a segment exists only in the
    /// checkpoint, so it is written before the call returns: otherwise a crash would bring
    /// back records the client was told are deleted.
    pub fn delete_records(&self, tp: &TopicPartition, offset: i64) -> Result<i64> {
        let log = self.get_log(tp).ok_or_else(|| StorageError::UnknownPartition { tp: tp.clone() })?;
        let (moved, start) = {
            let mut log = log.write();
            let moved = log.maybe_increment_log_start_offset(offset)?;
            (moved, log.log_start_offset())
        };
        if moved {
            self.checkpoint()?;
        }
        Ok(start)
    }

    /// Empties the log of `tp` and restarts it at `offset`, then checkpoints.
    pub fn truncate_fully_and_start_at(&self, tp: &TopicPartition, offset: i64) -> Result<()> {
        let log = self.get_log(tp).ok_or_else(|| StorageError::UnknownPartition { tp: tp.clone() })?;
        log.write().truncate_fully_and_start_at(offset)?;
        self.checkpoint()
    }

    /// Runs the periodic work whose interval has passed: retention, flushes of logs whose
    /// `flush.ms` elapsed or that rolled, and checkpoints. Errors of single logs are logged
    /// (the log goes offline), not returned, so one bad partition does not stop the rest.
    pub fn maintenance(&self) -> MaintenanceReport {
        let now = self.clock.now_ms();
        let mut report = MaintenanceReport::default();
        let (retention_due, flush_check_due, offsets_due, starts_due, clean_due, cold_due) = {
            let mut t = self.timers.lock();
            let due = |last: &mut i64, interval: i64| {
                let is_due = now.saturating_sub(*last) >= interval;
                if is_due {
                    *last = now;
                }
                is_due
            };
            (
                due(&mut t.last_retention_ms, self.config.retention_check_interval_ms),
                due(&mut t.last_flush_check_ms, self.config.flush_scheduler_interval_ms),
                due(&mut t.last_offset_checkpoint_ms, self.config.flush_offset_checkpoint_interval_ms),
                due(&mut t.last_start_offset_checkpoint_ms, self.config.flush_start_offset_checkpoint_interval_ms),
                due(&mut t.last_clean_ms, self.config.cleaner_backoff_ms),
                // A segment closes between one and one and a half idle periods after its last use.
                due(&mut t.last_cold_check_ms, (self.config.cold_segment_idle_ms / 2).max(1)),
            )
        };
        // Each step holds the log's lock only to decide and to update memory; the file work
        // (unlinking, cleaning, fsync) runs with no lock held (see `jobs`).
        for (tp, log) in self.all_logs() {
            if log.read().is_offline() {
                continue;
            }
            if retention_due {
                match jobs::delete_old_segments(&log) {
                    Ok(n) => report.segments_deleted += n,
                    Err(e) => tracing::error!(%tp, error = %e, "retention failed"),
                }
            }
            if let Err(e) = jobs::remove_deleted_files(&log) {
                tracing::error!(%tp, error = %e, "removing deleted segment files failed");
            }
            if clean_due && log.read().config().cleanup_policy.compact {
                match jobs::compact(&log) {
                    Ok(stats) => report.records_compacted += stats.records_removed,
                    Err(e) => tracing::error!(%tp, error = %e, "compaction failed"),
                }
            }
            // Rolled segments are flushed here, off the append path (Kafka schedules the
            // same flush after a roll); time-based flushes follow `flush.ms`.
            let flush_to = {
                let log = log.read();
                let rolled = log.recovery_point() < log.active_segment_base_offset();
                let flush_ms_due = flush_check_due && now.saturating_sub(log.last_flush_ms()) >= log.config().flush_ms;
                if flush_ms_due {
                    Some(log.log_end_offset())
                } else if rolled {
                    Some(log.active_segment_base_offset())
                } else {
                    None
                }
            };
            if let Some(offset) = flush_to {
                match jobs::flush(&log, offset) {
                    Ok(true) => report.logs_flushed += 1,
                    Ok(false) => {}
                    Err(e) => tracing::error!(%tp, error = %e, "flush failed"),
                }
            }
            let mut log = log.write();
            if cold_due {
                report.segments_closed += log.close_cold_segments(self.config.cold_segment_idle_ms);
            }
            // Each log keeps its own producer expiry timer.
            log.maybe_remove_expired_producers(
                self.config.producer_id_expiration_ms,
                self.config.producer_id_expiration_check_interval_ms,
            );
        }
        if offsets_due || starts_due {
            match self.checkpoint() {
                Ok(()) => report.checkpoints_written = true,
                Err(e) => tracing::error!(error = %e, "writing checkpoints failed"),
            }
        }
        report
    }

    /// Writes the recovery point, log start offset and high watermark checkpoints of every
    /// directory.
    pub fn checkpoint(&self) -> Result<()> {
        let _writer = self.checkpoint_lock.lock();
        let logs = self.logs.read();
        // Logs not loaded yet keep what the checkpoints said at the scan: dropping them would
        // lose their log start offsets and high watermarks, and recover them in full after a
        // crash.
        let pending: Vec<(TopicPartition, usize, LogLoadParams)> =
            self.loading.lock().pending.iter().map(|(tp, p)| (tp.clone(), p.dir_index, p.params)).collect();
        for (dir_index, dir) in self.dirs.iter().enumerate() {
            let mut recovery = Vec::new();
            let mut starts = Vec::new();
            let mut hws = Vec::new();
            for (tp, d, params) in &pending {
                if *d != dir_index {
                    continue;
                }
                recovery.push((tp, params.recovery_point));
                if let Some(start) = params.log_start_offset {
                    starts.push((tp, start));
                }
                hws.push((tp, params.high_watermark));
            }
            for (tp, (d, log)) in logs.iter() {
                if *d != dir_index {
                    continue;
                }
                // Offline logs keep their last known offsets: dropping them from the file would
                // lose their log start offsets and high watermarks at the next start.
                let log = log.read();
                recovery.push((tp, log.recovery_point()));
                starts.push((tp, log.log_start_offset()));
                hws.push((tp, log.high_watermark()));
            }
            checkpoint::write_offsets(&dir.path.join(RECOVERY_POINT_CHECKPOINT_FILE), recovery)?;
            checkpoint::write_offsets(&dir.path.join(LOG_START_OFFSET_CHECKPOINT_FILE), starts)?;
            checkpoint::write_offsets(&dir.path.join(HIGH_WATERMARK_CHECKPOINT_FILE), hws)?;
        }
        Ok(())
    }

    /// Stops the loaders, flushes and closes every log (they refuse writes afterwards), writes
    /// the checkpoints, and leaves the clean-shutdown marker in each directory whose logs all
    /// closed cleanly and that holds no log still to recover (one pending since an unclean
    /// start).
    pub fn shutdown(&self) -> Result<()> {
        self.stop_loading();
        let mut failed = false;
        // No loader runs any more: the deletions asked for while logs were pending happen here.
        let doomed: Vec<(TopicPartition, PendingLog)> = self
            .loading
            .lock()
            .pending
            .iter()
            .filter(|(_, p)| p.delete_when_loaded)
            .map(|(tp, p)| (tp.clone(), p.clone()))
            .collect();
        for (tp, p) in doomed {
            if let Err(e) = self.discard_pending(&tp, &p, None) {
                tracing::error!(%tp, error = %e, "deleting a log that never loaded failed");
                failed = true;
            }
        }
        // Closing flushes each log to disk: spread over `recovery_threads_per_data_dir` threads
        // per directory, as Kafka spreads its shutdown (10,000 partitions closed one after
        // another took over a minute on a busy machine).
        let logs = self.all_logs();
        let threads = (self.config.recovery_threads_per_data_dir.max(1) * self.dirs.len()).clamp(1, logs.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let close_failed = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((tp, log)) = logs.get(i) else { break };
                        let mut log = log.write();
                        if let Err(e) = log.close() {
                            tracing::error!(%tp, error = %e, "closing log failed");
                            close_failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        if log.is_offline() {
                            close_failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        failed |= close_failed.into_inner();
        self.checkpoint()?;
        if !failed {
            let unrecovered: Vec<usize> = {
                let loading = self.loading.lock();
                (0..self.dirs.len())
                    .map(|d| {
                        loading.pending.values().filter(|p| p.dir_index == d && !p.params.had_clean_shutdown).count()
                    })
                    .collect()
            };
            for (dir, unrecovered) in self.dirs.iter().zip(unrecovered) {
                if unrecovered > 0 {
                    tracing::info!(dir = %dir.path.display(), logs = unrecovered, "logs not recovered yet: no clean-shutdown marker, so the next start recovers them");
                    continue;
                }
                let marker = dir.path.join(CLEAN_SHUTDOWN_FILE);
                File::create(&marker)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| io_err("write clean shutdown marker", &marker, e))?;
                checkpoint::sync_dir(&dir.path)?;
            }
        }
        tracing::info!("log manager shut down");
        Ok(())
    }

    /// The directories in use.
    pub fn log_dirs(&self) -> Vec<&Path> {
        self.dirs.iter().map(|d| d.path.as_path()).collect()
    }

    /// The index in `log.dirs` of the directory `tp`'s log is in.
    pub fn log_dir_index(&self, tp: &TopicPartition) -> Option<usize> {
        self.logs.read().get(tp).map(|(dir, _)| *dir)
    }

    /// The logs being moved, with the index of their destination directory.
    pub fn moves(&self) -> Vec<(TopicPartition, usize)> {
        self.moving.lock().iter().map(|(tp, d)| (tp.clone(), *d)).collect()
    }

    /// Moves the log of `tp` into log directory `dest` (an index in `log.dirs`), as Kafka's
    /// AlterReplicaLogDirs moves a replica through a future log: the files are copied to
    /// `<topic>-<partition>.<ms>-future` in `dest` while the log takes appends and reads, then,
    /// under the log's lock (appends wait, briefly), what changed since is copied, the source
    /// directory is renamed away (`-delete`), the copy takes the live name and the log reopens
    /// there, in place, for every holder of it. A crash at any point leaves exactly one complete
    /// copy (see the scan). Blocking: call it from a thread that may block. Returns false when
    /// the log is already there.
    pub fn move_log(&self, tp: &TopicPartition, dest: usize) -> Result<bool> {
        assert!(dest < self.dirs.len(), "log directory index {dest} out of range");
        let (src, log) =
            self.logs.read().get(tp).cloned().ok_or_else(|| StorageError::UnknownPartition { tp: tp.clone() })?;
        if src == dest {
            return Ok(false);
        }
        {
            let mut moving = self.moving.lock();
            if moving.contains_key(tp) {
                return Err(StorageError::MoveInProgress { tp: tp.clone() });
            }
            moving.insert(tp.clone(), dest);
        }
        let future =
            self.dirs[dest].path.join(format!("{}.{}{}", tp.dir_name(), self.clock.now_ms(), FUTURE_DIR_SUFFIX));
        let result = self.copy_and_swap(tp, src, dest, &log, &future);
        if result.is_err() {
            let _ = fs::remove_dir_all(&future);
        }
        self.moving.lock().remove(tp);
        let doomed = result?;
        {
            // The map is updated after the log's lock is released (checkpoints take the map,
            // then each log): meanwhile a checkpoint may list `tp` under its old directory,
            // which the next one corrects, and which a restart ignores (no directory there).
            let mut logs = self.logs.write();
            if let Some(entry) = logs.get_mut(tp)
                && Arc::ptr_eq(&entry.1, &log)
            {
                entry.0 = dest;
            }
        }
        fs::remove_dir_all(&doomed).map_err(|e| io_err("delete moved log's old directory", &doomed, e))?;
        self.checkpoint()?;
        tracing::info!(%tp, from = %self.dirs[src].path.display(), to = %self.dirs[dest].path.display(), "moved log");
        Ok(true)
    }

    /// [`move_log`](Self::move_log)'s copy and swap; returns the renamed-away source directory.
    fn copy_and_swap(
        &self,
        tp: &TopicPartition,
        src: usize,
        dest: usize,
        log: &SharedLog,
        future: &Path,
    ) -> Result<PathBuf> {
        let (src_dir, truncations) = {
            let log = log.read();
            (log.dir().to_path_buf(), log.truncations())
        };
        fs::create_dir_all(future).map_err(|e| io_err("create future log directory", future, e))?;
        let mut copied = BTreeMap::new();
        copy_changed(&src_dir, future, &mut copied, None)?;
        let mut guard = log.write();
        guard.check_online_for_move()?;
        let config = guard.config().clone();
        let params = LogLoadParams {
            recovery_point: guard.log_end_offset(),
            log_start_offset: Some(guard.log_start_offset()),
            high_watermark: guard.high_watermark(),
            had_clean_shutdown: true,
        };
        // Closed: flushed, its producer snapshot written, the active segment's indexes trimmed.
        guard.close()?;
        let active = (guard.truncations() == truncations).then(|| guard.active_segment_base_offset());
        let reopen = |guard: &mut Log| match Log::open(&src_dir, tp.clone(), config.clone(), params, self.clock.clone())
        {
            Ok(log) => *guard = log,
            Err(e) => tracing::error!(%tp, error = %e, "cannot reopen the log after a failed move; it stays read-only"),
        };
        if let Err(e) = copy_changed(&src_dir, future, &mut copied, Some(active)).and_then(|()| sync_all(future)) {
            reopen(&mut guard);
            return Err(e);
        }
        let doomed = self.doomed_dir(src, tp);
        if let Err(e) = fs::rename(&src_dir, &doomed).map_err(|e| io_err("rename moved log away", &src_dir, e)) {
            reopen(&mut guard);
            return Err(e);
        }
        checkpoint::sync_dir(&self.dirs[src].path)?;
        let live = self.dirs[dest].path.join(tp.dir_name());
        let opened = fs::rename(future, &live)
            .map_err(|e| io_err("rename moved log into place", future, e))
            .and_then(|()| checkpoint::sync_dir(&self.dirs[dest].path))
            .and_then(|()| Log::open(&live, tp.clone(), config.clone(), params, self.clock.clone()));
        match opened {
            Ok(moved) => {
                *guard = moved;
                Ok(doomed)
            }
            Err(e) => {
                // Back as it was: the copy aside, the source under its name again.
                let _ = fs::rename(&live, future);
                if fs::rename(&doomed, &src_dir).is_ok() {
                    reopen(&mut guard);
                }
                Err(e)
            }
        }
    }
}

/// Copies into `dst` the files of `src` that changed since `copied` (name -> length and
/// modification time) was taken: in the first pass (`active` None) every file; in the last
/// (under the log's lock, the log closed) every file whose length or time changed, except that
/// the active segment's `.log` (`active` Some(Some(base)): no truncation since the first pass)
/// only gets what was appended to it. Index, checkpoint and snapshot files are small and
/// rewritten in place, so the last pass copies them whole. Files gone from `src` go from `dst`.
fn copy_changed(
    src: &Path,
    dst: &Path,
    copied: &mut BTreeMap<String, (u64, Option<std::time::SystemTime>)>,
    active: Option<Option<i64>>,
) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let last = active.is_some();
    let active_log = active.flatten().map(|base| format!("{base:020}.log"));
    let mut present = std::collections::BTreeSet::new();
    for entry in fs::read_dir(src).map_err(|e| io_err("list log directory", src, e))?.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
        if UNCOPIED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) if m.is_file() => m,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("stat", &entry.path(), e)),
        };
        present.insert(name.clone());
        let now = (meta.len(), meta.modified().ok());
        let from = src.join(&name);
        let to = dst.join(&name);
        let is_log = name.ends_with(".log");
        // What is recorded is the bytes really copied (a file appended to while it is copied
        // has more than its length said), with the time seen before the copy.
        let outcome = match copied.get(&name) {
            Some(&before) if before == now && (is_log || !last) => continue,
            Some(&(len, _)) if last && active_log.as_deref() == Some(name.as_str()) && now.0 >= len => {
                // Appended to since: only the new bytes.
                (|| -> std::io::Result<u64> {
                    let mut input = File::open(&from)?;
                    input.seek(SeekFrom::Start(len))?;
                    let mut output = fs::OpenOptions::new().append(true).open(&to)?;
                    Ok(len + std::io::copy(&mut input, &mut output)?)
                })()
            }
            _ => fs::copy(&from, &to),
        };
        match outcome {
            Ok(length) => {
                copied.insert(name, (length, now.1));
            }
            // Deleted by retention meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !last => {
                let _ = fs::remove_file(&to);
                present.remove(&name);
            }
            Err(e) => return Err(io_err("copy log file", &from, e)),
        }
    }
    let gone: Vec<String> = copied.keys().filter(|n| !present.contains(*n)).cloned().collect();
    for name in gone {
        copied.remove(&name);
        let path = dst.join(&name);
        fs::remove_file(&path)
            .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
            .map_err(|e| io_err("remove copied file", &path, e))?;
    }
    Ok(())
}

/// Syncs every file of `dir`, then `dir` itself.
fn sync_all(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| io_err("list log directory", dir, e))?.flatten() {
        let path = entry.path();
        File::open(&path).and_then(|f| f.sync_all()).map_err(|e| io_err("sync copied file", &path, e))?;
    }
    checkpoint::sync_dir(dir)
}

/// The size of the file system holding `dir` and the bytes an unprivileged writer may still
/// use there (`statvfs`), as DescribeLogDirs v4 reports them (KIP-827).
pub fn file_system_space(dir: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `path` is a NUL-terminated string and `st` points to a statvfs the call fills.
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    // The field types differ between platforms (u64 on 64-bit Linux, narrower elsewhere).
    #[allow(clippy::unnecessary_cast)]
    let (blocks, available, fragment) = (st.f_blocks as u64, st.f_bavail as u64, st.f_frsize as u64);
    Ok((blocks.saturating_mul(fragment), available.saturating_mul(fragment)))
}

/// Counts a `load_logs` call as running until dropped (also when a loader panics), then wakes
/// `shutdown` if it waits.
struct RunningLoader<'a>(&'a LogManager);

impl Drop for RunningLoader<'_> {
    fn drop(&mut self) {
        let mut loading = self.0.loading.lock();
        loading.running -= 1;
        self.0.loaders_done.notify_all();
    }
}
