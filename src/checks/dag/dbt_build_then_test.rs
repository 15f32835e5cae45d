use super::{candidate_dags, capped, result, task_evidence};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// The DAG invokes dbt so that models are tested after they are built:
    /// `dbt build` (which tests each model before anything downstream of it is
    /// built), or every `dbt run` followed by `dbt test` in the same command or
    /// in a task downstream of it. `dbt run` then `dbt test` publishes the marts
    /// before their tests run, so it earns the rubric's `run_then_test_credit`
    /// unless a publish task downstream of the tests gates what users see.
    /// Tests that exist but do not follow the run (parallel branches) earn
    /// `parallel_test_credit`; `--full-refresh` in a scheduled command
    /// multiplies the credit by `full_refresh_factor`, since it rebuilds every
    /// incremental model on every run.
    ///
    /// ## Why it matters
    /// `dbt run` alone publishes whatever the SQL produced; the tests the project
    /// declares never run, so duplicated payments or broken joins reach the marts.
    ///
    /// ## How to pass
    /// `dbt build`, or `dbt run` then `dbt test` with a publish step after the
    /// tests (`dbt_run >> dbt_test >> publish`), without `--full-refresh` on the
    /// schedule.
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
        let params = || -> Result<(f64, f64, f64), crate::checks::ParamError> {
            Ok((
                cx.params.share("run_then_test_credit")?,
                cx.params.share("parallel_test_credit")?,
                cx.params.share("full_refresh_factor")?,
            ))
        };
        let (run_then_test, parallel, full_refresh_factor) = match params() {
            Ok(p) => p,
            Err(e) => return (self as &dyn Check).param_error(e),
        };
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
                let later = d.descendants(&t.task_id);
                let testers: Vec<&str> = later
                    .iter()
                    .filter(|id| {
                        d.task(id).is_some_and(|u| {
                            u.dbt
                                .iter()
                                .any(|i| i.command == "test" || i.command == "build")
                        })
                    })
                    .map(String::as_str)
                    .collect();
                let same_command = cmds[run_at..].contains(&"test");
                // A publish step after the tests gates what users see.
                let gated = |tester: &str| {
                    d.descendants(tester).iter().any(|id| {
                        d.task(id).is_some_and(|u| {
                            u.stages.contains(&crate::analyse::dag::Stage::Publish)
                        })
                    })
                };
                if same_command || !testers.is_empty() {
                    let gate_from = if same_command {
                        Some(t.task_id.as_str())
                    } else {
                        testers.iter().copied().find(|x| gated(x))
                    };
                    if gate_from.is_some_and(gated) {
                        covered += 1.0;
                        good.push(task_evidence(
                            t,
                            "dbt test runs after dbt run and a publish step waits for it",
                        ));
                    } else {
                        covered += run_then_test;
                        bad.push(task_evidence(
                            t,
                            "dbt test runs only after dbt run has already published the models: untested data is visible until the tests finish (dbt build tests each model before building on it)",
                        ));
                    }
                    continue;
                }
                if d.tasks
                    .iter()
                    .any(|u| u.dbt.iter().any(|i| i.command == "test"))
                {
                    covered += parallel;
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
            fraction *= full_refresh_factor;
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
