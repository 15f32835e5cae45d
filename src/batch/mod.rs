//! Batch grading for CI: a manifest of submissions graded in parallel, resumable
//! after a kill, isolated so one broken submission never stops the others, and
//! summarised in one index page with cohort statistics.

mod cohort;
mod index;
mod inputs;
pub mod manifest;
mod progress;
mod table;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

pub use cohort::{CheckStats, DimensionStats, Row, Summary};
pub use inputs::Inputs;
pub use manifest::Entry;
pub use table::table;

use crate::config::Config;
use crate::grade::{self, GradeRequest};
use crate::report::{self, Report, Status};

#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub manifest: PathBuf,
    pub out: PathBuf,
    /// Submissions executed in containers at once.
    pub jobs: usize,
    pub shard: Option<String>,
    pub force: bool,
    pub no_exec: bool,
    pub exercise: String,
    pub config: Config,
    /// Wall-clock limit for one submission, after which it gets an error report.
    pub submission_timeout: Duration,
    /// How progress is shown on stderr.
    pub term: crate::term::Term,
}

#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub graded: usize,
    pub skipped: usize,
    /// Graded without some criteria for a reason of the grader's (no engine,
    /// say): not recorded as done, so the next run grades them again.
    pub incomplete: usize,
    pub errors: usize,
    /// Each submission that could not be graded, with why (its report's error).
    pub failures: Vec<(String, String)>,
    pub index: PathBuf,
    /// Every submission of the index, as summary.json lists it.
    pub rows: Vec<Row>,
    /// The submissions this run left as they were (unchanged since graded).
    pub unchanged: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error("{0}")]
    Shard(String),
    #[error(transparent)]
    Exercise(#[from] crate::exercise::ExerciseError),
    #[error(transparent)]
    Rubric(#[from] crate::rubric::RubricError),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("{0} holds no summary.json from `assay batch`")]
    NotABatch(PathBuf),
}

const INPUTS_FILE: &str = "inputs.json";

pub async fn run(opts: BatchOptions) -> Result<BatchOutcome, BatchError> {
    let mut entries = manifest::load(&opts.manifest, &opts.exercise)?;
    if let Some(spec) = &opts.shard {
        entries = manifest::shard(entries, spec).map_err(BatchError::Shard)?;
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| BatchError::Write(opts.out.clone(), e))?;
    // Rubrics are loaded up front: a broken rubric is the grader's error, found once.
    let mut rubric_hashes = BTreeMap::new();
    for e in &entries {
        if !rubric_hashes.contains_key(&e.exercise) {
            let exercise = crate::exercise::Exercise::locate(&e.exercise)?;
            rubric_hashes.insert(e.exercise.clone(), grade::load_rubric(&exercise)?.sha256);
        }
    }

    let progress = progress::Progress::new(entries.len() as u64, opts.term);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let static_slots = Arc::new(Semaphore::new(cores));
    let exec_slots = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let mut tasks = Vec::new();
    for entry in entries.clone() {
        let no_exec = entry.no_exec.unwrap_or(opts.no_exec);
        let wanted = Inputs {
            source: report::redact_source(&entry.source),
            rev: entry.rev.clone(),
            fingerprint: String::new(),
            grader_version: env!("CARGO_PKG_VERSION").to_string(),
            rubric_sha256: rubric_hashes[&entry.exercise].clone(),
            exercise: entry.exercise.clone(),
            no_exec,
            project: entry.project.clone(),
        };
        let slots = if no_exec {
            static_slots.clone()
        } else {
            exec_slots.clone()
        };
        let (out, config, force, timeout, progress) = (
            opts.out.clone(),
            opts.config.clone(),
            opts.force,
            opts.submission_timeout,
            progress.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = slots
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let id = entry.id.clone();
            progress.start(&id);
            let observer = progress.observer(&id);
            let outcome = grade_one(
                entry, wanted, out, config, force, no_exec, timeout, observer,
            )
            .await;
            progress.done(&id, &outcome);
            outcome
        }));
    }
    let mut outcome = BatchOutcome::default();
    for (task, entry) in tasks.into_iter().zip(&entries) {
        match task.await {
            Ok(One::Skipped) => {
                outcome.skipped += 1;
                outcome.unchanged.push(entry.id.clone());
            }
            Ok(One::Graded {
                status: Status::Graded,
                ..
            }) => outcome.graded += 1,
            Ok(One::Graded {
                status: Status::Incomplete,
                ..
            }) => outcome.incomplete += 1,
            Ok(One::Graded {
                status: Status::Error,
                why,
                ..
            }) => {
                outcome.errors += 1;
                outcome
                    .failures
                    .push((entry.id.clone(), why.unwrap_or_default()));
            }
            Err(_) => {
                outcome.errors += 1;
                outcome
                    .failures
                    .push((entry.id.clone(), "the grader crashed".into()));
            }
        }
    }
    progress.finish();
    let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    (outcome.index, outcome.rows) = write_outputs(&opts.out, &ids)?;
    Ok(outcome)
}

