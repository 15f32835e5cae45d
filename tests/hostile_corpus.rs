//! The hostile corpus: submissions that sabotage their own run, generated here
//! at test time from one tiny dbt project, each graded with execution as a
//! user would (`assay grade DIR`).
//!
//! Every sabotage replaces one Python model. Its honest counterpart is the same
//! project whose model fails with a SQL error; each sabotage must
//!
//! - be graded (never `incomplete`, no executed check in `error`): what the
//!   submission's code did is the candidate's failure;
//! - name what it did (the phase's detail or problems);
//! - never score above the honest failure;
//! - be contained: no container of its run left, nothing left in the
//!   grader's temporary folder, a canary beside the submission untouched.
//!
//! The project is tiny (three models on the seeded sources) so a phase takes
//! seconds; grades run two at a time. Needs a running Docker engine and builds
//! the runner image when it is missing. The names-with-escapes class needs no
//! execution and is graded with `--no-exec`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use common::{assay, exec_outcomes, new_run_id, outcome, read_report, run_containers, write_tree};
use serde_json::Value;

/// Limits small enough that filling the workspace or a file takes a second.
const CONFIG: &str = "[execute]
phase_timeout_secs = 240
memory_bytes = 1073741824
work_tmpfs_bytes = 268435456
fsize_bytes = 67108864
max_manifest_bytes = 16777216
";

const SOURCES: &str = "version: 2
sources:
  - name: marketplace
    schema: raw
    tables:
      - name: payments
      - name: orders
      - name: users
";

/// The Python model every variant shares; `{sabotage}` runs before the model
/// fails the honest way, with a SQL error.
const MODEL: &str = "import json
import os
import signal
import sys
import time


def model(dbt, session):
    dbt.config(materialized='table')
    dbt.ref('stg_payments')
{sabotage}
    return session.sql('select no_such_column from (select 1 as x)')
";

fn project(sabotage: &str) -> Vec<(String, String)> {
    let indented: String = sabotage.lines().map(|l| format!("    {l}\n")).collect();
    vec![
        (
            "dbt_project.yml".into(),
            "name: marketplace\nversion: '1.0.0'\nconfig-version: 2\nprofile: marketplace\nmodel-paths: [models]\n".into(),
        ),
        ("models/sources.yml".into(), SOURCES.into()),
        (
            "models/staging/stg_payments.sql".into(),
            "select distinct event_id, order_id, event_type, amount, currency\nfrom {{ source('marketplace', 'payments') }}\n".into(),
        ),
        (
            "models/marts/fct_payments.sql".into(),
            "select event_id, order_id, event_type, amount as amount_usd\nfrom {{ ref('stg_payments') }}\n".into(),
        ),
        (
            "models/marts/_marts.yml".into(),
            "version: 2\nmodels:\n  - name: fct_payments\n    columns:\n      - name: order_id\n        data_tests: [not_null]\n".into(),
        ),
        (
            "models/marts/payment_audit.py".into(),
            MODEL.replace("{sabotage}", &indented),
        ),
        ("README.md".into(), "# A tiny marketplace project\n".into()),
    ]
}

struct Class {
    name: &'static str,
    sabotage: &'static str,
    /// Extra files (path, content) beside the project.
    extra: &'static [(&'static str, &'static str)],
    /// Words the report must show for what the submission did.
    named: &'static [&'static str],
}

