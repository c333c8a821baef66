//! Whether keeper's data directory has room for more of the Raft log: the flag the proposer
//! reads before it hands writes to Raft, set by a write that ran out of space and by a free-space
//! check, cleared by a probe once space returns.
//!
//! Why a flag in front of Raft rather than errors from the log: openraft 0.9 treats any error
//! of its log storage as fatal ("quit RaftCore::main on error"), after which the node neither
//! writes nor takes part in elections until restarted. So the storage never hands openraft an
//! out-of-space error: a write that already reached the storage waits and retries with
//! back-off (see `raft::retrying_on_full_disk`), and new client writes are refused before they
//! get that far while the flag is set. ZooKeeper itself stops on a full disk; the keeper keeps
//! serving reads instead, and takes writes again by itself once space is freed (no restart).
//!
//! Sans-I/O core: [`next_full`] decides from what was measured; [`DiskSpace::check`] measures
//! (`statvfs`, a small probe write) and applies it. Concurrency: one atomic flag, read on every
//! proposal batch, written by the log's writers and the checks.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Free bytes below which the keeper refuses new writes. It keeps room for what must still be
/// written after the refusal starts: batches already on their way to the log, openraft's own
/// entries (a new leader's blank entry, votes) and a snapshot of a small tree. Kafka's brokers
/// often share the disk and may eat into it, which is why the margin is several megabytes and not
/// a few kilobytes.
pub const DISK_HEADROOM_BYTES: u64 = 8 * 1024 * 1024;

/// Bytes the recovery probe writes (and syncs, then deletes) before the flag is cleared: a
/// write of this size succeeding shows the filesystem takes data again (a quota or a file size
/// limit may refuse writes while `statvfs` shows space).
pub const DISK_PROBE_BYTES: usize = 64 * 1024;

/// How often a full disk is checked for space again (and the free space of a disk that is not
/// full is measured, so that the refusal usually starts before any write fails).
pub const DISK_CHECK_INTERVAL_MS: u64 = 500;

/// The probe file's name in the data directory.
const PROBE_FILE: &str = "space-probe.tmp";

/// Whether an I/O error means the disk (or this process's share of it) is full: ENOSPC, EDQUOT,
/// or EFBIG (a file size limit, `RLIMIT_FSIZE`, as the storage crate's tests simulate it).
pub fn is_out_of_space(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge)
        || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG))
}

/// What a check decides: full or not, given whether the disk was full, the free bytes measured
/// (`None` when they could not be measured) and whether a probe write succeeds (asked only when
/// it matters).
pub fn next_full(was_full: bool, available_bytes: Option<u64>, probe_succeeds: impl FnOnce() -> bool) -> bool {
    let low = available_bytes.is_some_and(|a| a < DISK_HEADROOM_BYTES);
    if low {
        return true;
    }
    // Not low (or unknown): a disk that was full is full until a real write shows otherwise.
    was_full && !probe_succeeds()
}

/// The data directory's space state.
#[derive(Debug)]
pub struct DiskSpace {
    dir: PathBuf,
    full: AtomicBool,
    /// Set at shutdown: writes waiting for space give up, so that stopping never waits for it.
    stopping: AtomicBool,
}

impl DiskSpace {
    pub fn new(dir: impl Into<PathBuf>) -> DiskSpace {
        DiskSpace { dir: dir.into(), full: AtomicBool::new(false), stopping: AtomicBool::new(false) }
    }

