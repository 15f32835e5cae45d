//! Workloads: what a pack asks the sandbox to run. The dbt phases
//! (`crate::exec_stage`), the pack's hidden Python tests, and loading the
//! candidate's DAGs with Airflow's own DagBag.

pub mod dag_load;
pub mod python_tests;
