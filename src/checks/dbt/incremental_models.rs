use super::support::{self as s};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Every incremental model the candidate wrote (materialized `incremental` by
    /// `config()` or by its folder in dbt_project.yml) has a `unique_key`, so that
    /// re-processed rows merge instead of duplicating, and filters its
    /// `is_incremental()` branch on a high-water mark read from `{{ this }}`. Each
    /// half earns half of a model's share. Whether that watermark can be stalled is
    /// judged by `dbt.future_timestamps`.
    ///
    /// ## Why it matters
    /// An incremental model without a unique key appends every re-delivered row
    /// again; one without a filter re-reads everything and is incremental in name
    /// only.
    ///
    /// ## How to pass
    /// `config(materialized='incremental', unique_key='order_id',
    /// incremental_strategy='merge')` and `where _airbyte_extracted_at >= (select
    /// max(_airbyte_extracted_at) from {{ this }})` under `{% if is_incremental() %}`.
    pub struct IncrementalModels {
        id: "dbt.incremental_models",
        title: "Incremental models merge on a key from a watermark",
        confidence: Static,
    }
}

impl Check for IncrementalModels {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let models: Vec<_> = p
            .models
            .iter()
            .filter(|m| m.candidate && m.is_incremental())
            .collect();
        if models.is_empty() {
            return s::result(
                meta,
                Outcome::NotAttempted,
                "the candidate wrote no incremental model",
                vec![],
            );
        }
        let mut total = 0.0;
        let mut evidence = Vec::new();
        for m in &models {
            let key = m.config.unique_key.as_ref().filter(|k| !k.is_empty());
            let mark = m
                .incremental_sql
                .iter()
                .flat_map(|f| f.reachable_scopes())
                .flat_map(|sc| sc.watermarks.iter())
                .next();
            total += if key.is_some() { 0.5 } else { 0.0 } + if mark.is_some() { 0.5 } else { 0.0 };
            let line = m.line_of("materialized", 1);
            evidence.push(s::test_evidence(
                &m.path,
                line,
                format!(
                    "unique_key {}; watermark {}",
                    key.map(|k| k.join(", "))
                        .unwrap_or_else(|| "missing".into()),
                    mark.map(|w| format!("`{}`", w.text))
                        .unwrap_or_else(|| "missing".into())
                ),
            ));
        }
        let _ = Evidence::note("");
        s::result(
            meta,
            Outcome::from_fraction(total / models.len() as f64),
            format!("{} incremental model(s)", models.len()),
            evidence,
        )
    }
}