const CLASSES: &[Class] = &[
    Class {
        name: "fill-workspace",
        sabotage: "i = 0
try:
    while True:
        with open('/work/fill-%d' % i, 'wb') as f:
            for _ in range(32):
                f.write(b'\\0' * (1 << 20))
        i += 1
except OSError:
    pass",
        extra: &[],
        named: &["workspace", "was full"],
    },
    Class {
        name: "huge-target-writes",
        sabotage: "try:
    with open(os.path.join(os.environ['DBT_TARGET_PATH'], 'huge.bin'), 'wb') as f:
        while True:
            f.write(b'\\0' * (1 << 20))
except OSError:
    pass",
        extra: &[],
        named: &["file-size limit", "huge.bin"],
    },
    Class {
        name: "stdout-flood",
        sabotage: "line = 'flood ' * 1000 + '\\n'
for _ in range(17000):
    sys.stdout.write(line)
sys.stdout.flush()",
        extra: &[],
        named: &["console received"],
    },
    Class {
        name: "giant-manifest-then-exit-0",
        sabotage: "with open(os.path.join(os.environ['DBT_TARGET_PATH'], 'manifest.json'), 'w') as f:
    f.write('{\"nodes\": {\"x\": \"')
    for _ in range(24):
        f.write('a' * (1 << 20))
    f.write('\"}}')
os._exit(0)",
        extra: &[],
        named: &["manifest.json", "over the cap"],
    },
    Class {
        name: "precreated-phase-folders",
        sabotage: "forged = json.dumps({'results': [{'unique_id': 'model.marketplace.payment_audit', 'status': 'success'}]})
for base in ('/work/phases', '/work'):
    for name in ('p2-incremental', 'p3-idempotency', 'p1-checks', 'p2-checks', 'p3-checks'):
        os.makedirs(os.path.join(base, name, 'target'), exist_ok=True)
        with open(os.path.join(base, name, 'target', 'run_results.json'), 'w') as f:
            f.write(forged)",
        extra: &[],
        named: &[],
    },
    Class {
        name: "kill-the-runner",
        sabotage: "os.kill(os.getppid(), signal.SIGKILL)
time.sleep(3)",
        extra: &[],
        named: &["runner was killed"],
    },
    Class {
        name: "unresolvable-packages",
        sabotage: "pass",
        extra: &[(
            "packages.yml",
            "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n",
        )],
        named: &["dbt-labs/dbt_utils", "cannot be installed"],
    },
    Class {
        name: "forged-run-results",
        sabotage: "results = [{'unique_id': 'model.marketplace.m%d' % i, 'status': 'success', 'failures': None, 'message': 'OK'} for i in range(124)]
with open(os.path.join(os.environ['DBT_TARGET_PATH'], 'run_results.json'), 'w') as f:
    json.dump({'results': results, 'elapsed_time': 1.0}, f)
os._exit(0)",
        extra: &[],
        named: &["forged"],
    },
    Class {
        name: "memory-bomb",
        // Written bytes, not calloc'd ones, so the pages are really taken.
        sabotage: "hog = []
while True:
    hog.append(b'\\x01' * (64 << 20))",
        extra: &[],
        named: &["out of memory"],
    },
    Class {
        name: "fork-bomb",
        // Each child becomes `sleep`: small, so the process limit is met
        // before the memory limit.
        sabotage: "for _ in range(100000):
    try:
        if os.fork() == 0:
            os.execv('/bin/sleep', ['sleep', '600'])
    except OSError:
        break",
        extra: &[],
        named: &["process limit"],
    },
    Class {
        name: "looks-for-answers-and-secrets",
        // What a submission could find to copy: the truth, the hidden checks,
        // the grader's environment, the engine's socket, a writable grader
        // file. It reports what it found in its own error, so the test reads
        // it in the report.
        sabotage: "found = []
for dirpath, dirnames, filenames in os.walk('/'):
    if dirpath.startswith(('/proc', '/sys', '/dev', '/usr', '/opt/dbt')):
        dirnames[:] = []
        continue
    for n in filenames:
        if 'truth' in n or 'hidden' in n or n.endswith('.toml'):
            found.append(os.path.join(dirpath, n))
env = sorted(k for k in os.environ if 'SECRET' in k)
docker = os.path.exists('/var/run/docker.sock')
writable = []
for p in ('/opt/assay/runner.py', '/opt/assay/profiles/profiles.yml'):
    try:
        with open(p, 'a'):
            writable.append(p)
    except OSError:
        pass
raise RuntimeError('searched: found=%r env=%r docker=%r writable=%r' % (found[:5], env, docker, writable))",
        extra: &[],
        named: &["found=[] env=[] docker=False writable=[]"],
    },
];

/// Set in the grader's environment for every grade: it must reach no
/// container and no output.
const HOST_SECRET: &str = "host-secret-5be1c0de";

struct Graded {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    report: Value,
}

