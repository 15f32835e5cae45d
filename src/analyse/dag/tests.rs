//! Dependency forms and value resolution, each checked against what Airflow
//! builds for the same code (confirmed with a DagBag on Airflow 2.11).

use std::collections::BTreeSet;

use super::{analyse_source, Dag, DagStyle, Known, Stage};

fn dag(src: &str) -> Dag {
    let full = format!(
        "from datetime import datetime, timedelta\nfrom airflow import DAG\nfrom airflow.operators.empty import EmptyOperator as E\nfrom airflow.models.baseoperator import chain, chain_linear, cross_downstream\nfrom airflow.utils.edgemodifier import Label\n{src}"
    );
    let (_, mut dags) = analyse_source("d.py", &full, true).unwrap();
    assert_eq!(dags.len(), 1, "{dags:#?}");
    dags.remove(0)
}

fn edges(d: &Dag) -> BTreeSet<String> {
    d.edges
        .iter()
        .map(|e| format!("{}>{}", e.from, e.to))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn four() -> String {
    "with DAG('d') as dag:\n    a = E(task_id='a')\n    b = E(task_id='b')\n    c = E(task_id='c')\n    x = E(task_id='x')\n".to_string()
}

#[test]
fn shift_operators_with_lists_and_methods() {
    let d = dag(&format!(
        "{}    a >> [b, c] >> x\n    x << a\n    b.set_downstream(c)\n    c.set_upstream([a])\n",
        four()
    ));
    assert_eq!(edges(&d), set(&["a>b", "a>c", "b>x", "c>x", "a>x", "b>c"]));
}

#[test]
fn chain_forms() {
    let d = dag(&format!("{}    chain(a, [b, c], x)\n", four()));
    assert_eq!(edges(&d), set(&["a>b", "a>c", "b>x", "c>x"]));
    let d = dag(&format!("{}    chain([a, b], [c, x])\n", four()));
    assert_eq!(edges(&d), set(&["a>c", "b>x"]));
    let d = dag(&format!("{}    chain_linear([a, b], [c, x])\n", four()));
    assert_eq!(edges(&d), set(&["a>c", "a>x", "b>c", "b>x"]));
    let d = dag(&format!("{}    cross_downstream([a, b], [c, x])\n", four()));
    assert_eq!(edges(&d), set(&["a>c", "a>x", "b>c", "b>x"]));
    let d = dag(&format!("{}    a >> Label('ok') >> b\n", four()));
    assert_eq!(edges(&d), set(&["a>b"]));
    assert_eq!(d.edges[0].label.as_deref(), Some("ok"));
}

#[test]
fn main_guards_and_uncalled_functions_create_nothing() {
    let d = dag(&format!(
        "{}def wire():\n    a >> b\nif __name__ == '__main__':\n    b >> c\n    dag.test()\n",
        four()
    ));
    assert!(d.edges.is_empty());
}

#[test]
fn loops_helpers_and_classic_dags() {
    let d = dag(
        "dag = DAG('d', default_args=dict({'owner': 'x'}, retries=1) | {'retries': 4})\ndef make(name):\n    return E(task_id=name, dag=dag)\nprev = make('start')\nfor name in ['one', 'two']:\n    t = make(name)\n    prev >> t\n    prev = t\n",
    );
    assert_eq!(d.style, DagStyle::Classic);
    assert_eq!(edges(&d), set(&["start>one", "one>two"]));
    assert_eq!(d.default_args["retries"].value, Known::Int(4));
}

#[test]
fn taskflow_ids_overrides_and_data_edges() {
    let src = "from airflow.decorators import dag, task\nimport pendulum\n@task\ndef load():\n    return 1\n@task(retries=5)\ndef use(v):\n    print(v)\n@dag(start_date=pendulum.datetime(2026, 1, 1), schedule=None)\ndef flow():\n    v = load()\n    use(v)\n    use.override(task_id='again', retries=1)(load())\nflow()\n@dag(schedule='@daily')\ndef never_called():\n    load()\n";
    let (_, dags) = analyse_source("d.py", src, true).unwrap();
    assert_eq!(dags.len(), 1);
    let d = &dags[0];
    assert_eq!(d.dag_id, "flow");
    let ids: Vec<&str> = d.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["load", "use", "load__1", "again"]);
    assert_eq!(edges(d), set(&["load>use", "load__1>again"]));
    assert_eq!(
        d.task("use").unwrap().setting("retries").value,
        Known::Int(5)
    );
    assert_eq!(
        d.task("again").unwrap().setting("retries").value,
        Known::Int(1)
    );
    assert!(matches!(
        d.setting("start_date").value,
        Known::DateTime {
            is_static: true,
            ..
        }
    ));
}

#[test]
fn environment_reads_are_unknown_and_group_defaults_apply() {
    let d = dag(
        "import os\nfrom airflow.utils.task_group import TaskGroup\nwith DAG('d', schedule=os.environ.get('SCHED'), default_args={'retries': 2}) as dag:\n    with TaskGroup('g', default_args={'retries': 7}):\n        a = E(task_id='a')\n    b = E(task_id='b', retries=os.getenv('R'))\n",
    );
    assert!(d.setting("schedule").value.is_unknown());
    assert_eq!(
        d.task("g.a").unwrap().setting("retries").value,
        Known::Int(7)
    );
    assert!(d.task("b").unwrap().setting("retries").value.is_unknown());
    assert!(d.task("g.a").unwrap().stages.is_empty());
}

