use serde_json::json;

use super::measured::{self, Measurement};
use super::{candidate_dags, capped, result, setting_evidence, work_tasks};
use crate::analyse::dag::{Known, Origin};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// For every task that retries, half the credit is a `retry_delay` the
    /// candidate chose (on the task or in `default_args`) of at least
    /// `min_retry_delay_seconds`; the other half is `retry_exponential_backoff`
    /// switched on, so repeated failures back off. A value read at run time
    /// counts half. When the exercise loads the DAG with Airflow's own DagBag
    /// and it loaded, the retries, delay and backoff Airflow measured on each
    /// task decide instead (same bar; Airflow's default delay is still not a
    /// choice), with the code reading shown beside them.
    ///
    /// ## Why it matters
    /// Retrying at once into the same outage fails three times in a row; a delay
    /// that grows gives a struggling source or warehouse time to recover and
    /// avoids hammering a rate-limited API.
    ///
    /// ## How to pass
    /// In `default_args`: `"retry_delay": timedelta(minutes=5)`,
    /// `"retry_exponential_backoff": True`, and `"max_retry_delay"` to bound it.
    pub struct RetryDelay {
        id: "dag.retry_delay",
        title: "Retries wait, and back off",
        confidence: Static,
    }
}

/// Half the credit for a delay the candidate chose at or above the bar; a
/// value read at run time, a quarter. Airflow's own default was not chosen,
/// whatever it measures.
fn delay_part(value: &Known, chosen: bool, min: f64) -> f64 {
    match value {
        Known::Unknown(_) => 0.25,
        _ if !chosen => 0.0,
        v if v.as_seconds().is_some_and(|s| s >= min) => 0.5,
        _ => 0.0,
    }
}

fn backoff_part(value: &Known) -> f64 {
    match value {
        Known::Bool(true) => 0.5,
        Known::Unknown(_) => 0.25,
        _ => 0.0,
    }
}

fn retries(value: &Known) -> bool {
    value.is_unknown() || value.as_int().unwrap_or(0) > 0
}

impl Check for RetryDelay {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let min = match cx.params.int("min_retry_delay_seconds") {
            Ok(v) => v as f64,
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        // Each work task with what Airflow measured on it, when it loaded the DAG.
        let mut tasks = Vec::new();
        for d in &dags {
            let at = measured::loaded(cx.facts, d);
            for t in work_tasks(&[*d]) {
                tasks.push((t, at.and_then(|at| Some((at, at.task(&t.task_id)?)))));
            }
        }
        let code_retrying = tasks
            .iter()
            .filter(|(t, _)| retries(&t.setting("retries").value))
            .count();
        let retrying: Vec<_> = tasks
            .iter()
            .filter(|(t, m)| match m.and_then(|(_, f)| f.retries) {
                Some(n) => n > 0,
                None => retries(&t.setting("retries").value),
            })
            .collect();
        if retrying.is_empty() {
            let mut r = CheckResult::new(
                Self::META.id,
                Outcome::Fail,
                Self::META.confidence,
                "no task retries, so no retry waits or backs off",
            );
            // Nothing retries as Airflow measured it; what the code seemed to
            // retry is the claim refuted.
            let mut m = Measurement::default();
            for (t, at) in &tasks {
                if let Some((at, f)) = at {
                    let s = t.setting("retries");
                    let v = measured::int(f.retries).unwrap_or(Known::None);
                    if r.evidence.len() < 3 {
                        r.evidence.push(measured::task_measured(
                            *at, t, "retries", s, &v, "no retry",
                        ));
                    }
                    m.judged(
                        *at,
                        if retries(&s.value) { 1.0 } else { 0.0 },
                        0.0,
                        s.value.is_unknown(),
                        || setting_evidence(t, "retries", s, ""),
                        || measured::task_measured(*at, t, "retries", s, &v, "no retry"),
                    );
                }
            }
            return m.finish(
                &Self::META,
                r,
                if code_retrying > 0 { 1.0 } else { 0.0 },
                &format!("{code_retrying} task(s) retry"),
            );
        }
        let mut m = Measurement::default();
        let (mut credit, mut code_credit, mut bad, mut good) = (0.0, 0.0, Vec::new(), Vec::new());
        let (mut backoff_count, mut code_backoff) = (0, 0);
        for (t, _) in tasks
            .iter()
            .filter(|(t, _)| retries(&t.setting("retries").value))
        {
            let delay = t.setting("retry_delay");
            let chosen = delay.origin != Origin::AirflowDefault;
            let backoff = t.setting("retry_exponential_backoff");
            let back = backoff_part(&backoff.value);
            code_credit += delay_part(&delay.value, chosen, min) + back;
            if back > 0.0 {
                code_backoff += 1;
            }
        }
        for (t, at) in &retrying {
            let delay = t.setting("retry_delay");
            let backoff = t.setting("retry_exponential_backoff");
            let chosen = delay.origin != Origin::AirflowDefault;
            let measured_delay = at.map(|(at, f)| (at, measured::seconds(f.retry_delay_secs)));
            let measured_backoff = at.map(|(at, f)| (at, Known::Bool(f.retry_exponential_backoff)));
            let code_part = delay_part(&delay.value, chosen, min);
            let code_back = backoff_part(&backoff.value);
            let part = measured_delay
                .as_ref()
                .map_or(code_part, |(_, v)| delay_part(v, chosen, min));
            let back = measured_backoff
                .as_ref()
                .map_or(code_back, |(_, v)| backoff_part(v));
            if back > 0.0 {
                backoff_count += 1;
            }
            credit += part + back;
            let delay_ev = |note: &str| match &measured_delay {
                Some((at, v)) => measured::task_measured(*at, t, "retry_delay", delay, v, note),
                None => setting_evidence(t, "retry_delay", delay, note),
            };
            let backoff_ev = |note: &str| match &measured_backoff {
                Some((at, v)) => {
                    measured::task_measured(*at, t, "retry_exponential_backoff", backoff, v, note)
                }
                None => setting_evidence(t, "retry_exponential_backoff", backoff, note),
            };
            if part + back >= 1.0 {
                good.push(delay_ev("with exponential backoff"));
            } else {
                if part < 0.5 {
                    bad.push(
                        delay_ev(if chosen {
                            "no chosen delay at or above the bar"
                        } else {
                            "no chosen delay at or above the bar (Airflow's default is not a choice)"
                        })
                        .with_expected(json!(min)),
                    );
                }
                if back < 0.5 {
                    bad.push(backoff_ev("retries do not back off"));
                }
            }
            if let Some((at, _)) = &measured_delay {
                m.judged(
                    *at,
                    code_part,
                    part,
                    delay.value.is_unknown(),
                    || setting_evidence(t, "retry_delay", delay, ""),
                    || delay_ev("").with_expected(json!(min)),
                );
            }
            if let Some((at, _)) = &measured_backoff {
                m.judged(
                    *at,
                    code_back,
                    back,
                    backoff.value.is_unknown(),
                    || setting_evidence(t, "retry_exponential_backoff", backoff, ""),
                    || backoff_ev(""),
                );
            }
        }
        let summary = |n: usize, backoff: usize| {
            format!("{n} retrying task(s); {backoff} back off exponentially")
        };
        let r = result(
            &Self::META,
            credit / retrying.len() as f64,
            summary(retrying.len(), backoff_count),
            capped(bad, good),
            cx,
        );
        let code_fraction = if code_retrying == 0 {
            0.0
        } else {
            code_credit / code_retrying as f64
        };
        m.finish(
            &Self::META,
            r,
            code_fraction,
            &summary(code_retrying, code_backoff),
        )
    }
}
