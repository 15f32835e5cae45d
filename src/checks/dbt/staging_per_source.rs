use super::support::{self as s};
use crate::analyse::dbt::Layer;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Every source table the rubric lists (`tables`) has a staging model the
    /// candidate wrote: a model in the staging layer (by folder such as `staging/`
    /// or `bronze/`, by prefix such as `stg_`, or because it reads only sources)
    /// that reads that source table. A staging model that only passes the source
    /// through (`select *` of it) earns `passthrough_credit`. The starter's
    /// example model earns nothing.
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
        let passthrough = match cx.params.float("passthrough_credit") {
            Ok(v) if (0.0..=1.0).contains(&v) => v,
            Ok(_) => {
                return s::result(
                    meta,
                    Outcome::Error,
                    "the rubric's `passthrough_credit` must be within 0..1",
                    vec![],
                )
            }
            Err(e) => return s::param_error(meta, e),
        };
        let mut found = 0.0;
        let mut evidence = Vec::new();
        let mut missing = Vec::new();
        for t in &tables {
            let staging: Vec<_> = p
                .models
                .iter()
                .filter(|m| {
                    m.candidate
                        && m.layer == Some(Layer::Staging)
                        && m.sources
                            .iter()
                            .any(|src| src.rsplit('.').next() == Some(t.as_str()))
                })
                .collect();
            // A model that names its columns does staging work; a `select *`
            // straight from the source is a staging model in name only.
            let names_columns = |m: &&&crate::analyse::dbt::ModelFacts| {
                m.sql.as_ref().is_some_and(|f| f.output_columns().is_some())
            };
            let hit = staging
                .iter()
                .find(names_columns)
                .map(|m| (m, 1.0))
                .or_else(|| staging.first().map(|m| (m, passthrough)));
            match hit {
                Some((m, credit)) => {
                    found += credit;
                    let note = if credit < 1.0 {
                        format!("stages `{t}` with a bare select * of the source")
                    } else {
                        format!("stages `{t}`")
                    };
                    evidence.push(Evidence::at(m.path.as_str(), None, note));
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
        let outcome = if found == 0.0 {
            Outcome::NotAttempted
        } else {
            Outcome::from_fraction(found / tables.len() as f64)
        };
        s::result(
            meta,
            outcome,
            format!("{found} of {} source tables staged", tables.len()),
            evidence,
        )
    }
}
