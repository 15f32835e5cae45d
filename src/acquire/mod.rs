//! Acquisition: bring a submission into a private temporary folder, treating
//! every byte of it as hostile. Nothing here follows or writes a symlink, and
//! every refusal becomes a finding in the report rather than a crash.
//!
//! Three rules hold for every kind of source:
//! - one deadline (`[acquire] timeout_secs`) bounds the whole acquisition,
//!   including a git server that accepts the connection and never answers;
//! - a local repository is read from its own objects and refs only, never from
//!   wherever its alternates, config includes or url rewrites point;
//! - one unreadable item (an archive entry, a git object) is refused by name and
//!   the rest is still graded.

mod archive;
mod folder;
mod git;
mod local;
mod sink;
mod workdir;

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::AcquireLimits;
use crate::history::History;

pub(crate) use sink::{Sink, Stop};
use workdir::WorkDir;
pub use workdir::{install_interrupt_cleanup, remove_work_folders};

/// What the SOURCE argument names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Folder,
    GitRepository,
    GitUrl,
    ZipArchive,
    TarArchive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    Symlink,
    Submodule,
    SpecialFile,
    FileTooLarge,
    TotalBytesExceeded,
    TooManyFiles,
    PathTooDeep,
    PathTooLong,
    UnsafePath,
    DuplicatePath,
    // An archive entry or a git object that cannot be read intact: that one
    // item is lost, not the submission.
    CorruptEntry,
    // A tree names an object that the submission's own repository does not hold.
    MissingObject,
    // Something in a git repository that would make the grader read from
    // elsewhere on the machine or rewrite what the repository holds (alternates,
    // config includes, url rewriting, grafts, replace refs, a linked worktree).
    NotFollowed,
}

/// Something in the submission that the grader would not write out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Refusal {
    pub kind: RefusalKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub detail: String,
}

/// A submission laid out in a private temporary folder.
#[derive(Debug)]
pub struct Acquired {
    /// Keeps the folder alive; it is removed when this is dropped.
    _dir: WorkDir,
    /// The submission's root inside the folder.
    pub root: PathBuf,
    pub kind: SourceKind,
    pub commit: Option<String>,
    pub files: u64,
    pub bytes: u64,
    pub refusals: Vec<Refusal>,
    /// Refusals past the listed ones, counted only.
    pub refusals_unlisted: u64,
    /// Folders dbt wrote beside a `dbt_project.yml` (its `target` and `logs`),
    /// left out: dbt's output, not the candidate's work.
    pub not_copied: Vec<String>,
    pub history: Option<History>,
}

#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    #[error("no such file or folder: {0}")]
    NotFound(String),
    #[error("cannot tell what kind of submission {0} is (expected a folder, a git repository, an https:// or file:// git URL, or a .zip/.tar.gz/.tgz archive)")]
    Unsupported(String),
    #[error("git: {0}")]
    Git(String),
    #[error("the revision {0} does not exist in the submission")]
    NoSuchRevision(String),
    #[error("archive: {0}")]
    Archive(String),
    #[error("acquisition took longer than {0} s and was stopped")]
    TimedOut(u64),
    #[error("the git server had not sent the submission after {0} s ([acquire] timeout_secs); the fetch was abandoned")]
    FetchAbandoned(u64),
    #[error("cannot read the submission: {0}")]
    Source(String),
    #[error("cannot write the private work folder: {0}")]
    Io(#[from] std::io::Error),
}

/// Decides what SOURCE is without touching the network.
pub fn classify(source: &str) -> Result<SourceKind, AcquireError> {
    let lower = source.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("file://") {
        return Ok(SourceKind::GitUrl);
    }
    if lower.contains("://") {
        return Err(AcquireError::Unsupported(source.to_string()));
    }
    let path = Path::new(source);
    let meta = std::fs::metadata(path).map_err(|_| AcquireError::NotFound(source.to_string()))?;
    if meta.is_dir() {
        if path.join(".git").exists()
            || (path.join("HEAD").is_file() && path.join("objects").is_dir())
        {
            return Ok(SourceKind::GitRepository);
        }
        return Ok(SourceKind::Folder);
    }
    if lower.ends_with(".zip") {
        Ok(SourceKind::ZipArchive)
    } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") || lower.ends_with(".tar") {
        Ok(SourceKind::TarArchive)
    } else {
        Err(AcquireError::Unsupported(source.to_string()))
    }
}

/// The local path a `file://` URL names (`file:///p` or `file://localhost/p`,
/// percent-escapes decoded), or `None` for any other URL.
fn file_url_path(source: &str) -> Option<PathBuf> {
    let rest = source
        .get(..7)?
        .eq_ignore_ascii_case("file://")
        .then(|| &source[7..])?;
    let rest = match rest.get(..9) {
        Some(host) if host.eq_ignore_ascii_case("localhost") => &rest[9..],
        _ => rest,
    };
    if !rest.starts_with('/') {
        // file://otherhost/... : not a path on this machine.
        return None;
    }
    let bytes = rest.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| rest.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(decoded)))
}

