//! Sandboxed execution of a submission's dbt project.
//!
//! One container per submission, started idle (the runner as PID 1, reaping
//! orphans) with every limit of
//! [`SandboxLimits`]; the project is copied in (a tar ahead of the first
//! command's input on an exec's stdin, which the in-container runner unpacks
//! into tmpfs with its own checks, never a bind mount) and each phase runs as
//! one `docker exec` under a wall-clock deadline. The
//! warehouse (a DuckDB file in tmpfs) persists across phases, as the exercise's
//! initial / incremental / idempotency runs require.

use super::docker::{self, ContainerGuard, ExecFailure, ExecRequest};
use super::image::RUNNER_UID;
use super::outputs::{self, PhaseOutputs};
use super::{ExecuteError, SandboxLimits};
use bollard::models::{HostConfig, HostConfigLogConfig, ResourcesUlimits};
use bollard::Docker;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const RUNNER: &str = "/opt/assay/runner.py";
const PYTHON: &str = "/opt/dbt/bin/python";
const USER: &str = "10001:10001";
/// Where the grader's profile points dbt-duckdb, inside the container.
pub const WAREHOUSE_PATH: &str = "/work/warehouse/grader.duckdb";
/// Folders never copied from a submission: build output, VCS data, local envs.
const SKIPPED_DIRS: &[&str] = &[".git", "target", "logs", ".venv", "venv", "__pycache__"];

/// Raw data loaded into the warehouse's `raw` schema before a phase's dbt run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawSnapshot {
    /// SQL creating the tables of schema `raw` (the runner creates the schema).
    pub ddl_file: PathBuf,
    /// Folder of `<table>.csv` files with a header row; columns match by name.
    pub csv_dir: PathBuf,
}

/// A query run against the warehouse after dbt, its rows returned as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxQuery {
    pub name: String,
    pub sql: String,
    /// Overrides [`SandboxLimits::max_query_rows`] for this query: a per-key
    /// comparison needs every key, however many the truth has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
}

/// One phase: load a raw snapshot (optional), run dbt commands in one process,
/// then run the queries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseSpec {
    /// Letters, digits, `_`, `-`, `.`; unique within a sandbox.
    pub name: String,
    pub raw: Option<RawSnapshot>,
    /// Each entry is one dbt command's arguments, e.g. `["build"]`. The runner adds
    /// the project dir, the grader's profiles dir and `--target grader`.
    pub dbt_commands: Vec<Vec<String>>,
    pub queries: Vec<SandboxQuery>,
    /// Overrides [`SandboxLimits::dbt_timeout_secs`] for this phase.
    #[serde(default)]
    pub dbt_timeout_secs: Option<u64>,
    /// The instant "now" reads as inside dbt (ISO-8601 UTC, whole seconds): the
    /// phase's sync time, so no result depends on the day the grade runs.
    #[serde(default)]
    pub clock: Option<String>,
    /// Overrides [`SandboxLimits::phase_timeout_secs`] for this phase (a
    /// deadline sized from the exercise, or what is left of a total budget).
    #[serde(default)]
    pub deadline_secs: Option<u64>,
    /// Another phase follows in the same sandbox: its runner is started while
    /// this phase's check queries run (nothing of the submission runs then),
    /// so its exec and interpreter start are not waited for.
    #[serde(default)]
    pub another_follows: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PhaseStatus {
    /// The runner finished; dbt's own results are in the outputs.
    Completed,
    /// dbt exceeded its share of the phase deadline and was killed inside the
    /// container; whatever artifacts it wrote were still read.
    DbtTimedOut,
    /// The whole phase exceeded the deadline: the container was killed and
    /// removed, no outputs, and no further phases can run.
    TimedOut,
    /// The runner could not complete or its output was refused.
    RunnerFailed { detail: String },
}

/// Counts per node status from run_results.json (not from dbt's exit code).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeSummary {
    pub total: usize,
    pub ok: usize,
    pub errored: usize,
    pub failed: usize,
    pub skipped: usize,
    pub warned: usize,
    pub other: usize,
}

impl NodeSummary {
    pub fn from_outputs(out: &PhaseOutputs) -> Self {
        use outputs::NodeStatus::*;
        let mut s = NodeSummary::default();
        for r in out.run_results.iter().flat_map(|rr| rr.results.iter()) {
            s.total += 1;
            match &r.status {
                Success | Pass => s.ok += 1,
                Warn => {
                    s.ok += 1;
                    s.warned += 1
                }
                Error | RuntimeError => s.errored += 1,
                Fail => s.failed += 1,
                Skipped => s.skipped += 1,
                Other(_) => s.other += 1,
            }
        }
        s
    }

