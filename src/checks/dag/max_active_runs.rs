use serde_json::json;

use super::{candidate_dags, capped, dag_evidence, result};
use crate::analyse::dag::Known;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Each DAG limits concurrent runs: `max_active_runs` at most the rubric's
    /// `max_active_runs`. A higher limit, or one read at run time, counts half;
    /// none (Airflow's default of 16) fails.
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
        let (mut credit, mut bad, mut good) = (0.0, Vec::new(), Vec::new());
        for d in &dags {
            let v = &d.setting("max_active_runs").value;
            let c = match v {
                Known::Missing => 0.0,
                Known::Unknown(_) => 0.5,
                other => match other.as_int() {
                    Some(n) if n >= 1 && n <= max => 1.0,
                    Some(_) => 0.5,
                    None => 0.0,
                },
            };
            credit += c;
            let ev = dag_evidence(
                d,
                "max_active_runs",
                format!("max_active_runs = {}", v.describe()),
            )
            .with_expected(json!(max));
            if c >= 1.0 {
                good.push(ev)
            } else {
                bad.push(ev)
            }
        }
        result(
            &Self::META,
            credit / dags.len() as f64,
            format!(
                "{credit} of {} DAG(s) keep runs from overlapping",
                dags.len()
            ),
            capped(bad, good),
            cx,
        )
    }
}