/// Grades one generated submission with execution, in its own folders and
/// under its own run id, and checks containment.
fn grade(root: &Path, name: &str, files: &[(String, String)], config: &Path) -> Graded {
    let work = root.join(name);
    let sub = work.join(name);
    let tmp = work.join("tmp");
    let out = work.join("out");
    fs::create_dir_all(&tmp).unwrap();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    write_tree(&sub, &refs);
    let canary = work.join("canary.txt");
    fs::write(&canary, "untouched\n").unwrap();
    let run_id = new_run_id();
    let started = Instant::now();
    let run = assay()
        .env("ASSAY_HOST_SECRET", HOST_SECRET)
        .env("ASSAY_RUN_ID", &run_id)
        .env("TMPDIR", &tmp)
        .args(["grade", sub.to_str().unwrap(), "--config"])
        .arg(config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    eprintln!(
        "{name}: exit {:?} after {:.0} s",
        run.status.code(),
        started.elapsed().as_secs_f64()
    );
    // Containment: no container of this run, nothing left in the grader's
    // temporary folder, the canary beside the submission untouched.
    let left = run_containers(&run_id);
    assert!(left.is_empty(), "{name}: containers left behind: {left:?}");
    let leftovers: Vec<_> = fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        leftovers.is_empty(),
        "{name}: left in TMPDIR: {leftovers:?}"
    );
    assert_eq!(fs::read_to_string(&canary).unwrap(), "untouched\n");
    // No host data in any output: the grader's environment stays on the host.
    assert!(!stdout.contains(HOST_SECRET) && !stderr.contains(HOST_SECRET));
    for file in walkdir(&out) {
        let bytes = fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(HOST_SECRET),
            "{name}: the host's secret reached {}",
            file.display()
        );
    }
    let report = read_report(&out, name);
    Graded {
        code: run.status.code(),
        stdout,
        stderr,
        report,
    }
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walkdir(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn overall(report: &Value) -> f64 {
    report["overall"]["score"]
        .as_f64()
        .expect("an overall score")
}

/// What the report says about how each phase went: status, detail, problems.
fn phase_story(report: &Value) -> String {
    report["execution"]["phases"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    format!(
                        "phase {} {}: {} | {}",
                        p["phase"],
                        p["status"].as_str().unwrap_or(""),
                        p["detail"].as_str().unwrap_or(""),
                        p["problems"]
                            .as_array()
                            .map(|a| a
                                .iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(" / "))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn require_image() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assay::execute::docker::connect().await.expect(
            "the hostile corpus needs a running Docker engine (DOCKER_HOST or /var/run/docker.sock)",
        );
        assay::execute::ensure_runner_image(
            &assay::execute::RunnerConfig::default(),
            &assay::execute::Progress::quiet(),
        )
        .await
        .expect("the runner image");
    });
}

/// Runs `jobs` two at a time: the machine's two cores go to dbt.
fn run_two_at_a_time(
    jobs: Vec<(String, Vec<(String, String)>)>,
    root: &Path,
    config: &Path,
) -> BTreeMap<String, Graded> {
    let queue = Mutex::new(jobs);
    let done = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some((name, files)) = queue.lock().unwrap().pop() else {
                    break;
                };
                let graded = grade(root, &name, &files, config);
                done.lock().unwrap().insert(name, graded);
            });
        }
    });
    done.into_inner().unwrap()
}

#[test]
fn sabotage_never_scores_above_the_honest_failure_and_is_named() {
    require_image();
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("assay.toml");
    fs::write(&config, CONFIG).unwrap();

    let mut jobs = vec![("honest-failure".to_string(), project(""))];
    for class in CLASSES {
        let mut files = project(class.sabotage);
        for (p, c) in class.extra {
            files.push((p.to_string(), c.to_string()));
        }
        jobs.push((class.name.to_string(), files));
    }
    // Longest first, so the two workers finish together.
    jobs.reverse();
    let graded = run_two_at_a_time(jobs, tmp.path(), &config);
    eprintln!(
        "hostile corpus: {} grades in {:.0} s",
        graded.len(),
        started.elapsed().as_secs_f64()
    );

    let honest = &graded["honest-failure"];
    assert_eq!(honest.report["status"], "graded", "{}", honest.stderr);
    let honest_score = overall(&honest.report);
    // The honest failure is a real failure of one model, judged on the data.
    let story = phase_story(&honest.report);
    assert!(story.contains("phase 1 completed"), "{story}");
    assert_ne!(outcome(&honest.report, "exec.builds_cleanly"), "pass");
    eprintln!("honest failure: {honest_score:.1}");

    let mut table = Vec::new();
    for class in CLASSES {
        let g = &graded[class.name];
        let story = phase_story(&g.report);
        let score = overall(&g.report);
        table.push(format!(
            "{:<28} {score:5.1}  (honest {honest_score:.1})",
            class.name
        ));
        assert!(
            matches!(g.code, Some(0) | Some(1)),
            "{}: exit {:?}\n{}\n{}",
            class.name,
            g.code,
            g.stdout,
            g.stderr
        );
        assert_eq!(g.report["status"], "graded", "{}: {story}", class.name);
        for (check, outcome) in exec_outcomes(&g.report) {
            assert_ne!(
                outcome, "error",
                "{}: {check} is an error\n{story}",
                class.name
            );
        }
        assert!(
            score <= honest_score + 1e-9,
            "{}: the sabotage scores {score:.1}, above the honest failure's {honest_score:.1}\n{story}",
            class.name
        );
        let said = format!("{story}\n{}", g.stdout);
        for word in class.named {
            assert!(
                said.contains(word),
                "{}: the report does not name `{word}`:\n{said}",
                class.name
            );
        }
    }
    eprintln!("{}", table.join("\n"));

    // A forged run_results.json earns no build or test credit.
    let forged = &graded["forged-run-results"].report;
    assert_eq!(outcome(forged, "exec.builds_cleanly"), "fail");
    assert_eq!(outcome(forged, "exec.candidate_tests_pass"), "fail");
    assert!(!phase_story(forged).contains("124 of 124"));

    // Folders planted for later phases change nothing: those phases run.
    let planted = phase_story(&graded["precreated-phase-folders"].report);
    assert!(planted.contains("phase 2 completed"), "{planted}");
    assert!(planted.contains("phase 3 completed"), "{planted}");

    // The terminal names the end of a killed runner.
    let killed = &graded["kill-the-runner"];
    assert!(
        killed.stdout.contains("ended by submission"),
        "{}",
        killed.stdout
    );
}

