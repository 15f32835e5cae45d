//! Git submissions: a bare clone (or, for a repository on this machine, a
//! private copy of its own objects: see `local`), then every blob read from the
//! object database after its size is known. Nothing is checked out, so no
//! symlink, hook, filter or submodule of the candidate's is ever acted upon.
//!
//! A network clone runs on a worker thread and is abandoned at the
//! acquisition's deadline. libgit2 checks the deadline only when bytes arrive,
//! so a server that accepts the connection and then says nothing would
//! otherwise hold the grader for good; libgit2's own socket timeouts are
//! process-wide settings that the crate exposes only as `unsafe` functions,
//! which this crate forbids.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use git2::{
    CertificateCheckStatus, ErrorCode, FetchOptions, ObjectType, Oid, RemoteCallbacks, Repository,
    Tree,
};

use super::{local, AcquireError, RefusalKind, Sink};
use crate::config::AcquireLimits;
use crate::history::{self, History};

pub(crate) struct Fetched {
    pub commit: String,
    pub history: Option<History>,
}

const MODE_SYMLINK: i32 = 0o120000;
const MODE_SUBMODULE: i32 = 0o160000;
// A regular file, whatever its permission bits (0644, 0755, git's old 0664).
const MODE_TYPE: i32 = 0o170000;
const MODE_REGULAR: i32 = 0o100000;

/// Clones `url` over the network, then writes the wanted commit's tree.
pub(crate) fn fetch(
    url: &str,
    rev: Option<&str>,
    bare_dir: &Path,
    sink: &mut Sink,
    limits: &AcquireLimits,
) -> Result<Fetched, AcquireError> {
    let repo = clone_bare(url, bare_dir, sink.deadline(), limits)?;
    write_commit(&repo, rev, sink, limits)
}

/// Copies the repository at `path` privately (see `local`), then writes the
/// wanted commit's tree.
pub(crate) fn read_local(
    path: &Path,
    rev: Option<&str>,
    bare_dir: &Path,
    sink: &mut Sink,
    limits: &AcquireLimits,
) -> Result<Fetched, AcquireError> {
    let repo = local::private_copy(path, bare_dir, sink, limits)?;
    write_commit(&repo, rev, sink, limits)
}

fn write_commit(
    repo: &Repository,
    rev: Option<&str>,
    sink: &mut Sink,
    limits: &AcquireLimits,
) -> Result<Fetched, AcquireError> {
    let commit = resolve(repo, rev, sink)?;
    let tree = commit.tree().map_err(|e| not_held(e, "its tree", sink))?;

    let mut entries: Vec<(String, Oid, i32)> = Vec::new();
    list_tree(repo, &tree, "", 0, limits.max_path_depth, &mut entries);

    sink.note_listing(
        entries
            .iter()
            .filter(|(_, _, mode)| mode & MODE_TYPE == MODE_REGULAR)
            .map(|(path, _, _)| path.as_str()),
    );
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
                let (size, kind) = match odb.read_header(oid) {
                    Ok(header) => header,
                    Err(e) => {
                        refuse_object(sink, &path, oid, &e);
                        continue;
                    }
                };
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
                let object = match odb.read(oid) {
                    Ok(object) => object,
                    Err(e) => {
                        refuse_object(sink, &path, oid, &e);
                        continue;
                    }
                };
                sink.write(&clean, size as u64, object.data())?;
            }
        }
    }

    // A history that cannot be read to its end (a parent held only elsewhere)
    // costs the history criteria, not the submission's files.
    let history = match history::read(repo, commit.id(), limits.max_commits) {
        Ok(history) => Some(history),
        Err(e) => {
            sink.refuse(
                RefusalKind::MissingObject,
                None,
                format!(
                    "the commit history could not be read ({}); it is not graded",
                    e.message()
                ),
            );
            None
        }
    };
    Ok(Fetched {
        commit: commit.id().to_string(),
        history,
    })
}

/// Every entry under `tree`, parents before children as in a pre-order walk. A
/// subtree the object database does not hold is listed but not entered (its
/// entry is refused when written); past `max_depth` nothing is entered, since
/// every deeper path is refused anyway.
fn list_tree(
    repo: &Repository,
    tree: &Tree,
    prefix: &str,
    depth: usize,
    max_depth: usize,
    out: &mut Vec<(String, Oid, i32)>,
) {
    for entry in tree.iter() {
        let name = entry.name().unwrap_or("<non-utf8 name>");
        let path = format!("{prefix}{name}");
        out.push((path.clone(), entry.id(), entry.filemode()));
        if entry.kind() == Some(ObjectType::Tree) && depth < max_depth {
            if let Ok(sub) = repo.find_tree(entry.id()) {
                list_tree(repo, &sub, &format!("{path}/"), depth + 1, max_depth, out);
            }
        }
    }
}

fn refuse_object(sink: &mut Sink, path: &str, oid: Oid, e: &git2::Error) {
    if e.code() == ErrorCode::NotFound {
        sink.refuse(
            RefusalKind::MissingObject,
            Some(path),
            format!("object {oid} is not in the submission's own repository; not written"),
        );
    } else {
        sink.refuse(
            RefusalKind::CorruptEntry,
            Some(path),
            format!("object {oid} cannot be read ({}); not written", e.message()),
        );
    }
}

