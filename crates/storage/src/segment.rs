//! One log segment: a `.log` file of whole record batches plus its two sparse indexes.
//! Kafka's `LogSegment`.
//!
//! Files, for a segment whose first offset is `base_offset` (zero-padded to 20 digits so that
//! names sort by offset): `{base_offset:020}.log`, `.index`, `.timeindex`.
//!
//! Invariants:
//! - The `.log` file holds whole batches with strictly increasing, non-overlapping offsets, all
//!   at or above `base_offset`; `size` is the number of valid bytes and the file length.
//! - Every offset index entry names the base offset of the batch starting at its position.
//! - `next_offset` is one past the last offset of the last batch (`base_offset` when empty).
//!
//! Writes are positional (`pwrite` at `size`), reads are positional (`pread`), so readers never
//! disturb the write position. The segment is not internally synchronised: the owning `Log`
//! gives appends `&mut` and reads `&`.
//!
//! Open files: everything the log needs to decide about a segment without reading it (size,
//! next offset, max timestamp) is kept in memory, and the files ([`SegmentFiles`]: the `.log`
//! descriptor and the two index mappings) open on first use and close again when the log
//! manager finds the segment cold ([`close_if_cold`](LogSegment::close_if_cold)). Kafka loads
//! indexes lazily (KIP-263) but keeps every `.log` open, so its descriptors grow with the
//! segments on disk; ours grow with the segments in use. The owning `Log` never closes its
//! active segment, nor one holding data above its recovery point (closing is not flushing).
//! A lazy open happens under `&self` (a reader), through a `OnceLock`: two racing readers may
//! both open the files, and the loser's copy is closed again at once. Closing takes `&mut self`,
//! so no reader can be using the files then.
//!
//! Work outside the log's lock (see the `log` module's lock discipline) never borrows a
//! segment: it takes a [`SegmentSyncHandle`] (to fsync) or a [`SegmentReadView`] (to read, for
//! compaction) under the lock, each holding the shared `.log` descriptor, which stays valid if
//! the segment is closed, renamed or deleted meanwhile. Each segment value has a process-wide
//! [`uid`](LogSegment::uid), so such work can tell whether the segment it read is still the one
//! in the log before it swaps anything in.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use sluice_protocol::RecordBatch;
use sluice_protocol::record_batch::{
    self, BATCH_HEADER_SIZE, BatchError, BatchHeader, NO_TIMESTAMP, UNCHECKED_PREFIX_SIZE,
};
use sluice_protocol::record_set::FileSlice;

use crate::config::LogConfig;
use crate::epoch::LeaderEpochFileCache;
use crate::error::{Result, StorageError, io_err};
use crate::index::{OffsetIndex, TimeIndex};

pub const LOG_FILE_SUFFIX: &str = "log";
pub const INDEX_FILE_SUFFIX: &str = "index";
pub const TIME_INDEX_FILE_SUFFIX: &str = "timeindex";

/// `dir/{base_offset:020}.{suffix}`
pub fn segment_file(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{suffix}"))
}

/// What a segment file awaiting deletion is renamed to end with (Kafka's `.deleted`); such files
/// left by a stop are removed when the log loads.
pub const DELETED_FILE_SUFFIX: &str = ".deleted";

/// What compaction's new files end with while they are written (`<base>.log.cleaned`,
/// `<base>.index.cleaned`, `<base>.timeindex.cleaned`); such files left by a stop are removed
/// when the log loads.
pub const CLEANED_FILE_SUFFIX: &str = ".cleaned";

/// What a cleaned `.log` is renamed to end with once compaction decided to swap it in; a stop
/// after that point completes the swap when the log loads (see `Log::open`).
pub const SWAP_FILE_SUFFIX: &str = ".swap";

/// `path` with `suffix` appended to its whole file name (`a.log` -> `a.log.deleted`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Source of [`LogSegment::uid`]: every segment value ever made in this process gets its own.
static NEXT_SEGMENT_UID: AtomicU64 = AtomicU64::new(1);

/// A draw below `jitter_ms` (0 when it is 0), from the standard library's per-process random
/// hasher keys, for each segment's roll jitter.
fn roll_jitter(jitter_ms: i64) -> i64 {
    use std::hash::{BuildHasher, Hasher};
    if jitter_ms <= 0 {
        return 0;
    }
    let draw = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (draw % jitter_ms as u64) as i64
}

/// Chunk size for sequential scans during recovery.
const RECOVERY_READ_BYTES: usize = 1 << 20;

/// A segment's open files. Holds one descriptor (the `.log`); the indexes are mappings only.
#[derive(Debug)]
struct SegmentFiles {
    /// Shared with the file slices of fetch answers being sent (`read_slice`), which keep
    /// the descriptor open until they are sent, even if the segment is closed or deleted.
    log: Arc<File>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
}

#[derive(Debug)]
pub struct LogSegment {
    /// Tells this segment apart from any other with the same base offset (one compaction
    /// replaced, or one truncation deleted and a later append created again): work done
    /// outside the log's lock checks it before it swaps anything in (see `Log::compact`).
    uid: u64,
    base_offset: i64,
    log_path: PathBuf,
    /// The files, while open (see the module docs).
    files: OnceLock<SegmentFiles>,
    /// Set by every use of the files, cleared by [`close_if_cold`](Self::close_if_cold): the
    /// segment is cold once a whole idle period passed with it clear (a clock-hand scheme that
    /// needs no clock on the read path).
    used: AtomicBool,
    /// When `close_if_cold` last found the segment used (or opened).
    idle_since_ms: i64,
    /// `segment.index.bytes`, for opening the indexes again.
    max_index_bytes: usize,
    size: u64,
    index_interval_bytes: usize,
    bytes_since_last_index_entry: usize,
    max_timestamp_so_far: i64,
    offset_of_max_timestamp: i64,
    next_offset: i64,
    created_ms: i64,
    /// Max timestamp of the first batch: what `segment.ms` is measured from (as Kafka).
    rolling_based_timestamp: Option<i64>,
    /// How much earlier than `segment.ms` this segment rolls: drawn once per segment below
    /// `segment.jitter.ms`, as Kafka does, so that partitions created together roll apart.
    roll_jitter_ms: i64,
    /// Disk reserved past the end of the file (`preallocate`), released when the segment
    /// stops taking appends.
    preallocated_bytes: u64,
    /// An index could not be loaded or kept; the segment must be recovered before it is trusted.
    index_damaged: bool,
    /// Where the last batches appended in this run lie (at most [`RECENT_BATCHES_MAX_COUNT`],
    /// oldest first, contiguous): a fetch of the tail, which is what caught-up followers and
    /// consumers read after every append, finds its batches here instead of reading their
    /// headers back from the file (a `pread` each; a profile of three brokers counted 20,000 a
    /// second for 2,700 appends a second). Cleared by anything that rewrites the file
    /// (recovery, truncation).
    recent: VecDeque<BatchBounds>,
}

