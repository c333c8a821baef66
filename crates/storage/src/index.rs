//! Sparse, memory-mapped indexes of one log segment: [`OffsetIndex`] (offset → file position) and
//! [`TimeIndex`] (timestamp → offset). Kafka's `OffsetIndex` and `TimeIndex`.
//!
//! On disk an index is an array of fixed-size big-endian entries, with offsets stored relative
//! to the segment's base offset as `u32`:
//!
//! ```text
//! .index      8 bytes/entry   relative offset u32 | position u32
//! .timeindex 12 bytes/entry   timestamp i64       | relative offset u32
//! ```
//!
//! One entry is added every `index.interval.bytes` of log. Unlike Kafka, whose offset index
//! entry names the *last* offset of the indexed append (a leftover of the old wrapper-message
//! format), ours names the *base offset of the batch that starts at the position*. That makes
//! every entry checkable: the batch header at `position` must carry exactly that base offset,
//! which the sanity check on load and the reader both verify.
//!
//! The file of the active segment is preallocated to `segment.index.bytes` and mapped whole;
//! when the segment rolls or the log closes, the file is trimmed to its entries, so a trimmed
//! file's length gives its entry count. A file found untrimmed after a crash belongs to a
//! segment that recovery rebuilds anyway.
//!
//! An index holds no file descriptor, only its mapping (as Kafka's `AbstractIndex` closes its
//! `RandomAccessFile` once mapped): the file is opened again for the rare resize (a segment
//! becoming active, rolling, or closing). A partition's descriptors are then its open `.log`
//! files alone, and thousands of partitions fit under `RLIMIT_NOFILE`.
//!
//! Durability: entries reach the disk when the log flushes the segment (an fsync of the index
//! file, outside the log's lock; see `segment::SegmentSyncHandle`); resizing and trimming a
//! mapping never write it back, since they run under the log's lock when a segment rolls.
//!
//! Concurrency: appends and truncation take `&mut self`; lookups take `&self`.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use crate::error::{Result, StorageError, io_err};

/// Size of one offset index entry.
pub const OFFSET_INDEX_ENTRY_SIZE: usize = 8;
/// Size of one time index entry.
pub const TIME_INDEX_ENTRY_SIZE: usize = 12;
const _: () = assert!(OFFSET_INDEX_ENTRY_SIZE == 4 + 4);
const _: () = assert!(TIME_INDEX_ENTRY_SIZE == 8 + 4);

/// The mapped file behind an index: entry bookkeeping shared by both kinds.
#[derive(Debug)]
struct IndexFile {
    path: PathBuf,
    mmap: Option<MmapMut>,
    entry_size: usize,
    entries: usize,
    max_entries: usize,
}

impl IndexFile {
    /// Opens (creating if missing) an index file. A non-empty file must hold whole entries;
    /// its length gives the entry count. The mapping is resized to `max_index_bytes` when
    /// `writable` (active segment), or left at its length otherwise.
    fn open(path: &Path, entry_size: usize, max_index_bytes: usize, writable: bool) -> Result<Self> {
        let file = open_index_file(path)?;
        let len = file.metadata().map_err(|e| io_err("stat index", path, e))?.len() as usize;
        if !len.is_multiple_of(entry_size) {
            return Err(StorageError::CorruptIndex {
                path: path.to_path_buf(),
                reason: format!("length {len} is not a multiple of the entry size {entry_size}"),
            });
        }
        let mut index = IndexFile {
            path: path.to_path_buf(),
            mmap: None,
            entry_size,
            entries: len / entry_size,
            max_entries: (max_index_bytes / entry_size).max(1),
        };
        if writable {
            index.resize_mapping_of(&file, index.max_entries.max(index.entries))?;
        } else {
            index.remap(&file, len)?;
        }
        // The file closes here: the mapping alone keeps the entries.
        Ok(index)
    }

