use super::support::{self as s};
use crate::analyse::dbt::{Rel, RelKind};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Trap T6 (multi-currency). For each model the rubric names (`targets`:
    /// fct_orders, fct_payments, mart_seller_performance), some model on its
    /// upstream lineage joins the exchange-rate seed (`seed`, directly or through a
    /// model or CTE that reads it) on the currency AND on a month (a month column
    /// or a month truncation of the order's date), in a CTE the final select reads.
    /// A join on currency alone earns half.
    ///
    /// ## Why it matters
    /// Prices and totals come in USD, EUR and GBP and rates move month to month.
    /// Summing raw amounts, or converting with one rate for all months, misstates
    /// GMV and breaks reconciliation between orders and payments.
    ///
    /// ## How to pass
    /// Join `ref('exchange_rates')` on `currency` and on
    /// `date_trunc('month', created_at_utc)` of the order (not of the payment or the
    /// product), and multiply by `rate_to_usd`.
    pub struct CurrencyByMonth {
        id: "dbt.currency_by_month",
        title: "Amounts converted to USD at the order month's rate",
        confidence: Static,
    }
}

impl Check for CurrencyByMonth {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let (seed, targets, currency) = match (
            s::string(cx.params, "seed"),
            s::list(cx.params, "targets"),
            s::string(cx.params, "currency_column"),
        ) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return s::param_error(meta, e),
        };
        let present: Vec<&String> = targets
            .iter()
            .filter(|t| s::candidate_model(p, t).is_some())
            .collect();
        if present.is_empty() {
            return s::result(
                meta,
                Outcome::NotAttempted,
                "none of the models that carry USD amounts exists",
                vec![],
            );
        }
        let is_rates = |r: &Rel| r.kind == RelKind::Ref && p.reads_seed(&r.name, &seed);
        let mut total = 0.0;
        let mut evidence = Vec::new();
        let mut dead_all = Vec::new();
        let mut broken_all = Vec::new();
        for t in &present {
            let mut up: Vec<_> = p.upstream(t).into_iter().collect();
            up.push((*t).clone());
            let models: Vec<_> = p.models.iter().filter(|m| up.contains(&m.name)).collect();
            let find = |by_month: bool| {
                s::scan(&models, |m, scope| {
                    let sql = s::facts_of(m, scope)?;
                    scope
                        .joins
                        .iter()
                        .find(|j| {
                            let rates_side = j
                                .relation
                                .iter()
                                .chain(j.left.iter())
                                .any(|r| s::rel_reaches(sql, r, &is_rates, 0));
                            rates_side && j.keys.contains(&currency) && j.by_month == by_month
                        })
                        .map(|j| {
                            let how = if by_month {
                                "on currency and month"
                            } else {
                                "on currency but not on a month"
                            };
                            (
                                format!("joins the `{seed}` rates {how}: `{}`", j.text),
                                Some("join".to_string()),
                            )
                        })
                })
            };
            let (live, dead) = find(true);
            if let Some(hit) = live.first() {
                total += 1.0;
                let mut e = hit.evidence();
                e.note = format!("{} — upstream of `{t}`", e.note);
                evidence.push(e);
                continue;
            }
            dead_all.extend(dead);
            let (live_cur, _) = find(false);
            if let Some(hit) = live_cur.first() {
                total += 0.5;
                evidence.push(hit.evidence());
                continue;
            }
            evidence.push(Evidence::note(format!(
                "no model upstream of `{t}` joins the `{seed}` rates on currency"
            )));
            broken_all.extend(s::grader_failures(&models));
        }
        evidence.extend(s::dead_evidence(&dead_all));
        if total == 0.0 && !broken_all.is_empty() {
            evidence.extend(s::failure_evidence(&broken_all));
            return s::result(
                meta,
                Outcome::Error,
                "the models that could convert currency could not be analysed",
                evidence,
            );
        }
        let fraction = total / present.len() as f64;
        s::result(
            meta,
            Outcome::from_fraction(fraction),
            format!(
                "{total} of {} USD models convert at the order month's rate",
                present.len()
            ),
            evidence,
        )
    }
}
