//! The DAG settings Airflow measured, beside the ones the code reading found.
//!
//! When the exercise loads the candidate's DAG folder with Airflow's own
//! DagBag (`exec.dag_loads`), Airflow reports each DAG's `catchup`,
//! `max_active_runs` and schedule and each task's effective `retries`,
//! `retry_delay`, `retry_exponential_backoff` and `execution_timeout`, with
//! `default_args` applied by Airflow itself. Executed evidence outranks
//! static evidence: a check of one of those settings judges the measured value
//! wherever there is one, with the same rubric parameters, and the code
//! reading stays beside it in the evidence. A static claim the measurement
//! refutes (the code reads `retries=3`, Airflow measured 0) becomes a
//! [`Contradiction`] quoting both; a value the code reading could not know (a
//! Variable, the environment) is decided by what Airflow measured.
//!
//! Only the DAG Airflow loaded under the static DAG's own id is used; without
//! a load (no DAG-load workload, `--no-exec`, an import error that kept the
//! DAG out of the bag) the checks give exactly their static verdict.

use std::collections::BTreeSet;

use serde_json::json;

use super::{dag_evidence, setting_evidence};
use crate::analyse::dag::{Dag, Known, Setting, Task};
use crate::checks::{
    CheckMeta, CheckResult, ClaimSource, Confidence, Contradiction, Evidence, Outcome,
};
use crate::execute::workloads::dag_load::{DagFact, TaskFact};
use crate::execute::DagLoadRun;
use crate::facts::Facts;

/// A DAG as Airflow's DagBag loaded it.
#[derive(Clone, Copy)]
pub(crate) struct LoadedDag<'a> {
    /// `airflow.__version__` of the DagBag that loaded it (or its venv).
    pub airflow: &'a str,
    pub dag: &'a DagFact,
}

impl<'a> LoadedDag<'a> {
    pub fn task(&self, task_id: &str) -> Option<&'a TaskFact> {
        self.dag.task(task_id)
    }

    /// The major version, which decides Airflow's own defaults.
    fn major(&self) -> &str {
        self.airflow.split('.').next().unwrap_or("")
    }

    /// What a DAG that says nothing about `catchup` gets from this Airflow:
    /// on in 2.x, off in 3.x (`[scheduler] catchup_by_default`).
    pub fn default_catchup(&self) -> Option<bool> {
        match self.major() {
            "2" => Some(true),
            "3" => Some(false),
            _ => None,
        }
    }

    /// The schedule, as the loader writes it, that a DAG without one gets:
    /// none in 3.x. 2.x's default (a day) is left unknown: how the loader
    /// spells it there was never pinned down, so the code reading keeps the say.
    pub fn default_schedule(&self) -> Option<Option<&'static str>> {
        match self.major() {
            "3" => Some(None),
            _ => None,
        }
    }
}

/// The DAG Airflow loaded with this static DAG's id, from the attempt a grade
/// reads ([`DagLoadFacts::best`], the one `exec.dag_loads` judges). `None`
/// without a load or when that Airflow did not register the DAG.
///
/// [`DagLoadFacts::best`]: crate::execute::workloads::dag_load::DagLoadFacts::best
pub(crate) fn loaded<'a>(facts: &'a Facts, dag: &Dag) -> Option<LoadedDag<'a>> {
    let Some(DagLoadRun::Loaded(load)) = facts.execution.as_ref()?.dag_load.as_ref() else {
        return None;
    };
    let best = load.best()?;
    let found = best.dag(&dag.dag_id)?;
    Some(LoadedDag {
        airflow: best.airflow_version.as_deref().unwrap_or(&best.venv),
        dag: found,
    })
}

pub(crate) fn int(v: Option<i64>) -> Option<Known> {
    v.map(Known::Int)
}

/// A duration Airflow reports; `None` is a value (no delay, no timeout).
pub(crate) fn seconds(v: Option<f64>) -> Known {
    v.map(Known::Seconds).unwrap_or(Known::None)
}

/// Evidence for a task's setting as Airflow measured it, placed where the code
/// reading found the setting, so the reader sees both values together.
pub(crate) fn task_measured(
    at: LoadedDag,
    t: &Task,
    key: &str,
    code: &Setting,
    measured: &Known,
    note: &str,
) -> Evidence {
    let mut e = setting_evidence(t, key, code, "");
    e.note = format!(
        "DAG `{}`, task `{}`: {key} = {} measured by Airflow {}'s DagBag; the code reads {} ({}){}",
        at.dag.dag_id,
        t.task_id,
        measured.describe(),
        at.airflow,
        code.value.describe(),
        code.origin.describe(),
        suffix(note)
    );
    e.with_measured(as_json(measured))
}