    fn remap(&mut self, file: &File, len: usize) -> Result<()> {
        self.mmap = None;
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the file is private to this segment (the log directory is locked by this
        // process); nothing else truncates it while it is mapped, so the mapping stays valid.
        let map = unsafe { MmapMut::map_mut(file) }.map_err(|e| io_err("mmap index", &self.path, e))?;
        // Lookups binary-search and appends touch one page at a time: readahead around a fault
        // would only fill the page cache with zeros of the preallocated file.
        if let Err(e) = map.advise(memmap2::Advice::Random) {
            tracing::debug!(path = %self.path.display(), error = %e, "madvise(MADV_RANDOM) failed");
        }
        self.mmap = Some(map);
        Ok(())
    }

    /// Resizes the file to `capacity_entries` and maps it again, opening it for the purpose.
    fn resize_mapping(&mut self, capacity_entries: usize) -> Result<()> {
        match open_index_file(&self.path) {
            Ok(file) => self.resize_mapping_of(&file, capacity_entries),
            Err(e) => {
                // As a failed resize below: no mapping, no entries; lookups scan.
                self.mmap = None;
                self.entries = 0;
                Err(e)
            }
        }
    }

    fn resize_mapping_of(&mut self, file: &File, capacity_entries: usize) -> Result<()> {
        // No msync before unmapping: the entries written through the mapping are dirty pages of
        // the file, which unmapping keeps; the log's next flush fsyncs them. (A segment rolls
        // under the log's lock, and a synchronous write-back there would stall the partition.
        // Kafka's `AbstractIndex.resize` does not force the mapping either.)
        self.mmap = None;
        let len = capacity_entries * self.entry_size;
        let result = file
            .set_len(len as u64)
            .map_err(|e| io_err("resize index", &self.path, e))
            .and_then(|()| self.remap(file, len));
        if result.is_err() {
            // Without a mapping there are no entries to read: lookups fall back to the segment
            // start (slower, still correct) and the owner rebuilds the index later.
            self.entries = 0;
        }
        result
    }

    fn capacity(&self) -> usize {
        self.mmap.as_ref().map_or(0, |m| m.len() / self.entry_size)
    }

    fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }

    fn entry(&self, n: usize) -> &[u8] {
        let m = self.mmap.as_ref().expect("an index with entries is mapped");
        &m[n * self.entry_size..(n + 1) * self.entry_size]
    }

    fn push(&mut self, bytes: &[u8]) -> Result<()> {
        debug_assert_eq!(bytes.len(), self.entry_size);
        if self.entries >= self.capacity() {
            // Reopened trimmed file becoming active again, or a tiny max: grow to the max.
            if self.entries >= self.max_entries {
                return Err(StorageError::CorruptIndex {
                    path: self.path.clone(),
                    reason: format!("append to a full index of {} entries", self.entries),
                });
            }
            self.resize_mapping(self.max_entries)?;
        }
        let pos = self.entries * self.entry_size;
        let m = self.mmap.as_mut().expect("mapped after resize");
        m[pos..pos + self.entry_size].copy_from_slice(bytes);
        self.entries += 1;
        Ok(())
    }

    /// Index of the last entry whose key is <= `target`, by binary search over `key`.
    fn floor<K: Ord>(&self, target: K, key: impl Fn(&[u8]) -> K) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key(self.entry(mid)) <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    /// Forgets entries past `entries`. Their bytes stay in the mapping, unread: a file is only
    /// trusted by its length once trimmed, and trimming cuts them off. (Zeroing them instead
    /// would touch every page of a preallocated 10 MiB file on each recovery.)
    fn truncate_entries(&mut self, entries: usize) {
        self.entries = self.entries.min(entries);
    }

    fn trim_to_valid_size(&mut self) -> Result<()> {
        self.resize_mapping(self.entries)
    }

    fn flush(&self) -> Result<()> {
        if let Some(m) = &self.mmap {
            m.flush().map_err(|e| io_err("flush index", &self.path, e))?;
        }
        Ok(())
    }

    fn corrupt(&self, reason: String) -> StorageError {
        StorageError::CorruptIndex { path: self.path.clone(), reason }
    }
}

/// Opens (creating if missing) an index file for reading and writing.
fn open_index_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io_err("open index", path, e))
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().expect("4 bytes"))
}
fn be_i64(b: &[u8]) -> i64 {
    i64::from_be_bytes(b[..8].try_into().expect("8 bytes"))
}

/// Offset → position index of one segment.
#[derive(Debug)]
pub struct OffsetIndex {
    base_offset: i64,
    file: IndexFile,
}

/// One offset index entry, with the offset made absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPosition {
    pub offset: i64,
    pub position: u32,
}

impl OffsetIndex {
    pub fn open(path: &Path, base_offset: i64, max_index_bytes: usize, writable: bool) -> Result<Self> {
        Ok(OffsetIndex {
            base_offset,
            file: IndexFile::open(path, OFFSET_INDEX_ENTRY_SIZE, max_index_bytes, writable)?,
        })
    }

    pub fn entries(&self) -> usize {
        self.file.entries
    }
    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    pub fn entry(&self, n: usize) -> OffsetPosition {
        let e = self.file.entry(n);
        OffsetPosition { offset: self.base_offset + i64::from(be_u32(e)), position: be_u32(&e[4..]) }
    }

    pub fn last_entry(&self) -> Option<OffsetPosition> {
        self.file.entries.checked_sub(1).map(|n| self.entry(n))
    }

