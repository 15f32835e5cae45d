use serde_json::json;

use super::measured::{self, Measurement};
use super::{
    candidate_dags, capped, dag_evidence, result, setting_evidence, unresolved_evidence, work_tasks,
};
use crate::analyse::dag::{Known, Origin};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Every task that does pipeline work has an effective `execution_timeout`
    /// (its own or from `default_args`) of at most `max_timeout_seconds`. A
    /// sensor passes with an explicit `timeout` instead. A timeout over the bar
    /// or read at run time counts half. When the exercise loads the DAG with
    /// Airflow's own DagBag and it loaded, the `execution_timeout` Airflow
    /// measured on each task decides instead (same bar), with the code reading
    /// shown beside it; a sensor without one is still judged on its `timeout`.
    ///
    /// ## Why it matters
    /// Airflow's default is no timeout: a hung dbt run or a sync that never
    /// returns holds its worker slot forever, blocks the next run
    /// (`max_active_runs`) and never alerts anyone, because it never fails.
    ///
    /// ## How to pass
    /// `"execution_timeout": timedelta(hours=1)` in `default_args`, longer on a
    /// task that needs it; `timeout=` on sensors. `dagrun_timeout` on the DAG is
    /// good too, but a per-task timeout is what fails the stuck task.
    pub struct ExecutionTimeout {
        id: "dag.execution_timeout",
        title: "Tasks time out instead of hanging",
        confidence: Static,
    }
}

impl Check for ExecutionTimeout {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let max = match cx.params.int("max_timeout_seconds") {
            Ok(v) => v as f64,
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let mut tasks = Vec::new();
        for d in &dags {
            let at = measured::loaded(cx.facts, d);
            tasks.extend(work_tasks(&[*d]).into_iter().map(|t| (t, at)));
        }
        if tasks.is_empty() {
            return CheckResult::new(
                Self::META.id,
                Outcome::NotAttempted,
                Self::META.confidence,
                "the DAG has no task that does pipeline work",
            );
        }
        let mut m = Measurement::default();
        let (mut credit, mut code_credit, mut bad, mut good) = (0.0, 0.0, Vec::new(), Vec::new());
        let (mut with, mut code_with) = (0, 0);
        for (t, at) in &tasks {
            let mut key = "execution_timeout";
            let mut s = t.setting(key);
            if t.is_sensor && !matches!(s.value, Known::Seconds(_)) {
                let sensor_timeout = t.setting("timeout");
                if sensor_timeout.origin != Origin::AirflowDefault {
                    key = "timeout";
                    s = sensor_timeout;
                }
            }
            let code = timeout_credit(&s.value, max);
            code_credit += code;
            if code >= 1.0 {
                code_with += 1;
            }
            // Airflow measures execution_timeout only: a sensor bounded by its
            // own `timeout` keeps the code reading of it.
            let measured = at
                .and_then(|at| Some((at, at.task(&t.task_id)?)))
                .map(|(at, f)| (at, measured::seconds(f.execution_timeout_secs)))
                .filter(|(_, v)| key == "execution_timeout" || v.as_seconds().is_some());
            let (code_key, code_s) = (key, s);
            let (key, s) = match &measured {
                Some(_) => ("execution_timeout", t.setting("execution_timeout")),
                None => (key, s),
            };
            let c = measured
                .as_ref()
                .map_or(code, |(_, v)| timeout_credit(v, max));
            credit += c;
            let evidence = |note: &str| match &measured {
                Some((at, v)) => measured::task_measured(*at, t, key, s, v, note),
                None => setting_evidence(t, key, s, note),
            };
            if c >= 1.0 {
                with += 1;
                good.push(evidence(""));
            } else {
                bad.push(evidence("no timeout within the bar").with_expected(json!(max)));
            }
            if let Some((at, v)) = &measured {
                m.judged(
                    *at,
                    code,
                    c,
                    code_s.value.is_unknown(),
                    || setting_evidence(t, code_key, code_s, ""),
                    || {
                        Evidence::note(format!(
                            "DAG `{}`, task `{}`: execution_timeout = {} measured by Airflow {}'s DagBag",
                            at.dag.dag_id,
                            t.task_id,
                            v.describe(),
                            at.airflow
                        ))
                        .with_measured(json!(v.as_seconds()))
                        .with_expected(json!(max))
                    },
                );
            }
        }
        for d in &dags {
            if d.setting("dagrun_timeout").value.is_set() {
                good.push(dag_evidence(
                    d,
                    "dagrun_timeout",
                    format!(
                        "dagrun_timeout = {}",
                        d.setting("dagrun_timeout").value.describe()
                    ),
                ));
            }
        }
        let n = tasks.len();
        let summary = |with: usize| format!("{with} of {n} tasks time out within {max} s");
        let r = result(
            &Self::META,
            credit / n as f64,
            summary(with),
            capped(bad, good)
                .into_iter()
                .chain(unresolved_evidence(
                    tasks.iter().map(|(t, _)| *t),
                    "judged on its settings only",
                ))
                .collect(),
            cx,
        );
        m.finish(&Self::META, r, code_credit / n as f64, &summary(code_with))
    }
}

/// A task's credit for a timeout `value`: within the bar, over it (or read at
/// run time), or none.
fn timeout_credit(value: &Known, max: f64) -> f64 {
    match value {
        Known::Unknown(_) => 0.5,
        v => match v.as_seconds() {
            Some(secs) if secs > 0.0 && secs <= max => 1.0,
            Some(secs) if secs > 0.0 => 0.5,
            _ => 0.0,
        },
    }
}
