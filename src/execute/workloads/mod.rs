//! Workloads other than the dbt grade that run in the sandbox.

pub mod dag_load;
