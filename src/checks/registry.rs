//! The static list of every check assay knows. The rubric refers to these ids;
//! the invariant tests below keep the list, the docs and the rubric in step.

use super::{code, dag, dbt, design, docs, exec, history, review, Check};

static CHECKS: &[&dyn Check] = &[
    &dag::Retries,
    &dag::RetryDelay,
    &dag::ExecutionTimeout,
    &dag::FailureAlerting,
    &dag::ScheduleCatchup,
    &dag::StaticStartDate,
    &dag::MaxActiveRuns,
    &dag::StageOrder,
    &dag::DbtBuildThenTest,
    &dag::QualityAfterTransform,
    &dag::IdempotentDates,
    &dag::XcomSize,
    &dag::TopLevelWork,
    &dag::HardcodedCredentials,
    &dag::DbtFirst,
    &dag::FilesParse,
    &code::SqlValuesInText,
    &code::SwallowedErrors,
    &code::HttpTimeouts,
    &code::HardcodedCredentials,
    &dbt::ContractModels,
    &dbt::ProjectParses,
    &docs::Monitoring,
    &docs::Scaling,
    &docs::SchemaEvolution,
    &docs::ToolChoices,
    &docs::TrapWriteups,
    &design::ProductionFeatures,
    &dbt::ModelsAnalysed,
    &dbt::PaymentsDedup,
    &dbt::FutureTimestamps,
    &dbt::ConfirmedAtTimezone,
    &dbt::SoftDeletes,
    &dbt::NullCountryCode,
    &dbt::CurrencyByMonth,
    &dbt::EventLogOrder,
    &dbt::OrphanReviews,
    &dbt::PrimaryKeyTests,
    &dbt::RelationshipTests,
    &dbt::AcceptedValues,
    &dbt::SingularTests,
    &dbt::TrapTests,
    &dbt::SourceFreshness,
    &dbt::StagingPerSource,
    &dbt::LayerBoundaries,
    &dbt::LayerNaming,
    &dbt::NoSelectStarInMarts,
    &dbt::NoHardcodedRelations,
    &dbt::MartDescriptions,
    &dbt::IncrementalModels,
    &exec::BuildsCleanly,
    &exec::CandidateTestsPass,
    &exec::DagLoads,
    &exec::HiddenPhase1,
    &exec::HiddenTestsCorrectness,
    &exec::HiddenTestsResilience,
    &exec::HiddenTestsSafety,
    &exec::HiddenPhase2,
    &exec::HiddenPhase3,
    &exec::IdempotentRerun,
    &exec::IncrementalRegressions,
    &history::CommitCadence,
    &history::ExplorationFirst,
    &history::TestsWithModels,
    &history::WorkLog,
    &review::CriticalIssuesFound,
    &review::IssuesFound,
    &review::FalseAlarms,
];

/// Checks that no rubric scores, each with the reason. Everything else must be
/// referenced by every exercise's rubric.
pub static UNUSED_BY_RUBRIC: &[(&str, &str)] = &[
    (
        "dbt.project_parses",
        "a gate: the starter already parses, so passing earns nothing; a broken project is shown in the report",
    ),
    (
        "dag.files_parse",
        "a gate: an import error or a parser crash is shown in the report; the design checks score what the DAG does",
    ),
    (
        "dbt.models_analysed",
        "a report of what assay could not read; the checks that needed those files say so themselves",
    ),
];

pub fn all() -> &'static [&'static dyn Check] {
    CHECKS
}

pub fn find(id: &str) -> Option<&'static dyn Check> {
    CHECKS.iter().copied().find(|c| c.meta().id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = BTreeSet::new();
        for check in all() {
            let id = check.meta().id;
            assert!(seen.insert(id), "duplicate check id {id}");
            let (family, name) = id
                .split_once('.')
                .unwrap_or_else(|| panic!("{id} has no family prefix"));
            assert!(!family.is_empty() && !name.is_empty(), "{id}");
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.' || c.is_ascii_digit()),
                "{id}"
            );
        }
    }

    #[test]
    fn every_check_is_documented_in_the_fixed_sections() {
        for check in all() {
            let meta = check.meta();
            for section in ["What it checks", "Why it matters", "How to pass"] {
                let text = meta
                    .doc_section(section)
                    .unwrap_or_else(|| panic!("{} lacks the section `{section}`", meta.id));
                assert!(
                    text.len() > 20,
                    "{}: section `{section}` is too thin",
                    meta.id
                );
            }
            assert!(!meta.title.is_empty());
        }
    }

    #[test]
    fn each_check_lives_in_its_family_folder() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/checks");
        for check in all() {
            let (family, name) = check.meta().id.split_once('.').unwrap();
            let file = root.join(family).join(format!("{name}.rs"));
            assert!(
                file.is_file(),
                "{} should live in {}",
                check.meta().id,
                file.display()
            );
        }
    }

    #[test]
    fn unused_entries_name_real_checks() {
        for (id, reason) in UNUSED_BY_RUBRIC {
            assert!(
                find(id).is_some(),
                "{id} is listed as unused but does not exist"
            );
            assert!(!reason.is_empty());
        }
    }
}
