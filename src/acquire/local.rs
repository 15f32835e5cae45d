//! Local repositories (a path or a `file://` URL): the submission's own objects
//! and refs are copied into a private bare repository, which is then read like
//! a clone.
//!
//! Opening a candidate's repository with libgit2, or cloning from it, would
//! honour everything in it that points elsewhere: `objects/info/alternates`
//! (the objects of any other repository on the grading machine, written into
//! the submission as if the candidate had committed them), `include.path` in its
//! config (any file of the machine read as configuration; a FIFO there blocks
//! the grader for good), `url.*.insteadOf`, `info/grafts` and `refs/replace/*`
//! (a history other than the one committed), `commondir` (a linked worktree's
//! objects live elsewhere), a `.git` file or link naming another repository.
//! Here none of them is ever opened: the candidate's files are read as plain
//! files, never through a link, and only loose objects, packs, refs, `HEAD` and
//! `shallow` are taken. Each thing left behind is listed among the refusals, so
//! the report says why an object the tree names may be missing.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::{AcquireError, RefusalKind, Sink};
use crate::config::AcquireLimits;

/// A loose ref or `HEAD` is one line; anything longer is not a ref.
const MAX_REF_BYTES: u64 = 4 * 1024;
/// Configs and `packed-refs` are read whole, up to this.
const MAX_TEXT_BYTES: u64 = 16 * 1024 * 1024;
/// Refs taken from one repository; a take-home has a handful.
const MAX_REFS: usize = 10_000;
/// Folders under `refs/`, deeper than any real ref name.
const MAX_REF_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq)]
enum RefValue {
    Direct(Oid),
    Symbolic(String),
}

/// Copies the repository at `source` (a work tree with a `.git` folder, or a
/// bare repository) into a fresh bare repository at `dest` and opens it.
pub(crate) fn private_copy(
    source: &Path,
    dest: &Path,
    sink: &mut Sink,
    limits: &AcquireLimits,
) -> Result<Repository, AcquireError> {
    let (git_dir, shown) = locate(source)?;
    let shown = |rel: &str| format!("{shown}{rel}");
    note_redirects(&git_dir, &shown, sink);

    let repo = Repository::init_bare(dest).map_err(super::git::git_err)?;
    let mut budget = Budget {
        left: limits.max_transfer_bytes,
        cap: limits.max_transfer_bytes,
    };
    copy_objects(
        &git_dir.join("objects"),
        &dest.join("objects"),
        sink,
        &mut budget,
    )?;
    if let Some(text) = read_regular(&git_dir.join("shallow"), MAX_TEXT_BYTES) {
        // A shallow clone's boundary only hides parents; it cannot bring an
        // object in. Kept so that its history reads as far as it goes.
        let valid: String = String::from_utf8_lossy(&text)
            .lines()
            .filter(|l| Oid::from_str(l.trim()).is_ok() && l.trim().len() == 40)
            .map(|l| format!("{}\n", l.trim()))
            .collect();
        fs::write(dest.join("shallow"), valid)?;
    }

    let refs = read_refs(&git_dir, &shown, sink);
    for (name, value) in &refs {
        let made = match value {
            RefValue::Direct(oid) => repo.reference(name, *oid, true, "assay: private copy"),
            RefValue::Symbolic(target) => {
                repo.reference_symbolic(name, target, true, "assay: private copy")
            }
        };
        if made.is_err() {
            if let RefValue::Direct(oid) = value {
                sink.refuse(
                    RefusalKind::MissingObject,
                    Some(name),
                    format!("points to {oid}, which the repository's own objects do not hold"),
                );
            }
        }
    }
    match read_regular(&git_dir.join("HEAD"), MAX_REF_BYTES).and_then(|t| parse_ref(&t)) {
        Some(RefValue::Symbolic(target)) => {
            let _ = repo.set_head(&target);
        }
        Some(RefValue::Direct(oid)) if repo.set_head_detached(oid).is_err() => {
            sink.refuse(
                RefusalKind::MissingObject,
                Some(&shown("HEAD")),
                format!("names {oid}, which the repository's own objects do not hold"),
            );
        }
        _ => {}
    }
    Ok(repo)
}

/// The repository folder inside `source`, and how to show paths in it.
fn locate(source: &Path) -> Result<(PathBuf, String), AcquireError> {
    let dot_git = source.join(".git");
    match fs::symlink_metadata(&dot_git) {
        Ok(meta) if meta.is_dir() => return Ok((dot_git, ".git/".to_string())),
        Ok(meta) => {
            let what = if meta.file_type().is_symlink() {
                "a symbolic link"
            } else {
                "a file naming another folder (gitdir)"
            };
            return Err(AcquireError::Git(format!(
                "{} is {what}: the repository lives elsewhere on this machine and is not followed; grade that repository itself",
                dot_git.display()
            )));
        }
        Err(_) => {}
    }
    let is = |name: &str, dir: bool| {
        fs::symlink_metadata(source.join(name))
            .map(|m| if dir { m.is_dir() } else { m.is_file() })
            .unwrap_or(false)
    };
    if is("HEAD", false) && is("objects", true) {
        return Ok((source.to_path_buf(), String::new()));
    }
    Err(AcquireError::Source(format!(
        "{} is not a git repository with its own objects",
        source.display()
    )))
}

