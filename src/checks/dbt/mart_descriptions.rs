use super::support::{self as s};
use crate::analyse::dbt::Layer;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Each mart the candidate wrote has a description, and so do its columns: the
    /// columns its SQL outputs (or, when those cannot be read, the columns its YAML
    /// lists). Model descriptions weigh `model_weight` of the score, column
    /// descriptions the rest.
    ///
    /// ## Why it matters
    /// Marts are read by people who did not build them. "gmv_usd" means nothing
    /// until it says which orders count and at which rate.
    ///
    /// ## How to pass
    /// A `description:` for every mart and every column in its properties file.
    pub struct MartDescriptions {
        id: "dbt.mart_descriptions",
        title: "Marts and their columns described",
        confidence: Static,
    }
}

impl Check for MartDescriptions {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let weight = match cx.params.float("model_weight") {
            Ok(w) if (0.0..=1.0).contains(&w) => w,
            Ok(_) => {
                return s::result(
                    meta,
                    Outcome::Error,
                    "the rubric's `model_weight` must be within 0..1",
                    vec![],
                )
            }
            Err(e) => return s::param_error(meta, e),
        };
        let marts: Vec<_> = p
            .models
            .iter()
            .filter(|m| m.candidate && m.layer == Some(Layer::Mart))
            .collect();
        if marts.is_empty() {
            return s::result(
                meta,
                Outcome::NotAttempted,
                "the candidate wrote no mart",
                vec![],
            );
        }
        let mut described_models = 0;
        let mut cols_total = 0;
        let mut cols_described = 0;
        let mut evidence = Vec::new();
        for m in &marts {
            let y = p
                .yaml_models
                .iter()
                .find(|y| y.name == m.name && y.candidate);
            if y.and_then(|y| y.description.as_ref()).is_some() {
                described_models += 1;
            }
            let outputs: Vec<String> = m
                .sql
                .as_ref()
                .and_then(|f| f.output_columns())
                .map(|c| c.into_iter().filter_map(|c| c.name).collect())
                .unwrap_or_else(|| {
                    y.map(|y| y.columns.iter().map(|c| c.name.clone()).collect())
                        .unwrap_or_default()
                });
            let described = outputs
                .iter()
                .filter(|c| {
                    y.is_some_and(|y| {
                        y.columns
                            .iter()
                            .any(|yc| yc.name == **c && yc.description.is_some())
                    })
                })
                .count();
            cols_total += outputs.len();
            cols_described += described;
            let (file, line) = y
                .map(|y| (y.file.as_str(), y.line))
                .unwrap_or((m.path.as_str(), None));
            evidence.push(s::test_evidence(
                file,
                line,
                format!(
                    "`{}`: {}, {described} of {} columns described",
                    m.name,
                    if y.and_then(|y| y.description.as_ref()).is_some() {
                        "described"
                    } else {
                        "no description"
                    },
                    outputs.len()
                ),
            ));
        }
        let model_share = described_models as f64 / marts.len() as f64;
        let col_share = if cols_total == 0 {
            0.0
        } else {
            cols_described as f64 / cols_total as f64
        };
        let score = weight * model_share + (1.0 - weight) * col_share;
        let _ = Evidence::note("");
        s::result(meta, Outcome::from_fraction(score), format!("{described_models} of {} marts and {cols_described} of {cols_total} columns described", marts.len()), evidence)
    }
}
