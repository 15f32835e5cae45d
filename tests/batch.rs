//! `assay batch` as a hiring team runs it in CI: a cohort graded into one index,
//! resumable after a SIGKILL, shardable, with a broken submission isolated.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::Value;

fn manifest(dir: &Path, entries: &[(&str, &str)]) -> std::path::PathBuf {
    let mut text = String::new();
    for (id, source) in entries {
        text.push_str(&format!(
            "[[submission]]\nid = \"{id}\"\nsource = \"{source}\"\n"
        ));
    }
    let path = dir.join("cohort.toml");
    fs::write(&path, text).unwrap();
    path
}

/// A cohort of three reference solutions (copied, so tests may edit them) and
/// one source that does not exist.
fn cohort(dir: &Path) -> std::path::PathBuf {
    for name in ["strong", "adequate", "weak"] {
        copy_dir(
            &repo_root()
                .join("reference-solutions/marketplace-elt")
                .join(name),
            &dir.join("subs").join(name),
        );
    }
    manifest(
        dir,
        &[
            ("strong", "subs/strong"),
            ("adequate", "subs/adequate"),
            ("weak", "subs/weak"),
            ("missing", "subs/does-not-exist"),
        ],
    )
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn batch(args: &[&str]) -> std::process::Output {
    assay()
        .env("CI", "true")
        .arg("batch")
        .args(args)
        .output()
        .unwrap()
}

fn summary(out: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn a_cohort_is_ranked_and_a_broken_submission_is_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let m = cohort(dir.path());
    let out = dir.path().join("out");
    let run = batch(&[
        m.to_str().unwrap(),
        "--no-exec",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        run.status.code(),
        Some(2),
        "one submission could not be graded: exit 2\n{}",
        stdout(&run)
    );
    assert!(
        stdout(&run).contains(
            "3 graded, 0 unchanged, 0 incomplete (graded again next run), 1 could not be graded"
        ),
        "{}",
        stdout(&run)
    );

    let s = summary(&out);
    let rows = s["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let overall = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap()["overall"].as_f64();
    assert!(overall("strong").unwrap() > overall("adequate").unwrap());
    assert!(overall("adequate").unwrap() > overall("weak").unwrap());
    let missing = rows.iter().find(|r| r["id"] == "missing").unwrap();
    assert_eq!(missing["status"], "error");

    for id in ["strong", "adequate", "weak", "missing"] {
        assert_valid(
            &serde_json::from_str(&fs::read_to_string(out.join(id).join("report.json")).unwrap())
                .unwrap(),
        );
    }
    let index = fs::read_to_string(out.join("index.html")).unwrap();
    for needle in [
        "adequate",
        "missing",
        "script-src 'none'",
        "Discrimination",
        "dbt.payments_dedup",
    ] {
        assert!(index.contains(needle), "index.html lacks {needle}");
    }
    assert!(!index.contains("<script"), "the index runs no script");
    let junit = fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 4);
    // The payments dedup check separates strong work from weak.
    let dedup = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "dbt.payments_dedup")
        .unwrap();
    assert!(dedup["discrimination"].as_f64().unwrap() > 0.0, "{dedup}");
}

#[test]
fn a_rerun_skips_unchanged_work_and_force_regrades() {
    let dir = tempfile::tempdir().unwrap();
    let m = cohort(dir.path());
    let out = dir.path().join("out");
    let args = [
        m.to_str().unwrap(),
        "--no-exec",
        "--out",
        out.to_str().unwrap(),
    ];
    batch(&args);
    let first = summary(&out);

    let again = batch(&args);
    assert!(
        stdout(&again).contains(
            "0 graded, 3 unchanged, 0 incomplete (graded again next run), 1 could not be graded"
        ),
        "{}",
        stdout(&again)
    );
    assert_eq!(summary(&out)["rows"], first["rows"]);

    write_tree(
        &dir.path().join("subs/weak"),
        &[(
            "models/marts/fct_orders.sql",
            "select 1 as order_id
",
        )],
    );
    let changed = batch(&args);
    assert!(
        stdout(&changed).contains("1 graded, 2 unchanged"),
        "{}",
        stdout(&changed)
    );

    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(stdout(&batch(&forced)).contains("3 graded, 0 unchanged"));
}

#[test]
fn two_shards_merged_equal_one_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let m = cohort(dir.path());
    let whole = dir.path().join("whole");
    batch(&[
        m.to_str().unwrap(),
        "--no-exec",
        "--out",
        whole.to_str().unwrap(),
    ]);
    let (a, b, merged) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("merged"),
    );
    batch(&[
        m.to_str().unwrap(),
        "--no-exec",
        "--shard",
        "1/2",
        "--out",
        a.to_str().unwrap(),
    ]);
    batch(&[
        m.to_str().unwrap(),
        "--no-exec",
        "--shard",
        "2/2",
        "--out",
        b.to_str().unwrap(),
    ]);
    let (na, nb) = (
        summary(&a)["rows"].as_array().unwrap().len(),
        summary(&b)["rows"].as_array().unwrap().len(),
    );
    assert_eq!(na + nb, 4);
    let run = assay()
        .args([
            "batch",
            "merge",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--out",
            merged.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(2),
        "the merged cohort still holds the broken submission"
    );
    let (w, g) = (summary(&whole), summary(&merged));
    assert_eq!(w["rows"], g["rows"]);
    assert_eq!(w["checks"], g["checks"]);
    assert_eq!(w["dimensions"], g["dimensions"]);
    assert!(merged.join("adequate/report.json").is_file());
}