    /// True only when run_results lists nodes and every one of them passed.
    pub fn all_ok(&self) -> bool {
        self.total > 0 && self.ok == self.total
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    pub name: String,
    pub status: PhaseStatus,
    pub nodes: NodeSummary,
    pub outputs: PhaseOutputs,
    pub wall_secs: f64,
    /// The runner's own diagnostics (stderr), capped.
    pub runner_stderr: String,
    /// The phase's deadline and the share of it dbt had, in seconds.
    pub deadline_secs: u64,
    pub dbt_deadline_secs: u64,
    /// The runner's exit status, when it exited (137: killed).
    pub runner_exit: Option<i64>,
    /// The cause the runner named when it could not finish
    /// (`workspace_full`, `file_size`, `resources`, `memory`, `runner`).
    pub runner_failure: Option<RunnerFailure>,
    /// The container's counters read after a runner that did not finish.
    pub probe: Option<outputs::Resources>,
    /// The engine reports that the kernel killed the container for memory.
    pub container_oom_killed: bool,
    /// The check queries' round, when the phase was run with a plan.
    pub checks: Option<CheckRound>,
    /// The phase ran in a runner started while the last phase answered its
    /// check round (see [`PhaseSpec::another_follows`]).
    pub runner_started_ahead: bool,
}

/// How a workload's runner command ended.
#[derive(Debug)]
pub enum RunnerExit {
    /// The command exited; its output and exit code are here.
    Finished(docker::ExecOutput),
    /// The deadline passed: the container was killed and removed.
    TimedOut { probe: Option<outputs::Resources> },
    /// The container stopped under the command (and was removed).
    ContainerStopped { detail: String, oom_killed: bool },
}

/// A tar of the folder `dir` under `prefix`, with the upload's limits and
/// skips (links, special files, VCS and build folders, and `skip`'s names).
pub fn archive_tree(
    dir: &Path,
    prefix: &str,
    limits: &SandboxLimits,
    skip: &[&str],
) -> Result<(tar::Builder<Vec<u8>>, UploadSummary), ExecuteError> {
    let mut b = tar::Builder::new(Vec::new());
    let mut summary = UploadSummary::default();
    append_dir_entry(&mut b, prefix)?;
    add_tree_skipping(&mut b, dir, dir, prefix, limits, &mut summary, skip)?;
    Ok((b, summary))
}

/// Adds `name` with `data` to an archive being built.
pub fn archive_bytes(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    data: &[u8],
) -> Result<(), ExecuteError> {
    append_bytes(b, name, data)
}

/// Draws the check queries from a finished build's outputs (an empty list:
/// nothing to check).
pub type Planner<'a> = dyn FnMut(&PhaseResult) -> Vec<SandboxQuery> + Send + 'a;

/// How the check queries of a planned phase went. The build's own status is
/// [`PhaseResult::status`]; this is only about the queries.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckRound {
    /// The plan asked nothing.
    NotAsked,
    /// The runner answered (each query's own error is in its result).
    Answered(outputs::CheckAnswers),
    /// The queries reached their deadline: the container was killed and removed.
    TimedOut { deadline_secs: u64 },
    /// The runner ended without answering, or its answer was refused.
    RunnerFailed { detail: String, exit: Option<i64> },
}

/// A build whose outputs were read: completed, or dbt ran out of its share
/// of the deadline.
fn build_status(outputs: &PhaseOutputs) -> PhaseStatus {
    if outputs.report.dbt.as_ref().is_some_and(|d| d.timed_out) {
        PhaseStatus::DbtTimedOut
    } else {
        PhaseStatus::Completed
    }
}

/// Why the runner refused the project that came with a command, when it did
/// (it then ran nothing of the command).
fn refused_project(out: &docker::ExecOutput) -> Option<String> {
    if out.exit_code == Some(0) {
        return None;
    }
    RunnerFailure::from_stderr(&String::from_utf8_lossy(&out.stderr))
        .filter(|f| f.kind == "project")
        .map(|f| format!("the runner refused the project: {}", f.detail))
}

/// The runner's own account of why it could not finish a phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerFailure {
    pub kind: String,
    pub detail: String,
}

impl RunnerFailure {
    /// The `assay-runner-failure: {...}` line of the runner's stderr.
    pub fn from_stderr(stderr: &str) -> Option<RunnerFailure> {
        stderr.lines().rev().find_map(|l| {
            l.strip_prefix("assay-runner-failure: ")
                .and_then(|j| serde_json::from_str(j).ok())
        })
    }
}

/// What was copied into the container.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UploadSummary {
    pub profile_name: String,
    pub files: usize,
    pub bytes: u64,
    /// Paths left out (symlinks, special files, oversized files), relative.
    pub skipped: Vec<String>,
    /// dbt packages placed into `dbt_packages/` by the grader.
    pub packages: Vec<String>,
}

/// A running sandbox container for one submission.
pub struct Sandbox {
    docker: Docker,
    /// The image's interpreter that runs runner.py.
    python: String,
    guard: Option<ContainerGuard>,
    limits: SandboxLimits,
    gone: Option<String>,
    /// The project's archive (framed) until the next runner command takes it in.
    project: Option<Vec<u8>>,
    /// The next phase's runner, being started or waiting for its archive.
    next: Option<tokio::task::JoinHandle<Result<docker::OpenExec, ExecuteError>>>,
}

