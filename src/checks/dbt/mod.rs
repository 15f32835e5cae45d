//! Checks over the dbt project's facts.

mod contract_models;
mod project_parses;

pub use contract_models::ContractModels;
pub use project_parses::ProjectParses;
