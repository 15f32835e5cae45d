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

#[test]
fn moving_points_so_strong_drops_a_band_is_drift() {
    let home = tempfile::tempdir().unwrap();
    let root = repo_root();
    fs::create_dir_all(home.path().join("rubric")).unwrap();
    std::os::unix::fs::symlink(root.join("fixtures"), home.path().join("fixtures")).unwrap();
    std::os::unix::fs::symlink(
        root.join("reference-solutions"),
        home.path().join("reference-solutions"),
    )
    .unwrap();
    // The strong write-up is thinnest on tool choices: weigh that criterion heavily.
    let rubric = fs::read_to_string(root.join("rubric/marketplace-elt.toml")).unwrap();
    let at = rubric
        .find("check = \"docs.tool_choices\"")
        .expect("the rubric scores docs.tool_choices");
    let points = at + rubric[at..].find("points").unwrap();
    let eol = points + rubric[points..].find('\n').unwrap();
    let changed = format!("{}points = 60{}", &rubric[..points], &rubric[eol..]);
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