impl Sandbox {
    /// Creates and starts an idle container from the dbt runner `image` with
    /// every limit applied.
    pub async fn start(image: &str, limits: &SandboxLimits) -> Result<Sandbox, ExecuteError> {
        Sandbox::start_with(image, PYTHON, limits).await
    }

    /// Like [`Sandbox::start`], for an image of another recipe whose runner.py
    /// runs under `python` (the pytest recipe's, say).
    pub async fn start_with(
        image: &str,
        python: &str,
        limits: &SandboxLimits,
    ) -> Result<Sandbox, ExecuteError> {
        let docker = docker::connect().await?;
        let name = format!("assay-sandbox-{:016x}", rand::random::<u64>());
        let body = docker::container_body(
            image,
            vec![
                python.into(),
                RUNNER.into(),
                "idle".into(),
                limits.container_lifetime_secs.max(1).to_string(),
            ],
            USER,
            base_env(limits),
            host_config(limits),
        );
        let guard = docker::create_container(&docker, &name, body).await?;
        docker::start_container(&docker, &guard).await?;
        tracing::debug!("sandbox {name} of run {} started", docker::run_id());
        Ok(Sandbox {
            docker,
            python: python.to_string(),
            guard: Some(guard),
            limits: limits.clone(),
            gone: None,
            project: None,
            next: None,
        })
    }

    pub fn container_id(&self) -> Option<&str> {
        self.guard.as_ref().map(|g| g.id())
    }

    /// Packs the dbt project (the folder holding dbt_project.yml) for the
    /// container, with each of `packages` (name, host folder) as
    /// `dbt_packages/<name>`, so that dbt finds them without `dbt deps`; the
    /// grader's own profile is in the image. The archive travels as the first
    /// frame of the next runner command (a phase or a workload's), not in a
    /// `docker exec` and interpreter start of its own; the runner's refusal
    /// comes back from that command as [`ExecuteError::Upload`]. An `Err`
    /// here is a project the grader itself would not pack.
    pub async fn upload_project(
        &mut self,
        project_dir: &Path,
        packages: &[(String, PathBuf)],
    ) -> Result<UploadSummary, ExecuteError> {
        self.live_guard()?;
        if self.project.is_some() {
            return Err(ExecuteError::Upload(
                "a project is already on its way".into(),
            ));
        }
        let profile_name = read_profile_name(project_dir);
        let mut summary = UploadSummary {
            profile_name: profile_name.clone(),
            ..Default::default()
        };
        let mut builder = tar::Builder::new(Vec::new());
        append_dir_entry(&mut builder, "project")?;
        add_tree(
            &mut builder,
            project_dir,
            project_dir,
            "project",
            &self.limits,
            &mut summary,
        )?;
        if !packages.is_empty() {
            let shipped = std::fs::symlink_metadata(project_dir.join("dbt_packages"))
                .is_ok_and(|m| m.is_dir());
            if !shipped {
                append_dir_entry(&mut builder, "project/dbt_packages")?;
            }
            for (name, from) in packages {
                let prefix = format!("project/dbt_packages/{name}");
                append_dir_entry(&mut builder, &prefix)?;
                add_tree(
                    &mut builder,
                    from,
                    from,
                    &prefix,
                    &self.limits,
                    &mut summary,
                )?;
                summary.packages.push(name.clone());
            }
        }
        let data = builder
            .into_inner()
            .map_err(|e| ExecuteError::Upload(format!("building the upload: {e}")))?;
        self.project = Some(docker::frame(&data));
        Ok(summary)
    }

    /// The runner command line and stdin for `args`, with the project ahead
    /// of `archive` when it has not gone in yet.
    fn runner_call(&mut self, args: &[&str], archive: &[u8]) -> (Vec<String>, Vec<u8>) {
        let mut cmd = vec![self.python.clone(), RUNNER.to_string()];
        cmd.extend(args.iter().map(|a| a.to_string()));
        let mut stdin = match self.project.take() {
            Some(project) => {
                cmd.push("with-project".into());
                project
            }
            None => Vec::new(),
        };
        stdin.extend_from_slice(&docker::frame(archive));
        (cmd, stdin)
    }

    /// Runs a runner command other than a dbt phase (a workload's): `archive`
    /// goes in as one frame, the command's framed output comes back. A deadline
    /// or a container that stopped is the submission's doing and says so; `Err`
    /// is the grader's own failure.
    pub async fn run_runner(
        &mut self,
        args: &[&str],
        archive: &[u8],
        timeout: Duration,
    ) -> Result<RunnerExit, ExecuteError> {
        self.live_guard()?;
        self.drop_next();
        let (cmd, stdin) = self.runner_call(args, archive);
        let guard = self.live_guard()?;
        let res = docker::exec(
            &self.docker,
            guard,
            ExecRequest {
                cmd,
                user: USER.into(),
                env: base_env(&self.limits),
                stdin,
                max_stdout: usize::try_from(self.limits.max_output_bytes).unwrap_or(usize::MAX),
                max_stderr: 64 << 10,
                timeout,
            },
        )
        .await;
        match res {
            Ok(out) => match refused_project(&out) {
                Some(why) => Err(ExecuteError::Upload(why)),
                None => Ok(RunnerExit::Finished(out)),
            },
            Err(ExecFailure::TimedOut) => {
                let probe = self.probe().await;
                self.kill_and_remove("a workload timed out").await;
                Ok(RunnerExit::TimedOut { probe })
            }
            Err(ExecFailure::Engine(e)) => match self.stopped_container().await {
                Some((detail, oom_killed)) => {
                    Ok(RunnerExit::ContainerStopped { detail, oom_killed })
                }
                None => Err(e),
            },
        }
    }