    /// Appends an entry; offsets and positions must grow strictly and the offset must fit the
    /// segment's relative range. A violation is an error, not a panic: the caller flags the
    /// index for a rebuild.
    pub fn append(&mut self, offset: i64, position: u32) -> Result<()> {
        if let Some(last) = self.last_entry()
            && (offset <= last.offset || position <= last.position)
        {
            return Err(self.file.corrupt(format!(
                "append ({offset}, {position}) does not follow ({}, {})",
                last.offset, last.position
            )));
        }
        let relative = u32::try_from(offset - self.base_offset)
            .map_err(|_| self.file.corrupt(format!("offset {offset} is out of the segment's relative range")))?;
        let mut entry = [0u8; OFFSET_INDEX_ENTRY_SIZE];
        entry[..4].copy_from_slice(&relative.to_be_bytes());
        entry[4..].copy_from_slice(&position.to_be_bytes());
        self.file.push(&entry)
    }

    /// The entry with the largest offset <= `target`, or the segment start.
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        if target < self.base_offset {
            return OffsetPosition { offset: self.base_offset, position: 0 };
        }
        let rel = u32::try_from(target - self.base_offset).unwrap_or(u32::MAX);
        match self.file.floor(rel, be_u32) {
            Some(n) => self.entry(n),
            None => OffsetPosition { offset: self.base_offset, position: 0 },
        }
    }

    /// Removes every entry whose offset is >= `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        let keep = if offset <= self.base_offset {
            0
        } else {
            let rel = u32::try_from(offset - self.base_offset - 1).unwrap_or(u32::MAX);
            self.file.floor(rel, be_u32).map_or(0, |n| n + 1)
        };
        self.file.truncate_entries(keep);
    }

    /// Removes every entry whose position is >= `position`.
    pub fn truncate_to_position(&mut self, position: u32) {
        let keep = (0..self.file.entries).take_while(|&n| self.entry(n).position < position).count();
        self.file.truncate_entries(keep);
    }

    pub fn reset(&mut self) {
        self.file.truncate_entries(0);
    }

    /// Checks the structural invariants: offsets and positions strictly increasing, every
    /// position inside a log of `log_size` bytes.
    pub fn sanity_check(&self, log_size: u64) -> Result<()> {
        let mut prev: Option<OffsetPosition> = None;
        for n in 0..self.file.entries {
            let e = self.entry(n);
            if u64::from(e.position) >= log_size.max(1) {
                return Err(self
                    .file
                    .corrupt(format!("entry {n} points at byte {} of a {log_size}-byte log", e.position)));
            }
            if let Some(p) = prev {
                if e.offset <= p.offset || e.position <= p.position {
                    return Err(self.file.corrupt(format!(
                        "entry {n} ({}, {}) does not follow ({}, {})",
                        e.offset, e.position, p.offset, p.position
                    )));
                }
            } else if e.position == 0 && e.offset != self.base_offset {
                return Err(self.file.corrupt(format!("entry 0 names offset {} at byte 0", e.offset)));
            }
            prev = Some(e);
        }
        Ok(())
    }

    pub fn trim_to_valid_size(&mut self) -> Result<()> {
        self.file.trim_to_valid_size()
    }
    pub fn flush(&self) -> Result<()> {
        self.file.flush()
    }
}

/// Timestamp → offset index of one segment. Entries have strictly increasing timestamps: an
/// entry is added only when the segment's maximum timestamp grew.
#[derive(Debug)]
pub struct TimeIndex {
    base_offset: i64,
    file: IndexFile,
}

/// One time index entry, with the offset made absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

impl TimeIndex {
    pub fn open(path: &Path, base_offset: i64, max_index_bytes: usize, writable: bool) -> Result<Self> {
        Ok(TimeIndex { base_offset, file: IndexFile::open(path, TIME_INDEX_ENTRY_SIZE, max_index_bytes, writable)? })
    }

    pub fn entries(&self) -> usize {
        self.file.entries
    }
    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    pub fn entry(&self, n: usize) -> TimestampOffset {
        let e = self.file.entry(n);
        TimestampOffset { timestamp: be_i64(e), offset: self.base_offset + i64::from(be_u32(&e[8..])) }
    }

    pub fn last_entry(&self) -> Option<TimestampOffset> {
        self.file.entries.checked_sub(1).map(|n| self.entry(n))
    }

