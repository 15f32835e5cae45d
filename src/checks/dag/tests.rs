//! The DAG checks on fixture DAGs and small snippets, scored with the real
//! rubric: each check has a DAG that passes it and one that fails it, and
//! keyword-stuffed DAGs earn nothing for the words they stuff.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::acquire::SourceKind;
use crate::analyse::dag::{self, DagFacts, DagFile, FileStatus, Stage};
use crate::checks::{self, CheckContext, CheckResult, Outcome, Params};
use crate::facts::{Facts, SubmissionFacts};
use crate::inventory::Inventory;
use crate::rubric::Rubric;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("fixtures/dags").join(name)).unwrap()
}

fn rubric() -> Rubric {
    Rubric::load(&root().join("rubric/marketplace-elt.toml"), &|id| {
        checks::find(id).is_some()
    })
    .unwrap()
}

/// Facts of a submission made of these DAG files, all written by the candidate.
fn facts(files: &[(&str, &str)]) -> Facts {
    let mut dag = DagFacts::default();
    for (path, src) in files {
        let (file, dags) = dag::analyse_source(path, src, true).unwrap();
        dag.files.push(file);
        dag.dags.extend(dags);
    }
    Facts {
        submission: SubmissionFacts {
            name: "t".into(),
            kind: SourceKind::Folder,
            commit: None,
            starter_compared: true,
        },
        inventory: Inventory::default(),
        history: None,
        dbt: Default::default(),
        docs: Default::default(),
        review: None,
        execution: None,
        dag,
        code: Default::default(),
    }
}

fn run(id: &str, facts: &Facts) -> CheckResult {
    let rubric = rubric();
    let params = rubric
        .dimensions
        .iter()
        .flat_map(|d| d.criteria.iter())
        .find(|c| c.check == id)
        .map(|c| c.params.clone())
        .unwrap_or_else(Params::default);
    let check = checks::find(id).unwrap();
    check.run(&CheckContext {
        facts,
        params: &params,
    })
}

fn pipeline_band(facts: &Facts) -> (f64, u8) {
    let rubric = rubric();
    let results = crate::grade::run_checks(&rubric, facts);
    let (dims, _) = crate::score::score(&rubric, &results, &|id| id.to_string());
    let d = dims.iter().find(|d| d.id == "pipeline_design").unwrap();
    (d.score.unwrap(), d.band.unwrap())
}

pub(super) fn credit(r: &CheckResult) -> f64 {
    r.outcome.credit().unwrap_or(-1.0)
}

const DAG_CHECKS: &[&str] = &[
    "dag.retries",
    "dag.retry_delay",
    "dag.execution_timeout",
    "dag.failure_alerting",
    "dag.schedule_catchup",
    "dag.static_start_date",
    "dag.max_active_runs",
    "dag.stage_order",
    "dag.dbt_build_then_test",
    "dag.quality_after_transform",
    "dag.idempotent_dates",
    "dag.xcom_size",
    "dag.top_level_work",
    "dag.hardcoded_credentials",
    "dag.dbt_first",
    "dag.files_parse",
];

