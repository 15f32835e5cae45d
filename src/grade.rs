//! One submission, end to end: acquire → inventory → analyse → execute → checks →
//! score → report. Each stage records what it did in the report; a stage that
//! fails on the submission becomes an error in the report, not a crash.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use crate::acquire::{self, Acquired};
use crate::checks::{self, CheckContext, CheckResult, Outcome, Params};
use crate::config::Config;
use crate::execute::stage::StageInput;
use crate::execute::workloads::dbt::{self, HiddenChecks, HiddenChecksError, Tolerance};
use crate::execute::{self, ExecStatus};
use crate::exercise::Exercise;
use crate::facts::{Facts, SubmissionFacts};
use crate::inventory::{Inventory, Origin};
use crate::outdir::{self, Identity, Overwrite, Target};
use crate::progress::{Mark, Observer, Silent, Step};
use crate::report::{
    self, Acquisition, ExercisePackData, Format, InventorySummary, Report, RubricRef, Stage,
    StageRecord, StageStatus, Status, Submission,
};
use crate::rubric::{Rubric, RubricError};

#[derive(Debug, Clone)]
pub struct GradeRequest {
    pub source: String,
    pub rev: Option<String>,
    pub exercise: String,
    pub out_dir: PathBuf,
    pub config: Config,
    /// Skip the execution stage on purpose.
    pub no_exec: bool,
    /// The report folder's name; derived from SOURCE and the ref when absent
    /// (see [`crate::outdir`]).
    pub name: Option<String>,
    /// What may happen to a report already in the folder.
    pub overwrite: Overwrite,
    /// Formats written beside report.json (which is always written).
    pub formats: Vec<Format>,
    /// Interviewer overrides (TOML), recorded beside the automatic bands.
    pub overrides: Option<PathBuf>,
    /// The dbt project to grade (its folder in the submission) when it holds
    /// several; see [`Inventory::choose_project`].
    pub project: Option<String>,
}

#[derive(Debug)]
pub struct Graded {
    pub report: Report,
    /// report.json, or report.error.json beside a graded report that was kept.
    pub report_path: PathBuf,
    /// Every file written, report.json (or report.error.json) first.
    pub written: Vec<PathBuf>,
    /// The earlier graded report a failed grade left in place.
    pub kept: Option<PathBuf>,
    /// dbt's own time inside the sandbox, summed over the phases, when the
    /// submission ran.
    pub dbt_secs: Option<f64>,
}

