//! The exec checks on execution facts built by hand: each check passes on a
//! healthy run, fails on the fault it is about, and never counts a missing
//! execution as a failure.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use crate::acquire::SourceKind;
use crate::checks::{Check, CheckContext, CheckResult, Outcome, Params};
use crate::execute::workloads::dbt::hidden::{HiddenChecks, Measurement};
use crate::execute::{ExecStatus, ExecutionFacts, HiddenMeasurement, ModelState, PhaseFacts};
use crate::execute::{Manifest, ManifestNode, NodeStatus, NodeSummary, RunResult};
use crate::facts::{Facts, SubmissionFacts};
use crate::inventory::Inventory;

use super::{BuildsCleanly, CandidateTestsPass, HiddenPhase1, HiddenPhase2, IdempotentRerun};

const PACK: &str = r#"
version = 1

[[check]]
id = "hidden.payments_unique_events"
title = "each payment event once"
trap = "T1"
phases = [1, 2, 3]
model = "fct_payments"
columns = ["event_id"]
sql = "select count(*) as value from {{ fct_payments }}"
truth = "payments.unique_events"
compare = "count"

[[check]]
id = "hidden.gmv_total"
title = "total GMV"
phases = [1, 2, 3]
model = "mart_gmv_daily"
columns = ["gmv_usd"]
sql = "select sum(gmv_usd) as value from {{ mart_gmv_daily }}"
truth = "gmv.total_usd"
compare = "money"

[idempotency]
models = ["fct_payments", "mart_gmv_daily"]
"#;

fn pack() -> HiddenChecks {
    HiddenChecks::parse(Path::new("hidden-checks.toml"), PACK).unwrap()
}

fn tolerance() -> Params {
    let mut t = toml::Table::new();
    t.insert("money_relative_tolerance".into(), toml::Value::Float(0.005));
    t.insert("money_absolute_tolerance".into(), toml::Value::Float(0.01));
    Params(t)
}

fn value(v: serde_json::Value) -> Measurement {
    Measurement::Rows {
        columns: vec!["value".into()],
        rows: vec![vec![v]],
        truncated: false,
    }
}

fn truth() -> serde_json::Value {
    json!({"payments": {"unique_events": 100}, "gmv": {"total_usd": 1000.0}})
}

fn node(id: &str, name: &str, file: &str) -> (String, ManifestNode) {
    (
        id.to_string(),
        ManifestNode {
            unique_id: id.into(),
            resource_type: id.split('.').next().unwrap().into(),
            name: name.into(),
            package_name: Some("marketplace".into()),
            original_file_path: Some(file.into()),
            raw_code: None,
            compiled_code: Some("select 1".into()),
            depends_on: Default::default(),
            config: Default::default(),
            attached_node: None,
            schema: Some("main_marts".into()),
            alias: Some(name.into()),
            columns: BTreeMap::new(),
        },
    )
}

fn result(id: &str, status: NodeStatus, message: &str) -> RunResult {
    RunResult {
        unique_id: id.into(),
        status,
        failures: None,
        message: (!message.is_empty()).then(|| message.to_string()),
        execution_time: None,
        compiled_code: None,
        relation_name: None,
    }
}

