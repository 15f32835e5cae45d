//! Runs dbt projects in the sandbox for real. Needs a running Docker engine (and
//! builds the runner image when missing); fails loudly without one. Tests take a
//! shared lock so that only one sandbox runs at a time on small machines, and so
//! that the leftover-container check, which lists the containers labelled with
//! this process's run id, sees only this test's containers.

use assay::execute::docker;
use assay::execute::{
    ensure_runner_image, run_project, CheckRound, ExecuteError, NodeStatus, PhaseResult, PhaseSpec,
    PhaseStatus, Progress, RawSnapshot, RunnerConfig, Sandbox, SandboxLimits, SandboxQuery,
};
use std::path::Path;
use tokio::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

async fn image() -> String {
    docker::connect()
        .await
        .expect("these tests need a running Docker engine (DOCKER_HOST or /var/run/docker.sock)");
    ensure_runner_image(&RunnerConfig::default(), &Progress::quiet())
        .await
        .expect("runner image")
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn project(root: &Path, profile: &str) {
    write(
        root,
        "dbt_project.yml",
        &format!("name: tiny\nversion: '1.0'\nprofile: {profile}\n"),
    );
    // A submission's own profile must never be used: this one points elsewhere.
    write(
        root,
        "profiles.yml",
        &format!("{profile}:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      host: db.invalid\n"),
    );
}

fn phase(name: &str, queries: &[(&str, &str)]) -> PhaseSpec {
    PhaseSpec {
        name: name.into(),
        raw: None,
        dbt_commands: vec![vec!["build".into()]],
        queries: queries
            .iter()
            .map(|(n, q)| SandboxQuery {
                name: n.to_string(),
                sql: q.to_string(),
                max_rows: None,
            })
            .collect(),
        dbt_timeout_secs: None,
        clock: None,
        deadline_secs: None,
        another_follows: false,
    }
}

/// No container of this process's run is left. Containers of other runs on the
/// same engine (another test binary, someone's `assay grade`) are not looked at.
async fn assert_no_sandbox_containers() {
    let engine = docker::connect().await.unwrap();
    let run = docker::run_id();
    let left = docker::list_run_containers(&engine, run).await.unwrap();
    assert!(
        left.is_empty(),
        "leftover sandbox containers of run {run}: {left:?}"
    );
}

fn status_of<'a>(res: &'a assay::execute::PhaseResult, unique_id: &str) -> &'a NodeStatus {
    &res.outputs
        .run_results
        .as_ref()
        .expect("run_results")
        .results
        .iter()
        .find(|r| r.unique_id == unique_id)
        .unwrap_or_else(|| panic!("{unique_id} missing from run_results"))
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbt_build_reports_per_node_statuses_and_the_warehouse_persists() {
    let _lock = ONE_AT_A_TIME.lock().await;
    let image = image().await;
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("project");
    project(&proj, "tiny_profile");
    write(
        &proj,
        "models/sources.yml",
        "version: 2\nsources:\n  - name: shop\n    schema: raw\n    tables:\n      - name: users\n",
    );
    write(
        &proj,
        "models/stg_users.sql",
        "select id, name from {{ source('shop', 'users') }}",
    );
    write(
        &proj,
        "models/user_count.sql",
        "select count(*) as n from {{ ref('stg_users') }}",
    );
    write(
        &proj,
        "models/schema.yml",
        "version: 2\nmodels:\n  - name: stg_users\n    columns:\n      - name: id\n        data_tests: [unique, not_null]\n  - name: user_count\n    columns:\n      - name: n\n        data_tests:\n          - accepted_values:\n              values: [7]\n",
    );
    let raw = dir.path().join("raw");
    write(
        &raw,
        "ddl.sql",
        "create table raw.users (id bigint, name text, signed_up timestamptz);",
    );
    // Columns in another order than the DDL: loading matches them by name.
    write(
        &raw,
        "csv/users.csv",
        "name,signed_up,id\nann,2026-01-01T10:00:00Z,1\nbob,,2\n",
    );

    let mut sandbox = Sandbox::start(&image, &SandboxLimits::default())
        .await
        .unwrap();
    let upload = sandbox.upload_project(&proj, &[]).await.unwrap();
    assert_eq!(upload.profile_name, "tiny_profile");

    let mut first = phase(
        "initial",
        &[
            (
                "users",
                "select id, name, signed_up from raw.users order by id",
            ),
            ("count", "select n from main.user_count"),
            ("broken", "select * from no_such_table"),
        ],
    );
    first.raw = Some(RawSnapshot {
        ddl_file: raw.join("ddl.sql"),
        csv_dir: raw.join("csv"),
    });
    let res = sandbox.run_phase(&first).await.unwrap();
    eprintln!(
        "phase with raw load + dbt build + 3 queries: {:.1} s wall, dbt {:?} s",
        res.wall_secs,
        res.outputs.report.dbt.as_ref().and_then(|d| d.elapsed_secs)
    );
    assert_eq!(res.status, PhaseStatus::Completed, "{}", res.runner_stderr);
    assert_eq!(
        status_of(&res, "model.tiny.stg_users"),
        &NodeStatus::Success
    );
    assert_eq!(
        status_of(&res, "model.tiny.user_count"),
        &NodeStatus::Success
    );
    let failing = res
        .outputs
        .run_results
        .as_ref()
        .unwrap()
        .results
        .iter()
        .find(|r| {
            r.unique_id
                .starts_with("test.tiny.accepted_values_user_count_n")
        })
        .expect("accepted_values test in run_results");
    assert_eq!(failing.status, NodeStatus::Fail);
    assert_eq!(failing.failures, Some(1));
    assert_eq!(res.nodes.failed, 1);
    assert!(!res.nodes.all_ok());
    assert_eq!(res.outputs.invocations.len(), 1);
    assert!(
        !res.outputs.invocations[0].success,
        "a failing test makes the build unsuccessful"
    );
    let compiled = res
        .outputs
        .run_results
        .as_ref()
        .unwrap()
        .results
        .iter()
        .find(|r| r.unique_id == "model.tiny.user_count")
        .and_then(|r| r.compiled_code.clone())
        .unwrap_or_default();
    assert!(compiled.contains("stg_users"), "{compiled}");
    let manifest = res.outputs.manifest.as_ref().expect("manifest");
    assert_eq!(
        manifest.nodes["model.tiny.user_count"].depends_on.nodes,
        vec!["model.tiny.stg_users".to_string()]
    );
    assert_eq!(res.outputs.report.raw_loaded.as_ref().unwrap()["users"], 2);
    let users = &res.outputs.queries[0];
    assert_eq!(users.columns, vec!["id", "name", "signed_up"]);
    assert_eq!(users.rows[0][1], serde_json::json!("ann"));
    assert!(users.rows[0][2]
        .as_str()
        .unwrap()
        .starts_with("2026-01-01T10:00:00"));
    assert_eq!(users.rows[1][2], serde_json::Value::Null);
    assert_eq!(
        res.outputs.queries[1].rows,
        vec![vec![serde_json::json!(2)]]
    );
    assert!(res.outputs.queries[2].error.is_some());

    // Same warehouse, no raw reload: the tables of the first phase are still there.
    let second = phase("again", &[("count", "select count(*) from raw.users")]);
    let res2 = sandbox.run_phase(&second).await.unwrap();
    assert_eq!(
        res2.status,
        PhaseStatus::Completed,
        "{}",
        res2.runner_stderr
    );
    assert_eq!(
        res2.outputs.queries[0].rows,
        vec![vec![serde_json::json!(2)]]
    );
    assert_eq!(res2.nodes.failed, 1);

    sandbox.finish().await.unwrap();
    assert_no_sandbox_containers().await;
}

