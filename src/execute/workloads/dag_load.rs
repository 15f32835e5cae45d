//! Loads a candidate's Airflow DAG folder with Airflow's own `DagBag`, inside
//! the sandbox, so that import errors, cycles and missing tasks are executed
//! evidence rather than read from the code.
//!
//! One container per load, from the airflow image ([`Recipe::airflow`]), with
//! the same limits and labels as a grade's sandbox (`sandbox::host_config`,
//! `docker::container_body`). The candidate's `dags/` and `src/` go in as a tar
//! on an exec's stdin (never a bind mount); `dagbag.py load` unpacks them,
//! loads the folder with Airflow 3 and then Airflow 2 (each refuses the other's
//! DAG style) and prints one JSON document. The candidate's code ran in the
//! process that wrote the document, so it is read as hostile input: a size cap,
//! a strict schema per attempt, bounds on every count and string.
//!
//! [`Recipe::airflow`]: crate::execute::image::Recipe::airflow

use crate::execute::docker::{self, ExecFailure, ExecRequest};
use crate::execute::image::RUNNER_UID;
use crate::execute::{sandbox, ExecuteError, SandboxLimits};
use bollard::Docker;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LOADER: &str = "/opt/assay/dagbag.py";
/// The image's system Python: PID 1 and the unpacking parent need no Airflow.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";
/// Folders never copied: VCS data, caches, local environments.
const SKIPPED_DIRS: &[&str] = &[".git", "__pycache__", ".venv", "venv", "logs", "target"];

/// Bounds on what the loader's document may hold. dagbag.py clips to the same
/// numbers; anything past them was not written by it.
const MAX_ATTEMPTS: usize = 4;
const MAX_DAGS: usize = 100;
const MAX_TASKS: usize = 2000;
const MAX_EDGES: usize = 10_000;
/// dagbag.py's own cap plus the errors it adds for DAG objects it cannot read.
const MAX_IMPORT_ERRORS: usize = 2 * MAX_DAGS;
const MAX_NAME_CHARS: usize = 1024;
const MAX_MESSAGE_CHARS: usize = 4096;
const MAX_STDERR: usize = 16 << 10;

/// How long and how much one load may take.
#[derive(Debug, Clone)]
pub struct DagLoadOptions {
    /// Wall-clock deadline of one Airflow's DagBag (its import and the folder).
    pub attempt_timeout_secs: u64,
    /// Largest JSON document accepted from the loader, in bytes.
    pub max_output_bytes: usize,
}

impl Default for DagLoadOptions {
    fn default() -> Self {
        DagLoadOptions {
            // Airflow 3's import alone is 3-5 s on a 2-core machine; a DAG file
            // gets Airflow's own 60 s import timeout inside this.
            attempt_timeout_secs: 120,
            max_output_bytes: 4 << 20,
        }
    }
}

/// The candidate's files to load.
#[derive(Debug, Clone, Copy)]
pub struct DagLoadInput<'a> {
    /// The candidate's `dags/` folder (the DagBag's folder).
    pub dags_dir: &'a Path,
    /// The candidate's `src/` package, copied beside `dags/`; the submission's
    /// root is on PYTHONPATH, so `from src.x import y` resolves.
    pub src_dir: Option<&'a Path>,
}

#[derive(Debug, thiserror::Error)]
pub enum DagLoadError {
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the DAG files exceed the upload caps ({0})")]
    TooLarge(String),
    #[error("the loader refused the upload: {0}")]
    Refused(String),
    #[error("the DAG load did not finish within {0} s; the sandbox was removed")]
    TimedOut(u64),
    #[error("the sandbox container stopped during the DAG load (exit {exit:?}{})", if *.oom_killed { ", killed for memory" } else { "" })]
    ContainerStopped { exit: Option<i64>, oom_killed: bool },
    #[error("the loader failed (exit {exit:?}): {stderr}")]
    Loader { exit: Option<i64>, stderr: String },
    #[error("the loader's document was rejected: {0}")]
    HostileOutput(String),
}

