//! `DirLock`: one process at a time per data directory (a log directory, keeper's data
//! directory), as Kafka's `.lock` file in every log dir.
//!
//! The lock is an advisory `flock` on `<dir>/.lock`, taken before anything else in the directory
//! is opened for writing, and held for as long as the `DirLock` lives (the kernel drops it when
//! the process dies, so a crash never leaves a stale lock behind). The file holds the holder's
//! pid, written only once the lock is ours: a second process that finds the directory locked
//! reads the pid for its error message and leaves every byte of the directory as it was.
//!
//! Two `DirLock`s on one directory conflict even within one process (`flock` locks belong to an
//! open file description), so a process acquires each directory once and hands the lock to
//! whatever uses the directory (`LogManager::open_locked`, `LogManager::scan_locked`).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError, io_err};

/// The lock file's name in each locked directory (Kafka's).
pub const LOCK_FILE: &str = ".lock";

/// The longest pid text read back from a lock file: a pid is at most 10 digits.
const PID_TEXT_MAX_BYTES: u64 = 32;

/// A held lock on a data directory; released when dropped.
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    _file: File,
}

impl DirLock {
    /// Creates `dir` if it is missing and locks it, or fails with [`StorageError::DirLocked`]
    /// naming the holder's pid without writing anything.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        fs::create_dir_all(dir).map_err(|e| io_err("create data directory", dir, e))?;
        let path = dir.join(LOCK_FILE);
        // Neither `truncate` nor `append`: opening must not change the file while someone else
        // may hold it.
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_err("open lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StorageError::DirLocked { dir: dir.to_path_buf(), holder_pid: read_pid(&mut file) });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err("lock", &path, e)),
        }
        // Ours now: record who holds it, for the next process's message.
        file.set_len(0).map_err(|e| io_err("truncate lock file", &path, e))?;
        file.rewind().map_err(|e| io_err("rewind lock file", &path, e))?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(|e| io_err("write lock file", &path, e))?;
        Ok(DirLock { dir: dir.to_path_buf(), _file: file })
    }

    /// The directory this lock holds.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The pid a lock file names, if it names one.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.take(PID_TEXT_MAX_BYTES).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DirLock::acquire(dir.path()).expect("first lock");
        let before = fs::read(dir.path().join(LOCK_FILE)).expect("lock file");
        assert_eq!(before, format!("{}\n", std::process::id()).into_bytes());
        match DirLock::acquire(dir.path()) {
            Err(StorageError::DirLocked { dir: d, holder_pid }) => {
                assert_eq!(d, dir.path());
                assert_eq!(holder_pid, Some(std::process::id()));
            }
            other => panic!("expected DirLocked, got {other:?}"),
        }
        assert_eq!(fs::read(dir.path().join(LOCK_FILE)).expect("lock file"), before);
        drop(first);
        DirLock::acquire(dir.path()).expect("free again once the holder is gone");
    }

    #[test]
    fn a_missing_directory_is_created_and_locked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nested = dir.path().join("a").join("b");
        let lock = DirLock::acquire(&nested).expect("lock");
        assert_eq!(lock.dir(), nested);
        assert!(nested.join(LOCK_FILE).is_file());
    }
}
