//! `assay grade` with real execution: the strong reference solution and variants
//! of it with one planted fault each, run in the sandbox for all three phases.
//! Needs a running Docker engine (and, on first use, root to build the runner
//! image); fails loudly without one. One test runs the grades one after another
//! to keep the machine's two cores for dbt.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use common::{
    assay, assert_valid, copy_tree, exec_outcomes, new_run_id, outcome, repo_root, run_containers,
};
use serde_json::Value;

fn strong() -> PathBuf {
    repo_root().join("reference-solutions/marketplace-elt/strong")
}

/// The grades of run `run_id` left no container behind. Other grades on the
/// same engine (another test binary, someone's `assay grade`) are not looked at.
fn assert_no_sandbox_left(run_id: &str) {
    let left = run_containers(run_id);
    assert!(
        left.is_empty(),
        "sandbox containers of run {run_id} left behind: {left:?}"
    );
}

fn require_docker() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(assay::execute::docker::connect())
        .expect("these tests need a running Docker engine (DOCKER_HOST or /var/run/docker.sock)");
}

/// Replaces `from` with `to` in one file of a copied solution; the edit must apply.
fn edit(root: &Path, rel: &str, from: &str, to: &str) {
    let path = root.join(rel);
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(from),
        "{rel} no longer holds the text this test edits:\n{from}"
    );
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn grade(source: &Path, out: &Path) -> Value {
    let run_id = new_run_id();
    let run = assay()
        .env("ASSAY_RUN_ID", &run_id)
        .args([
            "grade",
            source.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        matches!(run.status.code(), Some(0) | Some(1)),
        "grade failed: {stderr}"
    );
    let name = source.file_name().unwrap().to_str().unwrap();
    let path = common::report_dir(out, name).join("report.json");
    let report: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_valid(&report);
    let stage = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "execute")
        .expect("an execute stage record");
    assert_eq!(
        stage["status"], "ok",
        "execution did not run: {stage}\n{stderr}"
    );
    eprintln!("{name}: {}", stage["detail"]);
    assert_no_sandbox_left(&run_id);
    report
}

/// phase → check id → outcome kind.
fn hidden(report: &Value) -> BTreeMap<u64, BTreeMap<String, String>> {
    let mut out: BTreeMap<u64, BTreeMap<String, String>> = BTreeMap::new();
    for h in report["execution"]["hidden_checks"].as_array().unwrap() {
        out.entry(h["phase"].as_u64().unwrap()).or_default().insert(
            h["check"].as_str().unwrap().to_string(),
            h["outcome"]["kind"].as_str().unwrap().to_string(),
        );
    }
    out
}

fn not_passing(report: &Value, phase: u64) -> Vec<String> {
    hidden(report)
        .get(&phase)
        .map(|m| {
            m.iter()
                .filter(|(_, o)| *o != "pass")
                .map(|(c, o)| format!("{c}={o}"))
                .collect()
        })
        .unwrap_or_default()
}

fn check_result<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap()
}

