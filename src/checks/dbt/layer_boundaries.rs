use super::support::{self as s};
use crate::analyse::dbt::Layer;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// The candidate's models respect their layers: a staging model (staging/,
    /// bronze/, `stg_`) reads only sources and seeds, never other models; a mart
    /// (marts/, gold/, `fct_`, `dim_`, `mart_`) never reads a source directly. Each model
    /// that crosses a boundary costs the rubric's `penalty_per_violation` (a share
    /// of the criterion).
    ///
    /// ## Why it matters
    /// A mart that reads a raw table bypasses the dedup, the time-zone fix and the
    /// soft-delete flag of staging; a staging model that reads another model hides
    /// a dependency where nobody looks for it.
    ///
    /// ## How to pass
    /// Sources only in staging; marts read `ref()`s of staging or intermediate
    /// models.
    pub struct LayerBoundaries {
        id: "dbt.layer_boundaries",
        title: "Staging reads only sources; marts never read sources",
        confidence: Static,
    }
}

impl Check for LayerBoundaries {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let penalty = match cx.params.float("penalty_per_violation") {
            Ok(v) if v > 0.0 => v,
            Ok(_) => {
                return s::result(
                    meta,
                    Outcome::Error,
                    "the rubric's `penalty_per_violation` must be positive",
                    vec![],
                )
            }
            Err(e) => return s::param_error(meta, e),
        };
        let models: Vec<_> = p
            .models
            .iter()
            .filter(|m| m.candidate && matches!(m.layer, Some(Layer::Staging | Layer::Mart)))
            .collect();
        if models.is_empty() {
            return s::result(
                meta,
                Outcome::NotAttempted,
                "the candidate wrote no staging or mart model",
                vec![],
            );
        }
        let mut evidence = Vec::new();
        let mut bad = 0;
        for m in &models {
            let model_refs: Vec<&String> = m.refs.iter().filter(|r| p.model(r).is_some()).collect();
            let problem = match m.layer {
                Some(Layer::Staging) if !model_refs.is_empty() => Some(format!(
                    "staging model reads other models: {}",
                    model_refs
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Some(Layer::Mart) if !m.sources.is_empty() => Some(format!(
                    "mart reads sources directly: {}",
                    m.sources.join(", ")
                )),
                _ => None,
            };
            if let Some(note) = problem {
                bad += 1;
                let line = m.line_of("source(", 1).or_else(|| m.line_of("ref(", 1));
                evidence.push(s::test_evidence(&m.path, line, note));
            }
        }
        let share = (1.0 - penalty * bad as f64).max(0.0);
        if bad == 0 {
            evidence.push(Evidence::note(format!(
                "{} staging and mart models keep to their layer",
                models.len()
            )));
        }
        s::result(
            meta,
            Outcome::from_fraction(share),
            format!("{bad} of {} models cross a layer boundary", models.len()),
            evidence,
        )
    }
}