impl DagLoadError {
    /// Whether the submission's files or code caused it: too large, refused,
    /// past the deadline, the container stopped or the loader killed (a DAG
    /// file runs as the loader's uid at import), or a result the loader did
    /// not write. Reading the host's files and the engine are the grader's.
    pub fn is_the_submissions(&self) -> bool {
        match self {
            DagLoadError::TooLarge(_)
            | DagLoadError::Refused(_)
            | DagLoadError::TimedOut(_)
            | DagLoadError::ContainerStopped { .. }
            | DagLoadError::HostileOutput(_) => true,
            // 128 + n: killed by signal n; the loader's own failures exit 1
            DagLoadError::Loader { exit, .. } => exit.is_some_and(|c| (129..=159).contains(&c)),
            DagLoadError::Execute(_) | DagLoadError::Read { .. } => false,
        }
    }
}

/// What was copied into the container.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DagUpload {
    pub files: usize,
    pub bytes: u64,
    /// Paths left out (symlinks, special files, oversized files, undecodable
    /// names), relative to the submission root (`dags/…`, `src/…`).
    pub skipped: Vec<String>,
}

/// Everything one load produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DagLoadFacts {
    /// One per Airflow in the image, in the order tried (3.x first).
    pub attempts: Vec<DagBagAttempt>,
    pub upload: DagUpload,
    /// Container start to removal, measured by the grader.
    pub wall_secs: f64,
}

impl DagLoadFacts {
    /// The attempt a grade should read: the one that loaded the most DAGs,
    /// then with the fewest import errors; on a tie the first tried (the newer
    /// Airflow). `None` when no Airflow produced a result.
    pub fn best(&self) -> Option<&DagBagAttempt> {
        self.attempts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.outcome == AttemptOutcome::Loaded)
            .max_by_key(|(i, a)| {
                (
                    a.dags.len(),
                    std::cmp::Reverse(a.import_errors.len()),
                    std::cmp::Reverse(*i),
                )
            })
            .map(|(_, a)| a)
    }

    /// The attempt of one Airflow major version (`"2"`, `"3"`).
    pub fn attempt_for_major(&self, major: &str) -> Option<&DagBagAttempt> {
        self.attempts.iter().find(|a| {
            a.airflow_version
                .as_deref()
                .and_then(|v| v.split('.').next())
                == Some(major)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The DagBag ran; its DAGs and import errors are below.
    Loaded,
    /// No result before the attempt's deadline; the child was killed.
    TimedOut,
    /// The child exited without a result (killed for memory, `os._exit` in a
    /// DAG file, a broken venv); `detail` holds its stderr's tail.
    Crashed,
    /// A result came back but did not fit the schema or the bounds: it is not
    /// dagbag.py's, so nothing in it is used.
    Rejected,
}

/// One Airflow's DagBag over the folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DagBagAttempt {
    /// The venv tried, e.g. `/opt/airflow3`.
    pub venv: String,
    /// `airflow.__version__` as the child reported it.
    pub airflow_version: Option<String>,
    pub outcome: AttemptOutcome,
    pub detail: Option<String>,
    pub exit_code: Option<i64>,
    pub wall_secs: f64,
    /// `import airflow` and the folder's load, as the child timed them.
    pub import_secs: Option<f64>,
    pub load_secs: Option<f64>,
    pub import_errors: Vec<ImportErrorFact>,
    pub dags: Vec<DagFact>,
    /// DAGs in the bag, including any left out past the caps.
    pub dag_count: u64,
    /// Something was left out to keep within the caps.
    pub truncated: bool,
}

impl DagBagAttempt {
    pub fn dag(&self, dag_id: &str) -> Option<&DagFact> {
        self.dags.iter().find(|d| d.dag_id == dag_id)
    }

    /// Import errors whose message is Airflow's cycle report.
    pub fn cycles(&self) -> impl Iterator<Item = &ImportErrorFact> {
        self.import_errors.iter().filter(|e| e.cycle)
    }
}

/// A file Airflow could not load, with Airflow's own message (clipped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportErrorFact {
    /// Relative to `dags/`.
    pub file: String,
    pub message: String,
    /// Airflow reported a cycle (`Cycle detected in DAG/Dag: …`).
    pub cycle: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DagFact {
    pub dag_id: String,
    /// Relative to `dags/`.
    pub file: String,
    /// As written: `schedule=` on 3.x, `schedule_interval` on 2.x (a
    /// timedelta in seconds, a timetable's class name).
    pub schedule: Option<String>,
    /// Airflow's summary of the timetable it made (2.x), the cron expression
    /// (3.x), or the timetable's class.
    pub timetable: Option<String>,
    pub catchup: Option<bool>,
    pub max_active_runs: Option<i64>,
    pub max_active_tasks: Option<i64>,
    pub tasks: Vec<TaskFact>,
    pub edges: Vec<Edge>,
    pub truncated: bool,
}

impl DagFact {
    pub fn task(&self, task_id: &str) -> Option<&TaskFact> {
        self.tasks.iter().find(|t| t.task_id == task_id)
    }

    pub fn task_ids(&self) -> Vec<&str> {
        self.tasks.iter().map(|t| t.task_id.as_str()).collect()
    }

    pub fn has_edge(&self, upstream: &str, downstream: &str) -> bool {
        self.edges
            .iter()
            .any(|e| e.upstream == upstream && e.downstream == downstream)
    }
}

/// One task with the settings Airflow resolved (default_args applied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskFact {
    pub task_id: String,
    /// The operator's class, e.g. `PythonOperator`, `_PythonDecoratedOperator`.
    pub operator: String,
    pub operator_module: String,
    /// `@task`, `@task.bash`… for TaskFlow tasks.
    pub decorator: Option<String>,
    pub retries: Option<i64>,
    pub retry_delay_secs: Option<f64>,
    pub retry_exponential_backoff: bool,
    pub execution_timeout_secs: Option<f64>,
    pub trigger_rule: Option<String>,
}

