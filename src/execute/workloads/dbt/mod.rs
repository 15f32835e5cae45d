//! The dbt phases: the workload of a dbt exercise. The submission's dbt project
//! runs in the sandbox on the exercise's seeded data, in the three phases of the
//! exercise contract, and the hidden checks are measured after each.
//!
//! 1. **initial**: load snapshot S1 into `raw`, `dbt build`;
//! 2. **incremental**: replace `raw` with S2, `dbt build` (no `--full-refresh`);
//! 3. **idempotency**: `dbt build` with nothing changed.
//!
//! After each build a second, query-only step runs the hidden checks' SQL (model
//! placeholders resolved through that phase's manifest.json), reads the columns
//! of the built relations, and takes the row count and content checksum of every
//! contract model. The truth never enters the container: answers are compared
//! on the host.
//!
//! - [`hidden`]: the pack's hidden checks (`hidden-checks.toml`) and how an
//!   answer is judged against the truth;
//! - [`packages`]: the dbt packages a project asks for, placed without a network;
//! - `queries`: a phase's check queries, drawn from its manifest, and how
//!   their answers are read.
//!
//! Here too, the stage's attribution rule holds ([`crate::execute::stage`]): a
//! phase ended by the submission's code ([`PhaseRun::EndedBySubmission`]: a
//! sandbox limit reached, a forged or refused artifact, a killed runner), a
//! package that cannot be had offline, a phase past its deadline are the
//! candidate's; only what the submission cannot cause is the grader's.

pub mod hidden;
pub mod packages;
mod queries;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

pub use hidden::{
    judge, Compare, Expected, HiddenCheck, HiddenChecks, HiddenChecksError, Measurement, Tolerance,
    Verdict,
};

use self::queries::{check_answers, QueryPlan};
use crate::config::Config;
use crate::execute::facts::{
    ExecStatus, ExecutionFacts, HiddenMeasurement, PhaseFacts, PhaseRun, Timings,
};
use crate::execute::stage::{ensure_data, ensure_recipe_image, StageInput};
use crate::execute::{
    self, docker, CheckRound, ExecuteError, PhaseResult, PhaseSpec, RawSnapshot, Sandbox,
    SandboxQuery,
};
use crate::progress::{Mark, Observer, Step};

/// The phases' names, as the report shows them.
pub fn phase_name(number: u8) -> &'static str {
    match number {
        1 => "initial",
        2 => "incremental",
        _ => "idempotency",
    }
}

/// The snapshot each phase loads (phase 3 loads nothing) and whose truth it is
/// judged against.
fn snapshot_of(number: u8) -> &'static str {
    if number == 1 {
        "S1"
    } else {
        "S2"
    }
}

