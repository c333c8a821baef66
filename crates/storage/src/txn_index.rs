//! The aborted-transaction index (Kafka's `TransactionIndex`, `<base_offset>.txnindex`): one
//! entry per transaction aborted by a marker in that segment, so a `read_committed` fetch can
//! tell the consumer which producers' records to drop without reading the log for markers.
//!
//! Entry format, big-endian, 34 bytes:
//!
//! ```text
//! version i16 = 0 | producer_id i64 | first_offset i64 | last_offset i64 | last_stable_offset i64
//! ```
//!
//! `first_offset` is the transaction's first record, `last_offset` its abort marker, and
//! `last_stable_offset` the partition's last stable offset once the abort completed (no later
//! aborted transaction can start below it, which lets a lookup stop early).
//!
//! An entry is appended and fsync'd when its marker is written, so the index is never behind
//! a marker that survived a crash for longer than the producer-state replay that re-derives it
//! (see `Log::load_producers`). A torn last entry is ignored on read; entries past the log end
//! are dropped by the log.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Result, io_err};

pub const TXN_INDEX_FILE_SUFFIX: &str = "txnindex";

/// Bytes per entry.
pub const ENTRY_SIZE: usize = 34;
const _: () = assert!(ENTRY_SIZE == 2 + 8 + 8 + 8 + 8);
const ENTRY_VERSION: i16 = 0;

/// A transaction that ended with an abort marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut out = [0u8; ENTRY_SIZE];
        out[0..2].copy_from_slice(&ENTRY_VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    /// `None` for an entry of another version.
    pub fn decode(b: &[u8; ENTRY_SIZE]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        (i16::from_be_bytes([b[0], b[1]]) == ENTRY_VERSION).then(|| AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        })
    }
}

/// Reads an index file's entries (none if the file does not exist).
pub fn read(path: &Path) -> Result<Vec<AbortedTxn>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read transaction index", path, e)),
    };
    let entries = bytes.chunks_exact(ENTRY_SIZE);
    if !entries.remainder().is_empty() {
        tracing::warn!(path = %path.display(), torn_bytes = entries.remainder().len(), "ignoring a torn transaction index entry");
    }
    Ok(entries.filter_map(|c| AbortedTxn::decode(c.try_into().expect("chunk of ENTRY_SIZE"))).collect())
}

/// Appends one entry and fsyncs it (aborts are rare; the index must not lag its marker).
pub fn append(path: &Path, entry: &AbortedTxn) -> Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_err("open transaction index", path, e))?;
    // A torn entry from a crash would misalign every later one: cut it first.
    let len = f.metadata().map_err(|e| io_err("stat transaction index", path, e))?.len();
    let whole = len - len % ENTRY_SIZE as u64;
    if whole != len {
        f.set_len(whole).map_err(|e| io_err("trim transaction index", path, e))?;
    }
    f.write_all(&entry.encode()).map_err(|e| io_err("append to transaction index", path, e))?;
    f.sync_data().map_err(|e| io_err("fsync transaction index", path, e))
}

/// Rewrites an index file with `entries` (removing it when there are none).
pub fn rewrite(path: &Path, entries: &[AbortedTxn]) -> Result<()> {
    if entries.is_empty() {
        return remove(path);
    }
    let bytes: Vec<u8> = entries.iter().flat_map(|e| e.encode()).collect();
    crate::checkpoint::write_atomically(path, &bytes)
}

/// Removes an index file if it exists.
pub fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove transaction index", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("00000000000000000000.txnindex");
        assert_eq!(read(&path).expect("missing is empty"), vec![]);
        let a = AbortedTxn { producer_id: 5, first_offset: 10, last_offset: 20, last_stable_offset: 21 };
        let b = AbortedTxn { producer_id: 6, first_offset: 12, last_offset: 30, last_stable_offset: 31 };
        append(&path, &a).expect("append");
        // A crash mid-append leaves a partial entry; the next append cuts it.
        OpenOptions::new().append(true).open(&path).expect("open").write_all(&[0, 0, 1]).expect("write");
        assert_eq!(read(&path).expect("read"), vec![a]);
        append(&path, &b).expect("append");
        assert_eq!(read(&path).expect("read"), vec![a, b]);
        rewrite(&path, &[b]).expect("rewrite");
        assert_eq!(read(&path).expect("read"), vec![b]);
        rewrite(&path, &[]).expect("rewrite empty");
        assert!(!path.exists());
    }
}