/// Escape sequences and bidi controls in file and model names, in SQL and in
/// documentation reach no output raw: each shows as a visible escape.
#[test]
fn names_with_terminal_sequences_and_bidi_controls_are_shown_inert() {
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("escapes");
    let evil_model = "models/marts/fct_\u{1b}]0;pwned\u{7}\u{1b}[2Jorders\u{202e}lqs.sql";
    // Longer than a report shows (200), within what a file system allows (255).
    let long = format!("models/marts/{}.sql", "n".repeat(240));
    let mut files = project("pass");
    files.push((
        evil_model.to_string(),
        "-- \u{1b}]52;c;ZXZpbA==\u{7} clipboard\nselect * from {{ ref('stg_payments') }}\n".into(),
    ));
    files.push((long, "select 1 as x\n".into()));
    files.push((
        "README.md".into(),
        "# Notes \u{1b}[31mred\u{1b}[0m \u{2066}hidden\u{2069}\n".into(),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    write_tree(&sub, &refs);
    let out = tmp.path().join("out");
    let run = assay()
        .args([
            "grade",
            sub.to_str().unwrap(),
            "--no-exec",
            "--format",
            "json,html,markdown,junit",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(matches!(run.status.code(), Some(0) | Some(1)), "{run:?}");
    let report = read_report(&out, "escapes");
    let dir = common::report_dir(&out, "escapes");
    let mut outputs = vec![(
        "stdout".to_string(),
        String::from_utf8_lossy(&run.stdout).into_owned(),
    )];
    for f in [
        "report.json",
        "report.html",
        "report.md",
        "report.junit.xml",
    ] {
        outputs.push((f.to_string(), fs::read_to_string(dir.join(f)).unwrap()));
    }
    let raw = |c: char| {
        c == '\u{1b}' || c == '\u{7}' || ('\u{2066}'..='\u{2069}').contains(&c) || c == '\u{202e}'
    };
    for (name, text) in &outputs {
        if let Some(pos) = text.find(raw) {
            panic!(
                "{name} holds a raw control character: {:?}",
                &text[pos.saturating_sub(40)..(pos + 40).min(text.len())]
            );
        }
    }
    // report.json escapes control characters itself (\u001b): read its strings.
    let mut all = Vec::new();
    strings(&report, &mut all);
    for s in &all {
        assert!(
            !s.chars().any(raw),
            "report.json holds a raw control character in {s:?}"
        );
    }
    // The evil name is still there, visibly: nothing was silently dropped.
    let json = &outputs[1].1;
    assert!(
        json.contains("fct_\\\\x1b]0;pwned"),
        "the model's name is not shown escaped"
    );
    assert!(
        json.contains("\\\\u{202e}"),
        "the bidi override is not shown escaped"
    );
    // Names are cut: no path in the report is 300 characters long.
    assert!(
        !json.contains(&"n".repeat(250)),
        "a long name was not truncated"
    );
    assert_eq!(report["status"], "graded");
}

/// Every string of a JSON value, for looking at what report.json holds once
/// its own escaping is undone.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}