    /// After an engine error: whether the container itself stopped (the
    /// kernel killed it for memory, say), which is the submission's doing.
    /// The sandbox is then removed.
    async fn stopped_container(&mut self) -> Option<(String, bool)> {
        let id = self.guard.as_ref()?.id().to_string();
        match docker::container_state(&self.docker, &id).await {
            Ok(Some(state)) if state.running != Some(true) => {
                let oom = state.oom_killed == Some(true);
                let detail = format!(
                    "the sandbox container stopped (exit {:?}{})",
                    state.exit_code,
                    if oom { ", killed for memory" } else { "" }
                );
                self.kill_and_remove("the container stopped").await;
                Some((detail, oom))
            }
            _ => None,
        }
    }

    /// Runs one phase under the phase deadline. A failing submission yields a
    /// result with a status; `Err` means the grader's machinery failed.
    pub async fn run_phase(&mut self, spec: &PhaseSpec) -> Result<PhaseResult, ExecuteError> {
        self.run(spec, None).await
    }

    /// Runs one phase and then the check queries `plan` draws from the
    /// build's outputs, in the same runner process: the plan goes back over
    /// the exec's stdin once the build's outputs are read (no second `docker
    /// exec` and interpreter start). The answers are in [`PhaseResult::checks`].
    pub async fn run_phase_planned(
        &mut self,
        spec: &PhaseSpec,
        plan: &mut Planner<'_>,
    ) -> Result<PhaseResult, ExecuteError> {
        self.run(spec, Some(plan)).await
    }