/// A phase where both models built and the candidate's test and the starter's
/// test ran with the given statuses.
fn phase(number: u8, gmv: f64, payments: i64, test: NodeStatus) -> PhaseFacts {
    let mut p = PhaseFacts::not_run(number, "");
    p.ran = crate::execute::PhaseRun::Completed;
    p.manifest = Some(Manifest {
        nodes: [
            node(
                "model.marketplace.fct_payments",
                "fct_payments",
                "models/fct_payments.sql",
            ),
            node(
                "model.marketplace.mart_gmv_daily",
                "mart_gmv_daily",
                "models/mart_gmv_daily.sql",
            ),
            node(
                "test.marketplace.unique_fct_payments_event_id.abc123",
                "unique_fct_payments_event_id",
                "models/schema.yml",
            ),
            node(
                "test.marketplace.source_not_null_users.def456",
                "source_not_null_users",
                "models/sources.yml",
            ),
        ]
        .into_iter()
        .collect(),
        sources: BTreeMap::new(),
        parent_map: BTreeMap::new(),
    });
    p.results = vec![
        result("model.marketplace.fct_payments", NodeStatus::Success, ""),
        result("model.marketplace.mart_gmv_daily", NodeStatus::Success, ""),
        result(
            "test.marketplace.unique_fct_payments_event_id.abc123",
            test,
            "Got 7 results, configured to fail if != 0",
        ),
        // The starter's own test fails too, but it is not the candidate's.
        result(
            "test.marketplace.source_not_null_users.def456",
            NodeStatus::Fail,
            "starter",
        ),
    ];
    p.nodes = NodeSummary {
        total: 4,
        ok: 3,
        ..Default::default()
    };
    let t = truth();
    let pk = pack();
    p.hidden = vec![
        HiddenMeasurement {
            check: "hidden.payments_unique_events".into(),
            measurement: value(json!(payments)),
            expected: crate::execute::workloads::dbt::hidden::expected_value(&pk.checks[0], &t),
        },
        HiddenMeasurement {
            check: "hidden.gmv_total".into(),
            measurement: value(json!(format!("{gmv:.2}"))),
            expected: crate::execute::workloads::dbt::hidden::expected_value(&pk.checks[1], &t),
        },
    ];
    for (model, rows) in [("fct_payments", payments), ("mart_gmv_daily", 30)] {
        p.models.insert(
            model.into(),
            ModelState::Measured {
                rows,
                checksum: format!("{}", rows * 7),
            },
        );
    }
    p
}

fn executed(phases: Vec<PhaseFacts>) -> ExecutionFacts {
    let mut f = ExecutionFacts::with_status(ExecStatus::Ran);
    f.project_root = Some(String::new());
    f.hidden = Some(pack());
    f.phases = phases;
    f
}

struct Fixture {
    _dir: tempfile::TempDir,
    facts: Facts,
}

