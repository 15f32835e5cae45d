use serde_json::json;

use super::measured::{self, Measurement};
use super::{
    candidate_dags, capped, param_bool, result, setting_evidence, unresolved_evidence, work_tasks,
};
use crate::analyse::dag::{Known, Origin};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Every task that does pipeline work retries at least `min_retries` times,
    /// counting what it really gets: its own `retries`, else its TaskGroup's or
    /// the DAG's `default_args`, else Airflow's default of 0. With
    /// `exempt_explicit_checks`, a data check (dbt test, source freshness, a
    /// quality gate) may set fewer retries on purpose, written on the task.
    /// A retry count read from a Variable or the environment counts half.
    /// When the exercise loads the DAG with Airflow's own DagBag and it loaded,
    /// the retries Airflow measured on each task decide instead (same bar),
    /// with the code reading shown beside them; a count the code seems to set
    /// but Airflow does not see is reported as a contradiction.
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

/// A task's credit for a retry count `value`, written where `origin` says.
fn credit_of(value: &Known, origin: Origin, is_check: bool, min: i64, exempt: bool) -> Credit {
    match value {
        Known::Unknown(_) => Credit::RunTime,
        v => {
            let n = v.as_int().unwrap_or(0);
            if n >= min {
                Credit::Meets
            } else if exempt && is_check && origin == Origin::Task {
                Credit::Exempt
            } else {
                Credit::Below(n)
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Credit {
    Meets,
    Exempt,
    RunTime,
    Below(i64),
}

impl Credit {
    fn points(self) -> f64 {
        match self {
            Credit::Meets | Credit::Exempt => 1.0,
            Credit::RunTime => 0.5,
            Credit::Below(_) => 0.0,
        }
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
        let (mut meeting, mut exempted) = (0, 0);
        let (mut code_meeting, mut code_exempted) = (0, 0);
        for (t, at) in &tasks {
            let s = t.setting("retries");
            let code = credit_of(&s.value, s.origin, t.is_check, min, exempt);
            code_credit += code.points();
            match code {
                Credit::Meets => code_meeting += 1,
                Credit::Exempt => code_exempted += 1,
                _ => {}
            }
            let measured = at.and_then(|at| {
                let v = measured::int(at.task(&t.task_id)?.retries)?;
                Some((at, v))
            });
            let c = match &measured {
                Some((_, v)) => credit_of(v, s.origin, t.is_check, min, exempt),
                None => code,
            };
            credit += c.points();
            let evidence = |note: &str| match &measured {
                Some((at, v)) => measured::task_measured(*at, t, "retries", s, v, note),
                None => setting_evidence(t, "retries", s, note),
            };
            match c {
                Credit::RunTime => bad.push(evidence("decided at run time: counted half")),
                Credit::Meets => {
                    meeting += 1;
                    good.push(evidence(""));
                }
                Credit::Exempt => {
                    exempted += 1;
                    good.push(evidence("a data check with its retries chosen on the task"));
                }
                Credit::Below(n) => bad.push(
                    evidence("below the bar")
                        .with_measured(json!(n))
                        .with_expected(json!(min)),
                ),
            }
            if let Some((at, v)) = &measured {
                m.judged(
                    *at,
                    code.points(),
                    c.points(),
                    s.value.is_unknown(),
                    || setting_evidence(t, "retries", s, ""),
                    || {
                        Evidence::note(format!(
                            "DAG `{}`, task `{}`: retries = {} measured by Airflow {}'s DagBag",
                            at.dag.dag_id,
                            t.task_id,
                            v.describe(),
                            at.airflow
                        ))
                        .with_measured(json!(v.as_int()))
                        .with_expected(json!(min))
                    },
                );
            }
        }
        let summary = |meeting: usize, exempted: usize| {
            format!(
                "{meeting} of {} tasks retry at least {min} time(s){}",
                tasks.len(),
                if exempted > 0 {
                    format!("; {exempted} data check(s) set fewer on purpose")
                } else {
                    String::new()
                }
            )
        };
        let n = tasks.len() as f64;
        let r = result(
            &Self::META,
            credit / n,
            summary(meeting, exempted),
            capped(bad, good)
                .into_iter()
                .chain(unresolved_evidence(
                    tasks.iter().map(|(t, _)| *t),
                    "judged on its settings only",
                ))
                .collect(),
            cx,
        );
        m.finish(
            &Self::META,
            r,
            code_credit / n,
            &summary(code_meeting, code_exempted),
        )
    }
}