/// At most this many of a segment's latest batches have their positions kept in memory.
pub const RECENT_BATCHES_MAX_COUNT: usize = 64;

/// Where one batch lies in a segment file, and its offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchBounds {
    base_offset: i64,
    last_offset: i64,
    position: u64,
    size: usize,
}

impl BatchBounds {
    fn of(h: &BatchHeader, position: u64) -> BatchBounds {
        BatchBounds { base_offset: h.base_offset, last_offset: h.last_offset(), position, size: h.size() }
    }

    fn next_offset(&self) -> i64 {
        self.last_offset + 1
    }
}

/// What a segment read produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRead {
    /// Bytes appended to the output buffer.
    pub bytes: usize,
    /// One past the last offset of the last batch returned.
    pub next_offset: i64,
    /// The read ended because of the byte limit or the offset bound, not the segment's end.
    pub limited: bool,
}

impl LogSegment {
    /// Creates an empty segment, replacing any files left with the same base offset.
    pub fn create(dir: &Path, base_offset: i64, config: &LogConfig, now_ms: i64) -> Result<Self> {
        for suffix in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
            let p = segment_file(dir, base_offset, suffix);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove stale segment file", &p, e)),
            }
        }
        let mut segment = Self::open(dir, base_offset, config, now_ms, true)?;
        if config.preallocate {
            segment.preallocate(config.segment_bytes);
        }
        Ok(segment)
    }

    /// Reserves `bytes` of disk for the file without changing its size (`fallocate` with
    /// `FALLOC_FL_KEEP_SIZE`), so appends never find the disk full mid-segment and the file
    /// lies in few extents; readers and recovery see only what was appended. A file system
    /// that cannot reserve space just goes without.
    fn preallocate(&mut self, bytes: u64) {
        let Ok(len) = libc::off_t::try_from(bytes) else { return };
        let Some(files) = self.files.get() else { return };
        // SAFETY: fallocate on a file descriptor this segment owns; no memory is passed.
        let rc = unsafe { libc::fallocate(files.log.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) };
        if rc == 0 {
            self.preallocated_bytes = bytes;
        } else {
            let e = std::io::Error::last_os_error();
            tracing::debug!(path = %self.log_path.display(), error = %e, "cannot preallocate the segment");
        }
    }

    /// Gives back the disk reserved past the end of the file: truncating to its own size frees
    /// the blocks beyond it (punching a hole past the end does not, on ext4).
    fn release_preallocated(&mut self) {
        if self.preallocated_bytes == 0 {
            return;
        }
        let Some(files) = self.files.get() else { return };
        if let Err(e) = files.log.set_len(self.size) {
            tracing::debug!(path = %self.log_path.display(), error = %e, "cannot release preallocated space");
        }
        self.preallocated_bytes = 0;
    }

    /// Opens the files of an existing segment (creating missing ones) without validating
    /// them: call [`sanity_check`](Self::sanity_check) or [`recover`](Self::recover) next.
    pub fn open(dir: &Path, base_offset: i64, config: &LogConfig, now_ms: i64, writable: bool) -> Result<Self> {
        let log_path = segment_file(dir, base_offset, LOG_FILE_SUFFIX);
        let paths = [log_path.with_extension(INDEX_FILE_SUFFIX), log_path.with_extension(TIME_INDEX_FILE_SUFFIX)];
        let (files, size, index_damaged) =
            open_files(&log_path, &paths, base_offset, config.segment_index_bytes, writable, true)?;
        Ok(Self::with_files(log_path, base_offset, files, size, index_damaged, config, now_ms))
    }

    /// A segment over files just opened (at `log_path` or, for compaction's output, under
    /// temporary names), nothing known yet about its batches.
    fn with_files(
        log_path: PathBuf,
        base_offset: i64,
        files: SegmentFiles,
        size: u64,
        index_damaged: bool,
        config: &LogConfig,
        now_ms: i64,
    ) -> Self {
        LogSegment {
            uid: NEXT_SEGMENT_UID.fetch_add(1, Ordering::Relaxed),
            base_offset,
            log_path,
            files: OnceLock::from(files),
            used: AtomicBool::new(true),
            idle_since_ms: now_ms,
            max_index_bytes: config.segment_index_bytes,
            size,
            index_interval_bytes: config.index_interval_bytes,
            bytes_since_last_index_entry: 0,
            max_timestamp_so_far: NO_TIMESTAMP,
            offset_of_max_timestamp: base_offset,
            next_offset: base_offset,
            created_ms: now_ms,
            rolling_based_timestamp: None,
            roll_jitter_ms: roll_jitter(config.segment_jitter_ms),
            preallocated_bytes: 0,
            index_damaged,
            recent: VecDeque::new(),
        }
    }

    /// The open files, opening them if the segment was closed. Never creates the `.log`: a
    /// file gone from under a closed segment is an I/O error, not an empty segment.
    fn files(&self) -> Result<&SegmentFiles> {
        self.used.store(true, Ordering::Relaxed);
        if let Some(files) = self.files.get() {
            return Ok(files);
        }
        let index_paths = [self.offset_index_path(), self.time_index_path()];
        let (files, size, _) =
            open_files(&self.log_path, &index_paths, self.base_offset, self.max_index_bytes, false, false)?;
        if size < self.size {
            return Err(io_err(
                "reopen segment (shorter than when it was closed)",
                &self.log_path,
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        // A racing reader may have set its own copy first; then ours closes here.
        let _ = self.files.set(files);
        Ok(self.files.get().expect("set just above, by this reader or a racing one"))
    }

    /// Makes sure the files are open, for a change (`&mut self`).
    fn ensure_open(&mut self) -> Result<()> {
        self.files().map(|_| ())
    }

    fn files_mut(&mut self) -> Result<&mut SegmentFiles> {
        self.ensure_open()?;
        Ok(self.files.get_mut().expect("opened just above"))
    }

    /// Whether the segment's files are open.
    pub fn is_open(&self) -> bool {
        self.files.get().is_some()
    }

    /// Closes the segment's files (the next use opens them again). The caller makes sure the
    /// segment is not the active one (its index files are not trimmed) and that its data is
    /// flushed (closing does not fsync).
    pub fn close_files(&mut self) {
        self.release_preallocated();
        self.files.take();
    }

    /// Closes the files if the segment was not used for `idle_ms` (as seen by successive calls
    /// of this function); returns whether it closed them. See [`close_files`](Self::close_files)
    /// for what the caller checks first.
    pub fn close_if_cold(&mut self, now_ms: i64, idle_ms: i64) -> bool {
        if !self.is_open() {
            return false;
        }
        if self.used.swap(false, Ordering::Relaxed) {
            self.idle_since_ms = now_ms;
            return false;
        }
        if now_ms.saturating_sub(self.idle_since_ms) < idle_ms {
            return false;
        }
        self.close_files();
        true
    }
}

/// Opens the `.log` file at `log_path` and its two indexes (`[offset index, time index]`);
/// returns them with the log's size and whether an index was missing or unreadable (then it is
/// replaced by an empty one, which only makes lookups scan until recovery rebuilds it).
fn open_files(
    log_path: &Path,
    index_paths: &[PathBuf; 2],
    base_offset: i64,
    max: usize,
    writable: bool,
    create: bool,
) -> Result<(SegmentFiles, u64, bool)> {
    let log = OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(log_path)
        .map_err(|e| io_err("open segment", log_path, e))?;
    let size = log.metadata().map_err(|e| io_err("stat segment", log_path, e))?.len();
    let mut index_damaged = false;
    let [offset_path, time_path] = index_paths;
    if size > 0 && (!offset_path.exists() || !time_path.exists()) {
        index_damaged = true;
    }
    {
        let offset_index = match OffsetIndex::open(offset_path, base_offset, max, writable) {
            Ok(i) => i,
            Err(StorageError::CorruptIndex { reason, .. }) => {
                tracing::warn!(path = %offset_path.display(), %reason, "discarding corrupt offset index");
                index_damaged = true;
                let _ = fs::remove_file(offset_path);
                OffsetIndex::open(offset_path, base_offset, max, writable)?
            }
            Err(e) => return Err(e),
        };
        let time_index = match TimeIndex::open(time_path, base_offset, max, writable) {
            Ok(i) => i,
            Err(StorageError::CorruptIndex { reason, .. }) => {
                tracing::warn!(path = %time_path.display(), %reason, "discarding corrupt time index");
                index_damaged = true;
                let _ = fs::remove_file(time_path);
                TimeIndex::open(time_path, base_offset, max, writable)?
            }
            Err(e) => return Err(e),
        };
        Ok((SegmentFiles { log: Arc::new(log), offset_index, time_index }, size, index_damaged))
    }
}

impl LogSegment {
    /// This segment value's identity in the process (see the field).
    pub fn uid(&self) -> u64 {
        self.uid
    }
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp_so_far
    }
    pub fn offset_index_path(&self) -> PathBuf {
        self.log_path.with_extension(INDEX_FILE_SUFFIX)
    }
    pub fn time_index_path(&self) -> PathBuf {
        self.log_path.with_extension(TIME_INDEX_FILE_SUFFIX)
    }

    /// The timestamp retention measures age from: the largest record timestamp, or the file's
    /// modification time when no record carries one (as Kafka).
    pub fn largest_timestamp(&self) -> i64 {
        if self.max_timestamp_so_far >= 0 {
            return self.max_timestamp_so_far;
        }
        // By path, so a closed segment stays closed.
        fs::metadata(&self.log_path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(self.created_ms, |d| d.as_millis() as i64)
    }

    /// Whether appending `incoming_bytes` more, the last of which has offset `max_offset` and
    /// the largest timestamp `max_timestamp`, must go to a new segment (Kafka's `shouldRoll`).
    pub fn should_roll(
        &self,
        config: &LogConfig,
        incoming_bytes: usize,
        max_offset: i64,
        max_timestamp: i64,
        now_ms: i64,
    ) -> bool {
        let waited_ms = match self.rolling_based_timestamp {
            Some(t) if t >= 0 && max_timestamp >= 0 => max_timestamp - t,
            _ => now_ms - self.created_ms,
        };
        self.size + incoming_bytes as u64 > config.segment_bytes
            || (self.size > 0 && waited_ms > config.max_segment_ms().saturating_sub(self.roll_jitter_ms))
            // The active segment is always open; were it not, the append would open it.
            || self.files.get().is_some_and(|f| f.offset_index.is_full() || f.time_index.is_full())
            || max_offset - self.base_offset > i64::from(i32::MAX)
            // Index positions are u32: never let a segment grow past them, whatever segment_bytes says.
            || self.size + incoming_bytes as u64 > u64::from(u32::MAX)
    }

    /// Writes whole, already validated batches (their headers in `batches`, base offsets
    /// final) at the end of the file and indexes them.
    pub fn append(&mut self, bytes: &[u8], batches: &[BatchHeader]) -> Result<()> {
        let Some(last) = batches.last() else { return Ok(()) };
        assert!(
            batches[0].base_offset >= self.next_offset && batches[0].base_offset >= self.base_offset,
            "append at offset {} below next offset {} of segment {}",
            batches[0].base_offset,
            self.next_offset,
            self.log_path.display()
        );
        let start = self.size;
        self.ensure_open()?;
        let files = self.files.get().expect("opened just above");
        if let Err(e) = write_batches_at(&files.log, bytes, batches, start) {
            // Undo a partial write so the file still ends on a batch boundary.
            if let Err(undo) = files.log.set_len(start) {
                return Err(StorageError::Io {
                    op: "undo a failed append (the segment tail is now unreliable) to",
                    path: self.log_path.clone(),
                    source: std::io::Error::new(undo.kind(), format!("{undo}; after append failed: {e}")),
                });
            }
            return Err(io_err("append to segment", &self.log_path, e));
        }
        self.size += bytes.len() as u64;
        self.next_offset = last.next_offset();
        let mut position = start;
        for h in batches {
            self.index_batch(h, position);
            if self.recent.len() == RECENT_BATCHES_MAX_COUNT {
                self.recent.pop_front();
            }
            if let Some(prev) = self.recent.back() {
                assert_eq!(
                    prev.position + prev.size as u64,
                    position,
                    "recent batches are contiguous in {}",
                    self.log_path.display()
                );
            }
            self.recent.push_back(BatchBounds::of(h, position));
            position += h.size() as u64;
        }
        assert_eq!(position, self.size, "appended batches end at the segment's size");
        Ok(())
    }

    /// The first batch whose last offset is >= `offset` (as [`translate_offset`]), from the
    /// recent batches when they reach back that far.
    ///
    /// [`translate_offset`]: Self::translate_offset
    fn locate(&self, offset: i64) -> Result<Option<BatchBounds>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        if self.recent.front().is_some_and(|b| b.base_offset <= offset) {
            let i = self.recent.partition_point(|b| b.last_offset < offset);
            return Ok(self.recent.get(i).copied());
        }
        Ok(self.translate_offset(offset)?.map(|(position, h)| BatchBounds::of(&h, position)))
    }

    /// The batch that starts at `position`, from the recent batches if it is one of them.
    fn bounds_at(&self, position: u64) -> Result<BatchBounds> {
        if self.recent.front().is_some_and(|b| b.position <= position) {
            let i = self.recent.partition_point(|b| b.position < position);
            if let Some(b) = self.recent.get(i).filter(|b| b.position == position) {
                return Ok(*b);
            }
        }
        Ok(BatchBounds::of(&self.read_header_at(position)?, position))
    }

    /// Updates timestamps and, every `index.interval.bytes`, the indexes, for a batch written
    /// at `position`. An index that fails to grow only makes lookups slower; the segment is
    /// flagged and rebuilt on the next load.
    fn index_batch(&mut self, h: &BatchHeader, position: u64) {
        if h.max_timestamp > self.max_timestamp_so_far {
            self.max_timestamp_so_far = h.max_timestamp;
            self.offset_of_max_timestamp = h.base_offset;
        }
        if self.rolling_based_timestamp.is_none() {
            self.rolling_based_timestamp = Some(h.max_timestamp);
        }
        // A full index stops taking entries (the segment rolls before the next append; during
        // recovery with a smaller segment.index.bytes the index just stays sparser).
        // Callers (append, recover) opened the files; closed ones just flag the index.
        let files = self.files.get_mut();
        if self.bytes_since_last_index_entry > self.index_interval_bytes
            && files.as_ref().is_none_or(|f| !f.offset_index.is_full())
        {
            let result = match files {
                Some(f) => f.offset_index.append(h.base_offset, position as u32).and_then(|()| {
                    f.time_index.maybe_append(self.max_timestamp_so_far, self.offset_of_max_timestamp, false)
                }),
                None => Err(StorageError::CorruptIndex {
                    path: self.offset_index_path(),
                    reason: "the segment's files are closed".into(),
                }),
            };
            if let Err(e) = result {
                tracing::warn!(segment = %self.log_path.display(), error = %e, "index append failed; index will be rebuilt");
                self.index_damaged = true;
            }
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += h.size();
    }

    fn read_header_at(&self, position: u64) -> Result<BatchHeader> {
        let mut buf = [0u8; BATCH_HEADER_SIZE];
        let len = (self.size - position).min(BATCH_HEADER_SIZE as u64) as usize;
        self.files()?
            .log
            .read_exact_at(&mut buf[..len], position)
            .map_err(|e| io_err("read batch header from", &self.log_path, e))?;
        let header = BatchHeader::parse(&buf[..len]).map_err(|e| self.corrupt(position, e))?;
        if position + header.size() as u64 > self.size {
            return Err(self.corrupt(
                position,
                BatchError::Truncated {
                    position: 0,
                    needed: header.size(),
                    available: (self.size - position) as usize,
                },
            ));
        }
        Ok(header)
    }

    fn corrupt(&self, position: u64, source: BatchError) -> StorageError {
        StorageError::CorruptLog { path: self.log_path.clone(), position, source }
    }

    /// Position and header of the first batch whose last offset is >= `offset`, if any.
    pub fn translate_offset(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let entry = self.files()?.offset_index.lookup(offset);
        let mut position = u64::from(entry.position);
        if position > 0 {
            let h = self.read_header_at(position);
            if !matches!(&h, Ok(h) if h.base_offset == entry.offset) {
                // The index disagrees with the log: never trust it over the data.
                tracing::warn!(segment = %self.log_path.display(), entry = ?entry, "offset index entry does not match the log; scanning");
                position = 0;
            }
        }
        while position < self.size {
            let h = self.read_header_at(position)?;
            if h.last_offset() >= offset {
                return Ok(Some((position, h)));
            }
            position += h.size() as u64;
        }
        Ok(None)
    }

    /// Appends to `out` whole batches starting with the one that contains `start_offset` (or
    /// the first after it), stopping before `max_bytes` would be exceeded or a batch reaches
    /// `max_offset` (exclusive). With `min_one_batch`, a first batch larger than `max_bytes` is
    /// returned whole (KIP-74), so a consumer always makes progress.
    pub fn read(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
        out: &mut BytesMut,
    ) -> Result<SegmentRead> {
        let empty = |limited| SegmentRead { bytes: 0, next_offset: start_offset, limited };
        let Some(first) = self.locate(start_offset)? else {
            return Ok(empty(false));
        };
        let position = first.position;
        if first.last_offset >= max_offset {
            return Ok(empty(true));
        }
        if first.size > max_bytes {
            if !min_one_batch {
                return Ok(empty(true));
            }
            read_into(&self.files()?.log, &self.log_path, out, first.size, position)?;
            return Ok(SegmentRead { bytes: first.size, next_offset: first.next_offset(), limited: true });
        }
        let available = (self.size - position) as usize;
        let want = available.min(max_bytes);
        let start = out.len();
        read_into(&self.files()?.log, &self.log_path, out, want, position)?;
        let mut included = 0usize;
        let mut next_offset = start_offset;
        let mut limited = want < available;
        for item in record_batch::BatchIter::new(&out[start..]) {
            match item {
                Ok((h, _)) if h.last_offset() < max_offset => {
                    included += h.size();
                    next_offset = h.next_offset();
                }
                Ok(_) => {
                    limited = true;
                    break;
                }
                Err(BatchError::Truncated { .. }) if want < available => break,
                Err(e) => return Err(self.corrupt(position, e)),
            }
        }
        out.truncate(start + included);
        Ok(SegmentRead { bytes: included, next_offset, limited })
    }

    /// As [`read`](Self::read), but the batches stay in the file: the slice of the `.log` that
    /// holds them, for `sendfile`. Their bounds come from the batch headers alone (one small
    /// read per batch), and from none at all when the rest of the segment is wanted whole.
    pub fn read_slice(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<(Option<FileSlice>, SegmentRead)> {
        let empty = |limited| (None, SegmentRead { bytes: 0, next_offset: start_offset, limited });
        let Some(first) = self.locate(start_offset)? else {
            return Ok(empty(false));
        };
        let position = first.position;
        if first.last_offset >= max_offset {
            return Ok(empty(true));
        }
        let file = self.files()?.log.clone();
        let slice = |len: usize| Some(FileSlice { file: file.clone(), position, len });
        if first.size > max_bytes {
            if !min_one_batch {
                return Ok(empty(true));
            }
            let read = SegmentRead { bytes: first.size, next_offset: first.next_offset(), limited: true };
            return Ok((slice(first.size), read));
        }
        let available = (self.size - position) as usize;
        if self.next_offset <= max_offset && available <= max_bytes {
            let read = SegmentRead { bytes: available, next_offset: self.next_offset, limited: false };
            return Ok((slice(available), read));
        }
        let (mut included, mut next_offset, mut limited) = (first.size, first.next_offset(), false);
        while included < available {
            let h = self.bounds_at(position + included as u64)?;
            if h.last_offset >= max_offset || included + h.size > max_bytes {
                limited = true;
                break;
            }
            included += h.size;
            next_offset = h.next_offset();
        }
        assert!(included <= available, "a slice stays within its segment");
        Ok((slice(included), SegmentRead { bytes: included, next_offset, limited }))
    }

    /// The first record at or after `start_offset` whose timestamp is >= `timestamp`, as
    /// `(timestamp, offset)`. Inside a compressed batch this is the record itself, as Kafka
    /// answers: the batch whose max timestamp reaches the target is decompressed to find it.
    pub fn find_offset_by_timestamp(&self, timestamp: i64, start_offset: i64) -> Result<Option<(i64, i64)>> {
        let from = self.files()?.time_index.lookup(timestamp).map_or(self.base_offset, |e| e.offset).max(start_offset);
        let Some((mut position, _)) = self.translate_offset(from)? else { return Ok(None) };
        while position < self.size {
            let h = self.read_header_at(position)?;
            if h.max_timestamp >= timestamp && h.last_offset() >= start_offset {
                let mut buf = BytesMut::new();
                read_into(&self.files()?.log, &self.log_path, &mut buf, h.size(), position)?;
                let batch = RecordBatch::new(buf.freeze()).map_err(|e| self.corrupt(position, e))?;
                for record in batch.records().map_err(|e| self.corrupt(position, e))? {
                    let record = record.map_err(|e| self.corrupt(position, e))?;
                    if record.timestamp >= timestamp && record.offset >= start_offset {
                        return Ok(Some((record.timestamp, record.offset)));
                    }
                }
            }
            position += h.size() as u64;
        }
        Ok(None)
    }

    /// Checks a loaded segment without reading all of it: both indexes structurally sound,
    /// the last offset index entry pointing at a batch with its offset, and the batches after
    /// it well-formed up to the end of the file. Sets the segment's next offset and max
    /// timestamp. An error means the segment must be recovered.
    pub fn sanity_check(&mut self) -> Result<()> {
        if self.index_damaged {
            return Err(StorageError::CorruptIndex {
                path: self.offset_index_path(),
                reason: "missing or unreadable".into(),
            });
        }
        let files = self.files()?;
        files.offset_index.sanity_check(self.size)?;
        files.time_index.sanity_check()?;
        self.reload_tail_state()
    }

    /// Recomputes `next_offset`, max timestamp and the index-interval counter by walking the
    /// batches after the last offset index entry.
    fn reload_tail_state(&mut self) -> Result<()> {
        let files = self.files()?;
        let entry = files.offset_index.last_entry();
        let last_time_entry = files.time_index.last_entry();
        let mut position = entry.map_or(0, |e| u64::from(e.position));
        let mut next_offset = self.base_offset;
        let (mut max_ts, mut max_ts_offset) = match last_time_entry {
            Some(e) => (e.timestamp, e.offset),
            None => (NO_TIMESTAMP, self.base_offset),
        };
        let mut first = true;
        while position < self.size {
            let h = self.read_header_at(position)?;
            if first {
                if let Some(e) = entry
                    && h.base_offset != e.offset
                {
                    return Err(StorageError::CorruptIndex {
                        path: self.offset_index_path(),
                        reason: format!(
                            "last entry names offset {} but the batch there starts at {}",
                            e.offset, h.base_offset
                        ),
                    });
                }
                first = false;
            }
            if h.base_offset < next_offset
                || h.base_offset < self.base_offset
                || h.last_offset() - self.base_offset > i64::from(i32::MAX)
            {
                return Err(self.corrupt(position, BatchError::InvalidLength { position: 0, length: h.batch_length }));
            }
            if h.max_timestamp > max_ts {
                max_ts = h.max_timestamp;
                max_ts_offset = h.base_offset;
            }
            next_offset = h.next_offset();
            position += h.size() as u64;
        }
        self.next_offset = if self.size == 0 { self.base_offset } else { next_offset.max(self.base_offset) };
        // The last time index entry must name a batch of this segment that carries exactly that
        // max timestamp (it was written as "max so far, reached at this batch").
        if let Some(te) = last_time_entry {
            let matches = te.offset >= self.base_offset
                && te.offset < self.next_offset
                && matches!(self.translate_offset(te.offset), Ok(Some((_, h))) if h.base_offset == te.offset && h.max_timestamp == te.timestamp);
            if !matches {
                return Err(StorageError::CorruptIndex {
                    path: self.time_index_path(),
                    reason: format!("last entry ({}, {}) does not match the log", te.timestamp, te.offset),
                });
            }
        }
        self.max_timestamp_so_far = max_ts;
        self.offset_of_max_timestamp = max_ts_offset;
        self.bytes_since_last_index_entry = (self.size - entry.map_or(0, |e| u64::from(e.position))) as usize;
        if self.size > 0 && self.rolling_based_timestamp.is_none() {
            self.rolling_based_timestamp = Some(self.read_header_at(0)?.max_timestamp);
        }
        Ok(())
    }

    /// Re-reads the whole segment, validating every batch (structure, CRC, offsets), rebuilds
    /// both indexes, records in `epochs` the leader epochs of batches that end at or after
    /// `epochs_from` (the log start offset: epochs of deleted records are forgotten), and
    /// truncates the file at the first invalid batch. Returns the number of bytes truncated.
    pub fn recover(&mut self, mut epochs: Option<&mut LeaderEpochFileCache>, epochs_from: i64) -> Result<u64> {
        self.recent.clear();
        let files = self.files_mut()?;
        files.offset_index.reset();
        files.time_index.reset();
        self.index_damaged = false;
        self.bytes_since_last_index_entry = 0;
        self.max_timestamp_so_far = NO_TIMESTAMP;
        self.offset_of_max_timestamp = self.base_offset;
        self.rolling_based_timestamp = None;
        self.next_offset = self.base_offset;
        let file_size = self.size;
        let mut valid_end = 0u64;
        let mut buf: Vec<u8> = Vec::new();
        let mut buf_start = 0u64; // file position of buf[0]
        'scan: while valid_end < file_size {
            // Refill so that buf starts at valid_end and holds at least one header if possible.
            let offset_in_buf = (valid_end - buf_start) as usize;
            if offset_in_buf + BATCH_HEADER_SIZE > buf.len() && buf_start + (buf.len() as u64) < file_size {
                buf_start = valid_end;
                let want = RECOVERY_READ_BYTES.min((file_size - buf_start) as usize);
                self.fill(&mut buf, buf_start, want)?;
            }
            let at = (valid_end - buf_start) as usize;
            let header = match BatchHeader::parse(&buf[at..]) {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(segment = %self.log_path.display(), position = valid_end, error = %e, "recovery found an invalid batch header");
                    break 'scan;
                }
            };
            if valid_end + header.size() as u64 > file_size {
                tracing::warn!(segment = %self.log_path.display(), position = valid_end, size = header.size(), "recovery found a torn batch");
                break;
            }
            if at + header.size() > buf.len() {
                buf_start = valid_end;
                let want = header.size().max(RECOVERY_READ_BYTES).min((file_size - buf_start) as usize);
                self.fill(&mut buf, buf_start, want)?;
            }
            let at = (valid_end - buf_start) as usize;
            let bytes = &buf[at..at + header.size()];
            let bad = if let Err(e) = record_batch::validate(bytes) {
                Some(e.to_string())
            } else if header.base_offset < self.next_offset || header.base_offset < self.base_offset {
                Some(format!("offset {} goes back (expected at least {})", header.base_offset, self.next_offset))
            } else if header.last_offset() - self.base_offset > i64::from(i32::MAX) {
                Some(format!("offset {} too far from segment base", header.last_offset()))
            } else {
                None
            };
            if let Some(reason) = bad {
                tracing::warn!(segment = %self.log_path.display(), position = valid_end, %reason, "recovery found a corrupt batch");
                break;
            }
            if let Some(cache) = epochs.as_deref_mut()
                && header.last_offset() >= epochs_from
            {
                cache.assign_in_memory(header.partition_leader_epoch, header.base_offset);
            }
            self.index_batch(&header, valid_end);
            self.next_offset = header.next_offset();
            valid_end += header.size() as u64;
        }
        let truncated = file_size - valid_end;
        if truncated > 0 {
            self.files_mut()?
                .log
                .set_len(valid_end)
                .map_err(|e| io_err("truncate corrupt tail of", &self.log_path, e))?;
            self.size = valid_end;
        }
        if self.index_damaged {
            return Err(StorageError::CorruptIndex {
                path: self.offset_index_path(),
                reason: "could not rebuild".into(),
            });
        }
        Ok(truncated)
    }

    fn fill(&self, buf: &mut Vec<u8>, position: u64, len: usize) -> Result<()> {
        buf.clear();
        buf.resize(len, 0);
        self.files()?.log.read_exact_at(buf, position).map_err(|e| io_err("read segment", &self.log_path, e))
    }

    /// Removes every batch that holds an offset >= `offset`. Returns the bytes removed.
    pub fn truncate_to(&mut self, offset: i64) -> Result<u64> {
        let Some((position, first_removed)) = self.translate_offset(offset)? else { return Ok(0) };
        self.recent.clear();
        let removed = self.size - position;
        self.ensure_open()?;
        let files = self.files.get_mut().expect("opened just above");
        files.log.set_len(position).map_err(|e| io_err("truncate segment", &self.log_path, e))?;
        files.offset_index.truncate_to_position(position as u32);
        files.time_index.truncate_to(first_removed.base_offset);
        self.size = position;
        self.rolling_based_timestamp = None;
        self.reload_tail_state()?;
        if self.size > 0 {
            self.next_offset = self.next_offset.max(self.base_offset);
        }
        Ok(removed)
    }

    /// fsyncs the log and flushes the indexes' mappings. A closed segment is opened for it:
    /// recovery closes segments it did not flush, and fsync through a new descriptor writes
    /// the file's dirty pages all the same (they belong to the file, not the descriptor).
    pub fn flush(&self) -> Result<()> {
        let started = std::time::Instant::now();
        let files = self.files()?;
        files.log.sync_data().map_err(|e| io_err("fsync segment", &self.log_path, e))?;
        files.offset_index.flush()?;
        files.time_index.flush()?;
        crate::stats::flushed(started);
        Ok(())
    }

    /// Called when a newer segment takes over appends, and on close: writes the final time
    /// index entry and trims both index files to their entries.
    pub fn on_become_inactive(&mut self) -> Result<()> {
        self.release_preallocated();
        let (max_timestamp, offset_of_max_timestamp) = (self.max_timestamp_so_far, self.offset_of_max_timestamp);
        let files = self.files_mut()?;
        if max_timestamp >= 0 {
            files.time_index.maybe_append(max_timestamp, offset_of_max_timestamp, true)?;
        }
        files.offset_index.trim_to_valid_size()?;
        files.time_index.trim_to_valid_size()
    }

    /// Max timestamp of the segment's first batch (what `segment.ms` and
    /// `max.compaction.lag.ms` measure from), if it has one.
    pub fn first_batch_timestamp(&self) -> Option<i64> {
        self.rolling_based_timestamp.filter(|&t| t >= 0)
    }

    /// Renames the segment's files to `*.deleted`, to be removed later
    /// (`file.delete.delay.ms`); returns the new paths. A file already gone is skipped.
    pub fn rename_for_deletion(self) -> Result<Vec<PathBuf>> {
        let paths = [self.log_path.clone(), self.offset_index_path(), self.time_index_path()];
        drop(self);
        let mut renamed = Vec::with_capacity(paths.len());
        for p in paths {
            let mut to = p.clone().into_os_string();
            to.push(DELETED_FILE_SUFFIX);
            let to = PathBuf::from(to);
            match fs::rename(&p, &to) {
                Ok(()) => renamed.push(to),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("rename segment file for deletion", &p, e)),
            }
        }
        Ok(renamed)
    }

    /// Deletes the segment's files.
    pub fn delete(self) -> Result<()> {
        let paths = [self.log_path.clone(), self.offset_index_path(), self.time_index_path()];
        drop(self);
        for p in paths {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("delete segment file", &p, e)),
            }
        }
        Ok(())
    }

    /// What a flush with no lock held needs of this segment (opening its files if the segment
    /// was closed: a segment closed by recovery may hold unflushed data).
    pub(crate) fn sync_handle(&self) -> Result<SegmentSyncHandle> {
        Ok(SegmentSyncHandle {
            log: self.files()?.log.clone(),
            log_path: self.log_path.clone(),
            index_paths: [self.offset_index_path(), self.time_index_path()],
        })
    }

    /// What reading this segment's bytes with no lock held needs (opening its files if the
    /// segment was closed).
    pub(crate) fn read_view(&self) -> Result<SegmentReadView> {
        Ok(SegmentReadView {
            uid: self.uid,
            base_offset: self.base_offset,
            size: self.size,
            file: self.files()?.log.clone(),
            path: self.log_path.clone(),
        })
    }

    /// Writes compaction's output for the segment at `base_offset` (whole batches, `headers`
    /// describing `bytes`) to new files beside the live ones ([`cleaned_paths`]), indexed as
    /// appends index, trimmed and fsynced; returns the segment they make, closed, already
    /// named by its final `.log` path: [`decide_swap`] and [`finish_swap`] give the files those
    /// names. Runs with no lock held: nothing else writes these names while the log's
    /// compaction round is in progress (one per log at a time).
    pub(crate) fn write_cleaned(
        dir: &Path,
        base_offset: i64,
        bytes: &[u8],
        headers: &[BatchHeader],
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<LogSegment> {
        let [log_tmp, offset_tmp, time_tmp] = cleaned_paths(dir, base_offset);
        for path in [&log_tmp, &offset_tmp, &time_tmp] {
            remove_if_exists(path, "remove stale cleaned file")?;
        }
        let (files, size, _) =
            open_files(&log_tmp, &[offset_tmp, time_tmp], base_offset, config.segment_index_bytes, true, true)?;
        assert_eq!(size, 0, "a cleaned file starts empty: {}", log_tmp.display());
        let mut segment = Self::with_files(log_tmp, base_offset, files, size, false, config, now_ms);
        segment.append(bytes, headers)?;
        segment.on_become_inactive()?;
        segment.flush()?;
        segment.close_files();
        segment.log_path = segment_file(dir, base_offset, LOG_FILE_SUFFIX);
        Ok(segment)
    }
}

