use serde_json::json;

use super::support::{self as s, any_col};
use crate::analyse::dbt::{DbtProjectFacts, ModelFacts, Scope, WindowUse};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Trap T1 (duplicate payment events). On the lineage path from the payments
    /// source to the models the rubric names (`targets`: fct_payments and the
    /// reconciliation mart), some model keeps one row per `key` (event_id): a
    /// ROW_NUMBER/RANK over a partition by event_id kept where it equals 1 (WHERE
    /// or QUALIFY, in the same model or in a later model of the path that reads
    /// the rank), DISTINCT ON (event_id), a DISTINCT over named columns, or a
    /// GROUP BY event_id. The partition must not include the columns that differ
    /// between deliveries (`delivery_columns`: received_at, the loader's row id).
    ///
    /// ## Why it matters
    /// The processor delivers 3-6 % of events two or three times. Without a dedup
    /// every captured amount is over-counted and reconciliation fails. A dedup in a
    /// CTE nothing selects from, or in a model the marts never read, changes nothing.
    ///
    /// ## How to pass
    /// In the staging model of payments (or any model the payment marts read),
    /// `qualify row_number() over (partition by event_id order by received_at) = 1`
    /// in a CTE that the final select reads.
    pub struct PaymentsDedup {
        id: "dbt.payments_dedup",
        title: "Payment events deduplicated on event_id before the marts",
        confidence: Static,
    }
}

fn is_rank(w: &WindowUse) -> bool {
    matches!(w.function.as_str(), "row_number" | "rank" | "dense_rank")
}

/// A partition (or grouping) that holds the key and none of the columns that
/// differ between deliveries of one event.
fn clean(cols: &[String], key: &str, delivery: &[String]) -> bool {
    cols.iter().any(|c| c == key) && !cols.iter().any(|c| delivery.iter().any(|d| c == d))
}

/// How a scope keeps one row per key, if it does.
pub fn dedup_on(scope: &Scope, key: &str, delivery: &[String]) -> Option<(String, Option<String>)> {
    let clean = |cols: &[String]| clean(cols, key, delivery);
    for w in &scope.windows {
        if is_rank(w) && w.filtered_to_first && clean(&w.partition_by) {
            return Some((
                format!("keeps rank 1 of `{}`", w.text),
                Some("partition by".into()),
            ));
        }
    }
    if let Some(d) = &scope.distinct {
        if !d.on.is_empty() && clean(&d.on) {
            return Some((
                format!("DISTINCT ON ({})", d.on.join(", ")),
                Some("distinct".into()),
            ));
        }
        if d.on.is_empty() && !d.star && clean(&d.columns) {
            return Some((
                format!("DISTINCT over {}", d.columns.join(", ")),
                Some("distinct".into()),
            ));
        }
    }
    if clean(&scope.group_by) && !any_col(&scope.group_by, "received_at") {
        return Some((
            format!("GROUP BY {}", scope.group_by.join(", ")),
            Some("group by".into()),
        ));
    }
    None
}

/// A rank over the key that `scope` of `model` outputs unfiltered, kept where it
/// equals 1 by a later model among `path`.
fn rank_kept_downstream(
    p: &DbtProjectFacts,
    model: &ModelFacts,
    scope: &Scope,
    path: &[&ModelFacts],
    key: &str,
    delivery: &[String],
) -> Option<(String, Option<String>)> {
    scope.windows.iter().find_map(|w| {
        let alias = w.alias.as_deref()?;
        if !is_rank(w) || w.filtered_to_first || !clean(&w.partition_by, key, delivery) {
            return None;
        }
        let reader = p.keeps_first_downstream(&model.name, alias, path)?;
        Some((
            format!("ranks `{}`; `{}` keeps {alias} = 1", w.text, reader.name),
            Some("partition by".into()),
        ))
    })
}

impl Check for PaymentsDedup {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let (table, key, targets, delivery) = match (
            s::string(cx.params, "source_table"),
            s::string(cx.params, "key"),
            s::list(cx.params, "targets"),
            s::list(cx.params, "delivery_columns"),
        ) {
            (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
                return s::param_error(meta, e)
            }
        };
        let readers = s::source_models(p, &table);
        if !readers.iter().any(|m| m.candidate) {
            return s::result(
                meta,
                Outcome::NotAttempted,
                format!("no model of the candidate reads the `{table}` source"),
                vec![],
            );
        }
        let present: Vec<&String> = targets.iter().filter(|t| p.model(t).is_some()).collect();
        let mut evidence = Vec::new();
        let mut credited = 0usize;
        let goals: Vec<Option<&String>> = if present.is_empty() {
            vec![None]
        } else {
            present.iter().map(|t| Some(*t)).collect()
        };
        let mut all_dead = Vec::new();
        for goal in &goals {
            let path = match goal {
                Some(t) => p.path_models(&table, t),
                None => readers.clone(),
            };
            let (live, dead) = s::scan(&path, |m, scope| {
                dedup_on(scope, &key, &delivery)
                    .or_else(|| rank_kept_downstream(p, m, scope, &path, &key, &delivery))
            });
            match live.first() {
                Some(hit) => {
                    credited += 1;
                    let mut e = hit.evidence();
                    if let Some(t) = goal {
                        e.note = format!("{} — on the path to `{t}`", e.note);
                    }
                    evidence.push(e);
                }
                None => {
                    if let Some(t) = goal {
                        evidence.push(Evidence::note(format!("no model on the path from source `{table}` to `{t}` keeps one row per {key}")));
                    }
                }
            }
            all_dead.extend(dead);
        }
        evidence.extend(s::dead_evidence(&all_dead));
        let fraction = credited as f64 / goals.len() as f64;
        if credited == 0 {
            let broken = s::grader_failures(&readers);
            if !broken.is_empty() {
                evidence.extend(s::failure_evidence(&broken));
                return s::result(
                    meta,
                    Outcome::Error,
                    "the models that could hold the dedup could not be analysed",
                    evidence,
                );
            }
        }
        let summary = if credited == 0 && !all_dead.is_empty() {
            format!("a dedup on {key} exists only where nothing selects from it")
        } else {
            format!(
                "deduplicated on {key} before {credited} of {} payment target(s)",
                goals.len()
            )
        };
        s::result(meta, Outcome::from_fraction(fraction), summary, evidence).with_evidence(
            Evidence::note("payment models reached by a dedup")
                .with_measured(json!(credited))
                .with_expected(json!(goals.len())),
        )
    }
}
