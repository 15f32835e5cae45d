use super::support::{self as s};
use crate::analyse::dbt::{Rel, RelKind};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Trap T8 (orphans). A model built on the reviews source checks each review
    /// against the purchases (`purchase_tables`: order_items, orders): a join, IN or
    /// EXISTS on order_id and product_id (`key_columns`) with a relation that comes
    /// from the order-items source, in a CTE the final select reads. Matching on
    /// order_id alone (the order exists but may not contain the product) earns half.
    /// A join's keys are read from its own ON / USING condition: a join to the
    /// order items on order_id alone fans each review out over the order's items,
    /// and a CASE comparing product_id afterwards does not make it a match.
    ///
    /// ## Why it matters
    /// 1-3 % of reviews point at orders that do not exist or do not contain the
    /// reviewed product. Counted as verified purchases they inflate seller ratings.
    ///
    /// ## How to pass
    /// Left join the distinct (order_id, product_id) pairs of order_items and flag
    /// `is_verified_purchase`, or inner join to keep verified reviews only.
    pub struct OrphanReviews {
        id: "dbt.orphan_reviews",
        title: "Orphan reviews not counted as verified purchases",
        confidence: Static,
    }
}

impl Check for OrphanReviews {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let (table, keys, purchases) = match (
            s::string(cx.params, "source_table"),
            s::list(cx.params, "key_columns"),
            s::list(cx.params, "purchase_tables"),
        ) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return s::param_error(meta, e),
        };
        let models = s::source_models(p, &table);
        if !models.iter().any(|m| m.candidate) {
            return s::result(
                meta,
                Outcome::NotAttempted,
                format!("no model of the candidate reads the `{table}` source"),
                vec![],
            );
        }
        // Which relations carry purchases, by the source they come from; the
        // first purchase table is the one that proves the product was bought.
        let from = |tables: &[String]| -> Vec<std::collections::BTreeSet<String>> {
            tables.iter().map(|t| p.downstream_of_source(t)).collect()
        };
        let downs = from(&purchases);
        let carries = |r: &Rel, idx: usize| match r.kind {
            RelKind::Ref => {
                downs[idx].contains(&r.name) && !p.downstream_of_source(&table).contains(&r.name)
            }
            RelKind::Source => r.name.rsplit('.').next() == Some(purchases[idx].as_str()),
            _ => false,
        };
        let mut best = 0.0;
        let mut evidence = Vec::new();
        let mut dead_all = Vec::new();
        for (idx, weight) in [(0usize, 1.0), (1usize, 0.5)] {
            if idx >= purchases.len() {
                continue;
            }
            let needed: Vec<&String> = if idx == 0 {
                keys.iter().collect()
            } else {
                keys.iter().take(1).collect()
            };
            let (live, dead) = s::scan(&models, |m, scope| {
                let sql = s::facts_of(m, scope)?;
                let pred = |r: &Rel| carries(r, idx);
                let joined = scope.joins.iter().find(|j| {
                    j.relation
                        .iter()
                        .chain(j.left.iter())
                        .any(|r| s::rel_reaches(sql, r, &pred, 0))
                        && needed.iter().all(|k| j.keys.contains(k))
                });
                if let Some(j) = joined {
                    return Some((
                        format!(
                            "matches reviews to `{}` on {}: `{}`",
                            purchases[idx],
                            j.keys.join(", "),
                            j.text
                        ),
                        Some("join".into()),
                    ));
                }
                // A join to the purchases is judged by its own condition: a
                // join on order_id alone fans each review out over the order's
                // items, whatever a later CASE compares.
                let joined = scope.joins.iter().any(|j| {
                    j.relation
                        .iter()
                        .chain(j.left.iter())
                        .any(|r| s::rel_reaches(sql, r, &pred, 0))
                });
                let sub = !joined
                    && scope
                        .relations
                        .iter()
                        .any(|r| s::rel_reaches(sql, r, &pred, 0))
                    && needed.iter().all(|k| {
                        scope.predicate_columns.contains(k) || scope.where_columns.contains(k)
                    });
                sub.then(|| {
                    (
                        format!("checks reviews against `{}`", purchases[idx]),
                        Some(keys[0].clone()),
                    )
                })
            });
            if let Some(hit) = live.first() {
                best = weight;
                evidence.push(hit.evidence());
                break;
            }
            dead_all.extend(dead);
        }
        evidence.extend(s::dead_evidence(&dead_all));
        if best == 0.0 {
            let broken = s::grader_failures(&models);
            if !broken.is_empty() {
                evidence.extend(s::failure_evidence(&broken));
                return s::result(
                    meta,
                    Outcome::Error,
                    "the review models could not be analysed",
                    evidence,
                );
            }
            evidence.push(Evidence::note("no live match of reviews against purchases"));
        }
        s::result(
            meta,
            Outcome::from_fraction(best),
            if best == 1.0 {
                "reviews are verified against order items".to_string()
            } else if best > 0.0 {
                "reviews are matched to orders but not to the products bought".to_string()
            } else {
                "orphan reviews pass through".to_string()
            },
            evidence,
        )
    }
}
