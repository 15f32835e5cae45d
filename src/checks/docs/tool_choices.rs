use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Statements in the candidate's Markdown about the tools chosen (dbt, Airflow, the loader, the warehouse) and why: in a section about tools or choices, or standing alone on the topic. A statement counts when it is long enough (`min_words`), is not a list of terms, and is anchored in code, a figure, the submission's own code or a stated reason. The rubric sets how many such statements earn full credit (`min_statements`).
    ///
    /// ## Why it matters
    /// Every tool is a trade-off. Saying what each one is for, and when another would be better, is how a senior engineer shows they chose rather than defaulted.
    ///
    /// ## How to pass
    /// Write a section on tool choices giving, for each tool, what it does in this pipeline and the reason or the alternative you weighed.
    pub struct ToolChoices {
        id: "docs.tool_choices",
        title: "The write-up explains its tool choices",
        confidence: Heuristic,
    }
}

impl Check for ToolChoices {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        super::design_topic(&Self::META, cx)
    }
}
