//! Workloads: what a pack asks the sandbox to run, read from
//! `fixtures/<id>/workloads.toml` ([`Workloads::of`]). A pack without the file
//! is a dbt exercise: its dbt phases run, as they always have.
//!
//! - [`dbt`]: the dbt phases (load each snapshot, `dbt build`, the hidden
//!   checks' queries), with the pack's hidden checks and the dbt packages;
//! - [`python_tests`]: the pack's hidden pytest files run against the
//!   candidate's code;
//! - [`dag_load`]: the candidate's DAG folder loaded by Airflow's own DagBag.
//!
//! The execution stage ([`crate::execute::stage`]) picks the pack's workloads
//! and runs them.

pub mod dag_load;
pub mod dbt;
pub mod python_tests;

use std::path::{Path, PathBuf};

use serde::Deserialize;

const FILE_NAME: &str = "workloads.toml";

#[derive(Debug, Clone, PartialEq)]
pub struct Workloads {
    /// Load each snapshot, `dbt build`, hidden-check queries (three phases).
    pub dbt_phases: bool,
    pub python_tests: Option<PythonTests>,
    pub dag_load: Option<DagLoad>,
}

/// The candidate's DAG folder, loaded by Airflow's own DagBag.
#[derive(Debug, Clone, PartialEq)]
pub struct DagLoad {
    /// Relative to the submission root.
    pub dags: String,
    /// The candidate's package the DAGs import (on the Python path), if any.
    pub src: Option<String>,
}

/// A pack's hidden pytest files, run against the submission's code.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonTests {
    pub dir: PathBuf,
    pub timeout_secs: u64,
    pub clock: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {detail}")]
pub struct WorkloadsError {
    pub path: PathBuf,
    pub detail: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    dbt_phases: Option<toml::Table>,
    #[serde(default)]
    python_tests: Option<RawPythonTests>,
    #[serde(default)]
    dag_load: Option<RawDagLoad>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDagLoad {
    dags: String,
    #[serde(default)]
    src: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPythonTests {
    dir: String,
    timeout_secs: u64,
    #[serde(default)]
    clock: Option<String>,
}

impl Workloads {
    /// The workloads of the pack in `pack_dir`.
    pub fn of(pack_dir: &Path) -> Result<Workloads, WorkloadsError> {
        let path = pack_dir.join(FILE_NAME);
        let err = |detail: String| WorkloadsError {
            path: path.clone(),
            detail,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Workloads {
                    dbt_phases: true,
                    python_tests: None,
                    dag_load: None,
                })
            }
            Err(e) => return Err(err(e.to_string())),
        };
        let raw: Raw = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let python_tests = match raw.python_tests {
            None => None,
            Some(p) => {
                let rel = Path::new(&p.dir);
                if rel.is_absolute() || rel.components().any(|c| c.as_os_str() == "..") {
                    return Err(err(format!("python_tests.dir `{}` leaves the pack", p.dir)));
                }
                let dir = pack_dir.join(rel);
                if !dir.is_dir() {
                    return Err(err(format!("python_tests.dir `{}` is not a folder", p.dir)));
                }
                if p.timeout_secs == 0 {
                    return Err(err("python_tests.timeout_secs must be above 0".into()));
                }
                Some(PythonTests {
                    dir,
                    timeout_secs: p.timeout_secs,
                    clock: p.clock,
                })
            }
        };
        let inside = |p: &str| {
            let rel = Path::new(p);
            !p.is_empty() && rel.is_relative() && !rel.components().any(|c| c.as_os_str() == "..")
        };
        let dag_load = match raw.dag_load {
            None => None,
            Some(d) => {
                if !inside(&d.dags) || d.src.as_deref().is_some_and(|s| !inside(s)) {
                    return Err(err(
                        "dag_load folders must be relative and inside the submission".into(),
                    ));
                }
                Some(DagLoad {
                    dags: d.dags,
                    src: d.src,
                })
            }
        };
        Ok(Workloads {
            dbt_phases: raw.dbt_phases.is_some(),
            python_tests,
            dag_load,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_declare_their_workloads_and_a_pack_without_the_file_builds_dbt() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let dbt = Workloads::of(&root.join("marketplace-elt")).unwrap();
        assert!(dbt.dbt_phases && dbt.python_tests.is_none());
        let py = Workloads::of(&root.join("aviationstack-screening")).unwrap();
        assert!(!py.dbt_phases);
        let tests = py
            .python_tests
            .expect("the aviation pack runs its hidden tests");
        assert!(tests.dir.join("conftest.py").is_file());
    }

    #[test]
    fn a_tests_folder_outside_the_pack_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            "[python_tests]\ndir = \"../elsewhere\"\ntimeout_secs = 10\n",
        )
        .unwrap();
        let e = Workloads::of(dir.path()).unwrap_err();
        assert!(e.detail.contains("leaves the pack"), "{e}");
    }
}