/// Lists, as refusals, what in the repository points outside it or rewrites its
/// history. The config is scanned as text only to word these notices; nothing
/// in it is acted upon and no file it names is opened.
fn note_redirects(git_dir: &Path, shown: &dyn Fn(&str) -> String, sink: &mut Sink) {
    for rel in ["objects/info/alternates", "objects/info/http-alternates"] {
        if present(&git_dir.join(rel)) {
            let target = read_regular(&git_dir.join(rel), MAX_REF_BYTES)
                .map(|t| one_line(&t))
                .unwrap_or_else(|| "somewhere".to_string());
            sink.refuse(
                RefusalKind::NotFollowed,
                Some(&shown(rel)),
                format!(
                    "borrows objects from {target}; only the repository's own objects were read"
                ),
            );
        }
    }
    if present(&git_dir.join("commondir")) {
        let target = read_regular(&git_dir.join("commondir"), MAX_REF_BYTES)
            .map(|t| one_line(&t))
            .unwrap_or_default();
        sink.refuse(
            RefusalKind::NotFollowed,
            Some(&shown("commondir")),
            format!("a linked worktree whose objects live in {target}; not followed"),
        );
    }
    if present(&git_dir.join("info/grafts")) {
        sink.refuse(
            RefusalKind::NotFollowed,
            Some(&shown("info/grafts")),
            "rewrites the parents of commits; the history was read as committed",
        );
    }
    if let Some(config) = read_regular(&git_dir.join("config"), MAX_TEXT_BYTES) {
        for (key, value) in config_redirects(&String::from_utf8_lossy(&config)) {
            let detail = if key.ends_with("path") {
                format!("{key} = {value}: the repository's configuration is not read, and that file was not opened")
            } else {
                format!("{key} = {value}: the repository's configuration is not read; no URL was rewritten")
            };
            sink.refuse(RefusalKind::NotFollowed, Some(&shown("config")), detail);
        }
    }
}

/// `include.path`, `includeIf.*.path` and `url.*.insteadOf` entries of a git
/// config, found by a plain line scan (keys are case-insensitive in git).
fn config_redirects(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut section = String::new();
    for raw in text.lines() {
        let mut line = raw.trim();
        if line.starts_with('[') {
            let Some(end) = line.find(']') else { continue };
            section = line[1..end].trim().to_string();
            line = line[end + 1..].trim();
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().trim_matches('"');
        let name = section
            .split(|c: char| c.is_whitespace() || c == '.')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let redirects = match name.as_str() {
            "include" | "includeif" => key == "path",
            "url" => key == "insteadof" || key == "pushinsteadof",
            _ => false,
        };
        if redirects && found.len() < 20 {
            found.push((
                format!("[{section}] {key}"),
                value.chars().take(200).collect(),
            ));
        }
    }
    found
}

struct Budget {
    left: u64,
    cap: u64,
}

/// Copies loose objects (`xx/yyyy…`) and packs (`pack/pack-*.pack` with their
/// `.idx`); everything else under `objects/` (alternates, commit-graph,
/// multi-pack-index) is left behind.
fn copy_objects(
    src: &Path,
    dest: &Path,
    sink: &mut Sink,
    budget: &mut Budget,
) -> Result<(), AcquireError> {
    for (name, path) in listing(src, true) {
        if name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            for (file, from) in listing(&path, false) {
                if file.len() == 38 && file.bytes().all(|b| b.is_ascii_hexdigit()) {
                    sink.check_deadline()?;
                    copy_file(&from, &dest.join(&name).join(&file), budget)?;
                }
            }
        } else if name == "pack" {
            let files: Vec<(String, PathBuf)> = listing(&path, false);
            for (file, from) in &files {
                let Some(stem) = file
                    .strip_prefix("pack-")
                    .and_then(|s| s.strip_suffix(".pack"))
                else {
                    continue;
                };
                if !stem.bytes().all(|b| b.is_ascii_hexdigit()) {
                    continue;
                }
                let idx = format!("pack-{stem}.idx");
                let Some((_, idx_from)) = files.iter().find(|(n, _)| *n == idx) else {
                    continue;
                };
                sink.check_deadline()?;
                let to = dest.join("pack");
                if copy_file(from, &to.join(file), budget)? {
                    copy_file(idx_from, &to.join(&idx), budget)?;
                }
            }
        }
    }
    Ok(())
}

/// Copies one regular file; `false` when it is not one (a link, a FIFO...).
fn copy_file(from: &Path, to: &Path, budget: &mut Budget) -> Result<bool, AcquireError> {
    let Some((file, _)) = open_regular(from) else {
        return Ok(false);
    };
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut out = OpenOptions::new().write(true).create_new(true).open(to)?;
    let copied = io::copy(&mut file.take(budget.left + 1), &mut out)
        .map_err(|e| AcquireError::Source(format!("{}: {e}", from.display())))?;
    if copied > budget.left {
        return Err(AcquireError::Git(format!(
            "the repository passed {} bytes ([acquire] max_transfer_bytes) and was not copied",
            budget.cap
        )));
    }
    budget.left -= copied;
    Ok(true)
}

