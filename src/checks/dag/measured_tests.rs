//! The DAG checks of settings Airflow measures, with a DagBag load built by
//! hand: what Airflow measured decides when it loaded the DAG under the static
//! DAG's id, and nothing changes without such a load.

use crate::checks::{self, CheckContext, CheckResult, Confidence, Outcome, Params};
use crate::execute::workloads::dag_load::{
    AttemptOutcome, DagBagAttempt, DagFact, DagLoadFacts, DagUpload, ImportErrorFact, TaskFact,
};
use crate::execute::{DagLoadRun, ExecStatus, ExecutionFacts};
use crate::facts::Facts;
use crate::rubric::Rubric;

use super::tests::{credit, snippet};

const MEASURED: &[&str] = &[
    "dag.retries",
    "dag.retry_delay",
    "dag.execution_timeout",
    "dag.schedule_catchup",
    "dag.max_active_runs",
];

fn run(id: &str, facts: &Facts) -> CheckResult {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rubric = Rubric::load(&root.join("rubric/aviationstack-screening.toml"), &|id| {
        checks::find(id).is_some()
    })
    .unwrap();
    let params = rubric
        .dimensions
        .iter()
        .flat_map(|d| d.criteria.iter())
        .find(|c| c.check == id)
        .map(|c| c.params.clone())
        .unwrap_or_else(Params::default);
    checks::find(id).unwrap().run(&CheckContext {
        facts,
        params: &params,
    })
}

/// A task as Airflow 3 reports one that sets nothing: Airflow's defaults.
fn task(id: &str) -> TaskFact {
    TaskFact {
        task_id: id.into(),
        operator: "BashOperator".into(),
        operator_module: "airflow.providers.standard.operators.bash".into(),
        decorator: None,
        retries: Some(0),
        retry_delay_secs: Some(300.0),
        retry_exponential_backoff: false,
        execution_timeout_secs: None,
        trigger_rule: Some("all_success".into()),
    }
}

fn dag(id: &str, tasks: Vec<TaskFact>) -> DagFact {
    DagFact {
        dag_id: id.into(),
        file: "d.py".into(),
        schedule: Some("@daily".into()),
        timetable: Some("0 0 * * *".into()),
        catchup: Some(false),
        max_active_runs: Some(16),
        max_active_tasks: Some(16),
        tasks,
        edges: Vec::new(),
        truncated: false,
    }
}

fn attempt(dags: Vec<DagFact>, import_errors: Vec<ImportErrorFact>) -> DagBagAttempt {
    DagBagAttempt {
        venv: "/opt/airflow3".into(),
        airflow_version: Some("3.3.2".into()),
        outcome: AttemptOutcome::Loaded,
        detail: None,
        exit_code: Some(0),
        wall_secs: 1.0,
        import_secs: Some(1.0),
        load_secs: Some(0.1),
        dag_count: dags.len() as u64,
        import_errors,
        dags,
        truncated: false,
    }
}

fn with_load(mut facts: Facts, run: Option<DagLoadRun>) -> Facts {
    let mut exec = ExecutionFacts::with_status(ExecStatus::Ran);
    exec.dag_load = run;
    facts.execution = Some(exec);
    facts
}

fn loaded(facts: Facts, dags: Vec<DagFact>) -> Facts {
    with_load(
        facts,
        Some(DagLoadRun::Loaded(DagLoadFacts {
            attempts: vec![attempt(dags, Vec::new())],
            upload: DagUpload::default(),
            wall_secs: 2.0,
        })),
    )
}

/// Looks right to the code reading on every measured setting.
const WELL_SET: &str = "with DAG('d', start_date=datetime(2026,1,1), schedule='@daily', catchup=False, max_active_runs=1, default_args={'retries': 3, 'retry_delay': timedelta(minutes=5), 'retry_exponential_backoff': True, 'execution_timeout': timedelta(hours=1)}):\n    BashOperator(task_id='a', bash_command='dbt build')\n";

#[test]
fn a_static_pass_that_airflow_refutes_fails_with_a_contradiction() {
    let code = snippet(WELL_SET);
    for id in ["dag.retries", "dag.execution_timeout"] {
        assert_eq!(run(id, &code).outcome, Outcome::Pass, "{id}");
    }
    // Airflow says the task got none of it (Airflow's defaults).
    let f = loaded(snippet(WELL_SET), vec![dag("d", vec![task("a")])]);

    let r = run("dag.retries", &f);
    assert_eq!(r.outcome, Outcome::Fail, "{r:#?}");
    assert_eq!(r.confidence, Confidence::Executed);
    assert!(r
        .decided_by
        .as_deref()
        .unwrap()
        .starts_with("executed: Airflow 3.3.2"));
    let c = r.contradiction.as_deref().expect("a contradiction");
    assert_eq!(c.check, "dag.retries");
    assert!(c.claim.contains("1 of 1 tasks retry"), "{}", c.claim);
    // the claim is where the code sets it, the refutation what Airflow measured
    assert_eq!(c.claimed_by[0].file.as_deref(), Some("dags/d.py"));
    assert!(
        c.claimed_by[0].note.contains("retries = 3"),
        "{:?}",
        c.claimed_by
    );
    assert!(
        c.refuted_by[0]
            .note
            .contains("DAG `d`, task `a`: retries = 0 measured by Airflow 3.3.2's DagBag"),
        "{:?}",
        c.refuted_by
    );
    assert_eq!(c.refuted_by[0].measured, Some(serde_json::json!(0)));
    // the finding's own evidence shows both values together
    let e = &r.evidence[0];
    assert!(e.note.contains("retries = 0 measured"), "{e:?}");
    assert!(
        e.note.contains("the code reads 3 (from default_args)"),
        "{e:?}"
    );

    let r = run("dag.execution_timeout", &f);
    assert_eq!(r.outcome, Outcome::Fail, "{r:#?}");
    assert!(r.contradiction.is_some());

    // Backoff off and Airflow's default delay; the code set both.
    let r = run("dag.retry_delay", &f);
    assert_eq!(r.outcome, Outcome::Fail, "{r:#?}");
    assert!(r.contradiction.is_some());
    assert!(
        r.evidence[0].note.contains("retries = 0 measured"),
        "{r:#?}"
    );

    // A written limit Airflow does not see: 16 measured is over the bar.
    let r = run("dag.max_active_runs", &f);
    assert_eq!(credit(&r), 0.5, "{r:#?}");
    assert!(r.contradiction.is_some());
}

