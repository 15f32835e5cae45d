//! Where the exercise packs (`rubric/`, `fixtures/<id>/`,
//! `reference-solutions/`) come from: `--packs DIR`, else `ASSAY_HOME`, else
//! the copy embedded in the binary at build time (build.rs). An installed
//! assay therefore grades from any folder, with its source tree gone.
//!
//! The grader reads packs as files (a starter is walked like a submission,
//! reference solutions are graded as folders), so the embedded copy is
//! written once to `<cache>/packs/<content hash>/` and read from there. The
//! folder is filled under a temporary name and renamed into place: a grader
//! never sees half a pack, and concurrent first runs agree on one copy.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/packs.rs"));
}

/// Which packs are in use, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--packs DIR`.
    Flag(PathBuf),
    /// `ASSAY_HOME`.
    Env(PathBuf),
    /// The binary's own copy, written out to this folder.
    Embedded(PathBuf),
}

impl Source {
    /// The folder that holds `rubric/` and `fixtures/`.
    pub fn home(&self) -> &Path {
        match self {
            Source::Flag(p) | Source::Env(p) | Source::Embedded(p) => p,
        }
    }

    /// Where the packs come from, in words for `doctor` and error messages.
    pub fn describe(&self) -> String {
        match self {
            Source::Flag(p) => format!("{} (from --packs)", p.display()),
            Source::Env(p) => format!("{} (from ASSAY_HOME)", p.display()),
            Source::Embedded(p) => format!(
                "embedded in this assay binary, unpacked at {} (--packs DIR or ASSAY_HOME chooses others)",
                p.display()
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PacksError {
    #[error("--packs {0}: no such folder")]
    NoFolder(PathBuf),
    #[error("cannot unpack the embedded exercise packs into {path}: {source}; set ASSAY_HOME or --packs to a folder that holds rubric/ and fixtures/")]
    Unpack {
        path: PathBuf,
        source: std::io::Error,
    },
}

static FLAG: OnceLock<PathBuf> = OnceLock::new();
static RESOLVED: OnceLock<Result<Source, String>> = OnceLock::new();

/// Chooses the packs for the whole process (`--packs DIR`); must come before
/// the first [`source`]. A second call is ignored.
pub fn set_dir(dir: PathBuf) {
    let _ = FLAG.set(dir);
}

/// The packs in use, unpacking the embedded copy on first use.
pub fn source() -> Result<Source, PacksError> {
    if let Some(dir) = FLAG.get() {
        if !dir.is_dir() {
            return Err(PacksError::NoFolder(dir.clone()));
        }
        return Ok(Source::Flag(dir.clone()));
    }
    if let Some(dir) = std::env::var_os("ASSAY_HOME").filter(|v| !v.is_empty()) {
        return Ok(Source::Env(PathBuf::from(dir)));
    }
    RESOLVED
        .get_or_init(|| {
            unpack(&cache_root())
                .map(Source::Embedded)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|why| PacksError::Unpack {
            path: cache_root(),
            source: std::io::Error::other(why),
        })
}

/// The files compiled in, path under the assay home first.
pub fn embedded_files() -> &'static [(&'static str, &'static [u8])] {
    embedded::FILES
}

/// A short hash of every embedded path and content: two builds with the same
/// packs share a cache folder, and a changed pack never reuses a stale one.
pub fn content_hash() -> String {
    let mut h = Sha256::new();
    for (path, bytes) in embedded::FILES {
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    hex::encode(&h.finalize()[..8])
}

/// `<cache>/packs`: the cache folder the runner image and data use by default.
fn cache_root() -> PathBuf {
    crate::execute::image::cache_root(&crate::execute::RunnerConfig::default())
        .unwrap_or_else(|_| std::env::temp_dir().join("assay"))
        .join("packs")
}

/// Writes the embedded packs to `<root>/<hash>/` unless they are there, and
/// returns that folder.
pub fn unpack(root: &Path) -> std::io::Result<PathBuf> {
    let dest = root.join(content_hash());
    if dest.is_dir() {
        return Ok(dest);
    }
    std::fs::create_dir_all(root)?;
    let tmp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(root)?;
    for (rel, bytes) in embedded::FILES {
        let path = tmp.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
    }
    // tempfile makes its folder 0700; the packs are as readable as a clone.
    set_mode(tmp.path(), 0o755)?;
    let staged = tmp.keep();
    match std::fs::rename(&staged, &dest) {
        Ok(()) => Ok(dest),
        // Another grader unpacked the same packs first: theirs is identical.
        Err(_) if dest.is_dir() => {
            let _ = std::fs::remove_dir_all(&staged);
            Ok(dest)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            Err(e)
        }
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_packs_are_the_source_trees_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let paths: Vec<&str> = embedded_files().iter().map(|(p, _)| *p).collect();
        for needed in [
            "rubric/marketplace-elt.toml",
            "fixtures/marketplace-elt/hidden-checks.toml",
            "fixtures/marketplace-elt/raw_schema.sql",
            "fixtures/marketplace-elt/claims.toml",
            "fixtures/marketplace-elt/starter/dbt_project.yml",
            "fixtures/marketplace-elt/starter/.gitignore",
            "reference-solutions/marketplace-elt/strong/expected.toml",
        ] {
            assert!(paths.contains(&needed), "{needed} is not embedded");
        }
        // Test inputs under fixtures/ are not packs.
        assert!(!paths.iter().any(|p| p.starts_with("fixtures/dags/")));
        for (rel, bytes) in embedded_files() {
            assert_eq!(
                std::fs::read(root.join(rel)).unwrap(),
                *bytes,
                "{rel} differs from the source tree"
            );
        }
    }

    #[test]
    fn unpacking_is_done_once_into_a_folder_named_by_the_content() {
        let cache = tempfile::tempdir().unwrap();
        let first = unpack(cache.path()).unwrap();
        assert_eq!(first, cache.path().join(content_hash()));
        let rubric = first.join("rubric/marketplace-elt.toml");
        assert!(rubric.is_file());
        // A second run reuses the folder and leaves no staging folder behind.
        std::fs::write(first.join("marker"), "").unwrap();
        assert_eq!(unpack(cache.path()).unwrap(), first);
        assert!(first.join("marker").is_file());
        let names: Vec<_> = std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