/// A dependency, upstream → downstream. On the wire, `[upstream, downstream]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(String, String)")]
pub struct Edge {
    pub upstream: String,
    pub downstream: String,
}

impl From<(String, String)> for Edge {
    fn from((upstream, downstream): (String, String)) -> Self {
        Edge {
            upstream,
            downstream,
        }
    }
}

/// Starts a sandbox from the airflow `image`, copies the candidate's files in,
/// loads the DAG folder with every Airflow in the image and removes the
/// container on every path. A DAG that fails to load is a result, not an
/// error; errors are the grader's machinery or a loader that could not answer.
pub async fn load_dags(
    docker: &Docker,
    image: &str,
    limits: &SandboxLimits,
    input: DagLoadInput<'_>,
    options: &DagLoadOptions,
) -> Result<DagLoadFacts, DagLoadError> {
    let started = Instant::now();
    let (archive, upload) = build_archive(input, limits)?;
    let name = format!("assay-dagload-{:016x}", rand::random::<u64>());
    let body = docker::container_body(
        image,
        vec![
            SYSTEM_PYTHON.into(),
            LOADER.into(),
            "idle".into(),
            limits.container_lifetime_secs.max(1).to_string(),
        ],
        &user(),
        base_env(),
        sandbox::host_config(limits),
    );
    let guard = docker::create_container(docker, &name, body).await?;
    tracing::debug!("dag load {name} of run {} created", docker::run_id());
    let outcome = async {
        docker::start_container(docker, &guard).await?;
        run_loader(docker, &guard, archive, limits, options).await
    }
    .await;
    // Removed whatever happened; a failure to remove is reported only when the
    // load itself succeeded (its own error says more otherwise). The guard's
    // drop covers a panic.
    let removed = guard.remove().await;
    let stdout = outcome?;
    removed?;
    let attempts = parse_document(&stdout)?;
    Ok(DagLoadFacts {
        attempts,
        upload,
        wall_secs: started.elapsed().as_secs_f64(),
    })
}

fn user() -> String {
    format!("{RUNNER_UID}:{RUNNER_UID}")
}

fn base_env() -> Vec<String> {
    vec![
        "PATH=/usr/bin:/bin".into(),
        "HOME=/home/runner".into(),
        "LANG=C.UTF-8".into(),
        "TZ=UTC".into(),
    ]
}

