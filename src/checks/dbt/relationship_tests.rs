use super::support::{self as s};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// The foreign keys the rubric lists (`foreign_keys`, as `model.column`) carry a
    /// `relationships` test (or `dbt_utils.relationships_where`) in the candidate's
    /// YAML. Models that do not exist are not counted.
    ///
    /// ## Why it matters
    /// An order pointing to a user who is not in dim_users, or a payment for an
    /// order that is not in fct_orders, drops out of every inner join: revenue
    /// vanishes without an error.
    ///
    /// ## How to pass
    /// `relationships: {arguments: {to: ref('dim_users'), field: user_id}}` under
    /// fct_orders.buyer_id, and likewise for the other keys.
    pub struct RelationshipTests {
        id: "dbt.relationship_tests",
        title: "Foreign keys tested with relationships",
        confidence: Static,
    }
}

impl Check for RelationshipTests {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let fks = match s::model_columns(cx.params, "foreign_keys") {
            Ok(k) => k,
            Err(e) => return s::param_error(meta, e),
        };
        let present: Vec<&(String, String)> = fks
            .iter()
            .filter(|(m, _)| s::candidate_model(p, m).is_some())
            .collect();
        if present.is_empty() {
            return s::result(
                meta,
                Outcome::NotAttempted,
                "none of the models with foreign keys exists",
                vec![],
            );
        }
        let mut found = 0;
        let mut evidence = Vec::new();
        for (model, column) in &present {
            match s::tests_on(p, model, column)
                .into_iter()
                .find(|(_, _, t)| s::is_relationship_test(t))
            {
                Some((file, line, t)) => {
                    found += 1;
                    let to = t.args.get("to").and_then(|v| v.as_str()).unwrap_or("?");
                    evidence.push(s::test_evidence(
                        file,
                        line,
                        format!("`{model}.{column}` → {to}"),
                    ));
                }
                None => evidence.push(Evidence::note(format!(
                    "`{model}.{column}` has no relationships test"
                ))),
            }
        }
        s::result(
            meta,
            Outcome::from_fraction(found as f64 / present.len() as f64),
            format!("{found} of {} foreign keys tested", present.len()),
            evidence,
        )
    }
}
