use super::support::{self as s};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// The candidate's source declarations give freshness (`warn_after` or
    /// `error_after`) with a `loaded_at_field`, on the source or per table. The
    /// share of declared tables with freshness is compared with the rubric's
    /// `min_share`; a table that opts out with `freshness: null` (static reference
    /// data) does not count against it.
    ///
    /// ## Why it matters
    /// A loader that silently stops leaves every model green and every number stale.
    /// `dbt source freshness` is the cheapest alarm there is.
    ///
    /// ## How to pass
    /// `freshness: {warn_after: {count: 26, period: hour}}` and
    /// `loaded_at_field: _airbyte_extracted_at` on the `marketplace` source.
    pub struct SourceFreshness {
        id: "dbt.source_freshness",
        title: "Source freshness declared",
        confidence: Static,
    }
}

impl Check for SourceFreshness {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let min_share = match cx.params.float("min_share") {
            Ok(v) if v > 0.0 => v,
            Ok(_) => {
                return s::result(
                    meta,
                    Outcome::Error,
                    "the rubric's `min_share` must be positive",
                    vec![],
                )
            }
            Err(e) => return s::param_error(meta, e),
        };
        let tables: Vec<_> = p
            .sources
            .iter()
            .filter(|t| t.candidate && !t.freshness_opted_out)
            .collect();
        if tables.is_empty() {
            return s::result(
                meta,
                Outcome::NotAttempted,
                "the candidate declared or changed no source",
                vec![],
            );
        }
        let fresh: Vec<_> = tables
            .iter()
            .filter(|t| t.freshness && t.loaded_at_field.is_some())
            .collect();
        let mut evidence: Vec<Evidence> = fresh
            .iter()
            .take(3)
            .map(|t| {
                s::test_evidence(
                    &t.file,
                    t.line,
                    format!(
                        "`{}.{}` freshness on {}",
                        t.source,
                        t.table,
                        t.loaded_at_field.as_deref().unwrap_or("?")
                    ),
                )
            })
            .collect();
        for t in tables
            .iter()
            .filter(|t| t.freshness && t.loaded_at_field.is_none())
        {
            evidence.push(s::test_evidence(
                &t.file,
                t.line,
                format!(
                    "`{}.{}` has freshness but no loaded_at_field",
                    t.source, t.table
                ),
            ));
        }
        let share = fresh.len() as f64 / tables.len() as f64;
        s::result(
            meta,
            Outcome::from_fraction(share / min_share),
            format!(
                "{} of {} source tables declare freshness",
                fresh.len(),
                tables.len()
            ),
            evidence,
        )
    }
}
