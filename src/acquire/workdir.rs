//! The private work folders of acquisitions under way. A folder is removed when
//! its [`WorkDir`] is dropped, but an interrupted grade exits without running
//! drops: the Ctrl-C handler calls [`remove_work_folders`], which removes every
//! folder still listed here, so an interrupted clone leaves nothing in the
//! temporary folder.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use tempfile::TempDir;

fn live() -> MutexGuard<'static, HashSet<PathBuf>> {
    static LIVE: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        // A panic elsewhere must not keep the folders from being removed.
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A private folder, listed for the Ctrl-C handler while it exists.
#[derive(Debug)]
pub(crate) struct WorkDir {
    dir: TempDir,
}

/// The memory-backed folder preferred for work folders when `TMPDIR` is not set.
const SHARED_MEMORY: &str = "/dev/shm";
/// `TMPFS_MAGIC` from linux/magic.h: what `statfs` reports for a tmpfs.
const TMPFS_MAGIC: u64 = 0x0102_1994;
/// How many times the caps' worth of room a tmpfs must have free to be used,
/// so that submissions at their caps (a batch grades several at once) cannot
/// fill the machine's memory.
const ROOM_FACTOR: u64 = 4;

impl WorkDir {
    /// A fresh folder for a submission that may write up to `at_most` bytes.
    pub fn new(at_most: u64) -> io::Result<WorkDir> {
        let builder = {
            let mut b = tempfile::Builder::new();
            b.prefix("assay-");
            b
        };
        let dir = match memory_backed(at_most) {
            Some(parent) => builder.tempdir_in(parent).or_else(|_| builder.tempdir())?,
            None => builder.tempdir()?,
        };
        live().insert(dir.path().to_path_buf());
        Ok(WorkDir { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Where a work folder goes when the user has not chosen (`TMPDIR` unset):
/// `/dev/shm` when it is a tmpfs with room to spare. A submission is written
/// out file by file and removed minutes later; on a disk file system that has
/// just deleted many files (a batch, or the grade before) creating each one
/// can cost a millisecond: about a quarter of a static grade's time on the
/// project's CI machines (ext4 without a journal scans past recently freed
/// inodes). A tmpfs creates them in memory.
fn memory_backed(at_most: u64) -> Option<&'static Path> {
    if std::env::var_os("TMPDIR").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let shm = Path::new(SHARED_MEMORY);
    roomy_tmpfs(shm, at_most).then_some(shm)
}

/// Whether `dir` is a tmpfs with `ROOM_FACTOR` times `at_most` bytes free.
fn roomy_tmpfs(dir: &Path, at_most: u64) -> bool {
    let Ok(fs) = rustix::fs::statfs(dir) else {
        return false;
    };
    // The field types differ between targets; statfs's values are never negative.
    let (Ok(kind), Ok(block)) = (u64::try_from(fs.f_type), u64::try_from(fs.f_bsize)) else {
        return false;
    };
    let free = fs.f_bavail.saturating_mul(block);
    kind == TMPFS_MAGIC && free >= at_most.saturating_mul(ROOM_FACTOR)
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        // The TempDir inside removes the folder right after this.
        live().remove(self.dir.path());
    }
}

/// Removes every acquisition folder still alive in this process. For the
/// Ctrl-C handler, which exits right after: a fetch abandoned on another thread
/// may still be writing, so a removal that races with it is tried again.
pub fn remove_work_folders() {
    remove_listed(|_| true);
}

fn remove_listed(wanted: impl Fn(&Path) -> bool) {
    let folders: Vec<PathBuf> = {
        let mut listed = live();
        let chosen: Vec<PathBuf> = listed.iter().filter(|p| wanted(p)).cloned().collect();
        for folder in &chosen {
            listed.remove(folder);
        }
        chosen
    };
    for folder in folders {
        for _ in 0..5 {
            match std::fs::remove_dir_all(&folder) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => continue,
                _ => break,
            }
        }
    }
}

/// On Ctrl-C, removes the acquisition folders and exits with status 130, the
/// status of an interrupted command. For runs that install no other Ctrl-C
/// handler; the sandbox's handler calls [`remove_work_folders`] itself. Call
/// once, from inside a Tokio runtime.
pub fn install_interrupt_cleanup() {
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::warn!("interrupted: removing the acquisition folders");
            remove_work_folders();
            std::process::exit(130);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_tmpfs_with_room_to_spare_holds_work_folders() {
        // The project's own folder is on a disk, never a tmpfs.
        assert!(!roomy_tmpfs(Path::new(env!("CARGO_MANIFEST_DIR")), 1));
        assert!(!roomy_tmpfs(Path::new("/no/such/folder"), 1));
        let shm = Path::new(SHARED_MEMORY);
        let is_tmpfs = rustix::fs::statfs(shm)
            .ok()
            .and_then(|fs| u64::try_from(fs.f_type).ok())
            == Some(TMPFS_MAGIC);
        if is_tmpfs {
            assert!(roomy_tmpfs(shm, 1 << 20));
            // More than any machine has: the caps' worth does not fit.
            assert!(!roomy_tmpfs(shm, u64::MAX / 2));
        }
    }

    #[test]
    fn listed_folders_are_removed_on_request_and_forgotten_on_drop() {
        let kept = WorkDir::new(1 << 20).unwrap();
        let path = kept.path().to_path_buf();
        std::fs::write(path.join("half-made"), b"x").unwrap();
        assert!(live().contains(&path));
        // Only this test's folder: other tests of the process may be acquiring.
        remove_listed(|p| p == path);
        assert!(!path.exists(), "the interrupt cleanup left {path:?}");
        drop(kept);

        let dropped = WorkDir::new(1 << 20).unwrap();
        let path = dropped.path().to_path_buf();
        drop(dropped);
        assert!(!path.exists());
        assert!(!live().contains(&path));
    }
}
