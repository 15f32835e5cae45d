//! Git submissions: a bare clone, then every blob read from the object database
//! after its size is known. Nothing is checked out, so no symlink, hook, filter or
//! submodule of the candidate's is ever acted upon.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use git2::{
    FetchOptions, ObjectType, Oid, RemoteCallbacks, Repository, TreeWalkMode, TreeWalkResult,
};

use super::{AcquireError, RefusalKind, Sink};
use crate::config::AcquireLimits;
use crate::history::{self, History};

pub(crate) struct Fetched {
    pub commit: String,
    pub history: History,
}

const MODE_SYMLINK: i32 = 0o120000;
const MODE_SUBMODULE: i32 = 0o160000;

pub(crate) fn fetch(
    url: &str,
    rev: Option<&str>,
    bare_dir: &Path,
    sink: &mut Sink,
    limits: &AcquireLimits,
) -> Result<Fetched, AcquireError> {
    let repo = clone_bare(url, bare_dir, limits)?;
    let commit = resolve(&repo, rev)?;
    let tree = commit.tree().map_err(git_err)?;

    let mut entries: Vec<(String, Oid, i32)> = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        let name = entry.name().unwrap_or("<non-utf8 name>");
        entries.push((format!("{dir}{name}"), entry.id(), entry.filemode()));
        TreeWalkResult::Ok
    })
    .map_err(git_err)?;

    let odb = repo.odb().map_err(git_err)?;
    for (path, oid, mode) in entries {
        sink.check_deadline()?;
        match mode {
            MODE_SYMLINK => {
                let target = odb
                    .read(oid)
                    .ok()
                    .map(|o| {
                        String::from_utf8_lossy(&o.data()[..o.data().len().min(256)]).to_string()
                    })
                    .unwrap_or_default();
                sink.refuse(
                    RefusalKind::Symlink,
                    Some(&path),
                    format!("symbolic link to {target}; not written"),
                );
            }
            MODE_SUBMODULE => {
                sink.refuse(
                    RefusalKind::Submodule,
                    Some(&path),
                    "git submodule; not fetched",
                );
            }
            _ => {
                let (size, kind) = odb.read_header(oid).map_err(git_err)?;
                if kind == ObjectType::Tree {
                    if let Some(clean) = sink.admit_path(&path) {
                        sink.make_dir(&clean);
                    }
                    continue;
                }
                if kind != ObjectType::Blob {
                    continue;
                }
                let Some(clean) = sink.admit_path(&path) else {
                    continue;
                };
                // The header tells the size before any byte is inflated: a compression
                // bomb is refused without being expanded.
                if !sink.admit_size(&clean, size as u64) {
                    continue;
                }
                let object = odb.read(oid).map_err(git_err)?;
                sink.write(&clean, size as u64, object.data())?;
            }
        }
    }

    let history = history::read(&repo, commit.id(), limits.max_commits).map_err(git_err)?;
    Ok(Fetched {
        commit: commit.id().to_string(),
        history,
    })
}

fn clone_bare(
    url: &str,
    bare_dir: &Path,
    limits: &AcquireLimits,
) -> Result<Repository, AcquireError> {
    let started = Instant::now();
    let timeout = limits.timeout();
    let max_bytes = limits.max_transfer_bytes;
    let cancelled = Arc::new(AtomicBool::new(false));
    let too_big = Arc::new(AtomicBool::new(false));

    let mut callbacks = RemoteCallbacks::new();
    {
        let cancelled = cancelled.clone();
        let too_big = too_big.clone();
        callbacks.transfer_progress(move |progress| {
            if progress.received_bytes() as u64 > max_bytes {
                too_big.store(true, Ordering::SeqCst);
                return false;
            }
            if started.elapsed() > timeout {
                cancelled.store(true, Ordering::SeqCst);
                return false;
            }
            true
        });
    }
    let mut fetch = FetchOptions::new();
    fetch.remote_callbacks(callbacks);
    fetch.download_tags(git2::AutotagOption::None);

    let result = git2::build::RepoBuilder::new()
        .bare(true)
        .fetch_options(fetch)
        .clone(url, bare_dir);
    match result {
        Ok(repo) => Ok(repo),
        Err(_) if cancelled.load(Ordering::SeqCst) => {
            Err(AcquireError::TimedOut(limits.timeout_secs))
        }
        Err(_) if too_big.load(Ordering::SeqCst) => Err(AcquireError::Git(format!(
            "the clone passed {} bytes and was stopped",
            limits.max_transfer_bytes
        ))),
        Err(e) => Err(git_err(e)),
    }
}

fn resolve<'r>(repo: &'r Repository, rev: Option<&str>) -> Result<git2::Commit<'r>, AcquireError> {
    let wanted = rev.unwrap_or("HEAD");
    let candidates = [
        wanted.to_string(),
        format!("origin/{wanted}"),
        format!("refs/remotes/origin/{wanted}"),
    ];
    for candidate in &candidates {
        if let Ok(object) = repo.revparse_single(candidate) {
            if let Ok(commit) = object.peel_to_commit() {
                return Ok(commit);
            }
        }
    }
    Err(AcquireError::NoSuchRevision(wanted.to_string()))
}

fn git_err(e: git2::Error) -> AcquireError {
    AcquireError::Git(e.message().to_string())
}