#[derive(Debug)]
enum One {
    Skipped,
    Graded {
        status: Status,
        /// The report's error: why it could not be graded, or why the grade
        /// is incomplete.
        why: Option<String>,
        overall: Option<f64>,
        band: Option<u8>,
    },
}

impl One {
    fn error(why: String) -> One {
        One::Graded {
            status: Status::Error,
            why: Some(why),
            overall: None,
            band: None,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn grade_one(
    entry: Entry,
    mut wanted: Inputs,
    out: PathBuf,
    config: Config,
    force: bool,
    no_exec: bool,
    timeout: Duration,
    observer: progress::SubmissionObserver,
) -> One {
    let dir = out.join(&entry.id);
    let (source, rev) = (entry.source.clone(), entry.rev.clone());
    let fingerprint =
        tokio::task::spawn_blocking(move || inputs::fingerprint(&source, rev.as_deref()))
            .await
            .ok()
            .flatten();
    if let Some(fp) = &fingerprint {
        wanted.fingerprint = fp.clone();
        if !force && is_done(&dir, &wanted) {
            return One::Skipped;
        }
    }
    let req = GradeRequest {
        source: entry.source.clone(),
        rev: entry.rev.clone(),
        exercise: entry.exercise.clone(),
        out_dir: out.clone(),
        config,
        no_exec,
        name: Some(entry.id.clone()),
        formats: vec![report::Format::Json, report::Format::Html],
        overrides: None,
        overwrite: crate::outdir::Overwrite::Always,
        project: entry.project.clone(),
    };
    let job = tokio::task::spawn_blocking(move || {
        catch_unwind(AssertUnwindSafe(|| grade::grade_observed(&req, &observer)))
    });
    let failure = match tokio::time::timeout(timeout, job).await {
        Ok(Ok(Ok(Ok(graded)))) => {
            let status = graded.report.status;
            // Recorded only after the report is in place: a kill in between
            // regrades. An incomplete grade is never recorded, so the next run
            // retries it (the engine may be back).
            if status == Status::Graded && fingerprint.is_some() {
                let _ = report::write_atomic(
                    &dir.join(INPUTS_FILE),
                    serde_json::to_string_pretty(&wanted)
                        .unwrap_or_default()
                        .as_bytes(),
                );
            }
            return One::Graded {
                status,
                why: graded.report.error,
                overall: graded.report.overall.score,
                band: graded.report.overall.band,
            };
        }
        Ok(Ok(Ok(Err(e)))) => format!("the grader failed: {e}"),
        Ok(Ok(Err(_))) | Ok(Err(_)) => "the grader crashed on this submission".to_string(),
        Err(_) => format!(
            "grading took longer than {} s and was abandoned",
            timeout.as_secs()
        ),
    };
    let _ = std::fs::remove_file(dir.join(INPUTS_FILE));
    let report = error_report(&entry, &failure);
    let _ = report.write_atomic(&dir.join("report.json"));
    One::error(failure)
}

fn is_done(dir: &Path, wanted: &Inputs) -> bool {
    let recorded: Option<Inputs> = std::fs::read_to_string(dir.join(INPUTS_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let report_ok = std::fs::read_to_string(dir.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Report>(&t).ok())
        .is_some_and(|r| r.status == Status::Graded);
    report_ok && recorded.as_ref() == Some(wanted)
}

/// A report for a submission the grader could not finish, so the cohort page
/// still lists it.
fn error_report(entry: &Entry, why: &str) -> Report {
    let mut report = Report::begin(
        &entry.exercise,
        report::RubricRef {
            path: String::new(),
            sha256: String::new(),
        },
        report::Submission {
            name: entry.id.clone(),
            source: report::redact_source(&entry.source),
            kind: None,
            requested_ref: entry.rev.clone(),
            commit: None,
        },
    );
    report.status = Status::Error;
    report.error = Some(why.to_string());
    report
}

/// Reads every listed submission's report and writes summary.json, index.html
/// and junit.xml atomically; returns the index and its rows.
fn write_outputs(out: &Path, ids: &[String]) -> Result<(PathBuf, Vec<Row>), BatchError> {
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    let mut names = BTreeMap::new();
    for id in ids {
        let path = out.join(id).join("report.json");
        let report = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Report>(&t).ok());
        let Some(report) = report else { continue };
        for d in &report.dimensions {
            names.entry(d.id.clone()).or_insert_with(|| d.name.clone());
        }
        let html = out
            .join(id)
            .join("report.html")
            .is_file()
            .then(|| format!("{id}/report.html"));
        rows.push(cohort::row(
            id,
            &report,
            &format!("{id}/report.json"),
            html.as_deref(),
        ));
        reports.push((id.clone(), report));
    }
    let summary = cohort::summarise(rows, &names);
    let index = write_summary(out, &summary, &reports)?;
    Ok((index, summary.rows))
}

fn write_summary(
    out: &Path,
    summary: &Summary,
    reports: &[(String, Report)],
) -> Result<PathBuf, BatchError> {
    let put = |name: &str, bytes: &[u8]| {
        report::write_atomic(&out.join(name), bytes)
            .map_err(|e| BatchError::Write(out.join(name), e))
    };
    put(
        "summary.json",
        (serde_json::to_string_pretty(summary).expect("summary serialises") + "\n").as_bytes(),
    )?;
    put("junit.xml", index::junit_xml(reports).as_bytes())?;
    put("index.html", index::index_html(summary).as_bytes())?;
    Ok(out.join("index.html"))
}

/// Joins the outputs of several shards into `out`: every submission's folder is
/// copied in, and the index and statistics are computed over the whole cohort.
pub fn merge(shards: &[PathBuf], out: &Path) -> Result<BatchOutcome, BatchError> {
    std::fs::create_dir_all(out).map_err(|e| BatchError::Write(out.to_path_buf(), e))?;
    let mut ids = Vec::new();
    for shard in shards {
        let text = std::fs::read_to_string(shard.join("summary.json"))
            .map_err(|_| BatchError::NotABatch(shard.clone()))?;
        let summary: Summary =
            serde_json::from_str(&text).map_err(|_| BatchError::NotABatch(shard.clone()))?;
        for row in summary.rows {
            let from = shard.join(&row.id);
            let to = out.join(&row.id);
            if from != to {
                std::fs::create_dir_all(&to).map_err(|e| BatchError::Write(to.clone(), e))?;
                for file in ["report.json", "report.html", INPUTS_FILE] {
                    if from.join(file).is_file() {
                        let bytes = std::fs::read(from.join(file))
                            .map_err(|e| BatchError::Write(from.join(file), e))?;
                        report::write_atomic(&to.join(file), &bytes)
                            .map_err(|e| BatchError::Write(to.join(file), e))?;
                    }
                }
            }
            ids.push(row.id);
        }
    }
    ids.sort();
    ids.dedup();
    let (index, rows) = write_outputs(out, &ids)?;
    let failures: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r.status == Status::Error)
        .map(|r| (r.id.clone(), r.error.clone().unwrap_or_default()))
        .collect();
    let errors = failures.len();
    let incomplete = rows
        .iter()
        .filter(|r| r.status == Status::Incomplete)
        .count();
    Ok(BatchOutcome {
        graded: rows.len() - errors - incomplete,
        skipped: 0,
        incomplete,
        errors,
        failures,
        index,
        rows,
        unchanged: Vec::new(),
    })
}
