//! The stage's glue for loading the candidate's DAGs
//! ([`crate::execute::workloads::dag_load`]): engine, airflow image, progress,
//! and what became of the load.

use super::{ensure_recipe_image, StageInput};
use crate::execute::facts::DagLoadRun;
use crate::execute::{self, docker, workloads};
use crate::progress::{Mark, Step};

/// Loads the candidate's DAG folder with Airflow's own DagBag, in a sandbox of
/// the airflow recipe (built on first use: several minutes).
pub(super) async fn run_dag_load(input: &StageInput<'_>, spec: &workloads::DagLoad) -> DagLoadRun {
    use execute::workloads::dag_load::{load_dags, DagLoadInput, DagLoadOptions};
    let cfg = input.config;
    let obs = input.observer;
    let dags_dir = input.submission_root.join(&spec.dags);
    if !std::fs::symlink_metadata(&dags_dir).is_ok_and(|m| m.is_dir()) {
        obs.end(
            Step::DagLoad,
            Mark::Skipped,
            &format!("no `{}` folder", spec.dags),
        );
        return DagLoadRun::NoDags {
            folder: spec.dags.clone(),
        };
    }
    obs.begin(Step::DagLoad);
    let engine = match docker::connect().await {
        Ok(d) => d,
        Err(e) => {
            obs.end(Step::DagLoad, Mark::Failed, "no Docker engine is reachable");
            return DagLoadRun::Failed {
                reason: format!("no Docker engine is reachable ({e})"),
            };
        }
    };
    let recipe = execute::image::Recipe::airflow(&cfg.runner);
    let image = match ensure_recipe_image(&engine, cfg, &recipe, obs, Step::DagLoad).await {
        Ok(tag) => tag,
        Err(e) => {
            obs.end(Step::DagLoad, Mark::Failed, &e.to_string());
            return DagLoadRun::Failed {
                reason: format!("the airflow runner image is not available ({e})"),
            };
        }
    };
    let src_dir = spec
        .src
        .as_ref()
        .map(|s| input.submission_root.join(s))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()));
    let loaded = load_dags(
        &engine,
        &image,
        &cfg.execute,
        DagLoadInput {
            dags_dir: &dags_dir,
            src_dir: src_dir.as_deref(),
        },
        &DagLoadOptions::default(),
    )
    .await;
    match loaded {
        Ok(f) => {
            let detail = match f.best() {
                Some(a) => format!(
                    "{} DAG(s), {} import error(s) on Airflow {}",
                    a.dags.len(),
                    a.import_errors.len(),
                    a.airflow_version.as_deref().unwrap_or("?")
                ),
                None => "no Airflow could load the folder".into(),
            };
            let ok = f
                .best()
                .is_some_and(|a| !a.dags.is_empty() && a.import_errors.is_empty());
            obs.end(
                Step::DagLoad,
                if ok { Mark::Ok } else { Mark::Failed },
                &detail,
            );
            DagLoadRun::Loaded(f)
        }
        Err(e) => {
            obs.end(Step::DagLoad, Mark::Failed, &e.to_string());
            if e.is_the_submissions() {
                DagLoadRun::EndedBySubmission {
                    reason: e.to_string(),
                }
            } else {
                DagLoadRun::Failed {
                    reason: e.to_string(),
                }
            }
        }
    }
}
