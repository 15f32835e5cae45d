use serde_json::json;

use super::{candidate_dags, capped, result, setting_evidence, work_tasks};
use crate::analyse::dag::{Known, Origin};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// For every task that retries, half the credit is a `retry_delay` the
    /// candidate chose (on the task or in `default_args`) of at least
    /// `min_retry_delay_seconds`; the other half is `retry_exponential_backoff`
    /// switched on, so repeated failures back off. A value read at run time
    /// counts half.
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
        let retrying: Vec<_> = work_tasks(&dags)
            .into_iter()
            .filter(|t| {
                let r = &t.setting("retries").value;
                r.is_unknown() || r.as_int().unwrap_or(0) > 0
            })
            .collect();
        if retrying.is_empty() {
            return CheckResult::new(
                Self::META.id,
                Outcome::Fail,
                Self::META.confidence,
                "no task retries, so no retry waits or backs off",
            );
        }
        let (mut credit, mut bad, mut good) = (0.0, Vec::new(), Vec::new());
        let mut backoff_count = 0;
        for t in &retrying {
            let delay = t.setting("retry_delay");
            let part = match (&delay.value, delay.origin) {
                (Known::Unknown(_), _) => 0.25,
                (_, Origin::AirflowDefault) => 0.0,
                (v, _) => {
                    if v.as_seconds().is_some_and(|s| s >= min) {
                        0.5
                    } else {
                        0.0
                    }
                }
            };
            let backoff = t.setting("retry_exponential_backoff");
            let back = match &backoff.value {
                Known::Bool(true) => 0.5,
                Known::Unknown(_) => 0.25,
                _ => 0.0,
            };
            if back > 0.0 {
                backoff_count += 1;
            }
            credit += part + back;
            if part + back >= 1.0 {
                good.push(setting_evidence(
                    t,
                    "retry_delay",
                    delay,
                    "with exponential backoff",
                ));
            } else {
                if part < 0.5 {
                    bad.push(
                        setting_evidence(
                            t,
                            "retry_delay",
                            delay,
                            "no chosen delay at or above the bar",
                        )
                        .with_expected(json!(min)),
                    );
                }
                if back < 0.5 {
                    bad.push(setting_evidence(
                        t,
                        "retry_exponential_backoff",
                        backoff,
                        "retries do not back off",
                    ));
                }
            }
        }
        result(
            &Self::META,
            credit / retrying.len() as f64,
            format!(
                "{} retrying task(s); {backoff_count} back off exponentially",
                retrying.len()
            ),
            capped(bad, good),
            cx,
        )
    }
}