/// A short, filesystem-safe name for the submission, used for its report folder.
pub fn submission_name(source: &str) -> String {
    let trimmed = source.trim_end_matches(['/', '\\']);
    let last = trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed);
    let mut stem = last.to_string();
    for suffix in [".tar.gz", ".tgz", ".tar", ".zip", ".git"] {
        if stem.to_ascii_lowercase().ends_with(suffix) {
            stem.truncate(stem.len() - suffix.len());
            break;
        }
    }
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let safe = safe.trim_matches('.').to_string();
    if safe.is_empty() {
        "submission".to_string()
    } else {
        safe
    }
}

/// Brings SOURCE into a fresh private folder under the caps of `limits`.
pub fn acquire(
    source: &str,
    rev: Option<&str>,
    limits: &AcquireLimits,
) -> Result<Acquired, AcquireError> {
    let kind = classify(source)?;
    // The submission's files, and for git the clone they are read from.
    let at_most = limits.max_total_bytes.saturating_add(match kind {
        SourceKind::GitRepository | SourceKind::GitUrl => limits.max_transfer_bytes,
        _ => 0,
    });
    let dir = WorkDir::new(at_most)?;
    let tree = dir.path().join("submission");
    std::fs::create_dir(&tree)?;
    let mut sink = Sink::new(tree.clone(), limits);
    let bare_dir = dir.path().join("repo.git");
    let (commit, history) = match kind {
        SourceKind::Folder => {
            folder::copy(Path::new(source), &mut sink)?;
            (None, None)
        }
        SourceKind::GitRepository => {
            let out = git::read_local(Path::new(source), rev, &bare_dir, &mut sink, limits)?;
            (Some(out.commit), out.history)
        }
        SourceKind::GitUrl => {
            // A file:// URL names a repository on this machine: it is read like
            // a local path, from its own objects only.
            let out = match file_url_path(source) {
                Some(path) => git::read_local(&path, rev, &bare_dir, &mut sink, limits)?,
                None if source.to_ascii_lowercase().starts_with("file://") => {
                    return Err(AcquireError::Unsupported(source.to_string()));
                }
                None => git::fetch(source, rev, &bare_dir, &mut sink, limits)?,
            };
            (Some(out.commit), out.history)
        }
        SourceKind::ZipArchive => {
            archive::unzip(Path::new(source), &mut sink)?;
            (None, None)
        }
        SourceKind::TarArchive => {
            archive::untar(Path::new(source), &mut sink)?;
            (None, None)
        }
    };
    let (files, bytes, refusals, refusals_unlisted) = (
        sink.files,
        sink.bytes,
        sink.refusals,
        sink.refusals_unlisted,
    );
    let not_copied = sink.not_copied.into_iter().collect();
    // Exported archives usually wrap the project in one top folder; grade inside it.
    let root = single_top_folder(&tree).unwrap_or(tree);
    Ok(Acquired {
        _dir: dir,
        root,
        kind,
        commit,
        files,
        bytes,
        refusals,
        refusals_unlisted,
        not_copied,
        history,
    })
}

fn single_top_folder(tree: &Path) -> Option<PathBuf> {
    let mut entries = std::fs::read_dir(tree).ok()?;
    let first = entries.next()?.ok()?;
    if entries.next().is_some() {
        return None;
    }
    let meta = std::fs::symlink_metadata(first.path()).ok()?;
    meta.is_dir().then(|| first.path())
}

impl From<Stop> for AcquireError {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::TimedOut(secs) => AcquireError::TimedOut(secs),
            Stop::Io(e) => AcquireError::Io(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_for_folders() {
        assert_eq!(
            submission_name("https://example.org/team/cand-01.git"),
            "cand-01"
        );
        assert_eq!(submission_name("/tmp/x/alice smith.tar.gz"), "alice_smith");
        assert_eq!(submission_name("../../"), "submission");
        assert_eq!(submission_name("a/..zip"), "submission");
    }

    #[test]
    fn file_urls_name_local_paths() {
        assert_eq!(
            file_url_path("file:///srv/cand%20one/repo"),
            Some(PathBuf::from("/srv/cand one/repo"))
        );
        assert_eq!(
            file_url_path("FILE://localhost/srv/x"),
            Some(PathBuf::from("/srv/x"))
        );
        assert_eq!(file_url_path("file://otherhost/srv/x"), None);
        assert_eq!(file_url_path("https://host/x.git"), None);
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(matches!(
            classify("ssh://host/repo"),
            Err(AcquireError::Unsupported(_))
        ));
        assert!(matches!(
            classify("https://host/repo.git"),
            Ok(SourceKind::GitUrl)
        ));
        assert!(matches!(
            classify("/no/such/path/anywhere"),
            Err(AcquireError::NotFound(_))
        ));
    }
}