/// The tests that run whole grades take turns: two at once would share the
/// machine's two cores and slow dbt past its deadlines.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn grading_runs_the_strong_solution_and_catches_planted_faults() {
    let _turn = heavy();
    require_docker();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reports");
    let mut failures = Vec::new();

    // The strong reference: every hidden check passes in all three phases.
    let report = grade(&strong(), &out);
    let phases = hidden(&report);
    assert_eq!(phases.len(), 3, "three phases of hidden checks");
    for phase in 1..=3 {
        let bad = not_passing(&report, phase);
        if !bad.is_empty() {
            failures.push(format!("strong, phase {phase}: {bad:?}"));
        }
    }
    for check in [
        "exec.hidden_phase1",
        "exec.hidden_phase2",
        "exec.hidden_phase3",
        "exec.idempotent_rerun",
        "exec.builds_cleanly",
        "exec.candidate_tests_pass",
    ] {
        if outcome(&report, check) != "pass" {
            failures.push(format!(
                "strong: {check} is {}: {}",
                outcome(&report, check),
                check_result(&report, check)
            ));
        }
    }

    // The debrief of a strong submission: a verdict that says all is well,
    // and no question its README already answers (its profiling, its traps).
    if report["verdict"]["hidden_failing"] != 0 || report["verdict"]["executed"] != true {
        failures.push(format!("strong's verdict: {}", report["verdict"]));
    }
    for f in report["followups"].as_array().unwrap() {
        if matches!(
            f["check"].as_str(),
            Some("docs.trap_writeups" | "history.exploration_first" | "history.work_log")
        ) {
            failures.push(format!(
                "strong is asked what its README answers: {}",
                f["question"]
            ));
        }
    }

    // Two independent faults in one copy: payments no longer deduplicated (T1),
    // and fct_orders appends instead of merging, so a rerun duplicates rows.
    let faulty = tmp.path().join("strong-faulty");
    copy_tree(&strong(), &faulty);
    edit(
        &faulty,
        "models/staging/stg_payments.sql",
        "    qualify row_number() over (\n        partition by event_id\n        order by received_at, _airbyte_extracted_at, _airbyte_raw_id\n    ) = 1\n",
        "",
    );
    edit(
        &faulty,
        "models/marts/core/fct_orders.sql",
        "        unique_key='order_id',\n        incremental_strategy='merge',",
        "        incremental_strategy='append',",
    );
    let report = grade(&faulty, &out);
    let phases = hidden(&report);
    if phases[&1]["hidden.payments_unique_events"] != "fail"
        || phases[&1]["hidden.stg_payments_unique_events"] != "fail"
    {
        failures.push(format!(
            "no-dedup: T1 checks should fail in phase 1: {:?}",
            phases[&1]
        ));
    }
    if phases[&1]["hidden.fct_orders_count"] != "pass" {
        failures.push("append: fct_orders is right after the first build".into());
    }
    if phases[&3]["hidden.fct_orders_count"] != "fail" {
        failures.push(format!(
            "append: fct_orders should hold duplicates after the rerun: {:?}",
            phases[&3]
        ));
    }
    let idem = check_result(&report, "exec.idempotent_rerun");
    if idem["outcome"]["kind"] != "fail"
        || !idem["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["note"].as_str().unwrap().contains("`fct_orders`"))
    {
        failures.push(format!("append: the rerun must change fct_orders: {idem}"));
    }
    if outcome(&report, "exec.hidden_phase1") == "pass" {
        failures.push("no-dedup: exec.hidden_phase1 passed".into());
    }

    // The incremental watermark on the raw products.updated_at: the future
    // timestamps of trap T2 stall it, so the second load misses new products.
    let stalled = tmp.path().join("strong-stalled-watermark");
    copy_tree(&strong(), &stalled);
    plant_stalled_watermark(&stalled);
    let report = grade(&stalled, &out);
    let p1 = not_passing(&report, 1);
    let p2 = not_passing(&report, 2);
    if !p1.is_empty() {
        failures.push(format!("stalled watermark: phase 1 should pass: {p1:?}"));
    }
    if !p2.iter().any(|c| c.starts_with("hidden.seller_gmv_each")) {
        failures.push(format!(
            "stalled watermark: seller GMV should fail in phase 2: {p2:?}"
        ));
    }
    if outcome(&report, "exec.hidden_phase1") != "pass"
        || outcome(&report, "exec.hidden_phase2") == "pass"
    {
        failures.push("stalled watermark: phase 1 must pass and phase 2 must not".into());
    }

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Seller GMV read through an incremental products model whose watermark is the
/// raw `updated_at` (no cap at extraction time, no lookback).
fn plant_stalled_watermark(root: &Path) {
    edit(
        root,
        "models/marts/core/dim_products.sql",
        "    where updated_at_utc >= (\n        select max(updated_at_utc) - interval '{{ var(\"incremental_lookback_days\") }} days'\n        from {{ this }}\n    )",
        "    where updated_at_raw_utc > (\n        select max(updated_at_raw_utc)\n        from {{ this }}\n    )",
    );
    edit(
        root,
        "models/intermediate/int_order_items_usd.sql",
        "    select product_id, seller_id from {{ ref('stg_products') }}",
        "    select product_id, seller_id from {{ ref('dim_products') }}",
    );
}

/// The executed checks the rubric scores, read from the rubric itself so a
/// new check does not need this test edited.
fn executed_checks_in_rubric() -> BTreeSet<String> {
    let rubric = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rubric/marketplace-elt.toml"),
    )
    .unwrap();
    rubric
        .lines()
        .filter_map(|l| l.trim().strip_prefix("check = \""))
        .filter_map(|rest| rest.split('"').next())
        .filter(|id| id.starts_with("exec."))
        .map(str::to_string)
        .collect()
}

