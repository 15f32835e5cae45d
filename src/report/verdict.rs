//! The execution verdict: the first thing an interviewer reads. Before any
//! score, it says whether the pipeline ran, whether dbt passed in each phase
//! (and if not, which models errored with their first error line), and which
//! hidden checks disagree with the truth, grouped by model and by the phase
//! where they first fail. Built from the report alone, so report.json, the
//! HTML, the Markdown and the terminal carry the same verdict.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::values::readable;
use super::{HiddenCheckRun, NodeIssue, PhaseSummary, Report, Stage, StageStatus};
use crate::checks::Outcome;

/// Names listed inline in a headline before "and N more".
const HEADLINE_NAMES: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    /// Whether the submission's pipeline was run at all.
    pub executed: bool,
    /// One sentence: what ran, what failed.
    pub headline: String,
    #[serde(default)]
    pub phases: Vec<PhaseVerdict>,
    /// Hidden checks that disagree with the truth (or could not be judged on
    /// the candidate's rows), grouped by the contract model they read.
    #[serde(default)]
    pub failing: Vec<ModelFailures>,
    /// Distinct hidden checks run, and how many of them fail in some phase.
    pub hidden_checks: u64,
    pub hidden_failing: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PhaseVerdict {
    pub phase: u8,
    pub name: String,
    /// dbt exited 0, nothing errored and no test failed.
    pub passed: bool,
    /// passed, failed, timed out, not run, grader failed.
    pub status: String,
    /// Why the phase failed, in short clauses.
    #[serde(default)]
    pub reasons: Vec<String>,
    #[serde(default)]
    pub errored: Vec<NodeIssue>,
    #[serde(default)]
    pub failed_tests: Vec<NodeIssue>,
    pub skipped: u64,
    pub hidden_failing: u64,
    pub hidden_run: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelFailures {
    pub model: String,
    pub checks: Vec<FailingCheck>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FailingCheck {
    pub check: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trap: Option<String>,
    /// fail (disagrees with the truth) or not_attempted (the model or its
    /// columns were missing).
    pub outcome: String,
    pub first_phase: u8,
    pub failing_phases: Vec<u8>,
    /// Where the failure sits among the phases, in words ("from phase 1",
    /// "only in phase 2: the incremental probe").
    pub when: String,
    pub note: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

pub fn build(report: &Report) -> Verdict {
    let Some(exec) = &report.execution else {
        let why = report
            .stages
            .iter()
            .find(|s| s.stage == Stage::Execute && s.status != StageStatus::Ok)
            .map(|s| s.detail.clone())
            .unwrap_or_else(|| "the execution stage did not run".into());
        return Verdict {
            executed: false,
            headline: format!(
                "Nothing was verified by running: {}. Every score below rests on reading the code.",
                why.trim_end_matches('.')
            ),
            phases: Vec::new(),
            failing: Vec::new(),
            hidden_checks: 0,
            hidden_failing: 0,
        };
    };
    let phases: Vec<PhaseVerdict> = exec
        .phases
        .iter()
        .map(|p| phase_verdict(p, &exec.hidden_checks))
        .collect();
    let failing = failing_by_model(&exec.hidden_checks);
    let hidden_checks = exec
        .hidden_checks
        .iter()
        .map(|h| h.check.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    let hidden_failing = failing.iter().map(|m| m.checks.len() as u64).sum();
    let tests_passed = exec
        .hidden_tests
        .iter()
        .filter(|t| t.outcome == crate::execute::workloads::python_tests::TestOutcome::Passed)
        .count();
    let headline = headline(
        &phases,
        hidden_checks,
        hidden_failing,
        (tests_passed, exec.hidden_tests.len()),
    );
    Verdict {
        executed: true,
        headline,
        phases,
        failing,
        hidden_checks,
        hidden_failing,
    }
}

fn phase_verdict(p: &PhaseSummary, hidden: &[HiddenCheckRun]) -> PhaseVerdict {
    let runs: Vec<&HiddenCheckRun> = hidden.iter().filter(|h| h.phase == p.phase).collect();
    let hidden_failing = runs
        .iter()
        .filter(|h| matches!(h.outcome, Outcome::Fail | Outcome::NotAttempted))
        .count() as u64;
    let nodes = p.nodes.clone().unwrap_or_default();
    let mut reasons = Vec::new();
    let status = match p.status.as_str() {
        "completed" => {
            if let Some(code) = p.dbt_exit_code.filter(|c| *c != 0) {
                reasons.push(format!("dbt exited with code {code}"));
            }
            if let Some(d) = &p.detail {
                reasons.push(first_line(d));
            }
            let errored = p.errored.len().max(nodes.errored as usize);
            if errored > 0 {
                reasons.push(format!("{errored} node(s) errored"));
            }
            let failed = p.failed_tests.len().max(nodes.failed as usize);
            if failed > 0 {
                reasons.push(format!("{failed} test(s) failed"));
            }
            if nodes.total == 0 && p.detail.is_none() {
                reasons.push("dbt built nothing".into());
            }
            if reasons.is_empty() {
                "passed"
            } else {
                "failed"
            }
        }
        "dbt_timed_out" | "timed_out" => {
            reasons.push(match p.wall_secs {
                Some(s) => format!("stopped at the phase deadline after {s:.0} s"),
                None => "stopped at the phase deadline".into(),
            });
            "timed out"
        }
        "skipped" => {
            reasons.extend(p.detail.as_deref().map(first_line));
            "not run"
        }
        // The candidate's code used up a limit of the sandbox (memory,
        // processes, disk): the candidate's failure, not the grader's.
        "ended_by_submission" => {
            reasons.extend(p.detail.as_deref().map(first_line));
            "ended by the submission"
        }
        _ => {
            reasons.extend(p.detail.as_deref().map(first_line));
            "grader failed"
        }
    };
    if nodes.skipped > 0 && status != "passed" {
        reasons.push(format!("{} node(s) skipped", nodes.skipped));
    }
    PhaseVerdict {
        phase: p.phase,
        name: p.name.clone(),
        passed: status == "passed",
        status: status.to_string(),
        reasons,
        errored: p.errored.clone(),
        failed_tests: p.failed_tests.clone(),
        skipped: nodes.skipped,
        hidden_failing,
        hidden_run: runs.len() as u64,
    }
}

fn failing_by_model(hidden: &[HiddenCheckRun]) -> Vec<ModelFailures> {
    // Per check, in pack order: its runs over the phases.
    let mut order: Vec<&str> = Vec::new();
    let mut runs: BTreeMap<&str, Vec<&HiddenCheckRun>> = BTreeMap::new();
    for h in hidden {
        if !runs.contains_key(h.check.as_str()) {
            order.push(&h.check);
        }
        runs.entry(&h.check).or_default().push(h);
    }
    let mut by_model: Vec<ModelFailures> = Vec::new();
    for id in order {
        let mut runs = runs.remove(id).unwrap_or_default();
        runs.sort_by_key(|h| h.phase);
        let bad: Vec<&&HiddenCheckRun> = runs
            .iter()
            .filter(|h| matches!(h.outcome, Outcome::Fail | Outcome::NotAttempted))
            .collect();
        let Some(first) = bad.first() else {
            continue;
        };
        let failing_phases: Vec<u8> = bad.iter().map(|h| h.phase).collect();
        let judged_phases: Vec<u8> = runs.iter().map(|h| h.phase).collect();
        let when = when(first.phase, &failing_phases, &judged_phases);
        let measured = readable(
            &first.compare,
            first.noun.as_deref(),
            first.measured.as_ref(),
        );
        let expected = readable(
            &first.compare,
            first.noun.as_deref(),
            first.expected.as_ref(),
        );
        // A note that only restates the figures shown beside it
        // ("measured 11,020, expected 10,417") would say them twice.
        let restates = match (&measured, &expected) {
            (Some(m), Some(e)) => {
                first.note.trim() == format!("measured {}, expected {}", m.text, e.text)
            }
            _ => false,
        };
        let check = FailingCheck {
            check: first.check.clone(),
            title: first.title.clone(),
            trap: first.trap.clone(),
            outcome: super::enrich::outcome_key(first.outcome).to_string(),
            first_phase: first.phase,
            failing_phases,
            when,
            note: if restates {
                String::new()
            } else {
                first.note.clone()
            },
            measured: measured.as_ref().map(|f| f.text.clone()),
            expected: expected.map(|f| f.text),
            examples: measured.map(|f| f.examples).unwrap_or_default(),
        };
        let model = if first.model.is_empty() {
            "(no model)".to_string()
        } else {
            first.model.clone()
        };
        match by_model.iter_mut().find(|m| m.model == model) {
            Some(m) => m.checks.push(check),
            None => by_model.push(ModelFailures {
                model,
                checks: vec![check],
            }),
        }
    }
    // The model that breaks earliest and most often leads.
    by_model.sort_by_key(|m| {
        (
            m.checks.iter().map(|c| c.first_phase).min().unwrap_or(9),
            std::cmp::Reverse(m.checks.len()),
        )
    });
    by_model
}

fn when(first: u8, failing: &[u8], judged: &[u8]) -> String {
    let later_pass = judged.iter().any(|p| *p > first && !failing.contains(p));
    match first {
        1 => "from phase 1 (the initial load)".into(),
        2 if later_pass => {
            "only in phase 2: the incremental probe (phase 1 and the rerun were right)".into()
        }
        2 => "from phase 2: the incremental probe (phase 1 was right)".into(),
        3 => "only in phase 3: the rerun changed a right answer".into(),
        n => format!("from phase {n}"),
    }
}

fn headline(
    phases: &[PhaseVerdict],
    hidden: u64,
    failing: u64,
    (tests_passed, tests): (usize, usize),
) -> String {
    let mut parts = Vec::new();
    let failed: Vec<&PhaseVerdict> = phases.iter().filter(|p| !p.passed).collect();
    if failed.is_empty() && !phases.is_empty() {
        parts.push(format!("dbt passed in all {} phases", phases.len()));
    } else if !failed.is_empty() {
        let mut errored: Vec<&str> = Vec::new();
        for p in &failed {
            for n in &p.errored {
                if !errored.contains(&n.node.as_str()) {
                    errored.push(&n.node);
                }
            }
        }
        // One clause per kind of failure, in phase order: "dbt failed in
        // phase 1" and "phase 2, 3 did not run" are different news.
        let mut kinds: Vec<&str> = Vec::new();
        for p in &failed {
            if !kinds.contains(&p.status.as_str()) {
                kinds.push(&p.status);
            }
        }
        let clauses: Vec<String> = kinds
            .iter()
            .map(|kind| {
                let which = failed
                    .iter()
                    .filter(|p| p.status == *kind)
                    .map(|p| p.phase.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                match *kind {
                    "timed out" => format!("dbt timed out in phase {which}"),
                    "not run" => format!("phase {which} did not run"),
                    "ended by the submission" => {
                        format!("the submission's code ended phase {which}")
                    }
                    "grader failed" => format!("the grader failed in phase {which}"),
                    _ => format!("dbt failed in phase {which}"),
                }
            })
            .collect();
        let mut s = clauses.join(", ");
        if !errored.is_empty() {
            s.push_str(&format!(" ({} errored)", names(&errored)));
        }
        parts.push(s);
    }
    if hidden > 0 {
        parts.push(if failing == 0 {
            format!("every hidden check ({hidden}) agrees with the truth")
        } else {
            format!("{failing} of {hidden} hidden checks disagree with the truth or could not be judged")
        });
    }
    if tests > 0 {
        parts.push(if tests_passed == tests {
            format!("every hidden test ({tests}) passes on the candidate's code")
        } else {
            format!("{tests_passed} of {tests} hidden tests pass on the candidate's code")
        });
    }
    if parts.is_empty() {
        parts.push("the submission ran, but no hidden check or test measured it".into());
    }
    // "dbt" keeps its lower case even at the start of the sentence.
    let mut out = parts.join("; ");
    out.push('.');
    out
}

fn names(list: &[&str]) -> String {
    if list.len() <= HEADLINE_NAMES {
        return list.join(", ");
    }
    format!(
        "{} and {} more",
        list[..HEADLINE_NAMES].join(", "),
        list.len() - HEADLINE_NAMES
    )
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(240)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::TestTally;
    use serde_json::json;

    fn phase(n: u8, exit: i64, errored: &[&str]) -> PhaseSummary {
        PhaseSummary {
            phase: n,
            name: ["initial", "incremental", "idempotency"][n as usize - 1].into(),
            status: "completed".into(),
            detail: None,
            wall_secs: Some(20.0),
            nodes: Some(TestTally {
                total: 10,
                passed: 10 - errored.len() as u64,
                errored: errored.len() as u64,
                ..TestTally::default()
            }),
            problems: Vec::new(),
            dbt_exit_code: Some(exit),
            errored: errored
                .iter()
                .map(|m| NodeIssue {
                    node: m.to_string(),
                    message: "Binder Error: no column x".into(),
                })
                .collect(),
            failed_tests: Vec::new(),
        }
    }

    fn run(check: &str, model: &str, phase: u8, outcome: Outcome) -> HiddenCheckRun {
        HiddenCheckRun {
            check: check.into(),
            title: check.into(),
            model: model.into(),
            compare: "money".into(),
            noun: None,
            note: "off".into(),
            phase,
            trap: None,
            outcome,
            measured: Some(json!(1166127.3900000004)),
            expected: Some(json!(1200000)),
        }
    }

    #[test]
    fn a_failing_build_and_its_models_lead_the_headline() {
        let phases: Vec<PhaseVerdict> = (1..=3)
            .map(|n| phase_verdict(&phase(n, 1, &["mart_gmv_daily", "mart_seller"]), &[]))
            .collect();
        assert!(phases.iter().all(|p| !p.passed && p.status == "failed"));
        assert!(phases[0].reasons[0].contains("exited with code 1"));
        let h = headline(&phases, 31, 9, (0, 0));
        assert_eq!(
            h,
            "dbt failed in phase 1, 2, 3 (mart_gmv_daily, mart_seller errored); 9 of 31 hidden checks disagree with the truth or could not be judged."
        );
    }

    #[test]
    fn a_phase_the_submission_ended_is_not_the_graders_failure() {
        let mut first = phase(1, 2, &[]);
        first.status = "ended_by_submission".into();
        first.detail = Some("ended by the submission's code: process limit reached".into());
        let later: Vec<PhaseSummary> = (2..=3)
            .map(|n| {
                let mut p = phase(n, 0, &[]);
                p.status = "skipped".into();
                p.detail = Some("not run: the submission ended phase 1".into());
                p.nodes = None;
                p.dbt_exit_code = None;
                p
            })
            .collect();
        let phases: Vec<PhaseVerdict> = std::iter::once(&first)
            .chain(later.iter())
            .map(|p| phase_verdict(p, &[]))
            .collect();
        assert_eq!(phases[0].status, "ended by the submission");
        assert_eq!(
            phases[0].reasons[0],
            "ended by the submission's code: process limit reached"
        );
        assert_eq!(
            headline(&phases, 32, 32, (0, 0)),
            "the submission's code ended phase 1, phase 2, 3 did not run; 32 of 32 hidden checks disagree with the truth or could not be judged."
        );
    }

    #[test]
    fn a_note_that_restates_the_figures_is_not_shown_twice() {
        let mut same = run("hidden.a", "fct_orders", 1, Outcome::Fail);
        same.note = "measured 1,166,127.39, expected 1,200,000.00".into();
        let mut more = run("hidden.b", "fct_orders", 1, Outcome::Fail);
        more.note = "measured 1,166,127.39, expected 1,200,000.00 (on 3 of 5 days)".into();
        let groups = failing_by_model(&[same, more]);
        let notes: Vec<&str> = groups[0].checks.iter().map(|c| c.note.as_str()).collect();
        assert_eq!(
            groups[0].checks[0].measured.as_deref(),
            Some("1,166,127.39"),
            "{:?}",
            groups[0].checks[0]
        );
        assert_eq!(
            notes,
            [
                "",
                "measured 1,166,127.39, expected 1,200,000.00 (on 3 of 5 days)"
            ]
        );
    }

    #[test]
    fn a_clean_run_says_so() {
        let phases: Vec<PhaseVerdict> = (1..=3)
            .map(|n| phase_verdict(&phase(n, 0, &[]), &[]))
            .collect();
        assert!(phases.iter().all(|p| p.passed));
        assert_eq!(
            headline(&phases, 31, 0, (0, 0)),
            "dbt passed in all 3 phases; every hidden check (31) agrees with the truth."
        );
    }

    #[test]
    fn an_exercise_graded_by_hidden_tests_names_them_in_the_headline() {
        assert_eq!(
            headline(&[], 0, 0, (6, 32)),
            "6 of 32 hidden tests pass on the candidate's code."
        );
        assert_eq!(
            headline(&[], 0, 0, (32, 32)),
            "every hidden test (32) passes on the candidate's code."
        );
        assert!(!headline(&[], 0, 0, (0, 0)).starts_with('.'));
    }

    #[test]
    fn failures_group_by_model_and_name_the_incremental_probe() {
        let runs = vec![
            run("hidden.a", "fct_orders", 1, Outcome::Pass),
            run("hidden.a", "fct_orders", 2, Outcome::Fail),
            run("hidden.a", "fct_orders", 3, Outcome::Pass),
            run("hidden.b", "mart_gmv_daily", 1, Outcome::Fail),
            run("hidden.b", "mart_gmv_daily", 2, Outcome::Fail),
            run("hidden.c", "fct_orders", 1, Outcome::Pass),
            run("hidden.c", "fct_orders", 2, Outcome::Fail),
            run("hidden.c", "fct_orders", 3, Outcome::Fail),
        ];
        let groups = failing_by_model(&runs);
        assert_eq!(groups[0].model, "mart_gmv_daily");
        assert_eq!(groups[0].checks[0].when, "from phase 1 (the initial load)");
        assert_eq!(
            groups[0].checks[0].measured.as_deref(),
            Some("1,166,127.39")
        );
        assert_eq!(groups[1].model, "fct_orders");
        assert!(groups[1].checks[0].when.starts_with("only in phase 2"));
        assert_eq!(groups[1].checks[0].failing_phases, [2]);
        assert!(groups[1].checks[1].when.starts_with("from phase 2"));
    }
}
