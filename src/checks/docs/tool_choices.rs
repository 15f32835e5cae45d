use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Statements in the candidate's write-up about the tools chosen (dbt, Airflow, the loader, the warehouse) and why. A statement is a sentence, each `;`-separated clause of it, or a table row read with its column headers (read from Markdown and plain-text notes alike), so a concise bullet that carries several decisions counts several times. It is on the topic when it uses the topic's lexicon (`terms`: synonyms and phrases, `*` a prefix) or sits in a section whose heading does (`terms` or `heading_terms`). It counts when it is specific and not a comma-separated list of terms: with at least `min_words_specific` words it names the submission's own models, tests or DAG, or an identifier the code bears out (a column, a task, a DAG setting or model config actually set), holds a query, gives a figure with its meaning (a number with one of `figure_units` or after one of `figure_comparators`: "over 6 h", "±50 %"; "100x" alone is no figure) or names code; or, with at least `min_words_reasoned` words, it gives a reason (`reasons`). The rubric sets how many such statements earn full credit (`min_statements`).
    ///
    /// ## Why it matters
    /// Every tool is a trade-off. Saying what each one is for, and when another would be better, is how a senior engineer shows they chose rather than defaulted.
    ///
    /// ## Example
    /// "Airbyte for extract-load because it is already in place; Fivetran would remove the operational load at a cost" counts; "tool choices (Fivetran vs Airbyte)" does not.
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