/// Runs `dagbag.py load` and returns its stdout (the document).
async fn run_loader(
    docker: &Docker,
    guard: &docker::ContainerGuard,
    archive: Vec<u8>,
    limits: &SandboxLimits,
    options: &DagLoadOptions,
) -> Result<Vec<u8>, DagLoadError> {
    let config = serde_json::json!({
        "max_entries": limits.max_upload_entries,
        "max_bytes": limits.max_upload_bytes,
        "max_file_bytes": limits.max_upload_file_bytes,
        "attempt_timeout_secs": options.attempt_timeout_secs,
        "max_output_bytes": options.max_output_bytes,
    });
    // Every attempt's deadline, plus the unpacking and a margin; never past
    // the phase limit the grader allows any sandboxed step.
    let deadline = (options.attempt_timeout_secs.saturating_mul(2) + 60)
        .min(limits.phase_timeout_secs)
        .max(1);
    let res = docker::exec(
        docker,
        guard,
        ExecRequest {
            cmd: vec![
                SYSTEM_PYTHON.into(),
                LOADER.into(),
                "load".into(),
                config.to_string(),
            ],
            user: user(),
            env: base_env(),
            stdin: archive,
            max_stdout: options.max_output_bytes,
            max_stderr: MAX_STDERR,
            timeout: Duration::from_secs(deadline),
        },
    )
    .await;
    let out = match res {
        Ok(out) => out,
        Err(ExecFailure::TimedOut) => {
            if let Err(e) = guard.kill().await {
                tracing::warn!("killing the dag-load sandbox failed: {e}");
            }
            return Err(DagLoadError::TimedOut(deadline));
        }
        Err(ExecFailure::Engine(e)) => {
            // A container the kernel stopped (memory) is reported as such; any
            // other engine failure is the grader's.
            return match docker::container_state(docker, guard.id()).await {
                Ok(Some(state)) if state.running != Some(true) => {
                    Err(DagLoadError::ContainerStopped {
                        exit: state.exit_code,
                        oom_killed: state.oom_killed == Some(true),
                    })
                }
                _ => Err(e.into()),
            };
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.exit_code {
        Some(0) => {}
        Some(3) => return Err(DagLoadError::Refused(stderr.trim().to_string())),
        exit => return Err(DagLoadError::Loader { exit, stderr }),
    }
    if out.stdout_truncated {
        return Err(DagLoadError::HostileOutput(format!(
            "larger than {} bytes",
            options.max_output_bytes
        )));
    }
    Ok(out.stdout)
}

/// The tar `dagbag.py load` reads: `dags/…` and `src/…`, regular files and
/// folders only, walked without following links (a link to /etc/passwd must
/// not carry host data in), within the upload caps of [`SandboxLimits`].
fn build_archive(
    input: DagLoadInput<'_>,
    limits: &SandboxLimits,
) -> Result<(Vec<u8>, DagUpload), DagLoadError> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut upload = DagUpload::default();
    let mut roots = vec![("dags", input.dags_dir)];
    if let Some(src) = input.src_dir {
        roots.push(("src", src));
    }
    for (prefix, dir) in roots {
        let meta = std::fs::symlink_metadata(dir).map_err(|source| DagLoadError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            upload.skipped.push(prefix.to_string());
            continue;
        }
        append_dir(&mut builder, prefix)?;
        add_tree(&mut builder, dir, prefix, limits, &mut upload)?;
    }
    let data = builder.into_inner().map_err(|source| DagLoadError::Read {
        path: input.dags_dir.to_path_buf(),
        source,
    })?;
    Ok((data, upload))
}

fn tar_error(source: std::io::Error) -> DagLoadError {
    DagLoadError::Read {
        path: PathBuf::from("<upload archive>"),
        source,
    }
}

fn append_dir(b: &mut tar::Builder<Vec<u8>>, name: &str) -> Result<(), DagLoadError> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_cksum();
    b.append_data(&mut h, name, std::io::empty())
        .map_err(tar_error)
}

