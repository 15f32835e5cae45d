use super::{candidate_dags, capped, result, site_evidence};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Tasks take their run date from Airflow's templates (`{{ ds }}`,
    /// `{{ data_interval_start }}`, ...) in the arguments Airflow renders, not
    /// from the wall clock. It fails on Jinja written inside a Python f-string
    /// (`f"--vars '{{ ds }}'"` renders as `{ ds }` and is never templated) and on
    /// dates computed when the file is parsed (`datetime.now()` formatted into a
    /// command). A DAG that passes no date to its tasks is not judged here.
    ///
    /// ## Why it matters
    /// A rerun or backfill of 3 March must process 3 March. A command built from
    /// the wall clock processes today whatever run it belongs to, and the
    /// f-string slip passes the literal text `{ ds }` to dbt.
    ///
    /// ## How to pass
    /// Keep templates in plain strings, e.g. `DBT_ARGS = "--vars '{run_date: {{ ds }}}'"`,
    /// and interpolate that constant: `f"dbt run {DBT_ARGS}"` keeps its braces.
    pub struct IdempotentDates {
        id: "dag.idempotent_dates",
        title: "Run dates come from templates, not the clock",
        confidence: Static,
    }
}

impl Check for IdempotentDates {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let files: Vec<_> = cx
            .facts
            .dag
            .candidate_files()
            .into_iter()
            .filter(|f| dags.iter().any(|d| d.file == f.path))
            .collect();
        let pitfalls: Vec<_> = files.iter().flat_map(|f| f.date_pitfalls.iter()).collect();
        let templates: Vec<_> = files.iter().flat_map(|f| f.date_templates.iter()).collect();
        if pitfalls.is_empty() && templates.is_empty() {
            return CheckResult::new(
                Self::META.id,
                Outcome::NotApplicable,
                Self::META.confidence,
                "no task is given a run date",
            );
        }
        let fraction = if pitfalls.is_empty() { 1.0 } else { 0.0 };
        let summary = if pitfalls.is_empty() {
            format!(
                "{} task argument(s) take the run date from templates",
                templates.len()
            )
        } else {
            format!("{} place(s) compute or mangle the run date", pitfalls.len())
        };
        result(
            &Self::META,
            fraction,
            summary,
            capped(
                pitfalls.iter().map(|s| site_evidence(s)).collect(),
                templates.iter().map(|s| site_evidence(s)).collect(),
            ),
            cx,
        )
    }
}
