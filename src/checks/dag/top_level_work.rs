use super::{candidate_dags, capped, result, site_evidence};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Nothing heavy runs while the scheduler parses the DAG file: no
    /// `Variable.get` or `BaseHook.get_connection`, warehouse queries through a
    /// hook, pandas, network requests, processes, database connections or
    /// `sleep` at module level, in the `with DAG` block or in a called `@dag`
    /// function. Work inside task callables runs at task time and is fine.
    ///
    /// ## Why it matters
    /// The scheduler re-parses every DAG file every few seconds. A Variable read
    /// at the top is a metadata-database query per parse; a query or a request
    /// slows every parse, and a failure breaks the import of the whole DAG.
    ///
    /// ## How to pass
    /// Read Variables through templates (`"{{ var.value.name }}"`) and
    /// Connections by `conn_id` inside operators and hooks at run time.
    pub struct TopLevelWork {
        id: "dag.top_level_work",
        title: "No heavy work when the file is parsed",
        confidence: Static,
    }
}

impl Check for TopLevelWork {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let sites: Vec<_> = cx
            .facts
            .dag
            .candidate_files()
            .into_iter()
            .filter(|f| dags.iter().any(|d| d.file == f.path))
            .flat_map(|f| f.top_level_work.iter())
            .collect();
        result(
            &Self::META,
            if sites.is_empty() { 1.0 } else { 0.0 },
            if sites.is_empty() {
                "the DAG files do no heavy work at parse time".to_string()
            } else {
                format!(
                    "{} call(s) run every time the scheduler parses the file",
                    sites.len()
                )
            },
            capped(sites.iter().map(|s| site_evidence(s)).collect(), Vec::new()),
            cx,
        )
    }
}