    async fn run(
        &mut self,
        spec: &PhaseSpec,
        mut plan: Option<&mut Planner<'_>>,
    ) -> Result<PhaseResult, ExecuteError> {
        self.live_guard()?;
        let started = Instant::now();
        let deadline = spec
            .deadline_secs
            .unwrap_or(self.limits.phase_timeout_secs)
            .max(1);
        let phase_timeout = Duration::from_secs(deadline);
        // dbt gets most of the deadline; the rest is for loading, queries and output.
        let grace = (deadline / 4).clamp(2, 120);
        let dbt_timeout = spec
            .dbt_timeout_secs
            .or(self.limits.dbt_timeout_secs)
            .unwrap_or_else(|| deadline.saturating_sub(grace))
            .max(1);
        let archive = phase_archive(spec, &self.limits, dbt_timeout, plan.is_some())?;
        // A runner started ahead cannot take the project in (its command line
        // is fixed), so it is used only once the project is in.
        let prestarted = match (self.next.take(), &self.project) {
            (Some(next), None) => match next.await {
                Ok(Ok(open)) => Some(open),
                Ok(Err(e)) => {
                    tracing::debug!("the runner started ahead is not usable: {e}");
                    None
                }
                Err(e) => {
                    tracing::debug!("starting the runner ahead failed: {e}");
                    None
                }
            },
            (next, _) => {
                next.inspect(|n| n.abort());
                None
            }
        };
        let (cmd, stdin) = self.runner_call(&["phase"], &archive);
        let guard = self.live_guard()?;
        tracing::info!("phase {}: running", spec.name);
        let mut result = PhaseResult {
            name: spec.name.clone(),
            status: PhaseStatus::Completed,
            nodes: NodeSummary::default(),
            outputs: PhaseOutputs::default(),
            wall_secs: 0.0,
            runner_stderr: String::new(),
            deadline_secs: deadline,
            dbt_deadline_secs: dbt_timeout,
            runner_exit: None,
            runner_failure: None,
            probe: None,
            container_oom_killed: false,
            checks: None,
            runner_started_ahead: prestarted.is_some(),
        };
        let req = ExecRequest {
            cmd,
            user: USER.into(),
            env: base_env(&self.limits),
            stdin,
            max_stdout: usize::try_from(self.limits.max_output_bytes).unwrap_or(usize::MAX),
            max_stderr: 64 << 10,
            timeout: phase_timeout,
        };
        // The build's outputs as the plan saw them, so they are read once.
        let mut first: Option<PhaseOutputs> = None;
        let mut asked = false;
        let mut ahead = spec.another_follows.then(|| {
            (
                self.docker.clone(),
                guard.id().to_string(),
                vec![self.python.clone(), RUNNER.to_string(), "phase".to_string()],
                base_env(&self.limits),
            )
        });
        let mut next = None;
        let res = match plan.as_mut() {
            None => match prestarted {
                Some(open) => docker::exec_opened(&self.docker, open, req, None).await,
                None => docker::exec(&self.docker, guard, req).await,
            },
            Some(plan) => {
                let limits = &self.limits;
                let checks_timeout = Duration::from_secs(limits.phase_timeout_secs.max(1));
                let mut respond = |frame: &[u8]| -> (Vec<u8>, Duration) {
                    // Every process of the submission is gone once the build's
                    // outputs are written: the next phase's runner can start.
                    if let Some((docker, id, cmd, env)) = ahead.take() {
                        next = Some(tokio::spawn(async move {
                            docker::open_exec(&docker, &id, cmd, USER.into(), env).await
                        }));
                    }
                    let outputs = match outputs::read_output_archive(frame, limits) {
                        Ok(files) => outputs::parse_outputs(&files),
                        Err(_) => return (Vec::new(), checks_timeout),
                    };
                    let built = PhaseResult {
                        status: build_status(&outputs),
                        nodes: NodeSummary::from_outputs(&outputs),
                        outputs,
                        ..result.clone()
                    };
                    let queries = plan(&built);
                    first = Some(built.outputs);
                    if queries.is_empty() {
                        return (Vec::new(), checks_timeout);
                    }
                    asked = true;
                    let grace = (limits.phase_timeout_secs / 4).clamp(2, 120);
                    let reply = serde_json::json!({
                        "queries": queries,
                        "max_rows": limits.max_query_rows,
                        "timeout_secs": limits.phase_timeout_secs.saturating_sub(grace).max(1),
                    });
                    (
                        serde_json::to_vec(&reply).unwrap_or_default(),
                        checks_timeout,
                    )
                };
                match prestarted {
                    Some(open) => {
                        docker::exec_opened(&self.docker, open, req, Some(&mut respond)).await
                    }
                    None => docker::exec_dialog(&self.docker, guard, req, &mut respond).await,
                }
            }
        };
        match res {
            Err(ExecFailure::TimedOut) => {
                tracing::warn!("phase {}: deadline reached, killing the sandbox", spec.name);
                result.probe = self.probe().await;
                self.kill_and_remove("a phase timed out").await;
                result.status = PhaseStatus::TimedOut;
            }
            Err(ExecFailure::Engine(e)) => {
                // A container the kernel killed for memory is the submission's
                // doing; any other engine failure is the grader's.
                match docker::container_state(&self.docker, guard.id()).await {
                    Ok(Some(state)) if state.running != Some(true) => {
                        result.container_oom_killed = state.oom_killed == Some(true);
                        result.status = PhaseStatus::RunnerFailed {
                            detail: format!(
                                "the sandbox container stopped during the phase (exit {:?}{})",
                                state.exit_code,
                                if result.container_oom_killed {
                                    ", killed for memory"
                                } else {
                                    ""
                                }
                            ),
                        };
                        self.kill_and_remove("the container stopped").await;
                    }
                    _ => return Err(e),
                }
            }
            Ok(out) if out.answered => {
                // The build finished and its outputs were read; what follows
                // concerns the check queries only.
                result.outputs = first.take().unwrap_or_default();
                result.status = build_status(&result.outputs);
                result.runner_stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                result.runner_exit = out.exit_code;
                let round = if out.timed_out_after_answer {
                    self.kill_and_remove("the check queries timed out").await;
                    CheckRound::TimedOut {
                        deadline_secs: self.limits.phase_timeout_secs,
                    }
                } else if out.exit_code != Some(0) {
                    let failure = RunnerFailure::from_stderr(&result.runner_stderr);
                    CheckRound::RunnerFailed {
                        detail: match failure {
                            Some(f) => f.detail,
                            None => format!("runner exited with {:?}", out.exit_code),
                        },
                        exit: out.exit_code,
                    }
                } else if out.stdout_truncated {
                    CheckRound::RunnerFailed {
                        detail: "check answers over the size cap".into(),
                        exit: out.exit_code,
                    }
                } else {
                    match docker::split_frames(&out.stdout) {
                        Ok(frames) if frames.len() == 2 => {
                            match outputs::read_output_archive(frames[1], &self.limits) {
                                Ok(files) => {
                                    CheckRound::Answered(outputs::parse_check_answers(&files))
                                }
                                Err(e) => CheckRound::RunnerFailed {
                                    detail: e.to_string(),
                                    exit: out.exit_code,
                                },
                            }
                        }
                        Ok(frames) if frames.len() == 1 && !asked => CheckRound::NotAsked,
                        Ok(frames) => CheckRound::RunnerFailed {
                            detail: format!("the runner answered with {} frame(s)", frames.len()),
                            exit: out.exit_code,
                        },
                        Err(why) => CheckRound::RunnerFailed {
                            detail: why.into(),
                            exit: out.exit_code,
                        },
                    }
                };
                result.checks = Some(round);
            }
            Ok(out) => {
                if let Some(why) = refused_project(&out) {
                    return Err(ExecuteError::Upload(why));
                }
                result.runner_stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                result.runner_exit = out.exit_code;
                if out.exit_code != Some(0) {
                    result.runner_failure = RunnerFailure::from_stderr(&result.runner_stderr);
                    result.status = PhaseStatus::RunnerFailed {
                        detail: match &result.runner_failure {
                            Some(f) => f.detail.clone(),
                            None => format!("runner exited with {:?}", out.exit_code),
                        },
                    };
                    result.probe = self.probe().await;
                } else if out.stdout_truncated {
                    result.status = PhaseStatus::RunnerFailed {
                        detail: "phase output over the size cap".into(),
                    };
                } else {
                    let archive = match docker::split_frames(&out.stdout) {
                        Ok(frames) if frames.len() == 1 => Ok(frames[0]),
                        Ok(frames) => Err(format!("the runner wrote {} frame(s)", frames.len())),
                        Err(why) => Err(why.to_string()),
                    };
                    match archive.and_then(|a| {
                        outputs::read_output_archive(a, &self.limits).map_err(|e| e.to_string())
                    }) {
                        Ok(files) => {
                            result.outputs = outputs::parse_outputs(&files);
                            result.status = build_status(&result.outputs);
                        }
                        Err(detail) => result.status = PhaseStatus::RunnerFailed { detail },
                    }
                }
            }
        }
        match next {
            Some(next) if self.gone.is_none() => self.next = Some(next),
            Some(next) => next.abort(),
            None => {}
        }
        result.nodes = NodeSummary::from_outputs(&result.outputs);
        result.wall_secs = started.elapsed().as_secs_f64();
        tracing::info!(
            "phase {}: {:?} in {:.1} s ({} nodes, {} ok)",
            spec.name,
            result.status,
            result.wall_secs,
            result.nodes.total,
            result.nodes.ok
        );
        Ok(result)
    }

