use std::collections::BTreeSet;

use serde_json::json;

use super::support::{self as s};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome, ParamError};

crate::declare_check! {
    /// ## What it checks
    /// Each data trap of the exercise is guarded by a test of the candidate's:
    /// the rubric lists, per trap, the columns where its handling shows
    /// (`columns`, as `model.column`), optionally the kinds of generic test that
    /// guard it there (`kinds`, matched in the test's name: `unique` for a
    /// dedup), the models a singular test may read instead (`singular`), and
    /// the source tables or seeds the trap comes from (`sources`). The trap's
    /// lineage is those models plus every model built on those sources, whatever
    /// the candidate named it. A trap counts as tested when a lineage model
    /// carries such a generic test (dbt's, a package's or the project's own
    /// `{% test %}`) on one of the trap's columns, when a dbt unit test targets a
    /// lineage model (and, where its expected rows name columns, one of the
    /// trap's columns), or when a singular test the dbt analyser judged able to
    /// fail reads one of the `singular` models, or a lineage model with a
    /// condition on one of the trap's columns. Tests dbt never runs (disabled,
    /// or on a model that does not exist) are not facts and earn nothing. The
    /// outcome is the share of traps tested.
    ///
    /// ## Why it matters
    /// Handling a trap once is not enough: the next refactor or the next load
    /// can undo it. A test on the column the handling produces is what turns a
    /// fix into a guarantee, and what pages someone when the source changes.
    ///
    /// ## How to pass
    /// For each data problem you handled, test the result: `unique` on
    /// `fct_payments.event_id` after the dedup, `not_null` on
    /// `dim_users.country_code` after the coalesce, a singular test that no
    /// order is confirmed before it was created, and so on.
    pub struct TrapTests {
        id: "dbt.trap_tests",
        title: "Each data trap's handling guarded by a test",
        confidence: Static,
    }
}

struct Guard {
    trap: String,
    columns: Vec<(String, String)>,
    kinds: Vec<String>,
    singular: Vec<String>,
    sources: Vec<String>,
}

