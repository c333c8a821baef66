//! Small text checkpoint files, in Kafka's formats, written atomically.
//!
//! Offset checkpoints (`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
//! `replication-offset-checkpoint`, one per log directory):
//!
//! ```text
//! 0                       version
//! 2                       number of entries
//! orders 0 1200           topic, partition, offset
//! orders 1 877
//! ```
//!
//! Leader-epoch checkpoint (`leader-epoch-checkpoint`, one per partition directory): the same
//! header, then `epoch start_offset` lines.
//!
//! A write goes to `<name>.<pid>.<n>.tmp`, is fsync'd, renamed over the old file, and the directory is
//! fsync'd, so a crash leaves either the old or the new file, never a mix.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::TopicPartition;
use crate::error::{Result, StorageError, io_err};

const VERSION: &str = "0";

/// Writes `contents` to `path` atomically (temp file, fsync, rename, fsync of the directory).
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    write_renamed(path, contents, true)?;
    // A bare file name's parent is "": the current directory.
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir)?,
        _ => sync_dir(Path::new("."))?,
    }
    Ok(())
}

/// Writes `contents` to a temporary file renamed over `path`, with no fsync: readers never see
/// a half-written file, but a crash may leave the old contents or, on a file system that does
/// not order the data before the rename, a damaged file. For files written under a log's lock
/// whose fsync the next flush job does (as Kafka writes a roll's producer snapshot and a
/// truncated leader-epoch checkpoint); their readers tolerate both outcomes.
pub fn write_unsynced(path: &Path, contents: &[u8]) -> Result<()> {
    write_renamed(path, contents, false)
}

fn write_renamed(path: &Path, contents: &[u8], sync: bool) -> Result<()> {
    // A temporary name of its own per write, so concurrent writers never share one.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("checkpoint");
    let tmp = path.with_file_name(format!("{name}.{}.{n}.tmp", std::process::id()));
    let mut f = File::create(&tmp).map_err(|e| io_err("create", &tmp, e))?;
    f.write_all(contents).map_err(|e| io_err("write", &tmp, e))?;
    if sync {
        f.sync_all().map_err(|e| io_err("fsync", &tmp, e))?;
    }
    drop(f);
    fs::rename(&tmp, path).map_err(|e| io_err("rename into place", path, e))
}

/// fsyncs a directory so that creations, renames and deletions in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err("fsync directory", dir, e))
}

fn read_lines(path: &Path) -> Result<Option<Vec<String>>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read checkpoint", path, e)),
    };
    let corrupt = |reason: String| StorageError::CorruptCheckpoint { path: path.to_path_buf(), reason };
    let mut lines = text.lines();
    match lines.next() {
        Some(VERSION) => {}
        other => return Err(corrupt(format!("unsupported version line {other:?}"))),
    }
    let count: usize =
        lines.next().and_then(|l| l.trim().parse().ok()).ok_or_else(|| corrupt("missing entry count".into()))?;
    let entries: Vec<String> = lines.map(str::to_owned).collect();
    if entries.len() != count {
        return Err(corrupt(format!("header says {count} entries, file has {}", entries.len())));
    }
    Ok(Some(entries))
}

/// Reads an offset checkpoint; a missing file is an empty map.
pub fn read_offsets(path: &Path) -> Result<BTreeMap<TopicPartition, i64>> {
    let corrupt = |reason: String| StorageError::CorruptCheckpoint { path: path.to_path_buf(), reason };
    let mut out = BTreeMap::new();
    for line in read_lines(path)?.unwrap_or_default() {
        let mut parts = line.split(' ');
        let (Some(topic), Some(p), Some(o), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(corrupt(format!("malformed line {line:?}")));
        };
        let partition: i32 = p.parse().map_err(|_| corrupt(format!("bad partition in {line:?}")))?;
        let offset: i64 = o.parse().map_err(|_| corrupt(format!("bad offset in {line:?}")))?;
        out.insert(TopicPartition::new(topic, partition), offset);
    }
    Ok(out)
}

/// Writes an offset checkpoint atomically.
pub fn write_offsets<'a>(path: &Path, entries: impl IntoIterator<Item = (&'a TopicPartition, i64)>) -> Result<()> {
    let lines: Vec<String> = entries.into_iter().map(|(tp, o)| format!("{} {} {o}", tp.topic, tp.partition)).collect();
    let mut text = format!("{VERSION}\n{}\n", lines.len());
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
    write_atomically(path, text.as_bytes())
}

/// Reads `epoch start_offset` pairs; a missing file is `None`.
pub fn read_epochs(path: &Path) -> Result<Option<Vec<(i32, i64)>>> {
    let corrupt = |reason: String| StorageError::CorruptCheckpoint { path: path.to_path_buf(), reason };
    let Some(lines) = read_lines(path)? else { return Ok(None) };
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let parsed = line.split_once(' ').and_then(|(e, o)| Some((e.parse().ok()?, o.parse().ok()?)));
        out.push(parsed.ok_or_else(|| corrupt(format!("malformed line {line:?}")))?);
    }
    Ok(Some(out))
}

/// Writes `epoch start_offset` pairs atomically.
pub fn write_epochs(path: &Path, entries: &[(i32, i64)]) -> Result<()> {
    write_atomically(path, epochs_text(entries).as_bytes())
}

/// [`write_epochs`] with no fsync (see [`write_unsynced`]).
pub fn write_epochs_unsynced(path: &Path, entries: &[(i32, i64)]) -> Result<()> {
    write_unsynced(path, epochs_text(entries).as_bytes())
}

fn epochs_text(entries: &[(i32, i64)]) -> String {
    let mut text = format!("{VERSION}\n{}\n", entries.len());
    for (e, o) in entries {
        text.push_str(&format!("{e} {o}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_in_kafka_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("recovery-point-offset-checkpoint");
        let a = TopicPartition::new("orders", 0);
        let b = TopicPartition::new("my-topic", 3);
        write_offsets(&path, [(&a, 1200), (&b, 7)]).expect("write");
        assert_eq!(fs::read_to_string(&path).expect("read"), "0\n2\norders 0 1200\nmy-topic 3 7\n");
        let read = read_offsets(&path).expect("read");
        assert_eq!(read.get(&a), Some(&1200));
        assert_eq!(read.get(&b), Some(&7));
    }

    #[test]
    fn missing_checkpoint_is_empty_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x");
        assert!(read_offsets(&path).expect("missing is fine").is_empty());
        fs::write(&path, "0\n3\na 0 1\n").expect("write");
        assert!(matches!(read_offsets(&path), Err(StorageError::CorruptCheckpoint { .. })));
        fs::write(&path, "0\n1\na zero 1\n").expect("write");
        assert!(matches!(read_offsets(&path), Err(StorageError::CorruptCheckpoint { .. })));
    }
}
