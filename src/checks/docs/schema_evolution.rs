use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Statements in the candidate's Markdown about source schema changes (a new, renamed or dropped column): in a section about schema evolution, or standing alone on the topic. A statement counts when it is long enough (`min_words`), is not a list of terms, and is anchored in code, a figure, the submission's own models or a stated reason. The rubric sets how many such statements earn full credit (`min_statements`).
    ///
    /// ## Why it matters
    /// Sources change without notice. A senior engineer decides what should happen (ignore, append, fail loudly) and configures models to match, rather than discovering NULLs in a dashboard.
    ///
    /// ## How to pass
    /// Write a section on schema evolution: what your staging models and incremental models do when a column appears, disappears or is renamed, and why.
    pub struct SchemaEvolution {
        id: "docs.schema_evolution",
        title: "The write-up says how the pipeline copes with schema change",
        confidence: Heuristic,
    }
}

impl Check for SchemaEvolution {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        super::design_topic(&Self::META, cx)
    }
}
