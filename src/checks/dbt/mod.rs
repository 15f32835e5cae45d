//! Checks over the dbt project's facts: the traps of the data (T1-T8), the tests
//! that guard them, and the structure a dbt team expects.
//!
//! Which checks look for each trap of the exercise (SPEC section 2):
//!
//! | trap | handling read from the code | guarded by |
//! |---|---|---|
//! | T1 duplicate payment events | `dbt.payments_dedup` | `dbt.primary_key_tests` (event_id unique), `dbt.singular_tests` |
//! | T2 future updated_at | `dbt.future_timestamps` | `dbt.incremental_models` |
//! | T3 naive confirmed_at | `dbt.confirmed_at_timezone` | `dbt.singular_tests` (confirmed before created) |
//! | T4 soft deletes | `dbt.soft_deletes` | `dbt.primary_key_tests` (dim_users) |
//! | T5 NULL country_code | `dbt.null_country_code` | |
//! | T6 multi-currency | `dbt.currency_by_month` | `dbt.accepted_values` |
//! | T7 out-of-order events | `dbt.event_log_order` | |
//! | T8 orphan reviews | `dbt.orphan_reviews` | `dbt.relationship_tests` |
//!
//! Every trap check follows lineage: the handling counts only in a CTE the final
//! select reaches, in a model on the path from the trap's source table to the
//! contract models, and only in files the candidate wrote.

mod accepted_values;
mod confirmed_at_timezone;
mod contract_models;
mod currency_by_month;
mod event_log_order;
mod future_timestamps;
mod incremental_models;
mod layer_boundaries;
mod layer_naming;
mod mart_descriptions;
mod models_analysed;
mod no_hardcoded_relations;
mod no_select_star_in_marts;
mod null_country_code;
mod orphan_reviews;
mod payments_dedup;
mod primary_key_tests;
mod project_parses;
mod relationship_tests;
mod singular_tests;
mod soft_deletes;
mod source_freshness;
mod staging_per_source;
mod support;
mod trap_tests;

pub use accepted_values::AcceptedValues;
pub use confirmed_at_timezone::ConfirmedAtTimezone;
pub use contract_models::ContractModels;
pub use currency_by_month::CurrencyByMonth;
pub use event_log_order::EventLogOrder;
pub use future_timestamps::FutureTimestamps;
pub use incremental_models::IncrementalModels;
pub use layer_boundaries::LayerBoundaries;
pub use layer_naming::LayerNaming;
pub use mart_descriptions::MartDescriptions;
pub use models_analysed::ModelsAnalysed;
pub use no_hardcoded_relations::NoHardcodedRelations;
pub use no_select_star_in_marts::NoSelectStarInMarts;
pub use null_country_code::NullCountryCode;
pub use orphan_reviews::OrphanReviews;
pub use payments_dedup::PaymentsDedup;
pub use primary_key_tests::PrimaryKeyTests;
pub use project_parses::ProjectParses;
pub use relationship_tests::RelationshipTests;
pub use singular_tests::SingularTests;
pub use soft_deletes::SoftDeletes;
pub use source_freshness::SourceFreshness;
pub use staging_per_source::StagingPerSource;
pub use trap_tests::TrapTests;

#[cfg(test)]
mod tests;
