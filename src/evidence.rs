//! Executed evidence outranks static evidence.
//!
//! A static check reads the code and says whether a trap looks handled; the
//! hidden checks measure, on seeded data whose answers are known, whether it
//! is. The rubric ties the two (`decided_by_trap` on a criterion): when the
//! pipeline ran and a hidden check of that trap gave a verdict, what was
//! measured decides the criterion's outcome. A static pass that the data
//! refutes becomes a fail carrying a [`Contradiction`] that quotes both sides;
//! a static miss that the data proves wrong becomes a pass. The code alone
//! decides only when nothing was measured, and the result says why.
//!
//! An exercise graded by hidden tests ties criteria to tests instead
//! (`refuted_by_tests`): a failing test refutes a static pass the same way.

use std::collections::BTreeMap;

use crate::checks::{CheckResult, Confidence, Contradiction, Evidence, Outcome};
use crate::execute::workloads::dbt::{self, Tolerance, Verdict};
use crate::execute::ExecStatus;
use crate::facts::Facts;
use crate::rubric::Rubric;

/// The tolerance the rubric gives the hidden checks of a phase (the
/// parameters of `exec.hidden_phase<N>`).
pub fn hidden_tolerance(rubric: &Rubric, phase: u8) -> Option<Tolerance> {
    let id = format!("exec.hidden_phase{phase}");
    rubric
        .dimensions
        .iter()
        .flat_map(|d| d.criteria.iter())
        .find(|c| c.check == id)
        .and_then(|c| Tolerance::from_params(&c.params).ok())
}

/// Every hidden-check verdict of every phase that ran, judged with the
/// rubric's tolerance for that phase.
pub fn all_verdicts(rubric: &Rubric, facts: &Facts) -> Vec<Verdict> {
    let Some(exec) = facts.execution.as_ref() else {
        return Vec::new();
    };
    (1..=3u8)
        .filter_map(|phase| {
            hidden_tolerance(rubric, phase).map(|tol| dbt::phase_verdicts(exec, phase, &tol))
        })
        .flatten()
        .collect()
}

/// Why nothing was measured, when nothing was.
fn not_measured(facts: &Facts) -> Option<String> {
    match facts.execution.as_ref().map(|e| &e.status) {
        None => Some("graded without execution (--no-exec)".into()),
        Some(ExecStatus::NoProject) => Some("there was no dbt project to run".into()),
        Some(ExecStatus::Unavailable { reason }) => {
            Some(format!("the pipeline could not be run ({reason})"))
        }
        Some(ExecStatus::Ran) => None,
    }
}

