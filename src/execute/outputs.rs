//! Reading what a sandbox phase produced. Everything here came out of a container
//! that ran the submission's code: each archive entry is checked (regular file,
//! known name, size cap) and each JSON file is parsed into typed structs with caps.

use super::{ExecuteError, SandboxLimits};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;

/// Raw files of one phase's output archive, after the entry checks.
#[derive(Debug, Default, Clone)]
pub struct OutputFiles {
    pub files: BTreeMap<String, Vec<u8>>,
}

const KNOWN: &[&str] = &[
    "result.json",
    "queries.json",
    "checks.json",
    "invocations.json",
    "run_results.json",
    "manifest.json",
    "dbt_stdout_tail.log",
];

fn cap_for(name: &str, limits: &SandboxLimits) -> u64 {
    match name {
        "manifest.json" => limits.max_manifest_bytes,
        "run_results.json" => limits.max_run_results_bytes,
        "dbt_stdout_tail.log" | "console_tail.log" => limits.log_tail_bytes,
        "queries.json" => limits.max_output_bytes,
        _ => 1 << 20,
    }
}

/// Unpacks the output tar in memory. Refuses links, devices, folders, unknown or
/// duplicate names and oversized entries; the archive as a whole is already
/// capped by the reader that collected it.
pub fn read_output_archive(
    data: &[u8],
    limits: &SandboxLimits,
) -> Result<OutputFiles, ExecuteError> {
    read_archive(data, limits, KNOWN)
}

/// What `runner.py tests` writes: its result and the end of pytest's console.
const TESTS_KNOWN: &[&str] = &["result.json", "console_tail.log"];

/// Unpacks the hidden tests' output tar, with the same refusals.
pub fn read_tests_archive(
    data: &[u8],
    limits: &SandboxLimits,
) -> Result<OutputFiles, ExecuteError> {
    read_archive(data, limits, TESTS_KNOWN)
}

fn read_archive(
    data: &[u8],
    limits: &SandboxLimits,
    known: &[&str],
) -> Result<OutputFiles, ExecuteError> {
    let mut archive = tar::Archive::new(data);
    let mut out = OutputFiles::default();
    let entries = archive
        .entries()
        .map_err(|e| ExecuteError::HostileOutput(format!("output archive unreadable: {e}")))?;
    for entry in entries {
        let mut entry = entry
            .map_err(|e| ExecuteError::HostileOutput(format!("output archive unreadable: {e}")))?;
        let kind = entry.header().entry_type();
        let name = entry
            .path()
            .map_err(|e| ExecuteError::HostileOutput(format!("bad entry name: {e}")))?
            .to_string_lossy()
            .into_owned();
        if !kind.is_file() {
            return Err(ExecuteError::HostileOutput(format!(
                "output entry {name:?} is not a regular file"
            )));
        }
        if !known.contains(&name.as_str()) {
            return Err(ExecuteError::HostileOutput(format!(
                "unexpected output entry {name:?}"
            )));
        }
        if out.files.contains_key(&name) {
            return Err(ExecuteError::HostileOutput(format!(
                "duplicate output entry {name:?}"
            )));
        }
        let cap = cap_for(&name, limits);
        let declared = entry.header().size().unwrap_or(u64::MAX);
        if declared > cap {
            return Err(ExecuteError::HostileOutput(format!(
                "output entry {name:?} is {declared} bytes, over the cap of {cap}"
            )));
        }
        let mut buf = Vec::with_capacity(declared as usize);
        (&mut entry)
            .take(cap + 1)
            .read_to_end(&mut buf)
            .map_err(|e| ExecuteError::HostileOutput(format!("reading {name:?}: {e}")))?;
        if buf.len() as u64 > cap {
            return Err(ExecuteError::HostileOutput(format!(
                "output entry {name:?} is over its cap"
            )));
        }
        out.files.insert(name, buf);
    }
    Ok(out)
}

/// Status of one node in run_results.json. Unknown values are kept, not trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Success,
    Error,
    Skipped,
    Pass,
    Fail,
    Warn,
    #[serde(rename = "runtime error")]
    RuntimeError,
    #[serde(untagged)]
    Other(String),
}

