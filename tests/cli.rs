//! The command line as users meet it: listing and explaining checks, exit codes,
//! where reports land and what may replace them, output into closed pipes.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

#[test]
fn every_listed_check_can_be_explained() {
    let listed = assay().arg("checks").output().unwrap();
    assert_eq!(listed.status.code(), Some(0));
    let text = stdout(&listed);
    let ids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(ids.len() >= 4, "{text}");
    for id in ids {
        let out = assay().args(["explain", id]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "explain {id}");
        let doc = stdout(&out);
        for section in ["## What it checks", "## Why it matters", "## How to pass"] {
            assert!(
                doc.contains(section),
                "explain {id} lacks {section}:\n{doc}"
            );
        }
    }
}

#[test]
fn explaining_an_unknown_check_fails_with_exit_2() {
    let out = assay()
        .args(["explain", "dbt.no_such_check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("assay checks"));
}

#[test]
fn fail_under_turns_a_low_score_into_exit_1() {
    let src = tempfile::tempdir().unwrap();
    let sub = src.path().join("low");
    write_tree(&sub, &small_project());
    let out = tempfile::tempdir().unwrap();
    let run = assay()
        .args([
            "grade",
            sub.to_str().unwrap(),
            "--no-exec",
            "--fail-under",
            "99",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", stdout(&run));
    assert!(stdout(&run).contains("below the bar"));
    let run = assay()
        .args([
            "grade",
            sub.to_str().unwrap(),
            "--no-exec",
            "--fail-under",
            "1",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run));
    let run = assay()
        .args([
            "grade",
            sub.to_str().unwrap(),
            "--no-exec",
            "--fail-under",
            "140",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn a_broken_rubric_is_a_grader_error_naming_its_line() {
    let home = tempfile::tempdir().unwrap();
    let rubric = std::fs::read_to_string(repo_root().join("rubric/marketplace-elt.toml")).unwrap();
    let broken = rubric.replacen(
        "check = \"dbt.contract_models\"",
        "check = \"dbt.contract_modelz\"",
        1,
    );
    let line = broken
        .lines()
        .position(|l| l.contains("contract_modelz"))
        .unwrap()
        + 1;
    write_tree(home.path(), &[("rubric/marketplace-elt.toml", &broken)]);
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), &small_project());
    let out = assay()
        .env("ASSAY_HOME", home.path())
        .args(["grade", src.path().to_str().unwrap(), "--no-exec", "--out"])
        .arg(home.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "marketplace-elt.toml:{line}: unknown check `dbt.contract_modelz`"
        )),
        "{err}"
    );
}

#[test]
fn every_check_is_scored_by_a_rubric_or_listed_as_unused() {
    let mut scored = std::collections::BTreeSet::new();
    for listing in assay::exercise::list_in(&repo_root()).unwrap() {
        let rubric = assay::grade::load_rubric(
            &assay::exercise::Exercise::locate_in(&repo_root(), &listing.id).unwrap(),
        )
        .unwrap();
        scored.extend(rubric.check_ids().into_iter().map(str::to_string));
    }
    assert!(
        scored.len() > 40,
        "both exercises' rubrics were read: {scored:?}"
    );
    for check in assay::checks::all() {
        let id = check.meta().id;
        let unused = assay::checks::UNUSED_BY_RUBRIC
            .iter()
            .any(|(u, _)| *u == id);
        assert!(scored.contains(id) ^ unused, "{id} must be either scored by an exercise's rubric (rubric/*.toml) or listed in UNUSED_BY_RUBRIC, not both or neither");
    }
}

/// Grades `source` from the code alone into `out`, with `extra` arguments.
fn grade_static(source: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    assay()
        .arg("grade")
        .arg(source)
        .args(["--no-exec", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The report folders in `out`.
fn folders(out: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found
}

#[test]
fn two_submissions_in_folders_of_one_name_keep_two_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("alice/submission");
    let second = tmp.path().join("bob/submission");
    write_tree(&first, &small_project());
    let mut fewer = small_project();
    fewer.retain(|(p, _)| !p.starts_with("models/staging"));
    write_tree(&second, &fewer);
    let out = tmp.path().join("reports");

    let run = grade_static(&first, &out, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let summary = stdout(&run);
    let run = grade_static(&second, &out, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));

    let dirs = folders(&out);
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    let files = |dir: &Path| {
        let report: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
        assert_valid(&report);
        report["inventory"]["files"].as_u64().unwrap()
    };
    let mut counts = [files(&dirs[0]), files(&dirs[1])];
    counts.sort();
    assert_eq!(
        counts,
        [5, 6],
        "each folder holds its own submission's report"
    );

    // The summary ends with the page to open and the time the grade took.
    let lines: Vec<&str> = summary.lines().collect();
    let [.., report, time] = lines.as_slice() else {
        panic!("{summary}")
    };
    assert!(
        report.starts_with("report: ") && report.ends_with("report.html"),
        "{summary}"
    );
    assert!(
        Path::new(report.trim_start_matches("report: ")).is_file(),
        "{summary}"
    );
    assert!(time.starts_with("time: "), "{summary}");

    // Grading the first one again updates its own report.
    let run = grade_static(&first, &out, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(folders(&out), dirs);
}

#[test]
fn a_failed_grade_never_replaces_a_graded_report() {
    let tmp = tempfile::tempdir().unwrap();
    let repo_dir = tmp.path().join("cand");
    git_repo(&repo_dir, &[("work", &small_project())]);
    let repo = git2::Repository::open(&repo_dir).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    repo.branch("feature", &head, false).unwrap();
    let out = tmp.path().join("reports");

    let run = grade_static(&repo_dir, &out, &["--ref", "feature"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let [dir] = folders(&out).try_into().unwrap();
    let good = fs::read(dir.join("report.json")).unwrap();

    // A typo in --ref is another ref: its error report has its own folder.
    let run = grade_static(&repo_dir, &out, &["--ref", "featrue"]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(folders(&out).len(), 2);
    assert_eq!(fs::read(dir.join("report.json")).unwrap(), good);

    // The same ref, now gone: the grade fails and is written beside the
    // graded report, which stays as it was, and stderr says so.
    repo.find_branch("feature", git2::BranchType::Local)
        .unwrap()
        .delete()
        .unwrap();
    let run = grade_static(&repo_dir, &out, &["--ref", "feature"]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(fs::read(dir.join("report.json")).unwrap(), good);
    assert!(stderr(&run).contains("was kept"), "{}", stderr(&run));
    let failed: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("report.error.json")).unwrap()).unwrap();
    assert_valid(&failed);
    assert_eq!(failed["status"], "error");
    assert!(
        stdout(&run).contains("report.error.json"),
        "{}",
        stdout(&run)
    );

    // --force does not let a failed grade replace a graded report either.
    let run = grade_static(&repo_dir, &out, &["--ref", "feature", "--force"]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(fs::read(dir.join("report.json")).unwrap(), good);

    // Once the ref is back, the grade replaces the report and the failure's.
    repo.branch("feature", &head, false).unwrap();
    let run = grade_static(&repo_dir, &out, &["--ref", "feature"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(!dir.join("report.error.json").exists());
}

#[test]
fn name_chooses_the_folder_and_another_submission_needs_force() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = (tmp.path().join("one"), tmp.path().join("two"));
    write_tree(&first, &small_project());
    write_tree(&second, &small_project());
    let out = tmp.path().join("reports");

    let run = grade_static(&first, &out, &["--name", "alice"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(folders(&out), vec![out.join("alice")]);
    let report = read_report(&out, "alice");
    assert_eq!(report["submission"]["name"], "alice");
    let good = fs::read(out.join("alice/report.json")).unwrap();

    // Another submission under the same name is refused before any work.
    let run = grade_static(&second, &out, &["--name", "alice"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("--force"), "{}", stderr(&run));
    assert_eq!(fs::read(out.join("alice/report.json")).unwrap(), good);

    let run = grade_static(&second, &out, &["--name", "alice", "--force"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let report = read_report(&out, "alice");
    assert!(
        report["submission"]["source"]
            .as_str()
            .unwrap()
            .ends_with("two"),
        "{}",
        report["submission"]
    );

    for bad in ["../escape", ".hidden", "a b"] {
        let run = grade_static(&first, &out, &["--name", bad]);
        assert_eq!(run.status.code(), Some(2), "--name {bad}");
    }
    assert_eq!(folders(&out), vec![out.join("alice")]);
}

#[test]
fn printing_into_a_closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("cand");
    write_tree(&sub, &small_project());
    let out = tmp.path().join("reports");
    let run = grade_static(&sub, &out, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let report = report_dir(&out, "cand").join("report.json");

    let closed = |args: &[&std::ffi::OsStr]| {
        // The reader is gone before the first write, as when `head -1` has
        // exited: every write meets a broken pipe.
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_assay"))
            .env("ASSAY_HOME", env!("CARGO_MANIFEST_DIR"))
            .env_remove("ASSAY_CONFIG")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        child.wait_with_output().unwrap()
    };
    for format in ["html", "markdown"] {
        let render = closed(&[
            "render".as_ref(),
            report.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
            "--out".as_ref(),
            "-".as_ref(),
        ]);
        assert_eq!(
            render.status.code(),
            Some(0),
            "{format}: {}",
            stderr(&render)
        );
        assert!(stderr(&render).is_empty(), "{format}: {}", stderr(&render));
    }
    for args in [
        vec!["checks"],
        vec!["schema"],
        vec!["explain", "dbt.contract_models"],
        vec!["exercises"],
        vec!["--help"],
        vec!["grade", "--help"],
    ] {
        let os: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        let run = closed(&os);
        assert_eq!(run.status.code(), Some(0), "{args:?}: {}", stderr(&run));
        assert!(stderr(&run).is_empty(), "{args:?}: {}", stderr(&run));
    }
    // A grade still writes its report and exits with its own code.
    let grade = closed(&[
        "grade".as_ref(),
        sub.as_os_str(),
        "--no-exec".as_ref(),
        "--fail-under".as_ref(),
        "99".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(grade.status.code(), Some(1), "{}", stderr(&grade));

    // And as a shell pipeline reads it: assay's own status, not head's.
    for pipeline in [
        r#""$0" render "$1" --format html --out - | head -1"#,
        r#""$0" render "$1" --format markdown --out - | head -1"#,
        r#""$0" checks | head -1"#,
    ] {
        let piped = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -o pipefail; {pipeline}; status=$?; echo \"exit $status\" >&2"
            ))
            .arg(env!("CARGO_BIN_EXE_assay"))
            .arg(&report)
            .env("ASSAY_HOME", env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert_eq!(stdout(&piped).lines().count(), 1, "{pipeline}");
        assert_eq!(stderr(&piped), "exit 0\n", "{pipeline}");
    }
}

#[test]
fn reports_are_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("cand");
    write_tree(&sub, &small_project());
    let out = tmp.path().join("reports");
    // The usual umask, whatever the test runner's is.
    let run = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"umask 022 && exec "$0" grade "$1" --no-exec --format json,html,markdown,junit --out "$2""#)
        .arg(env!("CARGO_BIN_EXE_assay"))
        .arg(&sub)
        .arg(&out)
        .env("ASSAY_HOME", env!("CARGO_MANIFEST_DIR"))
        .env_remove("ASSAY_CONFIG")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = report_dir(&out, "cand");
    assert_eq!(mode(&dir), 0o755);
    let files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        assert_eq!(mode(&file), 0o644, "{}", file.display());
    }
}

#[test]
fn a_folder_that_is_not_a_submission_is_refused_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    // Words of the exercise in prose and comments are not a dbt project or a DAG.
    let unrelated = tmp.path().join("unrelated");
    write_tree(
        &unrelated,
        &[
            ("README.md", "# My dbt and Airflow notes\n"),
            ("etl.py", "# airflow would go here\nimport os\n"),
            ("models/m.sql", "select 1\n"),
        ],
    );
    let out = tmp.path().join("reports");
    for (name, found) in [
        ("empty", "the source holds no files"),
        (
            "unrelated",
            "among its 3 file(s): README.md, etl.py, models/m.sql",
        ),
    ] {
        let run = grade_static(&tmp.path().join(name), &out, &[]);
        assert_eq!(run.status.code(), Some(2), "{name}: {}", stdout(&run));
        let text = stdout(&run);
        assert!(text.contains("NOT GRADED: not a submission of the marketplace-elt exercise: expected a dbt project (dbt_project.yml"), "{text}");
        assert!(
            text.contains("an Airflow DAG (a Python file that imports airflow, like the starter's dags/marketplace_elt.py); found neither"),
            "{text}"
        );
        assert!(text.contains(found), "{name}: {text}");
        assert!(
            !text.contains("Overall"),
            "a refused grade shows no score: {text}"
        );
        // The refusal is a report like any other failure of the grader.
        let report = read_report(&out, name);
        assert_eq!(report["status"], "error");
        assert!(report["error"].as_str().unwrap().contains(found));
        assert_eq!(report["dimensions"], serde_json::json!([]));
        assert_eq!(report["overall"]["score"], serde_json::Value::Null);
        assert!(report_dir(&out, name).join("report.html").is_file());
    }
}

#[test]
fn a_dbt_project_alone_or_a_dag_alone_is_graded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reports");
    let project = small_project();
    let dbt_only: Vec<_> = project
        .iter()
        .filter(|(p, _)| !p.starts_with("dags/"))
        .copied()
        .collect();
    write_tree(&tmp.path().join("dbt-only"), &dbt_only);
    write_tree(
        &tmp.path().join("dag-only"),
        &[("dags/marketplace_elt.py", "from airflow import DAG\n")],
    );
    for name in ["dbt-only", "dag-only"] {
        let run = grade_static(&tmp.path().join(name), &out, &[]);
        assert_eq!(run.status.code(), Some(0), "{name}: {}", stdout(&run));
        assert_eq!(read_report(&out, name)["status"], "graded", "{name}");
    }
}

#[test]
fn a_refused_grade_never_replaces_a_graded_report() {
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("cand");
    write_tree(&sub, &small_project());
    let out = tmp.path().join("reports");
    let run = grade_static(&sub, &out, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let dir = report_dir(&out, "cand");
    let good = fs::read(dir.join("report.json")).unwrap();

    // The candidate's folder emptied (a bad export, a wrong path mounted).
    fs::remove_dir_all(&sub).unwrap();
    fs::create_dir_all(&sub).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let run = grade_static(&sub, &out, extra);
        assert_eq!(run.status.code(), Some(2), "{extra:?}");
        assert_eq!(
            fs::read(dir.join("report.json")).unwrap(),
            good,
            "{extra:?}"
        );
        assert!(stderr(&run).contains("was kept"), "{}", stderr(&run));
        let refused: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("report.error.json")).unwrap())
                .unwrap();
        assert_valid(&refused);
        assert!(refused["error"]
            .as_str()
            .unwrap()
            .starts_with("not a submission"));
    }
}

/// Two dbt projects: `a/` with one model, `warehouse/` with the candidate's
/// two models, and a DAG.
fn two_projects(dir: &Path) {
    let mut files: Vec<(String, String)> = small_project()
        .into_iter()
        .map(|(p, c)| {
            let p = if p.starts_with("dags/") || p == "README.md" {
                p.to_string()
            } else {
                format!("warehouse/{p}")
            };
            (p, c.to_string())
        })
        .collect();
    files.push((
        "a/dbt_project.yml".into(),
        "name: scratch\nprofile: scratch\n".into(),
    ));
    files.push(("a/models/scratch.sql".into(), "select 1 as x\n".into()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    write_tree(dir, &refs);
}

#[test]
fn with_several_dbt_projects_the_graded_one_is_named_and_project_chooses() {
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("multi");
    two_projects(&sub);
    let out = tmp.path().join("reports");

    let run = grade_static(&sub, &out, &["--format", "json,html,markdown"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let line = "dbt project graded: warehouse/dbt_project.yml (also found: a/dbt_project.yml; --project chooses another)";
    assert!(stdout(&run).contains(line), "{}", stdout(&run));
    let report = read_report(&out, "multi");
    assert_eq!(
        report["inventory"]["graded_project"],
        "warehouse/dbt_project.yml"
    );
    assert_eq!(
        report["inventory"]["dbt_projects"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let dir = report_dir(&out, "multi");
    for (file, named) in [
        (
            "report.html",
            "dbt project graded: warehouse/dbt_project.yml",
        ),
        (
            "report.md",
            r"dbt project graded: warehouse/dbt\_project.yml",
        ),
    ] {
        let text = fs::read_to_string(dir.join(file)).unwrap();
        assert!(text.contains(named), "{file}");
    }
    let contract = criterion(&report, "dbt.contract_models")["earned"].as_f64();

    // --project grades the other one, and only it.
    let run = grade_static(&sub, &out, &["--project", "a"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(
        stdout(&run).contains(
            "dbt project graded: a/dbt_project.yml (also found: warehouse/dbt_project.yml"
        ),
        "{}",
        stdout(&run)
    );
    let report = read_report(&out, "multi");
    assert_eq!(report["inventory"]["graded_project"], "a/dbt_project.yml");
    assert!(
        criterion(&report, "dbt.contract_models")["earned"].as_f64() < contract,
        "the contract models of warehouse/ no longer count"
    );
    let graded = fs::read(dir.join("report.json")).unwrap();

    // A project that is not there: refused, naming the ones that are.
    let run = grade_static(&sub, &out, &["--project", "dbt"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stdout(&run).contains("`--project dbt` names no dbt project of the submission; its dbt projects: a/dbt_project.yml, warehouse/dbt_project.yml"),
        "{}",
        stdout(&run)
    );
    assert_eq!(fs::read(dir.join("report.json")).unwrap(), graded);
}

#[test]
fn a_mistyped_check_or_exercise_gets_the_closest_names() {
    let out = assay()
        .args(["explain", "dbt.payment_dedup"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no check `dbt.payment_dedup`. Did you mean `dbt.payments_dedup`?"),
        "{}",
        stderr(&out)
    );
    let out = assay()
        .args(["explain", "nothing.like.it"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("Did you mean"), "{}", stderr(&out));

    let tmp = tempfile::tempdir().unwrap();
    write_tree(tmp.path(), &small_project());
    let run = grade_static(
        tmp.path(),
        &tmp.path().join("reports"),
        &["--exercise", "marketplace-etl"],
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("Did you mean `marketplace-elt`?"),
        "{}",
        stderr(&run)
    );
}

#[test]
fn exercises_lists_the_packs() {
    let run = assay().arg("exercises").output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let text = stdout(&run);
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("marketplace-elt"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("Marketplace ELT"), "{line}");
    assert!(!line.contains("no fixtures"), "{line}");

    let home = tempfile::tempdir().unwrap();
    let run = assay()
        .env("ASSAY_HOME", home.path())
        .arg("exercises")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("ASSAY_HOME"), "{}", stderr(&run));
}

/// Doctor's lines: `<ok|missing> <name> <detail>`, with or without an engine.
fn doctor_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (state, rest) = l.split_once(' ')?;
            ["ok", "missing"].contains(&state).then(|| {
                let name = rest.trim_start();
                let name = [
                    "packs",
                    "docker engine",
                    "runner image",
                    "debootstrap",
                    "root",
                    "data cache",
                    "chromium",
                    "rubric",
                ]
                .into_iter()
                .find(|n| name.starts_with(n))
                .unwrap_or("?");
                (state.to_string(), name.to_string())
            })
        })
        .collect()
}

#[test]
fn doctor_reports_every_prerequisite_on_its_own_line() {
    let run = assay().arg("doctor").output().unwrap();
    let text = stdout(&run);
    let lines = doctor_lines(&text);
    // One line per prerequisite, one per runner image and one per exercise's rubric.
    let mut names: Vec<&str> = lines.iter().map(|(_, n)| n.as_str()).collect();
    names.dedup();
    assert_eq!(
        names,
        [
            "packs",
            "docker engine",
            "runner image",
            "debootstrap",
            "root",
            "data cache",
            "chromium",
            "rubric"
        ],
        "{text}"
    );
    // Every line is a prerequisite line, then the verdict that the exit code repeats.
    let all: Vec<&str> = text.lines().collect();
    assert_eq!(all.len(), lines.len() + 1, "{text}");
    let verdict = all.last().unwrap();
    match run.status.code() {
        Some(0) => assert_eq!(*verdict, "ready for executed grades"),
        Some(2) => assert!(
            verdict.starts_with("not ready for executed grades: "),
            "{text}"
        ),
        other => panic!("doctor exited {other:?}: {text}"),
    }
    let rubric = text
        .lines()
        .find(|l| l.contains("marketplace-elt: parses"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(rubric.starts_with("ok "), "{rubric}");
    assert!(
        text.lines()
            .any(|l| l.contains("chromium") && l.contains("browser test")),
        "{text}"
    );
}

#[test]
fn doctor_fails_on_a_broken_rubric_whatever_the_machine() {
    let home = tempfile::tempdir().unwrap();
    write_tree(
        home.path(),
        &[
            ("rubric/marketplace-elt.toml", "version = ["),
            ("fixtures/marketplace-elt/README.md", "# pack\n"),
        ],
    );
    let run = assay()
        .env("ASSAY_HOME", home.path())
        .arg("doctor")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", stdout(&run));
    let text = stdout(&run);
    let rubric = text
        .lines()
        .find(|l| doctor_lines(l).first().is_some_and(|(_, n)| n == "rubric"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(rubric.starts_with("missing "), "{rubric}");
    assert!(rubric.contains("marketplace-elt.toml"), "{rubric}");
    assert!(text.lines().last().unwrap().contains("rubric"), "{text}");
}

#[test]
fn help_explains_the_exit_codes() {
    let run = assay().arg("--help").output().unwrap();
    assert_eq!(run.status.code(), Some(0));
    let text = stdout(&run);
    let codes = text
        .split("Exit codes:")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    for code in [
        "  0  graded",
        "  1  graded, but the overall score is below --fail-under",
        "  2  not graded",
    ] {
        assert!(codes.contains(code), "{code}: {text}");
    }
    for command in ["doctor", "exercises"] {
        assert!(text.contains(command), "{command}: {text}");
    }
}

/// The stage lines of a grade's progress on stderr: `<stage> <elapsed> <detail>`.
fn stage_lines(err: &str) -> Vec<(String, String)> {
    let stages = [
        "acquire",
        "analyse",
        "execute",
        "runner image",
        "data",
        "sandbox",
        "dbt phase 1/3",
        "dbt phase 2/3",
        "dbt phase 3/3",
        "checks",
        "report",
    ];
    err.lines()
        .filter_map(|l| {
            let rest = l.trim_start();
            let stage = stages.iter().find(|s| rest.starts_with(*s))?;
            let after = rest[stage.len()..].trim_start();
            // The elapsed time: `0.1 s`, `42 s` or `3 min 05 s`.
            let (number, unit) = after.split_once(' ')?;
            (number.parse::<f64>().is_ok() && (unit.starts_with("s ") || unit.starts_with("min")))
                .then(|| (stage.to_string(), after.to_string()))
        })
        .collect()
}

#[test]
fn a_grade_shows_its_stages_on_stderr_unless_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("sub");
    write_tree(&sub, &small_project());
    let out = tmp.path().join("out");
    let run = grade_static(&sub, &out, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let err = stderr(&run);
    let stages: Vec<String> = stage_lines(&err).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        stages,
        ["acquire", "analyse", "execute", "checks", "report"],
        "{err}"
    );
    // A pipe gets plain lines: no spinner frames, no carriage returns, no colour.
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    let lines = stage_lines(&err);
    assert!(lines[2].1.contains("--no-exec"), "{err}");
    assert!(lines[3].1.contains("checks: "), "{err}");
    let text = stdout(&run);
    let tail: Vec<&str> = text.lines().rev().take(2).collect();
    assert!(
        tail[1].starts_with("report: ") && tail[1].ends_with("report.html"),
        "{text}"
    );
    assert!(tail[0].starts_with("time: "), "{text}");

    let quiet = grade_static(&sub, &out, &["-q"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(stderr(&quiet), "", "-q prints no progress");
    let text = stdout(&quiet);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("sub-") && lines[0].contains(": overall "),
        "{text}"
    );
    assert!(lines[1].starts_with("report: "), "{text}");
    assert!(lines[2].starts_with("time: "), "{text}");

    let verbose = grade_static(&sub, &out, &["-v"]);
    let text = stdout(&verbose);
    let all = text.find("All checks:").unwrap_or_else(|| panic!("{text}"));
    assert!(
        text[all..].contains("dbt.payments_dedup"),
        "-v lists every check: {text}"
    );
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("sub");
    write_tree(&sub, &small_project());
    let out = tmp.path().join("out");
    let escapes =
        |run: &std::process::Output| (stdout(run).contains('\x1b'), stderr(run).contains('\x1b'));
    let always = assay()
        .env("NO_COLOR", "1")
        .args(["--color", "always", "grade"])
        .arg(&sub)
        .args(["--no-exec", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(always.status.code(), Some(0));
    assert_eq!(escapes(&always), (true, true), "an explicit flag wins");
    assert!(
        stdout(&always).contains("\x1b[1mOverall"),
        "{:?}",
        stdout(&always)
    );
    let never = grade_static(&sub, &out, &["--color", "never"]);
    assert_eq!(escapes(&never), (false, false));
    let no_color = assay()
        .env("NO_COLOR", "1")
        .args(["grade"])
        .arg(&sub)
        .args(["--no-exec", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(escapes(&no_color), (false, false));
    let bad = assay()
        .args(["--color", "sometimes", "checks"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn completions_are_printed_for_a_shell() {
    let run = assay().args(["completions", "bash"]).output().unwrap();
    assert_eq!(run.status.code(), Some(0));
    let script = stdout(&run);
    assert!(script.contains("_assay"), "{script}");
    for word in ["grade", "batch", "doctor", "--no-exec", "--packs"] {
        assert!(script.contains(word), "the script lacks {word}");
    }
    let zsh = assay().args(["completions", "zsh"]).output().unwrap();
    assert!(
        stdout(&zsh).starts_with("#compdef assay"),
        "{}",
        stdout(&zsh)
    );
    let none = assay().args(["completions", "cmd"]).output().unwrap();
    assert_eq!(none.status.code(), Some(2));
}

/// An installed assay: its binary copied away from the build, run from
/// another folder with no ASSAY_HOME, its cache in a folder of the test's.
fn installed(bin: &Path, cwd: &Path, cache: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin);
    cmd.current_dir(cwd)
        .env_remove("ASSAY_HOME")
        .env_remove("ASSAY_CONFIG")
        .env("XDG_CACHE_HOME", cache);
    cmd
}

#[test]
fn an_installed_binary_grades_with_its_embedded_packs_from_anywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin/assay");
    fs::create_dir_all(bin.parent().unwrap()).unwrap();
    fs::copy(env!("CARGO_BIN_EXE_assay"), &bin).unwrap();
    let cwd = tmp.path().join("elsewhere");
    let cache = tmp.path().join("cache");
    fs::create_dir_all(&cwd).unwrap();
    let strong = repo_root().join("reference-solutions/marketplace-elt/strong");

    let run = installed(&bin, &cwd, &cache)
        .arg("grade")
        .arg(&strong)
        .args(["--no-exec", "--name", "strong"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    // The report lands under the working folder, graded against the packs
    // unpacked into the cache: the rubric's bytes, not the source tree's path.
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(cwd.join("reports/strong/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["status"], "graded");
    assert_eq!(report["rubric"]["path"], "rubric/marketplace-elt.toml");
    let unpacked: Vec<PathBuf> = fs::read_dir(cache.join("assay/packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(unpacked.len(), 1, "{unpacked:?}");
    let rubric = unpacked[0].join("rubric/marketplace-elt.toml");
    assert_eq!(
        fs::read(&rubric).unwrap(),
        fs::read(repo_root().join("rubric/marketplace-elt.toml")).unwrap()
    );
    assert!(unpacked[0]
        .join("fixtures/marketplace-elt/hidden-checks.toml")
        .is_file());

    // The embedded packs are what is read: break the unpacked rubric and the
    // same binary fails on it, while the source tree's is intact.
    fs::write(&rubric, "version = [").unwrap();
    let broken = installed(&bin, &cwd, &cache)
        .arg("grade")
        .arg(&strong)
        .args(["--no-exec", "--name", "broken"])
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(2), "{}", stderr(&broken));
    assert!(
        stderr(&broken).contains(&rubric.display().to_string()),
        "{}",
        stderr(&broken)
    );
    fs::remove_dir_all(&unpacked[0]).unwrap();

    // --packs chooses other packs: an empty folder is refused, saying where it looked.
    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let refused = installed(&bin, &cwd, &cache)
        .args(["--packs"])
        .arg(&empty)
        .arg("grade")
        .arg(&strong)
        .args(["--no-exec", "--name", "none"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let err = stderr(&refused);
    assert!(
        err.contains(
            &empty
                .join("rubric/marketplace-elt.toml")
                .display()
                .to_string()
        ) && err.contains("--packs"),
        "{err}"
    );
    let missing = installed(&bin, &cwd, &cache)
        .args(["--packs", "/nonexistent/packs", "exercises"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/packs: no such folder"));

    // doctor names the packs in use.
    let doctor = installed(&bin, &cwd, &cache)
        .arg("doctor")
        .output()
        .unwrap();
    let packs = stdout(&doctor)
        .lines()
        .find(|l| l.contains("packs "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{}", stdout(&doctor)));
    assert!(
        packs.starts_with("ok ") && packs.contains("embedded"),
        "{packs}"
    );
    let doctor = installed(&bin, &cwd, &cache)
        .env("ASSAY_HOME", repo_root())
        .arg("doctor")
        .output()
        .unwrap();
    assert!(
        stdout(&doctor).contains("(from ASSAY_HOME)"),
        "{}",
        stdout(&doctor)
    );
}

/// Checks another exercise's rubric scores are neither errors nor work left
/// undone here: the marketplace strong solution has no failing check, and the
/// aviation one no check "could not be decided".
#[test]
fn checks_the_exercise_does_not_score_are_not_applicable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (solution, exercise) in [
        ("marketplace-elt/strong", "marketplace-elt"),
        ("aviationstack-screening/strong", "aviationstack-screening"),
    ] {
        let out = tempfile::tempdir().unwrap();
        let run = grade_static(
            &root.join("reference-solutions").join(solution),
            out.path(),
            &["--exercise", exercise, "--name", "s"],
        );
        assert!(run.status.success(), "{}", stderr(&run));
        let report = read_report(out.path(), "s");
        for c in report["checks"].as_array().unwrap() {
            let kind = c["outcome"]["kind"].as_str().unwrap_or("");
            let id = c["check"].as_str().unwrap();
            assert!(
                kind != "error" && kind != "not_attempted",
                "{exercise}: {id} is {kind}: {}",
                c["summary"]
            );
        }
        let code = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "code.sql_values_in_text")
            .unwrap();
        let expected = if exercise == "marketplace-elt" {
            "not_applicable"
        } else {
            "pass"
        };
        assert_eq!(code["outcome"]["kind"], expected, "{exercise}: {code}");
    }
}
