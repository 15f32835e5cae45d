//! The only place that writes a submission's files to disk. Every write passes the
//! path, size and count caps here, so the git, archive and folder readers cannot
//! forget one.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use super::{Refusal, RefusalKind};
use crate::config::AcquireLimits;

/// Individual refusals kept in the report; past this only the counts grow.
const MAX_LISTED_REFUSALS: usize = 50;

/// The folders dbt writes beside a project's `dbt_project.yml` when it runs:
/// `target-path` and `log-path` at their defaults. Naming others in
/// `dbt_project.yml` has been deprecated since dbt 1.5 (a flag or an
/// environment variable moves them now), so a submission's copies sit here;
/// a project that still renames them keeps those folders in the copy. They
/// hold dbt's output (a manifest, compiled SQL, partial-parse state, logs),
/// never the candidate's work: no stage reads them, the sandbox builds into
/// its own, and copying them would spend the submission's byte cap and the
/// grader's time.
const DBT_WRITES: &[&str] = &["target", "logs"];

pub(crate) struct Sink<'a> {
    root: PathBuf,
    limits: &'a AcquireLimits,
    deadline: Instant,
    pub files: u64,
    pub bytes: u64,
    pub refusals: Vec<Refusal>,
    pub refusals_unlisted: u64,
    /// Folders dbt wrote that were met and left out, as submission paths.
    pub not_copied: BTreeSet<String>,
    /// Where dbt would write, under every `dbt_project.yml` the source holds.
    dbt_writes: BTreeSet<PathBuf>,
    full: bool,
}

/// Why writing stopped altogether.
#[derive(Debug)]
pub(crate) enum Stop {
    TimedOut(u64),
    Io(io::Error),
}

impl<'a> Sink<'a> {
    pub fn new(root: PathBuf, limits: &'a AcquireLimits) -> Sink<'a> {
        Sink {
            root,
            deadline: Instant::now() + limits.timeout(),
            limits,
            files: 0,
            bytes: 0,
            refusals: Vec::new(),
            refusals_unlisted: 0,
            not_copied: BTreeSet::new(),
            dbt_writes: BTreeSet::new(),
            full: false,
        }
    }

    pub fn refuse(&mut self, kind: RefusalKind, path: Option<&str>, detail: impl Into<String>) {
        if self.refusals.len() < MAX_LISTED_REFUSALS {
            self.refusals.push(Refusal {
                kind,
                path: path.map(str::to_string),
                detail: detail.into(),
            });
        } else {
            self.refusals_unlisted += 1;
        }
    }

    /// When the whole acquisition must be over: one limit for the clone, the
    /// copy and the writing alike.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn check_deadline(&self) -> Result<(), Stop> {
        if Instant::now() > self.deadline {
            Err(Stop::TimedOut(self.limits.timeout_secs))
        } else {
            Ok(())
        }
    }