/// Lets executed evidence decide every criterion the rubric ties to a trap.
pub fn reconcile(rubric: &Rubric, facts: &Facts, results: &mut BTreeMap<String, CheckResult>) {
    let tied: Vec<(&str, &str)> = rubric
        .dimensions
        .iter()
        .flat_map(|d| d.criteria.iter())
        .filter_map(|c| Some((c.check.as_str(), c.decided_by_trap.as_deref()?)))
        .collect();
    if tied.is_empty() {
        return;
    }
    let verdicts = all_verdicts(rubric, facts);
    let hidden = facts.execution.as_ref().and_then(|e| e.hidden.as_ref());
    let trap_of = |check: &str| {
        hidden
            .and_then(|h| h.find(check))
            .and_then(|c| c.trap.as_deref())
    };
    for (check, trap) in tied {
        let Some(result) = results.get_mut(check) else {
            continue;
        };
        // The grader's own failure stays one; nothing to reconcile.
        if result.outcome == Outcome::Error {
            continue;
        }
        if let Some(why) = not_measured(facts) {
            result.decided_by = Some(format!("the code alone: {why}").into());
            continue;
        }
        let of_trap: Vec<&Verdict> = verdicts
            .iter()
            .filter(|v| trap_of(&v.check) == Some(trap))
            .collect();
        if of_trap.is_empty() {
            result.decided_by = Some(
                format!("the code alone: no hidden check of the exercise measures {trap}").into(),
            );
            continue;
        }
        // A check whose model was never built measured nothing about the
        // trap: another mistake (a model that errored, a failing test that
        // held the model back) must not be blamed on this trap.
        let judged: Vec<&&Verdict> = of_trap
            .iter()
            .filter(|v| v.on_data && matches!(v.outcome, Outcome::Pass | Outcome::Fail))
            .collect();
        if judged.is_empty() {
            result.decided_by = Some(format!(
                "the code alone: no hidden check of {trap} ran on data (its contract models are missing or were not built)"
            ).into());
            continue;
        }
        let failing = first_failures(&judged);
        let static_outcome = result.outcome;
        let static_summary = result.summary.clone();
        if failing.is_empty() {
            let phases = phases_of(&judged);
            result.outcome = Outcome::Pass;
            result.confidence = Confidence::Executed;
            result.decided_by = Some(
                format!(
                "executed: {} hidden check(s) of {trap} agree with the truth in phase(s) {phases}",
                distinct_checks(&judged)
            )
                .into(),
            );
            if static_outcome != Outcome::Pass {
                result.evidence.insert(
                    0,
                    Evidence::note(format!(
                        "measured on the seeded data: {trap} is handled, though the code analysis did not recognise how ({static_summary})"
                    )),
                );
                result.summary = format!("{trap} handled on the seeded data: {static_summary}");
            }
            continue;
        }
        let refuted_by: Vec<Evidence> = failing.iter().map(|v| verdict_evidence(v)).collect();
        let headline = failing
            .first()
            .map(|v| {
                format!(
                    "{} fails from phase {} ({})",
                    v.check,
                    v.phase,
                    v.note.trim_end_matches('.')
                )
            })
            .unwrap_or_default();
        result.outcome = Outcome::Fail;
        result.confidence = Confidence::Executed;
        result.decided_by = Some(
            format!(
                "executed: {} of {} hidden check(s) of {trap} disagree with the truth",
                failing.len(),
                distinct_checks(&judged)
            )
            .into(),
        );
        if static_outcome.credit().is_some_and(|c| c > 0.0) {
            refute(result, check, Some(trap), &refuted_by, &static_summary);
            result.summary = format!(
                "{trap} not handled on the seeded data: {headline}; the code looked right ({static_summary})"
            );
        } else {
            result.summary = format!("{trap} not handled on the seeded data: {headline}");
        }
        lead_with(result, refuted_by);
    }
}

