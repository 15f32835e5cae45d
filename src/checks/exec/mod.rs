//! Checks over what happened when the submission ran: the hidden checks of each
//! phase, the idempotent rerun, the candidate's own tests and a clean build.
//! Without execution they never count as failures: with `--no-exec` they leave
//! the score (not applicable); when the grader could not run the project (no
//! engine) they are errors of the grader, which mark the score incomplete.

mod builds_cleanly;
mod candidate_tests_pass;
mod dag_loads;
mod hidden_phase1;
mod hidden_phase2;
mod hidden_phase3;
mod hidden_tests_correctness;
mod hidden_tests_resilience;
mod hidden_tests_safety;
mod idempotent_rerun;
mod incremental_regressions;

pub use builds_cleanly::BuildsCleanly;
pub use candidate_tests_pass::CandidateTestsPass;
pub use dag_loads::DagLoads;
pub use hidden_phase1::HiddenPhase1;
pub use hidden_phase2::HiddenPhase2;
pub use hidden_phase3::HiddenPhase3;
pub use hidden_tests_correctness::HiddenTestsCorrectness;
pub use hidden_tests_resilience::HiddenTestsResilience;
pub use hidden_tests_safety::HiddenTestsSafety;
pub use idempotent_rerun::IdempotentRerun;
pub use incremental_regressions::IncrementalRegressions;

use serde_json::json;

use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};
use crate::execute::workloads::dbt::{self, Tolerance};
use crate::execute::{ExecStatus, ExecutionFacts, PhaseRun};

/// The execution facts, or the result a check gives when there are none.
pub(crate) fn executed<'a>(
    cx: &CheckContext<'a>,
    meta: &CheckMeta,
) -> Result<&'a ExecutionFacts, CheckResult> {
    let result = |outcome, msg: String| CheckResult::new(meta.id, outcome, meta.confidence, msg);
    match &cx.facts.execution {
        None => Err(result(
            Outcome::NotApplicable,
            "not run: graded without execution (--no-exec), so this criterion leaves the score"
                .into(),
        )),
        Some(f) => match &f.status {
            ExecStatus::Ran => Ok(f),
            ExecStatus::NoProject => Err(result(
                Outcome::NotAttempted,
                "the submission has no dbt project to run".into(),
            )),
            ExecStatus::Unavailable { reason } => Err(result(
                Outcome::Error,
                format!("the grader could not run the submission: {reason}"),
            )),
        },
    }
}

/// Shared by the three hidden-check aggregates: the share of the phase's hidden
/// checks that agree with the truth.
pub(crate) fn hidden_phase(check: &dyn Check, cx: &CheckContext, phase: u8) -> CheckResult {
    let meta = check.meta();
    let facts = match executed(cx, meta) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let tol = match Tolerance::from_params(cx.params) {
        Ok(t) => t,
        Err(e) => return CheckResult::new(meta.id, Outcome::Error, meta.confidence, e.to_string()),
    };
    let result = |outcome, msg: String| CheckResult::new(meta.id, outcome, meta.confidence, msg);
    let Some(hidden) = &facts.hidden else {
        return result(
            Outcome::NotApplicable,
            "the exercise pack defines no hidden checks".into(),
        );
    };
    let verdicts = dbt::phase_verdicts(facts, phase, &tol);
    if verdicts.is_empty() {
        return result(
            Outcome::NotApplicable,
            format!("no hidden check runs in phase {phase}"),
        );
    }
    let judged: Vec<_> = verdicts
        .iter()
        .filter(|v| v.outcome.credit().is_some())
        .collect();
    let name = dbt::phase_name(phase);
    let mut evidence = Vec::new();
    if let Some(p) = facts.phase(phase) {
        match &p.ran {
            PhaseRun::GraderFailed { reason } => evidence.push(Evidence::note(format!(
                "the phase failed in the grader: {reason}"
            ))),
            PhaseRun::EndedBySubmission { cause } => evidence.push(Evidence::note(format!(
                "phase {phase} was ended by the submission's code: {cause}"
            ))),
            _ => {}
        }
    }
    for v in &verdicts {
        if v.outcome == Outcome::Pass {
            continue;
        }
        let title = hidden
            .find(&v.check)
            .map(|c| c.title.as_str())
            .unwrap_or("");
        let mut e = Evidence::note(format!(
            "{} ({title}): {} — {}",
            v.check,
            v.outcome.label(),
            v.note
        ));
        if let Some(m) = &v.measured {
            e = e.with_measured(m.clone());
        }
        if let Some(x) = &v.expected {
            e = e.with_expected(x.clone());
        }
        evidence.push(e);
    }
    if judged.is_empty() {
        return result(
            Outcome::Error,
            format!("phase {phase} ({name}): the grader could not judge any hidden check"),
        )
        .with_all_evidence(evidence);
    }
    let passed = judged.iter().filter(|v| v.outcome == Outcome::Pass).count();
    let attempted = judged
        .iter()
        .filter(|v| v.outcome != Outcome::NotAttempted)
        .count();
    let outcome = if attempted == 0 {
        Outcome::NotAttempted
    } else {
        Outcome::from_fraction(passed as f64 / judged.len() as f64)
    };
    let unjudged = verdicts.len() - judged.len();
    evidence.insert(
        0,
        Evidence::note(format!("hidden checks of phase {phase} ({name})"))
            .with_measured(
                json!({"passed": passed, "judged": judged.len(), "not_judged": unjudged}),
            )
            .with_expected(json!({"passed": judged.len()})),
    );
    result(
        outcome,
        format!(
            "phase {phase} ({name}): {passed} of {} hidden checks agree with the truth{}",
            judged.len(),
            if unjudged > 0 {
                format!("; {unjudged} could not be judged by the grader")
            } else {
                String::new()
            }
        ),
    )
    .with_all_evidence(evidence)
}

