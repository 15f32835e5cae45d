use super::soft_deletes::constant_or_handled;
use super::support::{self as s, any_col};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// Trap T5 (missing values). On the path from the users source to the rubric's
    /// `targets` (dim_users), a live CTE or final select handles a NULL `column`
    /// (country_code) explicitly: COALESCE / IFNULL / NVL into a sentinel, or an
    /// IS NULL flag or CASE. A target column that is a constant fails.
    ///
    /// ## Why it matters
    /// 6-10 % of users have no country. Left NULL they vanish from every group-by
    /// and join on country, and the contract says dim_users.country_code is never NULL.
    ///
    /// ## How to pass
    /// `coalesce(country_code, 'ZZ') as country_code` (a value that is no real
    /// country) with a `not_null` test, optionally with an `is_country_unknown` flag.
    pub struct NullCountryCode {
        id: "dbt.null_country_code",
        title: "NULL country_code handled explicitly",
        confidence: Static,
    }
}

impl Check for NullCountryCode {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let (table, column, targets) = match (
            s::string(cx.params, "source_table"),
            s::string(cx.params, "column"),
            s::list(cx.params, "targets"),
        ) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return s::param_error(meta, e),
        };
        constant_or_handled(meta, p, &table, &column, &targets, &column, |scope| {
            if any_col(&scope.coalesced, &column) {
                Some(format!("coalesces NULL {column}"))
            } else if any_col(&scope.null_checked, &column) {
                Some(format!("tests {column} for NULL"))
            } else {
                None
            }
        })
    }
}
