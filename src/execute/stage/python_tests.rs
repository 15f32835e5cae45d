//! The stage's glue for the pack's hidden Python tests
//! ([`crate::execute::workloads::python_tests`]): engine, pytest image,
//! sandbox, upload, progress.

use super::{ensure_recipe_image, StageInput};
use crate::execute::{self, docker, workloads, ExecuteError, Sandbox};
use crate::progress::{Mark, Step};

/// Runs the pack's hidden tests against the submission in a sandbox of the
/// pytest recipe. `Err` when the grader could not run them.
pub(super) async fn run_python_tests(
    input: &StageInput<'_>,
    spec: &workloads::PythonTests,
) -> Result<execute::workloads::python_tests::TestsFacts, String> {
    use execute::image::PYTEST_VENV;
    use execute::workloads::python_tests::{self, TestsSpec, TestsStatus};
    let cfg = input.config;
    let obs = input.observer;
    obs.begin(Step::RunnerImage);
    let engine = match docker::connect().await {
        Ok(d) => d,
        Err(e) => {
            obs.end(
                Step::RunnerImage,
                Mark::Failed,
                "no Docker engine is reachable",
            );
            return Err(format!(
                "no Docker engine is reachable ({e}); graded from the code alone"
            ));
        }
    };
    let recipe = execute::image::Recipe::pytest(&cfg.runner);
    let image = match ensure_recipe_image(&engine, cfg, &recipe, obs, Step::RunnerImage).await {
        Ok(tag) => tag,
        Err(e) => {
            obs.end(Step::RunnerImage, Mark::Failed, &e.to_string());
            return Err(format!(
                "the pytest runner image is not available ({e}); graded from the code alone"
            ));
        }
    };
    obs.end(Step::RunnerImage, Mark::Ok, &image);
    obs.begin(Step::Sandbox);
    let python = format!("{PYTEST_VENV}/bin/python");
    let mut sandbox = match Sandbox::start_with(&image, &python, &cfg.execute).await {
        Ok(s) => s,
        Err(e) => {
            obs.end(Step::Sandbox, Mark::Failed, &e.to_string());
            return Err(format!("the sandbox could not start ({e})"));
        }
    };
    let refused = |why: String| python_tests::TestsFacts {
        status: TestsStatus::SubmissionEnded { why },
        tests: Vec::new(),
        returncode: None,
        elapsed_secs: 0.0,
        console_tail: String::new(),
    };
    let facts = match sandbox.upload_project(input.submission_root, &[]).await {
        Err(ExecuteError::Upload(why)) => {
            obs.end(Step::Sandbox, Mark::Failed, &why);
            Ok(refused(format!(
                "the submission could not be copied into the sandbox: {why}"
            )))
        }
        Err(e) => {
            obs.end(Step::Sandbox, Mark::Failed, &e.to_string());
            Err(format!(
                "copying the submission into the sandbox failed: {e}"
            ))
        }
        Ok(_) => {
            obs.end(Step::Sandbox, Mark::Ok, "submission packed");
            obs.begin(Step::HiddenTests);
            let ran = python_tests::run(
                &mut sandbox,
                &TestsSpec {
                    name: "hidden-tests",
                    hidden_dir: &spec.dir,
                    timeout_secs: spec.timeout_secs,
                    clock: spec.clock.clone(),
                },
            )
            .await;
            match &ran {
                Ok(t) => {
                    let passed = t
                        .tests
                        .iter()
                        .filter(|r| r.outcome == python_tests::TestOutcome::Passed)
                        .count();
                    let (mark, detail) = match &t.status {
                        TestsStatus::Completed => (
                            if passed == t.tests.len() {
                                Mark::Ok
                            } else {
                                Mark::Failed
                            },
                            format!("{passed} of {} passed", t.tests.len()),
                        ),
                        TestsStatus::TimedOut { deadline_secs } => {
                            (Mark::Failed, format!("timed out after {deadline_secs} s"))
                        }
                        TestsStatus::NoReport { why }
                        | TestsStatus::SandboxEnded { why }
                        | TestsStatus::SubmissionEnded { why } => (Mark::Failed, why.clone()),
                    };
                    obs.end(Step::HiddenTests, mark, &detail);
                }
                Err(e) => obs.end(Step::HiddenTests, Mark::Failed, &e.to_string()),
            }
            match ran {
                // The submission goes in with the tests' command.
                Err(ExecuteError::Upload(why)) => Ok(refused(format!(
                    "the submission could not be copied into the sandbox: {why}"
                ))),
                ran => ran.map_err(|e| format!("the hidden tests could not run: {e}")),
            }
        }
    };
    if let Err(e) = sandbox.finish().await {
        tracing::warn!("removing the sandbox failed: {e}");
    }
    facts
}
