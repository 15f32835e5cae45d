use serde_json::json;

use crate::checks::{
    Check, CheckContext, CheckMeta, CheckResult, Confidence, Evidence, Outcome, ParamError,
};

crate::declare_check! {
    /// ## What it checks
    /// Each model that the exercise's contract names (for marketplace-elt: the
    /// staging, fact, dimension and mart models of SPEC section 4) exists as a
    /// model file the candidate wrote, and outputs the contract's required
    /// columns. The rubric lists each model with its required columns, the share
    /// a file under the right name earns (`file_credit`) and the share of the
    /// column credit given when the columns cannot be read
    /// (`unreadable_columns_credit`).
    ///
    /// The columns come from the warehouse when the submission was executed
    /// (what the build really produced), otherwise from the model's SQL, with
    /// `select *` followed through CTEs and single-model reads.
    ///
    /// ## Why it matters
    /// The hidden checks and the analysts downstream find models by name and
    /// read them by column. A model under another name is invisible to them; a
    /// file with the right name that lacks the contract's columns is work not
    /// done. Starter files left unchanged earn nothing here.
    ///
    /// ## How to pass
    /// Create every contract model with exactly the contract's name, for example
    /// `models/marts/fct_orders.sql`, in any folder under the project's model
    /// paths, and select every required column under its contract name.
    pub struct ContractModels {
        id: "dbt.contract_models",
        title: "Contract models exist and output the contract's columns",
        confidence: Static,
    }
}

/// Where one model's columns were read.
enum Columns {
    Built(Vec<String>),
    Sql(Vec<String>),
    Unknown,
}

impl Check for ContractModels {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let id = self.meta().id;
        let me = self as &dyn Check;
        let params = || -> Result<_, ParamError> {
            Ok((
                cx.params.string_lists("columns")?,
                cx.params.share("file_credit")?,
                cx.params.share("unreadable_columns_credit")?,
            ))
        };
        let (wanted, file_credit, unreadable_credit) = match params() {
            Ok(p) if !p.0.is_empty() => p,
            Ok(_) => {
                return CheckResult::new(
                    id,
                    Outcome::Error,
                    Self::META.confidence,
                    "the rubric lists no contract models",
                )
            }
            Err(e) => return me.param_error(e),
        };
        let inventory = &cx.facts.inventory;
        if inventory.dbt_projects.is_empty() {
            return CheckResult::new(
                id,
                Outcome::NotAttempted,
                Self::META.confidence,
                "the submission has no dbt project (no dbt_project.yml)",
            );
        }
        let models: Vec<&String> = inventory
            .dbt_projects
            .iter()
            .flat_map(|p| p.models.iter())
            .collect();
        let project = cx.facts.dbt.main_project();
        let execution = cx.facts.execution.as_ref();

        let mut evidence = Vec::new();
        let mut missing = Vec::new();
        let mut found = 0usize;
        let mut credit = 0.0;
        let mut any_built = false;
        for (name, required) in &wanted {
            let hit = models
                .iter()
                .find(|path| model_name(path) == name && inventory.is_candidate_work(path));
            let Some(path) = hit else {
                missing.push(name.clone());
                continue;
            };
            found += 1;
            // A contract model that never built earns none of the model-level
            // credit: its SQL says nothing the warehouse did not refute.
            if let Some(why) = execution.and_then(|x| x.never_built(name)) {
                any_built = true;
                evidence.push(Evidence::at(
                    path.as_str(),
                    None,
                    format!("contract model `{name}` was never built: {why}"),
                ));
                continue;
            }
            let columns = match execution.and_then(|x| x.built_columns(name)) {
                Some(cols) => Columns::Built(cols.to_vec()),
                None => match project.and_then(|p| p.model_columns(name)) {
                    Some(cols) => Columns::Sql(cols),
                    None => Columns::Unknown,
                },
            };
            let (share, note) = match &columns {
                Columns::Built(have) | Columns::Sql(have) => {
                    let lacking: Vec<&str> = required
                        .iter()
                        .filter(|c| !have.iter().any(|h| h.eq_ignore_ascii_case(c)))
                        .map(String::as_str)
                        .collect();
                    let present = required.len() - lacking.len();
                    let share = if required.is_empty() {
                        1.0
                    } else {
                        present as f64 / required.len() as f64
                    };
                    let source = if matches!(columns, Columns::Built(_)) {
                        any_built = true;
                        "in the warehouse"
                    } else {
                        "in its SQL"
                    };
                    let note = if lacking.is_empty() {
                        format!("all {} required columns {source}", required.len())
                    } else {
                        format!(
                            "{present} of {} required columns {source}; lacks {}",
                            required.len(),
                            lacking.join(", ")
                        )
                    };
                    (share, note)
                }
                Columns::Unknown => (
                    unreadable_credit,
                    "columns not readable from its SQL (a `select *` over a source or a join)"
                        .to_string(),
                ),
            };
            credit += file_credit + (1.0 - file_credit) * share;
            evidence.push(Evidence::at(
                path.as_str(),
                None,
                format!("contract model `{name}`: {note}"),
            ));
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
            Outcome::from_fraction(credit / wanted.len() as f64)
        };
        let confidence = if any_built {
            Confidence::Executed
        } else {
            Self::META.confidence
        };
        CheckResult::new(
            id,
            outcome,
            confidence,
            format!(
                "{found} of {} contract models written; {:.0} % of the contract's credit",
                wanted.len(),
                100.0 * credit / wanted.len() as f64
            ),
        )
        .with_all_evidence(evidence)
    }
}

fn model_name(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.rsplit_once('.').map(|(stem, _)| stem).unwrap_or(file)
}