/// What a pipeline is, independent of how it was written down.
fn projection(f: &Facts) -> serde_json::Value {
    let d = &f.dag.dags[0];
    let tasks: BTreeMap<String, serde_json::Value> = d
        .tasks
        .iter()
        .map(|t| {
            (
                t.task_id.clone(),
                serde_json::json!({
                    "stages": t.stages,
                    "check": t.is_check,
                    "retries": t.setting("retries").value,
                    "retry_delay": t.setting("retry_delay").value,
                    "backoff": t.setting("retry_exponential_backoff").value,
                    "timeout": t.setting("execution_timeout").value,
                    "alerts": t.setting("on_failure_callback").value.working_callbacks().len(),
                    "dbt": t.dbt.iter().map(|i| i.command.clone()).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    let edges: BTreeSet<(String, String)> = d
        .edges
        .iter()
        .map(|e| (e.from.clone(), e.to.clone()))
        .collect();
    let settings: BTreeMap<String, String> = [
        "schedule",
        "catchup",
        "max_active_runs",
        "dagrun_timeout",
        "tags",
    ]
    .iter()
    .map(|k| (k.to_string(), d.setting(k).value.describe()))
    .collect();
    serde_json::json!({
        "dag_id": d.dag_id,
        "tasks": tasks,
        "edges": edges,
        "settings": settings,
        "static_start": matches!(d.setting("start_date").value, dag::Known::DateTime { is_static: true, .. }),
    })
}

#[test]
fn airflow2_and_airflow3_styles_give_the_same_facts() {
    let a2 = facts(&[("dags/a2.py", &fixture("airflow2_strong.py"))]);
    let a3 = facts(&[("dags/a3.py", &fixture("airflow3_strong.py"))]);
    assert_eq!(a2.dag.dags.len(), 1);
    assert_eq!(a3.dag.dags.len(), 1);
    assert_eq!(projection(&a2), projection(&a3));
    // and the pipeline is the one intended
    let p = projection(&a2);
    assert_eq!(p["tasks"].as_object().unwrap().len(), 8);
    assert_eq!(p["edges"].as_array().unwrap().len(), 7);
    assert_eq!(p["tasks"]["quality.dbt_test"]["retries"]["value"], 0);
    assert_eq!(p["tasks"]["transform.dbt_run"]["retries"]["value"], 3);
}

#[test]
fn tasks_made_by_a_comprehension_are_the_same_pipeline() {
    // The strong Airflow 2 DAG with its dbt steps made by a list comprehension
    // and wired by `chain(*steps)`; both load in an Airflow 2.11 DagBag with the
    // same tasks, settings and edges.
    let source = fixture("airflow2_strong.py");
    let by_hand = "        seed = BashOperator(task_id=\"dbt_seed\", bash_command=f\"{DBT} seed {DBT_ARGS}\")\n        run = BashOperator(task_id=\"dbt_run\", bash_command=f\"{DBT} run {DBT_ARGS}\")\n        seed >> run\n";
    let made = "        steps = [\n            BashOperator(task_id=f\"dbt_{step}\", bash_command=f\"{DBT} {step} {DBT_ARGS}\")\n            for step in (\"seed\", \"run\")\n        ]\n        chain(*steps)\n";
    assert!(
        source.contains(by_hand),
        "airflow2_strong.py changed its transform group"
    );
    let import = "from airflow.operators.bash import BashOperator\n";
    assert!(source.contains(import));
    let generated_source = source.replace(by_hand, made).replace(
        import,
        &format!("from airflow.models.baseoperator import chain\n{import}"),
    );
    let written = facts(&[("dags/a.py", &source)]);
    let generated = facts(&[("dags/a.py", &generated_source)]);
    assert_eq!(generated.dag.dags[0].tasks.len(), 8);
    assert_eq!(projection(&written), projection(&generated));
    for id in DAG_CHECKS {
        assert_eq!(
            run(id, &written).outcome,
            run(id, &generated).outcome,
            "{id}"
        );
    }
}

#[test]
fn both_strong_styles_pass_every_check() {
    for name in ["airflow2_strong.py", "airflow3_strong.py"] {
        let f = facts(&[("dags/marketplace_elt.py", &fixture(name))]);
        for id in DAG_CHECKS {
            let r = run(id, &f);
            assert!(
                matches!(r.outcome, Outcome::Pass | Outcome::NotApplicable),
                "{name}: {id} gave {:?}: {}\n{:#?}",
                r.outcome,
                r.summary,
                r.evidence
            );
        }
    }
}

#[test]
fn strong_lands_at_least_one_band_above_weak() {
    let strong = facts(&[("dags/marketplace_elt.py", &fixture("airflow2_strong.py"))]);
    let strong3 = facts(&[("dags/marketplace_elt.py", &fixture("airflow3_strong.py"))]);
    let weak = facts(&[("dags/marketplace_elt.py", &fixture("weak.py"))]);
    let stuffed = facts(&[("dags/marketplace_elt.py", &fixture("keyword_stuffed.py"))]);
    let (s, sb) = pipeline_band(&strong);
    let (s3, sb3) = pipeline_band(&strong3);
    let (w, wb) = pipeline_band(&weak);
    let (k, kb) = pipeline_band(&stuffed);
    eprintln!("pipeline design: strong {s}/{s3}, weak {w}, stuffed {k}");
    assert!(sb >= 3 && sb3 >= 3, "strong {s} ({sb}), {s3} ({sb3})");
    assert!(sb > wb, "strong {s} ({sb}) vs weak {w} ({wb})");
    assert!(wb <= 2, "weak {w} ({wb})");
    assert!(kb <= wb, "stuffed {k} ({kb}) vs weak {w} ({wb})");
}

#[test]
fn keyword_stuffing_earns_nothing_for_the_stuffed_criteria() {
    let f = facts(&[("dags/marketplace_elt.py", &fixture("keyword_stuffed.py"))]);
    for id in [
        "dag.retries",
        "dag.retry_delay",
        "dag.execution_timeout",
        "dag.failure_alerting",
        "dag.max_active_runs",
        "dag.idempotent_dates",
        "dag.dbt_build_then_test",
        "dag.quality_after_transform",
    ] {
        let r = run(id, &f);
        assert_eq!(credit(&r), 0.0, "{id}: {:?} {}", r.outcome, r.summary);
    }
    // the uncalled function's tasks and chain never reach the DAG
    let d = &f.dag.dags[0];
    assert_eq!(d.tasks.len(), 1);
    assert!(d.edges.is_empty());
    // the trivial callback is named as doing nothing
    let r = run("dag.failure_alerting", &f);
    assert!(
        r.evidence.iter().any(|e| e.note.contains("does nothing")),
        "{r:#?}"
    );
    // the f-string pitfall is pointed at
    let r = run("dag.idempotent_dates", &f);
    assert!(
        r.evidence.iter().any(|e| e.note.contains("f-string")),
        "{r:#?}"
    );
}

#[test]
fn the_chain_trap_is_caught() {
    let f = facts(&[("dags/trap.py", &fixture("chain_trap.py"))]);
    let d = &f.dag.dags[0];
    let quality = d.task("quality").unwrap();
    assert!(quality.has_stage(Stage::Test));
    assert!(d.ancestors("quality").is_empty());
    let r = run("dag.stage_order", &f);
    assert!(credit(&r) < 1.0, "{r:#?}");
    assert!(
        r.evidence
            .iter()
            .any(|e| e.note.contains("`quality`") && e.note.contains("parallel")),
        "{r:#?}"
    );
    // the same pipeline wired properly passes
    let fixed = fixture("chain_trap.py").replace(
        "chain(extract, transform, refresh(quality()))",
        "checked = quality()\n    chain(extract, transform, checked)\n    refresh(checked)",
    );
    let f = facts(&[("dags/trap.py", &fixed)]);
    let r = run("dag.stage_order", &f);
    assert_eq!(r.outcome, Outcome::Pass, "{r:#?}");
}

#[test]
fn the_starter_unchanged_earns_nothing() {
    let mut f = facts(&[("dags/marketplace_elt.py", &fixture("airflow2_strong.py"))]);
    f.dag.files[0].candidate_work = false;
    for id in DAG_CHECKS {
        let r = run(id, &f);
        assert_eq!(r.outcome, Outcome::NotAttempted, "{id}");
    }
}

#[test]
fn a_crashed_file_is_an_error_and_the_rest_is_graded() {
    let mut f = facts(&[("dags/marketplace_elt.py", &fixture("airflow2_strong.py"))]);
    f.dag.files.push(DagFile {
        path: "dags/evil.py".into(),
        candidate_work: true,
        status: FileStatus::Error {
            reason: "the parser crashed (signal 6)".into(),
        },
        syntax_error_line: None,
        top_level_work: vec![],
        credentials: vec![],
        date_pitfalls: vec![],
        date_templates: vec![],
        large_xcom: vec![],
        problems: vec![],
        modules: vec![],
        unfollowed: vec![],
    });
    let r = run("dag.retries", &f);
    assert_eq!(r.outcome, Outcome::Pass);
    assert!(r
        .evidence
        .iter()
        .any(|e| e.file.as_deref() == Some("dags/evil.py")));
    assert_eq!(run("dag.files_parse", &f).outcome, Outcome::Error);
    // with only the crashed file, nothing can be judged: error, never fail
    f.dag.files.remove(0);
    f.dag.dags.clear();
    for id in DAG_CHECKS {
        assert_eq!(run(id, &f).outcome, Outcome::Error, "{id}");
    }
}

const HEADER: &str = "from datetime import datetime, timedelta\nfrom airflow import DAG\nfrom airflow.operators.bash import BashOperator\nfrom airflow.operators.python import PythonOperator\n";

pub(super) fn snippet(body: &str) -> Facts {
    facts(&[("dags/d.py", &format!("{HEADER}{body}"))])
}

#[test]
fn retries_from_a_variable_are_unknown_not_missing() {
    let f = snippet(
        "from airflow.models import Variable\nwith DAG('d', start_date=datetime(2026,1,1), schedule='@daily', default_args={'retries': int(Variable.get('r'))}):\n    BashOperator(task_id='a', bash_command='dbt run')\n",
    );
    let t = &f.dag.dags[0].tasks[0];
    assert!(t.setting("retries").value.is_unknown());
    assert_eq!(credit(&run("dag.retries", &f)), 0.5);
    // and reading a Variable at parse time is top-level work
    assert_eq!(run("dag.top_level_work", &f).outcome, Outcome::Fail);
}

#[test]
fn default_args_mutation_after_the_dag_does_not_count() {
    // Airflow copies default_args when the DAG is made
    let f = snippet(
        "args = {'owner': 'x'}\nwith DAG('d', start_date=datetime(2026,1,1), default_args=args):\n    BashOperator(task_id='a', bash_command='dbt build')\nargs['retries'] = 5\n",
    );
    assert_eq!(run("dag.retries", &f).outcome, Outcome::Fail);
    let f = snippet(
        "args = {'owner': 'x'}\nargs['retries'] = 5\nwith DAG('d', start_date=datetime(2026,1,1), default_args=args):\n    BashOperator(task_id='a', bash_command='dbt build')\n",
    );
    assert_eq!(run("dag.retries", &f).outcome, Outcome::Pass);
}

#[test]
fn dynamic_start_date_fails() {
    let f = snippet(
        "with DAG('d', start_date=datetime.now() - timedelta(days=1)):\n    BashOperator(task_id='a', bash_command='dbt build')\n",
    );
    assert_eq!(run("dag.static_start_date", &f).outcome, Outcome::Fail);
    assert_eq!(run("dag.schedule_catchup", &f).outcome, Outcome::Fail);
}

#[test]
fn hardcoded_credentials_fail_and_are_redacted() {
    let f = snippet(
        "PG = 'postgresql://etl:hunter2secret@db:5432/shop'\nwith DAG('d', start_date=datetime(2026,1,1)):\n    BashOperator(task_id='a', bash_command='dbt build', env={'DBT_PASSWORD': 'hunter2secret'})\n",
    );
    let r = run("dag.hardcoded_credentials", &f);
    assert_eq!(r.outcome, Outcome::Fail);
    assert_eq!(r.evidence.len(), 2, "{r:#?}");
    for e in &r.evidence {
        assert!(
            !e.snippet.as_deref().unwrap_or("").contains("hunter2"),
            "{e:?}"
        );
    }
    let f = snippet(
        "with DAG('d', start_date=datetime(2026,1,1)):\n    BashOperator(task_id='a', bash_command='dbt build', env={'DBT_PASSWORD': '{{ conn.warehouse.password }}'})\n",
    );
    assert_eq!(run("dag.hardcoded_credentials", &f).outcome, Outcome::Pass);
}

#[test]
fn python_transformation_and_large_xcom_are_flagged() {
    let f = snippet(
        "import pandas as pd\ndef build_marts():\n    from airflow.providers.postgres.hooks.postgres import PostgresHook\n    hook = PostgresHook('wh')\n    orders = hook.get_pandas_df('select * from raw.orders')\n    daily = orders.groupby('day').sum()\n    daily.to_sql('mart_gmv_daily', hook.get_sqlalchemy_engine())\n    return daily.to_dict()\nwith DAG('d', start_date=datetime(2026,1,1)):\n    PythonOperator(task_id='marts', python_callable=build_marts)\n",
    );
    let r = run("dag.dbt_first", &f);
    assert_eq!(r.outcome, Outcome::Fail, "{r:#?}");
    assert_eq!(run("dag.xcom_size", &f).outcome, Outcome::Fail);
    assert_eq!(f.dag.dags[0].tasks[0].stages, vec![Stage::Transform]);
}

#[test]
fn timeouts_alerts_and_overlap() {
    let f = snippet(
        "def alert(context):\n    send_to_pagerduty(context)\nwith DAG('d', start_date=datetime(2026,1,1), max_active_runs=3, default_args={'execution_timeout': timedelta(hours=30), 'on_failure_callback': alert}):\n    BashOperator(task_id='a', bash_command='dbt build')\n    BashOperator(task_id='b', bash_command='dbt build', email=['a@b.c'], execution_timeout=timedelta(minutes=20))\n",
    );
    assert_eq!(credit(&run("dag.execution_timeout", &f)), 0.75);
    assert_eq!(run("dag.failure_alerting", &f).outcome, Outcome::Pass);
    assert_eq!(credit(&run("dag.max_active_runs", &f)), 0.5);
}

#[test]
fn dbt_run_without_a_following_test() {
    let f = snippet(
        "with DAG('d', start_date=datetime(2026,1,1)):\n    r = BashOperator(task_id='run', bash_command='dbt run')\n    t = BashOperator(task_id='test', bash_command='dbt test')\n",
    );
    // Tests in parallel with the run: the rubric's parallel_test_credit.
    assert_eq!(credit(&run("dag.dbt_build_then_test", &f)), 0.25);
    assert_eq!(
        run("dag.quality_after_transform", &f).outcome,
        Outcome::Fail
    );
    let f = snippet(
        "with DAG('d', start_date=datetime(2026,1,1)):\n    r = BashOperator(task_id='run', bash_command='dbt run --full-refresh')\n    t = BashOperator(task_id='test', bash_command='dbt test')\n    [r] >> t\n",
    );
    // run then test (0.5: the marts are visible before their tests), halved
    // again for --full-refresh on the schedule.
    assert_eq!(credit(&run("dag.dbt_build_then_test", &f)), 0.25);
    assert_eq!(
        run("dag.quality_after_transform", &f).outcome,
        Outcome::Pass
    );
}

#[test]
fn dbt_build_or_a_publish_gate_outranks_run_then_test() {
    let dag = |body: &str| {
        snippet(&format!(
            "with DAG('d', start_date=datetime(2026,1,1)):\n{body}"
        ))
    };
    let run_then_test = dag("    r = BashOperator(task_id='run', bash_command='dbt run')\n    t = BashOperator(task_id='test', bash_command='dbt test')\n    r >> t\n");
    let gated = dag("    r = BashOperator(task_id='run', bash_command='dbt run')\n    t = BashOperator(task_id='test', bash_command='dbt test')\n    p = BashOperator(task_id='publish', bash_command='dbt docs generate')\n    r >> t >> p\n");
    let build = dag("    b = BashOperator(task_id='build', bash_command='dbt build')\n");
    assert_eq!(credit(&run("dag.dbt_build_then_test", &run_then_test)), 0.5);
    assert_eq!(credit(&run("dag.dbt_build_then_test", &gated)), 1.0);
    assert_eq!(credit(&run("dag.dbt_build_then_test", &build)), 1.0);
    // dbt build is transform, test and publish at once.
    assert_eq!(
        build.dag.dags[0].tasks[0].stages,
        vec![Stage::Transform, Stage::Test, Stage::Publish]
    );
}

#[test]
fn cycles_and_list_shifts_are_import_failures() {
    let f = snippet(
        "with DAG('d', start_date=datetime(2026,1,1)):\n    a = BashOperator(task_id='a', bash_command='dbt run')\n    b = BashOperator(task_id='b', bash_command='dbt test')\n    a >> b >> a\n",
    );
    assert!(f.dag.dags[0].cycle.is_some());
    assert_eq!(run("dag.files_parse", &f).outcome, Outcome::Fail);
    assert_eq!(run("dag.stage_order", &f).outcome, Outcome::Fail);
}

#[test]
fn keyword_stuffed_findings_as_users_see_them() {
    let f = facts(&[("dags/marketplace_elt.py", &fixture("keyword_stuffed.py"))]);
    let out: Vec<serde_json::Value> = DAG_CHECKS
        .iter()
        .map(|id| {
            let r = run(id, &f);
            let evidence: Vec<String> = r
                .evidence
                .iter()
                .map(|e| {
                    let at = match (&e.file, e.lines) {
                        (Some(file), Some(l)) => format!("{file}:{} ", l.start),
                        (Some(file), None) => format!("{file} "),
                        _ => String::new(),
                    };
                    format!("{at}{}", e.note)
                })
                .collect();
            serde_json::json!({
                "check": id,
                "outcome": r.outcome.label(),
                "summary": r.summary,
                "evidence": evidence,
            })
        })
        .collect();
    insta::assert_json_snapshot!(out);
}

#[test]
fn python_tasks_date_handling() {
    let f = snippet(
        "def load():\n    day = datetime.now().date()\n    run(day)\nwith DAG('d', start_date=datetime(2026,1,1)):\n    PythonOperator(task_id='load', python_callable=load)\n",
    );
    let r = run("dag.idempotent_dates", &f);
    assert_eq!(r.outcome, Outcome::Fail, "{r:#?}");
    let f = snippet(
        "def load(ds=None):\n    run(ds)\nwith DAG('d', start_date=datetime(2026,1,1)):\n    PythonOperator(task_id='load', python_callable=load)\n",
    );
    assert_eq!(run("dag.idempotent_dates", &f).outcome, Outcome::Pass);
}
