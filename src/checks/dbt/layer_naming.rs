use super::support::{self as s};
use crate::analyse::dbt::Layer;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Each model the candidate wrote sits in a layer that both its folder and its
    /// name say: `staging/` or `bronze/` with `stg_`/`brz_`, `intermediate/` or
    /// `silver/` with `int_`/`slv_`, `marts/` or `gold/` with `fct_`/`dim_`/`mart_`.
    /// A model whose folder and prefix agree scores 1, one with only one of them
    /// scores half, one where they disagree or neither is known scores 0.
    ///
    /// ## Why it matters
    /// Layer names are how a dbt team finds things and how selectors
    /// (`dbt build -s marts`) work. A `fct_` model in `staging/` misleads everyone.
    ///
    /// ## How to pass
    /// Pick one layout (staging/intermediate/marts or bronze/silver/gold) and name
    /// each model with its layer's prefix.
    pub struct LayerNaming {
        id: "dbt.layer_naming",
        title: "Folders and names agree on each model's layer",
        confidence: Static,
    }
}

impl Check for LayerNaming {
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
        let name = |l: Option<Layer>| match l {
            Some(Layer::Staging) => "staging",
            Some(Layer::Intermediate) => "intermediate",
            Some(Layer::Mart) => "mart",
            None => "none",
        };
        let mut total = 0.0;
        let mut evidence = Vec::new();
        for m in &models {
            let score = match (m.folder_layer, m.prefix_layer) {
                (Some(a), Some(b)) if a == b => 1.0,
                (Some(_), Some(_)) => 0.0,
                (Some(_), None) | (None, Some(_)) => 0.5,
                (None, None) => 0.0,
            };
            total += score;
            if score < 1.0 {
                evidence.push(Evidence::at(
                    m.path.as_str(),
                    None,
                    format!(
                        "folder says {}, name says {}",
                        name(m.folder_layer),
                        name(m.prefix_layer)
                    ),
                ));
            }
        }
        let fraction = total / models.len() as f64;
        if evidence.is_empty() {
            evidence.push(Evidence::note(format!(
                "all {} models are named for the layer they sit in",
                models.len()
            )));
        }
        s::result(
            meta,
            Outcome::from_fraction(fraction),
            format!(
                "layer naming consistent for {:.0} % of models",
                fraction * 100.0
            ),
            evidence,
        )
    }
}
