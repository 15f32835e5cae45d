//! Pipeline Design checks over the DAG facts ([`crate::analyse::dag`]). Every
//! check reads what Airflow would run: settings a task really inherits, tasks
//! really registered, edges really built. A word in a comment, an unused dict or
//! an uncalled function earns nothing.

mod dbt_build_then_test;
mod dbt_first;
mod execution_timeout;
mod failure_alerting;
mod files_parse;
mod hardcoded_credentials;
mod idempotent_dates;
mod max_active_runs;
mod measured;
mod quality_after_transform;
mod retries;
mod retry_delay;
mod schedule_catchup;
mod stage_order;
mod static_start_date;
mod top_level_work;
mod xcom_size;

#[cfg(test)]
mod measured_tests;
#[cfg(test)]
mod tests;

pub use dbt_build_then_test::DbtBuildThenTest;
pub use dbt_first::DbtFirst;
pub use execution_timeout::ExecutionTimeout;
pub use failure_alerting::FailureAlerting;
pub use files_parse::FilesParse;
pub use hardcoded_credentials::HardcodedCredentials;
pub use idempotent_dates::IdempotentDates;
pub use max_active_runs::MaxActiveRuns;
pub use quality_after_transform::QualityAfterTransform;
pub use retries::Retries;
pub use retry_delay::RetryDelay;
pub use schedule_catchup::ScheduleCatchup;
pub use stage_order::StageOrder;
pub use static_start_date::StaticStartDate;
pub use top_level_work::TopLevelWork;
pub use xcom_size::XcomSize;

use crate::analyse::dag::{Dag, DagFile, FileStatus, Setting, Site, Task};
use crate::checks::{CheckContext, CheckMeta, CheckResult, Evidence, LineSpan, Outcome};

/// Most pieces of evidence a DAG check lists; the summary carries the counts.
const MAX_EVIDENCE: usize = 12;

/// The candidate's DAGs, or the result to return when there are none: "not
/// attempted" when the candidate wrote no DAG, "error" when the only DAG files
/// could not be parsed.
pub(crate) fn candidate_dags<'a>(
    cx: &'a CheckContext,
    meta: &CheckMeta,
) -> Result<Vec<&'a Dag>, CheckResult> {
    let facts = &cx.facts.dag;
    let dags = facts.candidate_dags();
    if !dags.is_empty() {
        return Ok(dags);
    }
    let errored = facts.errored_files();
    if !errored.is_empty() {
        return Err(CheckResult::new(
            meta.id,
            Outcome::Error,
            meta.confidence,
            "the grader could not parse the candidate's DAG file(s), so this was not judged",
        )
        .with_all_evidence(errored.iter().map(|f| file_error(f))));
    }
    let summary = if facts.candidate_files().is_empty() {
        "the candidate wrote no DAG of their own (the starter's DAG, unchanged, earns nothing)"
    } else {
        "the candidate's DAG files register no DAG that Airflow would load"
    };
    Err(CheckResult::new(
        meta.id,
        Outcome::NotAttempted,
        meta.confidence,
        summary,
    ))
}

/// Tasks that do pipeline work (control tasks such as EmptyOperator excluded).
pub(crate) fn work_tasks<'a>(dags: &[&'a Dag]) -> Vec<&'a Task> {
    dags.iter()
        .flat_map(|d| d.tasks.iter())
        .filter(|t| !t.is_control())
        .collect()
}

/// Evidence that a file could not be analysed, added to results that judged
/// the rest of the submission.
pub(crate) fn file_error(f: &DagFile) -> Evidence {
    let reason = match &f.status {
        FileStatus::Error { reason } => reason.clone(),
        FileStatus::Skipped { reason } => reason.clone(),
        FileStatus::Analysed => "analysed".into(),
    };
    Evidence::at(
        f.path.as_str(),
        None,
        format!("not analysed: {reason}; judged on the other DAG files"),
    )
}

pub(crate) fn errored_evidence(cx: &CheckContext) -> Vec<Evidence> {
    cx.facts
        .dag
        .errored_files()
        .into_iter()
        .map(file_error)
        .collect()
}

