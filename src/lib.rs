//! assay grades data-engineering take-home exercises: it reads the candidate's
//! Airflow DAG and dbt project, runs the pipeline on seeded data whose right
//! answers are known, and scores five dimensions with evidence for every claim.
//!
//! The data flows one way: [`acquire`] → [`inventory`] → analyse → execute →
//! [`checks`] → [`score`] → [`report`]; [`grade`] runs the whole path.
#![forbid(unsafe_code)]

pub mod acquire;
pub mod analyse;
pub mod batch;
pub mod calibrate;
pub mod checks;
pub mod claims;
pub mod config;
pub mod contained;
pub mod doctor;
pub mod evidence;
pub mod execute;
pub mod exercise;
pub mod facts;
pub mod generate;
pub mod grade;
pub mod history;
pub mod inert;
pub mod inventory;
pub mod outdir;
pub mod packs;
pub mod progress;
pub mod report;
pub mod rubric;
pub mod score;
pub mod suggest;
pub mod term;
pub mod yaml;
