use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// In the third phase the grader runs `dbt build` once more with nothing changed
    /// and runs the hidden checks again against the truth of S2. The outcome is the
    /// share that still agree.
    ///
    /// The rubric gives the money tolerance (`money_relative_tolerance`, with
    /// `money_absolute_tolerance` for figures near zero). A hidden check whose
    /// model or columns do not exist is not attempted; one the grader could not
    /// run leaves the score.
    ///
    /// ## Why it matters
    /// Schedulers retry and operators rerun. A pipeline whose figures drift on a rerun
    /// with no new data (duplicated rows, doubled sums) cannot be retried safely, and
    /// its numbers depend on how often it ran.
    ///
    /// ## How to pass
    /// Make every run idempotent: merge or delete+insert on a unique key, watermarks
    /// that do not re-append the last batch, no side effects that accumulate. A rerun
    /// with no new data must leave every figure as it was.
    pub struct HiddenPhase3 {
        id: "exec.hidden_phase3",
        title: "Hidden checks still agree after a rerun with no new data",
        confidence: Executed,
    }
}

impl Check for HiddenPhase3 {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        super::hidden_phase(self, cx, 3)
    }
}