const NET_PROBE: &str = r#"
import socket

def model(dbt, session):
    try:
        s = socket.create_connection(("1.1.1.1", 53), timeout=3)
        s.close()
        outcome = "connected"
    except OSError as e:
        outcome = "blocked: " + type(e).__name__
    return session.sql("select '%s' as outcome" % outcome.replace("'", ""))
"#;

const WRITE_PROBE: &str = r#"
def model(dbt, session):
    outcomes = []
    for path in ["/opt/assay/runner.py", "/etc/assay-escape", "HOST_MARKER"]:
        try:
            with open(path, "w") as f:
                f.write("escaped")
            outcomes.append("wrote")
        except OSError as e:
            outcomes.append("refused")
    return session.sql("select '%s' as outcome" % ",".join(outcomes))
"#;

const FORK_PROBE: &str = r#"
import os, signal, time

def model(dbt, session):
    children = []
    outcome = "unlimited"
    for _ in range(5000):
        try:
            pid = os.fork()
        except OSError:
            outcome = "limited"
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return session.sql("select '%s' as outcome, %d as forks" % (outcome, len(children)))
"#;

// Leaves a daemon behind that would outlive dbt and could tamper with the
// grader's queries; the runner must kill it before reading anything.
const DAEMON_PROBE: &str = r#"
import os, time

