use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// In the first phase the grader loads the initial snapshot (S1) of the exercise's
    /// seeded data into `raw`, runs `dbt build`, and runs each hidden check of the
    /// exercise pack (`fixtures/<exercise>/hidden-checks.toml`) against the contract
    /// models dbt built. Each answer is compared with the snapshot's `truth.json`:
    /// counts exactly, money within the rubric's tolerance. The outcome is the share
    /// of hidden checks that agree.
    ///
    /// The rubric gives the money tolerance (`money_relative_tolerance`, with
    /// `money_absolute_tolerance` for figures near zero). A hidden check whose
    /// model or columns do not exist is not attempted; one the grader could not
    /// run leaves the score.
    ///
    /// ## Why it matters
    /// The hidden checks are the figures a business reads: unique payments, GMV in
    /// USD, active users, seller GMV, reconciliation, cohorts. Each guards a trap in
    /// the data (duplicates, currencies, time zones, soft deletes, NULLs). Passing
    /// them on data with known answers is proof the pipeline's numbers are right, not
    /// a claim in a README.
    ///
    /// ## How to pass
    /// Build every contract model under its contract name with the contract's columns,
    /// handle each data problem the exercise hides, and check your figures against your
    /// own profiling of the raw data. The report lists every failing hidden check
    /// with its trap and the measured and expected values.
    pub struct HiddenPhase1 {
        id: "exec.hidden_phase1",
        title: "Hidden checks agree with the truth after the initial build",
        confidence: Executed,
    }
}

impl Check for HiddenPhase1 {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        super::hidden_phase(self, cx, 1)
    }
}
