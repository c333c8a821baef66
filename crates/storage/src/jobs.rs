//! File work a partition's [`Log`] hands out under its lock and that runs with no lock held,
//! and the drivers that run it over a shared log (`SharedLog`, a `RwLock<Log>`). This is the
//! lock discipline of Kafka's `UnifiedLog`: under the lock only decisions, pointer swaps and
//! in-memory updates; fsync, unlinking and rewriting segments outside it (the `log` module's
//! docs give the whole picture).
//!
//! Each kind of work has three steps:
//! 1. *take*, under the log's lock: decide what is due, note it, and clone what the slow part
//!    needs (shared descriptors, paths, offsets, sizes);
//! 2. *run*, with no lock held: the system calls that wait on the disk;
//! 3. *complete*, under a short write lock: check that the log did not change underneath in a
//!    way that makes the result wrong (a truncation since the take, a segment gone or
//!    replaced), then update memory (the recovery point, the segment list).
//!
//! | work | take | run | complete |
//! |---|---|---|---|
//! | flush | [`Log::take_flush_job`], [`Log::take_due_flush`] | [`FlushJob::run`] | [`Log::complete_flush`] |
//! | file removal | [`Log::take_due_deleted_files`] | [`DeletedFiles::remove`] | (none needed) |
//! | compaction | [`Log::plan_compaction`] (read lock) | [`CompactionPlan::clean`](crate::cleaner::CompactionPlan::clean) | [`Log::complete_compaction`] |
//!
//! The broker calls [`flush_if_due`] right after it releases the write lock of an append; the
//! log manager's maintenance calls the others.
//!
//! Invariant: a job's completion never moves the recovery point past what the job synced, nor
//! swaps in a segment built from bytes that changed: each job carries the log's truncation
//! count from its take (and compaction each segment's identity), and completes as a no-op when
//! they moved. Concurrency: any number of jobs may run at once on one log (a flush taken by an
//! append while maintenance runs another); compaction rounds are one at a time per log.

use std::path::PathBuf;

use parking_lot::RwLock;

use crate::cleaner::CleanStats;
use crate::error::{Result, io_err};
use crate::log::Log;
use crate::segment::{SegmentSyncHandle, sync_if_exists};

/// A flush taken under the log's lock ([`Log::take_flush_job`]) and run with none held: the
/// segments holding offsets from the recovery point to [`up_to`](Self::up_to), the files
/// written under the lock without an fsync, and the directory when its entries changed. Kafka's
/// `UnifiedLog.flush`, which also syncs outside its lock and only then marks the log flushed.
#[derive(Debug)]
#[must_use = "a flush job syncs nothing until it is run and completed"]
pub struct FlushJob {
    pub(crate) up_to: i64,
    /// The log's truncation count when the job was taken (see [`Log::complete_flush`]).
    pub(crate) truncations: u64,
    pub(crate) segments: Vec<SegmentSyncHandle>,
    /// Files written under the lock without an fsync (producer snapshots, the leader-epoch
    /// checkpoint).
    pub(crate) files: Vec<PathBuf>,
    /// The directory, and the count of its entry changes the sync covers.
    pub(crate) dir: Option<(PathBuf, u64)>,
}

impl FlushJob {
    /// The recovery point the job moves the log to once completed.
    pub fn up_to(&self) -> i64 {
        self.up_to
    }

    /// The fsyncs, with no lock held. Segments removed from the log meanwhile are synced all
    /// the same through their shared descriptors (harmless); a file removed meanwhile is
    /// skipped.
    pub fn run(&self) -> Result<()> {
        for segment in &self.segments {
            segment.sync()?;
        }
        for file in &self.files {
            sync_if_exists(file, "fsync")?;
        }
        if let Some((dir, _)) = &self.dir {
            crate::checkpoint::sync_dir(dir)?;
        }
        Ok(())
    }
}