def model(dbt, session):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            open("/tmp/daemon-started", "w").close()
            while True:
                time.sleep(0.1)
        os._exit(0)
    for _ in range(100):
        if os.path.exists("/tmp/daemon-started"):
            break
        time.sleep(0.1)
    return session.sql("select 1 as started")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_models_are_contained() {
    let _lock = ONE_AT_A_TIME.lock().await;
    let image = image().await;
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("project");
    project(&proj, "hostile");
    let marker = std::env::temp_dir().join(format!("assay-escape-{:016x}", rand::random::<u64>()));
    write(&proj, "models/net_probe.py", NET_PROBE);
    write(
        &proj,
        "models/write_probe.py",
        &WRITE_PROBE.replace("HOST_MARKER", marker.to_str().unwrap()),
    );
    write(&proj, "models/fork_probe.py", FORK_PROBE);
    write(&proj, "models/daemon_probe.py", DAEMON_PROBE);
    // A link to a host file must not carry the host's data into the sandbox.
    std::os::unix::fs::symlink("/etc/hostname", proj.join("models/leak.sql")).unwrap();

    let limits = SandboxLimits {
        pids_limit: 64,
        ..SandboxLimits::default()
    };
    let run = run_project(
        &image,
        &limits,
        &proj,
        &[phase(
            "hostile",
            &[
                ("net", "select outcome from main.net_probe"),
                ("write", "select outcome from main.write_probe"),
                ("fork", "select outcome, forks from main.fork_probe"),
                (
                    "daemon_started",
                    "select count(*) from glob('/tmp/daemon-started')",
                ),
                // Left alive: PID 1 (the runner's idle reaper), the runner
                // itself and the child it runs the check queries in.
                (
                    "processes",
                    "select count(*) from glob('/proc/[0-9]*/status')",
                ),
            ],
        )],
    )
    .await
    .unwrap();
    // run_project has removed the container already.
    assert_no_sandbox_containers().await;
    assert_eq!(run.upload.skipped, vec!["models/leak.sql".to_string()]);
    let res = &run.phases[0];
    assert_eq!(res.status, PhaseStatus::Completed, "{}", res.runner_stderr);
    assert!(
        res.nodes.all_ok(),
        "{:?}\n{}",
        res.nodes,
        res.outputs.log_tail
    );
    let q = |i: usize| res.outputs.queries[i].rows[0].clone();
    let net = q(0)[0].as_str().unwrap().to_string();
    assert!(net.starts_with("blocked"), "network probe: {net}");
    assert_eq!(q(1)[0], serde_json::json!("refused,refused,wrote"));
    assert!(
        !marker.exists(),
        "a model wrote to the host: {}",
        marker.display()
    );
    assert_eq!(q(2)[0], serde_json::json!("limited"));
    let forks = q(2)[1].as_i64().unwrap();
    assert!(forks > 0 && forks < 64, "forks before the limit: {forks}");
    assert_eq!(q(3)[0], serde_json::json!(1), "the daemon never started");
    assert_eq!(q(4)[0], serde_json::json!(3), "processes outlived dbt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_model_is_killed_and_its_container_removed() {
    let _lock = ONE_AT_A_TIME.lock().await;
    let image = image().await;
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("project");
    project(&proj, "endless");
    write(
        &proj,
        "models/spin.py",
        "def model(dbt, session):\n    while True:\n        pass\n    return session.sql(\"select 1 as x\")\n",
    );
    // dbt's own deadline is set past the phase's, so the grader's kill is what ends it.
    let limits = SandboxLimits {
        phase_timeout_secs: 40,
        dbt_timeout_secs: Some(3600),
        ..SandboxLimits::default()
    };
    let mut sandbox = Sandbox::start(&image, &limits).await.unwrap();
    let id = sandbox.container_id().unwrap().to_string();
    sandbox.upload_project(&proj, &[]).await.unwrap();

    // First the runner's own dbt deadline: dbt is killed, the phase still reports.
    let mut short = phase("short", &[("alive", "select 42")]);
    short.dbt_timeout_secs = Some(8);
    let res = sandbox.run_phase(&short).await.unwrap();
    assert_eq!(
        res.status,
        PhaseStatus::DbtTimedOut,
        "{}",
        res.runner_stderr
    );
    // Whether dbt got as far as writing its manifest depends on the machine's
    // load; only the verdict and the queries after the kill are asserted.
    assert_eq!(
        res.outputs.queries.first().map(|q| q.rows.clone()),
        Some(vec![vec![serde_json::json!(42)]]),
        "{:?} {}",
        res.outputs.report,
        res.runner_stderr
    );

    // Then dbt's deadline lies past the phase's, so the grader's kill ends it.
    let res = sandbox.run_phase(&phase("spin", &[])).await.unwrap();
    assert_eq!(
        res.status,
        PhaseStatus::TimedOut,
        "{}",
        res.outputs.log_tail
    );
    let engine = docker::connect().await.unwrap();
    assert!(!docker::container_exists(&engine, &id).await.unwrap());
    // The sandbox refuses further phases instead of pretending.
    let err = sandbox.run_phase(&phase("after", &[])).await.unwrap_err();
    assert!(err.to_string().contains("gone"), "{err}");
    sandbox.finish().await.unwrap();
    assert_no_sandbox_containers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_does_not_leave_the_container_behind() {
    let _lock = ONE_AT_A_TIME.lock().await;
    let image = image().await;
    let task = tokio::spawn(async move {
        let sandbox = Sandbox::start(&image, &SandboxLimits::default())
            .await
            .unwrap();
        let id = sandbox.container_id().unwrap().to_string();
        let engine = docker::connect().await.unwrap();
        assert!(docker::container_exists(&engine, &id).await.unwrap());
        // The container carries this run's id, which is how runs sharing an
        // engine find their own containers.
        let ours = docker::list_run_containers(&engine, docker::run_id())
            .await
            .unwrap();
        assert!(ours.contains(&id), "{id} lacks the run label: {ours:?}");
        panic!("grader bug while sandbox {id} is running");
    });
    let err = task.await.unwrap_err();
    assert!(err.is_panic());
    assert_no_sandbox_containers().await;
}

// Forges dbt's results: a read-only run_results.json claiming a success, put
// where dbt writes its own through a link: the file itself in phase
// `file-link`, the whole target folder in phase `folder-link`. dbt then fails
// to write through the link, and the grader must not read the forgery.
const FORGE_PROBE: &str = r#"
import json, os

def model(dbt, session):
    target = os.environ["DBT_TARGET_PATH"]
    phase = os.path.basename(os.path.dirname(target))
    forged_dir = "/tmp/forged-" + phase
    os.makedirs(forged_dir, exist_ok=True)
    forged = os.path.join(forged_dir, "run_results.json")
    with open(forged, "w") as f:
        json.dump({"metadata": {}, "elapsed_time": 0.1, "args": {}, "results": [
            {"unique_id": "model.tiny.forged_success", "status": "success",
             "message": "forged", "failures": None, "execution_time": 0.1,
             "timing": [], "thread_id": "Thread-1", "adapter_response": {}}]}, f)
    os.chmod(forged, 0o444)
    if phase == "folder-link":
        os.rename(target, target + ".real")
        os.symlink(forged_dir, target)
    else:
        link = os.path.join(target, "run_results.json")
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(forged, link)
    return session.sql("select 1 as forged")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_run_results_behind_a_link_are_not_read() {
    let _lock = ONE_AT_A_TIME.lock().await;
    let image = image().await;
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("project");
    project(&proj, "forger");
    write(&proj, "models/forge.py", FORGE_PROBE);
    write(&proj, "models/honest.sql", "select 1 as id\n");

    let run = run_project(
        &image,
        &SandboxLimits::default(),
        &proj,
        &[
            phase(
                "file-link",
                &[("honest", "select count(*) from main.honest")],
            ),
            phase(
                "folder-link",
                &[("honest", "select count(*) from main.honest")],
            ),
        ],
    )
    .await
    .unwrap();
    assert_no_sandbox_containers().await;
    assert_eq!(run.phases.len(), 2);
    for res in &run.phases {
        // The grader carried on: the phase completed and its queries ran.
        assert_eq!(res.status, PhaseStatus::Completed, "{}", res.runner_stderr);
        assert_eq!(
            res.outputs.queries[0].rows,
            vec![vec![serde_json::json!(1)]]
        );
        let forged = res.outputs.run_results.as_ref().is_some_and(|rr| {
            rr.results
                .iter()
                .any(|r| r.unique_id == "model.tiny.forged_success")
        });
        assert!(!forged, "the forged run_results.json was read");
        assert!(
            res.outputs
                .problems
                .iter()
                .any(|p| p.contains("run_results.json was a symbolic link")),
            "{:?}\n{}",
            res.outputs.problems,
            res.outputs.log_tail
        );
        // Without dbt's results nothing counts as built.
        assert!(!res.nodes.all_ok(), "{:?}", res.nodes);
    }
}

/// The project goes in with the first phase's command. A project the runner
/// cannot unpack (here: larger than the workspace) is an upload that failed,
/// reported as such, and nothing of the phase ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_larger_than_the_workspace_is_refused_as_an_upload() {
    let _lock = ONE_AT_A_TIME.lock().await;
    let image = image().await;
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("project");
    project(&proj, "bulky");
    write(&proj, "models/one.sql", "select 1 as id\n");
    write(&proj, "docs/bulk.txt", &"x".repeat(3 << 20));
    let limits = SandboxLimits {
        work_tmpfs_bytes: 1 << 20,
        ..SandboxLimits::default()
    };

    let run = run_project(
        &image,
        &limits,
        &proj,
        &[phase(
            "initial",
            &[("one", "select count(*) from main.one")],
        )],
    )
    .await;
    assert_no_sandbox_containers().await;
    match run {
        Err(ExecuteError::Upload(why)) => {
            assert!(why.contains("refused the project"), "{why}");
            assert!(why.contains("bulk.txt") || why.contains("space"), "{why}");
        }
        other => panic!("expected a refused upload, got {other:?}"),
    }

    // The same project fits the default workspace and builds.
    let run = run_project(
        &image,
        &SandboxLimits::default(),
        &proj,
        &[phase(
            "initial",
            &[("one", "select count(*) from main.one")],
        )],
    )
    .await
    .unwrap();
    assert_no_sandbox_containers().await;
    assert_eq!(run.phases[0].status, PhaseStatus::Completed);
    assert_eq!(
        run.phases[0].outputs.queries[0].rows,
        vec![vec![serde_json::json!(1)]]
    );
}

/// "Now" inside dbt is the phase's sync time, however far the host's clock is
/// from it: SQL (`current_timestamp`, `now()`) and Python (`datetime.now`)
/// both read it, so a
/// candidate who caps future timestamps at the current time gets the same
/// answer in any year. The sync time here is years away
/// from any date the suite runs on, before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn now_inside_dbt_is_the_phase_sync_time() {
    let _lock = ONE_AT_A_TIME.lock().await;
    let image = image().await;
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("project");
    project(&proj, "tiny_profile");
    // A table reads the clock when dbt builds it; a view reads it again each
    // time the grader's check queries read the view.
    write(
        &proj,
        "models/sql_now.sql",
        "{{ config(materialized='table') }}\nselect epoch(current_timestamp) as current_ts, epoch(now()) as now_ts",
    );
    write(
        &proj,
        "models/view_now.sql",
        "{{ config(materialized='view') }}\nselect epoch(current_timestamp) as view_ts, epoch(now()) as view_now",
    );
    write(
        &proj,
        "models/py_now.py",
        "import datetime, time\n\ndef model(dbt, session):\n    wall = datetime.datetime.now(datetime.timezone.utc).timestamp()\n    return session.sql('select %f as py_now, %f as py_time' % (wall, time.time()))\n",
    );
    let mut sandbox = Sandbox::start(&image, &SandboxLimits::default())
        .await
        .unwrap();
    sandbox.upload_project(&proj, &[]).await.unwrap();
    for (i, (name, clock, epoch)) in [
        ("past", "2019-02-03T04:05:06Z", 1_549_166_706.0),
        ("future", "2041-07-01T06:00:00Z", 2_256_271_200.0),
    ]
    .into_iter()
    .enumerate()
    {
        let mut spec = phase(
            name,
            &[
                ("sql", "select current_ts, now_ts from main.sql_now"),
                ("py", "select py_now, py_time from main.py_now"),
                ("view", "select view_ts, view_now from main.view_now"),
            ],
        );
        spec.clock = Some(clock.to_string());
        // The second phase's runner is started while the first answers its
        // checks: its clock is still the one its own archive names.
        spec.another_follows = i == 0;
        // The grader's hidden checks are planned from what the build left
        // and run by the same runner after dbt, as the dbt workload does; they carry
        // the phase's clock too.
        let mut planned_from = Vec::new();
        let mut planner = |built: &PhaseResult| -> Vec<SandboxQuery> {
            planned_from = built
                .outputs
                .manifest
                .as_ref()
                .map(|m| m.nodes.keys().cloned().collect())
                .unwrap_or_default();
            vec![SandboxQuery {
                name: "view".into(),
                sql: "select view_ts, view_now from main.view_now".into(),
                max_rows: None,
            }]
        };
        let res = sandbox
            .run_phase_planned(&spec, &mut planner)
            .await
            .unwrap();
        assert_eq!(res.status, PhaseStatus::Completed, "{}", res.runner_stderr);
        assert_eq!(res.runner_started_ahead, i == 1, "{name}");
        assert!(
            res.nodes.all_ok(),
            "{:?}\n{}",
            res.nodes,
            res.outputs.log_tail
        );
        assert!(
            planned_from.iter().any(|n| n.ends_with(".view_now")),
            "the plan saw the build's manifest: {planned_from:?}"
        );
        let answers = match &res.checks {
            Some(CheckRound::Answered(a)) => a,
            other => panic!("{name}: the check round: {other:?}"),
        };
        assert!(
            answers.queries_error.is_none(),
            "{:?}",
            answers.queries_error
        );
        let mut read: Vec<f64> = Vec::new();
        for q in res.outputs.queries.iter().chain(&answers.queries) {
            assert!(q.error.is_none(), "{:?}", q.error);
            for v in &q.rows[0] {
                // Epochs come back as numbers or, for DECIMAL, as strings.
                let n = v
                    .as_f64()
                    .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
                    .unwrap_or_else(|| panic!("{name}: {v}"));
                read.push(n);
            }
        }
        // The faked clock starts at the sync time and runs: a phase lasts
        // seconds, so every reading sits within minutes after it.
        for v in &read {
            assert!(
                (epoch..epoch + 600.0).contains(v),
                "{name}: now read {v}, the sync time is {epoch} ({clock})"
            );
        }
        assert_eq!(read.len(), 8, "{name}: {read:?}");
    }
    sandbox.finish().await.unwrap();
    assert_no_sandbox_containers().await;
}

