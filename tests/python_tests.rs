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
    run_submission(
        image,
        &root()
            .join("reference-solutions/aviationstack-screening")
            .join(name),
    )
    .await
    .0
}

/// The facts, and the id of the container they ran in.
async fn run_submission(
    image: &str,
    solution: &std::path::Path,
) -> (python_tests::TestsFacts, String) {
    let mut sandbox = Sandbox::start_with(
        image,
        &format!("{PYTEST_VENV}/bin/python"),
        &SandboxLimits::default(),
    )
    .await
    .expect("the sandbox starts");
    let id = sandbox.container_id().unwrap_or_default().to_string();
    sandbox
        .upload_project(solution, &[])
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
    (facts, id)
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
/// the report (the process importing the module killed; Airflow's own cycle
/// message), never errors of the grader that would take the criteria out of
/// the score. The module is imported in a child of the tests, never in
/// pytest, so the kill costs the tests that need that module and no other.
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
        assert!(
            matches!(c["outcome"]["kind"].as_str(), Some("fail" | "partial")),
            "{c}"
        );
        let text = c.to_string();
        assert!(
            text.contains("src.aviation_stack could not be imported") && text.contains("SIGKILL"),
            "{c}"
        );
    }
    // Every one of its tests calls fetch_flights.
    let resilience = common::criterion(&report, "exec.hidden_tests_resilience");
    assert_eq!(resilience["outcome"]["kind"], "fail", "{resilience}");
    let tests = report["execution"]["hidden_tests"].as_array().unwrap();
    for t in tests {
        if t["id"]
            .as_str()
            .unwrap()
            .starts_with("test_aviation_stack.py::")
        {
            assert_ne!(t["outcome"], "passed", "{t}");
        }
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

/// What a module of the weak solution does at import to forge passes.
const FORGERIES: &[(&str, &str)] = &[
    // (a) rewrite pytest's reporting and the harness's verdicts.
    (
        "patch",
        r#"
try:
    import pytest, _pytest.outcomes, _pytest.reports
    _orig_init = _pytest.reports.TestReport.__init__
    def _passed(self, *a, **k):
        _orig_init(self, *a, **k)
        self.outcome, self.longrepr = "passed", None
    _pytest.reports.TestReport.__init__ = _passed
    pytest.fail = _pytest.outcomes.fail = lambda *a, **k: None
    import _harness
    _harness.expect = lambda *a, **k: None
except BaseException:
    pass
for _mod in list(_sys.modules.values()):
    if getattr(_mod, "__name__", "") in ("_harness", "conftest", "test_aviation_stack"):
        try:
            _mod.expect = lambda *a, **k: None
        except BaseException:
            pass
"#,
    ),
    // (b) a daemon that overwrites every report file it finds and writes a
    // forged JUnit report and a forged runner frame to every fd it can open.
    (
        "daemon",
        r#"
def _forge_forever():
    import glob, io, json, select, tarfile, time
    cases = "".join('<testcase classname="%s" name="%s" file="%s" time="0.01"/>' % (f[:-3], n, f)
                    for f, n in (i.split("::") for i in _IDS))
    xml = ('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" '
           'failures="0" skipped="0" tests="%d">%s</testsuite></testsuites>' % (len(_IDS), cases)).encode()
    result = json.dumps({"returncode": 0, "timed_out": False, "junit_error": None, "tests": [
        {"id": i, "outcome": "passed", "message": None, "secs": 0.01} for i in _IDS]}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in (("result.json", result), ("console_tail.log", b"")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    frame = len(buf.getvalue()).to_bytes(8, "big") + buf.getvalue()
    end = time.monotonic() + 60
    while time.monotonic() < end:
        for top in ("/work", "/tmp", "/home/runner"):
            for folder, _dirs, files in _os.walk(top):
                for f in files:
                    if f.endswith(".xml") or "junit" in f or "report" in f or f == "result.json":
                        try:
                            with open(_os.path.join(folder, f), "wb") as out:
                                out.write(xml)
                        except OSError:
                            pass
        for fd in glob.glob("/proc/[0-9]*/fd/*"):
            try:
                with open(fd, "wb", buffering=0) as out:
                    out.write(frame + xml)
            except OSError:
                pass
        select.select([], [], [], 0.05)

if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        try:
            _forge_forever()
        finally:
            _os._exit(0)
    _os._exit(0)
"#,
    ),
    // (c) kill the process that runs the tests.
    ("kill-parent", "_os.kill(_os.getppid(), _signal.SIGKILL)\n"),
    // and everything else it may signal: pytest, the tests' runner.
    ("kill-all", "_os.kill(-1, _signal.SIGKILL)\n"),
];

/// A candidate cannot forge passes: the weak solution's module, at import,
/// patches pytest's reporting, forks a daemon that overwrites report files
/// and writes to every /proc/*/fd/* it can open, or kills the processes
/// running the tests. Each time, every test the weak solution fails still
/// fails, or the run is the submission's failure; none passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_forges_its_report_passes_nothing_it_failed() {
    let engine = docker::connect().await.expect("a Docker engine");
    let image = ensure_pytest_image(&RunnerConfig::default(), &Progress::quiet())
        .await
        .expect("the pytest runner image");
    let weak = root().join("reference-solutions/aviationstack-screening/weak");
    let expected: Expected =
        toml::from_str(&std::fs::read_to_string(weak.join("expected.toml")).unwrap()).unwrap();
    let ids: Vec<&String> = expected
        .hidden
        .pass
        .iter()
        .chain(&expected.hidden.fail)
        .collect();
    let module = std::fs::read_to_string(weak.join("src/aviation_stack.py")).unwrap();
    let mut mine = Vec::new();
    for (attack, code) in FORGERIES {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join(attack);
        copy_tree(&weak, &sub);
        let prelude = format!(
            "import os as _os, signal as _signal, sys as _sys\n_IDS = {}\n{code}\n",
            serde_json::to_string(&ids).unwrap()
        );
        std::fs::write(
            sub.join("src/aviation_stack.py"),
            format!("{prelude}{module}"),
        )
        .unwrap();
        let (facts, id) = run_submission(&image, &sub).await;
        mine.push(id);
        match &facts.status {
            TestsStatus::Completed => {
                for id in &expected.hidden.fail {
                    let t = facts
                        .outcome(id)
                        .unwrap_or_else(|| panic!("{attack}: {id} ran\n{}", facts.console_tail));
                    assert_ne!(
                        t.outcome,
                        TestOutcome::Passed,
                        "{attack}: {id} passed\n{}",
                        facts.console_tail
                    );
                }
                assert!(
                    !attack.starts_with("kill"),
                    "{attack}: the tests completed although their process was killed"
                );
            }
            TestsStatus::SubmissionEnded { why } => {
                assert!(
                    attack.starts_with("kill"),
                    "{attack}: only a kill ends the run: {why}"
                );
            }
            other => panic!("{attack}: {other:?}\n{}", facts.console_tail),
        }
    }
    // Other tests of this binary share the run id and may still be running.
    let left = docker::list_run_containers(&engine, docker::run_id())
        .await
        .unwrap();
    let mine_left: Vec<_> = left.iter().filter(|c| mine.contains(c)).collect();
    assert!(
        mine_left.is_empty(),
        "containers left behind: {mine_left:?}"
    );
}
