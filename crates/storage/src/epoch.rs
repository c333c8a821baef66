//! The leader-epoch cache of one partition: for each partition leader epoch, the first offset
//! written in it. Kafka's `LeaderEpochFileCache`, persisted in `leader-epoch-checkpoint`.
//!
//! It answers "where did epoch E end?" ([`LeaderEpochFileCache::end_offset_for`]), which a
//! follower asks its leader (OffsetForLeaderEpoch, KIP-101/279) to find the point where their
//! logs diverge, instead of trusting its own high watermark.
//!
//! Invariants: epochs strictly increase, start offsets never decrease. The file is rewritten
//! (atomically) on every change; changes happen once per leader election, not per append, and
//! when the log start moves (then without an fsync under the log's lock: see
//! [`LeaderEpochFileCache::truncate_from_start_unsynced`]).

use std::path::{Path, PathBuf};

use crate::checkpoint;
use crate::error::Result;

/// Name of the checkpoint file inside a partition directory.
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
/// Epoch of a request or batch that has none.
pub const UNDEFINED_EPOCH: i32 = -1;
/// Offset answered when the end of an epoch is unknown.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One entry: `epoch` began at `start_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

#[derive(Debug)]
pub struct LeaderEpochFileCache {
    path: PathBuf,
    epochs: Vec<EpochEntry>,
}

