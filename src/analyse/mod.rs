//! Analysers turn a submission's files into facts that checks read: the Airflow
//! DAG through tree-sitter-python, the dbt project through a YAML parser, a Jinja
//! engine and sqlparser. Parsers that can abort run through [`crate::contained`].

pub mod code;
pub mod dag;
pub mod dbt;
pub mod docs;
pub mod review;
