//! The execution stage of `assay grade`: runs in the sandbox what the exercise
//! pack asks for (`fixtures/<exercise>/workloads.toml`, read by
//! [`workloads::Workloads::of`]) and gathers what it learned into [`ExecutionFacts`] for
//! the checks. Checks read the facts; they never call Docker.
//!
//! - the dbt phases ([`crate::execute::workloads::dbt`]), on the exercise's
//!   seeded data ([`ensure_data`]), when the pack names them or has no
//!   `workloads.toml`;
//! - the pack's hidden Python tests (`python_tests` here, running
//!   [`crate::execute::workloads::python_tests`]);
//! - loading the candidate's DAGs with Airflow's own DagBag (`dag_load` here,
//!   running [`crate::execute::workloads::dag_load`]).
//!
//! Each workload's runner image is built on first use (`ensure_recipe_image`,
//! announced on stderr), and each part of the stage tells the progress
//! [`Observer`] as it starts and ends. Only [`crate::execute::docker`] talks to
//! the Docker engine; this module and the workloads drive it.
//!
//! Attribution: anything the submission's code or files can cause is the
//! candidate's failure, named ([`PhaseRun::EndedBySubmission`], a package that
//! cannot be had offline, a forged artifact, a submission that cannot be copied
//! into the sandbox, hidden tests ended by the submission's code). Only what the
//! submission cannot cause (no engine, no image, no data, an engine error) is the
//! grader's: it makes the stage "unavailable" ([`ExecStatus::Unavailable`]) and
//! the grade static and incomplete.

mod dag_load;
mod python_tests;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Instant;

use self::dag_load::run_dag_load;
use self::python_tests::run_python_tests;
use crate::config::Config;
use crate::execute::facts::{DagLoadRun, DataRef, ExecStatus, ExecutionFacts, PhaseRun};
use crate::execute::workloads;
use crate::execute::workloads::dbt::{self, clip, phase_detail, HiddenChecks};
use crate::execute::{self, docker, ExecuteError, Progress};
use crate::exercise::Exercise;
use crate::inventory::Inventory;
use crate::progress::{Observer, Step};

/// What the stage needs from the pipeline.
pub struct StageInput<'a> {
    pub exercise: &'a Exercise,
    pub hidden: Option<&'a HiddenChecks>,
    /// The acquired submission's root folder.
    pub submission_root: &'a Path,
    pub inventory: &'a Inventory,
    /// The packages the project's `packages.yml` asks for (dbt analyser facts).
    pub packages: &'a [crate::analyse::dbt::PackageRef],
    pub config: &'a Config,
    /// Told as each part of the stage starts and ends.
    pub observer: &'a dyn Observer,
}

/// Runs the stage to the end. Never fails: what went wrong is in the facts.
/// The pack says what runs (`workloads.toml`): the dbt phases, its hidden
/// Python tests, or both.
pub fn run(input: &StageInput) -> ExecutionFacts {
    let started = Instant::now();
    let workloads = match workloads::Workloads::of(&input.exercise.pack_dir) {
        Ok(w) => w,
        Err(e) => {
            return ExecutionFacts::unavailable(format!(
                "the exercise pack's workloads cannot be read ({e}); graded from the code alone"
            ))
        }
    };
    let mut facts = if !workloads.dbt_phases {
        ExecutionFacts::with_status(ExecStatus::Ran)
    } else if let Some(project) = input.inventory.dbt_projects.first() {
        let mut f = block_on(dbt::run_phases(input, &project.root));
        f.project_root = Some(project.root.clone());
        f.hidden = input.hidden.cloned();
        f
    } else {
        ExecutionFacts::with_status(ExecStatus::NoProject)
    };
    if let Some(spec) = &workloads.python_tests {
        match block_on(run_python_tests(input, spec)) {
            Ok(tests) => {
                facts.timings.tests_secs = tests.elapsed_secs;
                facts.tests = Some(tests);
                if facts.status == ExecStatus::NoProject {
                    facts.status = ExecStatus::Ran;
                }
            }
            // Without the dbt phases, the tests were all there was to run.
            Err(reason) if !workloads.dbt_phases => {
                facts.status = ExecStatus::Unavailable { reason };
            }
            Err(reason) => {
                tracing::warn!("the hidden tests could not run: {reason}");
                facts.tests_unavailable = Some(reason);
            }
        }
    }
    if let Some(spec) = &workloads.dag_load {
        let run = block_on(run_dag_load(input, spec));
        if let DagLoadRun::Loaded(f) = &run {
            facts.timings.dag_load_secs = f.wall_secs;
        }
        if facts.status == ExecStatus::NoProject {
            facts.status = ExecStatus::Ran;
        }
        facts.dag_load = Some(run);
    }
    facts.timings.total_secs = started.elapsed().as_secs_f64();
    facts
}