/// The same for a DAG-level setting.
pub(crate) fn dag_measured(
    at: LoadedDag,
    d: &Dag,
    key: &str,
    measured: &Known,
    note: &str,
) -> Evidence {
    let code = &d.setting(key).value;
    dag_evidence(
        d,
        key,
        format!(
            "{key} = {} measured by Airflow {}'s DagBag; the code reads {}{}",
            measured.describe(),
            at.airflow,
            code.describe(),
            suffix(note)
        ),
    )
    .with_measured(as_json(measured))
}

fn suffix(note: &str) -> String {
    if note.is_empty() {
        String::new()
    } else {
        format!("; {note}")
    }
}

fn as_json(v: &Known) -> serde_json::Value {
    match v {
        Known::Int(n) => json!(n),
        Known::Seconds(s) | Known::Float(s) => json!(s),
        Known::Bool(b) => json!(b),
        Known::Text(t) => json!(t),
        Known::None | Known::Missing => serde_json::Value::Null,
        other => json!(other.describe()),
    }
}

/// What the measurement changed in one check's result: the DAGs it came from,
/// the static claims it refuted and the values the code could not know.
#[derive(Default)]
pub(crate) struct Measurement {
    airflow: BTreeSet<String>,
    dags: BTreeSet<String>,
    /// The code reading's evidence of a claim, and Airflow's that refutes it.
    refuted: Vec<(Evidence, Evidence)>,
    /// Items the code reading could only guess at (read at run time).
    settled: usize,
}

impl Measurement {
    /// Records that `at` decided an item, whose credit was `code` on the code
    /// reading and is `measured` now. A claim worth more than the measurement
    /// grants is refuted: `claimed` (where the code makes it) and `refuted_by`
    /// are kept for the contradiction.
    pub fn judged(
        &mut self,
        at: LoadedDag,
        code: f64,
        measured: f64,
        code_unknown: bool,
        claimed: impl FnOnce() -> Evidence,
        refuted_by: impl FnOnce() -> Evidence,
    ) {
        self.airflow.insert(at.airflow.to_string());
        self.dags.insert(at.dag.dag_id.clone());
        if code_unknown {
            self.settled += 1;
        }
        if code > measured + 1e-9 {
            self.refuted.push((claimed(), refuted_by()));
        }
    }

    /// The check's result with the measurement's weight: `result` was judged
    /// on the measured values where there were some; `code_fraction` and
    /// `code_summary` are what the code reading alone gave. Without a
    /// measurement, `result` is returned as it is: the static verdict.
    pub fn finish(
        self,
        meta: &CheckMeta,
        mut result: CheckResult,
        code_fraction: f64,
        code_summary: &str,
    ) -> CheckResult {
        if self.dags.is_empty() || matches!(result.outcome, Outcome::Error) {
            return result;
        }
        let airflow = self.airflow.into_iter().collect::<Vec<_>>().join(", ");
        let dags = self
            .dags
            .iter()
            .map(|d| format!("`{d}`"))
            .collect::<Vec<_>>()
            .join(", ");
        result.confidence = Confidence::Executed;
        result.decided_by = Some(
            format!(
                "executed: Airflow {airflow}'s DagBag loaded DAG {dags}; the settings it measured decide, the code reading is shown beside them"
            )
            .into(),
        );
        let measured_fraction = result.outcome.credit().unwrap_or(0.0);
        if !self.refuted.is_empty() {
            let (claimed_by, refuted_by): (Vec<Evidence>, Vec<Evidence>) =
                self.refuted.into_iter().unzip();
            result.contradiction = Some(Box::new(Contradiction {
                check: meta.id.to_string(),
                trap: None,
                claim: format!("the code reading: {code_summary}"),
                claimed_by: claimed_by.into_iter().take(3).collect(),
                refuted_by: refuted_by.into_iter().take(3).collect(),
                source: ClaimSource::Code,
            }));
            result.summary = format!(
                "{} (measured by Airflow {airflow}); the code reading claimed more: {code_summary}",
                result.summary
            );
        } else if self.settled > 0 && measured_fraction > code_fraction + 1e-9 {
            result.summary = format!(
                "{} (measured by Airflow {airflow}; the code reading could not tell {} value(s) read at run time)",
                result.summary, self.settled
            );
        } else {
            result.summary = format!("{} (measured by Airflow {airflow})", result.summary);
        }
        result
    }
}
