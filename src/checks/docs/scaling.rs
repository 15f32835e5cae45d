use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Statements in the candidate's Markdown about running the pipeline at a hundred times the data: in a section about scale or volume, or standing alone on the topic. A statement counts when it is long enough (`min_words`), is not a list of terms, and is anchored in code, a figure, the submission's own models or a stated reason. The rubric sets how many such statements earn full credit (`min_statements`).
    ///
    /// ## Why it matters
    /// Take-home data is small; production data is not. Naming which model becomes the bottleneck and what to change (incremental staging, partitioning, a different warehouse) shows design judgement that the small data cannot.
    ///
    /// ## How to pass
    /// Write a section on 100x scale that names which of your models would hurt first and what you would change, with the reason.
    pub struct Scaling {
        id: "docs.scaling",
        title: "The write-up says what changes at 100x the volume",
        confidence: Heuristic,
    }
}

impl Check for Scaling {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        super::design_topic(&Self::META, cx)
    }
}