fn add_tree(
    b: &mut tar::Builder<Vec<u8>>,
    dir: &Path,
    prefix: &str,
    limits: &SandboxLimits,
    upload: &mut DagUpload,
) -> Result<(), DagLoadError> {
    let read_err = |source| DagLoadError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            upload
                .skipped
                .push(format!("{prefix}/{}", entry.file_name().to_string_lossy()));
            continue;
        };
        let tar_name = format!("{prefix}/{name}");
        let meta = std::fs::symlink_metadata(&path).map_err(|source| DagLoadError::Read {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            if SKIPPED_DIRS.contains(&name.as_str()) {
                continue;
            }
            append_dir(b, &tar_name)?;
            add_tree(b, &path, &tar_name, limits, upload)?;
        } else if meta.is_file() {
            if meta.len() > limits.max_upload_file_bytes {
                upload.skipped.push(tar_name);
                continue;
            }
            upload.files += 1;
            upload.bytes += meta.len();
            if upload.bytes > limits.max_upload_bytes
                || upload.files as u64 > limits.max_upload_entries
            {
                return Err(DagLoadError::TooLarge(format!(
                    "{} files, {} bytes",
                    upload.files, upload.bytes
                )));
            }
            let data = std::fs::read(&path).map_err(|source| DagLoadError::Read {
                path: path.clone(),
                source,
            })?;
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append_data(&mut h, &tar_name, &data[..])
                .map_err(tar_error)?;
        } else {
            upload.skipped.push(tar_name);
        }
    }
    Ok(())
}

// ---- the document, as hostile input ---------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireDocument {
    format: u32,
    attempts: Vec<WireAttempt>,
    #[allow(dead_code)] // dagbag.py's own timing; the grader measures its own
    wall_secs: f64,
}

/// Written by dagbag.py's parent, which no candidate code runs in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireAttempt {
    venv: String,
    status: AttemptOutcome,
    exit_code: Option<i64>,
    wall_secs: f64,
    detail: Option<String>,
    /// Written by the child the candidate's code ran in: parsed on its own, so
    /// a forged or broken result spoils only its own attempt.
    bag: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBag {
    airflow_version: String,
    import_errors: Vec<ImportErrorFact>,
    dags: Vec<DagFact>,
    dag_count: u64,
    import_secs: f64,
    load_secs: f64,
    truncated: bool,
}

fn parse_document(stdout: &[u8]) -> Result<Vec<DagBagAttempt>, DagLoadError> {
    let doc: WireDocument = serde_json::from_slice(stdout)
        .map_err(|e| DagLoadError::HostileOutput(format!("not the loader's document: {e}")))?;
    if doc.format != 1 {
        return Err(DagLoadError::HostileOutput(format!(
            "unknown format {}",
            doc.format
        )));
    }
    if doc.attempts.len() > MAX_ATTEMPTS {
        return Err(DagLoadError::HostileOutput(format!(
            "{} attempts",
            doc.attempts.len()
        )));
    }
    doc.attempts.into_iter().map(read_attempt).collect()
}

fn read_attempt(w: WireAttempt) -> Result<DagBagAttempt, DagLoadError> {
    if w.venv.chars().count() > MAX_NAME_CHARS || !finite(w.wall_secs) {
        return Err(DagLoadError::HostileOutput("malformed attempt".into()));
    }
    let mut attempt = DagBagAttempt {
        venv: w.venv,
        airflow_version: None,
        outcome: w.status,
        detail: w.detail.map(|d| clip(&d, MAX_MESSAGE_CHARS)),
        exit_code: w.exit_code,
        wall_secs: w.wall_secs,
        import_secs: None,
        load_secs: None,
        import_errors: Vec::new(),
        dags: Vec::new(),
        dag_count: 0,
        truncated: false,
    };
    match (attempt.outcome, w.bag) {
        (AttemptOutcome::Loaded, Some(value)) => match read_bag(value) {
            Ok(bag) => {
                attempt.airflow_version = Some(bag.airflow_version);
                attempt.import_errors = bag.import_errors;
                attempt.dags = bag.dags;
                attempt.dag_count = bag.dag_count;
                attempt.import_secs = Some(bag.import_secs);
                attempt.load_secs = Some(bag.load_secs);
                attempt.truncated = bag.truncated;
            }
            Err(why) => {
                attempt.outcome = AttemptOutcome::Rejected;
                attempt.detail = Some(why);
            }
        },
        (AttemptOutcome::Loaded, None) => {
            attempt.outcome = AttemptOutcome::Rejected;
            attempt.detail = Some("loaded, but no result".into());
        }
        // A result beside a failure status is not dagbag.py's doing: ignored.
        _ => {}
    }
    Ok(attempt)
}

