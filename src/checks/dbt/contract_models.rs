use serde_json::json;

use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Each model that the exercise's contract names (for marketplace-elt: the
    /// staging, fact, dimension and mart models of SPEC section 4) exists as a model
    /// file the candidate wrote. The rubric lists the contract's model names.
    ///
    /// ## Why it matters
    /// The hidden checks and the analysts downstream find models by name. A model
    /// under another name is invisible to them, and a contract model left out is
    /// work not done. Starter files left unchanged earn nothing here.
    ///
    /// ## How to pass
    /// Create every contract model with exactly the contract's name, for example
    /// `models/marts/fct_orders.sql`, in any folder under the project's model paths.
    pub struct ContractModels {
        id: "dbt.contract_models",
        title: "Contract models exist under their contract names",
        confidence: Static,
    }
}

impl Check for ContractModels {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let id = self.meta().id;
        let wanted = match cx.params.string_list("models") {
            Ok(list) if !list.is_empty() => list,
            Ok(_) => {
                return CheckResult::new(
                    id,
                    Outcome::Error,
                    Self::META.confidence,
                    "the rubric lists no contract models",
                )
            }
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let inventory = &cx.facts.inventory;
        let models: Vec<&String> = inventory
            .dbt_projects
            .iter()
            .flat_map(|p| p.models.iter())
            .collect();
        if inventory.dbt_projects.is_empty() {
            return CheckResult::new(
                id,
                Outcome::NotAttempted,
                Self::META.confidence,
                "the submission has no dbt project (no dbt_project.yml)",
            );
        }
        let mut evidence = Vec::new();
        let mut missing = Vec::new();
        let mut found = 0usize;
        for name in &wanted {
            let hit = models
                .iter()
                .find(|path| model_name(path) == name && inventory.is_candidate_work(path));
            match hit {
                Some(path) => {
                    found += 1;
                    evidence.push(Evidence::at(
                        path.as_str(),
                        None,
                        format!("contract model `{name}`"),
                    ));
                }
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            evidence.push(
                Evidence::note(format!("missing: {}", missing.join(", ")))
                    .with_measured(json!(found))
                    .with_expected(json!(wanted.len())),
            );
        }
        let outcome = if found == 0 {
            Outcome::NotAttempted
        } else {
            Outcome::from_fraction(found as f64 / wanted.len() as f64)
        };
        CheckResult::new(
            id,
            outcome,
            Self::META.confidence,
            format!("{found} of {} contract models written", wanted.len()),
        )
        .with_all_evidence(evidence)
    }
}

fn model_name(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.rsplit_once('.').map(|(stem, _)| stem).unwrap_or(file)
}
