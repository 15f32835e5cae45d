use super::support::{self as s, any_col};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Trap T2 (late-arriving / future timestamps). On models built on the products
    /// source: `column` (updated_at) is capped (LEAST with the sync time) or flagged
    /// (compared with the current or the loader's time) in a live CTE; and no
    /// incremental model on that lineage keeps a high-water mark on an uncapped
    /// application timestamp. A watermark on the loader's columns
    /// (`loader_columns`) is safe. Safe watermarks without a cap or flag earn half.
    ///
    /// ## Why it matters
    /// 2-4 % of products carry an updated_at months in the future. An incremental
    /// model whose watermark is `max(updated_at)` stops seeing real edits until that
    /// future date: the second load silently changes nothing.
    ///
    /// ## How to pass
    /// `least(updated_at, _airbyte_extracted_at) as updated_at` plus a
    /// `has_future_updated_at` flag in staging, and incremental filters on the
    /// loader's `_airbyte_extracted_at` or on the capped column.
    pub struct FutureTimestamps {
        id: "dbt.future_timestamps",
        title: "Future updated_at cannot stall a watermark",
        confidence: Static,
    }
}

impl Check for FutureTimestamps {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let (table, column, loader) = match (
            s::string(cx.params, "source_table"),
            s::string(cx.params, "column"),
            s::list(cx.params, "loader_columns"),
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
        let (caps, dead) = s::scan(&models, |_, scope| {
            if any_col(&scope.least, &column) {
                Some((format!("caps {column} with LEAST"), Some("least".into())))
            } else if any_col(&scope.compared_with_now, &column) {
                Some((
                    format!("compares {column} with the current or the sync time"),
                    Some(column.clone()),
                ))
            } else {
                None
            }
        });
        let mut evidence: Vec<Evidence> = caps.iter().take(2).map(|h| h.evidence()).collect();
        evidence.extend(s::dead_evidence(&dead));
        let capped = !caps.is_empty();
        let mut unsafe_marks = 0;
        let mut safe_marks = 0;
        for m in models.iter().filter(|m| m.candidate && m.is_incremental()) {
            for scope in m.incremental_sql.iter().flat_map(|f| f.reachable_scopes()) {
                for w in &scope.watermarks {
                    let hit = s::Hit {
                        model: m,
                        scope,
                        note: String::new(),
                        needle: Some(
                            w.text
                                .split_whitespace()
                                .next()
                                .unwrap_or("where")
                                .to_string(),
                        ),
                    };
                    let on_loader = w
                        .columns
                        .iter()
                        .any(|c| loader.iter().any(|l| s::col_is(c, l)));
                    if on_loader || capped {
                        safe_marks += 1;
                        let mut e = hit.evidence();
                        e.note = format!(
                            "watermark `{}` cannot be stalled by a future {column}{}",
                            w.text,
                            if on_loader {
                                " (loader time)"
                            } else {
                                " (capped upstream)"
                            }
                        );
                        evidence.push(e);
                    } else {
                        unsafe_marks += 1;
                        let mut e = hit.evidence();
                        e.note = format!("watermark `{}` follows an uncapped application timestamp: one future {column} stalls it", w.text);
                        evidence.push(e);
                    }
                }
            }
        }
        let broken = s::grader_failures(&models);
        let (outcome, summary) = if unsafe_marks > 0 {
            (
                Outcome::Fail,
                format!(
                    "{unsafe_marks} incremental watermark(s) can be stalled by a future {column}"
                ),
            )
        } else if capped {
            (
                Outcome::Pass,
                format!("future {column} values are capped or flagged"),
            )
        } else if !broken.is_empty() {
            evidence.extend(s::failure_evidence(&broken));
            (
                Outcome::Error,
                "the product models could not be analysed".to_string(),
            )
        } else if safe_marks > 0 {
            (
                Outcome::from_fraction(0.5),
                format!(
                    "watermarks are safe, but future {column} values reach the marts unflagged"
                ),
            )
        } else {
            evidence.push(Evidence::note(format!(
                "no live CTE caps or flags {column}"
            )));
            (
                Outcome::Fail,
                format!("future {column} values pass through unflagged"),
            )
        };
        s::result(meta, outcome, summary, evidence)
    }
}