/// Refs from `packed-refs` and `refs/`, loose ones winning; `refs/replace/` is
/// left behind (and said so).
fn read_refs(
    git_dir: &Path,
    shown: &dyn Fn(&str) -> String,
    sink: &mut Sink,
) -> BTreeMap<String, RefValue> {
    let mut refs = BTreeMap::new();
    if let Some(text) = read_regular(&git_dir.join("packed-refs"), MAX_TEXT_BYTES) {
        for line in String::from_utf8_lossy(&text).lines() {
            if line.starts_with('#') || line.starts_with('^') {
                continue;
            }
            if let Some((hex, name)) = line.split_once(' ') {
                if let (Ok(oid), true) = (Oid::from_str(hex), hex.len() == 40) {
                    refs.insert(name.trim().to_string(), RefValue::Direct(oid));
                }
            }
        }
    }
    let mut loose = Vec::new();
    walk_refs(&git_dir.join("refs"), "refs", 0, &mut loose);
    for (name, value) in loose {
        refs.insert(name, value);
    }
    let replaced = refs
        .keys()
        .filter(|n| n.starts_with("refs/replace/"))
        .count();
    if replaced > 0 {
        refs.retain(|n, _| !n.starts_with("refs/replace/"));
        sink.refuse(
            RefusalKind::NotFollowed,
            Some(&shown("refs/replace")),
            format!("{replaced} replace ref(s) would swap objects for others; the objects were read as committed"),
        );
    }
    refs.retain(|n, _| git2::Reference::is_valid_name(n));
    while refs.len() > MAX_REFS {
        refs.pop_last();
    }
    refs
}

fn walk_refs(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<(String, RefValue)>) {
    if depth > MAX_REF_DEPTH || out.len() > MAX_REFS {
        return;
    }
    for (name, path) in listing(dir, true) {
        walk_refs(&path, &format!("{prefix}/{name}"), depth + 1, out);
    }
    for (name, path) in listing(dir, false) {
        if let Some(value) = read_regular(&path, MAX_REF_BYTES).and_then(|t| parse_ref(&t)) {
            out.push((format!("{prefix}/{name}"), value));
        }
    }
}

fn parse_ref(text: &[u8]) -> Option<RefValue> {
    let text = std::str::from_utf8(text).ok()?.trim();
    if let Some(target) = text.strip_prefix("ref:") {
        let target = target.trim();
        return git2::Reference::is_valid_name(target)
            .then(|| RefValue::Symbolic(target.to_string()));
    }
    (text.len() == 40)
        .then(|| Oid::from_str(text).ok())
        .flatten()
        .map(RefValue::Direct)
}

/// The UTF-8 names of a folder's sub-folders (`dirs`) or regular files, sorted,
/// without following links. An unreadable folder lists as empty.
fn listing(dir: &Path, dirs: bool) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_type()
                .map(|t| if dirs { t.is_dir() } else { t.is_file() })
                .unwrap_or(false)
        })
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    found.sort();
    found
}

fn present(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Opens a regular file without following a link and without blocking on a
/// FIFO swapped in after the check.
fn open_regular(path: &Path) -> Option<(File, u64)> {
    if !fs::symlink_metadata(path).ok()?.is_file() {
        return None;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then_some((file, meta.len()))
}

/// A regular file's bytes when it holds at most `cap` of them.
fn read_regular(path: &Path, cap: u64) -> Option<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    if len > cap {
        return None;
    }
    let mut buf = Vec::new();
    file.take(cap + 1).read_to_end(&mut buf).ok()?;
    (buf.len() as u64 <= cap).then_some(buf)
}

fn one_line(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_redirects_are_found_whatever_their_case() {
        let text = "[core]\n\tbare = false\n[include]\n\tpath = /etc/host.cfg\n\
                    [includeIf \"gitdir:/x/\"]\n  PATH = \"/srv/other\"\n\
                    [url \"file:///srv/\"]\n\tinsteadOf = https://example.org/\n\
                    [remote \"origin\"]\n\turl = https://example.org/x.git\n";
        let found = config_redirects(text);
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0].1, "/etc/host.cfg");
        assert_eq!(found[1].1, "/srv/other");
        assert_eq!(found[2].0, "[url \"file:///srv/\"] insteadof");
    }

    #[test]
    fn refs_parse_as_direct_or_symbolic_and_nothing_else() {
        let oid = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            parse_ref(format!("{oid}\n").as_bytes()),
            Some(RefValue::Direct(Oid::from_str(oid).unwrap()))
        );
        assert_eq!(
            parse_ref(b"ref: refs/heads/main\n"),
            Some(RefValue::Symbolic("refs/heads/main".into()))
        );
        assert_eq!(parse_ref(b"ref: ../../etc/passwd"), None);
        assert_eq!(parse_ref(b"0123"), None);
    }
}
