use super::support::{self as s};
use crate::analyse::dbt::{DbtProjectFacts, Layer, ModelFacts};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome, ParamError, Params};

crate::declare_check! {
    /// ## What it checks
    /// Each mart the candidate wrote has a description, and so do its columns: the
    /// columns its SQL outputs (or, when those cannot be read, the columns its YAML
    /// lists). Model descriptions weigh `model_weight` of the score, column
    /// descriptions the rest.
    ///
    /// A description that claims work the code does not do earns nothing. The
    /// rubric's `claims` pair phrases with a fact of the model's code: "deduplicated"
    /// with a kept-first ranking or a DISTINCT on the model's lineage,
    /// "incremental" with an incremental materialisation, "tested" with a test
    /// on the model, and so on. A description using such a phrase counts only
    /// when the fact holds.
    ///
    /// ## Why it matters
    /// Marts are read by people who did not build them. "gmv_usd" means nothing
    /// until it says which orders count and at which rate, and a description that
    /// promises deduplication the SQL never does is worse than none: the reader
    /// trusts it.
    ///
    /// ## How to pass
    /// A `description:` for every mart and every column in its properties file,
    /// saying what the model really does.
    pub struct MartDescriptions {
        id: "dbt.mart_descriptions",
        title: "Marts and their columns described, truthfully",
        confidence: Static,
    }
}

/// What a description's phrase claims about the model's code.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fact {
    /// A ranking kept at its first row, or a DISTINCT, on the model's lineage.
    Dedup,
    /// The model is materialised incrementally.
    Incremental,
    /// A generic test on the model or one of its columns, or a singular test
    /// that reads it under a condition.
    Tests,
    /// COALESCE (or IFNULL, NVL) on the model's lineage.
    Coalesce,
    /// A time-zone conversion on the model's lineage.
    Timezone,
    /// The model outputs `column` computed from data, not as a literal.
    DerivedColumn,
}

struct Claim {
    words: Vec<String>,
    fact: Fact,
    column: Option<String>,
}

fn claims(params: &Params) -> Result<Vec<Claim>, ParamError> {
    let wrong = || {
        ParamError::WrongType(
            "claims".into(),
            "a list of tables with `words`, `fact` and, for derived_column, `column`",
        )
    };
    let Some(value) = params.0.get("claims") else {
        return Ok(Vec::new());
    };
    let list = value.as_array().ok_or_else(wrong)?;
    list.iter()
        .map(|item| {
            let t = item.as_table().ok_or_else(wrong)?;
            let words = t
                .get("words")
                .and_then(|w| w.as_array())
                .ok_or_else(wrong)?
                .iter()
                .map(|w| w.as_str().map(str::to_ascii_lowercase).ok_or_else(wrong))
                .collect::<Result<Vec<_>, _>>()?;
            let fact = match t.get("fact").and_then(|f| f.as_str()) {
                Some("dedup") => Fact::Dedup,
                Some("incremental") => Fact::Incremental,
                Some("tests") => Fact::Tests,
                Some("coalesce") => Fact::Coalesce,
                Some("timezone") => Fact::Timezone,
                Some("derived_column") => Fact::DerivedColumn,
                _ => return Err(wrong()),
            };
            let column = t
                .get("column")
                .and_then(|c| c.as_str())
                .map(str::to_ascii_lowercase);
            if fact == Fact::DerivedColumn && column.is_none() {
                return Err(wrong());
            }
            Ok(Claim {
                words,
                fact,
                column,
            })
        })
        .collect()
}

/// Whether the model's code bears the fact out. A fact the analyser cannot
/// decide (unreadable SQL) is not held against the description.
fn holds(p: &DbtProjectFacts, m: &ModelFacts, claim: &Claim) -> bool {
    let mut lineage: Vec<&ModelFacts> = p
        .upstream(&m.name)
        .iter()
        .filter_map(|n| p.model(n))
        .collect();
    lineage.push(m);
    let any_scope = |f: &dyn Fn(&crate::analyse::dbt::Scope) -> bool| {
        lineage.iter().any(|l| l.live_scopes().any(f))
    };
    match claim.fact {
        Fact::Dedup => {
            any_scope(&|sc| sc.windows.iter().any(|w| w.filtered_to_first) || sc.distinct.is_some())
        }
        Fact::Incremental => m.is_incremental(),
        Fact::Tests => {
            p.yaml_models.iter().any(|y| {
                y.name == m.name
                    && (!y.tests.is_empty() || y.columns.iter().any(|c| !c.tests.is_empty()))
            }) || p
                .singular_tests
                .iter()
                .any(|t| t.meaningful && t.refs.iter().any(|r| r == &m.name))
        }
        Fact::Coalesce => any_scope(&|sc| !sc.coalesced.is_empty()),
        Fact::Timezone => any_scope(&|sc| !sc.tz_conversions.is_empty()),
        Fact::DerivedColumn => {
            let Some(outputs) = m.sql.as_ref().and_then(|f| f.output_columns()) else {
                return true;
            };
            let column = claim.column.as_deref().unwrap_or_default();
            outputs
                .iter()
                .filter(|c| c.name.as_deref() == Some(column))
                .any(|c| !c.constant)
        }
    }
}