/// A model that goes after the check round's query child, which starts
/// before dbt and waits while the submission runs: it tries to trace it, to
/// write into its pipes, and then either pauses it with signals queued behind
/// (`pause`) or kills it (`kill`). It records what it found and what worked.
const QUERY_CHILD_PROBE: &str = r#"
import ctypes, os, signal, time

MODE = "MODE_HERE"

def query_children():
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                if b"query-child" in f.read():
                    found.append(int(p))
        except OSError:
            pass
    return found

def model(dbt, session):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    outcomes = []
    kids = []
    for _ in range(100):
        kids = query_children()
        if kids:
            break
        time.sleep(0.05)
    for pid in kids:
        traced = libc.ptrace(16, pid, None, None) == 0  # PTRACE_ATTACH
        if traced:
            libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
        outcomes.append("traced" if traced else "trace refused")
        for fd in ("0", "1"):
            try:
                os.close(os.open("/proc/%d/fd/%s" % (pid, fd), os.O_WRONLY))
                outcomes.append("pipe %s opened" % fd)
            except OSError:
                outcomes.append("pipe %s refused" % fd)
        if MODE == "kill":
            os.kill(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGSTOP)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGALRM):
                os.kill(pid, sig)
    return session.sql(
        "select %d as children, '%s' as outcomes, %d as pid"
        % (len(kids), ",".join(outcomes), kids[0] if kids else 0)
    )
