use super::{candidate_dags, capped, dag_evidence, result, setting_evidence, work_tasks};
use crate::analyse::dag::{Known, Task};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// A failure reaches a person: every task that does pipeline work has a
    /// working `on_failure_callback` (a function with a body, an imported alert
    /// function or a notifier), or an `email` with `email_on_failure` left on, or
    /// its DAG has a working DAG-level `on_failure_callback`. A callback whose body
    /// is only `pass` or a docstring alerts nobody and earns nothing. A setting
    /// read at run time counts half.
    ///
    /// ## Why it matters
    /// A pipeline that fails silently is found out by the analyst whose
    /// dashboard is stale. Alerting turns a 3 AM failure into a message with the
    /// task and its log.
    ///
    /// ## How to pass
    /// `"on_failure_callback": notify_failure` in `default_args`, where
    /// `notify_failure(context)` posts the task id and log URL (Slack webhook,
    /// a notifier, PagerDuty), or `"email": [...]` with `email_on_failure`.
    pub struct FailureAlerting {
        id: "dag.failure_alerting",
        title: "Failures alert someone",
        confidence: Static,
    }
}

fn task_alert(t: &Task) -> f64 {
    let cb = &t.setting("on_failure_callback").value;
    if !cb.working_callbacks().is_empty() {
        return 1.0;
    }
    let email = &t.setting("email").value;
    let email_on = !matches!(t.setting("email_on_failure").value, Known::Bool(false));
    let has_email = match email {
        Known::Text(s) => !s.trim().is_empty(),
        Known::List(items) => !items.is_empty(),
        _ => false,
    };
    if has_email && email_on {
        return 1.0;
    }
    if cb.is_unknown() || email.is_unknown() {
        return 0.5;
    }
    0.0
}

impl Check for FailureAlerting {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let (mut credit, mut n, mut bad, mut good) = (0.0, 0usize, Vec::new(), Vec::new());
        for d in &dags {
            let dag_cb = &d.setting("on_failure_callback").value;
            let dag_level = !dag_cb.working_callbacks().is_empty();
            if dag_level {
                good.push(dag_evidence(
                    d,
                    "on_failure_callback",
                    format!("DAG-level on_failure_callback {}", dag_cb.describe()),
                ));
            } else if let Known::Callable(c) = dag_cb {
                bad.push(dag_evidence(
                    d,
                    "on_failure_callback",
                    format!("DAG-level callback `{}` does nothing", c.name),
                ));
            }
            for t in work_tasks(&[*d]) {
                n += 1;
                let c = if dag_level { 1.0 } else { task_alert(t) };
                credit += c;
                let s = t.setting("on_failure_callback");
                if c >= 1.0 {
                    if !dag_level {
                        good.push(setting_evidence(t, "on_failure_callback", s, ""));
                    }
                } else {
                    let note = match &s.value {
                        Known::Callable(cb) if cb.trivial => {
                            format!("the callback `{}` does nothing", cb.name)
                        }
                        _ => "no callback, e-mail or notifier on failure".into(),
                    };
                    bad.push(setting_evidence(t, "on_failure_callback", s, &note));
                }
            }
        }
        if n == 0 {
            return CheckResult::new(
                Self::META.id,
                Outcome::NotAttempted,
                Self::META.confidence,
                "the DAG has no task that does pipeline work",
            );
        }
        result(
            &Self::META,
            credit / n as f64,
            format!("failures alert someone for {credit} of {n} tasks"),
            capped(bad, good),
            cx,
        )
    }
}
