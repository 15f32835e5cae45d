use serde_json::json;

use super::measured::{self, Measurement};
use super::{candidate_dags, capped, dag_evidence, result};
use crate::analyse::dag::Known;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence};

crate::declare_check! {
    /// ## What it checks
    /// Each DAG states its `schedule` (or `schedule_interval`/`timetable`) and its
    /// `catchup`, half the credit each. `schedule=None` (manual runs only) earns a
    /// quarter: a nightly pipeline that never runs on its own is not scheduled.
    /// Values read at run time count as stated. When the exercise loads the
    /// DAG with Airflow's own DagBag and it loaded, what Airflow measured
    /// decides what the code reading could not: a schedule read at run time
    /// that Airflow resolved to `None` earns the quarter, and a value that
    /// differs from that Airflow version's default was stated, even where the
    /// code reading missed it. The measured values are shown beside the code.
    ///
    /// ## Why it matters
    /// Airflow's defaults differ between versions (catchup is on in Airflow 2, off
    /// in 3): a DAG that leaves them implicit backfills months of runs on one
    /// deployment and none on another. Saying what you mean is what makes a
    /// first deployment safe.
    ///
    /// ## How to pass
    /// `schedule="0 3 * * *"` (after the source's nightly window) and
    /// `catchup=False`, or `catchup=True` if you mean to backfill.
    pub struct ScheduleCatchup {
        id: "dag.schedule_catchup",
        title: "Schedule and catchup are explicit",
        confidence: Static,
    }
}

/// The schedule's share: stated, manual runs only (`None`), or left out.
fn schedule_credit(stated: bool, none: bool) -> f64 {
    match (stated, none) {
        (false, _) => 0.0,
        (true, true) => 0.25,
        (true, false) => 0.5,
    }
}

impl Check for ScheduleCatchup {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let mut m = Measurement::default();
        let (mut credit, mut code_credit, mut bad, mut good) = (0.0, 0.0, Vec::new(), Vec::new());
        for d in &dags {
            let at = measured::loaded(cx.facts, d);
            let schedule = &d.setting("schedule").value;
            let code_s = schedule_credit(schedule.is_set(), matches!(schedule, Known::None));
            // What is stated is the code's to say, but Airflow knows what a
            // DAG got: a value other than its own default was stated somewhere
            // the code reading missed, and a schedule read at run time is
            // `None` or not.
            let measured_schedule = at.map(|at| {
                let got = at.dag.schedule.as_deref();
                let stated =
                    schedule.is_set() || at.default_schedule().is_some_and(|def| got != def);
                (at, got, schedule_credit(stated, got.is_none()))
            });
            let s = measured_schedule.map_or(code_s, |(_, _, c)| c);
            let ev = match measured_schedule {
                Some((at, got, _)) => measured::dag_measured(
                    at,
                    d,
                    "schedule",
                    &got.map_or(Known::None, |g| Known::Text(g.to_string())),
                    if schedule.is_set() {
                        ""
                    } else {
                        "Airflow's default for this version"
                    },
                ),
                None => dag_evidence(d, "schedule", format!("schedule = {}", schedule.describe())),
            };
            if let Some((at, got, _)) = measured_schedule {
                m.judged(
                    at,
                    code_s,
                    s,
                    schedule.is_unknown(),
                    || dag_evidence(d, "schedule", format!("schedule = {}", schedule.describe())),
                    || {
                        Evidence::note(format!(
                            "DAG `{}`: schedule = {} measured by Airflow {}'s DagBag",
                            d.dag_id,
                            got.unwrap_or("None"),
                            at.airflow
                        ))
                        .with_measured(json!(got))
                    },
                );
            }
            if s >= 0.5 {
                good.push(ev)
            } else {
                bad.push(ev)
            }
            let catchup = &d.setting("catchup").value;
            let code_c = if catchup.is_set() { 0.5 } else { 0.0 };
            let measured_catchup = at.and_then(|at| {
                let got = at.dag.catchup?;
                let stated = catchup.is_set() || Some(got) != at.default_catchup();
                Some((at, got, if stated { 0.5 } else { 0.0 }))
            });
            let c = measured_catchup.map_or(code_c, |(_, _, c)| c);
            let unstated = ": left to the Airflow version's default";
            let ev = match measured_catchup {
                Some((at, got, _)) => measured::dag_measured(
                    at,
                    d,
                    "catchup",
                    &Known::Bool(got),
                    if c > 0.0 { "" } else { &unstated[2..] },
                ),
                None => dag_evidence(
                    d,
                    "catchup",
                    format!(
                        "catchup = {}{}",
                        catchup.describe(),
                        if c > 0.0 { "" } else { unstated }
                    ),
                ),
            };
            if let Some((at, _, _)) = measured_catchup {
                // Being stated is never refuted by a value: nothing to contradict.
                m.judged(
                    at,
                    code_c,
                    c,
                    catchup.is_unknown(),
                    Evidence::default,
                    Evidence::default,
                );
            }
            if c > 0.0 {
                good.push(ev)
            } else {
                bad.push(ev)
            }
            code_credit += code_s + code_c;
            credit += s + c;
        }
        let n = dags.len() as f64;
        let summary = |credit: f64| {
            format!(
                "schedule and catchup stated in {:.0} % of the DAG settings",
                100.0 * credit / n
            )
        };
        let r = result(
            &Self::META,
            credit / n,
            summary(credit),
            capped(bad, good),
            cx,
        );
        m.finish(&Self::META, r, code_credit / n, &summary(code_credit))
    }
}