/// Failures of the grader itself, as opposed to problems with a submission.
#[derive(Debug, thiserror::Error)]
pub enum GradeError {
    #[error(transparent)]
    Exercise(#[from] crate::exercise::ExerciseError),
    #[error(transparent)]
    Rubric(#[from] RubricError),
    #[error(transparent)]
    HiddenChecks(#[from] HiddenChecksError),
    #[error("cannot write the report to {path}: {source}")]
    Write {
        path: PathBuf,
        source: report::WriteError,
    },
    #[error(transparent)]
    Pack(#[from] report::PackError),
    #[error(transparent)]
    Claims(#[from] crate::claims::ClaimsError),
    #[error(transparent)]
    Review(#[from] crate::analyse::review::ReviewPackError),
    #[error(transparent)]
    Overrides(#[from] report::overrides::OverrideError),
    #[error(transparent)]
    Occupied(#[from] outdir::Occupied),
}

/// Whether a check id names something the rubric may score.
pub fn is_known_check(id: &str) -> bool {
    checks::find(id).is_some()
}

pub fn load_rubric(exercise: &Exercise) -> Result<Rubric, RubricError> {
    Rubric::load(&exercise.rubric_path, &is_known_check)
}

/// Grades with nobody watching the stages.
pub fn grade(req: &GradeRequest) -> Result<Graded, GradeError> {
    grade_observed(req, &Silent)
}

/// Grades, telling `obs` as each stage starts and ends.
pub fn grade_observed(req: &GradeRequest, obs: &dyn Observer) -> Result<Graded, GradeError> {
    // The parsers' workers start while the exercise's pack is read and the
    // submission acquired and listed, and the report's templates compile
    // beside the analysis.
    crate::contained::prewarm(&crate::analyse::dag::DagLimits::default().contained);
    if req.formats.contains(&Format::Html) {
        report::html::prepare();
    }
    let exercise = Exercise::locate(&req.exercise)?;
    let rubric = load_rubric(&exercise)?;
    let pack = ExercisePackData::load(&exercise.pack_dir)?;
    let claims = crate::claims::Claims::load(&exercise.pack_dir)?;
    let review = crate::analyse::review::Review::load(&exercise.pack_dir, rubric.review.as_ref())?;
    // A bad overrides file is refused before any work is done.
    let overrides = match &req.overrides {
        Some(path) => report::overrides::load(path)?,
        None => Vec::new(),
    };
    let hidden = HiddenChecks::load_for(&exercise.pack_dir)?;
    let identity = Identity::of(&req.source, req.rev.as_deref());
    let name = req.name.clone().unwrap_or_else(|| identity.default_name());
    // Another submission's graded report is refused before any work is done.
    outdir::check_free(&req.out_dir.join(&name), &identity, req.overwrite)?;
    let mut report = empty_report(req, &exercise, &rubric, &name);
    let out = Destination {
        dir: req.out_dir.join(&name),
        identity: &identity,
        req,
        obs,
    };

    tracing::info!(source = %report.submission.source, "acquiring the submission");
    obs.begin(Step::Acquire);
    let acquired = match acquire::acquire(&req.source, req.rev.as_deref(), &req.config.acquire) {
        Ok(a) => a,
        Err(e) => {
            obs.end(Step::Acquire, Mark::Failed, &e.to_string());
            report.status = Status::Error;
            report.error = Some(format!("the submission could not be acquired: {e}"));
            report
                .stages
                .push(stage(Stage::Acquire, StageStatus::Failed, e.to_string()));
            return out.write(report, None);
        }
    };
    report.submission.kind = Some(acquired.kind.clone());
    report.submission.commit = acquired.commit.clone();
    report.acquisition = Some(Acquisition {
        files: acquired.files,
        bytes: acquired.bytes,
        refusals: acquired.refusals.clone(),
        refusals_unlisted: acquired.refusals_unlisted,
        not_copied: acquired.not_copied.clone(),
    });
    let refused = acquired.refusals.len() as u64 + acquired.refusals_unlisted;
    let mut acquired_detail = format!(
        "{} files, {} bytes written; {refused} item(s) refused",
        acquired.files, acquired.bytes
    );
    if !acquired.not_copied.is_empty() {
        acquired_detail.push_str(&format!(
            "; dbt's own output left out: {}",
            acquired.not_copied.join(", ")
        ));
    }
    obs.end(Step::Acquire, Mark::Ok, &acquired_detail);
    report
        .stages
        .push(stage(Stage::Acquire, StageStatus::Ok, acquired_detail));

    obs.begin(Step::Analyse);
    let (mut inventory, starter) = match take_inventory(&acquired, &exercise) {
        Ok(found) => found,
        Err(e) => {
            obs.end(Step::Analyse, Mark::Failed, &e.to_string());
            report.status = Status::Error;
            report.error = Some(format!("the submission's files could not be listed: {e}"));
            report
                .stages
                .push(stage(Stage::Inventory, StageStatus::Failed, e.to_string()));
            return out.write(report, None);
        }
    };
    let found_projects = inventory.dbt_projects.clone();
    let several = found_projects.len() > 1;
    let refusal = if !inventory.holds_submission() {
        Some(not_a_submission(
            &exercise,
            starter.as_ref(),
            &inventory,
            refused,
        ))
    } else {
        inventory
            .choose_project(req.project.as_deref())
            .err()
            .map(|e| e.to_string())
    };
    let mut summary = inventory_summary(&inventory, acquired.history.as_ref());
    summary.dbt_projects = found_projects;
    if refusal.is_some() {
        summary.graded_project = None;
    }
    report.inventory = Some(summary);
    if let Some(why) = refusal {
        // Refused, not graded: a zero for a folder that is not a submission
        // would read as a verdict on a candidate.
        obs.end(Step::Analyse, Mark::Failed, &why);
        report.status = Status::Error;
        report
            .stages
            .push(stage(Stage::Inventory, StageStatus::Failed, why.clone()));
        report.error = Some(why);
        return out.write(report, None);
    }
    let graded_project = inventory
        .graded_project()
        .filter(|_| several)
        .map(|p| format!("; graded {}", p.file()))
        .unwrap_or_default();
    let inventory_detail = format!(
        "{} dbt project(s), {} DAG file(s), {} doc(s); starter {}{graded_project}",
        report
            .inventory
            .as_ref()
            .map_or(0, |i| i.dbt_projects.len()),
        inventory.dags.len(),
        inventory.docs.len(),
        if starter.is_some() {
            "compared"
        } else {
            "not available"
        }
    );
    let mut facts = build_facts(
        &acquired,
        inventory,
        starter.is_some(),
        &name,
        review.as_ref().map(|r| (r, starter.as_ref())),
    );
    obs.end(Step::Analyse, Mark::Ok, &inventory_detail);
    report
        .stages
        .push(stage(Stage::Inventory, StageStatus::Ok, inventory_detail));
    if req.no_exec {
        obs.end(
            Step::Execute,
            Mark::Skipped,
            "not run (--no-exec): graded from the code alone",
        );
        report.stages.push(stage(
            Stage::Execute,
            StageStatus::Skipped,
            "skipped on request (--no-exec): checks of executed behaviour leave the score".into(),
        ));
    } else {
        tracing::info!("running the submission in the sandbox");
        let execution = execute::stage::run(&StageInput {
            exercise: &exercise,
            hidden: hidden.as_ref(),
            submission_root: &acquired.root,
            inventory: &facts.inventory,
            packages: facts
                .dbt
                .projects
                .first()
                .map(|p| p.packages.as_slice())
                .unwrap_or_default(),
            config: &req.config,
            observer: obs,
        });
        let detail = execute::stage::stage_detail(&execution);
        let status = match &execution.status {
            ExecStatus::Ran => StageStatus::Ok,
            ExecStatus::NoProject => StageStatus::Skipped,
            ExecStatus::Unavailable { .. } => {
                obs.note(&format!(
                    "not executed: {}",
                    crate::inert::inert_name(&detail, 400)
                ));
                StageStatus::Failed
            }
        };
        report.stages.push(stage(Stage::Execute, status, detail));
        // The SQL dbt actually compiled replaces the Jinja approximation, and each
        // model's facts say which one they came from.
        if let Some(manifest) = execution
            .manifest(1)
            .and_then(|m| serde_json::to_value(m).ok())
        {
            crate::analyse::dbt::apply_manifest(
                &mut facts.dbt,
                &manifest,
                crate::analyse::dbt::Isolation::Contained,
            );
        }
        facts.execution = Some(execution);
    }

    obs.begin(Step::Checks);
    let results = run_checks(&rubric, &facts);
    obs.end(Step::Checks, Mark::Ok, &tally(&results));
    report.stages.push(stage(
        Stage::Checks,
        StageStatus::Ok,
        format!("{} checks ran", results.len()),
    ));
    obs.begin(Step::Report);
    let titles = |id: &str| {
        checks::find(id)
            .map(|c| c.meta().title.to_string())
            .unwrap_or_else(|| id.to_string())
    };
    let (dimensions, overall) = crate::score::score(&rubric, &results, &titles);
    report.dimensions = dimensions;
    report.overall = overall;
    report.contradictions = results
        .values()
        .filter_map(|r| r.contradiction.as_deref().cloned())
        .collect();
    report
        .contradictions
        .extend(description_contradictions(&results));
    // What the write-up says, refuted by what was measured.
    let hidden_defs = facts.execution.as_ref().and_then(|e| e.hidden.as_ref());
    report.contradictions.extend(crate::claims::refuted(
        &claims,
        &facts.docs,
        &results,
        &crate::evidence::all_verdicts(&rubric, &facts),
        &|check| {
            hidden_defs
                .and_then(|h| h.find(check))
                .and_then(|c| c.trap.clone())
        },
    ));
    // The code's own claims first, then the write-up's, then descriptions.
    report.contradictions.sort_by_key(|c| match c.source {
        crate::checks::ClaimSource::Code => 0,
        crate::checks::ClaimSource::WriteUp => 1,
        crate::checks::ClaimSource::Description => 2,
    });
    report.checks = results.into_values().collect();
    report.execution = facts
        .execution
        .as_ref()
        .and_then(|e| dbt::report_summary(e, &|phase| hidden_tolerance(&rubric, phase)));
    report.stages.push(stage(
        Stage::Score,
        StageStatus::Ok,
        "scored against the rubric".into(),
    ));
    report::enrich(&mut report, &pack);
    report::overrides::apply(&mut report, &overrides, &rubric.band_labels)?;
    if let Some(cause) = incomplete_cause(&report, facts.execution.as_ref()) {
        report.status = Status::Incomplete;
        report.error = Some(cause);
    }
    let dbt_secs = facts
        .execution
        .as_ref()
        .filter(|e| e.status == ExecStatus::Ran && !e.phases.is_empty())
        .map(|e| e.timings.dbt_secs);
    out.write(report, dbt_secs)
}

/// `41 checks: 30 pass, 4 partial, 7 fail` for the progress line.
fn tally(results: &BTreeMap<String, CheckResult>) -> String {
    let count = |f: &dyn Fn(&Outcome) -> bool| results.values().filter(|r| f(&r.outcome)).count();
    let mut parts = vec![
        format!("{} pass", count(&|o| *o == Outcome::Pass)),
        format!(
            "{} partial",
            count(&|o| matches!(o, Outcome::Partial { .. }))
        ),
        format!(
            "{} fail",
            count(&|o| matches!(o, Outcome::Fail | Outcome::NotAttempted))
        ),
    ];
    let not_applicable = count(&|o| *o == Outcome::NotApplicable);
    if not_applicable > 0 {
        parts.push(format!("{not_applicable} not applicable"));
    }
    let errors = count(&|o| *o == Outcome::Error);
    if errors > 0 {
        parts.push(format!("{errors} could not be decided"));
    }
    format!("{} checks: {}", results.len(), parts.join(", "))
}

/// Why a grade stands on fewer criteria than the rubric has for a reason the
/// submission cannot cause: the submission could not be run (no engine, no
/// image), a phase failed in the grader, an executed check could not be
/// decided by the grader, or a check crashed. `None`: the grade is complete.
/// What the submission causes (a phase its code ended, a package it lists
/// that cannot be had) is a failure of its checks instead, never this.
pub fn incomplete_cause(
    report: &Report,
    execution: Option<&execute::ExecutionFacts>,
) -> Option<String> {
    if let Some(ExecStatus::Unavailable { reason }) = execution.map(|e| &e.status) {
        return Some(format!("the submission was not executed: {reason}"));
    }
    if let Some((n, reason)) = execution
        .into_iter()
        .flat_map(|e| &e.phases)
        .find_map(|p| match &p.ran {
            execute::PhaseRun::GraderFailed { reason } => Some((p.number, reason)),
            _ => None,
        })
    {
        return Some(format!("phase {n} failed in the grader: {reason}"));
    }
    let scored: std::collections::BTreeSet<&str> = report
        .dimensions
        .iter()
        .flat_map(|d| d.criteria.iter().map(|c| c.check.as_str()))
        .collect();
    report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Error && scored.contains(c.check.as_str()))
        .find(|c| c.check.starts_with("exec.") || c.summary.starts_with("the check crashed"))
        .map(|c| {
            format!(
                "{} could not be decided by the grader: {}",
                c.check, c.summary
            )
        })
}

/// The submission's inventory, compared with the exercise's starter when the
/// pack ships one (returned too: it shows what a submission looks like).
fn take_inventory(
    acquired: &Acquired,
    exercise: &Exercise,
) -> std::io::Result<(Inventory, Option<Inventory>)> {
    let mut inventory = Inventory::build(&acquired.root)?;
    let starter = match exercise.starter_dir() {
        Some(dir) => Some(Inventory::build(&dir)?),
        None => None,
    };
    if let Some(starter) = &starter {
        inventory.compare_with_starter(starter);
    }
    Ok((inventory, starter))
}

/// Why a source with neither a dbt project nor a DAG is refused: what a
/// submission holds (as the starter lays it out, when there is one), and what
/// this source holds instead.
fn not_a_submission(
    exercise: &Exercise,
    starter: Option<&Inventory>,
    found: &Inventory,
    refused: u64,
) -> String {
    /// Files named in the message; the report's inventory has the rest.
    const SHOWN: usize = 5;
    let project = starter
        .and_then(Inventory::graded_project)
        .map(|p| format!("{}, as in the starter", p.file()))
        .unwrap_or_else(|| "dbt_project.yml".into());
    let dag = starter
        .and_then(|s| s.dags.first())
        .map(|d| format!("a Python file that imports airflow, like the starter's {d}"))
        .unwrap_or_else(|| "a Python file that imports airflow, under dags/".into());
    let holds = match found.files.len() {
        0 => ": the source holds no files".to_string(),
        n => {
            let names: Vec<&str> = found
                .files
                .iter()
                .take(SHOWN)
                .map(|f| f.path.as_str())
                .collect();
            let more = if n > SHOWN { ", …" } else { "" };
            format!(" among its {n} file(s): {}{more}", names.join(", "))
        }
    };
    let refusals = if refused > 0 {
        format!("; {refused} item(s) were refused while acquiring it (listed in the report)")
    } else {
        String::new()
    };
    format!(
        "not a submission of the {} exercise: expected a dbt project ({project}) and an Airflow DAG ({dag}); found neither{holds}{refusals}",
        exercise.id
    )
}

fn build_facts(
    acquired: &Acquired,
    inventory: Inventory,
    starter_compared: bool,
    name: &str,
    review: Option<(&crate::analyse::review::Review, Option<&Inventory>)>,
) -> Facts {
    // The dbt analysis (most of a static grade) runs beside the others: each
    // reads the inventory only, and the parsers' workers are shared.
    let ((docs, dag, code, review), dbt) = std::thread::scope(|scope| {
        let others = scope.spawn(|| {
            let docs = crate::analyse::docs::analyse(&inventory);
            // A DAG file the parser cannot survive becomes an error fact for that file.
            let dag = crate::analyse::dag::analyse(
                &inventory,
                &crate::analyse::dag::DagLimits::default(),
            );
            let code = crate::analyse::code::analyse(
                &inventory,
                &crate::analyse::code::CodeLimits::default(),
            );
            let review = review.map(|(r, starter)| review_facts(&inventory, starter, r));
            (docs, dag, code, review)
        });
        // The analyser contains its own failures (per model); a panic costs the dbt
        // facts, never the grade.
        let dbt = catch_unwind(AssertUnwindSafe(|| {
            crate::analyse::dbt::analyse(&inventory)
        }))
        .unwrap_or_default();
        match others.join() {
            Ok(found) => (found, dbt),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    Facts {
        docs,
        dag,
        code,
        submission: SubmissionFacts {
            name: name.to_string(),
            kind: acquired.kind.clone(),
            commit: acquired.commit.clone(),
            starter_compared,
        },
        inventory,
        history: acquired.history.clone(),
        dbt,
        review,
        execution: None,
    }
}

/// The candidate's code review; a panic in the analyser costs the review's
/// facts (its checks then say they could not decide), never the grade.
fn review_facts(
    inventory: &Inventory,
    starter: Option<&Inventory>,
    review: &crate::analyse::review::Review,
) -> crate::analyse::review::ReviewFacts {
    catch_unwind(AssertUnwindSafe(|| {
        crate::analyse::review::analyse(inventory, starter, review)
    }))
    .unwrap_or_else(|_| {
        crate::analyse::review::ReviewFacts::failed(
            "the review analyser crashed on the reviewed files",
        )
    })
}

/// Model descriptions that claim work the model's code does not do (read by
/// dbt.mart_descriptions), as contradictions the reader sees first.
fn description_contradictions(
    results: &BTreeMap<String, CheckResult>,
) -> Vec<crate::checks::Contradiction> {
    let Some(r) = results.get("dbt.mart_descriptions") else {
        return Vec::new();
    };
    r.evidence
        .iter()
        .filter_map(|e| {
            let claims = e.measured.as_ref()?.get("refuted_claims")?.as_array()?;
            let claim: Vec<&str> = claims.iter().filter_map(|c| c.as_str()).collect();
            Some(crate::checks::Contradiction {
                check: r.check.clone(),
                trap: None,
                claim: claim.join("; "),
                claimed_by: vec![e.clone()],
                refuted_by: vec![crate::checks::Evidence::note(
                    "the model's SQL does nothing of the kind (read from the code)",
                )],
                source: crate::checks::ClaimSource::Description,
            })
        })
        .collect()
}

fn hidden_tolerance(rubric: &Rubric, phase: u8) -> Option<Tolerance> {
    crate::evidence::hidden_tolerance(rubric, phase)
}

/// Runs every registered check, each with the rubric's parameters for it. A check
/// that panics is recorded as an error of the grader for that check alone.
pub fn run_checks(rubric: &Rubric, facts: &Facts) -> BTreeMap<String, CheckResult> {
    let params: BTreeMap<&str, &Params> = rubric
        .dimensions
        .iter()
        .flat_map(|d| d.criteria.iter().map(|c| (c.check.as_str(), &c.params)))
        .collect();
    let empty = Params::default();
    let mut results = BTreeMap::new();
    for check in checks::all() {
        let id = check.meta().id;
        let cx = CheckContext {
            facts,
            params: params.get(id).copied().unwrap_or(&empty),
        };
        let result = catch_unwind(AssertUnwindSafe(|| check.run(&cx))).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            CheckResult::new(
                id,
                Outcome::Error,
                check.meta().confidence,
                format!("the check crashed: {what}"),
            )
        });
        // A check this rubric does not score has no parameters here: its
        // "error" is the other exercise's rubric missing, not the grader
        // failing (a report-only gate's error, `UNUSED_BY_RUBRIC`, is still
        // shown), and "not attempted" is work this exercise never asked for.
        let gate = checks::UNUSED_BY_RUBRIC.iter().any(|(u, _)| *u == id);
        let result = if !params.contains_key(id)
            && (result.outcome == Outcome::NotAttempted
                || (result.outcome == Outcome::Error && !gate))
        {
            CheckResult::new(
                id,
                Outcome::NotApplicable,
                result.confidence,
                format!("not scored by the {} rubric", rubric.exercise),
            )
        } else {
            result
        };
        results.insert(id.to_string(), result);
    }
    crate::evidence::reconcile(rubric, facts, &mut results);
    crate::evidence::reconcile_tests(rubric, facts, &mut results);
    results
}

fn inventory_summary(
    inv: &Inventory,
    history: Option<&crate::history::History>,
) -> InventorySummary {
    InventorySummary {
        files: inv.files.len(),
        candidate_files: inv
            .files
            .iter()
            .filter(|f| f.origin != Origin::StarterUnchanged)
            .count(),
        dbt_projects: inv.dbt_projects.clone(),
        dags: inv.dags.clone(),
        docs: inv.docs.clone(),
        commits: history.map(|h| h.commits.len()),
        graded_project: inv.graded_project().map(|p| p.file()),
    }
}

fn stage(stage: Stage, status: StageStatus, detail: String) -> StageRecord {
    StageRecord {
        stage,
        status,
        detail,
    }
}

fn empty_report(req: &GradeRequest, exercise: &Exercise, rubric: &Rubric, name: &str) -> Report {
    let rubric_path = rubric
        .path
        .strip_prefix(&exercise.home)
        .unwrap_or(&rubric.path);
    Report::begin(
        &exercise.id,
        RubricRef {
            path: rubric_path.display().to_string(),
            sha256: rubric.sha256.clone(),
        },
        Submission {
            name: name.to_string(),
            source: report::redact_source(&req.source),
            kind: None,
            requested_ref: req.rev.clone(),
            commit: None,
        },
    )
}

/// The submission's report folder, and whose report goes there.
struct Destination<'a> {
    dir: PathBuf,
    identity: &'a Identity,
    req: &'a GradeRequest,
    obs: &'a dyn Observer,
}

impl Destination<'_> {
    /// Writes the report where [`outdir::target`] says: a failed grade never
    /// replaces a graded report unless the caller owns the folder.
    fn write(&self, mut report: Report, dbt_secs: Option<f64>) -> Result<Graded, GradeError> {
        // Every string a submission or a container wrote is shown inert in
        // every format, all of which render from this report.
        crate::inert::report(&mut report);
        let dir = &self.dir;
        let failed = |path: &Path, source: report::WriteError| GradeError::Write {
            path: path.to_path_buf(),
            source,
        };
        let io_failed = |path: &Path, source: std::io::Error| {
            failed(
                path,
                report::WriteError::Io {
                    path: path.to_path_buf(),
                    source,
                },
            )
        };
        let graded = report.status == Status::Graded;
        let (written, kept) = match outdir::target(dir, graded, self.req.overwrite) {
            Target::Report => {
                let written = report::write_formats(&report, dir, &self.req.formats)
                    .map_err(|e| failed(dir, e))?;
                outdir::record(dir, self.identity).map_err(|e| io_failed(dir, e))?;
                (written, None)
            }
            Target::BesideGraded => {
                let path = dir.join(outdir::ERROR_FILE);
                report::write_atomic(&path, report.to_json().as_bytes())
                    .map_err(|e| io_failed(&path, e))?;
                (vec![path], Some(dir.join("report.json")))
            }
        };
        let (mark, what) = match report.status {
            Status::Graded => (Mark::Ok, "written to"),
            Status::Incomplete => (Mark::Failed, "incomplete, written to"),
            Status::Error => (Mark::Failed, "not graded, written to"),
        };
        self.obs
            .end(Step::Report, mark, &format!("{what} {}", dir.display()));
        Ok(Graded {
            report,
            report_path: written[0].clone(),
            written,
            kept,
            dbt_secs,
        })
    }
}