#[test]
fn a_value_the_code_could_not_know_is_decided_by_what_airflow_measured() {
    let body = "import os\nfrom airflow.models import Variable\nwith DAG('d', start_date=datetime(2026,1,1), schedule=os.environ['SCHEDULE'], catchup=False, max_active_runs=int(os.environ['MAR']), default_args={'retries': int(Variable.get('r')), 'execution_timeout': timedelta(hours=1)}):\n    BashOperator(task_id='a', bash_command='dbt build')\n";
    let code = snippet(body);
    assert_eq!(credit(&run("dag.retries", &code)), 0.5);
    assert_eq!(credit(&run("dag.max_active_runs", &code)), 0.5);
    assert_eq!(run("dag.schedule_catchup", &code).outcome, Outcome::Pass);

    let mut measured = dag(
        "d",
        vec![TaskFact {
            retries: Some(3),
            execution_timeout_secs: Some(3600.0),
            ..task("a")
        }],
    );
    measured.max_active_runs = Some(1);
    let f = loaded(snippet(body), vec![measured.clone()]);
    for id in ["dag.retries", "dag.max_active_runs"] {
        let r = run(id, &f);
        assert_eq!(r.outcome, Outcome::Pass, "{id}: {r:#?}");
        assert_eq!(r.confidence, Confidence::Executed, "{id}");
        assert!(r.contradiction.is_none(), "{id}");
        assert!(r.summary.contains("could not tell"), "{id}: {}", r.summary);
    }
    let r = run("dag.retries", &f);
    assert!(
        r.evidence[0]
            .note
            .contains("retries = 3 measured by Airflow 3.3.2's DagBag; the code reads unknown"),
        "{:?}",
        r.evidence
    );

    // The schedule read from the environment was None when Airflow loaded
    // the DAG: manual runs only, a quarter instead of the half counted.
    measured.schedule = None;
    let f = loaded(snippet(body), vec![measured]);
    let r = run("dag.schedule_catchup", &f);
    assert_eq!(credit(&r), 0.75, "{r:#?}");
    assert_eq!(r.confidence, Confidence::Executed);
    assert!(r.contradiction.is_some());
}

#[test]
fn catchup_left_out_is_stated_only_if_airflow_got_something_else() {
    let body = "with DAG('d', start_date=datetime(2026,1,1), schedule='@daily'):\n    BashOperator(task_id='a', bash_command='dbt build')\n";
    assert_eq!(credit(&run("dag.schedule_catchup", &snippet(body))), 0.5);
    // Airflow 3's own default: still left to the version.
    let f = loaded(snippet(body), vec![dag("d", vec![task("a")])]);
    let r = run("dag.schedule_catchup", &f);
    assert_eq!(credit(&r), 0.5, "{r:#?}");
    assert!(r
        .evidence
        .iter()
        .any(|e| e.note.contains("catchup = False measured")));
    // On where Airflow 3 defaults to off: stated somewhere the reading missed.
    let mut d = dag("d", vec![task("a")]);
    d.catchup = Some(true);
    let r = run("dag.schedule_catchup", &loaded(snippet(body), vec![d]));
    assert_eq!(r.outcome, Outcome::Pass, "{r:#?}");
}

#[test]
fn without_a_load_of_the_dag_the_verdict_is_the_static_one() {
    let code = snippet(WELL_SET);
    let failed_import = DagLoadRun::Loaded(DagLoadFacts {
        attempts: vec![attempt(
            Vec::new(),
            vec![ImportErrorFact {
                file: "d.py".into(),
                message: "ModuleNotFoundError: No module named 'x'".into(),
                cycle: false,
            }],
        )],
        upload: DagUpload::default(),
        wall_secs: 2.0,
    });
    let without = [
        ("no workload", with_load(snippet(WELL_SET), None)),
        (
            "no DAG folder",
            with_load(
                snippet(WELL_SET),
                Some(DagLoadRun::NoDags {
                    folder: "dags".into(),
                }),
            ),
        ),
        (
            "load failed",
            with_load(
                snippet(WELL_SET),
                Some(DagLoadRun::Failed {
                    reason: "timed out".into(),
                }),
            ),
        ),
        (
            "import error",
            with_load(snippet(WELL_SET), Some(failed_import)),
        ),
    ];
    for id in MEASURED {
        let static_result = run(id, &code);
        assert_eq!(static_result.confidence, Confidence::Static);
        assert!(static_result.decided_by.is_none());
        for (why, f) in &without {
            assert_eq!(run(id, f), static_result, "{id}, {why}");
        }
    }
}

#[test]
fn a_measured_dag_of_another_id_is_not_used() {
    let code = snippet(WELL_SET);
    // The same tasks, Airflow's defaults, under another DAG's id.
    let f = loaded(snippet(WELL_SET), vec![dag("other", vec![task("a")])]);
    for id in MEASURED {
        let r = run(id, &f);
        assert_eq!(r, run(id, &code), "{id}");
        assert_eq!(r.outcome, Outcome::Pass, "{id}");
    }
}
