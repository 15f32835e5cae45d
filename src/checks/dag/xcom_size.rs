use super::{candidate_dags, capped, result, site_evidence, task_evidence, unresolved_evidence};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// No Python task returns or pushes a table's rows or a DataFrame through
    /// XCom: a return value derived from `read_sql`, `get_pandas_df`,
    /// `fetchall`, `get_records` or `read_csv`, or serialised with `to_dict` /
    /// `to_json`. A task's function imported from the submission's own modules
    /// is read there, with the functions it calls. A task whose function cannot
    /// be read (a module outside the submission, a lambda) is listed and counts
    /// half. DAGs without Python tasks are not judged here.
    ///
    /// ## Why it matters
    /// XCom lives in Airflow's metadata database. Rows passed through it bloat
    /// the database, slow the scheduler and fail once the table grows; data
    /// belongs in the warehouse, with XCom carrying a reference to it.
    ///
    /// ## How to pass
    /// Return small values (a count, a table name, a job id). Let dbt or SQL
    /// move the data inside the warehouse.
    pub struct XcomSize {
        id: "dag.xcom_size",
        title: "No data travels through XCom",
        confidence: Static,
    }
}

impl Check for XcomSize {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let tasks: Vec<_> = dags.iter().flat_map(|d| d.tasks.iter()).collect();
        let python: Vec<_> = tasks
            .iter()
            .filter(|t| t.callable.as_ref().is_some_and(|c| !c.trivial))
            .collect();
        let unread: Vec<_> = tasks
            .iter()
            .copied()
            .filter(|t| t.unresolved_callable.is_some())
            .collect();
        if python.is_empty() && unread.is_empty() {
            return CheckResult::new(
                Self::META.id,
                Outcome::NotApplicable,
                Self::META.confidence,
                "no Python task, so nothing is passed through XCom",
            );
        }
        let mut bad = Vec::new();
        let mut offenders = 0;
        for t in &python {
            let sites = &t.callable.as_ref().expect("filtered").large_xcom;
            if !sites.is_empty() {
                offenders += 1;
                bad.extend(sites.iter().map(site_evidence));
            }
        }
        let good = python
            .iter()
            .filter(|t| t.callable.as_ref().is_some_and(|c| c.large_xcom.is_empty()))
            .map(|t| task_evidence(t, "returns no row set"))
            .collect();
        let total = python.len() + unread.len();
        // A function that could not be read is unknown, not clean: half, as a
        // setting decided at run time counts half elsewhere.
        let fraction = if offenders > 0 {
            0.0
        } else {
            (python.len() as f64 + 0.5 * unread.len() as f64) / total as f64
        };
        result(
            &Self::META,
            fraction,
            format!(
                "{offenders} of {total} Python task(s) pass data through XCom{}",
                if unread.is_empty() {
                    String::new()
                } else {
                    format!("; {} could not be read", unread.len())
                }
            ),
            capped(bad, good)
                .into_iter()
                .chain(unresolved_evidence(
                    unread,
                    "what it returns is not known: counted half",
                ))
                .collect(),
            cx,
        )
    }
}