impl LeaderEpochFileCache {
    /// Loads the cache of the partition in `dir`. A missing file is an empty cache; an
    /// unreadable one is an error (the caller rebuilds it from the log).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
        let entries = checkpoint::read_epochs(&path)?.unwrap_or_default();
        let mut cache = LeaderEpochFileCache { path, epochs: Vec::with_capacity(entries.len()) };
        for (epoch, start_offset) in entries {
            cache.push_if_newer(epoch, start_offset);
        }
        Ok(cache)
    }

    /// An empty cache for `dir`, to be filled by a scan of the log.
    pub fn empty(dir: &Path) -> Self {
        LeaderEpochFileCache { path: dir.join(LEADER_EPOCH_CHECKPOINT_FILE), epochs: Vec::new() }
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.epochs
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.last().map(|e| e.epoch)
    }

    pub fn latest_entry(&self) -> Option<EpochEntry> {
        self.epochs.last().copied()
    }

    fn push_if_newer(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 {
            return false;
        }
        match self.epochs.last() {
            Some(last) if epoch <= last.epoch => false,
            Some(last) if start_offset <= last.start_offset => {
                // A newer epoch cannot start before an older one: the older entries past this
                // start are stale (their records were truncated away), and one starting at the
                // same offset held no record (a leader elected and replaced before it appended).
                // Kafka drops them too.
                self.epochs.retain(|e| e.start_offset < start_offset);
                self.epochs.push(EpochEntry { epoch, start_offset });
                true
            }
            _ => {
                self.epochs.push(EpochEntry { epoch, start_offset });
                true
            }
        }
    }

    /// Records that `epoch` starts at `start_offset`, if it is newer than the latest epoch.
    /// Persists the change. Returns whether anything changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<bool> {
        let changed = self.push_if_newer(epoch, start_offset);
        if changed {
            self.flush()?;
        }
        Ok(changed)
    }

    /// Like [`assign`](Self::assign) but without writing the file, for rebuilding in a batch.
    pub fn assign_in_memory(&mut self, epoch: i32, start_offset: i64) {
        self.push_if_newer(epoch, start_offset);
    }

    /// The largest epoch <= `requested` and the offset where it ended: the start offset of the
    /// next epoch, or `log_end_offset` when `requested` is the latest epoch. Unknown epochs
    /// (undefined, or above the latest) give `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)`; an
    /// epoch below the first known gives `(requested, first start offset)`.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let higher = self.epochs.iter().find(|e| e.epoch > requested);
        let floor = self.epochs.iter().rev().find(|e| e.epoch <= requested);
        match (floor, higher) {
            (_, None) => (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET),
            (None, Some(h)) => (requested, h.start_offset),
            (Some(f), Some(h)) => (f.epoch, h.start_offset),
        }
    }

    /// Removes entries that start at or after `end_offset` (the log was truncated there).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> Result<()> {
        let before = self.epochs.len();
        self.epochs.retain(|e| e.start_offset < end_offset);
        if self.epochs.len() != before {
            self.flush()?;
        }
        Ok(())
    }

    /// Drops entries wholly before `start_offset` (the log start moved there); the epoch in
    /// force at `start_offset` is kept, moved to start there.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> Result<()> {
        if self.truncate_from_start_in_memory(start_offset) {
            self.flush()?;
        }
        Ok(())
    }

    /// [`truncate_from_start`](Self::truncate_from_start) writing the file without an fsync
    /// (Kafka's `truncateFromStartAsyncFlush`), for the log's lock: the caller has the file
    /// ([`path`](Self::path)) synced later. Safe because the log start only moves up and a
    /// loading log truncates its cache from its log start again: a crash that keeps the old
    /// file only keeps entries loading drops. Returns whether the file was written.
    pub fn truncate_from_start_unsynced(&mut self, start_offset: i64) -> Result<bool> {
        if !self.truncate_from_start_in_memory(start_offset) {
            return Ok(false);
        }
        let entries: Vec<(i32, i64)> = self.epochs.iter().map(|e| (e.epoch, e.start_offset)).collect();
        checkpoint::write_epochs_unsynced(&self.path, &entries)?;
        Ok(true)
    }

    fn truncate_from_start_in_memory(&mut self, start_offset: i64) -> bool {
        let covering = self.epochs.iter().rposition(|e| e.start_offset <= start_offset);
        let Some(i) = covering else { return false };
        if i == 0 && self.epochs[0].start_offset == start_offset {
            return false;
        }
        self.epochs.drain(..i);
        self.epochs[0].start_offset = start_offset;
        true
    }

    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn clear(&mut self) -> Result<()> {
        self.epochs.clear();
        self.flush()
    }

    /// Writes the cache to its checkpoint file.
    pub fn flush(&self) -> Result<()> {
        let entries: Vec<(i32, i64)> = self.epochs.iter().map(|e| (e.epoch, e.start_offset)).collect();
        checkpoint::write_epochs(&self.path, &entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> (tempfile::TempDir, LeaderEpochFileCache) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = LeaderEpochFileCache::load(dir.path()).expect("load");
        for &(e, o) in entries {
            c.assign(e, o).expect("assign");
        }
        (dir, c)
    }

    #[test]
    fn end_offset_for_follows_kafka_semantics() {
        let (_d, c) = cache(&[(1, 0), (3, 100), (5, 250)]);
        assert_eq!(c.end_offset_for(5, 300), (5, 300), "latest epoch ends at the log end");
        assert_eq!(c.end_offset_for(3, 300), (3, 250));
        assert_eq!(c.end_offset_for(4, 300), (3, 250), "unknown epoch answers the floor epoch");
        assert_eq!(c.end_offset_for(0, 300), (0, 0), "below the first epoch");
        assert_eq!(c.end_offset_for(6, 300), (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET));
        assert_eq!(c.end_offset_for(UNDEFINED_EPOCH, 300), (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET));
    }

    #[test]
    fn assign_ignores_older_epochs_and_persists() {
        let (dir, mut c) = cache(&[(2, 10)]);
        assert!(!c.assign(1, 20).expect("assign"));
        assert!(!c.assign(2, 30).expect("assign"));
        assert!(c.assign(4, 40).expect("assign"));
        let reloaded = LeaderEpochFileCache::load(dir.path()).expect("reload");
        assert_eq!(reloaded.entries(), c.entries());
        assert_eq!(reloaded.entries().len(), 2);
    }

    #[test]
    fn truncation_from_both_ends() {
        let (_d, mut c) = cache(&[(1, 0), (2, 10), (3, 20)]);
        c.truncate_from_end(20).expect("truncate");
        assert_eq!(c.latest_epoch(), Some(2));
        c.truncate_from_start(15).expect("truncate start");
        assert_eq!(c.entries(), &[EpochEntry { epoch: 2, start_offset: 15 }]);
        c.truncate_from_start(5).expect("no-op below");
        assert_eq!(c.entries(), &[EpochEntry { epoch: 2, start_offset: 15 }]);
    }
}