/// What a flush outside the log's lock syncs of one segment: the `.log` descriptor, shared
/// with the segment so that it stays valid if the segment is closed, renamed or deleted
/// meanwhile (fsync of a deleted file is harmless), and the index files by path (an index
/// holds no descriptor; one gone meanwhile went with its segment).
#[derive(Debug, Clone)]
pub struct SegmentSyncHandle {
    log: Arc<File>,
    log_path: PathBuf,
    index_paths: [PathBuf; 2],
}

impl SegmentSyncHandle {
    /// fsyncs the `.log` and both indexes. An index is written through its memory mapping and
    /// synced here through a descriptor of its own: on Linux both reach the same page cache
    /// pages (a write through a shared mapping marks its page dirty when it faults), and
    /// `msync(MS_SYNC)` itself is an fsync of the file's range.
    pub(crate) fn sync(&self) -> Result<()> {
        let started = std::time::Instant::now();
        self.log.sync_data().map_err(|e| io_err("fsync segment", &self.log_path, e))?;
        for path in &self.index_paths {
            sync_if_exists(path, "fsync index")?;
        }
        crate::stats::flushed(started);
        Ok(())
    }
}

/// A segment's bytes as they were when the view was taken, for reading with no lock held. The
/// bytes below `size` do not change while the segment stays in the log and the log is not
/// truncated (appends write past them); a reader checks both before it trusts what it read.
#[derive(Debug, Clone)]
pub struct SegmentReadView {
    pub(crate) uid: u64,
    pub(crate) base_offset: i64,
    pub(crate) size: u64,
    file: Arc<File>,
    path: PathBuf,
}

