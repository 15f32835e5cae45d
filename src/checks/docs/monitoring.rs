use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Statements in the candidate's Markdown about monitoring and alerting: in a section whose heading is about it, or standing alone on the topic. A statement counts when it is long enough to say something (`min_words`), is not a comma-separated list of terms, and is anchored: it names code, gives a figure (a threshold, a schedule), names one of the submission's own models, tests or DAG, or gives a reason. The rubric sets how many such statements earn full credit (`min_statements`).
    ///
    /// ## Why it matters
    /// A pipeline nobody watches fails silently; a senior engineer says which signals (freshness, row counts, reconciliation) page whom, and at what threshold. Prose is a heuristic signal: it weighs less than the DAG's actual callbacks.
    ///
    /// ## How to pass
    /// Write a section on monitoring and alerting that names the checks you run or would run, their thresholds and where alerts go, tied to your models and tests.
    pub struct Monitoring {
        id: "docs.monitoring",
        title: "The write-up says how the pipeline is watched and who is alerted",
        confidence: Heuristic,
    }
}

impl Check for Monitoring {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        super::design_topic(&Self::META, cx)
    }
}
