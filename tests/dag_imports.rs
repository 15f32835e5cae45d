//! The DAG analyser follows imports into the submission's own modules, parsed
//! in the contained child like the DAG file: a PythonOperator whose callable
//! lives in `transform.py` is judged on what that function does, a task whose
//! callable cannot be read is reported and still counted, and no import reaches
//! outside the submission.

mod common;

use std::collections::BTreeMap;

use assay::acquire::SourceKind;
use assay::analyse::dag::{analyse, DagFacts, DagLimits, Stage};
use assay::checks::{CheckResult, Outcome};
use assay::facts::{Facts, SubmissionFacts};
use assay::inventory::Inventory;
use assay::rubric::Rubric;

fn limits() -> DagLimits {
    std::env::set_var("ASSAY_PARSER_EXE", env!("CARGO_BIN_EXE_assay"));
    DagLimits::default()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        common::repo_root()
            .join("fixtures/dags/imported")
            .join(name),
    )
    .unwrap()
}

/// Analyses a submission made of these files, through the inventory and the
/// contained parser, as a grade does.
fn dag_facts(files: &[(&str, &str)]) -> DagFacts {
    let dir = tempfile::tempdir().unwrap();
    common::write_tree(dir.path(), files);
    let inventory = Inventory::build(dir.path()).unwrap();
    analyse(&inventory, &limits())
}

fn checks(dag: DagFacts) -> BTreeMap<String, CheckResult> {
    let facts = Facts {
        submission: SubmissionFacts {
            name: "t".into(),
            kind: SourceKind::Folder,
            commit: None,
            starter_compared: false,
        },
        inventory: Default::default(),
        history: None,
        dag,
        code: Default::default(),
        dbt: Default::default(),
        docs: Default::default(),
        review: None,
        execution: None,
    };
    let rubric = Rubric::load(
        &common::repo_root().join("rubric/marketplace-elt.toml"),
        &assay::grade::is_known_check,
    )
    .unwrap();
    assay::grade::run_checks(&rubric, &facts)
}

#[test]
fn marts_built_in_pandas_in_an_imported_module_fail_dbt_first_with_that_module_as_evidence() {
    let dag = fixture("pandas_marts.py");
    let transform = fixture("transform.py");
    let facts = dag_facts(&[
        ("dags/marketplace_elt.py", dag.as_str()),
        ("dags/transform.py", transform.as_str()),
    ]);
    let file = facts
        .files
        .iter()
        .find(|f| f.path == "dags/marketplace_elt.py")
        .unwrap();
    assert_eq!(file.modules, vec!["dags/transform.py"]);
    let d = &facts.dags[0];
    let marts = d.task("build_marts").unwrap();
    assert!(marts.has_stage(Stage::Transform), "{marts:#?}");
    let c = marts.callable.as_ref().unwrap();
    assert_eq!(c.name, "build_marts");
    assert!(c
        .heavy_transform
        .iter()
        .all(|s| s.file == "dags/transform.py"));
    // the read happens in `_read`, a helper the callable calls
    assert!(
        c.heavy_transform.iter().any(|s| s.what.contains("`_read`")),
        "{:#?}",
        c.heavy_transform
    );
    let results = checks(facts);
    let first = &results["dag.dbt_first"];
    assert_eq!(first.outcome, Outcome::Fail, "{first:#?}");
    let ev = first
        .evidence
        .iter()
        .find(|e| e.file.as_deref() == Some("dags/transform.py"))
        .expect("evidence in the imported module");
    assert!(ev.lines.is_some());
    assert!(
        ev.snippet.as_deref().unwrap_or("").contains("to_sql")
            || ev.snippet.as_deref().unwrap_or("").contains("read_sql")
            || ev.snippet.as_deref().unwrap_or("").contains("merge")
            || ev.snippet.as_deref().unwrap_or("").contains("groupby")
    );
    // the returned DataFrame travels through XCom, found in the imported module
    let xcom = &results["dag.xcom_size"];
    assert_eq!(xcom.outcome, Outcome::Fail, "{xcom:#?}");
    assert!(xcom
        .evidence
        .iter()
        .any(|e| e.file.as_deref() == Some("dags/transform.py")));
}