    /// Appends `(timestamp, offset)` if `timestamp` is above the last entry's. When
    /// `skip_full_check` is set the entry is written even into a full index (the final entry
    /// written as a segment becomes inactive), growing the file by one entry.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64, skip_full_check: bool) -> Result<()> {
        if let Some(last) = self.last_entry() {
            if timestamp <= last.timestamp {
                return Ok(());
            }
            if offset < last.offset {
                return Err(self.file.corrupt(format!("offset {offset} goes back from {}", last.offset)));
            }
        }
        if self.file.is_full() {
            if !skip_full_check {
                return Ok(());
            }
            self.file.max_entries += 1;
        }
        let relative = u32::try_from(offset - self.base_offset)
            .map_err(|_| self.file.corrupt(format!("offset {offset} is out of the segment's relative range")))?;
        let mut entry = [0u8; TIME_INDEX_ENTRY_SIZE];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&relative.to_be_bytes());
        self.file.push(&entry)
    }

    /// The entry with the largest timestamp <= `target`, or `None`.
    pub fn lookup(&self, target: i64) -> Option<TimestampOffset> {
        self.file.floor(target, be_i64).map(|n| self.entry(n))
    }

    /// Removes every entry whose offset is >= `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        let keep = (0..self.file.entries).take_while(|&n| self.entry(n).offset < offset).count();
        self.file.truncate_entries(keep);
    }

    pub fn reset(&mut self) {
        self.file.truncate_entries(0);
    }

    /// Timestamps strictly increasing, offsets non-decreasing and no lower than the base.
    pub fn sanity_check(&self) -> Result<()> {
        let mut prev: Option<TimestampOffset> = None;
        for n in 0..self.file.entries {
            let e = self.entry(n);
            if let Some(p) = prev
                && (e.timestamp <= p.timestamp || e.offset < p.offset)
            {
                return Err(self.file.corrupt(format!(
                    "entry {n} ({}, {}) does not follow ({}, {})",
                    e.timestamp, e.offset, p.timestamp, p.offset
                )));
            }
            prev = Some(e);
        }
        Ok(())
    }

    pub fn trim_to_valid_size(&mut self) -> Result<()> {
        self.file.trim_to_valid_size()
    }
    pub fn flush(&self) -> Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_finds_floor_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut idx = OffsetIndex::open(&dir.path().join("0.index"), 100, 1024, true).expect("open");
        assert_eq!(idx.lookup(150), OffsetPosition { offset: 100, position: 0 });
        for (o, p) in [(110, 4096), (120, 8200), (130, 12300)] {
            idx.append(o, p).expect("append");
        }
        assert_eq!(idx.lookup(99).position, 0);
        assert_eq!(idx.lookup(110), OffsetPosition { offset: 110, position: 4096 });
        assert_eq!(idx.lookup(125), OffsetPosition { offset: 120, position: 8200 });
        assert_eq!(idx.lookup(1_000_000), OffsetPosition { offset: 130, position: 12300 });
        idx.truncate_to(120);
        assert_eq!(idx.entries(), 1);
        idx.sanity_check(20_000).expect("sane");
    }

    #[test]
    fn trimmed_index_reopens_with_its_entries_and_grows_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.index");
        {
            let mut idx = OffsetIndex::open(&path, 0, 80, true).expect("open");
            idx.append(5, 100).expect("append");
            idx.append(9, 200).expect("append");
            idx.trim_to_valid_size().expect("trim");
        }
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 16);
        let mut idx = OffsetIndex::open(&path, 0, 80, true).expect("reopen");
        assert_eq!(idx.entries(), 2);
        idx.append(12, 300).expect("append after reopen");
        assert_eq!(idx.lookup(13).position, 300);
        for i in 0..7 {
            let _ = idx.append(20 + i, 400 + i as u32);
        }
        assert!(idx.is_full());
    }

    #[test]
    fn index_with_partial_entry_is_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.index");
        std::fs::write(&path, [0u8; 12]).expect("write");
        assert!(matches!(OffsetIndex::open(&path, 0, 80, false), Err(StorageError::CorruptIndex { .. })));
    }

    #[test]
    fn time_index_keeps_only_growing_timestamps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut idx = TimeIndex::open(&dir.path().join("0.timeindex"), 0, 1200, true).expect("open");
        idx.maybe_append(1000, 0, false).expect("append");
        idx.maybe_append(900, 5, false).expect("ignored");
        idx.maybe_append(2000, 10, false).expect("append");
        assert_eq!(idx.entries(), 2);
        assert_eq!(idx.lookup(999), None);
        assert_eq!(idx.lookup(1500), Some(TimestampOffset { timestamp: 1000, offset: 0 }));
        assert_eq!(idx.lookup(2000).map(|e| e.offset), Some(10));
        idx.truncate_to(10);
        assert_eq!(idx.entries(), 1);
        idx.sanity_check().expect("sane");
    }
}
