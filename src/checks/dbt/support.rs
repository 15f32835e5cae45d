//! What the dbt checks share: finding the graded project, walking the SQL facts
//! of the models on a lineage path, recognising generic tests by their dbt,
//! dbt_utils and dbt_expectations names, and turning facts into evidence.

use crate::analyse::dbt::{DbtProjectFacts, ModelFacts, Rel, RelKind, Scope, SqlFacts, TestSpec};
use crate::checks::{CheckMeta, CheckResult, Evidence, LineSpan, Outcome, ParamError, Params};

/// The project to grade, or the result to return when there is none.
pub fn project<'a>(
    meta: &CheckMeta,
    facts: &'a crate::facts::Facts,
) -> Result<&'a DbtProjectFacts, CheckResult> {
    facts.dbt.main_project().ok_or_else(|| {
        CheckResult::new(
            meta.id,
            Outcome::NotAttempted,
            meta.confidence,
            "the submission has no dbt project (no dbt_project.yml)",
        )
    })
}

pub fn param_error(meta: &CheckMeta, e: ParamError) -> CheckResult {
    CheckResult::new(meta.id, Outcome::Error, meta.confidence, e.to_string())
}

pub fn string(params: &Params, key: &str) -> Result<String, ParamError> {
    match params.0.get(key) {
        Some(toml::Value::String(s)) => Ok(s.to_ascii_lowercase()),
        Some(_) => Err(ParamError::WrongType(key.to_string(), "a string")),
        None => Err(ParamError::Missing(key.to_string())),
    }
}

pub fn list(params: &Params, key: &str) -> Result<Vec<String>, ParamError> {
    params
        .string_list(key)
        .map(|v| v.into_iter().map(|s| s.to_ascii_lowercase()).collect())
}

/// `model.column` entries of a rubric list.
pub fn model_columns(params: &Params, key: &str) -> Result<Vec<(String, String)>, ParamError> {
    list(params, key)?
        .into_iter()
        .map(|s| {
            s.split_once('.')
                .map(|(m, c)| (m.to_string(), c.to_string()))
                .ok_or_else(|| ParamError::WrongType(key.to_string(), "a list of `model.column`"))
        })
        .collect()
}

/// A column is `wanted` or a derivation named after it (`deleted_at_utc`).
pub fn col_is(name: &str, wanted: &str) -> bool {
    name == wanted || name.starts_with(&format!("{wanted}_"))
}

pub fn any_col(cols: &[String], wanted: &str) -> bool {
    cols.iter().any(|c| col_is(c, wanted))
}

/// One place in a model's SQL where a fact was found.
pub struct Hit<'a> {
    pub model: &'a ModelFacts,
    pub scope: &'a Scope,
    pub note: String,
    /// Text to find in the model file for the evidence line.
    pub needle: Option<String>,
}

impl Hit<'_> {
    pub fn evidence(&self) -> Evidence {
        let scope_line = self.model.scope_line(self.scope);
        let line = self
            .needle
            .as_deref()
            .and_then(|n| {
                self.model
                    .line_of(n, scope_line.unwrap_or(1))
                    .or_else(|| self.model.line_of(n, 1))
            })
            .or(scope_line);
        let where_ = if self.scope.is_final {
            "the final select".to_string()
        } else {
            format!("CTE `{}`", self.scope.name)
        };
        let mut ev = Evidence::at(
            self.model.path.as_str(),
            line.map(LineSpan::line),
            format!("{} ({where_})", self.note),
        );
        if let Some(l) = line {
            ev = ev.with_snippet(self.model.snippet(l, 3));
        }
        ev
    }
}

fn all_scopes(m: &ModelFacts) -> impl Iterator<Item = &Scope> {
    m.sql
        .iter()
        .chain(m.incremental_sql.iter())
        .flat_map(|f| f.scopes.iter())
}

/// Scans the candidate's models for a fact; returns hits in scopes the final
/// select reaches, then hits in dead scopes (which earn nothing).
pub fn scan<'a, F>(models: &[&'a ModelFacts], mut f: F) -> (Vec<Hit<'a>>, Vec<Hit<'a>>)
where
    F: FnMut(&'a ModelFacts, &'a Scope) -> Option<(String, Option<String>)>,
{
    let mut live = Vec::new();
    let mut dead = Vec::new();
    for m in models.iter().copied().filter(|m| m.candidate) {
        for s in all_scopes(m) {
            if let Some((note, needle)) = f(m, s) {
                let hit = Hit {
                    model: m,
                    scope: s,
                    note,
                    needle,
                };
                if s.reachable {
                    live.push(hit);
                } else {
                    dead.push(hit);
                }
            }
        }
    }
    // The same fact in both branches of an incremental model is one fact.
    live.dedup_by(|a, b| {
        a.model.path == b.model.path && a.scope.name == b.scope.name && a.note == b.note
    });
    dead.dedup_by(|a, b| {
        a.model.path == b.model.path && a.scope.name == b.scope.name && a.note == b.note
    });
    (live, dead)
}

/// Evidence for facts found only in dead scopes, each place once.
pub fn dead_evidence(dead: &[Hit]) -> Vec<Evidence> {
    let mut out: Vec<Evidence> = Vec::new();
    for h in dead {
        let mut e = h.evidence();
        e.note = format!(
            "{} — but nothing selects from this CTE, so it has no effect",
            e.note
        );
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

/// Candidate models whose SQL could not be analysed because the grader's parser
/// failed (crash, timeout): a missing finding there is the grader's doubt.
pub fn grader_failures<'a>(models: &[&'a ModelFacts]) -> Vec<&'a ModelFacts> {
    models
        .iter()
        .copied()
        .filter(|m| m.candidate && m.grader_error)
        .collect()
}

