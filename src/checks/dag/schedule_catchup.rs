use super::{candidate_dags, capped, dag_evidence, result};
use crate::analyse::dag::Known;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Each DAG states its `schedule` (or `schedule_interval`/`timetable`) and its
    /// `catchup`, half the credit each. `schedule=None` (manual runs only) earns a
    /// quarter: a nightly pipeline that never runs on its own is not scheduled.
    /// Values read at run time count as stated.
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

impl Check for ScheduleCatchup {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let (mut credit, mut bad, mut good) = (0.0, Vec::new(), Vec::new());
        for d in &dags {
            let schedule = &d.setting("schedule").value;
            let s = match schedule {
                Known::Missing => 0.0,
                Known::None => 0.25,
                _ => 0.5,
            };
            let ev = dag_evidence(d, "schedule", format!("schedule = {}", schedule.describe()));
            if s >= 0.5 {
                good.push(ev)
            } else {
                bad.push(ev)
            }
            let catchup = &d.setting("catchup").value;
            let c = if catchup.is_set() { 0.5 } else { 0.0 };
            let ev = dag_evidence(
                d,
                "catchup",
                format!(
                    "catchup = {}{}",
                    catchup.describe(),
                    if c > 0.0 {
                        ""
                    } else {
                        ": left to the Airflow version's default"
                    }
                ),
            );
            if c > 0.0 {
                good.push(ev)
            } else {
                bad.push(ev)
            }
            credit += s + c;
        }
        result(
            &Self::META,
            credit / dags.len() as f64,
            format!(
                "schedule and catchup stated in {:.0} % of the DAG settings",
                100.0 * credit / dags.len() as f64
            ),
            capped(bad, good),
            cx,
        )
    }
}