fn guards(params: &crate::checks::Params) -> Result<Vec<Guard>, ParamError> {
    let wrong = || {
        ParamError::WrongType(
            "traps".into(),
            "a list of tables with `trap`, `columns` and optional `kinds` and `singular`",
        )
    };
    let list = params
        .0
        .get("traps")
        .ok_or_else(|| ParamError::Missing("traps".into()))?
        .as_array()
        .ok_or_else(wrong)?;
    let strings = |t: &toml::Table, key: &str| -> Result<Vec<String>, ParamError> {
        match t.get(key) {
            None => Ok(Vec::new()),
            Some(v) => v
                .as_array()
                .ok_or_else(wrong)?
                .iter()
                .map(|i| i.as_str().map(str::to_ascii_lowercase).ok_or_else(wrong))
                .collect(),
        }
    };
    list.iter()
        .map(|item| {
            let t = item.as_table().ok_or_else(wrong)?;
            let trap = t
                .get("trap")
                .and_then(|v| v.as_str())
                .ok_or_else(wrong)?
                .to_string();
            let columns = strings(t, "columns")?
                .into_iter()
                .map(|c| {
                    c.split_once('.')
                        .map(|(m, c)| (m.to_string(), c.to_string()))
                        .ok_or_else(wrong)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Guard {
                trap,
                columns,
                kinds: strings(t, "kinds")?,
                singular: strings(t, "singular")?,
                sources: strings(t, "sources")?,
            })
        })
        .collect()
}

impl Check for TrapTests {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let guards = match guards(cx.params) {
            Ok(g) if !g.is_empty() => g,
            Ok(_) => return s::param_error(meta, ParamError::Missing("traps".into())),
            Err(e) => return s::param_error(meta, e),
        };
        let any_model = guards.iter().any(|g| {
            g.columns
                .iter()
                .map(|(m, _)| m)
                .chain(&g.singular)
                .any(|m| s::candidate_model(p, m).is_some())
                || g.sources.iter().any(|src| {
                    p.downstream_of_source(src)
                        .iter()
                        .any(|m| s::candidate_model(p, m).is_some())
                })
        });
        if !any_model {
            return s::result(
                meta,
                Outcome::NotAttempted,
                "none of the models where the traps' handling shows exists",
                vec![],
            );
        }
        let mut tested = 0;
        let mut evidence = Vec::new();
        for g in &guards {
            let wanted = |t: &crate::analyse::dbt::TestSpec| {
                g.kinds.is_empty() || g.kinds.iter().any(|k| t.short_name.contains(k.as_str()))
            };
            // The trap's lineage: the models the rubric names, and every model
            // built on the trap's sources.
            let mut lineage: BTreeSet<String> = g
                .columns
                .iter()
                .map(|(m, _)| m.clone())
                .chain(g.singular.iter().cloned())
                .collect();
            for src in &g.sources {
                lineage.extend(p.downstream_of_source(src));
                lineage.extend(
                    p.models
                        .iter()
                        .filter(|m| p.reads_seed(&m.name, src))
                        .map(|m| m.name.clone()),
                );
            }
            let column_names: BTreeSet<&str> = g.columns.iter().map(|(_, c)| c.as_str()).collect();
            // Named pairs first (the evidence then names the rubric's model),
            // then the same columns on any other lineage model.
            let pairs: Vec<(String, String)> = g
                .columns
                .iter()
                .cloned()
                .chain(
                    lineage
                        .iter()
                        .flat_map(|m| column_names.iter().map(move |c| (m.clone(), c.to_string()))),
                )
                .collect();
            let generic = pairs.iter().find_map(|(model, column)| {
                p.yaml_models
                    .iter()
                    .filter(|y| y.candidate && y.name == *model)
                    .find_map(|y| {
                        let on_column = y
                            .columns
                            .iter()
                            .filter(|c| c.name == *column)
                            .flat_map(|c| c.tests.iter().map(move |t| (t, t.line.or(c.line))));
                        // A model-level test guards the column only when it names it.
                        let on_model = y
                            .tests
                            .iter()
                            .filter(|t| {
                                t.args
                                    .to_string()
                                    .to_ascii_lowercase()
                                    .contains(column.as_str())
                            })
                            .map(|t| (t, t.line.or(y.line)));
                        on_column
                            .chain(on_model)
                            .find(|(t, _)| wanted(t))
                            .map(|(t, line)| (model, column, y.file.as_str(), line, t.name.clone()))
                    })
            });
            let singular = p.singular_tests.iter().find(|t| {
                t.candidate
                    && t.meaningful
                    && (t.refs.iter().any(|r| g.singular.contains(r))
                        || t.refs.iter().any(|r| lineage.contains(r))
                            && (column_names.is_empty()
                                || t.columns.iter().any(|c| column_names.contains(c.as_str()))))
            });
            let unit = p.unit_tests.iter().find(|u| {
                u.candidate
                    && lineage.contains(&u.model)
                    && (column_names.is_empty()
                        || u.expect_columns.is_empty()
                        || u.expect_columns
                            .iter()
                            .any(|c| column_names.contains(c.as_str())))
            });
            let is_tested = generic.is_some() || singular.is_some() || unit.is_some();
            let ev = match (generic, singular, unit) {
                (Some((model, column, file, line, name)), _, _) => s::test_evidence(
                    file,
                    line,
                    format!("{}: `{name}` on {model}.{column}", g.trap),
                ),
                (None, Some(t), _) => Evidence::at(
                    t.path.as_str(),
                    None,
                    format!("{}: singular test reading {}", g.trap, t.refs.join(", ")),
                ),
                (None, None, Some(u)) => s::test_evidence(
                    &u.file,
                    u.line,
                    format!("{}: unit test `{}` on {}", g.trap, u.name, u.model),
                ),
                (None, None, None) => {
                    let mut missing = Vec::new();
                    if !g.columns.is_empty() {
                        let cols: Vec<String> =
                            g.columns.iter().map(|(m, c)| format!("{m}.{c}")).collect();
                        missing.push(format!("no test on {}", cols.join(", ")));
                    }
                    if !g.singular.is_empty() {
                        missing.push(format!(
                            "no singular test reading {}",
                            g.singular.join(" or ")
                        ));
                    }
                    Evidence::note(format!("{}: {}", g.trap, missing.join("; ")))
                }
            };
            if is_tested {
                tested += 1;
            }
            evidence.push(ev.with_measured(json!({"trap": g.trap, "tested": is_tested})));
        }
        // Tests dbt never runs are shown, so that the reader sees why they earn nothing.
        evidence.extend(
            p.ignored_tests
                .iter()
                .take(6)
                .map(|t| s::test_evidence(&t.file, t.line, format!("not counted: {}", t.reason))),
        );
        s::result(
            meta,
            Outcome::from_fraction(tested as f64 / guards.len() as f64),
            format!("{tested} of {} traps guarded by a test", guards.len()),
            evidence,
        )
    }
}
