use super::support::{self as s};
use crate::analyse::dbt::RelKind;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// No model the candidate wrote reads a relation by its name (`raw.orders`,
    /// `analytics.fct_orders`) instead of `ref()` or `source()`, in a CTE the final
    /// select reaches. Names of CTEs are not relations and do not count.
    ///
    /// ## Why it matters
    /// dbt builds in dependency order only from refs and sources. A hard-coded name
    /// reads whatever happens to be in that schema (yesterday's table, another
    /// developer's), breaks on another target, and is invisible in lineage.
    ///
    /// ## How to pass
    /// `{{ source('marketplace', 'orders') }}` and `{{ ref('stg_orders') }}`
    /// everywhere.
    pub struct NoHardcodedRelations {
        id: "dbt.no_hardcoded_relations",
        title: "Relations read through ref() and source()",
        confidence: Static,
    }
}

impl Check for NoHardcodedRelations {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let models: Vec<_> = p.models.iter().filter(|m| m.candidate).collect();
        if models.is_empty() {
            return s::result(
                meta,
                Outcome::NotAttempted,
                "the candidate wrote no model",
                vec![],
            );
        }
        let mut bad_models = std::collections::BTreeSet::new();
        let (live, _) = s::scan(&models, |_, scope| {
            scope
                .relations
                .iter()
                .find(|r| r.kind == RelKind::Table)
                .map(|r| {
                    (
                        format!("reads `{}` by name", r.name),
                        Some(r.name.rsplit('.').next().unwrap_or(&r.name).to_string()),
                    )
                })
        });
        let mut evidence = Vec::new();
        for h in &live {
            if bad_models.insert(h.model.path.clone()) {
                evidence.push(h.evidence());
            }
        }
        if evidence.is_empty() {
            evidence.push(Evidence::note(format!(
                "all {} models read through ref() and source()",
                models.len()
            )));
        }
        let share = (models.len() - bad_models.len()) as f64 / models.len() as f64;
        s::result(
            meta,
            Outcome::from_fraction(share),
            format!(
                "{} of {} models hard-code a relation",
                bad_models.len(),
                models.len()
            ),
            evidence,
        )
    }
}
