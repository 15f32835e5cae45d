//! Runs the aviationstack-screening pack's hidden tests (pytest, with the
//! scripted AviationStack mock on the sandbox's loopback and the DuckDB
//! stand-in for Snowflake) against its reference solutions, for real, in the
//! locked-down sandbox. Needs a running Docker engine (and builds the pytest
//! runner image when missing). Each solution's `expected.toml` lists the
//! hidden tests it must pass and fail: the mock's every scenario (pages,
//! missing fields, API error objects, 429 and 5xx, a slow response, malformed
//! JSON) is measured against code that handles it and code that does not.

mod common;

use assay::execute::docker;
use assay::execute::image::{ensure_pytest_image, PYTEST_VENV};
use assay::execute::workloads::python_tests::{self, TestOutcome, TestsSpec, TestsStatus};
use assay::execute::{Progress, RunnerConfig, Sandbox, SandboxLimits};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(serde::Deserialize)]
struct Expected {
    hidden: ExpectedHidden,
}

#[derive(serde::Deserialize)]
struct ExpectedHidden {
    pass: Vec<String>,
    fail: Vec<String>,
}

async fn run_solution(image: &str, name: &str) -> python_tests::TestsFacts {
    let solution = root()
        .join("reference-solutions/aviationstack-screening")
        .join(name);
    let mut sandbox = Sandbox::start_with(
        image,
        &format!("{PYTEST_VENV}/bin/python"),
        &SandboxLimits::default(),
    )
    .await
    .expect("the sandbox starts");
    sandbox
        .upload_project(&solution, &[])
        .await
        .expect("the solution uploads");
    let facts = python_tests::run(
        &mut sandbox,
        &TestsSpec {
            name: "hidden",
            hidden_dir: &root().join("fixtures/aviationstack-screening/hidden"),
            timeout_secs: 240,
            clock: Some("2026-03-01T06:00:00Z".into()),
        },
    )
    .await
    .expect("the grader's machinery works");
    sandbox.finish().await.expect("the sandbox is removed");
    facts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_tests_measure_each_reference_solution_as_its_calibration_says() {
    let engine = docker::connect().await.expect("a Docker engine");
    let image = ensure_pytest_image(&RunnerConfig::default(), &Progress::quiet())
        .await
        .expect("the pytest runner image");
    for name in ["strong", "weak", "adequate", "keyword-stuffer"] {
        let expected: Expected = toml::from_str(
            &std::fs::read_to_string(
                root()
                    .join("reference-solutions/aviationstack-screening")
                    .join(name)
                    .join("expected.toml"),
            )
            .unwrap(),
        )
        .unwrap();
        let facts = run_solution(&image, name).await;
        assert_eq!(
            facts.status,
            TestsStatus::Completed,
            "{name}: {}",
            facts.console_tail
        );
        let passed: BTreeSet<&str> = facts
            .tests
            .iter()
            .filter(|t| t.outcome == TestOutcome::Passed)
            .map(|t| t.id.as_str())
            .collect();
        let failed: BTreeSet<&str> = facts
            .tests
            .iter()
            .filter(|t| matches!(t.outcome, TestOutcome::Failed | TestOutcome::Error))
            .map(|t| t.id.as_str())
            .collect();
        let want_pass: BTreeSet<&str> = expected.hidden.pass.iter().map(String::as_str).collect();
        let want_fail: BTreeSet<&str> = expected.hidden.fail.iter().map(String::as_str).collect();
        assert_eq!(passed, want_pass, "{name}: passed\n{}", facts.console_tail);
        assert_eq!(failed, want_fail, "{name}: failed\n{}", facts.console_tail);
        // A failing hidden test says what it measured and what was expected.
        for t in facts
            .tests
            .iter()
            .filter(|t| t.outcome == TestOutcome::Failed)
        {
            assert!(
                t.message.is_some(),
                "{name}: {} failed without a message",
                t.id
            );
        }
        if name == "weak" {
            let pages = facts
                .outcome("test_aviation_stack.py::test_fetches_every_page_once")
                .expect("the pagination test ran");
            assert!(
                pages.measured.is_some() && pages.expected.is_some(),
                "the pagination test names the requests it saw: {:?}",
                pages.message
            );
        }
    }
    // Nothing of these runs is left on the shared engine.
    let left = docker::list_run_containers(&engine, docker::run_id())
        .await
        .unwrap();
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

#[derive(serde::Deserialize)]
struct Review {
    issue: Vec<PlantedIssue>,
}

#[derive(serde::Deserialize)]
struct PlantedIssue {
    file: String,
    anchor: String,
    severity: String,
    title: String,
    #[serde(default)]
    verified_by: Vec<String>,
}

/// A candidate who names every planted issue at its line but fixes none gets
/// the review's credit and no fix credit: the hidden tests that prove each
/// fix run the unchanged code and fail. Graded as a user would, with the
/// binary and execution.
#[test]
fn review_comments_without_fixes_earn_no_fix_credit() {
    let root = root();
    let pack = root.join("fixtures/aviationstack-screening");
    let review: Review =
        toml::from_str(&std::fs::read_to_string(pack.join("review.toml")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("comments-only");
    copy_tree(&pack.join("starter"), &sub);
    // The extraction is done well, so only the review's own credit is in play.
    std::fs::copy(
        root.join("reference-solutions/aviationstack-screening/strong/src/aviation_stack.py"),
        sub.join("src/aviation_stack.py"),
    )
    .unwrap();
    for issue in &review.issue {
        let path = sub.join(&issue.file);
        let text = std::fs::read_to_string(&path).unwrap();
        let at = text
            .find(&issue.anchor)
            .expect("the anchor is in the starter");
        let line_start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let indent: String = text[line_start..]
            .chars()
            .take_while(|c| *c == ' ')
            .collect();
        let comment = format!(
            "{indent}# REVIEW ({}): {}. Not fixed here.\n",
            issue.severity, issue.title
        );
        std::fs::write(
            &path,
            format!("{}{comment}{}", &text[..line_start], &text[line_start..]),
        )
        .unwrap();
    }
    let out = dir.path().join("reports");
    let run = common::assay()
        .args(["grade"])
        .arg(&sub)
        .args([
            "--exercise",
            "aviationstack-screening",
            "--name",
            "comments-only",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = common::read_report(&out, "comments-only");
    let critical = common::criterion(&report, "review.critical_issues_found");
    assert_eq!(critical["outcome"]["kind"], "pass", "{critical}");
    let tests = report["execution"]["hidden_tests"].as_array().unwrap();
    let fix_tests: Vec<&String> = review.issue.iter().flat_map(|i| &i.verified_by).collect();
    assert!(fix_tests.len() >= 5, "{fix_tests:?}");
    for id in fix_tests {
        let t = tests
            .iter()
            .find(|t| t["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} ran"));
        assert_ne!(t["outcome"], "passed", "{id} passed on unfixed code");
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A submission whose module exhausts memory as the hidden tests import it,
/// and whose DAG closes a cycle: both are the submission's failures, named in
/// the report (pytest killed; Airflow's own cycle message), never errors of
/// the grader that would take the criteria out of the score.
#[test]
fn a_memory_bomb_fails_the_hidden_tests_and_a_cycle_fails_the_dag_load() {
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("bomb-and-cycle");
    copy_tree(
        &root.join("reference-solutions/aviationstack-screening/strong"),
        &sub,
    );
    std::fs::write(
        sub.join("src/aviation_stack.py"),
        "blob = []\nwhile True:\n    blob.append(bytearray(50 << 20))\n",
    )
    .unwrap();
    let dag = sub.join("dags/flight_data.py");
    let text = std::fs::read_to_string(&dag).unwrap();
    let chain = "extract >> upload >> load >> quality >> run_dbt";
    assert!(
        text.contains(chain),
        "the strong DAG's chain is where it was"
    );
    std::fs::write(&dag, text.replace(chain, &format!("{chain} >> extract"))).unwrap();
    let out = dir.path().join("reports");
    let run = common::assay()
        .args(["grade"])
        .arg(&sub)
        .args([
            "--exercise",
            "aviationstack-screening",
            "--name",
            "bomb",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let report = common::read_report(&out, "bomb");
    assert_eq!(
        report["status"],
        "graded",
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for check in [
        "exec.hidden_tests_correctness",
        "exec.hidden_tests_resilience",
        "exec.hidden_tests_safety",
    ] {
        let c = common::criterion(&report, check);
        assert_eq!(c["outcome"]["kind"], "fail", "{c}");
        assert!(c["summary"].as_str().unwrap().contains("ended"), "{c}");
    }
    let dag = common::criterion(&report, "exec.dag_loads");
    assert_eq!(dag["outcome"]["kind"], "fail", "{dag}");
    assert!(dag.to_string().contains("Cycle detected"), "{dag}");
    // the rubric's overall gate: a DAG Airflow cannot load never runs
    let overall = report["overall"]["band"].as_u64().unwrap();
    assert!(
        overall <= 2,
        "overall band {overall}: {}",
        report["overall"]
    );
}