impl SegmentReadView {
    /// Calls `f` with the view's whole batches, oldest first, in chunks of about
    /// `chunk_bytes` (a batch larger than that comes alone). Bytes that do not parse as
    /// batches are a `CorruptLog` error.
    pub(crate) fn for_each_chunk(&self, chunk_bytes: usize, mut f: impl FnMut(Bytes) -> Result<()>) -> Result<()> {
        let mut position = 0u64;
        while position < self.size {
            let remaining = self.size - position;
            let want = remaining.min(chunk_bytes.max(BATCH_HEADER_SIZE) as u64) as usize;
            let mut buf = BytesMut::new();
            read_into(&self.file, &self.path, &mut buf, want, position)?;
            let mut whole = 0usize;
            for item in record_batch::BatchIter::new(&buf) {
                match item {
                    Ok((h, _)) => whole += h.size(),
                    Err(BatchError::Truncated { .. }) if (want as u64) < remaining => break,
                    Err(e) => return Err(self.corrupt(position, e)),
                }
            }
            if whole == 0 {
                // One batch larger than the chunk: read it whole.
                let header = BatchHeader::parse(&buf).map_err(|e| self.corrupt(position, e))?;
                if header.size() as u64 > remaining {
                    let available = remaining as usize;
                    let e = BatchError::Truncated { position: 0, needed: header.size(), available };
                    return Err(self.corrupt(position, e));
                }
                buf.clear();
                read_into(&self.file, &self.path, &mut buf, header.size(), position)?;
                whole = header.size();
            }
            buf.truncate(whole);
            position += whole as u64;
            f(buf.freeze())?;
        }
        Ok(())
    }