fn execute_stage(report: &Value) -> &Value {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "execute")
        .unwrap()
}

#[test]
fn without_an_engine_the_grade_is_incomplete_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let run = assay()
        .env("DOCKER_HOST", "unix:///nonexistent/assay-test/docker.sock")
        .args([
            "grade",
            strong().to_str().unwrap(),
            "--out",
            tmp.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    // Not the candidate's doing, and not a grade to compare with others.
    assert_eq!(run.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("INCOMPLETE: the submission was not executed: no Docker engine"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("not executed"))
        .collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    assert!(lines[0].contains("no Docker engine"), "{stderr}");
    let report = common::read_report(tmp.path(), "strong");
    let stage = execute_stage(&report);
    assert_eq!(stage["status"], "failed");
    assert!(stage["detail"]
        .as_str()
        .unwrap()
        .contains("no Docker engine"));
    assert!(report.get("execution").is_none());
    // The grader could not decide: errors, which leave the score, never
    // fails; checks of other exercises' workloads are not applicable here.
    let scored = executed_checks_in_rubric();
    for (check, outcome) in exec_outcomes(&report) {
        let expected = if scored.contains(&check) {
            "error"
        } else {
            "not_applicable"
        };
        assert_eq!(outcome, expected, "{check}");
    }
    assert_eq!(report["status"], "incomplete");
    assert!(report["error"]
        .as_str()
        .unwrap()
        .contains("no Docker engine"));
    // Accepted on request.
    let accepted = assay()
        .env("DOCKER_HOST", "unix:///nonexistent/assay-test/docker.sock")
        .args([
            "grade",
            strong().to_str().unwrap(),
            "--allow-incomplete",
            "--out",
        ])
        .arg(tmp.path().join("accepted"))
        .output()
        .unwrap();
    assert_eq!(accepted.status.code(), Some(0));
}

#[test]
fn no_exec_leaves_executed_checks_out_of_the_score() {
    let tmp = tempfile::tempdir().unwrap();
    let run = assay()
        .args([
            "grade",
            strong().to_str().unwrap(),
            "--no-exec",
            "--out",
            tmp.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let report = common::read_report(tmp.path(), "strong");
    let stage = execute_stage(&report);
    assert_eq!(stage["status"], "skipped");
    assert!(stage["detail"].as_str().unwrap().contains("--no-exec"));
    let outcomes = exec_outcomes(&report);
    let scored = executed_checks_in_rubric();
    assert!(!scored.is_empty());
    // Every check runs; those of other exercises' workloads are in the report too.
    let reported = outcomes.keys().cloned().collect::<BTreeSet<_>>();
    assert!(
        scored.is_subset(&reported),
        "every executed check the rubric scores is in the report: {scored:?} of {reported:?}"
    );
    for (check, outcome) in outcomes {
        assert_eq!(outcome, "not_applicable", "{check}");
    }
}

/// One dbt Python model that tries everything a hostile submission might
/// while dbt builds: reach the network, write to the grader's host, fork
/// until the machine stops, and forge dbt's run_results.json behind a link.
const HOSTILE_MODEL: &str = r#"
import json, os, socket, time

def model(dbt, session):
    # Downstream of every mart: it strikes once the contract models are built,
    # and the grade must still refuse to take them as measured.
    dbt.ref("mart_gmv_daily")
    dbt.ref("mart_seller_performance")
    dbt.ref("mart_payment_reconciliation")
    dbt.ref("mart_customer_cohorts")
    dbt.ref("dim_users")
    dbt.ref("dim_sellers")
    outcomes = []
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=3).close()
        outcomes.append("network:open")
    except OSError:
        outcomes.append("network:blocked")
    try:
        with open("HOST_MARKER", "w") as f:
            f.write("escaped")
        outcomes.append("host:written")
    except OSError:
        outcomes.append("host:refused")
    children = []
    for _ in range(5000):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            # A small process that holds its pid: a forked Python interpreter
            # would copy its memory page by page (reference counts write to
            # it) and end the phase at the memory limit instead.
            try:
                os.execv("/bin/sleep", ["sleep", "60"])
            finally:
                os._exit(0)
        children.append(pid)
    outcomes.append("forks:%d" % len(children))
    target = os.environ.get("DBT_TARGET_PATH", "target")
    forged = "/tmp/forged-%d.json" % os.getpid()
    with open(forged, "w") as f:
        json.dump({"metadata": {}, "results": [{"unique_id": "model.forged.ok", "status": "success"}]}, f)
    os.chmod(forged, 0o444)
    link = os.path.join(target, "run_results.json")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(forged, link)
    return session.sql("select '%s' as outcome" % ",".join(outcomes))
"#;

/// A batch with execution: a submission whose Python model attacks the sandbox
/// is contained and reported, and the submission after it is graded as if
/// nothing had happened.
#[test]
fn an_executed_batch_reports_a_hostile_model_and_grades_the_rest() {
    let _turn = heavy();
    require_docker();
    let tmp = tempfile::tempdir().unwrap();
    let hostile = tmp.path().join("hostile");
    copy_tree(&strong(), &hostile);
    let marker = std::env::temp_dir().join(format!("assay-escape-{}", std::process::id()));
    fs::write(
        hostile.join("models/hostile_probe.py"),
        HOSTILE_MODEL.replace("HOST_MARKER", marker.to_str().unwrap()),
    )
    .unwrap();
    let manifest = tmp.path().join("cohort.toml");
    fs::write(
        &manifest,
        format!(
            "[[submission]]\nid = \"hostile\"\nsource = \"{}\"\n\n[[submission]]\nid = \"strong\"\nsource = \"{}\"\n",
            hostile.display(),
            strong().display()
        ),
    )
    .unwrap();
    let out = tmp.path().join("batch");
    let run_id = new_run_id();
    let run = assay()
        .env("CI", "true")
        .env("ASSAY_RUN_ID", &run_id)
        .args([
            "batch",
            manifest.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");

    let read = |id: &str| -> Value {
        let report: Value =
            serde_json::from_str(&fs::read_to_string(out.join(id).join("report.json")).unwrap())
                .unwrap();
        assert_valid(&report);
        assert_eq!(report["status"], "graded", "{id}: {}", report["error"]);
        report
    };
    let hostile_report = read("hostile");
    assert!(
        !marker.exists(),
        "a model wrote to the host: {}",
        marker.display()
    );
    // The fork bomb hit the process limit and the forged results were
    // refused: the submission ended phase 1, the report names both, and no
    // later phase runs in a workspace it tampered with.
    let phases = hostile_report["execution"]["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 3);
    assert_eq!(phases[0]["status"], "ended_by_submission", "{}", phases[0]);
    let problems: Vec<&str> = phases[0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for expected in ["process limit", "run_results.json was a symbolic link"] {
        assert!(
            problems.iter().any(|m| m.contains(expected)),
            "phase 1 does not name `{expected}`: {problems:?}"
        );
    }
    for p in &phases[1..] {
        assert_eq!(p["status"], "skipped", "{p}");
        assert!(
            p["detail"]
                .as_str()
                .is_some_and(|d| d.contains("ended by the submission's code")),
            "{p}"
        );
    }
    // Nothing of a tampered phase is taken as measured, and the verdict
    // says whose doing it was.
    assert_ne!(outcome(&hostile_report, "exec.builds_cleanly"), "pass");
    let verdict = hostile_report["verdict"]["headline"].as_str().unwrap();
    assert!(
        verdict.starts_with("the submission's code ended phase 1, phase 2, 3 did not run"),
        "{verdict}"
    );

    let strong_report = read("strong");
    for phase in 1..=3 {
        assert!(
            not_passing(&strong_report, phase).is_empty(),
            "strong after the hostile one, phase {phase}: {:?}",
            not_passing(&strong_report, phase)
        );
    }
    assert_eq!(outcome(&strong_report, "exec.builds_cleanly"), "pass");

    assert_no_sandbox_left(&run_id);
}

/// A dbt project in `dir/endless` whose one Python model never returns.
fn endless(dir: &Path) -> PathBuf {
    let sub = dir.join("endless");
    fs::create_dir_all(sub.join("models")).unwrap();
    fs::write(
        sub.join("dbt_project.yml"),
        "name: marketplace\nversion: '1.0'\nprofile: marketplace\n",
    )
    .unwrap();
    fs::write(
        sub.join("models/spin.py"),
        "def model(dbt, session):\n    while True:\n        pass\n    return session.sql(\"select 1 as never\")\n",
    )
    .unwrap();
    sub
}

/// A submission whose Python model never returns: dbt is killed at its
/// deadline in every phase, the report says so, and the grade completes.
#[test]
fn a_model_that_never_returns_is_cut_off_and_the_grade_completes() {
    let _turn = heavy();
    require_docker();
    let tmp = tempfile::tempdir().unwrap();
    let sub = endless(tmp.path());
    fs::write(sub.join("models/fct_orders.sql"), "select 1 as order_id\n").unwrap();
    // A short phase so the test does not wait out the default quarter hour.
    let config = tmp.path().join("assay.toml");
    fs::write(&config, "[execute]\nphase_timeout_secs = 30\n").unwrap();
    let out = tmp.path().join("reports");
    let run_id = new_run_id();
    let run = assay()
        .env("ASSAY_RUN_ID", &run_id)
        .args(["grade", sub.to_str().unwrap(), "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(matches!(run.status.code(), Some(0) | Some(1)), "{stderr}");
    let report: Value = serde_json::from_str(
        &fs::read_to_string(common::report_dir(&out, "endless").join("report.json")).unwrap(),
    )
    .unwrap();
    assert_valid(&report);
    assert_eq!(report["status"], "graded");
    let phases = report["execution"]["phases"].as_array().unwrap();
    assert_eq!(phases[0]["status"], "dbt_timed_out", "{phases:?}");
    for p in phases {
        assert_ne!(p["status"], "completed", "{p}");
    }
    assert_ne!(outcome(&report, "exec.builds_cleanly"), "pass");

    assert_no_sandbox_left(&run_id);
}

/// Writes a one-macro dbt package: `{{ <name>.answer() }}` renders `value`.
fn macro_package(dir: &Path, name: &str, value: u32) {
    fs::create_dir_all(dir.join("macros")).unwrap();
    fs::write(
        dir.join("dbt_project.yml"),
        format!("name: {name}\nversion: '1.0.0'\nconfig-version: 2\nmacro-paths: [\"macros\"]\n"),
    )
    .unwrap();
    fs::write(
        dir.join("macros/answer.sql"),
        format!("{{% macro answer() %}}{value}{{% endmacro %}}\n"),
    )
    .unwrap();
}

/// The sandbox has no network, so `dbt deps` cannot run there: a hub package
/// comes from the package cache and a `local:` one from the submission, both
/// usable by the candidate's models; a package neither holds is the
/// submission's failure, named.
#[test]
fn packages_come_from_the_cache_and_the_submission_and_a_missing_one_fails_the_build() {
    let _turn = heavy();
    require_docker();
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("with-packages");
    copy_tree(&strong(), &sub);
    let cache = tmp.path().join("package-cache");
    macro_package(&cache.join("assay_audit"), "assay_audit", 40);
    macro_package(&sub.join("vendor/helpers"), "helpers", 2);
    fs::write(
        sub.join("packages.yml"),
        "packages:\n  - package: acme/assay_audit\n    version: 1.0.0\n  - local: vendor/helpers\n",
    )
    .unwrap();
    fs::write(
        sub.join("models/pkg_probe.sql"),
        "select {{ assay_audit.answer() }} + {{ helpers.answer() }} as answer\n",
    )
    .unwrap();
    let config = tmp.path().join("assay.toml");
    fs::write(
        &config,
        format!("[packages]\ncache_dir = {:?}\n", cache.to_str().unwrap()),
    )
    .unwrap();

    let run_id = new_run_id();
    let grade_with_config = |out: &Path| {
        let run = assay()
            .env("ASSAY_RUN_ID", &run_id)
            .args(["grade", sub.to_str().unwrap(), "--config"])
            .arg(&config)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        assert!(matches!(run.status.code(), Some(0) | Some(1)), "{stderr}");
        (common::read_report(out, "with-packages"), stderr)
    };

    let (report, stderr) = grade_with_config(&tmp.path().join("r1"));
    assert_eq!(execute_stage(&report)["status"], "ok", "{stderr}");
    assert_eq!(outcome(&report, "exec.builds_cleanly"), "pass");
    let measured = hidden(&report);
    assert_eq!(measured.len(), 3, "hidden checks in every phase");
    for phase in 1..=3 {
        assert!(
            not_passing(&report, phase).is_empty(),
            "phase {phase}: {:?}",
            not_passing(&report, phase)
        );
    }

    // A hub package the cache does not hold: the exercise says the build has
    // no network, so listing it is the submission's failure. Nothing starts,
    // every phase fails with the package named, and no executed check is an
    // error of the grader.
    fs::write(
        sub.join("packages.yml"),
        "packages:\n  - package: acme/assay_audit\n    version: 1.0.0\n  - local: vendor/helpers\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n",
    )
    .unwrap();
    let (report, stderr) = grade_with_config(&tmp.path().join("r2"));
    assert_eq!(report["status"], "graded", "{stderr}");
    let stage = execute_stage(&report);
    assert_eq!(stage["status"], "ok");
    let detail = stage["detail"].as_str().unwrap();
    assert!(detail.contains("cannot be installed"), "{detail}");
    assert!(detail.contains("dbt-labs/dbt_utils 1.3.0"), "{detail}");
    assert!(!detail.contains("assay_audit"), "{detail}");
    assert!(!stderr.contains("not executed"), "{stderr}");
    let outcomes = exec_outcomes(&report);
    for (check, outcome) in &outcomes {
        assert_ne!(outcome, "error", "{check}");
    }
    assert_eq!(outcomes["exec.builds_cleanly"], "fail");
    assert_eq!(outcomes["exec.hidden_phase1"], "fail");
    assert_no_sandbox_left(&run_id);
}

/// Ctrl-C in the middle of a phase: the grader removes its container before it
/// exits with 130, the status of an interrupted command.
#[test]
fn ctrl_c_removes_the_sandbox() {
    let _turn = heavy();
    require_docker();
    let tmp = tempfile::tempdir().unwrap();
    let sub = endless(tmp.path());
    let run_id = new_run_id();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_assay"))
        .env("ASSAY_HOME", env!("CARGO_MANIFEST_DIR"))
        .env("ASSAY_RUN_ID", &run_id)
        .env_remove("ASSAY_CONFIG")
        .args(["grade", sub.to_str().unwrap(), "--out"])
        .arg(tmp.path().join("reports"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The runner image may need building on a fresh machine: wait generously.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
    loop {
        if !run_containers(&run_id).is_empty() {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the grade ended before its sandbox started"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no sandbox started in time"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // Into dbt's run, past the container's start.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert_no_sandbox_left(&run_id);
}
