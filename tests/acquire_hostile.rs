//! Acquisition under hostile sources: a git server that accepts the connection
//! and never answers, a local repository that borrows from the grading machine
//! (alternates, config includes, url rewriting, grafts, replace refs), and
//! archives with one corrupt entry. Only loopback addresses are used.

mod common;

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

use common::*;

/// A server on 127.0.0.1 that accepts every connection, holds it open and
/// never sends a byte. Returns its port and how many connections it accepted.
fn silent_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (port, accepted)
}

/// A work folder with a private TMPDIR (so the test sees what acquisition
/// leaves behind), a config and a report folder.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new(config: &str) -> Work {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("tmp")).unwrap();
        fs::write(dir.path().join("assay.toml"), config).unwrap();
        Work { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn tmp(&self) -> PathBuf {
        self.path().join("tmp")
    }

    fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    /// `assay grade SOURCE --no-exec`, started but not waited for.
    fn spawn_grade(&self, source: &str) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_assay"))
            .env("ASSAY_HOME", env!("CARGO_MANIFEST_DIR"))
            .env_remove("ASSAY_CONFIG")
            .env("TMPDIR", self.tmp())
            .args(["grade", source, "--no-exec", "--config"])
            .arg(self.path().join("assay.toml"))
            .arg("--out")
            .arg(self.out())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Grades SOURCE and fails the test, rather than hang it, when the grade
    /// does not end within `limit`.
    fn grade(&self, source: &str, limit: Duration) -> (Output, Duration) {
        let started = Instant::now();
        let mut child = self.spawn_grade(source);
        if child.wait_timeout(limit).unwrap().is_none() {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "assay grade {source} was still running after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = child.wait_with_output().unwrap();
        (out, started.elapsed())
    }

    fn leftovers(&self) -> Vec<PathBuf> {
        fs::read_dir(self.tmp())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }
}

fn refusals(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["acquisition"]["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap_or("").to_string(),
                r["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// A git server that never answers
// ---------------------------------------------------------------------------

#[test]
fn a_git_server_that_never_answers_is_abandoned_at_the_deadline() {
    let (port, accepted) = silent_server();
    let work = Work::new("[acquire]\ntimeout_secs = 3\n");
    let source = format!("https://127.0.0.1:{port}/cand-silent.git");
    let (run, elapsed) = work.grade(&source, Duration::from_secs(90));
    let stderr = String::from_utf8_lossy(&run.stderr);

    assert!(
        accepted.load(Ordering::SeqCst) >= 1,
        "the grader never connected: {stderr}"
    );
    // It waited for the limit, then gave up soon after it.
    assert!(
        elapsed >= Duration::from_secs(3),
        "gave up before the limit ({elapsed:?}): {stderr}"
    );
    assert!(
        elapsed < Duration::from_secs(3 + 12),
        "took {elapsed:?} for a 3 s limit: {stderr}"
    );
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    let report = read_report(&work.out(), "cand-silent");
    assert_eq!(report["status"], "error");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("3 s") && error.contains("timeout_secs") && error.contains("abandoned"),
        "the error does not say what happened: {error}"
    );
    assert_eq!(
        work.leftovers(),
        Vec::<PathBuf>::new(),
        "the half-made clone was left behind"
    );
}

#[test]
fn ctrl_c_during_a_stalled_fetch_removes_the_work_folder() {
    let (port, accepted) = silent_server();
    let work = Work::new("[acquire]\ntimeout_secs = 120\n");
    let source = format!("https://127.0.0.1:{port}/cand-interrupted.git");
    let mut child = work.spawn_grade(&source);
    let until = Instant::now() + Duration::from_secs(60);
    while accepted.load(Ordering::SeqCst) == 0 || work.leftovers().is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the grade ended before its fetch stalled"
        );
        assert!(Instant::now() < until, "the fetch never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(work.leftovers()[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("assay-"));
    std::thread::sleep(Duration::from_millis(300));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = match child.wait_timeout(Duration::from_secs(20)).unwrap() {
        Some(status) => status,
        None => {
            let _ = child.kill();
            panic!("Ctrl-C did not stop the grade");
        }
    };
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(
        work.leftovers(),
        Vec::<PathBuf>::new(),
        "Ctrl-C left the work folder behind"
    );
}

// ---------------------------------------------------------------------------
// A local repository that borrows from the grading machine
// ---------------------------------------------------------------------------

const SECRET: &str = "HOST-ONLY-SECRET-4b1d: not the candidate's work";

fn sig() -> git2::Signature<'static> {
    git2::Signature::new(
        "Candidate",
        "c@example.org",
        &git2::Time::new(1_767_225_600, 0),
    )
    .unwrap()
}

/// A repository of the grading machine's own, holding the secret as a blob and
/// inside a tree. Returns the blob's and the tree's ids.
fn host_repository(dir: &Path) -> (git2::Oid, git2::Oid) {
    let host = git2::Repository::init(dir).unwrap();
    let blob = host.blob(SECRET.as_bytes()).unwrap();
    let mut tree = host.treebuilder(None).unwrap();
    tree.insert("credentials.txt", blob, 0o100644).unwrap();
    (blob, tree.write().unwrap())
}

/// A candidate repository of two commits whose objects/info/alternates points
/// at the host's objects and whose last tree names the host's blob and tree.
fn borrowing_candidate(dir: &Path, host: &Path) -> git2::Oid {
    let (secret_blob, secret_tree) = host_repository(host);
    let repo = git2::Repository::init(dir).unwrap();
    fs::write(
        dir.join(".git/objects/info/alternates"),
        format!("{}\n", host.join(".git/objects").display()),
    )
    .unwrap();
    // Reopened so that its object database reads the alternates just written.
    let repo = {
        drop(repo);
        git2::Repository::open(dir).unwrap()
    };
    let project = small_project();
    let mut first = repo.treebuilder(None).unwrap();
    first
        .insert(
            project[0].0,
            repo.blob(project[0].1.as_bytes()).unwrap(),
            0o100644,
        )
        .unwrap();
    let first = repo.find_tree(first.write().unwrap()).unwrap();
    let parent = repo
        .commit(Some("HEAD"), &sig(), &sig(), "starter", &first, &[])
        .unwrap();
    let mut second = repo.treebuilder(Some(&first)).unwrap();
    second
        .insert(
            "README.md",
            repo.blob(b"# My solution\n").unwrap(),
            0o100644,
        )
        .unwrap();
    second.insert("secret.txt", secret_blob, 0o100644).unwrap();
    second.insert("vendor", secret_tree, 0o040000).unwrap();
    let second = repo.find_tree(second.write().unwrap()).unwrap();
    let parent = repo.find_commit(parent).unwrap();
    repo.commit(
        Some("HEAD"),
        &sig(),
        &sig(),
        "solution",
        &second,
        &[&parent],
    )
    .unwrap()
}

/// Every file under `root` must be free of the secret.
fn assert_no_secret(root: &Path) {
    for entry in fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            assert_no_secret(&path);
        } else {
            let bytes = fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(SECRET),
                "{} holds the host's secret",
                path.display()
            );
        }
    }
}