    fn corrupt(&self, position: u64, source: BatchError) -> StorageError {
        StorageError::CorruptLog { path: self.path.clone(), position, source }
    }
}

/// Compaction's temporary files for the segment at `base_offset`: `[log, offset index, time
/// index]`, each the live name plus [`CLEANED_FILE_SUFFIX`].
pub(crate) fn cleaned_paths(dir: &Path, base_offset: i64) -> [PathBuf; 3] {
    [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX]
        .map(|suffix| with_suffix(&segment_file(dir, base_offset, suffix), CLEANED_FILE_SUFFIX))
}

/// The decision point of swapping a cleaned segment in: its `.log.cleaned` (fsynced when
/// written) becomes `.log.swap`. From here a stop completes the swap when the log loads; the
/// caller makes the rename durable before it renames the old segment's files away.
pub(crate) fn decide_swap(dir: &Path, base_offset: i64) -> Result<()> {
    let [cleaned, _, _] = cleaned_paths(dir, base_offset);
    let swap = with_suffix(&segment_file(dir, base_offset, LOG_FILE_SUFFIX), SWAP_FILE_SUFFIX);
    fs::rename(&cleaned, &swap).map_err(|e| io_err("rename cleaned segment", &swap, e))
}

/// The last step of the swap, once the old segment's files are renamed away: the cleaned
/// indexes and the swap file take the live names.
pub(crate) fn finish_swap(dir: &Path, base_offset: i64) -> Result<()> {
    let [_, offset_tmp, time_tmp] = cleaned_paths(dir, base_offset);
    for (from, suffix) in [(offset_tmp, INDEX_FILE_SUFFIX), (time_tmp, TIME_INDEX_FILE_SUFFIX)] {
        let to = segment_file(dir, base_offset, suffix);
        fs::rename(&from, &to).map_err(|e| io_err("swap in cleaned index", &to, e))?;
    }
    let log = segment_file(dir, base_offset, LOG_FILE_SUFFIX);
    fs::rename(with_suffix(&log, SWAP_FILE_SUFFIX), &log).map_err(|e| io_err("swap in cleaned segment", &log, e))
}

