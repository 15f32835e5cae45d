use serde_json::json;

use super::support::{self as s};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// The candidate wrote singular tests (SQL files under the test paths) that
    /// mean something: each reads a model or source and returns rows only under a
    /// condition on its columns. `select 1 where false` or a query with no
    /// condition does not count. The rubric sets how many are expected (`min_tests`).
    ///
    /// ## Why it matters
    /// Generic tests check one column at a time. The traps of this exercise
    /// (confirmations before creation, seller GMV not adding up to total GMV,
    /// payments doubled) need business-rule tests that span rows and models.
    ///
    /// ## How to pass
    /// `tests/assert_no_order_confirmed_before_created.sql`:
    /// `select order_id from {{ ref('fct_orders') }} where confirmed_at_utc < created_at_utc`.
    pub struct SingularTests {
        id: "dbt.singular_tests",
        title: "Meaningful singular tests",
        confidence: Static,
    }
}

impl Check for SingularTests {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let min = match cx.params.int("min_tests") {
            Ok(n) if n > 0 => n as f64,
            Ok(_) => {
                return s::result(
                    meta,
                    Outcome::Error,
                    "the rubric's `min_tests` must be positive",
                    vec![],
                )
            }
            Err(e) => return s::param_error(meta, e),
        };
        let mine: Vec<_> = p.singular_tests.iter().filter(|t| t.candidate).collect();
        if mine.is_empty() {
            return s::result(
                meta,
                Outcome::NotAttempted,
                "no singular test written",
                vec![],
            );
        }
        let good = mine.iter().filter(|t| t.meaningful).count();
        let evidence: Vec<Evidence> = mine
            .iter()
            .map(|t| {
                Evidence::at(
                    t.path.as_str(),
                    None,
                    format!(
                        "{}: {}",
                        if t.meaningful {
                            "meaningful"
                        } else {
                            "tests nothing"
                        },
                        t.note
                    ),
                )
            })
            .collect();
        s::result(
            meta,
            Outcome::from_fraction(good as f64 / min),
            format!(
                "{good} meaningful singular test(s) of {} written",
                mine.len()
            ),
            evidence,
        )
        .with_evidence(
            Evidence::note("meaningful tests")
                .with_measured(json!(good))
                .with_expected(json!(min as i64)),
        )
    }
}