#[test]
fn a_local_repository_does_not_borrow_objects_from_the_host() {
    let work = Work::new("[acquire]\ntimeout_secs = 30\n");
    let cand = work.path().join("cand-borrow");
    let head = borrowing_candidate(&cand, &work.path().join("host"));

    // The files actually written, as the grader's later stages see them.
    let limits = assay::config::AcquireLimits {
        timeout_secs: 30,
        ..Default::default()
    };
    for source in [
        cand.display().to_string(),
        format!("file://{}", cand.display()),
    ] {
        let acquired = assay::acquire::acquire(&source, None, &limits).unwrap();
        assert_eq!(acquired.commit.as_deref(), Some(head.to_string().as_str()));
        assert!(acquired.root.join("dbt_project.yml").is_file(), "{source}");
        assert!(acquired.root.join("README.md").is_file(), "{source}");
        assert!(!acquired.root.join("secret.txt").exists(), "{source}");
        assert!(!acquired.root.join("vendor").exists(), "{source}");
        assert_no_secret(&acquired.root);
    }

    // The report says why the two entries are missing.
    let (run, _) = work.grade(cand.to_str().unwrap(), Duration::from_secs(120));
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report_text =
        fs::read_to_string(report_dir(&work.out(), "cand-borrow").join("report.json")).unwrap();
    assert!(!report_text.contains(SECRET), "the report holds the secret");
    let report = read_report(&work.out(), "cand-borrow");
    assert_eq!(report["status"], "graded");
    assert_eq!(report["submission"]["commit"], head.to_string());
    let refused = refusals(&report);
    let has = |kind: &str, path: &str| refused.iter().any(|r| r.0 == kind && r.1 == path);
    assert!(has("missing_object", "secret.txt"), "{refused:?}");
    assert!(has("missing_object", "vendor"), "{refused:?}");
    let alternates = refused
        .iter()
        .find(|r| r.0 == "not_followed" && r.1 == ".git/objects/info/alternates")
        .unwrap_or_else(|| panic!("the alternates file is not reported: {refused:?}"));
    assert!(alternates.2.contains("host"), "{alternates:?}");
    assert!(stdout(&run).contains("alternates"), "{}", stdout(&run));
    assert_eq!(work.leftovers(), Vec::<PathBuf>::new());
}