/// Renames whichever of compaction's temporary files for `base_offset` exist to
/// `*.deleted` (a round that did not swap them in); returns the new names.
pub(crate) fn discard_cleaned(dir: &Path, base_offset: i64) -> Result<Vec<PathBuf>> {
    let mut renamed = Vec::new();
    for path in cleaned_paths(dir, base_offset) {
        let to = with_suffix(&path, DELETED_FILE_SUFFIX);
        match fs::rename(&path, &to) {
            Ok(()) => renamed.push(to),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("rename cleaned file for deletion", &path, e)),
        }
    }
    Ok(renamed)
}

/// fsyncs the file at `path` through a descriptor of its own; a file that is gone is skipped
/// (returns false).
pub(crate) fn sync_if_exists(path: &Path, op: &'static str) -> Result<bool> {
    match File::open(path) {
        Ok(file) => file.sync_data().map(|()| true).map_err(|e| io_err(op, path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(op, path, e)),
    }
}

/// Removes the file at `path`; one already gone is fine.
pub(crate) fn remove_if_exists(path: &Path, op: &'static str) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(op, path, e)),
    }
}

/// Appends `len` bytes read at `position` to `out`, without zero-filling the buffer first.
fn read_into(file: &File, path: &Path, out: &mut BytesMut, len: usize, position: u64) -> Result<()> {
    out.reserve(len);
    let start = out.len();
    let spare = out.spare_capacity_mut();
    let mut done = 0usize;
    while done < len {
        // SAFETY: the destination is `len - done` bytes of spare capacity owned by `out`;
        // pread writes at most that many bytes there and nothing reads them until set_len.
        let n = unsafe {
            libc::pread(
                file.as_raw_fd(),
                spare[done..].as_mut_ptr().cast(),
                len - done,
                (position + done as u64) as libc::off_t,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(io_err("read segment", path, e));
        }
        if n == 0 {
            return Err(io_err("read segment", path, std::io::ErrorKind::UnexpectedEof.into()));
        }
        done += n as usize;
    }
    // SAFETY: the loop above initialised exactly `len` bytes after `start`.
    unsafe { out.set_len(start + len) };
    Ok(())
}
/// Most buffers handed to one `pwritev` (Linux's `IOV_MAX`).
const WRITE_IOVECS_MAX: usize = 1024;

/// Writes `bytes`, the whole batches `batches` describe, at `position` of `file`, each batch's
/// head (base offset, length, leader epoch) as its header states it rather than as `bytes` hold
/// it: a leader's batch goes from the request buffer to the file with the offset and epoch the
/// log assigned, without being copied or rewritten. A follower's headers state what its bytes
/// hold, so the file gets them unchanged.
fn write_batches_at(file: &File, bytes: &[u8], batches: &[BatchHeader], position: u64) -> std::io::Result<()> {
    let prefixes: Vec<[u8; UNCHECKED_PREFIX_SIZE]> = batches.iter().map(BatchHeader::unchecked_prefix).collect();
    let mut slices = Vec::with_capacity(batches.len() * 2);
    let mut at = 0;
    for (h, prefix) in batches.iter().zip(&prefixes) {
        slices.push(IoSlice::new(prefix));
        slices.push(IoSlice::new(&bytes[at + UNCHECKED_PREFIX_SIZE..at + h.size()]));
        at += h.size();
    }
    assert_eq!(at, bytes.len(), "the batches' headers cover the bytes written");
    let mut remaining = &mut slices[..];
    let mut offset = position;
    while !remaining.is_empty() {
        let count = remaining.len().min(WRITE_IOVECS_MAX);
        // SAFETY: `IoSlice` has the layout of `iovec` on Unix, and the first `count` of them
        // point into `prefixes` and `bytes`, both alive for the call; the descriptor is open
        // (borrowed from `file`).
        let written = unsafe {
            libc::pwritev(file.as_raw_fd(), remaining.as_ptr().cast(), count as libc::c_int, offset as libc::off_t)
        };
        if written < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        offset += written as u64;
        IoSlice::advance_slices(&mut remaining, written as usize);
    }
    Ok(())
}