pub fn failure_evidence(models: &[&ModelFacts]) -> Vec<Evidence> {
    models
        .iter()
        .map(|m| {
            Evidence::at(
                m.path.as_str(),
                None,
                format!(
                    "could not be analysed: {}",
                    m.error.as_deref().unwrap_or("unknown error")
                ),
            )
        })
        .collect()
}

/// Whether a relation read by `sql` (a ref, a source or a CTE of it) comes from
/// something `pred` accepts, following CTEs within the statement.
pub fn rel_reaches(sql: &SqlFacts, rel: &Rel, pred: &dyn Fn(&Rel) -> bool, depth: usize) -> bool {
    if pred(rel) {
        return true;
    }
    if rel.kind != RelKind::Cte || depth > 32 {
        return false;
    }
    sql.scope(&rel.name).is_some_and(|s| {
        s.relations
            .iter()
            .any(|r| rel_reaches(sql, r, pred, depth + 1))
    })
}

/// The SqlFacts a scope belongs to.
pub fn facts_of<'a>(m: &'a ModelFacts, scope: &Scope) -> Option<&'a SqlFacts> {
    m.sql
        .iter()
        .chain(m.incremental_sql.iter())
        .find(|f| f.scopes.iter().any(|s| std::ptr::eq(s, scope)))
}

/// Candidate models downstream of a source table.
pub fn source_models<'a>(p: &'a DbtProjectFacts, table: &str) -> Vec<&'a ModelFacts> {
    let down = p.downstream_of_source(table);
    p.models.iter().filter(|m| down.contains(&m.name)).collect()
}

pub fn is_unique_test(t: &TestSpec, column: &str) -> bool {
    match (t.package.as_deref(), t.short_name.as_str()) {
        (None, "unique") => true,
        (Some("dbt_expectations"), "expect_column_values_to_be_unique") => true,
        (_, name) if name.contains("unique") => combination_is(t, column),
        _ => false,
    }
}

/// A model-level uniqueness test over exactly one column, `column`.
fn combination_is(t: &TestSpec, column: &str) -> bool {
    [
        "combination_of_columns",
        "columns",
        "column_list",
        "column_names",
    ]
    .iter()
    .filter_map(|k| t.args.get(*k).and_then(|v| v.as_array()))
    .any(|cols| {
        cols.len() == 1
            && cols[0]
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case(column))
    })
}

pub fn is_not_null_test(t: &TestSpec) -> bool {
    matches!(
        (t.package.as_deref(), t.short_name.as_str()),
        (None, "not_null")
            | (
                Some("dbt_expectations"),
                "expect_column_values_to_not_be_null"
            )
    ) || (t.package.as_deref() == Some("dbt_utils")
        && t.short_name == "not_null_proportion"
        && t.args.get("at_least").and_then(|v| v.as_f64()) == Some(1.0))
}

pub fn is_relationship_test(t: &TestSpec) -> bool {
    matches!(
        (t.package.as_deref(), t.short_name.as_str()),
        (None, "relationships") | (Some("dbt_utils"), "relationships_where")
    )
}

pub fn is_accepted_values_test(t: &TestSpec) -> bool {
    matches!(
        (t.package.as_deref(), t.short_name.as_str()),
        (None, "accepted_values")
            | (
                Some("dbt_expectations"),
                "expect_column_values_to_be_in_set"
            )
            | (
                Some("dbt_expectations"),
                "expect_column_distinct_values_to_be_in_set"
            )
            | (
                Some("dbt_expectations"),
                "expect_column_distinct_values_to_equal_set"
            )
    )
}

/// Tests the candidate declared on `model.column` (column tests and model tests),
/// with the YAML file and line they sit at.
pub fn tests_on<'a>(
    p: &'a DbtProjectFacts,
    model: &str,
    column: &str,
) -> Vec<(&'a str, Option<u32>, &'a TestSpec)> {
    let mut out = Vec::new();
    for y in p
        .yaml_models
        .iter()
        .filter(|y| y.candidate && y.name == model)
    {
        for c in y.columns.iter().filter(|c| c.name == column) {
            out.extend(
                c.tests
                    .iter()
                    .map(|t| (y.file.as_str(), t.line.or(c.line), t)),
            );
        }
        out.extend(
            y.tests
                .iter()
                .map(|t| (y.file.as_str(), t.line.or(y.line), t)),
        );
    }
    out
}

pub fn test_evidence(file: &str, line: Option<u32>, note: impl Into<String>) -> Evidence {
    Evidence::at(file, line.map(LineSpan::line), note)
}

/// Candidate model by name.
pub fn candidate_model<'a>(p: &'a DbtProjectFacts, name: &str) -> Option<&'a ModelFacts> {
    p.models.iter().find(|m| m.name == name && m.candidate)
}

pub fn result(
    meta: &CheckMeta,
    outcome: Outcome,
    summary: impl Into<String>,
    evidence: Vec<Evidence>,
) -> CheckResult {
    CheckResult::new(meta.id, outcome, meta.confidence, summary).with_all_evidence(evidence)
}