#[test]
fn grafts_and_replace_refs_do_not_rewrite_the_history() {
    let work = Work::new("[acquire]\ntimeout_secs = 30\n");
    let cand = work.path().join("cand-rewrite");
    fs::create_dir_all(&cand).unwrap();
    let project = small_project();
    let head = git_repo(
        &cand,
        &[("starter", &project[..1]), ("solution", &project[1..])],
    );
    let repo = git2::Repository::open(&cand).unwrap();
    let parent = repo.find_commit(head).unwrap().parent_id(0).unwrap();
    // Grafts that would cut the history at the head, and a replace ref that
    // would swap the head commit for its parent.
    fs::create_dir_all(cand.join(".git/info")).unwrap();
    fs::write(cand.join(".git/info/grafts"), format!("{head}\n")).unwrap();
    repo.reference(&format!("refs/replace/{head}"), parent, true, "replace")
        .unwrap();

    let limits = assay::config::AcquireLimits::default();
    let acquired = assay::acquire::acquire(cand.to_str().unwrap(), None, &limits).unwrap();
    assert_eq!(acquired.commit, Some(head.to_string()));
    assert_eq!(acquired.history.as_ref().unwrap().commits.len(), 2);
    assert!(acquired.root.join("dags/marketplace_elt.py").is_file());
    let noted: Vec<&str> = acquired
        .refusals
        .iter()
        .filter(|r| r.kind == assay::acquire::RefusalKind::NotFollowed)
        .filter_map(|r| r.path.as_deref())
        .collect();
    assert_eq!(noted, [".git/info/grafts", ".git/refs/replace"]);
}

#[test]
fn a_local_repository_config_is_never_read() {
    let work = Work::new("[acquire]\ntimeout_secs = 20\n");
    let cand = work.path().join("cand-include");
    fs::create_dir_all(&cand).unwrap();
    let head = git_repo(&cand, &[("solution", &small_project())]);
    // A host file that blocks whoever opens it for reading: reading the
    // candidate's include would hold the grade until its deadline.
    let fifo = work.path().join("host-settings");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut config = fs::OpenOptions::new()
        .append(true)
        .open(cand.join(".git/config"))
        .unwrap();
    write!(
        config,
        "[include]\n\tpath = {}\n[url \"file:///srv/host-repos/\"]\n\tinsteadOf = https://example.org/\n",
        fifo.display()
    )
    .unwrap();
    drop(config);

    let (run, elapsed) = work.grade(cand.to_str().unwrap(), Duration::from_secs(90));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    let report = read_report(&work.out(), "cand-include");
    assert_eq!(report["status"], "graded");
    assert_eq!(report["submission"]["commit"], head.to_string());
    let refused = refusals(&report);
    let include = refused
        .iter()
        .find(|r| r.0 == "not_followed" && r.2.contains("host-settings"))
        .unwrap_or_else(|| panic!("the include is not reported: {refused:?}"));
    assert_eq!(include.1, ".git/config");
    assert!(include.2.contains("not opened"), "{include:?}");
    assert!(
        refused
            .iter()
            .any(|r| r.0 == "not_followed" && r.2.contains("insteadof")),
        "{refused:?}"
    );
    assert_eq!(work.leftovers(), Vec::<PathBuf>::new());
}

#[test]
fn a_git_link_to_another_repository_is_not_followed() {
    let work = Work::new("[acquire]\ntimeout_secs = 20\n");
    let host = work.path().join("host");
    host_repository(&host);
    let cand = work.path().join("cand-gitlink");
    fs::create_dir_all(&cand).unwrap();
    fs::write(cand.join("README.md"), "# hello\n").unwrap();
    fs::write(
        cand.join(".git"),
        format!("gitdir: {}\n", host.join(".git").display()),
    )
    .unwrap();
    let (run, _) = work.grade(cand.to_str().unwrap(), Duration::from_secs(60));
    assert_eq!(run.status.code(), Some(2));
    let report = read_report(&work.out(), "cand-gitlink");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("not followed"), "{error}");
    assert!(
        !fs::read_to_string(report_dir(&work.out(), "cand-gitlink").join("report.json"))
            .unwrap()
            .contains(SECRET)
    );
}

// ---------------------------------------------------------------------------
// Archives with one corrupt entry
// ---------------------------------------------------------------------------

/// Flips one byte at `at`.
fn flip(bytes: &mut [u8], at: usize) {
    bytes[at] ^= 0x5a;
}