pub(crate) fn task_evidence(t: &Task, note: impl Into<String>) -> Evidence {
    Evidence::at(
        t.file.as_str(),
        Some(LineSpan {
            start: t.span.start,
            end: t.span.end,
        }),
        format!("task `{}`: {}", t.task_id, note.into()),
    )
    .with_snippet(t.snippet.clone())
}

/// Evidence pointing at where a task's setting was written (the task, or the
/// default_args entry it inherits), or at the task when nothing was written.
pub(crate) fn setting_evidence(t: &Task, key: &str, s: &Setting, note: &str) -> Evidence {
    let note = format!(
        "task `{}`: {key} = {} ({}){}",
        t.task_id,
        s.value.describe(),
        s.origin.describe(),
        if note.is_empty() {
            String::new()
        } else {
            format!("; {note}")
        }
    );
    match s.line {
        Some(line) => Evidence::at(t.file.as_str(), Some(LineSpan::line(line)), note)
            .with_snippet(line_text(t, line)),
        None => Evidence::at(
            t.file.as_str(),
            Some(LineSpan {
                start: t.span.start,
                end: t.span.end,
            }),
            note,
        )
        .with_snippet(t.snippet.clone()),
    }
}

pub(crate) fn dag_evidence(d: &Dag, key: &str, note: impl Into<String>) -> Evidence {
    let s = d.setting(key);
    let note = format!("DAG `{}`: {}", d.dag_id, note.into());
    match s.line {
        Some(line) => Evidence::at(d.file.as_str(), Some(LineSpan::line(line)), note)
            .with_snippet(line_of_dag(d, line)),
        None => Evidence::at(
            d.file.as_str(),
            Some(LineSpan {
                start: d.span.start,
                end: d.span.start,
            }),
            note,
        )
        .with_snippet(d.snippet.lines().next().unwrap_or("").to_string()),
    }
}

pub(crate) fn site_evidence(s: &Site) -> Evidence {
    Evidence::at(
        s.file.as_str(),
        Some(LineSpan {
            start: s.span.start,
            end: s.span.end,
        }),
        s.what.clone(),
    )
    .with_snippet(s.snippet.clone())
}

/// The text of one line, when it lies inside the task's own snippet.
fn line_text(t: &Task, line: u32) -> String {
    if line >= t.span.start {
        if let Some(l) = t.snippet.lines().nth((line - t.span.start) as usize) {
            return l.trim().to_string();
        }
    }
    String::new()
}

fn line_of_dag(d: &Dag, line: u32) -> String {
    if line >= d.span.start {
        if let Some(l) = d.snippet.lines().nth((line - d.span.start) as usize) {
            return l.trim().to_string();
        }
    }
    String::new()
}

/// A note per task whose Python function could not be read (imported from a
/// module outside the submission, a lambda, ...): the task is judged on what
/// is known, and the reader sees what was not.
pub(crate) fn unresolved_evidence<'a>(
    tasks: impl IntoIterator<Item = &'a Task>,
    consequence: &str,
) -> Vec<Evidence> {
    tasks
        .into_iter()
        .filter_map(|t| {
            t.unresolved_callable.as_ref().map(|why| {
                task_evidence(
                    t,
                    format!("its python_callable could not be read: {why}; {consequence}"),
                )
            })
        })
        .take(MAX_EVIDENCE)
        .collect()
}

/// Keeps the evidence list readable: failures first, then a capped number.
pub(crate) fn capped(mut bad: Vec<Evidence>, good: Vec<Evidence>) -> Vec<Evidence> {
    bad.truncate(MAX_EVIDENCE);
    let room = MAX_EVIDENCE.saturating_sub(bad.len()).max(2);
    bad.extend(good.into_iter().take(room));
    bad
}

/// A boolean parameter of the rubric (absent means `default`).
pub(crate) fn param_bool(cx: &CheckContext, key: &str, default: bool) -> bool {
    match cx.params.0.get(key) {
        Some(toml::Value::Boolean(b)) => *b,
        _ => default,
    }
}

pub(crate) fn result(
    meta: &CheckMeta,
    fraction: f64,
    summary: String,
    evidence: Vec<Evidence>,
    cx: &CheckContext,
) -> CheckResult {
    CheckResult::new(
        meta.id,
        Outcome::from_fraction(fraction),
        meta.confidence,
        summary,
    )
    .with_all_evidence(evidence)
    .with_all_evidence(errored_evidence(cx))
}
