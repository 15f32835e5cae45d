use super::support::{self as s};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Each contract model's primary key (`keys`, as `model.column`, from the
    /// exercise's grain table) is tested both `unique` and `not_null` in the
    /// candidate's YAML. dbt's own tests, `dbt_utils.unique_combination_of_columns`
    /// over that single column, and dbt_expectations' `expect_column_values_to_be_unique`
    /// / `expect_column_values_to_not_be_null` all count. Models that do not exist
    /// are left to `dbt.contract_models`.
    ///
    /// ## Why it matters
    /// A grain nobody tests breaks silently: one bad join doubles every row and
    /// every sum downstream. The two tests cost a line each.
    ///
    /// ## How to pass
    /// `data_tests: [unique, not_null]` under the key column of every model.
    pub struct PrimaryKeyTests {
        id: "dbt.primary_key_tests",
        title: "Primary keys tested unique and not_null",
        confidence: Static,
    }
}

impl Check for PrimaryKeyTests {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let keys = match s::model_columns(cx.params, "keys") {
            Ok(k) => k,
            Err(e) => return s::param_error(meta, e),
        };
        let present: Vec<&(String, String)> = keys
            .iter()
            .filter(|(m, _)| s::candidate_model(p, m).is_some())
            .collect();
        if present.is_empty() {
            return s::result(
                meta,
                Outcome::NotAttempted,
                "none of the contract models exists",
                vec![],
            );
        }
        let mut total = 0.0;
        let mut evidence = Vec::new();
        for (model, column) in &present {
            let tests = s::tests_on(p, model, column);
            let unique = tests.iter().find(|(_, _, t)| s::is_unique_test(t, column));
            let not_null = tests.iter().find(|(_, _, t)| s::is_not_null_test(t));
            let (score, what) = match (unique, not_null) {
                (Some(_), Some(_)) => (1.0, "unique and not_null"),
                (Some(_), None) => (0.5, "unique only"),
                (None, Some(_)) => (0.5, "not_null only"),
                (None, None) => (0.0, "untested"),
            };
            total += score;
            match unique.or(not_null) {
                Some((file, line, _)) => evidence.push(s::test_evidence(
                    file,
                    *line,
                    format!("`{model}.{column}`: {what}"),
                )),
                None => evidence.push(Evidence::note(format!("`{model}.{column}`: untested"))),
            }
        }
        let fraction = total / present.len() as f64;
        s::result(
            meta,
            Outcome::from_fraction(fraction),
            format!("{total} of {} primary keys fully tested", present.len()),
            evidence,
        )
    }
}