    /// Whether new writes are refused.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Acquire)
    }

    /// Whether writes are refused now: the flag, or (measured now, a single `statvfs`) free space
    /// below [`DISK_HEADROOM_BYTES`], which sets it. The proposer asks before each batch, so that
    /// writes stop before one fails rather than up to a check interval later.
    pub fn refuses_writes(&self) -> bool {
        if self.is_full() {
            return true;
        }
        if available_bytes(&self.dir).is_ok_and(|a| a < DISK_HEADROOM_BYTES) {
            if !self.full.swap(true, Ordering::AcqRel) {
                tracing::error!(dir = %self.dir.display(), headroom_bytes = DISK_HEADROOM_BYTES, "keeper's disk is nearly full: refusing writes until space is freed");
            }
            return true;
        }
        false
    }

    /// Tells writes waiting for space to give up (the keeper is stopping).
    pub fn stop_retrying(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Notes a failed write: returns whether it failed for lack of space (and the flag is set).
    pub fn note_error(&self, e: &io::Error) -> bool {
        let out_of_space = is_out_of_space(e);
        if out_of_space && !self.full.swap(true, Ordering::AcqRel) {
            tracing::error!(dir = %self.dir.display(), error = %e, "keeper's disk is full: refusing writes until space is freed");
        }
        out_of_space
    }

    /// Measures and updates the flag (blocking file-system calls: run it off the async workers);
    /// returns whether the disk is full now.
    pub fn check(&self) -> bool {
        let was_full = self.is_full();
        let full = next_full(was_full, available_bytes(&self.dir).ok(), || probe(&self.dir).is_ok());
        if full != was_full {
            self.full.store(full, Ordering::Release);
            if full {
                tracing::error!(dir = %self.dir.display(), headroom_bytes = DISK_HEADROOM_BYTES, "keeper's disk is nearly full: refusing writes until space is freed");
            } else {
                tracing::warn!(dir = %self.dir.display(), "keeper's disk has space again: taking writes");
            }
        }
        full
    }

    #[cfg(test)]
    pub fn set_full(&self, full: bool) {
        self.full.store(full, Ordering::Release);
    }
}

/// Free bytes for unprivileged writers on the file system holding `dir`.
fn available_bytes(dir: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `path` is a NUL-terminated string and `st` points to a statvfs the call fills.
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    // The field types differ between platforms (u64 on 64-bit Linux, narrower elsewhere).
    #[allow(clippy::unnecessary_cast)]
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Writes, syncs and deletes a small file in `dir`.
fn probe(dir: &Path) -> io::Result<()> {
    use std::io::Write;
    let path = dir.join(PROBE_FILE);
    let result = (|| {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&[0u8; DISK_PROBE_BYTES])?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_space_errors_are_recognised_and_others_are_not() {
        assert!(is_out_of_space(&io::Error::from_raw_os_error(libc::ENOSPC)));
        assert!(is_out_of_space(&io::Error::from_raw_os_error(libc::EFBIG)));
        assert!(is_out_of_space(&io::Error::from_raw_os_error(libc::EDQUOT)));
        assert!(!is_out_of_space(&io::Error::from_raw_os_error(libc::EIO)));
        assert!(!is_out_of_space(&io::Error::other("something else")));
    }

    #[test]
    fn low_free_space_makes_the_disk_full_without_a_probe() {
        let full = next_full(false, Some(DISK_HEADROOM_BYTES - 1), || panic!("no probe needed"));
        assert!(full);
        assert!(next_full(true, Some(0), || panic!("no probe needed")));
    }

    #[test]
    fn a_full_disk_clears_only_when_space_shows_and_the_probe_succeeds() {
        assert!(next_full(true, Some(DISK_HEADROOM_BYTES), || false), "the probe failed");
        assert!(!next_full(true, Some(DISK_HEADROOM_BYTES), || true));
        assert!(!next_full(true, None, || true), "statvfs unavailable: the probe decides");
        assert!(next_full(true, None, || false));
    }

    #[test]
    fn a_disk_with_space_stays_writable_without_probing() {
        assert!(!next_full(false, Some(u64::MAX), || panic!("no probe needed")));
        assert!(!next_full(false, None, || panic!("no probe needed")));
    }

    #[test]
    fn an_out_of_space_write_sets_the_flag_and_a_check_with_space_clears_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = DiskSpace::new(dir.path());
        assert!(!disk.note_error(&io::Error::from_raw_os_error(libc::EIO)));
        assert!(!disk.is_full());
        assert!(disk.note_error(&io::Error::from_raw_os_error(libc::ENOSPC)));
        assert!(disk.is_full());
        // The temporary directory has room (the test machine is not full), so the probe clears it.
        assert!(!disk.check());
        assert!(!disk.is_full());
        assert!(!dir.path().join(PROBE_FILE).exists(), "the probe file is removed");
    }
}
