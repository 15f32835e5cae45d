use serde_json::json;

use super::measured::{self, Measurement};
use super::{candidate_dags, capped, dag_evidence, result};
use crate::analyse::dag::Known;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence};

crate::declare_check! {
    /// ## What it checks
    /// Each DAG limits concurrent runs: `max_active_runs` at most the rubric's
    /// `max_active_runs`. A higher limit, or one read at run time, counts half;
    /// none (Airflow's default of 16) fails. When the exercise loads the DAG
    /// with Airflow's own DagBag and it loaded, the limit Airflow measured
    /// decides instead (same bar), with the code reading shown beside it.
    ///
    /// ## Why it matters
    /// Two runs of an ELT pipeline at once race on the same tables: an
    /// incremental merge from yesterday's run and today's can interleave, and a
    /// backfill can flood the warehouse.
    ///
    /// ## How to pass
    /// `max_active_runs=1` on the DAG.
    pub struct MaxActiveRuns {
        id: "dag.max_active_runs",
        title: "Runs do not overlap",
        confidence: Static,
    }
}

impl Check for MaxActiveRuns {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let max = match cx.params.int("max_active_runs") {
            Ok(v) => v,
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let mut m = Measurement::default();
        let (mut credit, mut code_credit, mut bad, mut good) = (0.0, 0.0, Vec::new(), Vec::new());
        for d in &dags {
            let v = &d.setting("max_active_runs").value;
            let code = limit_credit(v, max, v.is_set());
            code_credit += code;
            let measured = measured::loaded(cx.facts, d)
                .and_then(|at| Some((at, measured::int(at.dag.max_active_runs)?)));
            // A DAG that writes no limit gets Airflow's default, which Airflow
            // measures like any other: only the code tells the two apart.
            let c = measured
                .as_ref()
                .map_or(code, |(_, n)| limit_credit(n, max, v.is_set()));
            credit += c;
            let ev = match &measured {
                Some((at, n)) => measured::dag_measured(
                    *at,
                    d,
                    "max_active_runs",
                    n,
                    if v.is_set() { "" } else { "Airflow's default" },
                ),
                None => dag_evidence(
                    d,
                    "max_active_runs",
                    format!("max_active_runs = {}", v.describe()),
                ),
            }
            .with_expected(json!(max));
            if let Some((at, n)) = &measured {
                m.judged(
                    *at,
                    code,
                    c,
                    v.is_unknown(),
                    || {
                        dag_evidence(
                            d,
                            "max_active_runs",
                            format!("max_active_runs = {}", v.describe()),
                        )
                    },
                    || {
                        Evidence::note(format!(
                            "DAG `{}`: max_active_runs = {} measured by Airflow {}'s DagBag",
                            d.dag_id,
                            n.describe(),
                            at.airflow
                        ))
                        .with_measured(json!(n.as_int()))
                        .with_expected(json!(max))
                    },
                );
            }
            if c >= 1.0 {
                good.push(ev)
            } else {
                bad.push(ev)
            }
        }
        let n = dags.len();
        let summary = |credit: f64| format!("{credit} of {n} DAG(s) keep runs from overlapping");
        let r = result(
            &Self::META,
            credit / n as f64,
            summary(credit),
            capped(bad, good),
            cx,
        );
        m.finish(
            &Self::META,
            r,
            code_credit / n as f64,
            &summary(code_credit),
        )
    }
}

/// A DAG's credit for its run limit: within the bar; over it, or read at run
/// time; none written (Airflow's default of 16) fails.
fn limit_credit(value: &Known, max: i64, written: bool) -> f64 {
    match value {
        Known::Missing => 0.0,
        Known::Unknown(_) => 0.5,
        other => match other.as_int() {
            Some(n) if n >= 1 && n <= max => 1.0,
            Some(_) if written => 0.5,
            _ => 0.0,
        },
    }
}
