use super::{candidate_dags, capped, result, site_evidence, task_evidence};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// No Python task returns or pushes a table's rows or a DataFrame through
    /// XCom: a return value derived from `read_sql`, `get_pandas_df`,
    /// `fetchall`, `get_records` or `read_csv`, or serialised with `to_dict` /
    /// `to_json`. DAGs without Python tasks are not judged here.
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
        let python: Vec<_> = dags
            .iter()
            .flat_map(|d| d.tasks.iter())
            .filter(|t| t.callable.as_ref().is_some_and(|c| !c.trivial))
            .collect();
        if python.is_empty() {
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
        result(
            &Self::META,
            if offenders == 0 { 1.0 } else { 0.0 },
            format!(
                "{offenders} of {} Python task(s) pass data through XCom",
                python.len()
            ),
            capped(bad, good),
            cx,
        )
    }
}