#[test]
fn one_corrupt_zip_entry_loses_only_that_entry() {
    let work = Work::new("[acquire]\ntimeout_secs = 30\n");
    let zip_path = work.path().join("cand-damaged.zip");
    {
        let mut zip = zip::ZipWriter::new(fs::File::create(&zip_path).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (path, content) in small_project() {
            zip.start_file(format!("cand-main/{path}"), stored).unwrap();
            zip.write_all(content.as_bytes()).unwrap();
        }
        zip.start_file("cand-main/models/bad_crc.sql", stored)
            .unwrap();
        zip.write_all(b"select 'its checksum will not match' as x\n")
            .unwrap();
        zip.start_file("cand-main/models/bad_stream.sql", deflated)
            .unwrap();
        let text: String = (0..400)
            .map(|i| format!("select {i} as n union all\n"))
            .collect();
        zip.write_all(text.as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    let mut bytes = fs::read(&zip_path).unwrap();
    let (crc_at, stream_at) = {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
        let mut data_of = |name: &str| {
            let entry = archive.by_name(name).unwrap();
            (entry.data_start().unwrap(), entry.compressed_size())
        };
        let (crc_start, _) = data_of("cand-main/models/bad_crc.sql");
        let (stream_start, stream_len) = data_of("cand-main/models/bad_stream.sql");
        (crc_start + 8, stream_start + stream_len / 3)
    };
    flip(&mut bytes, crc_at as usize);
    for at in stream_at..stream_at + 8 {
        flip(&mut bytes, at as usize);
    }
    fs::write(&zip_path, &bytes).unwrap();

    let (run, _) = work.grade(zip_path.to_str().unwrap(), Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let report = read_report(&work.out(), "cand-damaged");
    assert_eq!(report["status"], "graded");
    let refused = refusals(&report);
    let corrupt: Vec<&str> = refused
        .iter()
        .filter(|r| r.0 == "corrupt_entry")
        .map(|r| r.1.as_str())
        .collect();
    assert_eq!(
        corrupt,
        [
            "cand-main/models/bad_crc.sql",
            "cand-main/models/bad_stream.sql"
        ],
        "{refused:?}"
    );
    // Every intact entry was written and graded.
    assert_eq!(report["acquisition"]["files"], small_project().len());
    assert_eq!(report["inventory"]["dags"][0], "dags/marketplace_elt.py");
    assert!(!stdout(&run).contains("work folder"));
    assert_eq!(work.leftovers(), Vec::<PathBuf>::new());
}

#[test]
fn a_corrupt_tar_entry_loses_only_what_cannot_be_located() {
    let project = small_project();
    let last = "models/last.sql";
    let body = "select 'the last entry' as x\n".repeat(40);
    let mut files = project.clone();
    files.push((last, body.as_str()));
    let plain = tar_bytes(&files);
    // The last entry's header is the 512-byte block before its data.
    let data_at = plain
        .windows(22)
        .position(|w| w == b"select 'the last entry")
        .unwrap();
    let header_at = data_at - 512;

    // A header whose checksum does not match, and an archive cut off in the
    // middle of the last entry's data.
    let mut bad_header = plain.clone();
    flip(&mut bad_header, header_at + 5);
    let truncated = plain[..data_at + body.len() / 2].to_vec();

    for (name, bytes) in [
        ("cand-badheader", bad_header),
        ("cand-truncated", truncated),
    ] {
        let work = Work::new("[acquire]\ntimeout_secs = 30\n");
        let path = work.path().join(format!("{name}.tar.gz"));
        fs::write(&path, gzip(&bytes)).unwrap();
        let (run, _) = work.grade(path.to_str().unwrap(), Duration::from_secs(120));
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(0), "{name}: {stderr}");
        let report = read_report(&work.out(), name);
        assert_eq!(report["status"], "graded", "{name}");
        let refused = refusals(&report);
        let corrupt: Vec<_> = refused.iter().filter(|r| r.0 == "corrupt_entry").collect();
        assert!(!corrupt.is_empty(), "{name}: {refused:?}");
        if name == "cand-truncated" {
            // The cut entry is named: its bytes are not the file that was packed.
            assert_eq!(corrupt[0].1, format!("cand-main/{last}"), "{refused:?}");
            assert!(corrupt[0].2.contains("declared"), "{refused:?}");
        } else {
            assert!(corrupt[0].2.contains("checksum"), "{refused:?}");
        }
        assert_eq!(
            report["acquisition"]["files"],
            project.len(),
            "{name}: every entry before the damage is graded"
        );
        assert_eq!(report["inventory"]["dags"][0], "dags/marketplace_elt.py");
        assert_eq!(work.leftovers(), Vec::<PathBuf>::new(), "{name}");
    }
}
