use std::collections::BTreeMap;

use serde_json::json;

use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};
use crate::execute::NodeStatus;
use crate::execute::PhaseRun;

crate::declare_check! {
    /// ## What it checks
    /// The candidate's own dbt tests (generic tests in YAML and singular tests in
    /// `tests/`) as `dbt build` ran them in each phase on the seeded data. Tests
    /// defined in starter files the candidate left unchanged do not count. The
    /// outcome is the share of the candidate's tests that passed in every phase
    /// they ran in (a warning counts as passing, a test skipped because its model
    /// failed does not); every failure is listed with dbt's message. A singular
    /// test that cannot fail whatever the data (`where 1 = 0`, no condition on
    /// any column: the dbt analyser's verdict) is listed and not counted.
    ///
    /// A phase whose results cannot be believed (the submission's code ended
    /// it, or its `run_results.json` is forged) fails the check outright: its
    /// tests' outcomes are unknown or claimed by the submission itself.
    ///
    /// ## Why it matters
    /// Tests are how a team learns that yesterday's load broke a rule. A test that
    /// fails on the exercise's data means either the pipeline is wrong or the test
    /// asserts something the data does not hold; either way it would page someone
    /// on the first night.
    ///
    /// ## How to pass
    /// Write tests that state the rules your models guarantee (unique keys, not-null
    /// columns, accepted values, reconciliations) and run `dbt build` on the data
    /// before you submit. Tests that watch the raw data for a known problem belong
    /// at `severity: warn`, so they report without failing the build.
    pub struct CandidateTestsPass {
        id: "exec.candidate_tests_pass",
        title: "The candidate's own dbt tests pass on the seeded data",
        confidence: Executed,
    }
}

#[derive(Default)]
struct TestRecord {
    file: Option<String>,
    ran: usize,
    /// (phase, status, message) of the first run that did not pass.
    failure: Option<(u8, String, String)>,
}

impl Check for CandidateTestsPass {
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
        let inventory = &cx.facts.inventory;
        // Singular tests that pass whatever the data: counting them would let a
        // submission raise its pass rate with tests that assert nothing.
        let vacuous: BTreeMap<&str, &str> = cx
            .facts
            .dbt
            .main_project()
            .map(|p| {
                p.singular_tests
                    .iter()
                    .filter(|t| !t.meaningful)
                    .map(|t| (t.path.as_str(), t.note.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let faults: Vec<Evidence> = facts
            .phases
            .iter()
            .filter_map(|p| {
                p.submission_fault()
                    .map(|f| Evidence::note(format!("phase {} ({}): {f}", p.number, p.name)))
            })
            .collect();
        if let Some(first) = faults.first() {
            return result(
                Outcome::Fail,
                format!(
                    "the candidate's tests are not credited: {}",
                    clip(&first.note, 240)
                ),
            )
            .with_all_evidence(faults);
        }
        let mut not_counted: BTreeMap<String, String> = BTreeMap::new();
        let mut tests: BTreeMap<String, TestRecord> = BTreeMap::new();
        for phase in &facts.phases {
            if !matches!(phase.ran, PhaseRun::Completed | PhaseRun::DbtTimedOut) {
                continue;
            }
            for r in phase
                .results
                .iter()
                .filter(|r| r.unique_id.starts_with("test."))
            {
                let file = phase
                    .manifest
                    .as_ref()
                    .and_then(|m| m.nodes.get(&r.unique_id))
                    .and_then(|n| n.original_file_path.as_deref())
                    .map(|p| facts.submission_path(p));
                // Only tests in files the candidate wrote or changed are theirs.
                if let Some(f) = &file {
                    if !inventory.is_candidate_work(f) {
                        continue;
                    }
                    if let Some(why) = vacuous.get(f.as_str()) {
                        not_counted.insert(f.clone(), why.to_string());
                        continue;
                    }
                }
                let rec = tests.entry(r.unique_id.clone()).or_default();
                rec.file = rec.file.take().or(file);
                rec.ran += 1;
                if !r.status.is_ok() && rec.failure.is_none() {
                    let status = match &r.status {
                        NodeStatus::Skipped => "skipped (an upstream node failed)".to_string(),
                        NodeStatus::Fail => match r.failures {
                            Some(n) => format!("failed with {n} failing row(s)"),
                            None => "failed".to_string(),
                        },
                        NodeStatus::Error | NodeStatus::RuntimeError => "errored".to_string(),
                        NodeStatus::Other(s) => format!("ended as `{s}`"),
                        _ => "did not pass".to_string(),
                    };
                    rec.failure =
                        Some((phase.number, status, r.message.clone().unwrap_or_default()));
                }
            }
        }
        let vacuous_evidence: Vec<Evidence> = not_counted
            .iter()
            .map(|(file, why)| {
                Evidence::at(
                    file.as_str(),
                    None,
                    format!("a singular test that cannot fail ({why}): not counted"),
                )
            })
            .collect();
        if tests.is_empty() {
            let msg = if not_counted.is_empty() {
                "no dbt test written by the candidate ran".to_string()
            } else {
                format!(
                    "the candidate's {} singular test(s) that ran cannot fail whatever the data",
                    not_counted.len()
                )
            };
            return result(Outcome::NotAttempted, msg).with_all_evidence(vacuous_evidence);
        }
        let total = tests.len();
        let failing: Vec<(&String, &TestRecord)> =
            tests.iter().filter(|(_, t)| t.failure.is_some()).collect();
        let passed = total - failing.len();
        let mut evidence = vec![Evidence::note("the candidate's dbt tests")
            .with_measured(json!({"passed": passed, "tests": total}))
            .with_expected(json!({"passed": total}))];
        for (id, t) in &failing {
            let (phase, status, message) = t.failure.as_ref().expect("failing");
            let note = format!(
                "`{}` {status} in phase {phase}{}",
                short_test_name(id),
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", clip(message, 300))
                }
            );
            evidence.push(match &t.file {
                Some(f) => Evidence::at(f.as_str(), None, note),
                None => Evidence::note(note),
            });
        }
        evidence.extend(vacuous_evidence);
        let mut summary =
            format!("{passed} of {total} of the candidate's dbt tests passed in every phase");
        if !not_counted.is_empty() {
            summary.push_str(&format!(
                "; {} singular test(s) that cannot fail not counted",
                not_counted.len()
            ));
        }
        result(
            Outcome::from_fraction(passed as f64 / total as f64),
            summary,
        )
        .with_all_evidence(evidence)
    }
}

/// `test.<package>.<name>.<hash>` → `<name>`.
fn short_test_name(unique_id: &str) -> &str {
    let mut parts = unique_id.splitn(3, '.');
    let _ = parts.next();
    let _ = parts.next();
    let rest = parts.next().unwrap_or(unique_id);
    match rest.rsplit_once('.') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name,
        _ => rest,
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_drop_package_and_hash() {
        assert_eq!(
            short_test_name("test.marketplace.unique_fct_orders_order_id.a1b2c3d4e5"),
            "unique_fct_orders_order_id"
        );
        assert_eq!(
            short_test_name("test.marketplace.assert_no_dupes"),
            "assert_no_dupes"
        );
    }
}