#[test]
fn stage_of_a_name_is_not_taken_from_a_command_that_does_nothing() {
    let d = dag(
        "from airflow.operators.bash import BashOperator\nwith DAG('d') as dag:\n    BashOperator(task_id='dbt_test_quality', bash_command='echo tested')\n    BashOperator(task_id='publish_marts', bash_command='python publish.py')\n",
    );
    assert!(d.task("dbt_test_quality").unwrap().stages.is_empty());
    assert_eq!(
        d.task("publish_marts").unwrap().stages,
        vec![Stage::Publish]
    );
}

#[test]
fn hostile_growth_and_recursion_stay_bounded() {
    let d = dag(
        "s = 'x'\nl = [1]\nfor i in [0] * 1:\n    pass\nfor i in [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40]:\n    s = s + s\n    l = l + l\ndef f(n):\n    f(n)\n    f(n)\nf(1)\nwith DAG('d') as dag:\n    E(task_id='a', doc=s)\nbig = [0 for a in range(200) for b in range(200) for c in range(200) for d in range(200) for e in range(200) if False]\n",
    );
    assert_eq!(d.tasks.len(), 1);
}

#[test]
fn comprehensions_make_one_task_per_item_and_wire_as_lists() {
    let d = dag(&format!(
        "{}    ts = [E(task_id=f't{{i}}') for i in range(3)]\n    a >> ts >> x\n    odd = [E(task_id=n) for n in ['p', 'q'] for _ in [0] if False]\n    chain(*(E(task_id=m + '_done') for m in ['b2']))\n",
        four()
    ));
    let ids: BTreeSet<String> = d.tasks.iter().map(|t| t.task_id.clone()).collect();
    assert_eq!(ids, set(&["a", "b", "c", "x", "t0", "t1", "t2", "b2_done"]));
    assert_eq!(
        edges(&d),
        set(&["a>t0", "a>t1", "a>t2", "t0>x", "t1>x", "t2>x"])
    );
}

#[test]
fn an_operator_mapped_with_partial_and_expand_is_one_task_with_its_edges() {
    let d = dag(&format!(
        "{}    m = E.partial(task_id='m', retries=2).expand(op_args=[[1], [2]])\n    b >> m >> c\n",
        four()
    ));
    let m = d
        .tasks
        .iter()
        .find(|t| t.task_id == "m")
        .expect("mapped task");
    assert_eq!(m.operator, "airflow.operators.empty.EmptyOperator");
    assert_eq!(edges(&d), set(&["b>m", "m>c"]));

    let (_, dags) = analyse_source(
        "d.py",
        "from airflow import DAG\nfrom airflow.operators.bash import BashOperator as B\nwith DAG('d') as dag:\n    B.partial(task_id='layers').expand(bash_command=[f'dbt test --select {l}' for l in ['staging', 'marts']])\n",
        true,
    )
    .unwrap();
    let layers = &dags[0].tasks[0];
    let commands: Vec<&str> = layers.dbt.iter().map(|i| i.command.as_str()).collect();
    assert_eq!(commands, ["test"], "{layers:#?}");
    assert!(layers.stages.contains(&Stage::Test), "{:?}", layers.stages);
}

#[test]
fn tasks_and_callables_from_the_submissions_own_modules() {
    use super::analyse_source_with_modules;
    let helpers = "from airflow.decorators import task\nimport pandas as pd\n\n@task(retries=4)\ndef build_marts():\n    df = pd.read_sql('select * from orders', None)\n    df.groupby('day').agg('sum').to_sql('mart', None)\n";
    let sub = "def load(**c):\n    return None\n\ndef notify(**c):\n    import requests\n    requests.post('https://x', json={})\n";
    let star = "def check(**c):\n    rows = c['ti'].xcom_pull()\n    if not rows:\n        raise ValueError('empty')\n";
    let dag_src = "from datetime import datetime\nfrom airflow.decorators import dag\nfrom airflow.operators.python import PythonOperator\nfrom helpers import build_marts\nimport pkg.ops\nfrom .checks import *\n\n@dag(start_date=datetime(2026, 1, 1), schedule='@daily')\ndef flow():\n    m = build_marts()\n    n = PythonOperator(task_id='notify', python_callable=pkg.ops.notify)\n    c = PythonOperator(task_id='check', python_callable=check)\n    m >> n >> c\nflow()\n";
    let (file, dags) = analyse_source_with_modules(
        "dags/d.py",
        dag_src,
        true,
        &[
            ("dags/helpers.py", helpers),
            ("dags/pkg/__init__.py", ""),
            ("dags/pkg/ops.py", sub),
            ("dags/checks.py", star),
        ],
    )
    .unwrap();
    assert_eq!(dags.len(), 1);
    let d = &dags[0];
    let m = d.task("build_marts").unwrap();
    assert_eq!(m.operator, "@task");
    assert_eq!(m.file, "dags/d.py");
    assert_eq!(m.settings["retries"].value, Known::Int(4));
    assert!(m.has_stage(Stage::Transform), "{m:#?}");
    assert!(m.callable.as_ref().unwrap().heavy_transform[0].file == "dags/helpers.py");
    assert!(d.task("notify").unwrap().has_stage(Stage::Publish));
    assert!(d.task("check").unwrap().has_stage(Stage::Test));
    assert_eq!(edges(d), set(&["build_marts>notify", "notify>check"]));
    let mut modules = file.modules.clone();
    modules.sort();
    assert_eq!(
        modules,
        [
            "dags/checks.py",
            "dags/helpers.py",
            "dags/pkg/__init__.py",
            "dags/pkg/ops.py"
        ]
    );
    // without the modules, the same DAG still has its tasks, their work unknown
    let (_, dags) = analyse_source("dags/d.py", dag_src, true).unwrap();
    let n = dags[0].task("notify").unwrap();
    assert!(n.callable.is_none() && n.unresolved_callable.is_some());
    assert!(!n.is_control());
}
