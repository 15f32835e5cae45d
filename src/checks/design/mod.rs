//! System Design read from the code: the production features a senior engineer
//! builds rather than describes (alerting, quality gates before publication,
//! source freshness, SLAs, schema-change handling). Each is read from the DAG and
//! dbt facts the analysers prepared, with the file and line that shows it.

mod production_features;

pub use production_features::ProductionFeatures;
