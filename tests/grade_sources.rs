//! `assay grade` on every kind of SOURCE a user hands it: a folder, a local git
//! repository, a file:// URL, and .zip / .tar.gz archives. Each must produce a
//! schema-valid report.json and a terminal summary.

mod common;

use std::fs;

use common::*;

fn grade(source: &str, out: &std::path::Path) -> std::process::Output {
    assay()
        .args(["grade", source, "--no-exec", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

fn assert_summary(stdout: &str) {
    for dim in [
        "Data Quality",
        "Pipeline Design",
        "Code Quality",
        "Problem-Solving",
        "System Design",
        "Overall",
    ] {
        assert!(stdout.contains(dim), "summary lacks {dim}:\n{stdout}");
    }
    assert!(stdout.contains("report.html"), "{stdout}");
}

#[test]
fn a_folder_is_graded_without_history() {
    let src = tempfile::tempdir().unwrap();
    let sub = src.path().join("cand-folder");
    write_tree(&sub, &small_project());
    let out = tempfile::tempdir().unwrap();
    let run = grade(sub.to_str().unwrap(), out.path());
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_summary(&stdout(&run));
    let report = read_report(out.path(), "cand-folder");
    assert_eq!(report["status"], "graded");
    assert_eq!(report["submission"]["kind"], "folder");
    // Two of the nine contract models exist: stg_payments selects `*` from a
    // source (its columns cannot be read), fct_orders one of its six columns.
    let rubric: toml::Table = fs::read_to_string(repo_root().join("rubric/marketplace-elt.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let params = rubric["dimension"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["criterion"].as_array().unwrap())
        .find(|c| c["check"].as_str() == Some("dbt.contract_models"))
        .unwrap()["params"]
        .clone();
    let file = params["file_credit"].as_float().unwrap();
    let unreadable = params["unreadable_columns_credit"].as_float().unwrap();
    let expected = (file + (1.0 - file) * unreadable + file + (1.0 - file) / 6.0) / 9.0;
    let contract = criterion(&report, "dbt.contract_models");
    assert_eq!(contract["outcome"]["kind"], "partial");
    let fraction = contract["outcome"]["fraction"].as_f64().unwrap();
    assert!(
        (fraction - expected).abs() < 1e-9,
        "{fraction} vs {expected}"
    );
    // A folder has no commit history: history criteria leave the denominator.
    assert_eq!(
        criterion(&report, "history.commit_cadence")["outcome"]["kind"],
        "not_applicable"
    );
}

#[test]
fn a_local_git_repository_and_its_file_url_grade_alike() {
    let src = tempfile::tempdir().unwrap();
    let repo_dir = src.path().join("cand-git");
    fs::create_dir_all(&repo_dir).unwrap();
    let project = small_project();
    let head = git_repo(
        &repo_dir,
        &[
            (
                "starter",
                &[(
                    "dbt_project.yml",
                    "name: marketplace\nprofile: marketplace\n",
                )],
            ),
            ("staging payments", &[project[1]]),
            ("dag", &[project[4]]),
            ("fct_orders with tests", &[project[2], project[3]]),
        ],
    );

    let out = tempfile::tempdir().unwrap();
    let run = grade(repo_dir.to_str().unwrap(), out.path());
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_summary(&stdout(&run));
    let local = read_report(out.path(), "cand-git");
    assert_eq!(local["submission"]["kind"], "git_repository");
    assert_eq!(local["submission"]["commit"], head.to_string());
    assert_eq!(local["inventory"]["commits"], 4);
    // Of two commits adding models, only the second brought tests within the window.
    let tests = criterion(&local, "history.tests_with_models");
    assert_eq!(tests["outcome"]["kind"], "partial", "{tests}");

    let url = format!("file://{}", repo_dir.display());
    let out2 = tempfile::tempdir().unwrap();
    let run = grade(&url, out2.path());
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let remote = read_report(out2.path(), "cand-git");
    assert_eq!(remote["submission"]["kind"], "git_url");
    assert_eq!(remote["submission"]["commit"], head.to_string());
    assert_eq!(remote["dimensions"], local["dimensions"]);
}

#[test]
fn a_ref_selects_an_older_commit() {
    let src = tempfile::tempdir().unwrap();
    let repo_dir = src.path().join("cand-ref");
    fs::create_dir_all(&repo_dir).unwrap();
    let project = small_project();
    git_repo(
        &repo_dir,
        &[
            ("starter", &[project[0]]),
            ("models", &[project[1], project[2]]),
        ],
    );
    let repo = git2::Repository::open(&repo_dir).unwrap();
    let first = repo
        .head()
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .parent(0)
        .unwrap()
        .id()
        .to_string();
    let out = tempfile::tempdir().unwrap();
    let run = assay()
        .args([
            "grade",
            repo_dir.to_str().unwrap(),
            "--no-exec",
            "--ref",
            &first,
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let report = read_report(out.path(), "cand-ref");
    assert_eq!(report["submission"]["commit"], first);
    assert_eq!(
        criterion(&report, "dbt.contract_models")["outcome"]["kind"],
        "not_attempted"
    );

    let out = tempfile::tempdir().unwrap();
    let run = assay()
        .args([
            "grade",
            repo_dir.to_str().unwrap(),
            "--no-exec",
            "--ref",
            "no-such-branch",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(2),
        "an unknown ref cannot be graded"
    );
    let report = read_report(out.path(), "cand-ref");
    assert_eq!(report["status"], "error");
    assert!(report["error"].as_str().unwrap().contains("no-such-branch"));
}

#[test]
fn zip_and_tar_gz_archives_are_unpacked_inside_their_top_folder() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("cand-zip.zip");
    fs::write(&zip_path, zip_bytes(&small_project())).unwrap();
    let tgz_path = dir.path().join("cand-tgz.tar.gz");
    fs::write(&tgz_path, gzip(&tar_bytes(&small_project()))).unwrap();
    for (archive, name, kind) in [
        (&zip_path, "cand-zip", "zip_archive"),
        (&tgz_path, "cand-tgz", "tar_archive"),
    ] {
        let out = tempfile::tempdir().unwrap();
        let run = grade(archive.to_str().unwrap(), out.path());
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_summary(&stdout(&run));
        let report = read_report(out.path(), name);
        assert_eq!(report["submission"]["kind"], kind);
        // The wrapping folder is stripped: paths read as in the repository.
        assert_eq!(report["inventory"]["dags"][0], "dags/marketplace_elt.py");
        assert_eq!(
            criterion(&report, "dbt.contract_models")["outcome"]["kind"],
            "partial"
        );
    }
}

#[test]
fn a_missing_source_is_an_error_report_with_exit_2() {
    let out = tempfile::tempdir().unwrap();
    let run = grade("/no/such/submission", out.path());
    assert_eq!(run.status.code(), Some(2));
    let report = read_report(out.path(), "submission");
    assert_eq!(report["status"], "error");
    assert!(stdout(&run).contains("NOT GRADED"));
}

/// The folders dbt writes when a candidate ran their project (`target/` with
/// its manifest and partial-parse state, `logs/`) are dbt's output, not their
/// work: every kind of source leaves them out where they sit beside a
/// `dbt_project.yml`, without spending the byte cap on them, and says so. A
/// folder of the candidate's own that happens to be called `target` elsewhere
/// is copied like any other.
#[test]
fn dbt_output_beside_the_project_is_left_out_of_every_source() {
    let manifest = "x".repeat(300 * 1024);
    let mut files: Vec<(&str, &str)> = vec![
        // dbt's output first: an archive may list it before the project file.
        ("target/manifest.json", manifest.as_str()),
        (
            "target/compiled/marketplace/models/fct_orders.sql",
            "select 1\n",
        ),
        ("logs/dbt.log", "12:00:00 Running with dbt=1.11.0\n"),
        ("models/target/keep_target_model.sql", "select 1 as id\n"),
        ("dags/logs/keep_note.txt", "not beside a dbt project\n"),
    ];
    files.extend(small_project());
    let kept = files
        .iter()
        .filter(|(p, _)| !p.starts_with("target/") && !p.starts_with("logs/"))
        .count() as u64;
    let kept_bytes: u64 = files
        .iter()
        .filter(|(p, _)| !p.starts_with("target/") && !p.starts_with("logs/"))
        .map(|(_, c)| c.len() as u64)
        .sum();
    // Room for the candidate's files, not for dbt's manifest as well.
    let limits = assay::config::AcquireLimits {
        max_total_bytes: kept_bytes + 64 * 1024,
        ..Default::default()
    };

    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("cand-folder");
    write_tree(&folder, &files);
    let repo = dir.path().join("cand-git");
    fs::create_dir_all(&repo).unwrap();
    git_repo(&repo, &[("everything, dbt's output included", &files)]);
    let zip_path = dir.path().join("cand-zip.zip");
    fs::write(&zip_path, zip_bytes(&files)).unwrap();
    let tgz_path = dir.path().join("cand-tgz.tar.gz");
    fs::write(&tgz_path, gzip(&tar_bytes(&files))).unwrap();

    for (source, prefix) in [
        (&folder, ""),
        (&repo, ""),
        (&zip_path, "cand-main/"),
        (&tgz_path, "cand-main/"),
    ] {
        let shown = source.display().to_string();
        let acquired = assay::acquire::acquire(&shown, None, &limits).unwrap();
        assert_eq!(acquired.refusals, vec![], "{shown}");
        assert_eq!(
            acquired.not_copied,
            vec![format!("{prefix}logs"), format!("{prefix}target")],
            "{shown}"
        );
        assert_eq!(
            (acquired.files, acquired.bytes),
            (kept, kept_bytes),
            "{shown}"
        );
        assert!(!acquired.root.join("target").exists(), "{shown}");
        assert!(!acquired.root.join("logs").exists(), "{shown}");
        for (path, content) in files
            .iter()
            .filter(|(p, _)| !p.starts_with("target/") && !p.starts_with("logs/"))
        {
            assert_eq!(
                fs::read_to_string(acquired.root.join(path)).unwrap(),
                *content,
                "{shown}: {path}"
            );
        }
    }

    // The same limits without the rule would refuse dbt's manifest: proof that
    // the cap above is tight enough for this test to fail if it were copied.
    let without_project: Vec<_> = files
        .iter()
        .filter(|(p, _)| *p != "dbt_project.yml")
        .copied()
        .collect();
    let bare = dir.path().join("cand-no-project");
    write_tree(&bare, &without_project);
    let acquired = assay::acquire::acquire(bare.to_str().unwrap(), None, &limits).unwrap();
    assert!(acquired.not_copied.is_empty());
    assert!(
        acquired
            .refusals
            .iter()
            .any(|r| r.path.as_deref() == Some("target/manifest.json")),
        "{:?}",
        acquired.refusals
    );

    // The report names what was left out.
    let out = tempfile::tempdir().unwrap();
    let run = grade(folder.to_str().unwrap(), out.path());
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = read_report(out.path(), "cand-folder");
    assert_eq!(
        report["acquisition"]["not_copied"],
        serde_json::json!(["logs", "target"])
    );
    let acquire_stage = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "acquire")
        .unwrap();
    assert!(
        acquire_stage["detail"]
            .as_str()
            .unwrap()
            .contains("dbt's own output left out: logs, target"),
        "{acquire_stage}"
    );
}
