//! The Raft log on disk: segment files of checksummed records, one record per entry, plus the
//! vote and the purge point in small files replaced atomically. An append is written and
//! `fsync`'d before openraft is told it is durable, so nothing is acknowledged (an entry to a
//! leader, a vote to a candidate) that a crash could take back.
//!
//! Record: `u32` length (little-endian), `u32` CRC-32C of the payload, payload (postcard of the
//! entry). Opening reads every segment; a torn or garbled tail (a crash mid-append) is cut
//! off, since it was never acknowledged. Every entry not yet purged is also kept in memory, so
//! reads never touch the disk: the log is bounded by snapshots, after which openraft purges it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A segment rolls over past this size.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
const RECORD_HEADER: usize = 8;

fn segment_name(first: u64) -> String {
    format!("log-{first:020}.raft")
}

/// Writes `bytes` to `dir/name` so that a crash leaves the old content or the new, never a mix.
/// A temporary file left by a failed try is removed (on a full disk it holds space).
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

/// Reads `dir/name`, `None` if it does not exist.
pub(crate) fn read_file(dir: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    match fs::read(dir.join(name)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[derive(Debug)]
struct Segment {
    file: File,
    len: u64,
}

/// Entries by index, with where each one starts on disk.
#[derive(Debug)]
pub(crate) struct DiskLog<E> {
    dir: PathBuf,
    entries: BTreeMap<u64, E>,
    /// index -> (first index of its segment, byte offset of its record)
    positions: BTreeMap<u64, (u64, u64)>,
    segments: BTreeMap<u64, Segment>,
}

impl<E: Serialize + DeserializeOwned + Clone> DiskLog<E> {
    /// Opens (creating) the log in `dir`; entries at or below `purged` are skipped. `index_of`
    /// tells an entry's index.
    pub fn open(dir: &Path, purged: Option<u64>, index_of: impl Fn(&E) -> u64) -> io::Result<DiskLog<E>> {
        fs::create_dir_all(dir)?;
        let mut firsts: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix("log-")?.strip_suffix(".raft")?.parse().ok()
            })
            .collect();
        firsts.sort_unstable();
        let mut log = DiskLog {
            dir: dir.to_path_buf(),
            entries: BTreeMap::new(),
            positions: BTreeMap::new(),
            segments: BTreeMap::new(),
        };
        let mut torn = false;
        for first in firsts {
            let path = dir.join(segment_name(first));
            if torn {
                // Everything after a torn record is a tail that was never acknowledged.
                fs::remove_file(&path)?;
                continue;
            }
            let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            let mut pos = 0usize;
            while pos < bytes.len() {
                match Self::decode_record(&bytes[pos..]) {
                    Some((entry, used)) => {
                        let index = index_of(&entry);
                        let in_order = log.entries.keys().next_back().is_none_or(|last| index == last + 1);
                        if !in_order && purged.is_none_or(|p| index > p) {
                            torn = true;
                            break;
                        }
                        if purged.is_none_or(|p| index > p) {
                            log.entries.insert(index, entry);
                            log.positions.insert(index, (first, pos as u64));
                        }
                        pos += used;
                    }
                    None => {
                        torn = true;
                        break;
                    }
                }
            }
            if pos < bytes.len() {
                tracing::warn!(segment = %path.display(), at = pos, "cutting a torn raft log tail");
                file.set_len(pos as u64)?;
                file.sync_all()?;
            }
            log.segments.insert(first, Segment { file, len: pos as u64 });
        }
        Ok(log)
    }

    fn decode_record(bytes: &[u8]) -> Option<(E, usize)> {
        if bytes.len() < RECORD_HEADER {
            return None;
        }
        let len = u32::from_le_bytes(bytes[0..4].try_into().ok()?) as usize;
        let crc = u32::from_le_bytes(bytes[4..8].try_into().ok()?);
        let payload = bytes.get(RECORD_HEADER..RECORD_HEADER + len)?;
        if crc32c::crc32c(payload) != crc {
            return None;
        }
        let entry = postcard::from_bytes(payload).ok()?;
        Some((entry, RECORD_HEADER + len))
    }

    #[cfg(test)]
    pub fn first_index(&self) -> Option<u64> {
        self.entries.keys().next().copied()
    }

    pub fn last(&self) -> Option<&E> {
        self.entries.values().next_back()
    }

    pub fn range(&self, range: impl std::ops::RangeBounds<u64>) -> Vec<E> {
        self.entries.range(range).map(|(_, e)| e.clone()).collect()
    }

    /// Appends entries (indexes following the last) and syncs them to disk.
    pub fn append(&mut self, entries: Vec<(u64, E)>) -> io::Result<()> {
        let Some(&(start, _)) = entries.first() else { return Ok(()) };
        let roll = match self.segments.iter().next_back() {
            None => true,
            Some((_, s)) => s.len >= SEGMENT_BYTES,
        };
        if roll {
            let file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(self.dir.join(segment_name(start)))?;
            File::open(&self.dir)?.sync_all()?;
            self.segments.insert(start, Segment { file, len: 0 });
        }
        let (&first, segment) = self.segments.iter_mut().next_back().expect("a segment exists");
        let mut buf = Vec::new();
        let mut placed = Vec::with_capacity(entries.len());
        for (index, entry) in &entries {
            let payload = postcard::to_allocvec(entry).map_err(invalid)?;
            placed.push((*index, (first, segment.len + buf.len() as u64)));
            buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
            buf.extend_from_slice(&payload);
        }
        use std::io::{Seek, SeekFrom};
        segment.file.seek(SeekFrom::Start(segment.len))?;
        segment.file.write_all(&buf)?;
        segment.file.sync_data()?;
        segment.len += buf.len() as u64;
        for ((index, entry), (_, at)) in entries.into_iter().zip(placed) {
            self.entries.insert(index, entry);
            self.positions.insert(index, at);
        }
        Ok(())
    }

    /// Removes entries from `index` on (a conflicting tail replaced by the leader's).
    pub fn truncate(&mut self, index: u64) -> io::Result<()> {
        let Some(&(seg_first, offset)) = self.positions.get(&index) else { return Ok(()) };
        let later: Vec<u64> = self.segments.range(seg_first + 1..).map(|(f, _)| *f).collect();
        for f in later {
            self.segments.remove(&f);
            fs::remove_file(self.dir.join(segment_name(f)))?;
        }
        if let Some(s) = self.segments.get_mut(&seg_first) {
            s.file.set_len(offset)?;
            s.file.sync_all()?;
            s.len = offset;
        }
        self.entries.split_off(&index);
        self.positions.split_off(&index);
        Ok(())
    }

    /// Forgets entries up to `index` (covered by a snapshot); deletes whole segments that held
    /// nothing else. The caller records the purge point first.
    pub fn purge(&mut self, index: u64) -> io::Result<()> {
        self.entries = self.entries.split_off(&(index + 1));
        self.positions = self.positions.split_off(&(index + 1));
        let firsts: Vec<u64> = self.segments.keys().copied().collect();
        for pair in firsts.windows(2) {
            // A segment ends just before the next begins; the newest is never removed.
            if pair[1] <= index + 1 {
                self.segments.remove(&pair[0]);
                fs::remove_file(self.dir.join(segment_name(pair[0])))?;
            }
        }
        Ok(())
    }
}

