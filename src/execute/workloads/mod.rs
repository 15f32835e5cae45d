//! Workloads: what a pack asks the sandbox to run. The dbt phases
//! (`crate::exec_stage`), the pack's hidden Python tests, and (with Airflow)
//! loading the candidate's DAGs.

pub mod python_tests;
