use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Statements in the candidate's write-up about source schema changes (a new, renamed or dropped column). A statement is a sentence, each `;`-separated clause of it, or a table row read with its column headers (read from Markdown and plain-text notes alike), so a concise bullet that carries several decisions counts several times. It is on the topic when it uses the topic's lexicon (`terms`: synonyms and phrases, `*` a prefix) or sits in a section whose heading does (`terms` or `heading_terms`). It counts when it is specific and not a comma-separated list of terms: with at least `min_words_specific` words it names the submission's own models, tests or DAG, or an identifier the code bears out (a column, a task, a DAG setting or model config actually set), holds a query, gives a figure with its meaning (a number with one of `figure_units` or after one of `figure_comparators`: "over 6 h", "±50 %"; "100x" alone is no figure) or names code; or, with at least `min_words_reasoned` words, it gives a reason (`reasons`). The rubric sets how many such statements earn full credit (`min_statements`).
    ///
    /// ## Why it matters
    /// Sources change without notice. A senior engineer decides what should happen (ignore, append, fail loudly) and configures models to match, rather than discovering NULLs in a dashboard.
    ///
    /// ## Example
    /// "Incremental models use `on_schema_change='append_new_columns'`; a renamed column fails the build loudly" is two statements.
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
