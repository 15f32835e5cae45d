//! Shared helpers for the end-to-end tests: run the real binary, build
//! submissions of every kind, validate reports against the committed schema.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

pub fn assay() -> Command {
    let mut cmd = Command::cargo_bin("assay").expect("the assay binary is built");
    cmd.env("ASSAY_HOME", env!("CARGO_MANIFEST_DIR"));
    cmd.env_remove("ASSAY_CONFIG");
    cmd
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `files` (path, content) under `root`.
pub fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let target = root.join(path);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, content).unwrap();
    }
}

/// A small candidate project: two contract models with tests.
pub fn small_project() -> Vec<(&'static str, &'static str)> {
    vec![
        ("dbt_project.yml", "name: marketplace\nprofile: marketplace\nmodel-paths: [models]\n"),
        ("models/staging/stg_payments.sql", "select * from {{ source('marketplace', 'payments') }}\n"),
        ("models/marts/fct_orders.sql", "select order_id from {{ ref('stg_orders') }}\n"),
        ("models/marts/_marts.yml", "version: 2\nmodels:\n  - name: fct_orders\n    columns:\n      - name: order_id\n        data_tests: [unique, not_null]\n"),
        ("dags/marketplace_elt.py", "from airflow import DAG\n"),
        ("README.md", "# My solution\n"),
    ]
}

/// Creates a git repository at `dir` with one commit per step.
pub fn git_repo(dir: &Path, steps: &[(&str, &[(&str, &str)])]) -> git2::Oid {
    let repo = git2::Repository::init(dir).unwrap();
    let sig = git2::Signature::new(
        "Candidate",
        "c@example.org",
        &git2::Time::new(1_767_225_600, 0),
    )
    .unwrap();
    let mut parent: Option<git2::Oid> = None;
    for (i, (message, files)) in steps.iter().enumerate() {
        write_tree(dir, files);
        let mut index = repo.index().unwrap();
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let when = git2::Signature::new(
            "Candidate",
            "c@example.org",
            &git2::Time::new(1_767_225_600 + 600 * i as i64, 0),
        )
        .unwrap();
        let parents: Vec<git2::Commit> = parent
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        let oid = repo
            .commit(Some("HEAD"), &when, &sig, message, &tree, &refs)
            .unwrap();
        parent = Some(oid);
    }
    parent.unwrap()
}

/// The report folder of the submission called `name` in `out`: `out/name` when
/// the grade was given `--name name`, else the one default-named folder
/// `name-<hash>` (the source's basename and a hash of its path and ref).
pub fn report_dir(out: &Path, name: &str) -> PathBuf {
    let exact = out.join(name);
    if exact.is_dir() {
        return exact;
    }
    let mut found: Vec<PathBuf> = fs::read_dir(out)
        .unwrap_or_else(|e| panic!("no report folder in {}: {e}", out.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|hash| hash.len() == 8 && hash.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .collect();
    assert!(
        found.len() == 1,
        "expected one report folder for {name} in {}, found {found:?}",
        out.display()
    );
    found.remove(0)
}

pub fn read_report(out: &Path, name: &str) -> Value {
    let path = report_dir(out, name).join("report.json");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no report at {}: {e}", path.display()));
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_valid(&report);
    report
}

/// Every report must validate against the committed, versioned schema.
pub fn assert_valid(report: &Value) {
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(repo_root().join("docs/report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the committed schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match docs/report.schema.json:\n{}",
        errors.join("\n")
    );
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn criterion<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["criteria"].as_array().unwrap().iter())
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no criterion {check} in the report"))
}

pub fn refusal_kinds(report: &Value) -> Vec<String> {
    report["acquisition"]["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect()
}

/// A run id no other test or grade on the engine uses: the tests pass it as
/// ASSAY_RUN_ID and look only at the containers that carry it.
pub fn new_run_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "test-{}-{nanos:08x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The sandbox containers (any state) the run `run_id` has on the engine.
pub fn run_containers(run_id: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let engine = assay::execute::docker::connect()
            .await
            .expect("a running Docker engine");
        assay::execute::docker::list_run_containers(&engine, run_id)
            .await
            .unwrap()
    })
}

/// A copy of a solution folder, without build output (dbt target, logs,
/// installed packages, Python caches).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if ["__pycache__", "target", "logs", "dbt_packages"]
            .iter()
            .any(|n| name == *n)
        {
            continue;
        }
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// A check's outcome kind in a report (`pass`, `fail`, `error`...).
pub fn outcome(report: &Value, check: &str) -> String {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no result for {check}"))["outcome"]["kind"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every executed check's outcome kind, by check id.
pub fn exec_outcomes(report: &Value) -> BTreeMap<String, String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"].as_str().unwrap().starts_with("exec."))
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["outcome"]["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A tar of `files` (path, content) under `cand-main/`, uncompressed.
pub fn tar_bytes(files: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("cand-main/{path}"), content.as_bytes())
            .unwrap();
    }
    tar.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, bytes).unwrap();
    gz.finish().unwrap()
}

/// A zip of `files` (path, content) under `cand-main/`, as interview
/// platforms export a repository.
pub fn zip_bytes(files: &[(&str, &str)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (path, content) in files {
        zip.start_file(format!("cand-main/{path}"), opts).unwrap();
        std::io::Write::write_all(&mut zip, content.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}
