use super::support::{self as s};
use crate::analyse::dbt::{Layer, RelKind};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Each mart the candidate wrote names its output columns. `select * from
    /// final`, where the CTE `final` lists its columns, is fine (the dbt style
    /// guide's shape), and so is an import CTE `select * from {{ ref('x') }}` that
    /// later CTEs pick columns from. A mart whose output is a star that reaches a
    /// ref, a source or a join is flagged.
    ///
    /// ## Why it matters
    /// A mart is a contract with its readers. With a star its columns change
    /// whenever an upstream model does, and loader metadata leaks into dashboards.
    ///
    /// ## How to pass
    /// End marts with an explicit column list, or with `select * from final` where
    /// `final` lists the columns.
    pub struct NoSelectStarInMarts {
        id: "dbt.no_select_star_in_marts",
        title: "Marts name their columns",
        confidence: Static,
    }
}

impl Check for NoSelectStarInMarts {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let marts: Vec<_> = p
            .models
            .iter()
            .filter(|m| m.candidate && m.layer == Some(Layer::Mart))
            .collect();
        if marts.is_empty() {
            return s::result(
                meta,
                Outcome::NotAttempted,
                "the candidate wrote no mart",
                vec![],
            );
        }
        let mut evidence = Vec::new();
        let mut bad = 0;
        let mut judged = 0;
        for m in &marts {
            let Some(sql) = &m.sql else { continue };
            judged += 1;
            if sql.output_columns().is_none() {
                bad += 1;
                let fin = sql.final_scope();
                let from = fin
                    .and_then(|f| f.star.as_ref())
                    .map(|st| {
                        st.from
                            .iter()
                            .map(|r| match r.kind {
                                RelKind::Cte => format!("CTE {}", r.name),
                                _ => r.name.clone(),
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                let line = m
                    .line_of("*", fin.and_then(|f| m.scope_line(f)).unwrap_or(1))
                    .or_else(|| m.line_of("*", 1));
                evidence.push(
                    s::test_evidence(&m.path, line, format!("output is a star over {from}"))
                        .with_snippet(line.map(|l| m.snippet(l, 1)).unwrap_or_default()),
                );
            }
        }
        if judged == 0 {
            return s::result(
                meta,
                Outcome::Error,
                "no mart could be analysed",
                s::failure_evidence(&marts),
            );
        }
        if bad == 0 {
            evidence.push(Evidence::note(format!(
                "all {judged} marts name their columns"
            )));
        }
        s::result(
            meta,
            Outcome::from_fraction((judged - bad) as f64 / judged as f64),
            format!("{bad} of {judged} marts end in a select *"),
            evidence,
        )
    }
}
