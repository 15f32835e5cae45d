use super::{candidate_dags, capped, result, site_evidence, task_evidence, unresolved_evidence};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Transformation lives in dbt, not in Python tasks: no task's Python
    /// function reads warehouse tables into pandas and reshapes them (merge,
    /// groupby, pivot, ...) or writes DataFrames back. A task's function is read
    /// with the functions it calls, in the DAG file or in the submission's own
    /// modules it imports (`from transform import build_marts`), and the
    /// evidence points at those functions. Passing requires dbt to do the
    /// transformation; with neither dbt nor Python transformation there is
    /// nothing to judge. A task whose function cannot be read is listed.
    ///
    /// ## Why it matters
    /// Transformations in Python tasks escape dbt's lineage, tests and
    /// documentation, run on the Airflow worker's memory instead of the
    /// warehouse, and duplicate logic the dbt project should own: the dbt-first
    /// red flag of a data-engineering review.
    ///
    /// ## How to pass
    /// Write the transformation as dbt models; keep Python tasks for
    /// orchestration (triggering, checking, notifying).
    pub struct DbtFirst {
        id: "dag.dbt_first",
        title: "Transformation stays in dbt",
        confidence: Static,
    }
}

impl Check for DbtFirst {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let tasks: Vec<_> = dags.iter().flat_map(|d| d.tasks.iter()).collect();
        let heavy: Vec<_> = tasks
            .iter()
            .filter(|t| {
                t.callable
                    .as_ref()
                    .is_some_and(|c| !c.heavy_transform.is_empty())
            })
            .collect();
        let dbt: Vec<_> = tasks
            .iter()
            .filter(|t| !t.dbt.is_empty() || t.operator.to_ascii_lowercase().contains("dbt"))
            .collect();
        if heavy.is_empty() && dbt.is_empty() {
            return CheckResult::new(
                Self::META.id,
                Outcome::NotAttempted,
                Self::META.confidence,
                "no task transforms data, in dbt or in Python",
            );
        }
        let mut bad = Vec::new();
        for t in &heavy {
            bad.push(task_evidence(t, "transforms data in Python"));
            if let Some(c) = &t.callable {
                bad.extend(c.heavy_transform.iter().map(site_evidence));
            }
        }
        let good = dbt.iter().map(|t| task_evidence(t, "runs dbt")).collect();
        let unread = unresolved_evidence(
            tasks.iter().copied(),
            "whether it transforms data is not known",
        );
        result(
            &Self::META,
            if heavy.is_empty() { 1.0 } else { 0.0 },
            format!(
                "{} task(s) run dbt; {} transform data in Python",
                dbt.len(),
                heavy.len()
            ),
            capped(bad, good).into_iter().chain(unread).collect(),
            cx,
        )
    }
}
