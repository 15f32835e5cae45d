//! Archives as interview platforms export them (.zip, .tar.gz). Entries are
//! checked one by one: no absolute or `..` path, no link of any kind, and sizes
//! capped on the bytes actually inflated, not the sizes the archive declares.
//! One corrupt entry (a checksum that does not match, a broken compressed
//! stream) is refused by name and the rest of the archive is still written: a
//! damaged export should cost the candidate one file, not the grade.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use flate2::read::GzDecoder;

use super::{AcquireError, RefusalKind, Sink};

pub(crate) fn unzip(path: &Path, sink: &mut Sink) -> Result<(), AcquireError> {
    let file = open(path)?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| AcquireError::Archive(e.to_string()))?;
    // The central directory lists every name up front.
    let names: Vec<String> = zip
        .file_names()
        .filter_map(Result::ok)
        .filter(|name| !name.ends_with('/'))
        .map(|name| name.into_owned())
        .collect();
    sink.note_listing(names.iter().map(String::as_str));
    for index in 0..zip.len() {
        sink.check_deadline()?;
        let listed = zip
            .name_for_index(index)
            .and_then(Result::ok)
            .map(|n| n.into_owned());
        let entry = match zip.by_index(index) {
            Ok(entry) => entry,
            Err(e) => {
                sink.refuse(
                    RefusalKind::CorruptEntry,
                    listed.as_deref(),
                    format!("unreadable zip entry {index}: {e}; not written"),
                );
                continue;
            }
        };
        let name = entry
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| entry.name_raw().escape_ascii().to_string());
        if entry.is_symlink() {
            sink.refuse(
                RefusalKind::Symlink,
                Some(&name),
                "symbolic link inside the archive; not written",
            );
            continue;
        }
        let Some(clean) = sink.admit_path(&name) else {
            continue;
        };
        if entry.is_dir() {
            sink.make_dir(&clean);
            continue;
        }
        let declared = entry.size();
        sink.write(&clean, declared, entry)?;
    }
    Ok(())
}

pub(crate) fn untar(path: &Path, sink: &mut Sink) -> Result<(), AcquireError> {
    note_tar_listing(path, sink)?;
    let mut archive = tar::Archive::new(tar_reader(path)?);
    let entries = archive
        .entries()
        .map_err(|e| AcquireError::Archive(e.to_string()))?;
    for (index, entry) in entries.enumerate() {
        sink.check_deadline()?;
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                // A tar header carries the size that frames everything after
                // it: past a corrupt one nothing can be located, so what was
                // read is kept and the rest is refused in one line.
                sink.refuse(
                    RefusalKind::CorruptEntry,
                    None,
                    format!(
                        "tar entry {index} is unreadable ({e}); it and any entries after it were not written"
                    ),
                );
                break;
            }
        };
        let name = match entry.path() {
            Ok(p) => p.to_string_lossy().to_string(),
            Err(e) => {
                sink.refuse(
                    RefusalKind::UnsafePath,
                    None,
                    format!("unreadable tar path: {e}"),
                );
                continue;
            }
        };
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .ok()
                .flatten()
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            sink.refuse(
                RefusalKind::Symlink,
                Some(&name),
                format!("link to {target} inside the archive; not written"),
            );
            continue;
        }
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            continue;
        }
        let Some(clean) = sink.admit_path(&name) else {
            continue;
        };
        if kind.is_dir() {
            sink.make_dir(&clean);
        } else if kind.is_file() {
            let declared = entry.header().size().unwrap_or(0);
            sink.write(&clean, declared, entry)?;
        } else {
            sink.refuse(
                RefusalKind::SpecialFile,
                Some(&name),
                "not a regular file (device, fifo or other)",
            );
        }
    }
    Ok(())
}

fn tar_reader(path: &Path) -> Result<Box<dyn std::io::Read>, AcquireError> {
    let file = open(path)?;
    let lower = path.to_string_lossy().to_ascii_lowercase();
    Ok(if lower.ends_with(".tar") {
        Box::new(BufReader::new(file))
    } else {
        Box::new(GzDecoder::new(BufReader::new(file)))
    })
}

/// A tar names its entries only as it goes, and a `target/` folder may come
/// before the `dbt_project.yml` beside it: the headers are read once first so
/// the sink knows which folders dbt wrote. A header that cannot be read ends
/// this pass quietly; the writing pass reports it.
fn note_tar_listing(path: &Path, sink: &mut Sink) -> Result<(), AcquireError> {
    let mut archive = tar::Archive::new(tar_reader(path)?);
    let Ok(entries) = archive.entries() else {
        return Ok(());
    };
    let mut names = Vec::new();
    for entry in entries {
        sink.check_deadline()?;
        let Ok(entry) = entry else { break };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        if let Ok(name) = entry.path() {
            if name.file_name().is_some_and(|n| n == "dbt_project.yml") {
                names.push(name.to_string_lossy().into_owned());
            }
        }
    }
    sink.note_listing(names.iter().map(String::as_str));
    Ok(())
}

/// Opens the archive itself: failing here is the submission's problem, not the
/// work folder's.
fn open(path: &Path) -> Result<File, AcquireError> {
    File::open(path).map_err(|e| AcquireError::Source(format!("{}: {e}", path.display())))
}