fn read_bag(value: serde_json::Value) -> Result<WireBag, String> {
    let bag: WireBag =
        serde_json::from_value(value).map_err(|e| format!("result out of schema: {e}"))?;
    let long = |s: &str, max: usize| s.chars().count() > max;
    if long(&bag.airflow_version, 64)
        || !finite(bag.import_secs)
        || !finite(bag.load_secs)
        || bag.dags.len() > MAX_DAGS
        || bag.import_errors.len() > MAX_IMPORT_ERRORS
    {
        return Err("result out of bounds".into());
    }
    for e in &bag.import_errors {
        if long(&e.file, MAX_NAME_CHARS) || long(&e.message, MAX_MESSAGE_CHARS) {
            return Err("import error out of bounds".into());
        }
    }
    let (mut tasks, mut edges) = (0usize, 0usize);
    for d in &bag.dags {
        tasks += d.tasks.len();
        edges += d.edges.len();
        let names = [&d.dag_id, &d.file]
            .into_iter()
            .chain(d.schedule.as_ref())
            .chain(d.timetable.as_ref());
        if names.into_iter().any(|s| long(s, MAX_NAME_CHARS)) {
            return Err(format!("DAG {:?} out of bounds", clip(&d.dag_id, 80)));
        }
        for t in &d.tasks {
            let texts = [&t.task_id, &t.operator, &t.operator_module]
                .into_iter()
                .chain(t.decorator.as_ref())
                .chain(t.trigger_rule.as_ref());
            let numbers = [t.retry_delay_secs, t.execution_timeout_secs];
            if texts.into_iter().any(|s| long(s, MAX_NAME_CHARS))
                || numbers.into_iter().flatten().any(|n| !finite(n))
            {
                return Err(format!("task {:?} out of bounds", clip(&t.task_id, 80)));
            }
        }
        for e in &d.edges {
            if long(&e.upstream, MAX_NAME_CHARS) || long(&e.downstream, MAX_NAME_CHARS) {
                return Err("edge out of bounds".into());
            }
        }
    }
    if tasks > MAX_TASKS || edges > MAX_EDGES {
        return Err(format!("{tasks} tasks, {edges} edges: past the caps"));
    }
    Ok(bag)
}

