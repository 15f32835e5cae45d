use serde_json::json;

use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};
use crate::execute::{ModelState, PhaseRun};

crate::declare_check! {
    /// ## What it checks
    /// After the incremental build (phase 2) and again after a third `dbt build`
    /// with nothing changed (phase 3), the grader takes each contract model's row
    /// count and a content checksum (the sum of a hash of every row). The models
    /// are listed in the exercise pack (`[idempotency] models` in
    /// `hidden-checks.toml`). The check passes when every contract model that
    /// was built keeps both; one model that changes fails it.
    ///
    /// ## Why it matters
    /// An orchestrator retries failed tasks and operators rerun days. A model that
    /// re-appends its last batch or double-counts on a rerun turns every retry into
    /// wrong numbers, and nothing fails loudly. A project that rebuilds everything
    /// as tables passes trivially: idempotent, though not incremental (the rubric
    /// credits incremental design elsewhere).
    ///
    /// ## How to pass
    /// Give incremental models a `unique_key` with the `merge` (or
    /// `delete+insert`) strategy, so reprocessing rows already loaded replaces them,
    /// and make the watermark filter tolerate reprocessing (`>=` with a merge, not
    /// `append`). Avoid anything that accumulates per run, such as run timestamps
    /// in a model's rows.
    pub struct IdempotentRerun {
        id: "exec.idempotent_rerun",
        title: "A rerun with no new data changes no contract model",
        confidence: Executed,
    }
}

impl Check for IdempotentRerun {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let facts = match super::executed(cx, meta) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let result =
            |outcome, msg: String| CheckResult::new(meta.id, outcome, meta.confidence, msg);
        let (Some(before), Some(after)) = (facts.phase(2), facts.phase(3)) else {
            return result(
                Outcome::Error,
                "the grader recorded no second or third phase".into(),
            );
        };
        for p in [before, after] {
            match &p.ran {
                PhaseRun::GraderFailed { reason } => {
                    return result(
                        Outcome::Error,
                        format!("phase {} failed in the grader: {reason}", p.number),
                    )
                }
                PhaseRun::NotRun { reason } => {
                    return result(
                        Outcome::Fail,
                        format!("phase {} could not run: {reason}", p.number),
                    )
                }
                PhaseRun::EndedBySubmission { cause } => {
                    return result(
                        Outcome::Fail,
                        format!(
                            "phase {} was ended by the submission's code: {cause}",
                            p.number
                        ),
                    )
                }
                PhaseRun::TimedOut => {
                    return result(
                        Outcome::Fail,
                        format!(
                            "phase {} timed out after {} s",
                            p.number,
                            p.deadline_secs.unwrap_or_default()
                        ),
                    )
                }
                PhaseRun::Completed | PhaseRun::DbtTimedOut => {}
            }
        }
        let mut compared = 0usize;
        let mut evidence = Vec::new();
        for (model, b) in &before.models {
            let a = after.models.get(model).unwrap_or(&ModelState::Missing);
            let file = after
                .model_node(model)
                .and_then(|n| n.original_file_path.as_deref())
                .map(|p| facts.submission_path(p));
            let note = |text: String| match &file {
                Some(f) => Evidence::at(f.as_str(), None, text),
                None => Evidence::note(text),
            };
            match (b, a) {
                (ModelState::Missing, ModelState::Missing) => {}
                (
                    ModelState::Measured {
                        rows: r1,
                        checksum: c1,
                    },
                    ModelState::Measured {
                        rows: r2,
                        checksum: c2,
                    },
                ) => {
                    compared += 1;
                    if r1 != r2 || c1 != c2 {
                        let what = if r1 != r2 {
                            format!(
                                "`{model}` went from {r1} to {r2} rows on a rerun with no new data"
                            )
                        } else {
                            format!("`{model}` kept {r1} rows but their content changed on a rerun with no new data")
                        };
                        evidence.push(
                            note(what)
                                .with_measured(json!({"rows": r2, "checksum": c2}))
                                .with_expected(json!({"rows": r1, "checksum": c1})),
                        );
                    }
                }
                (ModelState::Unreadable { .. }, ModelState::Unreadable { .. }) => {}
                (b, a) => {
                    compared += 1;
                    evidence.push(
                        note(format!(
                            "`{model}` could be read in only one of the two runs"
                        ))
                        .with_measured(json!(a))
                        .with_expected(json!(b)),
                    );
                }
            }
        }
        if compared == 0 {
            return result(
                Outcome::NotAttempted,
                "no contract model was built in both the second and the third run".into(),
            );
        }
        let changed = evidence.len();
        let outcome = if changed == 0 {
            Outcome::Pass
        } else {
            Outcome::Fail
        };
        result(
            outcome,
            if changed == 0 {
                format!(
                    "all {compared} contract models kept their row count and checksum on the rerun"
                )
            } else {
                format!(
                    "{changed} of {compared} contract models changed on a rerun with no new data"
                )
            },
        )
        .with_all_evidence(evidence)
    }
}