/// Runs the three phases of the project at `project_root` (relative to the
/// submission root) and measures the hidden checks after each.
pub(crate) async fn run_phases(input: &StageInput<'_>, project_root: &str) -> ExecutionFacts {
    let cfg = input.config;
    let obs = input.observer;
    let mut timings = Timings::default();

    // Decided before anything starts: a package that cannot be had offline
    // makes every build fail at parse time, which says nothing of the candidate.
    let project_dir = input.submission_root.join(project_root);
    let cache_root = execute::image::cache_root(&cfg.runner).ok();
    let package_cache =
        packages::cache_dir(cfg.packages.cache_dir.as_deref(), cache_root.as_deref());
    let package_plan = match packages::plan(
        input.packages,
        &project_dir,
        input.submission_root,
        package_cache.as_deref(),
    ) {
        Ok(plan) => plan,
        // The exercise tells the candidate the build has no network: a package
        // that cannot be had offline is the submission's, and dbt could not
        // even parse the project. Nothing needs to start to know that.
        Err(unresolved) => {
            obs.end(
                Step::Execute,
                Mark::Failed,
                &format!("not run: {unresolved}"),
            );
            let why = PhaseRun::NotRun {
                reason: unresolved.to_string(),
            };
            let mut facts = ExecutionFacts::with_status(ExecStatus::Ran);
            for number in 1..=3u8 {
                let mut p = PhaseFacts::not_run(number, "");
                p.ran = why.clone();
                p.hidden = unrun_measurements(input.hidden, number, &BTreeMap::new(), &why);
                facts.phases.push(p);
            }
            facts.timings = timings;
            return facts;
        }
    };

    let t = Instant::now();
    obs.begin(Step::RunnerImage);
    let engine = match docker::connect().await {
        Ok(d) => d,
        Err(e) => {
            obs.end(
                Step::RunnerImage,
                Mark::Failed,
                "no Docker engine is reachable",
            );
            return ExecutionFacts::unavailable(format!(
                "no Docker engine is reachable ({e}); graded from the code alone"
            ));
        }
    };
    timings.connect_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let image = match ensure_image(&engine, cfg, obs).await {
        Ok(tag) => tag,
        Err(e) => {
            obs.end(Step::RunnerImage, Mark::Failed, &e.to_string());
            return ExecutionFacts::unavailable(format!(
                "the runner image is not available ({e}); graded from the code alone"
            ));
        }
    };
    timings.image_secs = t.elapsed().as_secs_f64();
    obs.end(Step::RunnerImage, Mark::Ok, &image);

    let t = Instant::now();
    obs.begin(Step::Data);
    let data = match ensure_data(input.exercise, cfg) {
        Ok(d) => d,
        Err(e) => {
            obs.end(Step::Data, Mark::Failed, &e);
            return ExecutionFacts::unavailable(format!(
                "the exercise's data could not be prepared ({e}); graded from the code alone"
            ));
        }
    };
    timings.data_secs = t.elapsed().as_secs_f64();
    obs.end(
        Step::Data,
        Mark::Ok,
        &format!(
            "seed {}, scale {}, {}",
            data.seed,
            data.scale,
            if data.generated {
                "generated"
            } else {
                "from the cache"
            }
        ),
    );
    let mut truths = BTreeMap::new();
    for snap in ["S1", "S2"] {
        match read_truth(&data.dir.join(snap).join("truth.json")) {
            Ok(v) => {
                truths.insert(snap, v);
            }
            Err(e) => return ExecutionFacts::unavailable(e),
        }
    }
    let ddl = input.exercise.pack_dir.join("raw_schema.sql");
    if !ddl.is_file() {
        return ExecutionFacts::unavailable(format!(
            "the exercise pack has no raw schema at {}",
            ddl.display()
        ));
    }

    let mut facts = ExecutionFacts::with_status(ExecStatus::Ran);
    facts.image = Some(image.clone());
    facts.data = Some(data.clone());

    let t = Instant::now();
    obs.begin(Step::Sandbox);
    let mut sandbox = match Sandbox::start(&image, &cfg.execute).await {
        Ok(s) => s,
        Err(e) => {
            obs.end(Step::Sandbox, Mark::Failed, &e.to_string());
            let mut f = ExecutionFacts::unavailable(format!("the sandbox could not start ({e})"));
            f.image = Some(image);
            f.data = Some(data);
            f.timings = timings;
            return f;
        }
    };
    timings.sandbox_start_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut stop: Option<PhaseRun> = None;
    let installs: Vec<(String, PathBuf)> = package_plan
        .install
        .iter()
        .map(|i| (i.name.clone(), i.from.clone()))
        .collect();
    match sandbox.upload_project(&project_dir, &installs).await {
        Ok(summary) => facts.upload = Some(summary),
        Err(ExecuteError::Upload(why)) => {
            stop = Some(PhaseRun::NotRun {
                reason: format!("the project could not be copied into the sandbox: {why}"),
            })
        }
        Err(e) => {
            stop = Some(PhaseRun::GraderFailed {
                reason: format!("copying the project into the sandbox failed: {e}"),
            })
        }
    }
    timings.upload_secs = t.elapsed().as_secs_f64();
    match &stop {
        Some(why) => obs.end(Step::Sandbox, Mark::Failed, &phase_progress_reason(why)),
        None => obs.end(Step::Sandbox, Mark::Ok, "project packed"),
    }

    let deadlines = Deadlines::new(
        input.hidden.and_then(|h| h.execution.as_ref()),
        cfg.execute.phase_timeout_secs,
    );
    let mut spent = 0.0f64;
    // The container's counters after the last phase that reported them: a
    // runner that dies reports nothing, and the probe is compared with these.
    let mut counters = execute::Resources::default();

    for number in 1..=3u8 {
        let remaining = deadlines.budget_secs as f64 - spent;
        if stop.is_none() && remaining < 1.0 {
            stop = Some(PhaseRun::NotRun {
                reason: format!(
                    "the execution budget of {} s was used up by the earlier phases",
                    deadlines.budget_secs
                ),
            });
        }
        if let Some(why) = &stop {
            obs.end(
                Step::Dbt(number),
                Mark::Skipped,
                &format!("not run: {}", phase_progress_reason(why)),
            );
            let mut p = PhaseFacts::not_run(number, "");
            p.ran = why.clone();
            p.hidden = unrun_measurements(input.hidden, number, &truths, why);
            facts.phases.push(p);
            continue;
        }
        let raw = (number < 3).then(|| RawSnapshot {
            ddl_file: ddl.clone(),
            csv_dir: data.dir.join(snapshot_of(number)),
        });
        // "Now" for the build and for the check queries alike: a candidate's
        // view that reads the current time is evaluated when the checks query it.
        let clock = truths
            .get(snapshot_of(number))
            .and_then(|t| t.get("sync_at"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let spec = PhaseSpec {
            name: format!("p{number}-{}", phase_name(number)),
            raw,
            dbt_commands: vec![vec!["build".to_string()]],
            queries: Vec::new(),
            dbt_timeout_secs: None,
            clock: clock.clone(),
            // A submission that used up the deadline in one phase is not
            // given it again in each later one.
            deadline_secs: Some((deadlines.phase_secs as f64).min(remaining).ceil().max(1.0) as u64),
            another_follows: number < 3,
        };
        obs.begin(Step::Dbt(number));
        let idem = idempotency_models(input.hidden);
        // The check queries are drawn from what the build left (its manifest
        // names the relations) and run by the same runner process.
        let mut plan: Option<QueryPlan> = None;
        let mut planner = |built: &execute::PhaseResult| -> Vec<SandboxQuery> {
            let seen = phase_facts(number, built.clone(), &mut counters.clone(), &cfg.execute);
            if !matches!(seen.ran, PhaseRun::Completed | PhaseRun::DbtTimedOut) {
                return Vec::new();
            }
            let p = QueryPlan::build(
                input.hidden,
                number,
                &seen,
                &idem,
                cfg.execute.max_series_rows,
            );
            let queries = p.queries.clone();
            plan = Some(p);
            queries
        };
        let ran = sandbox.run_phase_planned(&spec, &mut planner).await;
        let (mut phase, round) = match ran {
            Ok(mut result) => {
                spent += result.wall_secs;
                let round = result.checks.take();
                (
                    phase_facts(number, result, &mut counters, &cfg.execute),
                    round,
                )
            }
            Err(e) => {
                let why = match e {
                    // The project goes in with the first phase, which then
                    // ran nothing of it.
                    ExecuteError::Upload(why) => {
                        facts.upload = None;
                        PhaseRun::NotRun {
                            reason: format!(
                                "the project could not be copied into the sandbox: {why}"
                            ),
                        }
                    }
                    e => PhaseRun::GraderFailed {
                        reason: format!("the phase could not run: {e}"),
                    },
                };
                stop = Some(why.clone());
                let mut p = PhaseFacts::not_run(number, "");
                p.ran = why;
                (p, None)
            }
        };
        timings.dbt_secs += phase.dbt_secs.unwrap_or(0.0);
        match &phase.ran {
            PhaseRun::TimedOut => {
                stop = Some(PhaseRun::NotRun {
                    reason: format!(
                        "phase {number} timed out after {} s and ended the sandbox",
                        phase.deadline_secs.unwrap_or_default()
                    ),
                });
            }
            PhaseRun::EndedBySubmission { cause } => {
                // What the submission did to the sandbox cannot be undone or
                // trusted: later phases would run in a workspace it tampered with.
                stop = Some(PhaseRun::NotRun {
                    reason: format!("phase {number} was ended by the submission's code: {cause}"),
                });
            }
            _ => {}
        }
        match (&phase.ran, plan) {
            (PhaseRun::Completed | PhaseRun::DbtTimedOut, Some(plan)) => {
                let checks_secs = match &round {
                    Some(CheckRound::Answered(a)) => a.elapsed_secs.unwrap_or(0.0),
                    _ => 0.0,
                };
                timings.check_phase_secs += checks_secs;
                timings.build_phase_secs += (phase.wall_secs - checks_secs).max(0.0);
                match check_answers(number, round) {
                    Ok(results) => plan.interpret(&results, &mut phase),
                    Err(why) => {
                        match &why {
                            PhaseRun::NotRun { .. } => stop = Some(why.clone()),
                            PhaseRun::EndedBySubmission { cause } => {
                                stop = Some(PhaseRun::NotRun {
                                    reason: format!(
                                        "phase {number} was ended by the submission's code: {cause}"
                                    ),
                                });
                                phase.ran = why.clone();
                            }
                            _ => {}
                        }
                        plan.fail_all(&why, &mut phase);
                    }
                }
            }
            (PhaseRun::Completed | PhaseRun::DbtTimedOut, None) => {
                timings.build_phase_secs += phase.wall_secs;
            }
            (other, _) => {
                timings.build_phase_secs += phase.wall_secs;
                let why = match other {
                    PhaseRun::TimedOut => PhaseRun::NotRun {
                        reason: "the phase hit its deadline".into(),
                    },
                    o => o.clone(),
                };
                phase.hidden = unrun_measurements(input.hidden, number, &BTreeMap::new(), &why);
            }
        }
        // Expected values are looked up on the host, never sent in.
        if let Some(truth) = truths.get(snapshot_of(number)) {
            for m in &mut phase.hidden {
                if let Some(check) = input.hidden.and_then(|h| h.find(&m.check)) {
                    m.expected = hidden::expected_value(check, truth);
                }
            }
        }
        let (mark, detail) = phase_progress(&phase);
        obs.end(Step::Dbt(number), mark, &detail);
        facts.phases.push(phase);
    }

    let t = Instant::now();
    if let Err(e) = sandbox.finish().await {
        tracing::warn!("removing the sandbox failed: {e}");
    }
    timings.cleanup_secs = t.elapsed().as_secs_f64();
    facts.timings = timings;
    facts
}

/// Makes sure the dbt runner image exists; the first run builds it, with a
/// note saying so, since it takes minutes.
async fn ensure_image(
    docker: &bollard::Docker,
    cfg: &Config,
    obs: &dyn Observer,
) -> Result<String, ExecuteError> {
    let recipe = execute::image::Recipe::dbt(&cfg.runner);
    ensure_recipe_image(docker, cfg, &recipe, obs, Step::RunnerImage).await
}

/// Why a phase did not run, or how it ended, in words.
fn phase_progress_reason(why: &PhaseRun) -> String {
    match why {
        PhaseRun::Completed => "completed".into(),
        PhaseRun::DbtTimedOut => "dbt hit its deadline".into(),
        PhaseRun::TimedOut => "the phase hit its deadline".into(),
        PhaseRun::NotRun { reason } | PhaseRun::GraderFailed { reason } => reason.clone(),
        PhaseRun::EndedBySubmission { cause } => {
            format!("ended by the submission's code: {cause}")
        }
    }
}

/// The progress line of a phase: whether dbt passed, and how the phase ended
/// when it did not simply complete.
fn phase_progress(p: &PhaseFacts) -> (Mark, String) {
    let name = phase_name(p.number);
    let hidden = if p.hidden.is_empty() {
        String::new()
    } else {
        format!("; {} hidden check(s) measured", p.hidden.len())
    };
    match &p.ran {
        PhaseRun::Completed => match p.dbt_returncode {
            Some(0) => (
                Mark::Ok,
                format!(
                    "{name}: dbt build passed, {} node(s){hidden}",
                    p.nodes.total
                ),
            ),
            code => (
                Mark::Failed,
                format!(
                    "{name}: dbt build failed (exit {}; {} errored, {} test(s) failed){hidden}",
                    code.map_or_else(|| "unknown".to_string(), |c| c.to_string()),
                    p.nodes.errored,
                    p.nodes.failed
                ),
            ),
        },
        PhaseRun::DbtTimedOut => (
            Mark::Failed,
            format!("{name}: dbt hit its deadline{hidden}"),
        ),
        PhaseRun::TimedOut => (Mark::Failed, format!("{name}: the phase hit its deadline")),
        PhaseRun::NotRun { reason } => (Mark::Skipped, format!("{name}: not run: {reason}")),
        PhaseRun::EndedBySubmission { cause } => (
            Mark::Failed,
            format!("{name}: ended by the submission's code: {cause}"),
        ),
        PhaseRun::GraderFailed { reason } => (
            Mark::Failed,
            format!("{name}: failed in the grader: {reason}"),
        ),
    }
}

fn read_truth(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The models compared on the rerun, each with the required columns its
/// checksum covers (empty: the whole row).
fn idempotency_models(hidden: Option<&HiddenChecks>) -> Vec<(String, Vec<String>)> {
    hidden
        .map(|h| {
            h.idempotency_models
                .iter()
                .map(|m| {
                    (
                        m.clone(),
                        h.required_columns.get(m).cloned().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn phase_facts(
    number: u8,
    result: PhaseResult,
    counters: &mut execute::Resources,
    limits: &execute::SandboxLimits,
) -> PhaseFacts {
    let mut ran = PhaseRun::from_status(&result.status);
    let resource_ends = resource_ends(&result, counters, limits);
    if let Some(c) = result
        .outputs
        .report
        .counters
        .clone()
        .or_else(|| result.probe.clone())
    {
        *counters = c;
    }
    let out = &result.outputs;
    let mut problems = out.problems.clone();
    if let Some(e) = &out.report.raw_error {
        problems.push(format!("loading the raw snapshot failed: {e}"));
    }
    let console = out
        .report
        .dbt
        .as_ref()
        .and_then(|d| d.console_bytes)
        .unwrap_or(0);
    if console > CONSOLE_FLOOD_BYTES {
        problems.push(format!(
            "dbt's console received {} MiB from the submission's code; only its end was kept",
            console >> 20
        ));
    }
    let early_exit = ended_early(&result);
    match &mut ran {
        PhaseRun::EndedBySubmission { cause } => {
            *cause = runner_failure_cause(&result, &resource_ends, cause);
        }
        PhaseRun::Completed => {
            let refused: Vec<String> = out
                .report
                .refused_artifacts
                .iter()
                .map(|r| format!("{} was {}", clip(&r.name, 80), clip(&r.reason, 200)))
                .collect();
            if !resource_ends.is_empty() {
                ran = PhaseRun::EndedBySubmission {
                    cause: resource_ends.join("; "),
                };
            } else if !refused.is_empty() {
                ran = PhaseRun::EndedBySubmission {
                    cause: format!("dbt's artifacts were refused: {}", refused.join("; ")),
                };
            } else if let Some(why) = &early_exit {
                ran = PhaseRun::EndedBySubmission { cause: why.clone() };
            }
        }
        _ => {}
    }
    let dbt_exceptions = out
        .invocations
        .iter()
        .filter_map(|i| i.exception.clone())
        .collect();
    let mut phase = PhaseFacts {
        number,
        name: phase_name(number).to_string(),
        ran,
        nodes: result.nodes.clone(),
        wall_secs: result.wall_secs,
        dbt_secs: out.report.dbt.as_ref().and_then(|d| d.elapsed_secs),
        dbt_returncode: out.report.dbt.as_ref().and_then(|d| d.returncode),
        results: out
            .run_results
            .as_ref()
            .map(|r| r.results.clone())
            .unwrap_or_default(),
        manifest: out.manifest.clone(),
        dbt_exceptions,
        log_tail: out.log_tail.clone(),
        problems,
        hidden: Vec::new(),
        models: BTreeMap::new(),
        relation_columns: BTreeMap::new(),
        deadline_secs: Some(result.deadline_secs),
        dbt_deadline_secs: Some(result.dbt_deadline_secs),
        resource_ends,
        forged: Vec::new(),
    };
    phase.forged = forged_claims(&phase, &result, early_exit.is_some());
    for f in &phase.forged {
        phase.problems.push(format!("forged artifact: {f}"));
    }
    phase
}

/// Console output past which the report names a flood.
const CONSOLE_FLOOD_BYTES: u64 = 64 << 20;
/// Free space below which a workspace counts as full.
const FULL_BELOW_BYTES: u64 = 2 << 20;

fn mib(bytes: impl Into<i128>) -> i128 {
    bytes.into() >> 20
}

/// The sandbox limits a phase reached, named for the report: what the runner
/// measured, else the probe after a runner that did not finish compared with
/// the counters before the phase, and the engine's own account of the
/// container.
fn resource_ends(
    result: &PhaseResult,
    before: &execute::Resources,
    limits: &execute::SandboxLimits,
) -> Vec<String> {
    let mut ends = Vec::new();
    let delta = |f: fn(&execute::Resources) -> Option<i64>| -> i64 {
        match (&result.outputs.report.resources, &result.probe) {
            (Some(r), _) => f(r).unwrap_or(0),
            (None, Some(p)) => f(p).unwrap_or(0) - f(before).unwrap_or(0),
            (None, None) => 0,
        }
    };
    let oom = delta(|r| r.oom_kills);
    if oom > 0 || result.container_oom_killed {
        ends.push(format!(
            "out of memory: the kernel killed {} at the sandbox's {} MiB memory limit",
            if result.container_oom_killed {
                "the sandbox".to_string()
            } else {
                format!("{oom} process(es)")
            },
            mib(limits.memory_bytes)
        ));
    }
    let pids = delta(|r| r.pids_max_hits);
    if pids > 0 {
        ends.push(format!(
            "process limit: {pids} new process(es) or thread(s) refused at the sandbox's limit of {}",
            limits.pids_limit
        ));
    }
    let seen = result
        .outputs
        .report
        .resources
        .as_ref()
        .or(result.probe.as_ref());
    if let Some(r) = seen {
        if !r.files_at_size_limit.is_empty() {
            let names: Vec<String> = r
                .files_at_size_limit
                .iter()
                .take(3)
                .map(|f| format!("`{}`", clip(f, 120)))
                .collect();
            ends.push(format!(
                "file-size limit: {} reached the sandbox's {} MiB limit per file",
                names.join(", "),
                mib(limits.fsize_bytes)
            ));
        }
        for (place, free, total) in [
            ("/work", r.work_free_bytes, r.work_total_bytes),
            ("/tmp", r.tmp_free_bytes, r.tmp_total_bytes),
        ] {
            if let (Some(free), Some(total)) = (free, total) {
                if free < FULL_BELOW_BYTES {
                    ends.push(format!(
                        "the sandbox's workspace {place} ({} MiB) was full",
                        mib(total)
                    ));
                }
            }
        }
    }
    if let Some(f) = &result.runner_failure {
        let named = match f.kind.as_str() {
            "workspace_full" if !ends.iter().any(|e| e.contains("was full")) => {
                Some("the sandbox's workspace was full".to_string())
            }
            "file_size" if !ends.iter().any(|e| e.starts_with("file-size")) => Some(format!(
                "file-size limit: a file reached the sandbox's {} MiB limit per file",
                mib(limits.fsize_bytes)
            )),
            "resources" if pids == 0 => Some(format!(
                "process limit: the runner could not start a process ({})",
                clip(&f.detail, 200)
            )),
            "memory" if oom == 0 => Some("out of memory: the runner could not allocate".into()),
            _ => None,
        };
        ends.extend(named);
    }
    ends
}

/// dbt's process ended before dbt reported the result of every command it was
/// given, without the runner's deadline: something inside dbt's process (a
/// Python model) ended it.
fn ended_early(result: &PhaseResult) -> Option<String> {
    let dbt = result.outputs.report.dbt.as_ref()?;
    if dbt.timed_out {
        return None;
    }
    let asked = dbt.commands.unwrap_or(1);
    let reported = result.outputs.invocations.len();
    if reported >= asked {
        return None;
    }
    Some(match dbt.returncode {
        Some(code) if code < 0 => format!(
            "dbt's process was killed by signal {} before dbt finished",
            -code
        ),
        Some(code) => format!(
            "dbt's process exited (code {code}) before dbt finished: code running inside dbt (a Python model) ended it"
        ),
        None => "dbt's process ended before dbt finished".into(),
    })
}

/// The cause of a runner that did not finish, as precisely as the evidence
/// allows: a named limit, the kill of the runner, or the runner's own words.
fn runner_failure_cause(result: &PhaseResult, ends: &[String], detail: &str) -> String {
    if !ends.is_empty() {
        return ends.join("; ");
    }
    match result.runner_exit {
        Some(137) => "the phase runner was killed (SIGKILL, exit 137) while the submission's code ran in the sandbox".into(),
        Some(143) => "the phase runner was terminated (SIGTERM, exit 143) while the submission's code ran in the sandbox".into(),
        Some(code) => {
            let last = result
                .runner_stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            format!(
                "the phase runner failed (exit {code}) after the submission's code ran in the sandbox: {}",
                clip(last, 300)
            )
        }
        None => format!("the phase's output could not be read back: {}", clip(detail, 300)),
    }
}

/// Claims of dbt's artifacts that the grader's own observations contradict.
/// Only what dbt cannot honestly produce counts: an honest failing build
/// never shows up here.
fn forged_claims(phase: &PhaseFacts, result: &PhaseResult, ended_early: bool) -> Vec<String> {
    let mut forged = Vec::new();
    if phase.results.is_empty() {
        return forged;
    }
    if ended_early {
        // dbt writes run_results.json when a command ends, and the runner's
        // child records the command right after: results with no record were
        // written by something else.
        forged.push(format!(
            "run_results.json reports {} node(s), but dbt's process ended before dbt finished, so dbt did not write it",
            phase.results.len()
        ));
    }
    let Some(manifest) = &phase.manifest else {
        return forged;
    };
    let unknown: Vec<&str> = phase
        .results
        .iter()
        .map(|r| r.unique_id.as_str())
        .filter(|id| !manifest.nodes.contains_key(*id))
        .collect();
    if !unknown.is_empty() {
        forged.push(format!(
            "run_results.json reports {} node(s) that dbt's manifest does not have (e.g. `{}`)",
            unknown.len(),
            clip(unknown[0], 120)
        ));
    }
    let report = &result.outputs.report;
    if let (Some(relations), false) = (&report.relations, report.relations_truncated) {
        let have: BTreeSet<(String, String)> = relations.iter().cloned().collect();
        let mut missing = Vec::new();
        for r in phase.results.iter().filter(|r| r.status.is_ok()) {
            let Some(node) = manifest.nodes.get(&r.unique_id) else {
                continue;
            };
            if !matches!(node.resource_type.as_str(), "model" | "seed" | "snapshot") {
                continue;
            }
            let materialized = node
                .config
                .get("materialized")
                .and_then(Value::as_str)
                .unwrap_or("");
            if matches!(materialized, "ephemeral" | "external") {
                continue;
            }
            let schema = node.schema.clone().unwrap_or_else(|| "main".into());
            let name = node.alias.clone().unwrap_or_else(|| node.name.clone());
            if !have.contains(&(schema.to_lowercase(), name.to_lowercase())) {
                missing.push(format!("{schema}.{name}"));
            }
        }
        if !missing.is_empty() {
            forged.push(format!(
                "run_results.json says {} relation(s) were built that the warehouse does not hold (e.g. {})",
                missing.len(),
                clip(&missing[0], 120)
            ));
        }
    }
    forged
}

pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// The phase deadline and the total budget of the build phases, in seconds:
/// sized from the pack's reference build time when it gives one, never above
/// the configured phase limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deadlines {
    pub phase_secs: u64,
    pub budget_secs: u64,
}

impl Deadlines {
    pub fn new(pack: Option<&hidden::ExecutionBudget>, configured_phase_secs: u64) -> Deadlines {
        let cap = configured_phase_secs.max(1);
        match pack {
            Some(b) => {
                let phase =
                    ((b.reference_build_secs * b.deadline_multiple).ceil() as u64).clamp(1, cap);
                let budget = ((b.reference_build_secs * b.budget_multiple).ceil() as u64)
                    .clamp(phase, cap.saturating_mul(3));
                Deadlines {
                    phase_secs: phase,
                    budget_secs: budget,
                }
            }
            None => Deadlines {
                phase_secs: cap,
                budget_secs: cap.saturating_mul(2),
            },
        }
    }
}

/// Measurements for a phase whose checks cannot run.
fn unrun_measurements(
    hidden: Option<&HiddenChecks>,
    number: u8,
    truths: &BTreeMap<&str, Value>,
    why: &PhaseRun,
) -> Vec<HiddenMeasurement> {
    let Some(hidden) = hidden else {
        return Vec::new();
    };
    let measurement = match why {
        PhaseRun::GraderFailed { reason } => Measurement::GraderFailed {
            reason: reason.clone(),
        },
        PhaseRun::NotRun { reason } => Measurement::NotRun {
            reason: reason.clone(),
        },
        PhaseRun::EndedBySubmission { cause } => Measurement::NotRun {
            reason: format!("the phase was ended by the submission's code: {cause}"),
        },
        PhaseRun::TimedOut => Measurement::NotRun {
            reason: "the phase timed out".into(),
        },
        other => Measurement::NotRun {
            reason: other.label().replace('_', " "),
        },
    };
    hidden
        .in_phase(number)
        .map(|c| HiddenMeasurement {
            check: c.id.clone(),
            measurement: measurement.clone(),
            expected: truths
                .get(snapshot_of(number))
                .map(|t| hidden::expected_value(c, t))
                .unwrap_or_else(|| Err("no truth loaded".into())),
        })
        .collect()
}

/// Every hidden check of a phase judged against its truth with the rubric's
/// tolerance, in the pack's order.
pub fn phase_verdicts(facts: &ExecutionFacts, phase: u8, tol: &Tolerance) -> Vec<Verdict> {
    let (Some(hidden), Some(p)) = (&facts.hidden, facts.phase(phase)) else {
        return Vec::new();
    };
    p.hidden
        .iter()
        .filter_map(|m| {
            let check = hidden.find(&m.check)?;
            Some(judge(check, phase, &m.measurement, &m.expected, tol))
        })
        .collect()
}

/// The nodes of a phase that did not succeed, each with the first line of
/// dbt's message that says why: tests when `tests`, else models, seeds and
/// snapshots. A test that only warned is not a failure.
fn node_issues(
    results: &[crate::execute::RunResult],
    tests: bool,
) -> Vec<crate::report::NodeIssue> {
    use crate::execute::NodeStatus;
    results
        .iter()
        .filter(|r| r.unique_id.starts_with("test.") == tests)
        .filter(|r| {
            matches!(
                r.status,
                NodeStatus::Error | NodeStatus::Fail | NodeStatus::RuntimeError
            )
        })
        .map(|r| crate::report::NodeIssue {
            node: node_name(&r.unique_id),
            message: r
                .message
                .as_deref()
                .map(error_line)
                .unwrap_or_else(|| format!("{:?}", r.status).to_lowercase()),
        })
        .collect()
}

/// `model.shop.mart_gmv_daily` as `mart_gmv_daily`; a test's trailing hash
/// (`test.shop.unique_x_id.4f2a1b`) is dropped.
fn node_name(unique_id: &str) -> String {
    let mut parts: Vec<&str> = unique_id.split('.').collect();
    if parts.first() == Some(&"test") && parts.len() > 3 {
        parts.pop();
    }
    parts.last().copied().unwrap_or(unique_id).to_string()
}

/// The line of a dbt message that says what went wrong: dbt starts with a
/// header ("Runtime Error in model x (models/x.sql)") and puts the database's
/// own error below it.
fn error_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let header = |l: &str| l.contains(" Error in ") && l.ends_with(')');
    let Some(at) = lines
        .iter()
        .position(|l| !header(l))
        .or(if lines.is_empty() { None } else { Some(0) })
    else {
        return String::new();
    };
    // "Python model failed:" only announces the error; what failed is on the
    // next line, or, under a Python traceback, on the traceback's last line
    // (`RuntimeError: ...`).
    let line = match lines.get(at + 1) {
        Some(next) if lines[at].ends_with(':') => {
            let what = if next.starts_with("Traceback (most recent call last)") {
                lines[at + 1..]
                    .iter()
                    .rev()
                    .find(|l| is_exception_line(l))
                    .unwrap_or(next)
            } else {
                next
            };
            format!("{} {what}", lines[at])
        }
        _ => lines[at].to_string(),
    };
    crate::inert::strip_ansi(&line).chars().take(300).collect()
}

/// `ValueError: ...`, `duckdb.duckdb.BinderException: ...`: the line a Python
/// traceback ends with.
fn is_exception_line(line: &str) -> bool {
    let name = line.split(':').next().unwrap_or("");
    !name.is_empty()
        && line.len() > name.len()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
}

/// The report's execution section: phases, every hidden check's verdict per
/// phase (judged with the tolerance the rubric gives that phase's criterion),
/// dbt's test tally of the first phase and the end of dbt's log. `None` when
/// nothing ran.
pub fn report_summary(
    facts: &ExecutionFacts,
    tolerance: &dyn Fn(u8) -> Option<Tolerance>,
) -> Option<crate::report::ExecutionSummary> {
    use crate::report::{ExecutionSummary, HiddenCheckRun, PhaseSummary, TestTally};
    if facts.status != ExecStatus::Ran {
        return None;
    }
    let tally = |n: &crate::execute::NodeSummary| TestTally {
        total: n.total as u64,
        passed: n.ok as u64,
        failed: n.failed as u64,
        errored: (n.errored + n.other) as u64,
        warned: n.warned as u64,
        skipped: n.skipped as u64,
    };
    let mut summary = ExecutionSummary::default();
    for p in &facts.phases {
        let detail = phase_detail(p);
        let mut problems: Vec<String> = p
            .resource_ends
            .iter()
            .map(|e| format!("limit reached: {e}"))
            .collect();
        problems.extend(p.problems.iter().cloned());
        summary.phases.push(PhaseSummary {
            phase: p.number,
            name: p.name.clone(),
            status: p.ran.label().to_string(),
            detail,
            wall_secs: Some((p.wall_secs * 10.0).round() / 10.0),
            nodes: (p.nodes.total > 0).then(|| tally(&p.nodes)),
            problems,
            dbt_exit_code: p.dbt_returncode,
            errored: node_issues(&p.results, false),
            failed_tests: node_issues(&p.results, true),
        });
        let verdicts = match tolerance(p.number) {
            Some(tol) => phase_verdicts(facts, p.number, &tol),
            None => Vec::new(),
        };
        for v in verdicts {
            let def = facts.hidden.as_ref().and_then(|h| h.find(&v.check));
            summary.hidden_checks.push(HiddenCheckRun {
                title: def.map(|c| c.title.clone()).unwrap_or_default(),
                model: def.map(|c| c.model.clone()).unwrap_or_default(),
                compare: def
                    .map(|c| c.compare.name().to_string())
                    .unwrap_or_default(),
                noun: def.and_then(|c| c.noun.clone()),
                note: v.note,
                trap: def.and_then(|c| c.trap.clone()),
                check: v.check,
                phase: v.phase,
                outcome: v.outcome,
                measured: v.measured,
                expected: v.expected,
            });
        }
    }
    if let Some(p1) = facts.phase(1) {
        let mut t = TestTally::default();
        for r in p1
            .results
            .iter()
            .filter(|r| r.unique_id.starts_with("test."))
        {
            t.total += 1;
            match &r.status {
                crate::execute::NodeStatus::Pass | crate::execute::NodeStatus::Success => {
                    t.passed += 1
                }
                crate::execute::NodeStatus::Warn => {
                    t.passed += 1;
                    t.warned += 1
                }
                crate::execute::NodeStatus::Fail => t.failed += 1,
                crate::execute::NodeStatus::Skipped => t.skipped += 1,
                _ => t.errored += 1,
            }
        }
        summary.candidate_tests = (t.total > 0).then_some(t);
    }
    if let Some(p) = facts
        .phases
        .iter()
        .rev()
        .find(|p| !p.log_tail.trim().is_empty())
    {
        summary.dbt_log_tail = log_excerpt(&p.log_tail, LOG_EXCERPT_LINES);
    }
    if let Some(t) = &facts.tests {
        summary.hidden_tests = t.tests.clone();
    }
    Some(summary)
}

/// Lines of dbt's log a report keeps.
const LOG_EXCERPT_LINES: usize = 60;

/// What a reader needs of a phase's outcome, in one line: the cause of an
/// end, the deadline that was hit, or dbt's own exception.
pub fn phase_detail(p: &PhaseFacts) -> Option<String> {
    match &p.ran {
        PhaseRun::NotRun { reason } | PhaseRun::GraderFailed { reason } => Some(reason.clone()),
        PhaseRun::EndedBySubmission { cause } => {
            Some(format!("ended by the submission's code: {cause}"))
        }
        PhaseRun::TimedOut => Some(format!(
            "timed out after {} s (the phase deadline); the sandbox was removed",
            p.deadline_secs.unwrap_or_default()
        )),
        PhaseRun::DbtTimedOut => Some(format!(
            "dbt timed out after {} s (its share of the phase deadline) and was stopped",
            p.dbt_deadline_secs.unwrap_or_default()
        )),
        PhaseRun::Completed => p
            .forged
            .first()
            .map(|f| format!("forged artifact: {f}"))
            .or_else(|| p.dbt_exceptions.first().cloned()),
    }
}

/// The part of dbt's log that says what went wrong: from the first error line
/// (or dbt's closing summary) to the end, at most `max` lines: the first half
/// of them and the last. dbt prints each failure's message after its summary
/// line, so the last lines alone cut the messages off.
pub fn log_excerpt(log: &str, max: usize) -> Vec<String> {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let is_error = |l: &str| {
        l.contains("Error") || l.contains("ERROR") || l.contains("Failure") || l.contains("FAIL ")
    };
    let is_summary = |l: &str| l.contains("Finished running") || l.contains("Completed with");
    let from = lines
        .iter()
        .position(|l| is_error(l))
        .or_else(|| lines.iter().position(|l| is_summary(l)))
        .unwrap_or_else(|| lines.len().saturating_sub(max));
    let kept = &lines[from..];
    let out: Vec<&str> = if kept.len() <= max {
        kept.to_vec()
    } else {
        let head = max / 2;
        let tail = max - head - 1;
        let mut v = kept[..head].to_vec();
        v.push("…");
        v.extend_from_slice(&kept[kept.len() - tail..]);
        v
    };
    out.into_iter()
        .map(|l| crate::inert::inert_line(&clip(l, 400)))
        .collect()
}

#[cfg(test)]
mod attribution_tests {
    use super::queries::why_not_built;
    use super::*;
    use crate::execute::outputs::{DbtProcess, RefusedArtifact};
    use crate::execute::{
        DbtInvocation, Manifest, ManifestNode, NodeStatus, NodeSummary, PhaseOutputs, PhaseStatus,
        Resources, RunResult, SandboxLimits,
    };

    fn node(id: &str, materialized: &str) -> (String, ManifestNode) {
        let mut config = serde_json::Map::new();
        config.insert("materialized".into(), Value::String(materialized.into()));
        (
            id.into(),
            ManifestNode {
                unique_id: id.into(),
                resource_type: id.split('.').next().unwrap().into(),
                name: id.rsplit('.').next().unwrap().into(),
                package_name: None,
                original_file_path: None,
                raw_code: None,
                compiled_code: None,
                depends_on: Default::default(),
                config,
                attached_node: None,
                schema: Some("main".into()),
                alias: None,
                columns: BTreeMap::new(),
            },
        )
    }

    fn ok(id: &str) -> RunResult {
        RunResult {
            unique_id: id.into(),
            status: NodeStatus::Success,
            failures: None,
            message: None,
            execution_time: None,
            compiled_code: None,
            relation_name: None,
        }
    }

    /// A build phase that completed: two models claimed built, one of them
    /// ephemeral, the warehouse holding `relations`.
    fn completed(relations: &[&str]) -> PhaseResult {
        let mut outputs = PhaseOutputs {
            manifest: Some(Manifest {
                nodes: [node("model.p.a", "table"), node("model.p.e", "ephemeral")]
                    .into_iter()
                    .collect(),
                sources: BTreeMap::new(),
                parent_map: BTreeMap::new(),
            }),
            run_results: Some(crate::execute::RunResults {
                results: vec![ok("model.p.a"), ok("model.p.e")],
                elapsed_time: None,
            }),
            ..Default::default()
        };
        outputs.invocations = vec![DbtInvocation {
            args: vec!["build".into()],
            success: true,
            exception: None,
        }];
        outputs.report.dbt = Some(DbtProcess {
            returncode: Some(0),
            commands: Some(1),
            ..Default::default()
        });
        outputs.report.relations = Some(
            relations
                .iter()
                .map(|r| ("main".to_string(), r.to_string()))
                .collect(),
        );
        outputs.report.resources = Some(Resources {
            oom_kills: Some(0),
            pids_max_hits: Some(0),
            work_free_bytes: Some(500 << 20),
            work_total_bytes: Some(1 << 30),
            ..Default::default()
        });
        PhaseResult {
            name: "p1-initial".into(),
            status: PhaseStatus::Completed,
            nodes: NodeSummary::default(),
            outputs,
            wall_secs: 3.0,
            runner_stderr: String::new(),
            deadline_secs: 300,
            dbt_deadline_secs: 225,
            runner_exit: Some(0),
            runner_failure: None,
            probe: None,
            container_oom_killed: false,
            checks: None,
            runner_started_ahead: false,
        }
    }

    fn facts(result: PhaseResult) -> PhaseFacts {
        phase_facts(
            1,
            result,
            &mut Resources::default(),
            &SandboxLimits::default(),
        )
    }

    #[test]
    fn an_honest_build_is_completed_and_not_forged() {
        let p = facts(completed(&["a"]));
        assert_eq!(p.ran, PhaseRun::Completed);
        assert!(p.forged.is_empty(), "{:?}", p.forged);
        assert!(p.resource_ends.is_empty());
    }

    #[test]
    fn results_the_warehouse_or_the_manifest_contradict_are_forged() {
        let p = facts(completed(&[]));
        assert_eq!(p.forged.len(), 1, "{:?}", p.forged);
        assert!(p.forged[0].contains("main.a"), "{:?}", p.forged);
        let mut r = completed(&["a"]);
        r.outputs
            .run_results
            .as_mut()
            .unwrap()
            .results
            .extend((0..124).map(|i| ok(&format!("model.p.fake{i}"))));
        let p = facts(r);
        assert!(p.forged[0].contains("124 node(s)"), "{:?}", p.forged);
    }

    #[test]
    fn a_dbt_process_ended_from_inside_ends_the_phase_and_its_results_are_forged() {
        let mut r = completed(&["a"]);
        r.outputs.invocations.clear();
        let p = facts(r);
        match &p.ran {
            PhaseRun::EndedBySubmission { cause } => {
                assert!(cause.contains("exited (code 0)"), "{cause}")
            }
            other => panic!("{other:?}"),
        }
        assert!(p.forged.iter().any(|f| f.contains("did not write it")));
    }

    #[test]
    fn limits_reached_are_named_and_end_the_phase() {
        let mut r = completed(&["a"]);
        r.outputs.report.resources = Some(Resources {
            oom_kills: Some(1),
            pids_max_hits: Some(3),
            work_free_bytes: Some(0),
            work_total_bytes: Some(256 << 20),
            files_at_size_limit: vec!["/work/p1/target/huge.bin".into()],
            ..Default::default()
        });
        let p = facts(r);
        let all = p.resource_ends.join(" | ");
        for word in [
            "out of memory",
            "2048 MiB",
            "process limit",
            "file-size limit",
            "huge.bin",
            "/work (256 MiB) was full",
        ] {
            assert!(all.contains(word), "{word}: {all}");
        }
        assert!(matches!(p.ran, PhaseRun::EndedBySubmission { .. }));
    }

    #[test]
    fn a_killed_runner_and_an_oversized_artifact_are_the_submissions() {
        let mut r = completed(&["a"]);
        r.status = PhaseStatus::RunnerFailed {
            detail: "runner exited with Some(137)".into(),
        };
        r.runner_exit = Some(137);
        r.outputs = PhaseOutputs::default();
        let p = facts(r);
        assert_eq!(p.ran.label(), "ended_by_submission", "{:?}", p.ran);
        assert!(phase_detail(&p).unwrap().contains("runner was killed"));

        // The probe after the kill shows a memory kill the phase caused.
        let mut r = completed(&["a"]);
        r.status = PhaseStatus::RunnerFailed {
            detail: "runner exited with Some(137)".into(),
        };
        r.runner_exit = Some(137);
        r.outputs = PhaseOutputs::default();
        r.probe = Some(Resources {
            oom_kills: Some(2),
            ..Default::default()
        });
        let mut before = Resources {
            oom_kills: Some(1),
            ..Default::default()
        };
        let p = phase_facts(1, r, &mut before, &SandboxLimits::default());
        assert!(
            phase_detail(&p).unwrap().contains("out of memory"),
            "{:?}",
            p.ran
        );
        assert_eq!(before.oom_kills, Some(2), "the counters move on");

        let mut r = completed(&["a"]);
        r.outputs.report.refused_artifacts = vec![RefusedArtifact {
            name: "manifest.json".into(),
            reason: "419430400 bytes, over the cap of 100663296".into(),
            size: Some(419_430_400),
        }];
        let p = facts(r);
        assert!(
            phase_detail(&p).unwrap().contains("over the cap"),
            "{:?}",
            p.ran
        );
    }

    #[test]
    fn deadlines_come_from_the_pack_and_never_exceed_the_configured_cap() {
        let pack = hidden::ExecutionBudget {
            reference_build_secs: 10.0,
            deadline_multiple: 30.0,
            budget_multiple: 60.0,
        };
        assert_eq!(
            Deadlines::new(Some(&pack), 900),
            Deadlines {
                phase_secs: 300,
                budget_secs: 600
            }
        );
        assert_eq!(Deadlines::new(Some(&pack), 120).phase_secs, 120);
        assert_eq!(
            Deadlines::new(None, 900),
            Deadlines {
                phase_secs: 900,
                budget_secs: 1800
            }
        );
    }

    #[test]
    fn the_log_excerpt_keeps_dbts_error_lines() {
        let mut log = String::new();
        for i in 0..100 {
            log.push_str(&format!("12:00:{i:02}  1 of 100 OK created model x{i}\n"));
        }
        log.push_str("12:01:00  Finished running 100 models in 3 s.\n");
        log.push_str("12:01:00  Completed with 1 error\n");
        log.push_str("12:01:00  Runtime Error in model broken (models/broken.sql)\n");
        log.push_str("12:01:00    Binder Error: Referenced column \"no_such_column\" not found\n");
        for i in 0..40 {
            log.push_str(&format!("12:01:01  Done. line {i}\n"));
        }
        let kept = log_excerpt(&log, 20);
        assert!(kept.len() <= 20);
        assert!(
            kept.iter()
                .any(|l| l.contains("Runtime Error in model broken")),
            "{kept:?}"
        );
        assert!(
            kept.iter().any(|l| l.contains("no_such_column")),
            "{kept:?}"
        );
        assert!(kept.last().unwrap().contains("line 39"));
        // Nothing to point at: the last lines.
        let kept = log_excerpt("a\nb\nc\n", 2);
        assert_eq!(kept, ["b", "c"]);
    }

    #[test]
    fn a_model_without_a_relation_says_what_dbt_did_with_it() {
        let node = |id: &str, status: &str, message: Option<&str>| {
            serde_json::from_value::<crate::execute::RunResult>(serde_json::json!({
                "unique_id": id, "status": status, "message": message,
            }))
            .unwrap()
        };
        let results = vec![
            node("model.shop.mart_a", "skipped", None),
            node(
                "model.shop.mart_b",
                "error",
                Some("Runtime Error in model mart_b (models/mart_b.sql)\n  Binder Error: no column x"),
            ),
            node("model.shop.mart_c", "success", None),
        ];
        assert!(why_not_built(&results, "mart_a")
            .unwrap()
            .contains("skipped it because a node it depends on failed"));
        assert_eq!(
            why_not_built(&results, "mart_b").unwrap(),
            "dbt failed to build it (Binder Error: no column x)"
        );
        assert_eq!(why_not_built(&results, "mart_c"), None);
        assert_eq!(why_not_built(&results, "mart_d"), None);
    }

    #[test]
    fn a_node_error_is_the_line_that_says_what_failed() {
        assert_eq!(
            error_line("Runtime Error in model m (models/m.sql)\n  Binder Error: no column x\n"),
            "Binder Error: no column x"
        );
        // A Python model's error sits below dbt's lead-in line.
        assert_eq!(
            error_line("Python model failed:\nRuntimeError: searched nothing\nTraceback"),
            "Python model failed: RuntimeError: searched nothing"
        );
        assert_eq!(
            error_line(
                "Python model failed:\nTraceback (most recent call last):\n  File \"m.py\", line 3, in model\n    raise RuntimeError('x')\nRuntimeError: searched: found=[]\n"
            ),
            "Python model failed: RuntimeError: searched: found=[]"
        );
        assert_eq!(error_line("Database Error:"), "Database Error:");
        assert_eq!(error_line(""), "");
    }
}

#[cfg(test)]
mod progress_tests {
    use super::*;

    #[test]
    fn a_phase_line_says_whether_dbt_passed_and_how_a_phase_ended() {
        let mut p = PhaseFacts::not_run(2, "");
        p.ran = PhaseRun::Completed;
        p.dbt_returncode = Some(0);
        p.nodes.total = 31;
        assert_eq!(
            phase_progress(&p),
            (
                Mark::Ok,
                "incremental: dbt build passed, 31 node(s)".to_string()
            )
        );
        p.dbt_returncode = Some(1);
        p.nodes.errored = 2;
        let (mark, line) = phase_progress(&p);
        assert_eq!(mark, Mark::Failed);
        assert!(
            line.starts_with("incremental: dbt build failed (exit 1; 2 errored"),
            "{line}"
        );
        p.ran = PhaseRun::EndedBySubmission {
            cause: "the process limit was reached".into(),
        };
        assert_eq!(phase_progress(&p).0, Mark::Failed);
        let skipped = PhaseFacts::not_run(3, "phase 2 timed out");
        assert_eq!(
            phase_progress(&skipped),
            (
                Mark::Skipped,
                "idempotency: not run: phase 2 timed out".to_string()
            )
        );
    }
}