"#;

/// The query child is alive beside the submission's code for the whole
/// build, so what the submission can do to it matters: it can neither trace
/// it nor use its pipes, signals other than a stop or a kill never reach it,
/// a paused child is continued and answers the check round itself, and a
/// killed one is replaced by a fresh child. Either way the answers are the
/// warehouse's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_submission_cannot_tamper_with_the_query_child() {
    let _lock = ONE_AT_A_TIME.lock().await;
    let image = image().await;
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("project");
    project(&proj, "tiny_profile");
    for mode in ["pause", "kill"] {
        write(
            &proj,
            &format!("models/probe_{mode}.py"),
            &QUERY_CHILD_PROBE.replace("MODE_HERE", mode),
        );
    }
    write(
        &proj,
        "models/answer.sql",
        "{{ config(materialized='table') }}\nselect 42 as answer",
    );
    let mut sandbox = Sandbox::start(&image, &SandboxLimits::default())
        .await
        .unwrap();
    sandbox.upload_project(&proj, &[]).await.unwrap();
    for mode in ["pause", "kill"] {
        let mut spec = phase(mode, &[]);
        spec.dbt_commands = vec![vec![
            "build".into(),
            "--select".into(),
            format!("probe_{mode}"),
            "answer".into(),
        ]];
        let mut planner =
            |_: &PhaseResult| -> Vec<SandboxQuery> {
                [
                ("probe", format!("select children, outcomes, pid from main.probe_{mode}")),
                ("answer", "select answer from main.answer".to_string()),
                // Which process answers: the pid in /proc/self/stat.
                (
                    "me",
                    "select split_part(content, ' ', 1)::bigint from read_text('/proc/self/stat')"
                        .to_string(),
                ),
            ]
            .into_iter()
            .map(|(name, sql)| SandboxQuery {
                name: name.into(),
                sql,
                max_rows: None,
            })
            .collect()
            };
        let res = sandbox
            .run_phase_planned(&spec, &mut planner)
            .await
            .unwrap();
        assert_eq!(res.status, PhaseStatus::Completed, "{}", res.runner_stderr);
        assert!(
            res.nodes.all_ok(),
            "{mode}: {:?}\n{}",
            res.nodes,
            res.outputs.log_tail
        );
        let answers = match &res.checks {
            Some(CheckRound::Answered(a)) => a,
            other => panic!("{mode}: the check round: {other:?}"),
        };
        assert!(
            answers.queries_error.is_none(),
            "{mode}: {:?}",
            answers.queries_error
        );
        let row = |i: usize| {
            assert!(
                answers.queries[i].error.is_none(),
                "{mode}: {:?}",
                answers.queries[i].error
            );
            answers.queries[i].rows[0].clone()
        };
        let probe = row(0);
        assert_eq!(
            probe[0],
            serde_json::json!(1),
            "{mode}: the model found the query child"
        );
        assert_eq!(
            probe[1],
            serde_json::json!("trace refused,pipe 0 refused,pipe 1 refused"),
            "{mode}"
        );
        assert_eq!(row(1)[0], serde_json::json!(42), "{mode}");
        let found = probe[2].as_i64().unwrap();
        let answered_by = row(2)[0].as_i64().unwrap();
        if mode == "pause" {
            assert_eq!(
                answered_by, found,
                "the paused child was continued and answered"
            );
        } else {
            assert_ne!(
                answered_by, found,
                "a fresh child answered for the killed one"
            );
        }
    }
    sandbox.finish().await.unwrap();
    assert_no_sandbox_containers().await;
}