    /// The container's counters now (`runner.py probe`), when it still runs.
    async fn probe(&self) -> Option<outputs::Resources> {
        let guard = self.guard.as_ref()?;
        let out = docker::exec(
            &self.docker,
            guard,
            ExecRequest {
                cmd: vec![self.python.clone(), RUNNER.into(), "probe".into()],
                user: USER.into(),
                env: base_env(&self.limits),
                stdin: Vec::new(),
                max_stdout: 64 << 10,
                max_stderr: 64 << 10,
                timeout: Duration::from_secs(20),
            },
        )
        .await
        .ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Removes the container and waits until the engine no longer lists it.
    pub async fn finish(mut self) -> Result<(), ExecuteError> {
        self.remove_now().await
    }

    async fn remove_now(&mut self) -> Result<(), ExecuteError> {
        self.drop_next();
        if let Some(guard) = self.guard.take() {
            let id = guard.id().to_string();
            guard.remove().await?;
            for _ in 0..100 {
                if !docker::container_exists(&self.docker, &id).await? {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            return Err(ExecuteError::Other(format!(
                "container {id} still exists after removal"
            )));
        }
        Ok(())
    }

    async fn kill_and_remove(&mut self, why: &str) {
        self.gone = Some(why.to_string());
        if let Some(guard) = &self.guard {
            if let Err(e) = guard.kill().await {
                tracing::warn!("killing the sandbox failed: {e}");
            }
        }
        if let Err(e) = self.remove_now().await {
            tracing::warn!("removing the sandbox failed: {e}");
        }
    }

    /// Lets go of the runner started ahead, if any: its stdin closes and it
    /// leaves without running anything.
    fn drop_next(&mut self) {
        if let Some(next) = self.next.take() {
            next.abort();
        }
    }

    /// The limits this sandbox was started with.
    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    fn live_guard(&self) -> Result<&ContainerGuard, ExecuteError> {
        if let Some(why) = &self.gone {
            return Err(ExecuteError::SandboxGone(why.clone()));
        }
        self.guard
            .as_ref()
            .ok_or_else(|| ExecuteError::SandboxGone("already finished".into()))
    }
}

/// Everything one submission's run produced.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectRun {
    pub upload: UploadSummary,
    /// One result per phase that ran, in order. After a phase that timed out
    /// the sandbox is gone and the remaining phases are not run.
    pub phases: Vec<PhaseResult>,
}

/// Starts a sandbox, copies the project in, runs the phases in order against the
/// same warehouse and removes the container, whatever happens.
pub async fn run_project(
    image: &str,
    limits: &SandboxLimits,
    project_dir: &Path,
    phases: &[PhaseSpec],
) -> Result<ProjectRun, ExecuteError> {
    let mut sandbox = Sandbox::start(image, limits).await?;
    let outcome = async {
        let upload = sandbox.upload_project(project_dir, &[]).await?;
        let mut results = Vec::with_capacity(phases.len());
        for spec in phases {
            let res = sandbox.run_phase(spec).await?;
            let stop = res.status == PhaseStatus::TimedOut;
            results.push(res);
            if stop {
                break;
            }
        }
        Ok::<_, ExecuteError>(ProjectRun {
            upload,
            phases: results,
        })
    }
    .await;
    let removed = sandbox.finish().await;
    let run = outcome?;
    removed?;
    Ok(run)
}

fn base_env(limits: &SandboxLimits) -> Vec<String> {
    vec![
        "PATH=/opt/dbt/bin:/usr/bin:/bin".into(),
        "HOME=/home/runner".into(),
        "LANG=C.UTF-8".into(),
        "TZ=UTC".into(),
        "DBT_SEND_ANONYMOUS_USAGE_STATS=false".into(),
        format!("ASSAY_MAX_UPLOAD_BYTES={}", limits.max_upload_bytes),
        format!("ASSAY_MAX_FILE_BYTES={}", limits.max_upload_file_bytes),
        format!("ASSAY_MAX_ENTRIES={}", limits.max_upload_entries),
    ]
}

/// The container's limits. tmpfs is the only writable storage; it counts against
/// the memory limit, which is why swap equals memory. The tmpfs mounts carry the
/// runner's uid: over a folder that exists in the image the engine ignores `mode`
/// and mounts them root-owned.
pub fn host_config(limits: &SandboxLimits) -> HostConfig {
    let tmpfs = HashMap::from([
        (
            "/work".to_string(),
            format!(
                "rw,nosuid,nodev,noexec,size={},uid={RUNNER_UID},gid={RUNNER_UID},mode=0700",
                limits.work_tmpfs_bytes
            ),
        ),
        (
            "/tmp".to_string(),
            format!(
                "rw,nosuid,nodev,noexec,size={},uid={RUNNER_UID},gid={RUNNER_UID},mode=1777",
                limits.tmp_tmpfs_bytes
            ),
        ),
        (
            "/home/runner".to_string(),
            format!("rw,nosuid,nodev,noexec,size=16m,uid={RUNNER_UID},gid={RUNNER_UID},mode=0700"),
        ),
    ]);
    HostConfig {
        memory: Some(limits.memory_bytes),
        memory_swap: Some(limits.memory_bytes),
        nano_cpus: Some((limits.cpus * 1e9) as i64),
        pids_limit: Some(limits.pids_limit),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        readonly_rootfs: Some(true),
        network_mode: Some("none".into()),
        tmpfs: Some(tmpfs),
        ulimits: Some(vec![
            ResourcesUlimits {
                name: Some("nofile".into()),
                soft: Some(limits.nofile),
                hard: Some(limits.nofile),
            },
            ResourcesUlimits {
                name: Some("fsize".into()),
                soft: Some(limits.fsize_bytes),
                hard: Some(limits.fsize_bytes),
            },
        ]),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_string(), limits.log_max_size.clone()),
                ("max-file".to_string(), "1".to_string()),
            ])),
        }),
        // A grader killed hard leaves a container that exits after its lifetime;
        // the engine then removes it.
        auto_remove: Some(true),
        ..Default::default()
    }
}