impl NodeStatus {
    /// A model that built or a test that passed (a warning is not a failure).
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            NodeStatus::Success | NodeStatus::Pass | NodeStatus::Warn
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub unique_id: String,
    pub status: NodeStatus,
    #[serde(default)]
    pub failures: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub execution_time: Option<f64>,
    /// Present for models after a build; absent for seeds and some tests.
    #[serde(default)]
    pub compiled_code: Option<String>,
    #[serde(default)]
    pub relation_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    pub results: Vec<RunResult>,
    #[serde(default)]
    pub elapsed_time: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DependsOn {
    #[serde(default)]
    pub nodes: Vec<String>,
    #[serde(default)]
    pub macros: Vec<String>,
}

/// The parts of a manifest node the grader reads; the rest is ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestNode {
    pub unique_id: String,
    pub resource_type: String,
    pub name: String,
    #[serde(default)]
    pub package_name: Option<String>,
    #[serde(default)]
    pub original_file_path: Option<String>,
    #[serde(default)]
    pub raw_code: Option<String>,
    #[serde(default)]
    pub compiled_code: Option<String>,
    #[serde(default)]
    pub depends_on: DependsOn,
    /// Materialization, unique_key, incremental_strategy, tags: kept as JSON
    /// because their shapes vary by adapter and version.
    #[serde(default)]
    pub config: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub attached_node: Option<String>,
    #[serde(default)]
    pub schema: Option<String>,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub columns: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestSource {
    pub unique_id: String,
    pub source_name: String,
    pub name: String,
    #[serde(default)]
    pub schema: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub nodes: BTreeMap<String, ManifestNode>,
    #[serde(default)]
    pub sources: BTreeMap<String, ManifestSource>,
    #[serde(default)]
    pub parent_map: BTreeMap<String, Vec<String>>,
}

/// One dbt command as the in-container runner saw it. Written by a process that
/// ran the submission's code: informative, never proof.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbtInvocation {
    pub args: Vec<String>,
    pub success: bool,
    #[serde(default)]
    pub exception: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryResult {
    pub name: String,
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub rows: Vec<Vec<serde_json::Value>>,
    #[serde(default)]
    pub truncated: bool,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DbtProcess {
    /// dbt's process as the runner saw it end: negative for a signal. The
    /// runner's own observation, though a model inside dbt can choose it (by
    /// exiting the process early).
    pub returncode: Option<i64>,
    #[serde(default)]
    pub timed_out: bool,
    /// The deadline the runner gave dbt.
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    #[serde(default)]
    pub elapsed_secs: Option<f64>,
    /// Bytes dbt's process wrote to its console (only the end is kept).
    #[serde(default)]
    pub console_bytes: Option<u64>,
    /// How many dbt commands the phase asked for.
    #[serde(default)]
    pub commands: Option<usize>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RefusedArtifact {
    pub name: String,
    pub reason: String,
    /// The artifact's size, when it was refused for being over its cap.
    #[serde(default)]
    pub size: Option<u64>,
}

/// What the runner measured of the container's limits: counters of the
/// container's cgroup (read-only inside it) and free space. In a phase's
/// `resources` the two counters are what the phase added; in `counters` and
/// in a probe they are the container's totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Processes the kernel killed for memory.
    #[serde(default)]
    pub oom_kills: Option<i64>,
    /// Forks refused at the process limit.
    #[serde(default)]
    pub pids_max_hits: Option<i64>,
    #[serde(default)]
    pub work_free_bytes: Option<u64>,
    #[serde(default)]
    pub work_total_bytes: Option<u64>,
    #[serde(default)]
    pub tmp_free_bytes: Option<u64>,
    #[serde(default)]
    pub tmp_total_bytes: Option<u64>,
    /// Files that reached the file-size limit (paths in the sandbox).
    #[serde(default)]
    pub files_at_size_limit: Vec<String>,
}

/// The runner's own account of the phase (result.json).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunnerReport {
    #[serde(default)]
    pub raw_loaded: Option<BTreeMap<String, i64>>,
    #[serde(default)]
    pub raw_error: Option<String>,
    #[serde(default)]
    pub dbt: Option<DbtProcess>,
    #[serde(default)]
    pub queries_error: Option<String>,
    #[serde(default)]
    pub elapsed_secs: Option<f64>,
    /// Artifacts the runner would not read: a link or other non-regular file
    /// where dbt writes its results.
    #[serde(default)]
    pub refused_artifacts: Vec<RefusedArtifact>,
    /// What this phase added to the container's limit counters, and the free
    /// space after it.
    #[serde(default)]
    pub resources: Option<Resources>,
    /// The container's counters after the phase (totals).
    #[serde(default)]
    pub counters: Option<Resources>,
    /// Relations in the warehouse after dbt (schema, name; lower case), listed
    /// by the runner itself once the submission's processes were gone.
    #[serde(default)]
    pub relations: Option<Vec<(String, String)>>,
    #[serde(default)]
    pub relations_truncated: bool,
}

/// Parsed outputs of one phase. A file that is missing or does not parse is
/// `None` plus a note in `problems`; it never aborts the grading.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PhaseOutputs {
    pub report: RunnerReport,
    pub invocations: Vec<DbtInvocation>,
    pub run_results: Option<RunResults>,
    #[serde(skip)]
    pub manifest: Option<Manifest>,
    pub queries: Vec<QueryResult>,
    pub log_tail: String,
    pub problems: Vec<String>,
}

fn parse_json<T: serde::de::DeserializeOwned>(
    files: &OutputFiles,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    let data = files.files.get(name)?;
    match serde_json::from_slice(data) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!("{name} does not parse: {e}"));
            None
        }
    }
}

