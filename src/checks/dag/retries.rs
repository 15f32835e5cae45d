use serde_json::json;

use super::{
    candidate_dags, capped, param_bool, result, setting_evidence, unresolved_evidence, work_tasks,
};
use crate::analyse::dag::{Known, Origin};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Every task that does pipeline work retries at least `min_retries` times,
    /// counting what it really gets: its own `retries`, else its TaskGroup's or
    /// the DAG's `default_args`, else Airflow's default of 0. With
    /// `exempt_explicit_checks`, a data check (dbt test, source freshness, a
    /// quality gate) may set fewer retries on purpose, written on the task.
    /// A retry count read from a Variable or the environment counts half.
    ///
    /// ## Why it matters
    /// Syncs time out, warehouses drop connections, APIs rate-limit. Without
    /// retries one transient error fails the night's run and someone reruns it by
    /// hand. `retries` in a comment, or in a dict the DAG never uses, retries nothing.
    ///
    /// ## How to pass
    /// Put `"retries": 2` (or more) in the `default_args` you pass to the DAG, and
    /// override it on a task only with a reason, e.g. `retries=0` on `dbt test`,
    /// whose failures are about the data, not the network.
    pub struct Retries {
        id: "dag.retries",
        title: "Every task retries transient failures",
        confidence: Static,
    }
}

impl Check for Retries {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let min = match cx.params.int("min_retries") {
            Ok(v) => v,
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let exempt = param_bool(cx, "exempt_explicit_checks", false);
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
        let (mut meeting, mut exempted) = (0, 0);
        for t in &tasks {
            let s = t.setting("retries");
            match &s.value {
                Known::Unknown(_) => {
                    credit += 0.5;
                    bad.push(setting_evidence(
                        t,
                        "retries",
                        s,
                        "decided at run time: counted half",
                    ));
                }
                v => {
                    let n = v.as_int().unwrap_or(0);
                    if n >= min {
                        credit += 1.0;
                        meeting += 1;
                        good.push(setting_evidence(t, "retries", s, ""));
                    } else if exempt && t.is_check && s.origin == Origin::Task {
                        credit += 1.0;
                        exempted += 1;
                        good.push(setting_evidence(
                            t,
                            "retries",
                            s,
                            "a data check with its retries chosen on the task",
                        ));
                    } else {
                        bad.push(
                            setting_evidence(t, "retries", s, "below the bar")
                                .with_measured(json!(n))
                                .with_expected(json!(min)),
                        );
                    }
                }
            }
        }
        result(
            &Self::META,
            credit / tasks.len() as f64,
            format!(
                "{meeting} of {} tasks retry at least {min} time(s){}",
                tasks.len(),
                if exempted > 0 {
                    format!("; {exempted} data check(s) set fewer on purpose")
                } else {
                    String::new()
                }
            ),
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