/// The claim a description makes that the code contradicts, if any.
fn contradicted<'c>(
    text: &str,
    p: &DbtProjectFacts,
    m: &ModelFacts,
    claims: &'c [Claim],
) -> Option<&'c str> {
    let lower = text.to_ascii_lowercase();
    claims.iter().find_map(|c| {
        let word = c.words.iter().find(|w| lower.contains(w.as_str()))?;
        (!holds(p, m, c)).then_some(word.as_str())
    })
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
        let weight = match cx.params.share("model_weight") {
            Ok(w) => w,
            Err(e) => return s::param_error(meta, e),
        };
        let claims = match claims(cx.params) {
            Ok(c) => c,
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
        let mut refuted = 0;
        let mut evidence = Vec::new();
        for m in &marts {
            let y = p
                .yaml_models
                .iter()
                .find(|y| y.name == m.name && y.candidate);
            let (file, line) = y
                .map(|y| (y.file.as_str(), y.line))
                .unwrap_or((m.path.as_str(), None));
            let mut notes = Vec::new();
            let mut claimed: Vec<String> = Vec::new();
            let model_state = match y.and_then(|y| y.description.as_deref()) {
                None => "no description".to_string(),
                Some(text) => match contradicted(text, p, m, &claims) {
                    Some(word) => {
                        refuted += 1;
                        claimed.push(format!("the description of `{}` says \"{word}\"", m.name));
                        format!("described, but it claims \"{word}\", which the code does not bear out: not credited")
                    }
                    None => {
                        described_models += 1;
                        "described".to_string()
                    }
                },
            };
            let outputs: Vec<String> = m
                .sql
                .as_ref()
                .and_then(|f| f.output_columns())
                .map(|c| c.into_iter().filter_map(|c| c.name).collect())
                .unwrap_or_else(|| {
                    y.map(|y| y.columns.iter().map(|c| c.name.clone()).collect())
                        .unwrap_or_default()
                });
            let mut described = 0;
            for c in &outputs {
                let text = y.and_then(|y| {
                    y.columns
                        .iter()
                        .find(|yc| yc.name == *c)
                        .and_then(|yc| yc.description.as_deref())
                });
                let Some(text) = text else { continue };
                match contradicted(text, p, m, &claims) {
                    Some(word) => {
                        refuted += 1;
                        claimed.push(format!(
                            "the description of `{}.{c}` says \"{word}\"",
                            m.name
                        ));
                        notes.push(format!(
                            "`{c}` claims \"{word}\", which the code does not bear out"
                        ));
                    }
                    None => described += 1,
                }
            }
            cols_total += outputs.len();
            cols_described += described;
            let mut note = format!(
                "`{}`: {model_state}, {described} of {} columns described",
                m.name,
                outputs.len()
            );
            if !notes.is_empty() {
                note.push_str(&format!(" ({})", notes.join("; ")));
            }
            let mut e = s::test_evidence(file, line, note);
            // A claim the code refutes is shown to the reader as a
            // contradiction, beside those execution finds.
            if !claimed.is_empty() {
                e = e.with_measured(serde_json::json!({ "refuted_claims": claimed }));
            }
            evidence.push(e);
        }
        let model_share = described_models as f64 / marts.len() as f64;
        let col_share = if cols_total == 0 {
            0.0
        } else {
            cols_described as f64 / cols_total as f64
        };
        let score = weight * model_share + (1.0 - weight) * col_share;
        let mut summary = format!(
            "{described_models} of {} marts and {cols_described} of {cols_total} columns described",
            marts.len()
        );
        if refuted > 0 {
            summary.push_str(&format!(
                "; {refuted} description(s) claim work the code does not bear out"
            ));
        }
        s::result(meta, Outcome::from_fraction(score), summary, evidence)
    }
}
