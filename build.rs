//! Bundles the exercise packs into the binary, so an installed assay grades
//! from any folder with the source tree gone (see src/packs.rs).
//!
//! Embedded: `rubric/`, each `fixtures/<id>/` that a rubric names, and
//! `reference-solutions/` (for `assay calibrate`). The other folders under
//! `fixtures/` are test inputs, not packs. What a local dbt run or a Python
//! import leaves in a reference solution is skipped, as its .gitignore does.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Folders and files a dbt or Python run creates, never part of a pack.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    "target",
    "logs",
    "dbt_packages",
    "warehouse",
    "__pycache__",
    ".venv",
];
const SKIPPED_SUFFIXES: &[&str] = &[".duckdb", ".duckdb.wal", ".user.yml", ".pyc"];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let mut files = Vec::new();
    let rubric = root.join("rubric");
    collect(&rubric, &mut files);
    let mut ids: Vec<String> = files
        .iter()
        .filter_map(|p: &PathBuf| {
            let name = p.strip_prefix(&rubric).ok()?.to_str()?;
            name.strip_suffix(".toml").map(str::to_string)
        })
        .collect();
    ids.sort();
    for id in &ids {
        collect(&root.join("fixtures").join(id), &mut files);
    }
    collect(&root.join("reference-solutions"), &mut files);
    files.sort();

    let mut out = String::from("/// Every embedded pack file: path under the assay home, bytes.\n");
    out.push_str("pub static FILES: &[(&str, &[u8])] = &[\n");
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .expect("collected under the root")
            .to_str()
            .expect("pack paths are UTF-8");
        // Always `/`: the path is a key, not a host path.
        let key = rel.replace('\\', "/");
        let abs = file.to_str().expect("pack paths are UTF-8");
        let _ = writeln!(out, "    ({key:?}, include_bytes!({abs:?})),");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("packs.rs");
    std::fs::write(&dest, out).expect("OUT_DIR is writable");

    println!("cargo:rerun-if-changed=build.rs");
    // Cargo scans a folder named here for any change below it. Only the packs'
    // own folders: the test inputs beside them under fixtures/ do not rebuild.
    println!("cargo:rerun-if-changed=rubric");
    println!("cargo:rerun-if-changed=reference-solutions");
    for id in &ids {
        println!("cargo:rerun-if-changed=fixtures/{id}");
    }
}

/// Regular files under `dir`, symlinks and run leftovers skipped.
fn collect(dir: &Path, into: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_str()) {
                collect(&path, into);
            }
        } else if kind.is_file() && !SKIPPED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            into.push(path);
        }
    }
}