/// The error for a tree the repository does not hold, naming the redirect
/// that was not followed when there is one.
fn not_held(e: git2::Error, what: &str, sink: &Sink) -> AcquireError {
    match redirect_note(sink) {
        Some(note) if e.code() == ErrorCode::NotFound => AcquireError::Git(format!(
            "{what} is not in the submission's own repository; {note}"
        )),
        _ => git_err(e),
    }
}

/// The first redirect of the repository that was not followed, in words.
fn redirect_note(sink: &Sink) -> Option<String> {
    sink.refusals
        .iter()
        .find(|r| r.kind == RefusalKind::NotFollowed)
        .map(|r| format!("{}: {}", r.path.as_deref().unwrap_or("?"), r.detail))
}

/// Clones on a worker thread and waits for it until `deadline`. Past it the
/// worker is abandoned: its half-made clone is removed, and its callbacks stop
/// it at the first sign of life from the server.
fn clone_bare(
    url: &str,
    bare_dir: &Path,
    deadline: Instant,
    limits: &AcquireLimits,
) -> Result<Repository, AcquireError> {
    let abandoned = Arc::new(AtomicBool::new(false));
    let (done, outcome) = mpsc::channel();
    let job = CloneJob {
        url: url.to_string(),
        bare_dir: bare_dir.to_path_buf(),
        max_bytes: limits.max_transfer_bytes,
        deadline,
        abandoned: abandoned.clone(),
    };
    std::thread::Builder::new()
        .name("assay-fetch".into())
        .spawn(move || {
            let _ = done.send(job.run());
        })?;
    match outcome.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Ok(())) => Repository::open_bare(bare_dir).map_err(git_err),
        Ok(Err(CloneFailure::TooBig)) => Err(AcquireError::Git(format!(
            "the clone passed {} bytes and was stopped",
            limits.max_transfer_bytes
        ))),
        Ok(Err(CloneFailure::Late)) | Err(mpsc::RecvTimeoutError::Timeout) => {
            abandoned.store(true, Ordering::SeqCst);
            let _ = std::fs::remove_dir_all(bare_dir);
            Err(AcquireError::FetchAbandoned(limits.timeout_secs))
        }
        Ok(Err(CloneFailure::Git(e))) => Err(git_err(e)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(AcquireError::Git(
            "the clone stopped without saying why".into(),
        )),
    }
}

enum CloneFailure {
    TooBig,
    Late,
    Git(git2::Error),
}

struct CloneJob {
    url: String,
    bare_dir: PathBuf,
    max_bytes: u64,
    deadline: Instant,
    abandoned: Arc<AtomicBool>,
}

impl CloneJob {
    fn run(self) -> Result<(), CloneFailure> {
        let too_big = Arc::new(AtomicBool::new(false));
        let late = Arc::new(AtomicBool::new(false));
        // Each callback is a chance to stop: once the waiting side has given up
        // (or the deadline passed), the next one the server triggers ends the clone.
        let stop = {
            let (abandoned, late, deadline) = (self.abandoned.clone(), late.clone(), self.deadline);
            move || {
                if abandoned.load(Ordering::SeqCst) || Instant::now() > deadline {
                    late.store(true, Ordering::SeqCst);
                    true
                } else {
                    false
                }
            }
        };
        let mut callbacks = RemoteCallbacks::new();
        {
            let (stop, too_big, max_bytes) = (stop.clone(), too_big.clone(), self.max_bytes);
            callbacks.transfer_progress(move |progress| {
                if progress.received_bytes() as u64 > max_bytes {
                    too_big.store(true, Ordering::SeqCst);
                    return false;
                }
                !stop()
            });
        }
        {
            let stop = stop.clone();
            callbacks.sideband_progress(move |_| !stop());
        }
        {
            let stop = stop.clone();
            callbacks.certificate_check(move |_, _| {
                if stop() {
                    Err(git2::Error::from_str("the fetch was abandoned"))
                } else {
                    // libgit2 verifies the certificate as it would without a callback.
                    Ok(CertificateCheckStatus::CertificatePassthrough)
                }
            });
        }
        let mut fetch = FetchOptions::new();
        fetch.remote_callbacks(callbacks);
        fetch.download_tags(git2::AutotagOption::None);

        let result = git2::build::RepoBuilder::new()
            .bare(true)
            .fetch_options(fetch)
            .clone(&self.url, &self.bare_dir);
        match result {
            Ok(_) => Ok(()),
            Err(_) if too_big.load(Ordering::SeqCst) => Err(CloneFailure::TooBig),
            Err(_) if late.load(Ordering::SeqCst) => Err(CloneFailure::Late),
            Err(e) => Err(CloneFailure::Git(e)),
        }
    }
}

fn resolve<'r>(
    repo: &'r Repository,
    rev: Option<&str>,
    sink: &Sink,
) -> Result<git2::Commit<'r>, AcquireError> {
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
    // The revision may be held only where a redirect points: say so rather
    // than only that it does not exist.
    match redirect_note(sink) {
        Some(note) => Err(AcquireError::Git(format!(
            "the revision {wanted} is not in the submission's own repository; {note}"
        ))),
        None => Err(AcquireError::NoSuchRevision(wanted.to_string())),
    }
}

pub(crate) fn git_err(e: git2::Error) -> AcquireError {
    AcquireError::Git(e.message().to_string())
}