/// At most `max` characters of a string that came out of the container.
fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The runner's account of a phase's second round (the check queries).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckAnswers {
    #[serde(default)]
    pub queries_error: Option<String>,
    #[serde(default)]
    pub elapsed_secs: Option<f64>,
    #[serde(skip_deserializing)]
    pub queries: Vec<QueryResult>,
    #[serde(skip_deserializing)]
    pub problems: Vec<String>,
}

/// Reads the second round's archive: `checks.json` and `queries.json`.
pub fn parse_check_answers(files: &OutputFiles) -> CheckAnswers {
    let mut problems = Vec::new();
    let mut answers: CheckAnswers =
        parse_json(files, "checks.json", &mut problems).unwrap_or_else(|| {
            problems.push("checks.json missing".into());
            CheckAnswers::default()
        });
    answers.queries = parse_json(files, "queries.json", &mut problems).unwrap_or_default();
    answers.queries_error = answers.queries_error.map(|e| truncate(&e, 4000));
    answers.problems = problems;
    answers
}

pub fn parse_outputs(files: &OutputFiles) -> PhaseOutputs {
    let mut problems = Vec::new();
    let report = parse_json(files, "result.json", &mut problems).unwrap_or_else(|| {
        problems.push("result.json missing".into());
        RunnerReport::default()
    });
    let invocations = parse_json(files, "invocations.json", &mut problems).unwrap_or_default();
    let run_results = parse_json(files, "run_results.json", &mut problems);
    let manifest = parse_json(files, "manifest.json", &mut problems);
    let queries = parse_json(files, "queries.json", &mut problems).unwrap_or_default();
    for r in &report.refused_artifacts {
        if r.size.is_some() {
            problems.push(format!(
                "{} was {} and was not read: no dbt run writes one that large",
                truncate(&r.name, 80),
                truncate(&r.reason, 200)
            ));
        } else {
            problems.push(format!(
                "{} was {}, not a regular file, and was not read: dbt's own results of this \
                 phase are unknown (a submission can plant such a link to forge them)",
                truncate(&r.name, 80),
                truncate(&r.reason, 200)
            ));
        }
    }
    if report.dbt.is_some()
        && run_results.is_none()
        && !files.files.contains_key("run_results.json")
        && !report
            .refused_artifacts
            .iter()
            .any(|r| r.name == "run_results.json")
    {
        problems.push("dbt ran but left no run_results.json".into());
    }
    // dbt colours its console; the codes (and any a model printed) go here,
    // before the text reaches a check or a report.
    let log_tail = files
        .files
        .get("dbt_stdout_tail.log")
        .map(|b| crate::inert::strip_ansi(&String::from_utf8_lossy(b)))
        .unwrap_or_default();
    PhaseOutputs {
        report,
        invocations,
        run_results,
        manifest,
        queries,
        log_tail,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, &[u8], tar::EntryType)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data, kind) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(if kind.is_file() { data.len() as u64 } else { 0 });
            h.set_mode(0o644);
            if kind.is_symlink() {
                h.set_link_name("/etc/passwd").unwrap();
            }
            h.set_cksum();
            b.append_data(&mut h, name, if kind.is_file() { *data } else { &[][..] })
                .unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn symlink_entry_is_refused() {
        let data = archive(&[("run_results.json", b"", tar::EntryType::Symlink)]);
        let err = read_output_archive(&data, &SandboxLimits::default()).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn unknown_and_oversized_entries_are_refused() {
        let data = archive(&[("sub/run_results.json", b"x", tar::EntryType::Regular)]);
        assert!(read_output_archive(&data, &SandboxLimits::default()).is_err());
        let limits = SandboxLimits {
            max_run_results_bytes: 4,
            ..SandboxLimits::default()
        };
        let data = archive(&[("run_results.json", b"123456", tar::EntryType::Regular)]);
        let err = read_output_archive(&data, &limits).unwrap_err();
        assert!(err.to_string().contains("over the cap"), "{err}");
    }

    #[test]
    fn run_results_parse_into_statuses() {
        let rr = br#"{"results":[
            {"unique_id":"model.p.a","status":"success","failures":null,"compiled_code":"select 1"},
            {"unique_id":"test.p.t","status":"fail","failures":3,"message":"Got 3 results"},
            {"unique_id":"model.p.b","status":"something new"}]}"#;
        let data = archive(&[
            ("run_results.json", rr, tar::EntryType::Regular),
            ("manifest.json", b"{not json", tar::EntryType::Regular),
        ]);
        let files = read_output_archive(&data, &SandboxLimits::default()).unwrap();
        let out = parse_outputs(&files);
        let rr = out.run_results.unwrap();
        assert_eq!(rr.results[0].status, NodeStatus::Success);
        assert_eq!(rr.results[1].status, NodeStatus::Fail);
        assert_eq!(rr.results[1].failures, Some(3));
        assert_eq!(
            rr.results[2].status,
            NodeStatus::Other("something new".into())
        );
        assert!(out.manifest.is_none());
        assert!(out.problems.iter().any(|p| p.contains("manifest.json")));
    }
}