    /// Tells the sink every path the source holds, before anything is written,
    /// so that the folders dbt writes beside each `dbt_project.yml` are known
    /// whatever order the entries come in. Sources that walk folder by folder
    /// call `note_dbt_project` instead.
    pub fn note_listing<'p>(&mut self, paths: impl IntoIterator<Item = &'p str>) {
        for raw in paths {
            let Some(path) = plain(raw) else { continue };
            if path.file_name().is_some_and(|n| n == "dbt_project.yml") {
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                self.note_dbt_project(&dir);
            }
        }
    }

    /// `dir` (relative to the submission) holds a `dbt_project.yml`.
    pub fn note_dbt_project(&mut self, dir: &Path) {
        for name in DBT_WRITES {
            self.dbt_writes.insert(dir.join(name));
        }
    }

    /// Turns a path from the submission into a safe relative path, or refuses it.
    /// Version-control folders are skipped silently: they are not the candidate's
    /// work and may hold hostile configuration. So are the folders dbt writes
    /// beside a project (see `DBT_WRITES`), which are named in the summary.
    pub fn admit_path(&mut self, raw: &str) -> Option<PathBuf> {
        let display = raw.replace('\\', "/");
        if raw.len() > self.limits.max_path_bytes {
            self.refuse(
                RefusalKind::PathTooLong,
                Some(&display),
                format!("path longer than {} bytes", self.limits.max_path_bytes),
            );
            return None;
        }
        if raw.contains('\0') || raw.contains('\\') {
            self.refuse(
                RefusalKind::UnsafePath,
                Some(&display),
                "path holds a NUL or a backslash",
            );
            return None;
        }
        let mut clean = PathBuf::new();
        let mut depth = 0usize;
        for component in Path::new(raw).components() {
            match component {
                Component::Normal(part) => {
                    if part == ".git" {
                        return None;
                    }
                    clean.push(part);
                    depth += 1;
                }
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    self.refuse(
                        RefusalKind::UnsafePath,
                        Some(&display),
                        "path leaves the submission's folder",
                    );
                    return None;
                }
            }
        }
        if depth == 0 {
            return None;
        }
        if let Some(written) = self.dbt_writes.iter().find(|dir| clean.starts_with(dir)) {
            self.not_copied
                .insert(written.to_string_lossy().into_owned());
            return None;
        }
        if depth > self.limits.max_path_depth {
            self.refuse(
                RefusalKind::PathTooDeep,
                Some(&display),
                format!("deeper than {} folders", self.limits.max_path_depth),
            );
            return None;
        }
        Some(clean)
    }

    /// Whether a file of `size` bytes may still be written. Refuses and explains
    /// when it may not.
    pub fn admit_size(&mut self, rel: &Path, size: u64) -> bool {
        let shown = rel.to_string_lossy().to_string();
        if self.full {
            self.refusals_unlisted += 1;
            return false;
        }
        if self.files >= self.limits.max_files {
            self.full = true;
            self.refuse(
                RefusalKind::TooManyFiles,
                Some(&shown),
                format!(
                    "more than {} files; the rest were not written",
                    self.limits.max_files
                ),
            );
            return false;
        }
        if size > self.limits.max_file_bytes {
            self.refuse(
                RefusalKind::FileTooLarge,
                Some(&shown),
                format!(
                    "{size} bytes, over the {}-byte cap per file",
                    self.limits.max_file_bytes
                ),
            );
            return false;
        }
        if self.bytes + size > self.limits.max_total_bytes {
            self.full = true;
            self.refuse(
                RefusalKind::TotalBytesExceeded,
                Some(&shown),
                format!(
                    "the submission passed {} bytes; the rest were not written",
                    self.limits.max_total_bytes
                ),
            );
            return false;
        }
        true
    }

    /// Writes one file, reading at most the per-file cap: a declared size can lie.
    pub fn write(&mut self, rel: &Path, declared: u64, mut content: impl Read) -> Result<(), Stop> {
        self.check_deadline()?;
        if !self.admit_size(rel, declared) {
            return Ok(());
        }
        let shown = rel.to_string_lossy().to_string();
        let target = self.root.join(rel);
        if let Some(parent) = target.parent() {
            if let Err(e) = fs::create_dir_all(parent) {
                self.refuse(
                    RefusalKind::UnsafePath,
                    Some(&shown),
                    format!("cannot create its folder: {e}"),
                );
                return Ok(());
            }
        }
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.refuse(
                    RefusalKind::DuplicatePath,
                    Some(&shown),
                    "the same path appears twice",
                );
                return Ok(());
            }
            Err(e) => {
                self.refuse(
                    RefusalKind::UnsafePath,
                    Some(&shown),
                    format!("cannot be written: {e}"),
                );
                return Ok(());
            }
        };
        let cap = self
            .limits
            .max_file_bytes
            .min(self.limits.max_total_bytes - self.bytes);
        let mut limited = (&mut content).take(cap + 1);
        let mut buf = Vec::new();
        // A read error is the entry's fault (a corrupt archive member, a CRC that
        // does not match): that entry is refused and the rest is still written.
        // Only a failure to write our own folder stops the acquisition.
        if let Err(e) = limited.read_to_end(&mut buf) {
            drop(file);
            let _ = fs::remove_file(&target);
            self.refuse(
                RefusalKind::CorruptEntry,
                Some(&shown),
                format!("unreadable ({e}); not written"),
            );
            return Ok(());
        }
        if buf.len() as u64 > cap {
            drop(file);
            let _ = fs::remove_file(&target);
            self.refuse(
                RefusalKind::FileTooLarge,
                Some(&shown),
                format!("declared {declared} bytes but held more than {cap}"),
            );
            return Ok(());
        }
        if buf.len() as u64 != declared {
            // A truncated archive member, or a size field that lies: the bytes
            // cannot be trusted to be the file the candidate made.
            drop(file);
            let _ = fs::remove_file(&target);
            self.refuse(
                RefusalKind::CorruptEntry,
                Some(&shown),
                format!(
                    "declared {declared} bytes but held {}; not written",
                    buf.len()
                ),
            );
            return Ok(());
        }
        file.write_all(&buf).map_err(Stop::Io)?;
        self.files += 1;
        self.bytes += buf.len() as u64;
        Ok(())
    }

    pub fn make_dir(&mut self, rel: &Path) {
        let _ = fs::create_dir_all(self.root.join(rel));
    }
}

/// A listed path as plain components, or `None` when it is one that
/// `Sink::admit_path` refuses anyway.
fn plain(raw: &str) -> Option<PathBuf> {
    if raw.contains('\0') || raw.contains('\\') {
        return None;
    }
    let mut clean = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(clean)
}
