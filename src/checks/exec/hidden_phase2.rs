use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// In the second phase the grader replaces the `raw` tables with the snapshot one
    /// week later (S2: new orders, status changes, re-delivered payments, product
    /// edits, new soft deletes) and runs `dbt build` again WITHOUT `--full-refresh`,
    /// against the warehouse the first phase left. The hidden checks then run against
    /// the truth of S2. The outcome is the share that agree.
    ///
    /// The rubric gives the money tolerance (`money_relative_tolerance`, with
    /// `money_absolute_tolerance` for figures near zero). A hidden check whose
    /// model or columns do not exist is not attempted; one the grader could not
    /// run leaves the score.
    ///
    /// ## Why it matters
    /// Production pipelines run every day on yesterday's tables. An incremental model
    /// whose watermark was stalled by a future timestamp, or that appends instead of
    /// merging changed rows, is right on day one and wrong from day two. Only a second
    /// load shows it.
    ///
    /// ## How to pass
    /// Make incremental models pick up new and changed rows: a watermark that a future
    /// timestamp cannot stall (the loader's extraction time, or a timestamp capped at
    /// it), a unique key with a merge strategy for rows that change, and no reliance
    /// on a full refresh. Tables rebuilt from scratch also pass.
    pub struct HiddenPhase2 {
        id: "exec.hidden_phase2",
        title: "Hidden checks agree with the truth after the incremental build",
        confidence: Executed,
    }
}

impl Check for HiddenPhase2 {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        super::hidden_phase(self, cx, 2)
    }
}
