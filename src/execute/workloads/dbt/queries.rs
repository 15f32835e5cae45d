//! The check queries of one phase: drawn from what the build left (its
//! manifest names the relations), run by the same runner process after dbt,
//! and their answers read back into the phase's facts.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::hidden::{self, HiddenChecks, Measurement};
use super::{clip, error_line, node_name};
use crate::execute::facts::{HiddenMeasurement, ModelState, PhaseFacts, PhaseRun};
use crate::execute::{CheckRound, QueryResult, SandboxQuery};

/// The check queries' answers, or why there are none. Only the grader's
/// queries ran in that round, on the warehouse and workspace the submission's
/// build left: what breaks them is the submission's.
pub(super) fn check_answers(
    number: u8,
    round: Option<CheckRound>,
) -> Result<Vec<QueryResult>, PhaseRun> {
    match round {
        Some(CheckRound::Answered(a)) => match a.queries_error {
            Some(e) => Err(PhaseRun::NotRun {
                reason: format!("the warehouse could not be opened: {e}"),
            }),
            None => Ok(a.queries),
        },
        Some(CheckRound::NotAsked) => Ok(Vec::new()),
        Some(CheckRound::TimedOut { deadline_secs }) => Err(PhaseRun::NotRun {
            reason: format!(
                "the check queries of phase {number} timed out after {deadline_secs} s on the submission's warehouse"
            ),
        }),
        Some(CheckRound::RunnerFailed { detail, exit }) => Err(PhaseRun::EndedBySubmission {
            cause: format!(
                "the grader's check queries could not run on what the build left (exit {exit:?}): {}",
                clip(&detail, 300)
            ),
        }),
        None => Err(PhaseRun::GraderFailed {
            reason: "the runner gave no account of the check queries".into(),
        }),
    }
}

const COLUMNS_QUERY: &str = "columns";

/// The queries of one phase's check step and how to read their answers.
pub(super) struct QueryPlan {
    pub(super) queries: Vec<SandboxQuery>,
    /// Per hidden check: its measurement when already known (missing model), or
    /// the models (name, schema, table, needed columns) its query reads.
    checks: Vec<(String, Result<Vec<ModelRef>, Measurement>)>,
    /// Idempotency models: relation, or missing.
    models: Vec<(String, Option<ModelRef>)>,
}

#[derive(Clone)]
struct ModelRef {
    name: String,
    schema: String,
    table: String,
    columns: Vec<String>,
}

impl ModelRef {
    fn relation(&self) -> String {
        format!(
            "{}.{}",
            hidden::quote_ident(&self.schema),
            hidden::quote_ident(&self.table)
        )
    }
}

fn is_ephemeral(phase: &PhaseFacts, name: &str) -> bool {
    phase
        .model_node(name)
        .and_then(|n| n.config.get("materialized"))
        .and_then(Value::as_str)
        .is_some_and(|m| m.eq_ignore_ascii_case("ephemeral"))
}

fn model_ref(phase: &PhaseFacts, name: &str, columns: &[String]) -> Option<ModelRef> {
    let node = phase.model_node(name)?;
    Some(ModelRef {
        name: name.to_string(),
        schema: node.schema.clone().unwrap_or_else(|| "main".into()),
        table: node.alias.clone().unwrap_or_else(|| node.name.clone()),
        columns: columns.to_vec(),
    })
}

fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl QueryPlan {
    pub(super) fn build(
        hidden: Option<&HiddenChecks>,
        number: u8,
        phase: &PhaseFacts,
        idem_models: &[(String, Vec<String>)],
        series_rows: u64,
    ) -> QueryPlan {
        let mut plan = QueryPlan {
            queries: Vec::new(),
            checks: Vec::new(),
            models: Vec::new(),
        };
        let mut tables: BTreeSet<String> = BTreeSet::new();
        for check in hidden.into_iter().flat_map(|h| h.in_phase(number)) {
            if phase.manifest.is_none() {
                plan.checks.push((
                    check.id.clone(),
                    Err(Measurement::NotRun {
                        reason: "dbt wrote no manifest: the project did not parse".into(),
                    }),
                ));
                continue;
            }
            let mut refs = Vec::new();
            let mut absent = None;
            for (model, cols) in check.models() {
                if is_ephemeral(phase, model) {
                    absent = Some(Measurement::Ephemeral {
                        model: model.to_string(),
                    });
                    break;
                }
                match model_ref(phase, model, cols) {
                    Some(r) => refs.push(r),
                    None => {
                        absent = Some(Measurement::MissingModel {
                            model: model.to_string(),
                        });
                        break;
                    }
                }
            }
            if let Some(m) = absent {
                plan.checks.push((check.id.clone(), Err(m)));
                continue;
            }
            let lookup = |name: &str| refs.iter().find(|r| r.name == name).map(ModelRef::relation);
            match check.resolve_sql(&lookup) {
                Ok(sql) => {
                    for r in &refs {
                        tables.insert(r.table.to_lowercase());
                    }
                    plan.queries.push(SandboxQuery {
                        name: format!("hidden:{}", check.id),
                        sql,
                        // A per-key comparison needs every key the model has.
                        max_rows: check.compare.is_series().then_some(series_rows),
                    });
                    plan.checks.push((check.id.clone(), Ok(refs)));
                }
                Err(model) => plan
                    .checks
                    .push((check.id.clone(), Err(Measurement::MissingModel { model }))),
            }
        }
        for (model, required) in idem_models {
            let r = model_ref(phase, model, required).filter(|_| !is_ephemeral(phase, model));
            if let Some(r) = &r {
                tables.insert(r.table.to_lowercase());
                // Only the contract's required columns: an extra column such
                // as a run-timestamp audit column may change on every build.
                let hashed = if required.is_empty() {
                    "t".to_string()
                } else {
                    let cols: Vec<String> =
                        required.iter().map(|c| hidden::quote_ident(c)).collect();
                    cols.join(", ")
                };
                plan.queries.push(SandboxQuery {
                    name: format!("state:{model}"),
                    sql: format!(
                        "select count(*) as row_count, cast(sum(hash({hashed})) as varchar) as checksum from {} as t",
                        r.relation()
                    ),
                    max_rows: None,
                });
            }
            plan.models.push((model.clone(), r));
        }
        if !tables.is_empty() {
            let list: Vec<String> = tables.iter().map(|t| sql_literal(t)).collect();
            plan.queries.insert(
                0,
                SandboxQuery {
                    max_rows: None,
                    name: COLUMNS_QUERY.into(),
                    sql: format!(
                        "select lower(table_schema), lower(table_name), lower(column_name) \
                         from information_schema.columns where lower(table_name) in ({}) \
                         order by 1, 2, 3",
                        list.join(", ")
                    ),
                },
            );
        }
        plan
    }

    pub(super) fn interpret(&self, results: &[QueryResult], phase: &mut PhaseFacts) {
        let by_name: BTreeMap<&str, &QueryResult> =
            results.iter().map(|r| (r.name.as_str(), r)).collect();
        // (schema, table) -> columns, when the column listing is complete.
        let columns: Option<BTreeMap<(String, String), BTreeSet<String>>> = by_name
            .get(COLUMNS_QUERY)
            .filter(|r| r.error.is_none() && !r.truncated)
            .map(|r| {
                let mut map: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
                for row in &r.rows {
                    let s = |i: usize| {
                        row.get(i)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    map.entry((s(0), s(1))).or_default().insert(s(2));
                }
                map
            });
        if let Some(columns) = &columns {
            let refs = self
                .checks
                .iter()
                .filter_map(|(_, plan)| plan.as_ref().ok())
                .flatten()
                .chain(self.models.iter().filter_map(|(_, r)| r.as_ref()));
            for r in refs {
                let key = (r.schema.to_lowercase(), r.table.to_lowercase());
                if let Some(have) = columns.get(&key) {
                    phase
                        .relation_columns
                        .insert(r.name.clone(), have.iter().cloned().collect());
                }
            }
        }
        for (id, plan) in &self.checks {
            let measurement = match plan {
                Err(m) => m.clone(),
                Ok(refs) => match by_name.get(format!("hidden:{id}").as_str()) {
                    None => Measurement::GraderFailed {
                        reason: "the runner returned no answer for the check".into(),
                    },
                    Some(res) => match structural_problem(refs, columns.as_ref()) {
                        Some(m) => m,
                        None => match &res.error {
                            Some(error) => Measurement::QueryFailed {
                                error: error.clone(),
                            },
                            None => Measurement::Rows {
                                columns: res.columns.clone(),
                                rows: res.rows.clone(),
                                truncated: res.truncated,
                            },
                        },
                    },
                },
            };
            let measurement = match measurement {
                Measurement::NotBuilt { model, why: None } => Measurement::NotBuilt {
                    why: why_not_built(&phase.results, &model),
                    model,
                },
                m => m,
            };
            phase.hidden.push(HiddenMeasurement {
                check: id.clone(),
                measurement,
                expected: Err("not looked up yet".into()),
            });
        }
        for (model, r) in &self.models {
            let state = match r {
                None => ModelState::Missing,
                Some(_) => match by_name.get(format!("state:{model}").as_str()) {
                    None => ModelState::Unreadable {
                        error: "no answer".into(),
                    },
                    Some(res) => match (&res.error, res.rows.first()) {
                        (Some(e), _) => ModelState::Unreadable { error: e.clone() },
                        (None, Some(row)) => ModelState::Measured {
                            rows: row.first().and_then(Value::as_i64).unwrap_or(-1),
                            checksum: row
                                .get(1)
                                .and_then(Value::as_str)
                                .unwrap_or("NULL")
                                .to_string(),
                        },
                        (None, None) => ModelState::Unreadable {
                            error: "no row".into(),
                        },
                    },
                },
            };
            phase.models.insert(model.clone(), state);
        }
    }

    pub(super) fn fail_all(&self, why: &PhaseRun, phase: &mut PhaseFacts) {
        let measurement = match why {
            PhaseRun::GraderFailed { reason } => Measurement::GraderFailed {
                reason: reason.clone(),
            },
            PhaseRun::NotRun { reason } => Measurement::NotRun {
                reason: reason.clone(),
            },
            PhaseRun::EndedBySubmission { cause } => Measurement::NotRun {
                reason: cause.clone(),
            },
            other => Measurement::NotRun {
                reason: other.label().into(),
            },
        };
        for (id, plan) in &self.checks {
            phase.hidden.push(HiddenMeasurement {
                check: id.clone(),
                measurement: plan.clone().err().unwrap_or_else(|| measurement.clone()),
                expected: Err("not looked up yet".into()),
            });
        }
    }
}

/// What dbt's results say of a model that left no relation: skipped behind
/// a failing test or a failed parent, or errored.
pub(super) fn why_not_built(results: &[crate::execute::RunResult], model: &str) -> Option<String> {
    use crate::execute::NodeStatus;
    let r = results
        .iter()
        .find(|r| r.unique_id.starts_with("model.") && node_name(&r.unique_id) == model)?;
    match r.status {
        NodeStatus::Skipped => Some(
            "dbt skipped it because a node it depends on failed (an upstream model, or a test of one)"
                .into(),
        ),
        NodeStatus::Error | NodeStatus::RuntimeError => Some(
            match r.message.as_deref().map(error_line).filter(|m| !m.is_empty()) {
                Some(m) => format!("dbt failed to build it ({m})"),
                None => "dbt failed to build it".into(),
            },
        ),
        _ => None,
    }
}

/// A relation that does not exist, or lacks columns the check reads, decided
/// from the warehouse's own column listing.
fn structural_problem(
    refs: &[ModelRef],
    columns: Option<&BTreeMap<(String, String), BTreeSet<String>>>,
) -> Option<Measurement> {
    let columns = columns?;
    for r in refs {
        let key = (r.schema.to_lowercase(), r.table.to_lowercase());
        let Some(have) = columns.get(&key) else {
            return Some(Measurement::NotBuilt {
                model: r.name.clone(),
                why: None,
            });
        };
        let missing: Vec<String> = r
            .columns
            .iter()
            .filter(|c| !have.contains(&c.to_lowercase()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Some(Measurement::MissingColumns {
                model: r.name.clone(),
                columns: missing,
            });
        }
    }
    None
}
