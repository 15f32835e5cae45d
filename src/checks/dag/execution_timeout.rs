use serde_json::json;

use super::{
    candidate_dags, capped, dag_evidence, result, setting_evidence, unresolved_evidence, work_tasks,
};
use crate::analyse::dag::{Known, Origin};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Every task that does pipeline work has an effective `execution_timeout`
    /// (its own or from `default_args`) of at most `max_timeout_seconds`. A
    /// sensor passes with an explicit `timeout` instead. A timeout over the bar
    /// or read at run time counts half.
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
        let tasks = work_tasks(&dags);
        if tasks.is_empty() {
            return CheckResult::new(
                Self::META.id,
                Outcome::NotAttempted,
                Self::META.confidence,
                "the DAG has no task that does pipeline work",
            );
        }
        let (mut credit, mut bad, mut good) = (0.0, Vec::new(), Vec::new());
        let mut with = 0;
        for t in &tasks {
            let mut key = "execution_timeout";
            let mut s = t.setting(key);
            if t.is_sensor && !matches!(s.value, Known::Seconds(_)) {
                let sensor_timeout = t.setting("timeout");
                if sensor_timeout.origin != Origin::AirflowDefault {
                    key = "timeout";
                    s = sensor_timeout;
                }
            }
            let c = match &s.value {
                Known::Unknown(_) => 0.5,
                v => match v.as_seconds() {
                    Some(secs) if secs > 0.0 && secs <= max => 1.0,
                    Some(secs) if secs > 0.0 => 0.5,
                    _ => 0.0,
                },
            };
            credit += c;
            if c >= 1.0 {
                with += 1;
                good.push(setting_evidence(t, key, s, ""));
            } else {
                bad.push(
                    setting_evidence(t, key, s, "no timeout within the bar")
                        .with_expected(json!(max)),
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
        result(
            &Self::META,
            credit / tasks.len() as f64,
            format!("{with} of {} tasks time out within {max} s", tasks.len()),
            capped(bad, good)
                .into_iter()
                .chain(unresolved_evidence(
                    tasks.iter().copied(),
                    "judged on its settings only",
                ))
                .collect(),
            cx,
        )
    }
}