#[test]
fn dbt_with_imported_checks_and_notifications_passes_dbt_first() {
    let dag = fixture("dbt_marts.py");
    let quality = fixture("quality.py");
    let facts = dag_facts(&[
        ("dags/marketplace_elt.py", dag.as_str()),
        ("dags/quality.py", quality.as_str()),
    ]);
    let d = facts
        .dags
        .iter()
        .find(|d| d.file == "dags/marketplace_elt.py")
        .unwrap();
    let gate = d.task("row_counts").unwrap();
    assert!(gate.has_stage(Stage::Test), "{gate:#?}");
    assert!(gate.is_check);
    // `announce` imports its helper inside its own body
    let publish = d.task("announce").unwrap();
    assert!(publish.has_stage(Stage::Publish), "{publish:#?}");
    let results = checks(facts);
    assert_eq!(results["dag.dbt_first"].outcome, Outcome::Pass);
    assert_eq!(results["dag.xcom_size"].outcome, Outcome::Pass);
}

#[test]
fn a_callable_that_cannot_be_read_is_reported_and_still_counted() {
    let src = "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.operators.python import PythonOperator\nfrom vendor_marts import build_marts\n\nwith DAG('d', start_date=datetime(2026, 1, 1), schedule='@daily', catchup=False) as dag:\n    PythonOperator(task_id='step', python_callable=build_marts)\n";
    let facts = dag_facts(&[("dags/d.py", src)]);
    let t = facts.dags[0].task("step").unwrap();
    assert!(t.callable.is_none());
    assert!(
        t.unresolved_callable
            .as_deref()
            .is_some_and(|w| w.contains("vendor_marts.build_marts")),
        "{t:#?}"
    );
    assert!(!t.is_control());
    let results = checks(facts);
    for id in ["dag.retries", "dag.execution_timeout", "dag.xcom_size"] {
        let r = &results[id];
        assert!(
            !matches!(r.outcome, Outcome::NotAttempted | Outcome::NotApplicable),
            "{id}: {r:#?}"
        );
        assert!(
            r.evidence
                .iter()
                .any(|e| e.note.contains("could not be read")),
            "{id}: {r:#?}"
        );
    }
    // unknown is not clean: half credit, not a pass
    assert!(matches!(
        results["dag.xcom_size"].outcome,
        Outcome::Partial { .. }
    ));
}

#[test]
fn imports_never_leave_the_submission() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("evil.py"),
        "import pandas as pd\n\ndef build(**c):\n    pd.read_sql('x', None).merge(1).to_sql('y', None)\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.operators.python import PythonOperator\nfrom evil import build\nfrom ...evil import build as b2\n\nwith DAG('d', start_date=datetime(2026, 1, 1), schedule='@daily', catchup=False) as dag:\n    PythonOperator(task_id='one', python_callable=build)\n    PythonOperator(task_id='two', python_callable=b2)\n";
    common::write_tree(dir.path(), &[("dags/d.py", src)]);
    std::os::unix::fs::symlink(
        outside.path().join("evil.py"),
        dir.path().join("dags/evil.py"),
    )
    .unwrap();
    let inventory = Inventory::build(dir.path()).unwrap();
    let facts = analyse(&inventory, &limits());
    assert!(facts.files[0].modules.is_empty(), "{:#?}", facts.files[0]);
    for id in ["one", "two"] {
        let t = facts.dags[0].task(id).unwrap();
        assert!(t.callable.is_none(), "{t:#?}");
        assert!(t.unresolved_callable.is_some());
    }
}

#[test]
fn import_depth_is_bounded_and_what_is_left_is_reported() {
    let mut files: Vec<(String, String)> = vec![(
        "dags/d.py".into(),
        "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.operators.python import PythonOperator\nfrom m1 import f\n\nwith DAG('d', start_date=datetime(2026, 1, 1), schedule='@daily', catchup=False) as dag:\n    PythonOperator(task_id='step', python_callable=f)\n".into(),
    )];
    for i in 1..=6 {
        files.push((
            format!("dags/m{i}.py"),
            format!(
                "from m{} import f as g\n\ndef f(**c):\n    return g()\n",
                i + 1
            ),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let facts = dag_facts(&refs);
    let file = &facts.files[0];
    let depth = DagLimits::default().imports.max_depth;
    assert_eq!(file.modules.len(), depth, "{file:#?}");
    assert!(
        file.unfollowed
            .iter()
            .any(|s| s.what.contains("deeper than")),
        "{file:#?}"
    );
    assert!(facts.dags[0].task("step").unwrap().callable.is_some());
}
