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

/// A private folder under the temporary directory (`TMPDIR`), listed for the
/// Ctrl-C handler while it exists.
#[derive(Debug)]
pub(crate) struct WorkDir {
    dir: TempDir,
}

impl WorkDir {
    pub fn new() -> io::Result<WorkDir> {
        let dir = tempfile::Builder::new().prefix("assay-").tempdir()?;
        live().insert(dir.path().to_path_buf());
        Ok(WorkDir { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
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
    fn listed_folders_are_removed_on_request_and_forgotten_on_drop() {
        let kept = WorkDir::new().unwrap();
        let path = kept.path().to_path_buf();
        std::fs::write(path.join("half-made"), b"x").unwrap();
        assert!(live().contains(&path));
        // Only this test's folder: other tests of the process may be acquiring.
        remove_listed(|p| p == path);
        assert!(!path.exists(), "the interrupt cleanup left {path:?}");
        drop(kept);

        let dropped = WorkDir::new().unwrap();
        let path = dropped.path().to_path_buf();
        drop(dropped);
        assert!(!path.exists());
        assert!(!live().contains(&path));
    }
}