/// Lets the hidden tests refute the criteria the rubric ties to them
/// (`refuted_by_tests`). The tests exercise part of what a code reading
/// covers (one loader function, not every statement of the module), so they
/// refute a static pass but do not turn a static fail into a pass: the
/// reading then keeps its verdict and says what the tests measured.
pub fn reconcile_tests(
    rubric: &Rubric,
    facts: &Facts,
    results: &mut BTreeMap<String, CheckResult>,
) {
    use crate::execute::workloads::python_tests::{TestOutcome, TestsStatus};
    let tied: Vec<(&str, &[String])> = rubric
        .dimensions
        .iter()
        .flat_map(|d| d.criteria.iter())
        .filter(|c| !c.refuted_by_tests.is_empty())
        .map(|c| (c.check.as_str(), c.refuted_by_tests.as_slice()))
        .collect();
    let tests = facts
        .execution
        .as_ref()
        .filter(|e| e.status == ExecStatus::Ran)
        .and_then(|e| e.tests.as_ref())
        .filter(|t| t.status == TestsStatus::Completed);
    for (check, ids) in tied {
        let Some(result) = results.get_mut(check) else {
            continue;
        };
        if result.outcome == Outcome::Error {
            continue;
        }
        let Some(tests) = tests else {
            let why =
                not_measured(facts).unwrap_or_else(|| "the hidden tests did not complete".into());
            result.decided_by = Some(format!("the code alone: {why}").into());
            continue;
        };
        let judged: Vec<_> = ids
            .iter()
            .filter_map(|id| tests.outcome(id))
            .filter(|t| t.outcome != TestOutcome::Skipped)
            .collect();
        if judged.is_empty() {
            result.decided_by =
                Some("the code alone: none of the hidden tests tied to it ran".into());
            continue;
        }
        let failing: Vec<_> = judged
            .iter()
            .filter(|t| t.outcome != TestOutcome::Passed)
            .collect();
        if failing.is_empty() {
            result.decided_by = Some(
                format!(
                    "the code reading; the {} hidden test(s) tied to it pass",
                    judged.len()
                )
                .into(),
            );
            if result.outcome != Outcome::Pass {
                result.evidence.insert(
                    0,
                    Evidence::note(format!(
                        "the hidden tests tied to this criterion pass ({}); the code reading found the problem elsewhere in the code",
                        judged.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ")
                    )),
                );
            }
            continue;
        }
        let refuted_by: Vec<Evidence> = failing
            .iter()
            .map(|t| crate::checks::exec::test_evidence(t))
            .collect();
        let static_outcome = result.outcome;
        let static_summary = result.summary.clone();
        result.outcome = Outcome::Fail;
        result.confidence = Confidence::Executed;
        result.decided_by = Some(
            format!(
                "executed: {} of {} hidden test(s) tied to it fail on the candidate's code",
                failing.len(),
                judged.len()
            )
            .into(),
        );
        let headline = failing.first().map(|t| t.id.clone()).unwrap_or_default();
        if static_outcome.credit().is_some_and(|c| c > 0.0) {
            refute(result, check, None, &refuted_by, &static_summary);
            result.summary = format!(
                "refuted by the hidden tests: {headline} fails; the code looked right ({static_summary})"
            );
        } else {
            result.summary = format!("{static_summary}; the hidden test {headline} fails too");
        }
        lead_with(result, refuted_by);
    }
}

/// Records that a static claim (the result's summary before execution
/// decided, where its file evidence points) was refuted by what was measured.
fn refute(
    result: &mut CheckResult,
    check: &str,
    trap: Option<&str>,
    refuted_by: &[Evidence],
    claim: &str,
) {
    let claimed_by: Vec<Evidence> = result
        .evidence
        .iter()
        .filter(|e| e.file.is_some())
        .take(3)
        .cloned()
        .collect();
    result.contradiction = Some(Box::new(Contradiction {
        check: check.to_string(),
        trap: trap.map(str::to_string),
        claim: claim.to_string(),
        claimed_by,
        refuted_by: refuted_by.to_vec(),
        source: crate::checks::ClaimSource::Code,
    }));
}

/// The measured evidence goes first: it decided.
fn lead_with(result: &mut CheckResult, measured: Vec<Evidence>) {
    for (i, e) in measured.into_iter().enumerate() {
        result.evidence.insert(i, e);
    }
}

/// For each failing check, its first failing phase, in phase then pack order.
fn first_failures<'a>(judged: &[&&'a Verdict]) -> Vec<&'a Verdict> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out: Vec<&Verdict> = Vec::new();
    let mut sorted: Vec<&Verdict> = judged.iter().map(|v| **v).collect();
    sorted.sort_by_key(|v| v.phase);
    for v in sorted {
        if v.outcome == Outcome::Fail && seen.insert(v.check.clone()) {
            out.push(v);
        }
    }
    out
}

fn distinct_checks(judged: &[&&Verdict]) -> usize {
    judged
        .iter()
        .map(|v| v.check.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

fn phases_of(judged: &[&&Verdict]) -> String {
    let phases: std::collections::BTreeSet<u8> = judged.iter().map(|v| v.phase).collect();
    phases
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A failing hidden check as evidence: which, in which phase, measured vs expected.
pub fn verdict_evidence(v: &Verdict) -> Evidence {
    let mut e = Evidence::note(format!(
        "{} in phase {} ({}): {}",
        v.check,
        v.phase,
        dbt::phase_name(v.phase),
        v.note
    ));
    if let Some(m) = &v.measured {
        e = e.with_measured(m.clone());
    }
    if let Some(x) = &v.expected {
        e = e.with_expected(x.clone());
    }
    e
}