/// The profile name dbt will look up, from the submission's dbt_project.yml.
/// Anything unusual falls back to `default`; dbt then reports the problem itself.
pub fn read_profile_name(project_dir: &Path) -> String {
    #[derive(Deserialize)]
    struct Project {
        profile: Option<String>,
    }
    let path = project_dir.join("dbt_project.yml");
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return "default".into();
    };
    if !meta.is_file() || meta.len() > 1 << 20 {
        return "default".into();
    }
    let Ok(text) = std::fs::read_to_string(&path) else {
        return "default".into();
    };
    match serde_saphyr::from_str::<Project>(&text) {
        Ok(Project { profile: Some(p) }) if is_plain_name(&p) => p,
        _ => "default".into(),
    }
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn tar_err(e: std::io::Error) -> ExecuteError {
    ExecuteError::Upload(format!("building the upload: {e}"))
}

fn append_dir_entry(b: &mut tar::Builder<Vec<u8>>, name: &str) -> Result<(), ExecuteError> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_cksum();
    b.append_data(&mut h, name, std::io::empty())
        .map_err(tar_err)
}

fn append_bytes(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    data: &[u8],
) -> Result<(), ExecuteError> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append_data(&mut h, name, data).map_err(tar_err)
}

/// Walks the project without following links. Symlinks and special files are
/// left out (a submission's link to /etc/passwd must not carry host data in).
fn add_tree(
    b: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    dir: &Path,
    prefix: &str,
    limits: &SandboxLimits,
    summary: &mut UploadSummary,
) -> Result<(), ExecuteError> {
    add_tree_skipping(b, root, dir, prefix, limits, summary, &[])
}

fn add_tree_skipping(
    b: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    dir: &Path,
    prefix: &str,
    limits: &SandboxLimits,
    summary: &mut UploadSummary,
    skip: &[&str],
) -> Result<(), ExecuteError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| ExecuteError::io(dir, e))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            summary.skipped.push(rel);
            continue;
        };
        let meta = std::fs::symlink_metadata(&path).map_err(|e| ExecuteError::io(&path, e))?;
        let tar_name = format!("{prefix}/{name}");
        if meta.is_dir() {
            if SKIPPED_DIRS.contains(&name.as_str()) || skip.contains(&name.as_str()) {
                continue;
            }
            append_dir_entry(b, &tar_name)?;
            add_tree_skipping(b, root, &path, &tar_name, limits, summary, skip)?;
        } else if meta.is_file() {
            if meta.len() > limits.max_upload_file_bytes {
                summary.skipped.push(rel);
                continue;
            }
            summary.files += 1;
            summary.bytes += meta.len();
            if summary.bytes > limits.max_upload_bytes
                || summary.files as u64 > limits.max_upload_entries
            {
                return Err(ExecuteError::Upload(format!(
                    "project exceeds the upload caps ({} files, {} bytes)",
                    summary.files, summary.bytes
                )));
            }
            let data = std::fs::read(&path).map_err(|e| ExecuteError::io(&path, e))?;
            append_bytes(b, &tar_name, &data)?;
        } else {
            summary.skipped.push(rel);
        }
    }
    Ok(())
}

