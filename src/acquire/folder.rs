//! Copying a plain folder: walked without following any link, so a symlink to
//! /etc/passwd is reported, never read.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{AcquireError, RefusalKind, Sink};

pub(crate) fn copy(src: &Path, sink: &mut Sink) -> Result<(), AcquireError> {
    walk(src, "", sink, 0)
}

fn walk(dir: &Path, rel: &str, sink: &mut Sink, depth: usize) -> Result<(), AcquireError> {
    sink.check_deadline()?;
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| unreadable(dir, e))?
        .filter_map(Result::ok)
        .collect();
    // Sorted so that the caps cut the same files on every run.
    entries.sort_by_key(|e| e.file_name());
    let holds_dbt_project = entries.iter().any(|e| {
        e.file_name() == "dbt_project.yml"
            && fs::symlink_metadata(e.path()).is_ok_and(|m| m.file_type().is_file())
    });
    if holds_dbt_project {
        sink.note_dbt_project(Path::new(rel));
    }
    for entry in entries {
        let name = entry.file_name().to_string_lossy().to_string();
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let meta = fs::symlink_metadata(entry.path()).map_err(|e| unreadable(&entry.path(), e))?;
        let file_type = meta.file_type();
        if file_type.is_symlink() {
            let target = fs::read_link(entry.path())
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            sink.refuse(
                RefusalKind::Symlink,
                Some(&child_rel),
                format!("symbolic link to {target}; not followed"),
            );
            continue;
        }
        let Some(clean) = sink.admit_path(&child_rel) else {
            continue;
        };
        if file_type.is_dir() {
            if depth + 1 > 64 {
                continue;
            }
            sink.make_dir(&clean);
            walk(&entry.path(), &child_rel, sink, depth + 1)?;
        } else if file_type.is_file() {
            if !sink.admit_size(&clean, meta.len()) {
                continue;
            }
            // O_NOFOLLOW: a file swapped for a link after the check above is not read.
            let file = match OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(entry.path())
            {
                Ok(f) => f,
                Err(e) => {
                    sink.refuse(
                        RefusalKind::SpecialFile,
                        Some(&child_rel),
                        format!("cannot be opened safely: {e}"),
                    );
                    continue;
                }
            };
            sink.write(&clean, meta.len(), file)?;
        } else {
            sink.refuse(
                RefusalKind::SpecialFile,
                Some(&child_rel),
                "not a regular file (device, socket or pipe)",
            );
        }
    }
    Ok(())
}

/// Reading the submission failed: its fault or its permissions, not the work
/// folder's.
fn unreadable(path: &Path, e: std::io::Error) -> AcquireError {
    AcquireError::Source(format!("{}: {e}", path.display()))
}
