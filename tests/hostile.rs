//! Hostile submissions: links to files outside, oversize and compression-bomb
//! blobs, too many files, submodules and path-traversal archive entries. Each is
//! graded with clear findings and nothing escapes the grader's private folder.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use common::*;

const TIGHT: &str = "[acquire]\nmax_file_bytes = 1048576\nmax_files = 40\n";

/// Runs `assay grade` with a private TMPDIR so the test can see what was left.
fn grade_hostile(source: &str, work: &Path) -> (std::process::Output, serde_json::Value) {
    let tmp = work.join("tmp");
    let out = work.join("out");
    fs::create_dir_all(&tmp).unwrap();
    let config = work.join("assay.toml");
    fs::write(&config, TIGHT).unwrap();
    let run = assay()
        .env("TMPDIR", &tmp)
        .args(["grade", source, "--no-exec", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let name = fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .to_string();
    let report = read_report(&out, &name);
    // The private acquisition folder is gone and nothing else was left behind.
    let leftovers: Vec<_> = fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(leftovers.is_empty(), "left behind in TMPDIR: {leftovers:?}");
    (run, report)
}

fn assert_no_escape(work: &Path) {
    for candidate in [
        work.join("escape.txt"),
        work.join("tmp/escape.txt"),
        Path::new("/tmp/escape.txt").to_path_buf(),
    ] {
        assert!(
            !candidate.exists(),
            "{} was written outside the submission",
            candidate.display()
        );
    }
    let report_text = fs::read_to_string(walk_reports(&work.join("out"))).unwrap();
    assert!(
        !report_text.contains("root:x:0:0"),
        "the report leaked /etc/passwd"
    );
}

fn walk_reports(out: &Path) -> std::path::PathBuf {
    let dir = fs::read_dir(out).unwrap().next().unwrap().unwrap().path();
    dir.join("report.json")
}

#[test]
fn a_hostile_git_repository_is_graded_with_refusals() {
    let work = tempfile::tempdir().unwrap();
    let repo_dir = work.path().join("evil-git");
    let repo = git2::Repository::init(&repo_dir).unwrap();
    let mut root = repo.treebuilder(None).unwrap();
    let blob = |bytes: &[u8]| repo.blob(bytes).unwrap();
    root.insert(
        "dbt_project.yml",
        blob(b"name: marketplace\nprofile: marketplace\n"),
        0o100644,
    )
    .unwrap();
    root.insert("passwd", blob(b"/etc/passwd"), 0o120000)
        .unwrap();
    // 64 MiB of zeros packs into a few kilobytes: a compression bomb.
    root.insert("bomb.bin", blob(&vec![0u8; 64 * 1024 * 1024]), 0o100644)
        .unwrap();
    root.insert("vendor", repo.blob(b"x").unwrap(), 0o160000)
        .unwrap();
    let mut many = repo.treebuilder(None).unwrap();
    for i in 0..60 {
        many.insert(
            format!("f{i:02}.sql"),
            blob(format!("select {i}").as_bytes()),
            0o100644,
        )
        .unwrap();
    }
    root.insert("many", many.write().unwrap(), 0o040000)
        .unwrap();
    let tree = repo.find_tree(root.write().unwrap()).unwrap();
    let sig = git2::Signature::now("Mallory", "m@example.org").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "evil", &tree, &[])
        .unwrap();

    let (run, report) = grade_hostile(repo_dir.to_str().unwrap(), work.path());
    assert_eq!(
        run.status.code(),
        Some(0),
        "hostile content is refused, not fatal: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(report["status"], "graded");
    let kinds = refusal_kinds(&report);
    for kind in ["symlink", "submodule", "file_too_large", "too_many_files"] {
        assert!(
            kinds.contains(&kind.to_string()),
            "no {kind} refusal in {kinds:?}"
        );
    }
    let symlink = report["acquisition"]["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "symlink")
        .unwrap();
    assert!(symlink["detail"].as_str().unwrap().contains("/etc/passwd"));
    assert!(report["acquisition"]["files"].as_u64().unwrap() <= 40);
    assert!(stdout(&run).contains("Refused"));
    assert_no_escape(work.path());
}

#[test]
fn a_hostile_tar_is_unpacked_without_traversal_or_links() {
    let work = tempfile::tempdir().unwrap();
    let tgz = work.path().join("evil-tar.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            fs::File::create(&tgz).unwrap(),
            flate2::Compression::default(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut add = |name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            // Written byte by byte: the tar crate's own setters refuse these names.
            let gnu = header.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(target) = link {
                gnu.linkname[..target.len()].copy_from_slice(target.as_bytes());
            }
            header.set_entry_type(kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append(&header, data).unwrap();
        };
        add(
            "dbt_project.yml",
            tar::EntryType::Regular,
            None,
            b"name: m\nprofile: m\n",
        );
        add("../escape.txt", tar::EntryType::Regular, None, b"escaped");
        add("/tmp/escape.txt", tar::EntryType::Regular, None, b"escaped");
        add("link", tar::EntryType::Symlink, Some("/etc/passwd"), b"");
        add("hard", tar::EntryType::Link, Some("/etc/passwd"), b"");
        add("fifo", tar::EntryType::Fifo, None, b"");
        tar.into_inner().unwrap().finish().unwrap();
    }
    let (run, report) = grade_hostile(tgz.to_str().unwrap(), work.path());
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let kinds = refusal_kinds(&report);
    assert_eq!(
        kinds.iter().filter(|k| *k == "unsafe_path").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "symlink").count(),
        2,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"special_file".to_string()), "{kinds:?}");
    assert_eq!(report["acquisition"]["files"], 1);
    assert_no_escape(work.path());
}

#[test]
fn a_hostile_zip_is_unpacked_without_traversal() {
    let work = tempfile::tempdir().unwrap();
    let zip_path = work.path().join("evil-zip.zip");
    {
        let mut zip = zip::ZipWriter::new(fs::File::create(&zip_path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        zip.start_file("dbt_project.yml", opts).unwrap();
        zip.write_all(b"name: m\nprofile: m\n").unwrap();
        zip.start_file("../escape.txt", opts).unwrap();
        zip.write_all(b"escaped").unwrap();
        // 32 MiB of zeros: well over the per-file cap once inflated.
        zip.start_file("bomb.bin", opts).unwrap();
        zip.write_all(&vec![0u8; 32 * 1024 * 1024]).unwrap();
        zip.add_symlink("passwd", "/etc/passwd", opts).unwrap();
        zip.finish().unwrap();
    }
    let (run, report) = grade_hostile(zip_path.to_str().unwrap(), work.path());
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let kinds = refusal_kinds(&report);
    for kind in ["unsafe_path", "file_too_large", "symlink"] {
        assert!(
            kinds.contains(&kind.to_string()),
            "no {kind} refusal in {kinds:?}"
        );
    }
    assert_eq!(report["acquisition"]["files"], 1);
    assert_no_escape(work.path());
}

#[test]
fn a_folder_with_links_is_copied_without_following_them() {
    let work = tempfile::tempdir().unwrap();
    let sub = work.path().join("evil-folder");
    write_tree(
        &sub,
        &[
            ("dbt_project.yml", "name: m\nprofile: m\n"),
            ("models/a.sql", "select 1"),
        ],
    );
    std::os::unix::fs::symlink("/etc/passwd", sub.join("passwd")).unwrap();
    std::os::unix::fs::symlink("/etc", sub.join("models/etc")).unwrap();
    std::os::unix::fs::symlink(&sub, sub.join("loop")).unwrap();
    let (run, report) = grade_hostile(sub.to_str().unwrap(), work.path());
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let kinds = refusal_kinds(&report);
    assert_eq!(
        kinds.iter().filter(|k| *k == "symlink").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(report["acquisition"]["files"], 2);
    assert_no_escape(work.path());
}
