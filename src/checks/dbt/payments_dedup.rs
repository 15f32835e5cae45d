use serde_json::json;

use super::support::{self as s, any_col};
use crate::analyse::dbt::Scope;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Trap T1 (duplicate payment events). On the lineage path from the payments
    /// source to the models the rubric names (`targets`: fct_payments and the
    /// reconciliation mart), some model keeps one row per `key` (event_id): a
    /// ROW_NUMBER/RANK over a partition by event_id kept where it equals 1 (WHERE
    /// or QUALIFY), DISTINCT ON (event_id), a DISTINCT over named columns, or a
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

/// How a scope keeps one row per key, if it does.
pub fn dedup_on(scope: &Scope, key: &str, delivery: &[String]) -> Option<(String, Option<String>)> {
    let clean = |cols: &[String]| {
        cols.iter().any(|c| c == key) && !cols.iter().any(|c| delivery.iter().any(|d| c == d))
    };
    for w in &scope.windows {
        if matches!(w.function.as_str(), "row_number" | "rank" | "dense_rank")
            && w.filtered_to_first
            && clean(&w.partition_by)
        {
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
            let (live, dead) = s::scan(&path, |_, scope| dedup_on(scope, &key, &delivery));
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
