//! The report's folder: its default name, whose report a folder already holds,
//! and what a new grade may put there.
//!
//! A default name is the source's basename plus a short hash of the source's
//! identity (its canonical absolute path, or its URL without credentials) and
//! the requested ref: two `submission/` folders or two `export.zip` files from
//! different places, or two refs of one repository, get different folders,
//! while grading the same source again updates its own report.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Written beside report.json: the source and ref the folder's report is of.
pub const SOURCE_FILE: &str = "source.json";
/// A failed grade's report, written beside a graded report it must not replace.
pub const ERROR_FILE: &str = "report.error.json";
const REPORT_FILE: &str = "report.json";
/// Hex digits of the identity hash in a default name.
const HASH_CHARS: usize = 8;

/// What was graded: the same identity means the same submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The canonical absolute path of a local source, or a URL without credentials.
    pub source: String,
    #[serde(rename = "ref", default)]
    pub rev: Option<String>,
}

impl Identity {
    pub fn of(source: &str, rev: Option<&str>) -> Identity {
        let source = if source.contains("://") {
            crate::report::redact_source(source)
                .trim_end_matches('/')
                .to_string()
        } else {
            let path = Path::new(source);
            std::fs::canonicalize(path)
                .or_else(|_| std::path::absolute(path))
                .unwrap_or_else(|_| path.to_path_buf())
                .to_string_lossy()
                .into_owned()
        };
        Identity {
            source,
            rev: rev.map(str::to_string),
        }
    }

    /// The folder name used when none is given: `<basename>-<hash>`.
    pub fn default_name(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.source.as_bytes());
        if let Some(rev) = &self.rev {
            hasher.update(b"\0");
            hasher.update(rev.as_bytes());
        }
        let hash = hex::encode(hasher.finalize());
        format!(
            "{}-{}",
            crate::acquire::submission_name(&self.source),
            &hash[..HASH_CHARS]
        )
    }
}

/// Why a name cannot be a report folder's.
pub fn check_name(name: &str) -> Result<(), String> {
    let fine = !name.is_empty()
        && name.len() <= 80
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if fine {
        Ok(())
    } else {
        Err("a name is 1-80 letters, digits, `-`, `_` or `.`, not starting with `.`".into())
    }
}

/// What a grade may do to a report already in its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Replace a report of the same source; refuse to grade over a graded report
    /// of another source; write a failed grade beside a graded report, never
    /// over it. The default of `assay grade`.
    SameSource,
    /// As [`Overwrite::SameSource`], but a graded report of another source is
    /// replaced too (`--force`). A failed grade still never replaces one.
    AnySource,
    /// The caller owns the folder (a batch's manifest id, a calibration
    /// solution): every outcome replaces what is there.
    Always,
}

/// A folder that holds the graded report of another submission.
#[derive(Debug, thiserror::Error)]
#[error("{} already holds the graded report of {}; pass --force to replace it, or give another --name", dir.display(), describe(held))]
pub struct Occupied {
    pub dir: PathBuf,
    pub held: Identity,
}

fn describe(id: &Identity) -> String {
    match &id.rev {
        Some(rev) => format!("{} (ref {rev})", id.source),
        None => id.source.clone(),
    }
}

/// Where a finished grade's report goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// report.json and the other formats, replacing what is there.
    Report,
    /// [`ERROR_FILE`] only: the folder's graded report stays as it is.
    BesideGraded,
}

/// Refuses, before any work, a grade that would replace another submission's
/// graded report.
pub fn check_free(dir: &Path, id: &Identity, policy: Overwrite) -> Result<(), Occupied> {
    if policy != Overwrite::SameSource {
        return Ok(());
    }
    match graded_identity(dir) {
        Some(held) if held != *id => Err(Occupied {
            dir: dir.to_path_buf(),
            held,
        }),
        _ => Ok(()),
    }
}

/// Where a report of `graded` (false: the grade failed) goes under `policy`.
pub fn target(dir: &Path, graded: bool, policy: Overwrite) -> Target {
    if !graded && policy != Overwrite::Always && graded_identity(dir).is_some() {
        Target::BesideGraded
    } else {
        Target::Report
    }
}

/// Records which submission the folder's report is of, and drops the report of
/// an earlier failed grade the new report supersedes.
pub fn record(dir: &Path, id: &Identity) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(id).expect("an identity serialises") + "\n";
    crate::report::write_atomic(&dir.join(SOURCE_FILE), text.as_bytes())?;
    match std::fs::remove_file(dir.join(ERROR_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The identity of the graded report in `dir`; `None` when the folder holds no
/// report, or only the report of a grade that failed.
fn graded_identity(dir: &Path) -> Option<Identity> {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(REPORT_FILE)).ok()?).ok()?;
    if report["status"] != "graded" {
        return None;
    }
    let recorded = std::fs::read_to_string(dir.join(SOURCE_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<Identity>(&t).ok());
    // A report from before source.json was written: judged by what it says.
    Some(recorded.unwrap_or_else(|| {
        let sub = &report["submission"];
        Identity::of(
            sub["source"].as_str().unwrap_or_default(),
            sub["requested_ref"].as_str(),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_tell_sources_and_refs_apart_and_are_stable() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let (sa, sb) = (a.path().join("submission"), b.path().join("submission"));
        std::fs::create_dir_all(&sa).unwrap();
        std::fs::create_dir_all(&sb).unwrap();
        let name =
            |p: &Path, rev: Option<&str>| Identity::of(p.to_str().unwrap(), rev).default_name();
        assert!(name(&sa, None).starts_with("submission-"));
        assert_ne!(name(&sa, None), name(&sb, None));
        assert_ne!(name(&sa, None), name(&sa, Some("v2")));
        assert_eq!(name(&sa, None), name(&sa.join("../submission/"), None));
        assert_eq!(
            Identity::of("https://bob:tok@git.example/x/cand.git", None),
            Identity::of("https://git.example/x/cand.git/", None)
        );
        assert!(Identity::of("https://git.example/x/cand.git", None)
            .default_name()
            .starts_with("cand-"));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("alice-2026.v2").is_ok());
        for bad in ["", ".hidden", "a/b", "..", "a b", &"x".repeat(81)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
