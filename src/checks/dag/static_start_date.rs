use super::{candidate_dags, capped, dag_evidence, result};
use crate::analyse::dag::Known;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Each DAG's `start_date` (on the DAG or in `default_args`) is a fixed date
    /// written with literal values, such as `datetime(2026, 1, 1)` or
    /// `pendulum.datetime(2026, 1, 1, tz="UTC")`. `datetime.now()`, `days_ago()`
    /// or a missing start date fail; one read at run time counts half.
    ///
    /// ## Why it matters
    /// A start date that moves every time the scheduler parses the file shifts
    /// the data intervals: runs are skipped or never scheduled, and a rerun of a
    /// given day is no longer well defined.
    ///
    /// ## How to pass
    /// `start_date=pendulum.datetime(2026, 1, 1, tz="UTC")` on the DAG.
    pub struct StaticStartDate {
        id: "dag.static_start_date",
        title: "start_date is static",
        confidence: Static,
    }
}

impl Check for StaticStartDate {
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
            let v = &d.setting("start_date").value;
            let (c, note) = match v {
                Known::DateTime {
                    is_static: true,
                    text,
                } => (1.0, format!("start_date = {text}: static")),
                Known::DateTime { text, .. } => {
                    (0.0, format!("start_date = {text}: moves with the clock"))
                }
                Known::Unknown(why) => (0.5, format!("start_date decided at run time ({why})")),
                Known::Missing => (0.0, "no start_date".into()),
                other => (
                    0.0,
                    format!("start_date = {}: not a date", other.describe()),
                ),
            };
            credit += c;
            let ev = dag_evidence(d, "start_date", note);
            if c >= 1.0 {
                good.push(ev)
            } else {
                bad.push(ev)
            }
        }
        result(
            &Self::META,
            credit / dags.len() as f64,
            format!("{credit} of {} DAG(s) start on a static date", dags.len()),
            capped(bad, good),
            cx,
        )
    }
}