fn phase_archive(
    spec: &PhaseSpec,
    limits: &SandboxLimits,
    dbt_timeout_secs: u64,
    dialog: bool,
) -> Result<Vec<u8>, ExecuteError> {
    if !is_phase_name(&spec.name) {
        return Err(ExecuteError::Other(format!(
            "bad phase name {:?}",
            spec.name
        )));
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut phase = serde_json::json!({
        "dbt": spec.dbt_commands,
        "queries": spec.queries,
        "max_rows": limits.max_query_rows,
        "dbt_timeout_secs": dbt_timeout_secs,
        "log_tail_bytes": limits.log_tail_bytes,
        "fsize_bytes": limits.fsize_bytes,
        "max_manifest_bytes": limits.max_manifest_bytes,
        "max_run_results_bytes": limits.max_run_results_bytes,
        "clock": spec.clock,
        "raw": null,
        "dialog": dialog,
    });
    if let Some(raw) = &spec.raw {
        phase["raw"] = serde_json::json!({"ddl": "raw/ddl.sql", "csv_dir": "raw/csv"});
        append_dir_entry(&mut b, "raw")?;
        append_dir_entry(&mut b, "raw/csv")?;
        let ddl = std::fs::read(&raw.ddl_file).map_err(|e| ExecuteError::io(&raw.ddl_file, e))?;
        append_bytes(&mut b, "raw/ddl.sql", &ddl)?;
        let mut csvs: Vec<PathBuf> = std::fs::read_dir(&raw.csv_dir)
            .map_err(|e| ExecuteError::io(&raw.csv_dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        csvs.sort();
        for p in csvs {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| ExecuteError::Other(format!("bad CSV name {}", p.display())))?;
            let data = std::fs::read(&p).map_err(|e| ExecuteError::io(&p, e))?;
            append_bytes(&mut b, &format!("raw/csv/{name}"), &data)?;
        }
    }
    let json = serde_json::to_vec(&phase).map_err(|e| ExecuteError::Other(e.to_string()))?;
    append_bytes(&mut b, "phase.json", &json)?;
    b.into_inner().map_err(tar_err)
}

fn is_phase_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_name_comes_from_the_project_or_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("dbt_project.yml"),
            "name: x\nprofile: market_place\n",
        )
        .unwrap();
        assert_eq!(read_profile_name(dir.path()), "market_place");
        std::fs::write(
            dir.path().join("dbt_project.yml"),
            "profile: \"{{ env_var('P') }}\"\n",
        )
        .unwrap();
        assert_eq!(read_profile_name(dir.path()), "default");
        std::fs::write(dir.path().join("dbt_project.yml"), "profile: [unclosed\n").unwrap();
        assert_eq!(read_profile_name(dir.path()), "default");
    }

    #[cfg(unix)]
    #[test]
    fn upload_leaves_out_symlinks_and_build_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("models")).unwrap();
        std::fs::create_dir_all(dir.path().join("target")).unwrap();
        std::fs::write(dir.path().join("models/a.sql"), "select 1").unwrap();
        std::fs::write(dir.path().join("target/junk"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("models/p.sql")).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut s = UploadSummary::default();
        add_tree(
            &mut b,
            dir.path(),
            dir.path(),
            "project",
            &SandboxLimits::default(),
            &mut s,
        )
        .unwrap();
        let data = b.into_inner().unwrap();
        let mut names = Vec::new();
        for e in tar::Archive::new(&data[..]).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
        }
        assert_eq!(names, vec!["project/models", "project/models/a.sql"]);
        assert_eq!(s.skipped, vec!["models/p.sql"]);
    }

    #[test]
    fn limits_map_onto_the_host_config() {
        let limits = SandboxLimits::default();
        let hc = host_config(&limits);
        assert_eq!(hc.memory, hc.memory_swap);
        assert_eq!(hc.network_mode.as_deref(), Some("none"));
        assert_eq!(hc.readonly_rootfs, Some(true));
        assert_eq!(hc.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(hc.nano_cpus, Some(1_500_000_000));
    }

    #[test]
    fn limits_deserialize_with_defaults() {
        let l: SandboxLimits = toml::from_str("pids_limit = 64").unwrap();
        assert_eq!(l.pids_limit, 64);
        assert_eq!(l.memory_bytes, SandboxLimits::default().memory_bytes);
    }
}
