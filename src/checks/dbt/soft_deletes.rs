use super::support::{self as s, any_col};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Trap T4 (soft deletes). On the path from the users source to the rubric's
    /// `targets` (dim_users), a live CTE or final select reads `column`
    /// (deleted_at) in a condition: a filter, a CASE, or a flag such as
    /// `deleted_at is not null as is_deleted`. Passing deleted_at through untouched
    /// is not handling it, and a `flag_column` that the target sets to a constant
    /// (`false as is_deleted`) fails.
    ///
    /// ## Why it matters
    /// 4-7 % of users are soft-deleted and some have orders. Counting them as active
    /// inflates user metrics; dropping them silently loses their sales.
    ///
    /// ## How to pass
    /// Flag them (`deleted_at is not null as is_deleted`) in staging and keep the flag
    /// in dim_users, or filter them where active users are counted.
    pub struct SoftDeletes {
        id: "dbt.soft_deletes",
        title: "Soft-deleted users flagged or excluded",
        confidence: Static,
    }
}

impl Check for SoftDeletes {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let (table, column, targets, flag) = match (
            s::string(cx.params, "source_table"),
            s::string(cx.params, "column"),
            s::list(cx.params, "targets"),
            s::string(cx.params, "flag_column"),
        ) {
            (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
                return s::param_error(meta, e)
            }
        };
        constant_or_handled(meta, p, &table, &column, &targets, &flag, |scope| {
            if any_col(&scope.where_columns, &column) {
                Some(format!("filters on {column}"))
            } else if any_col(&scope.predicate_columns, &column) {
                Some(format!("derives a flag or condition from {column}"))
            } else {
                None
            }
        })
    }
}

/// Shared by the checks whose handling must sit on the path to a target model and
/// whose target column must not be a constant.
pub fn constant_or_handled(
    meta: &CheckMeta,
    p: &crate::analyse::dbt::DbtProjectFacts,
    table: &str,
    column: &str,
    targets: &[String],
    target_column: &str,
    handles: impl Fn(&crate::analyse::dbt::Scope) -> Option<String>,
) -> CheckResult {
    let readers = s::source_models(p, table);
    if !readers.iter().any(|m| m.candidate) {
        return s::result(
            meta,
            Outcome::NotAttempted,
            format!("no model of the candidate reads the `{table}` source"),
            vec![],
        );
    }
    let mut evidence = Vec::new();
    for t in targets {
        let Some(m) = s::candidate_model(p, t) else {
            continue;
        };
        let Some(cols) = m.sql.as_ref().and_then(|f| f.output_columns()) else {
            continue;
        };
        if let Some(c) = cols
            .iter()
            .find(|c| c.name.as_deref() == Some(target_column) && c.constant)
        {
            let line = m
                .line_of(&format!("{} as {target_column}", c.text), 1)
                .or_else(|| m.line_of(&format!("as {target_column}"), 1))
                .or_else(|| m.line_of(target_column, 1));
            evidence.push(
                s::test_evidence(
                    &m.path,
                    line,
                    format!(
                        "`{t}.{target_column}` is the constant `{}`: nothing is handled",
                        c.text
                    ),
                )
                .with_snippet(line.map(|l| m.snippet(l, 1)).unwrap_or_default()),
            );
            return s::result(
                meta,
                Outcome::Fail,
                format!("{t}.{target_column} is a constant"),
                evidence,
            );
        }
    }
    let mut path: Vec<_> = targets
        .iter()
        .filter(|t| p.model(t).is_some())
        .flat_map(|t| p.path_models(table, t))
        .collect();
    if path.is_empty() {
        path = readers.clone();
    }
    let (live, dead) = s::scan(&path, |_, scope| {
        handles(scope).map(|n| (n, Some(column.to_string())))
    });
    if let Some(hit) = live.first() {
        evidence.push(hit.evidence());
        return s::result(
            meta,
            Outcome::Pass,
            format!("{column} is handled on the path to the target"),
            evidence,
        );
    }
    evidence.extend(s::dead_evidence(&dead));
    let broken = s::grader_failures(&path);
    if !broken.is_empty() {
        evidence.extend(s::failure_evidence(&broken));
        return s::result(
            meta,
            Outcome::Error,
            "the models that could handle it could not be analysed",
            evidence,
        );
    }
    evidence.push(Evidence::note(format!(
        "no live CTE on the path from source `{table}` handles {column}"
    )));
    s::result(
        meta,
        Outcome::Fail,
        format!("{column} passes through unhandled"),
        evidence,
    )
}