/// A submission whose `sources.yml` is the starter's, unchanged.
fn fixture(execution: Option<ExecutionFacts>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let starter = tempfile::tempdir().unwrap();
    for root in [dir.path(), starter.path()] {
        std::fs::create_dir_all(root.join("models")).unwrap();
        std::fs::write(root.join("dbt_project.yml"), "name: marketplace\n").unwrap();
        std::fs::write(root.join("models/sources.yml"), "version: 2\n").unwrap();
    }
    for (f, text) in [
        ("models/fct_payments.sql", "select 1 as event_id"),
        ("models/mart_gmv_daily.sql", "select 1 as gmv_usd"),
        ("models/schema.yml", "version: 2\nmodels: []\n"),
        (
            "tests/assert_nothing.sql",
            "select event_id from {{ ref('fct_payments') }} where 1 = 0",
        ),
    ] {
        let path = dir.path().join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let mut inventory = Inventory::build(dir.path()).unwrap();
    inventory.compare_with_starter(&Inventory::build(starter.path()).unwrap());
    Fixture {
        _dir: dir,
        facts: Facts {
            dag: Default::default(),
            code: Default::default(),
            dbt: Default::default(),
            docs: Default::default(),
            submission: SubmissionFacts {
                name: "t".into(),
                kind: SourceKind::Folder,
                commit: None,
                starter_compared: true,
            },
            inventory,
            history: None,
            review: None,
            execution,
        },
    }
}

fn run(check: &dyn Check, fx: &Fixture, params: &Params) -> CheckResult {
    check.run(&CheckContext {
        facts: &fx.facts,
        params,
    })
}

fn healthy() -> ExecutionFacts {
    executed(vec![
        phase(1, 1000.0, 100, NodeStatus::Pass),
        phase(2, 1000.0, 100, NodeStatus::Pass),
        phase(3, 1000.0, 100, NodeStatus::Pass),
    ])
}

#[test]
fn hidden_checks_pass_on_a_healthy_run_and_fail_on_duplicates() {
    let fx = fixture(Some(healthy()));
    let r = run(&HiddenPhase1, &fx, &tolerance());
    assert_eq!(r.outcome, Outcome::Pass, "{r:?}");

    // Duplicated payments (T1) and GMV off by 1 % in phase 2 only.
    let fx = fixture(Some(executed(vec![
        phase(1, 1003.0, 107, NodeStatus::Pass),
        phase(2, 1010.0, 100, NodeStatus::Pass),
        phase(3, 1000.0, 100, NodeStatus::Pass),
    ])));
    let r1 = run(&HiddenPhase1, &fx, &tolerance());
    assert_eq!(r1.outcome, Outcome::Partial { fraction: 0.5 }, "{r1:?}");
    let dup = r1
        .evidence
        .iter()
        .find(|e| e.note.contains("hidden.payments_unique_events"))
        .expect("the failing check is listed");
    assert_eq!(dup.measured, Some(json!(107.0)));
    assert_eq!(dup.expected, Some(json!(100.0)));
    // 1003 is within 0.5 % of 1000: money tolerance from the rubric.
    assert!(!r1
        .evidence
        .iter()
        .any(|e| e.note.contains("hidden.gmv_total")));
    let r2 = run(&HiddenPhase2, &fx, &tolerance());
    assert_eq!(r2.outcome, Outcome::Partial { fraction: 0.5 }, "{r2:?}");
    assert!(r2
        .evidence
        .iter()
        .any(|e| e.note.contains("hidden.gmv_total")));
}

#[test]
fn hidden_checks_need_the_rubric_tolerance() {
    let fx = fixture(Some(healthy()));
    let r = run(&HiddenPhase1, &fx, &Params::default());
    assert_eq!(r.outcome, Outcome::Error);
    assert!(
        r.summary.contains("money_relative_tolerance"),
        "{}",
        r.summary
    );
}

#[test]
fn missing_models_are_not_attempted_and_grader_failures_leave_the_score() {
    let mut ex = healthy();
    for m in &mut ex.phases[0].hidden {
        m.measurement = Measurement::MissingModel {
            model: "fct_payments".into(),
        };
    }
    let fx = fixture(Some(ex));
    assert_eq!(
        run(&HiddenPhase1, &fx, &tolerance()).outcome,
        Outcome::NotAttempted
    );

    let mut ex = healthy();
    ex.phases[0].hidden[0].measurement = Measurement::GraderFailed {
        reason: "runner crashed".into(),
    };
    let fx = fixture(Some(ex));
    let r = run(&HiddenPhase1, &fx, &tolerance());
    assert_eq!(
        r.outcome,
        Outcome::Pass,
        "the one judged check passed: {r:?}"
    );
    assert!(r.summary.contains("could not be judged"), "{}", r.summary);
}

#[test]
fn without_execution_nothing_counts_as_failed() {
    let checks: [&dyn Check; 5] = [
        &HiddenPhase1,
        &HiddenPhase2,
        &IdempotentRerun,
        &CandidateTestsPass,
        &BuildsCleanly,
    ];
    let no_exec = fixture(None);
    let no_engine = fixture(Some(ExecutionFacts::unavailable("no Docker engine")));
    for c in checks {
        let r = run(c, &no_exec, &tolerance());
        assert_eq!(r.outcome, Outcome::NotApplicable, "{}", c.meta().id);
        assert!(r.summary.contains("--no-exec"), "{}", r.summary);
        let r = run(c, &no_engine, &tolerance());
        assert_eq!(r.outcome, Outcome::Error, "{}", c.meta().id);
        assert!(r.summary.contains("no Docker engine"), "{}", r.summary);
    }
}

#[test]
fn idempotency_fails_when_a_rerun_adds_rows_or_changes_content() {
    let fx = fixture(Some(healthy()));
    assert_eq!(
        run(&IdempotentRerun, &fx, &Params::default()).outcome,
        Outcome::Pass
    );

    let mut ex = healthy();
    ex.phases[2].models.insert(
        "fct_payments".into(),
        ModelState::Measured {
            rows: 150,
            checksum: "x".into(),
        },
    );
    ex.phases[2].models.insert(
        "mart_gmv_daily".into(),
        ModelState::Measured {
            rows: 30,
            checksum: "changed".into(),
        },
    );
    let fx = fixture(Some(ex));
    let r = run(&IdempotentRerun, &fx, &Params::default());
    assert_eq!(r.outcome, Outcome::Fail);
    assert_eq!(r.evidence.len(), 2, "{r:?}");
    assert!(
        r.evidence[0].note.contains("from 100 to 150 rows"),
        "{:?}",
        r.evidence
    );
    assert_eq!(
        r.evidence[0].file.as_deref(),
        Some("models/fct_payments.sql")
    );
    assert!(r.evidence[1].note.contains("content changed"));

    let mut ex = healthy();
    for p in &mut ex.phases {
        for s in p.models.values_mut() {
            *s = ModelState::Missing;
        }
    }
    let fx = fixture(Some(ex));
    assert_eq!(
        run(&IdempotentRerun, &fx, &Params::default()).outcome,
        Outcome::NotAttempted
    );
}

#[test]
fn candidate_tests_count_only_the_candidates_files() {
    let fx = fixture(Some(healthy()));
    let r = run(&CandidateTestsPass, &fx, &Params::default());
    // The starter's failing source test is ignored.
    assert_eq!(r.outcome, Outcome::Pass, "{r:?}");
    assert!(r.summary.starts_with("1 of 1"), "{}", r.summary);

    let fx = fixture(Some(executed(vec![
        phase(1, 1000.0, 100, NodeStatus::Pass),
        phase(2, 1000.0, 100, NodeStatus::Fail),
        phase(3, 1000.0, 100, NodeStatus::Pass),
    ])));
    let r = run(&CandidateTestsPass, &fx, &Params::default());
    assert_eq!(r.outcome, Outcome::Fail);
    let failure = &r.evidence[1];
    assert_eq!(failure.file.as_deref(), Some("models/schema.yml"));
    assert!(
        failure.note.contains("unique_fct_payments_event_id"),
        "{}",
        failure.note
    );
    assert!(failure.note.contains("phase 2"), "{}", failure.note);
    assert!(failure.note.contains("Got 7 results"), "{}", failure.note);
}

/// The run plus a passing singular test that cannot fail (`where 1 = 0`), with
/// the dbt facts that tell so.
fn with_vacuous_test(mut ex: ExecutionFacts) -> Fixture {
    for p in &mut ex.phases {
        let (id, node) = node(
            "test.marketplace.assert_nothing",
            "assert_nothing",
            "tests/assert_nothing.sql",
        );
        p.manifest.as_mut().unwrap().nodes.insert(id.clone(), node);
        p.results.push(result(&id, NodeStatus::Pass, ""));
    }
    let mut fx = fixture(Some(ex));
    fx.facts.dbt = crate::analyse::dbt::analyse_with(
        &fx.facts.inventory,
        crate::analyse::dbt::Isolation::InProcess,
    );
    fx
}

#[test]
fn singular_tests_that_cannot_fail_are_not_counted() {
    let fx = with_vacuous_test(healthy());
    let r = run(&CandidateTestsPass, &fx, &Params::default());
    // The YAML test counts; the singular test that returns no row whatever the
    // data is listed and left out.
    assert!(r.summary.starts_with("1 of 1"), "{}", r.summary);
    assert!(r.summary.contains("cannot fail"), "{}", r.summary);
    assert!(r.evidence.iter().any(|e| {
        e.file.as_deref() == Some("tests/assert_nothing.sql") && e.note.contains("not counted")
    }));

    // Take the YAML test away: nothing meaningful ran.
    let mut ex = healthy();
    for p in &mut ex.phases {
        p.results
            .retain(|r| !r.unique_id.contains("unique_fct_payments"));
    }
    let fx = with_vacuous_test(ex);
    let r = run(&CandidateTestsPass, &fx, &Params::default());
    assert_eq!(r.outcome, Outcome::NotAttempted, "{r:?}");
}

#[test]
fn builds_cleanly_counts_phases_with_every_model_built() {
    let fx = fixture(Some(healthy()));
    assert_eq!(
        run(&BuildsCleanly, &fx, &Params::default()).outcome,
        Outcome::Pass
    );

    let mut ex = healthy();
    ex.phases[1].results[1] = result(
        "model.marketplace.mart_gmv_daily",
        NodeStatus::Error,
        "Binder Error: column gmv not found",
    );
    let fx = fixture(Some(ex));
    let r = run(&BuildsCleanly, &fx, &Params::default());
    match r.outcome {
        Outcome::Partial { fraction } => assert!((fraction - 2.0 / 3.0).abs() < 1e-9),
        other => panic!("{other:?}"),
    }
    let e = r
        .evidence
        .iter()
        .find(|e| e.note.contains("Binder Error"))
        .expect("the failing model is listed");
    assert_eq!(e.file.as_deref(), Some("models/mart_gmv_daily.sql"));
}

#[test]
fn an_untouched_starter_earns_nothing() {
    // Only starter files: the exec checks are not attempted even if dbt built.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    std::fs::write(dir.path().join("dbt_project.yml"), "name: m\n").unwrap();
    std::fs::write(dir.path().join("models/stg_users.sql"), "select 1").unwrap();
    let mut inventory = Inventory::build(dir.path()).unwrap();
    let same = Inventory::build(dir.path()).unwrap();
    inventory.compare_with_starter(&same);
    let mut ex = healthy();
    for p in &mut ex.phases {
        for m in &mut p.hidden {
            m.measurement = Measurement::MissingModel {
                model: "fct_payments".into(),
            };
        }
        p.results
            .retain(|r| !r.unique_id.starts_with("test.marketplace.unique"));
        for s in p.models.values_mut() {
            *s = ModelState::Missing;
        }
    }
    let fx = Fixture {
        _dir: dir,
        facts: Facts {
            dag: Default::default(),
            code: Default::default(),
            dbt: Default::default(),
            docs: Default::default(),
            submission: SubmissionFacts {
                name: "starter".into(),
                kind: SourceKind::Folder,
                commit: None,
                starter_compared: true,
            },
            inventory,
            history: None,
            review: None,
            execution: Some(ex),
        },
    };
    for c in [
        &HiddenPhase1 as &dyn Check,
        &IdempotentRerun,
        &CandidateTestsPass,
        &BuildsCleanly,
    ] {
        let r = run(c, &fx, &tolerance());
        assert_eq!(r.outcome, Outcome::NotAttempted, "{}: {r:?}", c.meta().id);
    }
}

#[test]
fn a_phase_the_submission_ended_fails_every_executed_check_with_its_cause() {
    let mut ex = healthy();
    let cause = "the phase runner was killed (SIGKILL, exit 137)";
    ex.phases[0].ran = crate::execute::PhaseRun::EndedBySubmission {
        cause: cause.into(),
    };
    ex.phases[0].hidden = vec![HiddenMeasurement {
        check: "hidden.payments_unique_events".into(),
        measurement: Measurement::NotRun {
            reason: cause.into(),
        },
        expected: Err("n/a".into()),
    }];
    for p in &mut ex.phases[1..] {
        p.ran = crate::execute::PhaseRun::NotRun {
            reason: format!("phase 1 was ended by the submission's code: {cause}"),
        };
    }
    let fx = fixture(Some(ex));
    for check in [
        &BuildsCleanly as &dyn Check,
        &CandidateTestsPass,
        &HiddenPhase1,
        &IdempotentRerun,
    ] {
        let r = run(check, &fx, &tolerance());
        assert!(
            matches!(r.outcome, Outcome::Fail | Outcome::NotAttempted),
            "{}: {:?} {}",
            r.check,
            r.outcome,
            r.summary
        );
        let said = format!(
            "{} {}",
            r.summary,
            r.evidence
                .iter()
                .map(|e| e.note.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(said.contains("killed"), "{}: {said}", r.check);
    }
}

#[test]
fn forged_results_earn_no_build_or_test_credit() {
    let mut ex = healthy();
    // Without the forgery, the build and the tests would be credited.
    let fx = fixture(Some(ex.clone()));
    assert_eq!(
        run(&BuildsCleanly, &fx, &tolerance()).outcome,
        Outcome::Pass
    );
    ex.phases[0].forged =
        vec!["run_results.json reports 124 node(s) that dbt's manifest does not have".into()];
    let fx = fixture(Some(ex));
    for check in [&BuildsCleanly as &dyn Check, &CandidateTestsPass] {
        let r = run(check, &fx, &tolerance());
        assert_eq!(r.outcome, Outcome::Fail, "{}: {}", r.check, r.summary);
        assert!(r.summary.contains("forged"), "{}", r.summary);
    }
}

fn tests_run(
    outcomes: &[(&str, crate::execute::workloads::python_tests::TestOutcome)],
) -> ExecutionFacts {
    use crate::execute::workloads::python_tests::{TestResult, TestsFacts, TestsStatus};
    let mut f = ExecutionFacts::with_status(ExecStatus::Ran);
    f.tests = Some(TestsFacts {
        status: TestsStatus::Completed,
        tests: outcomes
            .iter()
            .map(|(id, outcome)| TestResult {
                id: id.to_string(),
                outcome: *outcome,
                message: Some("Failed: offsets: measured=[0] expected=[0, 100]".into()),
                measured: Some("[0]".into()),
                expected: Some("[0, 100]".into()),
                secs: 0.1,
            })
            .collect(),
        returncode: Some(1),
        elapsed_secs: 1.0,
        console_tail: String::new(),
    });
    f
}

fn chosen(tests: &[&str]) -> Params {
    let mut t = toml::Table::new();
    t.insert(
        "tests".into(),
        toml::Value::Array(
            tests
                .iter()
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
    );
    Params(t)
}

#[test]
fn hidden_tests_score_only_the_rubrics_tests_and_show_what_failed() {
    use super::HiddenTestsCorrectness;
    use crate::execute::workloads::python_tests::TestOutcome::*;
    let ran = tests_run(&[
        ("test_a.py::test_pages", Passed),
        ("test_a.py::test_fields", Passed),
        ("test_b.py::test_retries", Failed),
    ]);
    let fx = fixture(Some(ran.clone()));
    // Only the chosen tests count: the failing retry test belongs elsewhere.
    let r = run(&HiddenTestsCorrectness, &fx, &chosen(&["test_a.py::*"]));
    assert_eq!(r.outcome, Outcome::Pass, "{r:?}");
    let r = run(
        &HiddenTestsCorrectness,
        &fx,
        &chosen(&["test_a.py::test_pages", "test_b.py::test_retries"]),
    );
    assert_eq!(r.outcome, Outcome::from_fraction(0.5), "{r:?}");
    let failing = r
        .evidence
        .iter()
        .find(|e| e.note.contains("test_b.py::test_retries failed"))
        .expect("the failing test is named");
    assert_eq!(failing.measured, Some(json!("[0]")));
    assert_eq!(failing.expected, Some(json!("[0, 100]")));
    // A rubric naming tests the pack does not have is the rubric's error.
    let r = run(&HiddenTestsCorrectness, &fx, &chosen(&["test_c.py::*"]));
    assert_eq!(r.outcome, Outcome::Error, "{r:?}");
}

#[test]
fn hidden_tests_the_submission_hung_fail_and_without_execution_leave_the_score() {
    use super::HiddenTestsSafety;
    use crate::execute::workloads::python_tests::{TestOutcome::Passed, TestsStatus};
    let mut ran = tests_run(&[("test_a.py::test_x", Passed)]);
    ran.tests.as_mut().unwrap().status = TestsStatus::TimedOut { deadline_secs: 240 };
    let r = run(
        &HiddenTestsSafety,
        &fixture(Some(ran)),
        &chosen(&["test_a.py::*"]),
    );
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    let r = run(
        &HiddenTestsSafety,
        &fixture(None),
        &chosen(&["test_a.py::*"]),
    );
    assert_eq!(r.outcome, Outcome::NotApplicable, "{r:?}");
    // A pack without hidden tests (the dbt exercise) leaves the score too,
    // and its rubric, which does not score the criterion, gives no parameters.
    let r = run(
        &HiddenTestsSafety,
        &fixture(Some(healthy())),
        &Params(toml::Table::new()),
    );
    assert_eq!(r.outcome, Outcome::NotApplicable, "{r:?}");
}

/// Every hidden test of the aviationstack-screening pack is scored by exactly
/// one `exec.hidden_tests_*` criterion of its rubric, and every test the
/// rubric names exists.
#[test]
fn the_aviation_rubric_scores_each_hidden_test_once() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let hidden = root.join("fixtures/aviationstack-screening/hidden");
    let mut pack = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&hidden).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !(name.starts_with("test_") && name.ends_with(".py")) {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if let Some(rest) = line.strip_prefix("def test_") {
                let func = rest.split('(').next().unwrap();
                pack.insert(format!("{name}::test_{func}"));
            }
        }
    }
    assert!(pack.len() >= 30, "{pack:?}");
    let rubric: toml::Table = toml::from_str(
        &std::fs::read_to_string(root.join("rubric/aviationstack-screening.toml")).unwrap(),
    )
    .unwrap();
    let mut scored: BTreeMap<String, usize> = BTreeMap::new();
    for dim in rubric["dimension"].as_array().unwrap() {
        for c in dim["criterion"].as_array().unwrap() {
            if !c["check"]
                .as_str()
                .unwrap()
                .starts_with("exec.hidden_tests_")
            {
                continue;
            }
            for t in c["params"]["tests"].as_array().unwrap() {
                *scored.entry(t.as_str().unwrap().to_string()).or_default() += 1;
            }
        }
    }
    for id in &pack {
        assert_eq!(scored.get(id), Some(&1), "{id} must be scored exactly once");
    }
    for id in scored.keys() {
        assert!(
            pack.contains(id),
            "the rubric names {id}, which the pack does not have"
        );
    }
}

fn dag_loaded(tasks: &[&str], import_errors: &[(&str, bool)]) -> ExecutionFacts {
    use crate::execute::workloads::dag_load::{
        AttemptOutcome, DagBagAttempt, DagFact, DagLoadFacts, DagUpload, ImportErrorFact, TaskFact,
    };
    use crate::execute::DagLoadRun;
    let dags = if tasks.is_empty() {
        Vec::new()
    } else {
        vec![DagFact {
            dag_id: "flight_data".into(),
            file: "dags/flight_data.py".into(),
            schedule: Some("@daily".into()),
            timetable: None,
            catchup: Some(false),
            max_active_runs: Some(1),
            max_active_tasks: None,
            tasks: tasks
                .iter()
                .map(|t| TaskFact {
                    task_id: t.to_string(),
                    operator: "PythonOperator".into(),
                    operator_module: "airflow.providers.standard.operators.python".into(),
                    decorator: None,
                    retries: Some(3),
                    retry_delay_secs: Some(300.0),
                    retry_exponential_backoff: true,
                    execution_timeout_secs: Some(600.0),
                    trigger_rule: None,
                })
                .collect(),
            edges: Vec::new(),
            truncated: false,
        }]
    };
    let attempt = DagBagAttempt {
        venv: "/opt/airflow3".into(),
        airflow_version: Some("3.3.2".into()),
        outcome: AttemptOutcome::Loaded,
        detail: None,
        exit_code: Some(0),
        wall_secs: 4.0,
        import_secs: Some(3.0),
        load_secs: Some(0.2),
        import_errors: import_errors
            .iter()
            .map(|(m, cycle)| ImportErrorFact {
                file: "dags/flight_data.py".into(),
                message: m.to_string(),
                cycle: *cycle,
            })
            .collect(),
        dag_count: dags.len() as u64,
        dags,
        truncated: false,
    };
    let mut f = ExecutionFacts::with_status(ExecStatus::Ran);
    f.dag_load = Some(DagLoadRun::Loaded(DagLoadFacts {
        attempts: vec![attempt],
        upload: DagUpload {
            files: 1,
            bytes: 100,
            skipped: Vec::new(),
        },
        wall_secs: 5.0,
    }));
    f
}

fn required_tasks() -> Params {
    let mut t = toml::Table::new();
    t.insert(
        "required_tasks".into(),
        toml::Value::Array(
            [
                "extract_flight_data",
                "upload_to_gcs",
                "load_to_snowflake",
                "run_dbt",
            ]
            .iter()
            .map(|s| toml::Value::String(s.to_string()))
            .collect(),
        ),
    );
    Params(t)
}

#[test]
fn a_dag_airflow_loads_with_its_tasks_passes_and_a_cycle_or_import_error_fails_in_airflows_words() {
    use super::DagLoads;
    let all = [
        "extract_flight_data",
        "upload_to_gcs",
        "load_to_snowflake",
        "run_dbt",
    ];
    let r = run(
        &DagLoads,
        &fixture(Some(dag_loaded(&all, &[]))),
        &required_tasks(),
    );
    assert_eq!(r.outcome, Outcome::Pass, "{r:?}");
    let r = run(
        &DagLoads,
        &fixture(Some(dag_loaded(&all[..2], &[]))),
        &required_tasks(),
    );
    assert_eq!(r.outcome, Outcome::from_fraction(0.5), "{r:?}");
    assert!(r.summary.contains("load_to_snowflake"), "{}", r.summary);
    let cycle = "airflow.exceptions.AirflowDagCycleException: Cycle detected in DAG: flight_data";
    let r = run(
        &DagLoads,
        &fixture(Some(dag_loaded(&[], &[(cycle, true)]))),
        &required_tasks(),
    );
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    assert!(
        r.evidence
            .iter()
            .any(|e| e.note.contains("Cycle detected in DAG")),
        "Airflow's own message is shown: {:?}",
        r.evidence
    );
    let import = "ModuleNotFoundError: No module named 'src'";
    let r = run(
        &DagLoads,
        &fixture(Some(dag_loaded(&all, &[(import, false)]))),
        &required_tasks(),
    );
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    assert!(r.summary.contains("No module named 'src'"), "{}", r.summary);
    // Without execution, or in an exercise that loads no DAGs, it leaves the score.
    let r = run(&DagLoads, &fixture(None), &required_tasks());
    assert_eq!(r.outcome, Outcome::NotApplicable);
    let r = run(
        &DagLoads,
        &fixture(Some(healthy())),
        &Params(toml::Table::new()),
    );
    assert_eq!(r.outcome, Outcome::NotApplicable);
}

#[test]
fn hidden_tests_the_grader_could_not_run_are_its_error_not_inapplicable() {
    use super::HiddenTestsCorrectness;
    let mut ex = healthy();
    ex.tests_unavailable = Some("the pytest runner image is not available".into());
    let r = run(
        &HiddenTestsCorrectness,
        &fixture(Some(ex)),
        &chosen(&["test_a.py::*"]),
    );
    assert_eq!(r.outcome, Outcome::Error, "{r:?}");
    assert!(
        r.summary.contains("image is not available"),
        "{}",
        r.summary
    );
}

#[test]
fn a_dag_load_the_submission_ended_fails_and_the_graders_failure_leaves_the_score() {
    use super::DagLoads;
    use crate::execute::DagLoadRun;
    let mut ex = ExecutionFacts::with_status(ExecStatus::Ran);
    ex.dag_load = Some(DagLoadRun::EndedBySubmission {
        reason:
            "the sandbox container stopped during the DAG load (exit Some(137), killed for memory)"
                .into(),
    });
    let r = run(&DagLoads, &fixture(Some(ex)), &required_tasks());
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    assert!(r.summary.contains("killed for memory"), "{}", r.summary);
    let mut ex = ExecutionFacts::with_status(ExecStatus::Ran);
    ex.dag_load = Some(DagLoadRun::Failed {
        reason: "no Docker engine is reachable".into(),
    });
    let r = run(&DagLoads, &fixture(Some(ex)), &required_tasks());
    assert_eq!(r.outcome, Outcome::Error, "{r:?}");
}

/// `refuted_by_tests`: a failing hidden test refutes a static pass of the
/// criterion it is tied to; passing tests leave a static fail as it is.
#[test]
fn hidden_tests_refute_a_static_pass_and_leave_a_static_fail() {
    use crate::checks::{Confidence, Evidence, LineSpan};
    use crate::execute::workloads::python_tests::TestOutcome::{Failed, Passed};
    let rubric = crate::rubric::Rubric::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("rubric/aviationstack-screening.toml"),
        &|id| crate::checks::find(id).is_some(),
    )
    .unwrap();
    let check = "code.swallowed_errors";
    let static_result = |outcome| {
        let mut m = std::collections::BTreeMap::new();
        m.insert(
            check.to_string(),
            CheckResult::new(
                check,
                outcome,
                Confidence::Static,
                "no except clause swallows",
            )
            .with_all_evidence(vec![Evidence::at(
                "src/snowflake.py",
                Some(LineSpan::line(30)),
                "`except Exception:`",
            )]),
        );
        m
    };
    let ran = |load_error| {
        tests_run(&[
            ("test_snowflake.py::test_load_error_is_raised", load_error),
            ("test_gcs.py::test_upload_error_is_raised", Passed),
        ])
    };

    let fx = fixture(Some(ran(Failed)));
    let mut results = static_result(Outcome::Pass);
    crate::evidence::reconcile_tests(&rubric, &fx.facts, &mut results);
    let r = &results[check];
    assert_eq!(r.outcome, Outcome::Fail, "{r:#?}");
    assert_eq!(r.confidence, Confidence::Executed);
    let c = r.contradiction.as_ref().expect("a contradiction is shown");
    assert_eq!(c.claimed_by[0].file.as_deref(), Some("src/snowflake.py"));
    assert!(
        c.refuted_by[0].note.contains("test_load_error_is_raised"),
        "{c:#?}"
    );

    // the tests exercise one function: they never turn the reading's fail into a pass
    let fx = fixture(Some(ran(Passed)));
    let mut results = static_result(Outcome::Fail);
    crate::evidence::reconcile_tests(&rubric, &fx.facts, &mut results);
    let r = &results[check];
    assert_eq!(r.outcome, Outcome::Fail, "{r:#?}");
    assert!(r.contradiction.is_none());

    // nothing ran: the code alone decides, and says so
    let fx = fixture(None);
    let mut results = static_result(Outcome::Pass);
    crate::evidence::reconcile_tests(&rubric, &fx.facts, &mut results);
    let r = &results[check];
    assert_eq!(r.outcome, Outcome::Pass);
    assert!(
        r.decided_by
            .as_deref()
            .unwrap()
            .starts_with("the code alone"),
        "{r:#?}"
    );
}