/// Shared by the hidden-tests checks: the share of the rubric's chosen hidden
/// tests (`tests`: ids, or prefixes ending in `*`) that passed in the sandbox.
pub(crate) fn hidden_tests(check: &dyn Check, cx: &CheckContext) -> CheckResult {
    use crate::execute::workloads::python_tests::{TestOutcome, TestsStatus};
    let meta = check.meta();
    let result = |outcome, msg: String| CheckResult::new(meta.id, outcome, meta.confidence, msg);
    let facts = match executed(cx, meta) {
        Ok(f) => f,
        Err(r) => return r,
    };
    // Before the parameters: an exercise without hidden tests does not score
    // this criterion, so its rubric gives none.
    let Some(tests) = &facts.tests else {
        if let Some(reason) = &facts.tests_unavailable {
            return result(
                Outcome::Error,
                format!("the grader could not run the hidden tests: {reason}"),
            );
        }
        return result(
            Outcome::NotApplicable,
            "the exercise pack has no hidden tests".into(),
        );
    };
    let patterns = match cx.params.string_list("tests") {
        Ok(p) => p,
        Err(e) => return result(Outcome::Error, e.to_string()),
    };
    let chosen = |id: &str| {
        patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => id.starts_with(prefix),
            None => id == p,
        })
    };
    match &tests.status {
        TestsStatus::Completed => {}
        // What the submission's code did to the run is its own: nothing passed.
        TestsStatus::TimedOut { deadline_secs } => {
            return result(
                Outcome::Fail,
                format!("the hidden tests ran past their deadline of {deadline_secs} s on the submission's code"),
            )
        }
        TestsStatus::SubmissionEnded { why } => {
            return result(
                Outcome::Fail,
                format!("the submission's code ended the hidden tests: {why}"),
            )
        }
        TestsStatus::SandboxEnded { why } => {
            return result(
                Outcome::Fail,
                format!("the submission's code ended the sandbox under the hidden tests: {why}"),
            )
        }
        TestsStatus::NoReport { why } => {
            return result(
                Outcome::Error,
                format!("the hidden tests left no report the grader could read: {why}"),
            )
        }
    }
    let mine: Vec<_> = tests.tests.iter().filter(|t| chosen(&t.id)).collect();
    if mine.is_empty() {
        return result(
            Outcome::Error,
            format!(
                "none of the rubric's hidden tests ({}) ran; the pack and the rubric disagree",
                patterns.join(", ")
            ),
        );
    }
    let passed = mine
        .iter()
        .filter(|t| t.outcome == TestOutcome::Passed)
        .count();
    let mut evidence =
        vec![
            Evidence::note(format!("{passed} of {} hidden tests passed", mine.len()))
                .with_measured(json!({"passed": passed, "ran": mine.len()}))
                .with_expected(json!({"passed": mine.len()})),
        ];
    for t in mine.iter().filter(|t| t.outcome != TestOutcome::Passed) {
        evidence.push(test_evidence(t));
    }
    result(
        Outcome::from_fraction(passed as f64 / mine.len() as f64),
        format!(
            "{passed} of {} hidden tests pass on the candidate's code",
            mine.len()
        ),
    )
    .with_all_evidence(evidence)
}

/// A hidden test that did not pass, as evidence: its message's first line,
/// with the measured and expected values it gave.
pub(crate) fn test_evidence(t: &crate::execute::workloads::python_tests::TestResult) -> Evidence {
    use crate::execute::workloads::python_tests::TestOutcome;
    let how = match t.outcome {
        TestOutcome::Failed => "failed",
        TestOutcome::Error => "errored",
        TestOutcome::Skipped => "was skipped",
        TestOutcome::Passed => "passed",
    };
    let first = t
        .message
        .as_deref()
        .and_then(|m| m.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("no message");
    let mut e = Evidence::note(format!("{} {how}: {first}", t.id));
    if let Some(m) = &t.measured {
        e = e.with_measured(json!(m));
    }
    if let Some(x) = &t.expected {
        e = e.with_expected(json!(x));
    }
    e
}

#[cfg(test)]
mod tests;
