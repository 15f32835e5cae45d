use super::support::{self as s};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Each status-like column the rubric lists (`columns`, as `model.column`) is
    /// tested with `accepted_values` (or dbt_expectations'
    /// `expect_column_values_to_be_in_set`) on that model or on any model or source
    /// table of the candidate that carries a column of the same name.
    ///
    /// ## Why it matters
    /// GMV is defined by status. A new status the source starts sending (say
    /// `partially_refunded`) silently drops out of or into GMV unless a test stops
    /// the build.
    ///
    /// ## How to pass
    /// `accepted_values: {arguments: {values: [pending, confirmed, ...]}}` on
    /// fct_orders.status (or stg_orders.status), fct_payments.event_type and the
    /// seller tier.
    pub struct AcceptedValues {
        id: "dbt.accepted_values",
        title: "Status columns tested with accepted_values",
        confidence: Static,
    }
}

impl Check for AcceptedValues {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let cols = match s::model_columns(cx.params, "columns") {
            Ok(k) => k,
            Err(e) => return s::param_error(meta, e),
        };
        if !p.models.iter().any(|m| m.candidate) {
            return s::result(
                meta,
                Outcome::NotAttempted,
                "the candidate wrote no model",
                vec![],
            );
        }
        let mut found = 0;
        let mut evidence = Vec::new();
        for (model, column) in &cols {
            let on_model = s::tests_on(p, model, column)
                .into_iter()
                .find(|(_, _, t)| s::is_accepted_values_test(t));
            let elsewhere = || {
                p.yaml_models
                    .iter()
                    .filter(|y| y.candidate)
                    .flat_map(|y| {
                        y.columns
                            .iter()
                            .filter(|c| c.name == *column)
                            .flat_map(move |c| {
                                c.tests.iter().map(move |t| {
                                    (y.file.as_str(), t.line.or(c.line), t, y.name.clone())
                                })
                            })
                    })
                    .chain(p.sources.iter().filter(|t| t.candidate).flat_map(|st| {
                        st.columns
                            .iter()
                            .filter(|c| c.name == *column)
                            .flat_map(move |c| {
                                c.tests.iter().map(move |t| {
                                    (st.file.as_str(), t.line.or(c.line), t, st.table.clone())
                                })
                            })
                    }))
                    .find(|(_, _, t, _)| s::is_accepted_values_test(t))
            };
            match on_model
                .map(|(f, l, t)| (f, l, t, model.clone()))
                .or_else(elsewhere)
            {
                Some((file, line, t, on)) => {
                    found += 1;
                    let n = t
                        .args
                        .get("values")
                        .and_then(|v| v.as_array())
                        .map(|v| v.len())
                        .unwrap_or(0);
                    evidence.push(s::test_evidence(
                        file,
                        line,
                        format!("`{on}.{column}` accepts {n} values"),
                    ));
                }
                None => evidence.push(Evidence::note(format!(
                    "`{model}.{column}` has no accepted_values test"
                ))),
            }
        }
        s::result(
            meta,
            Outcome::from_fraction(found as f64 / cols.len().max(1) as f64),
            format!("{found} of {} status columns tested", cols.len()),
            evidence,
        )
    }
}