/// Runs a future to completion from synchronous code: on the caller's runtime
/// when there is one (the CLI and batch mode enter theirs), else on a private one.
fn block_on<F: Future>(fut: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(fut),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime can be built")
            .block_on(fut),
    }
}

/// Makes sure the image of `recipe` exists, building it on first use with a
/// note saying so and its build steps shown under `step`.
pub(crate) async fn ensure_recipe_image(
    docker: &bollard::Docker,
    cfg: &Config,
    recipe: &execute::image::Recipe,
    obs: &dyn Observer,
    step: Step,
) -> Result<String, ExecuteError> {
    let source = execute::image::host_debian_source(&cfg.runner)?;
    let tag = recipe.tag(&source.suite);
    if !cfg.runner.force_rebuild && docker::image_exists(docker, &tag).await? {
        return Ok(tag);
    }
    obs.note(&format!(
        "building the runner image {tag} (first run only, a few minutes; needs root for debootstrap and the Docker engine)"
    ));
    let started = Instant::now();
    let detail = |what: &str| obs.detail(step, what);
    let tag = execute::image::ensure_image(&cfg.runner, recipe, &Progress::to(&detail)).await?;
    obs.note(&format!(
        "runner image {tag} ready after {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(tag)
}

/// The exercise's seeded data in the cache (`<cache>/data/<exercise>/<seed>-<scale>/`),
/// generated on first use. Generation writes to a temporary folder renamed into
/// place, so concurrent graders never read half a snapshot.
pub fn ensure_data(exercise: &Exercise, cfg: &Config) -> Result<DataRef, String> {
    let root = execute::image::cache_root(&cfg.runner).map_err(|e| e.to_string())?;
    let (seed, scale) = (cfg.data.seed, cfg.data.scale);
    let dir = data_dir(&root, &exercise.id, seed, scale);
    let parent = dir.parent().unwrap_or(&root).to_path_buf();
    if dir.join("manifest.json").is_file() {
        return Ok(DataRef {
            dir,
            seed,
            scale,
            generated: false,
        });
    }
    std::fs::create_dir_all(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".gen-{seed}-{scale}-"))
        .tempdir_in(&parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    let opts = crate::generate::GenerateOptions {
        exercise: exercise.id.clone(),
        scale,
        seed,
        out_dir: tmp.path().join("out"),
    };
    crate::generate::generate(&opts).map_err(|e| e.to_string())?;
    match std::fs::rename(tmp.path().join("out"), &dir) {
        Ok(()) => {}
        // Another grader finished first: its copy is the same data.
        Err(_) if dir.join("manifest.json").is_file() => {}
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    Ok(DataRef {
        dir,
        seed,
        scale,
        generated: true,
    })
}

/// The stage's one-line record for the report.
pub fn stage_detail(facts: &ExecutionFacts) -> String {
    match &facts.status {
        ExecStatus::NoProject => "no dbt project to run".into(),
        ExecStatus::Unavailable { reason } => reason.clone(),
        ExecStatus::Ran => {
            let phases: Vec<String> = facts
                .phases
                .iter()
                .map(|p| {
                    let why = match &p.ran {
                        PhaseRun::Completed | PhaseRun::DbtTimedOut => String::new(),
                        _ => phase_detail(p)
                            .map(|d| format!(" ({})", clip(&d, 200)))
                            .unwrap_or_default(),
                    };
                    format!(
                        "{} {} in {:.1} s ({} of {} nodes ok){why}",
                        p.name,
                        p.ran.label().replace('_', " "),
                        p.wall_secs,
                        p.nodes.ok,
                        p.nodes.total
                    )
                })
                .collect();
            format!(
                "{}; stage {:.1} s, dbt {:.1} s",
                phases.join("; "),
                facts.timings.total_secs,
                facts.timings.dbt_secs
            )
        }
    }
}

/// Where the data of an exercise lives in a cache root (for tools and docs).
/// The generator's version is part of the folder: data cached by an older
/// assay (other truth keys) is never read by a newer one.
pub fn data_dir(cache_root: &Path, exercise: &str, seed: u64, scale: u32) -> PathBuf {
    let version = crate::generate::GENERATOR_VERSION
        .rsplit('/')
        .next()
        .unwrap_or("0");
    cache_root
        .join("data")
        .join(exercise)
        .join(format!("{seed}-{scale}-v{version}"))
}
