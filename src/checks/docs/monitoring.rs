use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Statements in the candidate's write-up about monitoring and alerting. An operations section that names what is watched and at what threshold is monitoring without the word; paging synonyms ("pages the on-call", PagerDuty) are in the lexicon. A statement is a sentence, each `;`-separated clause of it, or a table row read with its column headers (read from Markdown and plain-text notes alike), so a concise bullet that carries several decisions counts several times. It is on the topic when it uses the topic's lexicon (`terms`: synonyms and phrases, `*` a prefix) or sits in a section whose heading does (`terms` or `heading_terms`). It counts when it is specific and not a comma-separated list of terms: with at least `min_words_specific` words it names the submission's own models, tests or DAG, or an identifier the code bears out (a column, a task, a DAG setting or model config actually set), holds a query, gives a figure with its meaning (a number with one of `figure_units` or after one of `figure_comparators`: "over 6 h", "±50 %"; "100x" alone is no figure) or names code; or, with at least `min_words_reasoned` words, it gives a reason (`reasons`). The rubric sets how many such statements earn full credit (`min_statements`).
    ///
    /// ## Why it matters
    /// A pipeline nobody watches fails silently; a senior engineer says which signals (freshness, row counts, reconciliation) page whom, and at what threshold. Prose is a heuristic signal: it weighs less than the callbacks and gates in the code (`design.production_features`).
    ///
    /// ## Example
    /// - Freshness of `payments` over 6 h pages the on-call through PagerDuty.
    /// - GMV in `mart_gmv_daily` moving ±50 % day over day posts to #data-alerts.
    ///
    /// Two statements. "Monitoring and alerting, observability, SLAs" is a list and earns nothing.
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
