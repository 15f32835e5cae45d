use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Statements in the candidate's write-up about running the pipeline at a hundred times the data. A statement is a sentence, each `;`-separated clause of it, or a table row read with its column headers (read from Markdown and plain-text notes alike), so a concise bullet that carries several decisions counts several times. It is on the topic when it uses the topic's lexicon (`terms`: synonyms and phrases, `*` a prefix) or sits in a section whose heading does (`terms` or `heading_terms`). It counts when it is specific and not a comma-separated list of terms: with at least `min_words_specific` words it names the submission's own models, tests or DAG, or an identifier the code bears out (a column, a task, a DAG setting or model config actually set), holds a query, gives a figure with its meaning (a number with one of `figure_units` or after one of `figure_comparators`: "over 6 h", "±50 %"; "100x" alone is no figure) or names code; or, with at least `min_words_reasoned` words, it gives a reason (`reasons`). The rubric sets how many such statements earn full credit (`min_statements`).
    ///
    /// ## Why it matters
    /// Take-home data is small; production data is not. Naming which model becomes the bottleneck and what to change (incremental staging, partitioning, a different warehouse) shows design judgement that the small data cannot.
    ///
    /// ## Example
    /// "`stg_payments` deduplicates over all history and would become the cost, so it turns incremental" counts; "Scalability (100x): partitioning, clustering, Spark" is a list and earns nothing.
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