/// Files of deleted segments, already renamed `*.deleted` under the log's lock, handed over
/// for unlinking with no lock held ([`Log::take_due_deleted_files`]). Unlinking a large file
/// frees its blocks and can take long; no live file ever has such a name, so it is safe at
/// any time (Kafka deletes them asynchronously, `file.delete.delay.ms` later).
#[derive(Debug, Default)]
#[must_use = "the files stay on disk until removed"]
pub struct DeletedFiles {
    paths: Vec<PathBuf>,
}

impl DeletedFiles {
    pub(crate) fn new(paths: Vec<PathBuf>) -> Self {
        DeletedFiles { paths }
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Unlinks every file (one already gone counts as removed); returns how many. After a
    /// failure the others are still tried and the first failure is returned; a file left
    /// behind is removed when the log next loads.
    pub fn remove(self) -> Result<usize> {
        let mut first_error = None;
        for path in &self.paths {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_error.get_or_insert(io_err("remove deleted segment file", path, e));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(self.paths.len()),
        }
    }
}

/// Runs the flush that appends made due (`flush.messages`), if any: takes it under a short
/// write lock, syncs with no lock held, completes it under a short write lock. The caller
/// holds no lock of this log. Costs one read lock when no flush is due. An error means the
/// log went offline (the flush failed) or was offline already.
pub fn flush_if_due(log: &RwLock<Log>) -> Result<()> {
    if !log.read().flush_due() {
        return Ok(());
    }
    let job = log.write().take_due_flush()?;
    match job {
        Some(job) => run_flush(log, job),
        None => Ok(()),
    }
}

/// Flushes the log up to `offset` (see [`Log::take_flush_job`]) holding its lock only to take
/// and to complete the job; returns whether there was anything to sync.
pub fn flush(log: &RwLock<Log>, offset: i64) -> Result<bool> {
    let Some(job) = log.write().take_flush_job(offset)? else { return Ok(false) };
    run_flush(log, job)?;
    Ok(true)
}

fn run_flush(log: &RwLock<Log>, job: FlushJob) -> Result<()> {
    let outcome = job.run();
    log.write().complete_flush(job, outcome)
}

/// Retention over a shared log: the segments leave the log under the write lock
/// ([`Log::detach_old_segments`]), and the files due for deletion are unlinked after it is
/// released. Returns how many segments went.
pub fn delete_old_segments(log: &RwLock<Log>) -> Result<usize> {
    let (deleted, files) = {
        let mut log = log.write();
        let deleted = log.detach_old_segments()?;
        (deleted, log.take_due_deleted_files())
    };
    files.remove()?;
    Ok(deleted)
}

/// Unlinks the files of deleted segments whose `file.delete.delay.ms` has passed, holding the
/// log's lock only to take them (and only a read lock when none is due); returns how many.
pub fn remove_deleted_files(log: &RwLock<Log>) -> Result<usize> {
    if !log.read().has_due_deleted_files() {
        return Ok(0);
    }
    let files = log.write().take_due_deleted_files();
    files.remove()
}

/// A compaction round over a shared log: the plan under a short read lock, the cleaning
/// (reading every segment, rewriting the cleanable ones to new files, fsync) with no lock
/// held, the swap under a short write lock, then the old files unlinked with none held. A
/// truncation during the round abandons it without error.
pub fn compact(log: &RwLock<Log>) -> Result<CleanStats> {
    let plan = log.read().plan_compaction()?;
    let Some(plan) = plan else { return Ok(CleanStats::default()) };
    let truncations = plan.truncations;
    let cleaned = match plan.clean() {
        Ok(cleaned) => cleaned,
        // A truncation may have cut what the round was reading: nothing went wrong.
        Err(_) if log.read().truncations() != truncations => return Ok(CleanStats::default()),
        Err(e) => return Err(e),
    };
    let stats = log.write().complete_compaction(cleaned)?;
    remove_deleted_files(log)?;
    Ok(stats)
}
