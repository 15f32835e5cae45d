use serde_json::json;

use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};
use crate::execute::workloads::dbt::{self, Tolerance};

crate::declare_check! {
    /// ## What it checks
    /// The hidden checks that agree with the truth after the initial build
    /// (phase 1) and disagree after the incremental build (phase 2), when the
    /// grader has replaced the raw tables with the next week's snapshot and run
    /// `dbt build` again without `--full-refresh`. Each such check is a
    /// regression the second load caused: a watermark that stalled, an append
    /// that duplicated, a merge without a key. Checks that already failed after
    /// the first build are not counted here: they are data-quality failures,
    /// scored where they belong.
    ///
    /// Passes when no check regresses; fails when any does. Not attempted when
    /// no hidden check agreed after the first build (nothing to regress from).
    ///
    /// ## Why it matters
    /// A pipeline runs every day on new data. A model that is right on day one
    /// and wrong from day two is an incremental-design failure, and only a
    /// second load shows it.
    ///
    /// ## How to pass
    /// Make incremental models pick up new and changed rows: a watermark that a
    /// future timestamp cannot stall (the loader's extraction time, or a
    /// timestamp capped at it), a unique key with a merge strategy for rows that
    /// change. Tables rebuilt from scratch also pass.
    ///
    /// ## Example
    /// `fct_payments` materialised incremental with `where _airbyte_extracted_at
    /// >= (select max(...) from {{ this }})` but no `unique_key`: re-delivered
    /// events are appended a second time, `hidden.payments_unique_events` agrees
    /// in phase 1 and disagrees in phase 2.
    pub struct IncrementalRegressions {
        id: "exec.incremental_regressions",
        title: "The incremental load breaks nothing the initial load got right",
        confidence: Executed,
    }
}

impl Check for IncrementalRegressions {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let facts = match super::executed(cx, meta) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let result =
            |outcome, msg: String| CheckResult::new(meta.id, outcome, meta.confidence, msg);
        let tol = match Tolerance::from_params(cx.params) {
            Ok(t) => t,
            Err(e) => return result(Outcome::Error, e.to_string()),
        };
        let first = dbt::phase_verdicts(facts, 1, &tol);
        let second = dbt::phase_verdicts(facts, 2, &tol);
        if second.is_empty() || second.iter().all(|v| v.outcome == Outcome::Error) {
            return result(
                Outcome::Error,
                "the incremental phase's hidden checks could not be judged by the grader".into(),
            );
        }
        let passed_first: Vec<&str> = first
            .iter()
            .filter(|v| v.outcome == Outcome::Pass)
            .map(|v| v.check.as_str())
            .collect();
        if passed_first.is_empty() {
            return result(
                Outcome::NotAttempted,
                "no hidden check agreed with the truth after the initial build, so the incremental load has nothing to keep right".into(),
            );
        }
        let regressed: Vec<_> = second
            .iter()
            .filter(|v| v.outcome == Outcome::Fail && passed_first.contains(&v.check.as_str()))
            .collect();
        let mut evidence = vec![Evidence::note(
            "hidden checks right after phase 1, wrong after phase 2",
        )
        .with_measured(
            json!({"regressed": regressed.len(), "right_after_phase_1": passed_first.len()}),
        )
        .with_expected(json!({"regressed": 0}))];
        evidence.extend(
            regressed
                .iter()
                .map(|v| crate::evidence::verdict_evidence(v)),
        );
        if regressed.is_empty() {
            return result(
                Outcome::Pass,
                format!(
                    "all {} hidden checks that agreed after the initial build still agree after the incremental one",
                    passed_first.len()
                ),
            )
            .with_all_evidence(evidence);
        }
        let names: Vec<&str> = regressed.iter().map(|v| v.check.as_str()).collect();
        result(
            Outcome::Fail,
            format!(
                "the incremental load broke {} check(s) that agreed after the initial build: {}",
                regressed.len(),
                names.join(", ")
            ),
        )
        .with_all_evidence(evidence)
    }
}
