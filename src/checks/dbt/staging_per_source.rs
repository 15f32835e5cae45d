use super::support::{self as s};
use crate::analyse::dbt::Layer;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Every source table the rubric lists (`tables`) has a staging model the
    /// candidate wrote: a model in the staging layer (by folder such as `staging/`
    /// or `bronze/`, by prefix such as `stg_`, or because it reads only sources)
    /// that reads that source table. The starter's example model earns nothing.
    ///
    /// ## Why it matters
    /// One staging model per source table is where renaming, typing and the
    /// source's quirks are handled once; marts that read raw tables repeat (or forget)
    /// that work in every query.
    ///
    /// ## How to pass
    /// `models/staging/stg_<table>.sql` for each of the nine tables, each reading
    /// `{{ source('marketplace', '<table>') }}`.
    pub struct StagingPerSource {
        id: "dbt.staging_per_source",
        title: "One staging model per source table",
        confidence: Static,
    }
}

impl Check for StagingPerSource {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let tables = match s::list(cx.params, "tables") {
            Ok(t) if !t.is_empty() => t,
            Ok(_) => {
                return s::result(
                    meta,
                    Outcome::Error,
                    "the rubric lists no source tables",
                    vec![],
                )
            }
            Err(e) => return s::param_error(meta, e),
        };
        let mut found = 0;
        let mut evidence = Vec::new();
        let mut missing = Vec::new();
        for t in &tables {
            let hit = p.models.iter().find(|m| {
                m.candidate
                    && m.layer == Some(Layer::Staging)
                    && m.sources
                        .iter()
                        .any(|src| src.rsplit('.').next() == Some(t.as_str()))
            });
            match hit {
                Some(m) => {
                    found += 1;
                    evidence.push(Evidence::at(m.path.as_str(), None, format!("stages `{t}`")));
                }
                None => missing.push(t.clone()),
            }
        }
        if !missing.is_empty() {
            evidence.push(Evidence::note(format!(
                "no staging model for: {}",
                missing.join(", ")
            )));
        }
        let outcome = if found == 0 {
            Outcome::NotAttempted
        } else {
            Outcome::from_fraction(found as f64 / tables.len() as f64)
        };
        s::result(
            meta,
            outcome,
            format!("{found} of {} source tables staged", tables.len()),
            evidence,
        )
    }
}