#[test]
fn a_batch_killed_halfway_finishes_on_rerun_without_regrading() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(String, String)> = (0..200)
        .map(|i| (format!("notes/n{i:03}.txt"), format!("select {i} as id\n")))
        .collect();
    let mut entries = Vec::new();
    for i in 0..120 {
        let sub = dir.path().join(format!("subs/c{i:03}"));
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        write_tree(&sub, &refs);
        write_tree(&sub, &[("dbt_project.yml", "name: m\nprofile: m\n")]);
        entries.push((format!("c{i:03}"), format!("subs/c{i:03}")));
    }
    let refs: Vec<(&str, &str)> = entries
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let m = manifest(dir.path(), &refs);
    let out = dir.path().join("out");

    // A killed grader cannot remove its work folder: it goes in this test's
    // own folder, not the machine's /dev/shm or /tmp.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_assay"))
        .env("ASSAY_HOME", env!("CARGO_MANIFEST_DIR"))
        .env("TMPDIR", dir.path())
        .env("CI", "true")
        .args([
            "batch",
            m.to_str().unwrap(),
            "--no-exec",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let finished = |out: &Path| {
        (0..120)
            .filter(|i| out.join(format!("c{i:03}/inputs.json")).is_file())
            .count()
    };
    while finished(&out) < 5 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the batch ended before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done_before = finished(&out);
    assert!(
        done_before < 120,
        "the batch finished before the kill; the test proves nothing"
    );
    assert!(!out.join("summary.json").exists());

    let rerun = batch(&[
        m.to_str().unwrap(),
        "--no-exec",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(rerun.status.code(), Some(0), "{}", stdout(&rerun));
    let text = stdout(&rerun);
    let unchanged: usize = text
        .split(" unchanged")
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(unchanged >= done_before, "{text}");
    assert!(
        text.starts_with(&format!(
            "{} graded, {unchanged} unchanged, 0 incomplete (graded again next run), 0 could not be graded",
            120 - unchanged
        )),
        "{text}"
    );
    for i in 0..120 {
        let report: Value = serde_json::from_str(
            &fs::read_to_string(out.join(format!("c{i:03}/report.json"))).unwrap(),
        )
        .expect("no truncated report");
        assert_eq!(report["status"], "graded");
    }
    // No temporary file was left half-written in the output.
    let stray: Vec<_> = walk(&out)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(
        stray.is_empty() || stray.iter().all(|p| p.parent() != Some(out.as_path())),
        "{stray:?}"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn every_reference_solution_and_two_hostile_submissions_rank_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let refs = repo_root().join("reference-solutions/marketplace-elt");
    // A folder whose README is a link to /etc/passwd, and an archive with a
    // path-traversal entry and a link: both are graded, with refusals.
    let folder = dir.path().join("hostile-folder");
    copy_dir(&refs.join("weak"), &folder);
    fs::remove_file(folder.join("README.md")).ok();
    std::os::unix::fs::symlink("/etc/passwd", folder.join("README.md")).unwrap();
    let tgz = dir.path().join("hostile.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            fs::File::create(&tgz).unwrap(),
            flate2::Compression::default(),
        );
        let mut tar = tar::Builder::new(gz);
        for (name, kind, link, data) in [
            (
                "dbt_project.yml",
                tar::EntryType::Regular,
                None,
                &b"name: m\nprofile: m\n"[..],
            ),
            (
                "../escape.sql",
                tar::EntryType::Regular,
                None,
                &b"select 1"[..],
            ),
            (
                "models/x.sql",
                tar::EntryType::Symlink,
                Some("/etc/passwd"),
                &b""[..],
            ),
        ] {
            let mut header = tar::Header::new_gnu();
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
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    let names = ["strong", "adequate", "weak", "keyword-stuffer", "starter"];
    let mut entries: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.to_string(), refs.join(n).display().to_string()))
        .collect();
    entries.push(("hostile-folder".into(), folder.display().to_string()));
    entries.push(("hostile-archive".into(), tgz.display().to_string()));
    let borrowed: Vec<(&str, &str)> = entries
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let m = manifest(dir.path(), &borrowed);
    let out = dir.path().join("out");
    let run = batch(&[
        m.to_str().unwrap(),
        "--no-exec",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run));

    let s = summary(&out);
    let overall = |id: &str| {
        s["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["overall"]
            .as_f64()
            .unwrap_or(0.0)
    };
    assert!(overall("strong") > overall("adequate"));
    assert!(overall("adequate") > overall("weak"));
    assert!(overall("weak") >= overall("keyword-stuffer"));
    assert!(overall("keyword-stuffer") >= overall("starter"));
    for hostile in ["hostile-folder", "hostile-archive"] {
        let report: Value = serde_json::from_str(
            &fs::read_to_string(out.join(hostile).join("report.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(report["status"], "graded");
        assert!(
            !report["acquisition"]["refusals"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{hostile} has no refusal"
        );
    }
    assert!(!dir.path().join("escape.sql").exists());
    // The statistics name checks that separate strong from weak work.
    let separating: Vec<&str> = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["discrimination"].as_f64().unwrap_or(0.0) >= 0.5)
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert!(separating.contains(&"dbt.payments_dedup"), "{separating:?}");
    let index = fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("hostile-archive") && index.contains("keyword-stuffer"));
}

#[test]
fn a_refused_submission_is_listed_with_why_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(&dir.path().join("subs/good"), &small_project());
    fs::create_dir_all(dir.path().join("subs/empty")).unwrap();
    write_tree(
        &dir.path().join("subs/wrong-repo"),
        &[
            ("README.md", "# Some other project\n"),
            ("main.go", "package main\n"),
        ],
    );
    let m = manifest(
        dir.path(),
        &[
            ("empty", "subs/empty"),
            ("good", "subs/good"),
            ("wrong-repo", "subs/wrong-repo"),
        ],
    );
    let out = dir.path().join("out");
    let run = batch(&[
        m.to_str().unwrap(),
        "--no-exec",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", stdout(&run));
    let text = stdout(&run);
    assert!(
        text.starts_with(
            "1 graded, 0 unchanged, 0 incomplete (graded again next run), 2 could not be graded\n"
        ),
        "{text}"
    );
    for (id, found) in [
        ("empty", "found neither: the source holds no files"),
        (
            "wrong-repo",
            "found neither among its 2 file(s): README.md, main.go",
        ),
    ] {
        let listed = text
            .lines()
            .find(|l| l.starts_with(&format!("  could not be graded: {id}: not a submission of the marketplace-elt exercise: expected a dbt project")))
            .unwrap_or_else(|| panic!("{id}: {text}"));
        assert!(listed.ends_with(found), "{listed}");
        let progress = String::from_utf8_lossy(&run.stderr);
        assert!(
            progress.contains(&format!("{id}: could not be graded: not a submission")),
            "{progress}"
        );
        let report: Value =
            serde_json::from_str(&fs::read_to_string(out.join(id).join("report.json")).unwrap())
                .unwrap();
        assert_valid(&report);
        assert_eq!(report["status"], "error");
    }
    assert!(
        text.lines().last().unwrap().starts_with("index: "),
        "{text}"
    );
    let rows = summary(&out)["rows"].as_array().unwrap().clone();
    let good = rows.iter().find(|r| r["id"] == "good").unwrap();
    assert_eq!(good["status"], "graded");
    let empty = rows.iter().find(|r| r["id"] == "empty").unwrap();
    assert!(empty["error"]
        .as_str()
        .unwrap()
        .starts_with("not a submission"));
}

#[test]
fn the_run_ends_with_a_table_of_every_submission_and_shows_progress() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(&dir.path().join("subs/good"), &small_project());
    copy_dir(
        &repo_root().join("reference-solutions/marketplace-elt/strong"),
        &dir.path().join("subs/strong"),
    );
    fs::create_dir_all(dir.path().join("subs/empty")).unwrap();
    let m = manifest(
        dir.path(),
        &[
            ("good", "subs/good"),
            ("empty", "subs/empty"),
            ("strong", "subs/strong"),
        ],
    );
    let out = dir.path().join("out");
    let run = batch(&[
        m.to_str().unwrap(),
        "--no-exec",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", stdout(&run));
    let text = stdout(&run);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| {
            l.split_whitespace().collect::<Vec<_>>()
                == ["id", "overall", "band", "status", "reason"]
        })
        .unwrap_or_else(|| panic!("no table header: {text}"));
    let table: Vec<Vec<&str>> = lines[header + 1..header + 4]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let rows = summary(&out)["rows"].as_array().unwrap().clone();
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    // Ranked: the strong solution above the small project, the refused one last.
    assert_eq!(
        table.iter().map(|r| r[0]).collect::<Vec<_>>(),
        ["strong", "good", "empty"],
        "{text}"
    );
    for (cells, id) in table.iter().zip(["strong", "good"]) {
        let r = row(id);
        assert_eq!(
            cells[1],
            format!("{:.1}", r["overall"].as_f64().unwrap()),
            "{text}"
        );
        assert_eq!(cells[2], r["overall_band"].to_string(), "{text}");
        assert_eq!(cells[3], "graded", "{text}");
    }
    assert_eq!(&table[2][..4], ["empty", "–", "–", "error"], "{text}");
    assert!(
        table[2][4..]
            .join(" ")
            .starts_with("not a submission of the marketplace-elt exercise"),
        "{text}"
    );
    assert!(
        lines.last().unwrap().starts_with("index: "),
        "the index stays last: {text}"
    );

    // stderr: a line per finished submission, with its time and an ETA until the last.
    let progress = String::from_utf8_lossy(&run.stderr);
    let done: Vec<&str> = progress.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(done.len(), 3, "{progress}");
    assert!(done[0].contains("ETA "), "{progress}");
    assert!(!done[2].contains("ETA "), "{progress}");
    assert!(
        done.iter()
            .any(|l| l.starts_with("[") && l.contains("strong: graded, overall ")),
        "{progress}"
    );

    let quiet = batch(&[
        m.to_str().unwrap(),
        "--no-exec",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
    assert!(!stdout(&quiet).contains("overall"), "{}", stdout(&quiet));
}
