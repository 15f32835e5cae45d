//! What a report was graded from: the submission's content fingerprint, the
//! grader's version and the rubric's hash. A batch rerun skips a submission whose
//! inputs are unchanged, so killing a batch and starting it again repeats only
//! unfinished work.

use std::fs;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::acquire::{classify, SourceKind};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    pub source: String,
    pub rev: Option<String>,
    /// A commit id for git sources, a content hash for folders and archives.
    pub fingerprint: String,
    pub grader_version: String,
    pub rubric_sha256: String,
    pub exercise: String,
    pub no_exec: bool,
    /// Absent when the grade chose the project itself, so inputs recorded
    /// before projects could be named still match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// The submission's content fingerprint, or `None` when it cannot be known
/// without grading (then the submission is always regraded).
pub fn fingerprint(source: &str, rev: Option<&str>) -> Option<String> {
    match classify(source).ok()? {
        SourceKind::GitRepository => {
            let repo = git2::Repository::open(source).ok()?;
            let object = repo.revparse_single(rev.unwrap_or("HEAD")).ok()?;
            Some(format!("git:{}", object.peel_to_commit().ok()?.id()))
        }
        SourceKind::GitUrl => remote_commit(source, rev).map(|c| format!("git:{c}")),
        SourceKind::ZipArchive | SourceKind::TarArchive => {
            let mut file = fs::File::open(source).ok()?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = file.read(&mut buf).ok()?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            Some(format!("sha256:{}", hex::encode(hasher.finalize())))
        }
        SourceKind::Folder => {
            let mut hasher = Sha256::new();
            hash_folder(Path::new(source), Path::new(source), &mut hasher, 0).ok()?;
            Some(format!("tree:{}", hex::encode(hasher.finalize())))
        }
    }
}

/// Asks the remote which commit the ref names, without cloning.
fn remote_commit(url: &str, rev: Option<&str>) -> Option<String> {
    if let Some(r) = rev {
        if r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit()) {
            return Some(r.to_ascii_lowercase());
        }
    }
    let mut remote = git2::Remote::create_detached(url).ok()?;
    remote.connect(git2::Direction::Fetch).ok()?;
    let heads = remote.list().ok()?;
    let wanted: Vec<String> = match rev {
        None => vec!["HEAD".into()],
        Some(r) => vec![
            r.to_string(),
            format!("refs/heads/{r}"),
            format!("refs/tags/{r}"),
        ],
    };
    heads
        .iter()
        .find(|h| wanted.iter().any(|w| w == h.name()))
        .map(|h| h.oid().to_string())
}

fn hash_folder(root: &Path, dir: &Path, hasher: &mut Sha256, depth: usize) -> std::io::Result<()> {
    if depth > 64 {
        return Ok(());
    }
    let mut entries: Vec<_> = fs::read_dir(dir)?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .to_string();
        let meta = fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            hasher.update(format!("L{rel}\0{}\0", fs::read_link(&path)?.display()).as_bytes());
        } else if meta.is_dir() {
            if entry.file_name() == ".git" {
                continue;
            }
            hasher.update(format!("D{rel}\0").as_bytes());
            hash_folder(root, &path, hasher, depth + 1)?;
        } else if meta.is_file() {
            hasher.update(format!("F{rel}\0{}\0", meta.len()).as_bytes());
            hasher.update(crate::inventory::content_hash(&fs::read(&path)?).as_bytes());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_fingerprint_follows_content() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.sql"), "select 1").unwrap();
        let src = dir.path().to_str().unwrap();
        let first = fingerprint(src, None).unwrap();
        assert_eq!(first, fingerprint(src, None).unwrap());
        fs::write(dir.path().join("a.sql"), "select 2").unwrap();
        assert_ne!(first, fingerprint(src, None).unwrap());
    }
}