/// A log shared between the writer and openraft's readers.
pub(crate) type SharedLog<E> = Arc<Mutex<DiskLog<E>>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path, purged: Option<u64>) -> DiskLog<(u64, String)> {
        DiskLog::open(dir, purged, |e: &(u64, String)| e.0).expect("opens")
    }

    fn entries(range: std::ops::Range<u64>) -> Vec<(u64, (u64, String))> {
        range.map(|i| (i, (i, format!("entry {i}")))).collect()
    }

    #[test]
    fn appended_entries_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), None);
        log.append(entries(1..4)).expect("append");
        log.append(entries(4..6)).expect("append");
        drop(log);
        // A crash mid-append: half a record at the end.
        let seg = dir.path().join(segment_name(1));
        let mut f = OpenOptions::new().append(true).open(&seg).expect("open");
        f.write_all(&[9, 0, 0, 0, 1, 2]).expect("write");
        drop(f);
        let mut log = open(dir.path(), None);
        assert_eq!(log.range(..).iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        log.append(entries(6..7)).expect("append after the cut");
        drop(log);
        let log = open(dir.path(), None);
        assert_eq!(log.last().map(|e| e.0), Some(6));
    }

    #[test]
    fn truncate_and_purge_are_durable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), None);
        log.append(entries(1..10)).expect("append");
        log.truncate(7).expect("truncate");
        assert_eq!(log.last().map(|e| e.0), Some(6));
        log.append(vec![(7, (7, "replaced".into()))]).expect("append");
        log.purge(3).expect("purge");
        assert_eq!(log.first_index(), Some(4));
        drop(log);
        let log = open(dir.path(), Some(3));
        assert_eq!(log.range(..).iter().map(|e| e.0).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
        assert_eq!(log.range(7..).first().map(|e| e.1.clone()), Some("replaced".to_string()));
    }

    #[test]
    fn a_garbled_record_ends_the_log_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), None);
        log.append(entries(1..4)).expect("append");
        let (_, at) = log.positions[&2];
        drop(log);
        let seg = dir.path().join(segment_name(1));
        let mut bytes = fs::read(&seg).expect("read");
        bytes[at as usize + RECORD_HEADER] ^= 0xff;
        fs::write(&seg, bytes).expect("write");
        let log = open(dir.path(), None);
        assert_eq!(log.range(..).iter().map(|e| e.0).collect::<Vec<_>>(), vec![1]);
    }
}
