use super::{candidate_dags, capped, result, task_evidence};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// The DAG invokes dbt so that models are tested after they are built:
    /// `dbt build` (which runs each model's tests after it), or every
    /// `dbt run` followed by `dbt test` in the same command or in a task
    /// downstream of it. Tests that exist but do not follow the run (parallel
    /// branches) earn half; `--full-refresh` in a scheduled command halves the
    /// credit, since it rebuilds every incremental model on every run.
    ///
    /// ## Why it matters
    /// `dbt run` alone publishes whatever the SQL produced; the tests the project
    /// declares never run, so duplicated payments or broken joins reach the marts.
    ///
    /// ## How to pass
    /// `dbt build`, or `dbt run` then `dbt test` as separate tasks wired
    /// `dbt_run >> dbt_test`, without `--full-refresh` on the schedule.
    pub struct DbtBuildThenTest {
        id: "dag.dbt_build_then_test",
        title: "dbt models are built, then tested",
        confidence: Static,
    }
}

impl Check for DbtBuildThenTest {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let (mut bad, mut good) = (Vec::new(), Vec::new());
        let (mut builders, mut covered, mut half) = (0usize, 0.0, false);
        let mut full_refresh = false;
        for d in &dags {
            for t in &d.tasks {
                let cmds: Vec<&str> = t.dbt.iter().map(|i| i.command.as_str()).collect();
                if t.dbt.iter().any(|i| i.full_refresh) {
                    full_refresh = true;
                    bad.push(task_evidence(
                        t,
                        "runs dbt with --full-refresh on every scheduled run",
                    ));
                }
                let builds = cmds.iter().position(|c| *c == "build");
                let runs = cmds.iter().position(|c| *c == "run");
                if builds.is_none() && runs.is_none() {
                    continue;
                }
                builders += 1;
                if builds.is_some() {
                    covered += 1.0;
                    good.push(task_evidence(
                        t,
                        "dbt build runs each model's tests after it",
                    ));
                    continue;
                }
                let run_at = runs.unwrap_or(0);
                if cmds[run_at..].contains(&"test") {
                    covered += 1.0;
                    good.push(task_evidence(
                        t,
                        "dbt test follows dbt run in the same command",
                    ));
                    continue;
                }
                let later = d.descendants(&t.task_id);
                let tested_after = later.iter().any(|id| {
                    d.task(id).is_some_and(|u| {
                        u.dbt
                            .iter()
                            .any(|i| i.command == "test" || i.command == "build")
                    })
                });
                if tested_after {
                    covered += 1.0;
                    good.push(task_evidence(t, "a dbt test task runs downstream"));
                } else if d
                    .tasks
                    .iter()
                    .any(|u| u.dbt.iter().any(|i| i.command == "test"))
                {
                    covered += 0.5;
                    half = true;
                    bad.push(task_evidence(
                        t,
                        "dbt test exists but does not run after this dbt run",
                    ));
                } else {
                    bad.push(task_evidence(t, "dbt run is never followed by dbt test"));
                }
            }
        }
        if builders == 0 {
            return CheckResult::new(
                Self::META.id,
                Outcome::NotAttempted,
                Self::META.confidence,
                "no task runs dbt build or dbt run",
            )
            .with_all_evidence(bad);
        }
        let mut fraction = covered / builders as f64;
        if full_refresh {
            fraction *= 0.5;
        }
        let summary = format!(
            "{covered} of {builders} dbt build/run task(s) are tested afterwards{}{}",
            if half {
                "; some tests run in parallel"
            } else {
                ""
            },
            if full_refresh {
                "; --full-refresh on the schedule"
            } else {
                ""
            }
        );
        result(&Self::META, fraction, summary, capped(bad, good), cx)
    }
}