fn finite(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(bag: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "format": 1,
            "wall_secs": 1.0,
            "attempts": [{
                "venv": "/opt/airflow3", "status": "loaded", "exit_code": 0,
                "wall_secs": 1.0, "detail": null, "bag": bag,
            }],
        }))
        .unwrap()
    }

    fn good_bag() -> serde_json::Value {
        serde_json::json!({
            "airflow_version": "3.3.2", "dag_count": 1, "import_secs": 1.0,
            "load_secs": 0.1, "truncated": false,
            "import_errors": [{"file": "bad.py", "message": "Cycle detected in Dag: c", "cycle": true}],
            "dags": [{
                "dag_id": "d", "file": "d.py", "schedule": "@daily", "timetable": "0 0 * * *",
                "catchup": false, "max_active_runs": 1, "max_active_tasks": 16, "truncated": false,
                "tasks": [{
                    "task_id": "a", "operator": "BashOperator", "operator_module": "m",
                    "decorator": null, "retries": 3, "retry_delay_secs": 300.0,
                    "retry_exponential_backoff": false, "execution_timeout_secs": null,
                    "trigger_rule": "all_success",
                }],
                "edges": [["a", "b"]],
            }],
        })
    }

    #[test]
    fn a_well_formed_document_gives_typed_facts() {
        let attempts = parse_document(&doc(good_bag())).unwrap();
        let a = &attempts[0];
        assert_eq!(a.outcome, AttemptOutcome::Loaded);
        assert_eq!(a.airflow_version.as_deref(), Some("3.3.2"));
        let d = a.dag("d").unwrap();
        assert!(d.has_edge("a", "b"));
        assert_eq!(d.task("a").unwrap().retries, Some(3));
        assert_eq!(a.cycles().count(), 1);
    }

    #[test]
    fn a_forged_result_spoils_only_its_own_attempt() {
        let mut bag = good_bag();
        bag["status"] = serde_json::json!("loaded");
        let attempts = parse_document(&doc(bag)).unwrap();
        assert_eq!(attempts[0].outcome, AttemptOutcome::Rejected);
        assert!(attempts[0].dags.is_empty());

        let mut bag = good_bag();
        bag["dags"][0]["tasks"][0]["retry_delay_secs"] = serde_json::json!(-1.0);
        let attempts = parse_document(&doc(bag)).unwrap();
        assert_eq!(attempts[0].outcome, AttemptOutcome::Rejected);

        let mut bag = good_bag();
        bag["import_errors"][0]["message"] = serde_json::json!("x".repeat(MAX_MESSAGE_CHARS + 1));
        let attempts = parse_document(&doc(bag)).unwrap();
        assert_eq!(attempts[0].outcome, AttemptOutcome::Rejected);
    }

    #[test]
    fn a_broken_document_is_an_error() {
        assert!(matches!(
            parse_document(b"{\"format\":1"),
            Err(DagLoadError::HostileOutput(_))
        ));
        assert!(matches!(
            parse_document(br#"{"format":2,"attempts":[],"wall_secs":0}"#),
            Err(DagLoadError::HostileOutput(_))
        ));
    }

    #[test]
    fn the_best_attempt_loaded_the_most_dags() {
        let attempts = parse_document(&doc(good_bag())).unwrap();
        let mut empty = attempts[0].clone();
        empty.dags.clear();
        empty.venv = "/opt/airflow2".into();
        let facts = DagLoadFacts {
            attempts: vec![empty, attempts[0].clone()],
            upload: DagUpload::default(),
            wall_secs: 0.0,
        };
        assert_eq!(facts.best().unwrap().venv, "/opt/airflow3");
    }

    #[cfg(unix)]
    #[test]
    fn the_upload_leaves_out_links_caches_and_oversized_files() {
        let root = tempfile::tempdir().unwrap();
        let dags = root.path().join("dags");
        let src = root.path().join("src");
        std::fs::create_dir_all(dags.join("__pycache__")).unwrap();
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(dags.join("a.py"), "x = 1").unwrap();
        std::fs::write(dags.join("__pycache__/a.pyc"), "x").unwrap();
        std::fs::write(dags.join("big.sql"), vec![b'x'; 100]).unwrap();
        std::fs::write(src.join("__init__.py"), "").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dags.join("p.py")).unwrap();
        let limits = SandboxLimits {
            max_upload_file_bytes: 50,
            ..SandboxLimits::default()
        };
        let input = DagLoadInput {
            dags_dir: &dags,
            src_dir: Some(&src),
        };
        let (data, upload) = build_archive(input, &limits).unwrap();
        let mut names = Vec::new();
        for e in tar::Archive::new(&data[..]).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
        }
        assert_eq!(names, vec!["dags", "dags/a.py", "src", "src/__init__.py"]);
        assert_eq!(upload.skipped, vec!["dags/big.sql", "dags/p.py"]);
    }
}

#[cfg(test)]
mod attribution_tests {
    use super::DagLoadError;

    #[test]
    fn what_the_submission_can_cause_is_its_own() {
        let theirs = [
            DagLoadError::TooLarge("3 GiB".into()),
            DagLoadError::Refused("a link".into()),
            DagLoadError::TimedOut(300),
            DagLoadError::ContainerStopped {
                exit: Some(137),
                oom_killed: true,
            },
            DagLoadError::HostileOutput("larger than 8 MiB".into()),
            DagLoadError::Loader {
                exit: Some(137),
                stderr: String::new(),
            },
        ];
        for e in &theirs {
            assert!(e.is_the_submissions(), "{e}");
        }
        let ours = DagLoadError::Loader {
            exit: Some(1),
            stderr: "Traceback (most recent call last)".into(),
        };
        assert!(!ours.is_the_submissions());
    }
}
