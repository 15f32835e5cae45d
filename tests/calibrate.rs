//! `assay calibrate`: the reference solutions land in the bands their
//! expected.toml allows, in the right order; a rubric change that moves one out
//! of its band fails with a readable table.

mod common;

use std::fs;

use common::*;

#[test]
fn the_reference_solutions_land_in_their_bands() {
    let out = tempfile::tempdir().unwrap();
    let run = assay()
        .args(["calibrate", "--no-exec", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let table = stdout(&run);
    assert_eq!(
        run.status.code(),
        Some(0),
        "calibration drifted:\n{table}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for name in ["starter", "weak", "adequate", "strong", "keyword-stuffer"] {
        assert!(table.lines().next().unwrap().contains(name), "{table}");
    }
    assert!(table.contains("no drift"));
}

/// With the submissions executed: the hidden checks each expected.toml lists
/// per phase pass (or, under `phaseN_fail`, do not), on top of the bands.
#[test]
fn executed_reference_solutions_pass_their_hidden_checks_and_bands() {
    let out = tempfile::tempdir().unwrap();
    let run = assay()
        .args(["calibrate", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let table = stdout(&run);
    assert_eq!(
        run.status.code(),
        Some(0),
        "calibration drifted:\n{table}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let strong: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.path().join("strong/report.json")).unwrap())
            .unwrap();
    let hidden = strong["execution"]["hidden_checks"]
        .as_array()
        .expect("strong was executed");
    assert!(hidden.len() >= 3 * 30, "{} hidden check runs", hidden.len());
    assert!(hidden.iter().all(|h| h["outcome"]["kind"] == "pass"));
}

/// The second exercise, executed as a user would calibrate it: its hidden
/// Python tests run in the sandbox against each reference solution (each
/// solution's `[hidden] pass/fail` lists must hold), its DAGs load in
/// Airflow, and every solution lands in its bands in the right order (the
/// keyword-stuffer at or below weak in every dimension).
#[test]
fn the_aviation_exercise_calibrates_when_executed() {
    let out = tempfile::tempdir().unwrap();
    let run = assay()
        .args([
            "calibrate",
            "--exercise",
            "aviationstack-screening",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    let table = stdout(&run);
    assert_eq!(
        run.status.code(),
        Some(0),
        "calibration drifted:\n{table}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let strong: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.path().join("strong/report.json")).unwrap())
            .unwrap();
    let tests = strong["execution"]["hidden_tests"]
        .as_array()
        .expect("strong's hidden tests ran");
    assert!(tests.len() >= 30, "{} hidden tests", tests.len());
    assert!(tests.iter().all(|t| t["outcome"] == "passed"), "{tests:?}");
}

#[test]
fn moving_points_and_a_bar_so_strong_drops_a_band_is_drift() {
    let home = tempfile::tempdir().unwrap();
    let root = repo_root();
    fs::create_dir_all(home.path().join("rubric")).unwrap();
    std::os::unix::fs::symlink(root.join("fixtures"), home.path().join("fixtures")).unwrap();
    std::os::unix::fs::symlink(
        root.join("reference-solutions"),
        home.path().join("reference-solutions"),
    )
    .unwrap();
    // Weigh tool choices heavily and ask for far more statements on them than
    // the strong write-up gives: its System Design must drop a band.
    let rubric = fs::read_to_string(root.join("rubric/marketplace-elt.toml")).unwrap();
    let at = rubric
        .find("check = \"docs.tool_choices\"")
        .expect("the rubric scores docs.tool_choices");
    let points = at + rubric[at..].find("points").unwrap();
    let eol = points + rubric[points..].find('\n').unwrap();
    let changed = format!("{}points = 60{}", &rubric[..points], &rubric[eol..]);
    let bar = at + changed[at..].find("min_statements").unwrap();
    let eol = bar + changed[bar..].find('\n').unwrap();
    let changed = format!("{}min_statements = 60{}", &changed[..bar], &changed[eol..]);
    fs::write(home.path().join("rubric/marketplace-elt.toml"), changed).unwrap();

    let run = assay()
        .env("ASSAY_HOME", home.path())
        .args(["calibrate", "--no-exec", "--out"])
        .arg(home.path().join("out"))
        .output()
        .unwrap();
    let table = stdout(&run);
    assert_eq!(run.status.code(), Some(1), "{table}");
    assert!(table.contains("DRIFT:"), "{table}");
    assert!(
        table.contains("strong: system_design landed in band"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("System Design") && l.contains('✗')),
        "{table}"
    );
}

/// Tried as a new user would: the strong code with its README replaced by a
/// concise T1-T8 findings table and a short operations section, a work log in
/// `notes.txt` and the profiling SQL in `analyses/`, graded as a folder.
fn grade_overlay(readme: &str, notes: Option<&str>) -> serde_json::Value {
    let src = tempfile::tempdir().unwrap();
    let root = repo_root();
    copy_tree(
        &root.join("reference-solutions/marketplace-elt/strong"),
        src.path(),
    );
    fs::remove_file(src.path().join("expected.toml")).unwrap();
    fs::write(src.path().join("README.md"), readme).unwrap();
    if let Some(notes) = notes {
        fs::write(src.path().join("notes.txt"), notes).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let run = assay()
        .args([
            "grade",
            src.path().to_str().unwrap(),
            "--no-exec",
            "--name",
            "s",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}\n{}",
        stdout(&run),
        String::from_utf8_lossy(&run.stderr)
    );
    read_report(out.path(), "s")
}

fn band(report: &serde_json::Value, dim: &str) -> (u64, f64) {
    let d = report["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == dim)
        .unwrap();
    (d["band"].as_u64().unwrap(), d["score"].as_f64().unwrap())
}

#[test]
fn a_findings_table_with_profiling_and_a_work_log_is_problem_solving_band_3_or_4() {
    let dir = repo_root().join("fixtures/docs/table-writeup");
    let readme = fs::read_to_string(dir.join("README.md")).unwrap();
    let notes = fs::read_to_string(dir.join("notes.txt")).unwrap();
    let report = grade_overlay(&readme, Some(&notes));
    let (ps, ps_score) = band(&report, "problem_solving");
    assert!(ps >= 3, "Problem-Solving band {ps} ({ps_score})");
    let (sd, sd_score) = band(&report, "system_design");
    assert!(sd >= 3, "System Design band {sd} ({sd_score})");
    // Every trap of the table is read as explained, and nobody asks about it.
    let traps = report["traps"].as_array().unwrap();
    assert_eq!(traps.len(), 8);
    for t in traps {
        assert_eq!(t["found"], "yes", "{t}");
    }
    let writeups = criterion(&report, "docs.trap_writeups");
    assert_eq!(writeups["outcome"]["kind"], "pass", "{writeups}");
    assert!(
        !report["followups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["check"] == "docs.trap_writeups" || q["check"] == "history.work_log"),
        "{}",
        report["followups"]
    );
    let log = criterion(&report, "history.work_log");
    assert_eq!(log["outcome"]["kind"], "pass", "{log}");
    assert!(log["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["file"] == "notes.txt"));

    // The same code with the keyword-stuffer's README and no notes: the
    // buzzwords earn no Problem-Solving or write-up credit.
    let stuffed = fs::read_to_string(
        repo_root().join("reference-solutions/marketplace-elt/keyword-stuffer/README.md"),
    )
    .unwrap();
    let report = grade_overlay(&stuffed, None);
    let (_, stuffed_ps) = band(&report, "problem_solving");
    assert!(stuffed_ps < ps_score, "{stuffed_ps} vs {ps_score}");
    assert_ne!(
        criterion(&report, "docs.trap_writeups")["outcome"]["kind"],
        "pass"
    );
    // Its design paragraph is a list; only a claim the strong code bears out
    // ("incremental models with unique_key", under Pipeline) may count.
    for topic in [
        "docs.monitoring",
        "docs.schema_evolution",
        "docs.tool_choices",
    ] {
        assert_eq!(
            criterion(&report, topic)["outcome"]["kind"],
            "fail",
            "{topic}"
        );
    }
}
