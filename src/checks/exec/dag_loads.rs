use serde_json::json;

use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};
use crate::execute::workloads::dag_load::AttemptOutcome;
use crate::execute::DagLoadRun;

crate::declare_check! {
    /// ## What it checks
    /// The grader loads the candidate's DAG folder with Apache Airflow's own
    /// `DagBag` inside the sandbox, once with Airflow 3 and once with Airflow 2
    /// (each refuses the other's DAG style, so a DAG passes on either). The DAG
    /// must load without an import error or a cycle, and hold the tasks the
    /// exercise names (`required_tasks` in the rubric). The outcome is the share
    /// of required tasks found in a DAG that loaded; an import error or a cycle
    /// fails it, with Airflow's own message.
    ///
    /// ## Why it matters
    /// A DAG that does not import never runs: the scheduler shows a broken-DAG
    /// banner and nothing else happens. Reading the code cannot tell whether
    /// an import resolves or a dependency closes a loop; loading it can.
    ///
    /// ## How to pass
    /// Load your DAG folder before you hand it in (`python dags/flight_data.py`
    /// or `airflow dags list-import-errors`), import your own modules the way
    /// the scheduler will find them, and give each task the name the exercise
    /// asks for.
    pub struct DagLoads {
        id: "exec.dag_loads",
        title: "The DAG loads in Airflow with the exercise's tasks",
        confidence: Executed,
    }
}

impl Check for DagLoads {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let result =
            |outcome, msg: String| CheckResult::new(meta.id, outcome, meta.confidence, msg);
        let facts = match super::executed(cx, meta) {
            Ok(f) => f,
            Err(r) => return r,
        };
        // Before the parameters: an exercise that loads no DAGs does not score
        // this criterion, so its rubric gives none.
        if facts.dag_load.is_none() {
            return result(
                Outcome::NotApplicable,
                "the exercise does not load DAGs with Airflow".into(),
            );
        }
        let required = match cx.params.string_list("required_tasks") {
            Ok(r) => r,
            Err(e) => return result(Outcome::Error, e.to_string()),
        };
        let loaded = match &facts.dag_load {
            None => {
                return result(
                    Outcome::NotApplicable,
                    "the exercise does not load DAGs with Airflow".into(),
                )
            }
            Some(DagLoadRun::NoDags { folder }) => {
                return result(
                    Outcome::NotAttempted,
                    format!("the submission has no `{folder}` folder of DAGs"),
                )
            }
            Some(DagLoadRun::Failed { reason }) => {
                return result(
                    Outcome::Error,
                    format!("the grader could not load the DAGs: {reason}"),
                )
            }
            Some(DagLoadRun::EndedBySubmission { reason }) => {
                return result(
                    Outcome::Fail,
                    format!("the submission's DAG files ended the load: {reason}"),
                )
            }
            Some(DagLoadRun::Loaded(f)) => f,
        };
        let mut evidence = Vec::new();
        for a in &loaded.attempts {
            let version = a.airflow_version.as_deref().unwrap_or(&a.venv);
            match a.outcome {
                AttemptOutcome::Loaded => {
                    for e in &a.import_errors {
                        evidence.push(Evidence::at(
                            e.file.clone(),
                            None,
                            format!(
                                "Airflow {version}: {}{}",
                                if e.cycle { "cycle: " } else { "import error: " },
                                first_line(&e.message)
                            ),
                        ));
                    }
                    for d in &a.dags {
                        evidence.push(Evidence::note(format!(
                            "Airflow {version} loaded DAG `{}` ({}) with tasks: {}",
                            d.dag_id,
                            d.file,
                            d.task_ids().join(", ")
                        )));
                    }
                }
                other => evidence.push(Evidence::note(format!(
                    "Airflow {version}: {:?}{}",
                    other,
                    a.detail
                        .as_deref()
                        .map(|d| format!(": {}", first_line(d)))
                        .unwrap_or_default()
                ))),
            }
        }
        // A DAG passes on the Airflow whose style it is written in.
        let Some(best) = loaded.best().filter(|a| !a.dags.is_empty()) else {
            return result(
                Outcome::Fail,
                "no Airflow could load a DAG from the folder; Airflow's own messages are below"
                    .into(),
            )
            .with_all_evidence(evidence);
        };
        let version = best.airflow_version.as_deref().unwrap_or(&best.venv);
        if !best.import_errors.is_empty() {
            let cycles = best.import_errors.iter().filter(|e| e.cycle).count();
            return result(
                Outcome::Fail,
                format!(
                    "Airflow {version} reports {} import error(s){}: {}",
                    best.import_errors.len(),
                    if cycles > 0 {
                        format!(", {cycles} of them a cycle")
                    } else {
                        String::new()
                    },
                    first_line(&best.import_errors[0].message)
                ),
            )
            .with_all_evidence(evidence);
        }
        let dag = best
            .dags
            .iter()
            .max_by_key(|d| required.iter().filter(|t| d.task(t).is_some()).count())
            .expect("a DAG loaded");
        let missing: Vec<&str> = required
            .iter()
            .filter(|t| dag.task(t).is_none())
            .map(String::as_str)
            .collect();
        let found = required.len() - missing.len();
        evidence.insert(
            0,
            Evidence::note(format!("DAG `{}` on Airflow {version}", dag.dag_id))
                .with_measured(json!({"required_tasks_found": found, "missing": missing}))
                .with_expected(json!({"required_tasks_found": required.len()})),
        );
        let outcome = if required.is_empty() {
            Outcome::Pass
        } else {
            Outcome::from_fraction(found as f64 / required.len() as f64)
        };
        result(
            outcome,
            if missing.is_empty() {
                format!(
                    "DAG `{}` loads on Airflow {version} with every required task",
                    dag.dag_id
                )
            } else {
                format!(
                    "DAG `{}` loads on Airflow {version}; missing task(s): {}",
                    dag.dag_id,
                    missing.join(", ")
                )
            },
        )
        .with_all_evidence(evidence)
    }
}

fn first_line(s: &str) -> String {
    let line = s
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    line.chars().take(300).collect()
}
