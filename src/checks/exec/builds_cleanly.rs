use serde_json::json;

use crate::execute::NodeStatus;

use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};
use crate::execute::workloads::dbt::log_excerpt;
use crate::execute::{PhaseFacts, PhaseRun};

crate::declare_check! {
    /// ## What it checks
    /// Whether `dbt build` builds every model, seed and snapshot of the project in
    /// each of the three phases (initial load, incremental load, rerun): dbt parses
    /// the project, raises nothing, and every non-test node ends in success. The
    /// outcome is the share of phases with a clean build; every node that errored
    /// or was skipped is listed with dbt's message. Tests are judged by
    /// `exec.candidate_tests_pass`. A node that dbt skipped because a test
    /// upstream of it failed is the project's own quality gate at work, not a
    /// build failure; skips count only beside a node that errored. A project
    /// that still holds only the starter's models is not attempted.
    ///
    /// dbt's artifacts are claims: a phase whose `run_results.json` the
    /// grader's own observations contradict (a relation it says was built
    /// that the warehouse lacks, nodes the manifest lacks, results written
    /// after dbt's process was ended) is a forged artifact, and the check
    /// fails outright. A phase the submission's code ended (the runner
    /// killed, a sandbox limit reached, outputs over their caps) is not clean.
    ///
    /// ## Why it matters
    /// A model that does not build leaves every model downstream stale or empty:
    /// dashboards show yesterday's numbers and nobody is told. A build that works
    /// on the first load but breaks on the second (a schema change, an incremental
    /// path never exercised) breaks on the first night in production.
    ///
    /// ## How to pass
    /// Write SQL the warehouse runs (DuckDB for this exercise), reference models
    /// with `ref()` and sources with `source()`, need no packages from the
    /// network, and run `dbt build` twice on your own data before submitting, the
    /// second time without `--full-refresh`.
    pub struct BuildsCleanly {
        id: "exec.builds_cleanly",
        title: "dbt builds every model in all three runs",
        confidence: Executed,
    }
}

impl Check for BuildsCleanly {
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
        let wrote_models = inventory
            .dbt_projects
            .iter()
            .flat_map(|p| p.models.iter())
            .any(|m| inventory.is_candidate_work(m));
        if !wrote_models {
            return result(
                Outcome::NotAttempted,
                "the project holds no model the candidate wrote".into(),
            );
        }
        let forged: Vec<String> = facts
            .phases
            .iter()
            .flat_map(|p| {
                p.forged
                    .iter()
                    .map(move |f| format!("phase {} ({}): {f}", p.number, p.name))
            })
            .collect();
        if !forged.is_empty() {
            let evidence: Vec<Evidence> = forged
                .iter()
                .map(|f| Evidence::note(format!("forged artifact: {f}")))
                .collect();
            return result(
                Outcome::Fail,
                format!(
                    "dbt's results are forged: {}; no build is credited",
                    clip(&forged[0], 200)
                ),
            )
            .with_all_evidence(evidence);
        }
        let mut judged = 0usize;
        let mut clean = 0usize;
        let mut evidence = Vec::new();
        for phase in &facts.phases {
            match phase_problems(phase) {
                None => {}
                Some(Ok(problems)) => {
                    judged += 1;
                    if problems.is_empty() {
                        clean += 1;
                    }
                    for (file, note) in problems.into_iter().take(10) {
                        let note = format!("phase {} ({}): {note}", phase.number, phase.name);
                        evidence.push(match file {
                            Some(f) => Evidence::at(facts.submission_path(&f), None, note),
                            None => Evidence::note(note),
                        });
                    }
                }
                Some(Err(grader)) => evidence.push(Evidence::note(format!(
                    "phase {} not judged: {grader}",
                    phase.number
                ))),
            }
        }
        if judged == 0 {
            return result(
                Outcome::Error,
                "no phase ran far enough to judge the build".into(),
            )
            .with_all_evidence(evidence);
        }
        evidence.insert(
            0,
            Evidence::note("phases whose dbt build was clean")
                .with_measured(json!(clean))
                .with_expected(json!(judged)),
        );
        result(
            Outcome::from_fraction(clean as f64 / judged as f64),
            format!("dbt built cleanly in {clean} of {judged} runs"),
        )
        .with_all_evidence(evidence)
    }
}

/// `None`: the phase tells nothing (the grader failed); `Err`: why it was not
/// judged; `Ok`: the build's problems (file, what happened), empty when clean.
#[allow(clippy::type_complexity)]
fn phase_problems(phase: &PhaseFacts) -> Option<Result<Vec<(Option<String>, String)>, String>> {
    let mut problems = Vec::new();
    match &phase.ran {
        PhaseRun::GraderFailed { reason } => return Some(Err(reason.clone())),
        PhaseRun::NotRun { reason } => {
            problems.push((None, format!("did not run: {reason}")));
            return Some(Ok(problems));
        }
        PhaseRun::EndedBySubmission { cause } => {
            problems.push((None, format!("ended by the submission's code: {cause}")));
            return Some(Ok(problems));
        }
        PhaseRun::TimedOut => {
            problems.push((
                None,
                format!(
                    "timed out after {} s (the phase deadline)",
                    phase.deadline_secs.unwrap_or_default()
                ),
            ));
            return Some(Ok(problems));
        }
        PhaseRun::DbtTimedOut => problems.push((
            None,
            format!(
                "dbt timed out after {} s and was stopped",
                phase.dbt_deadline_secs.unwrap_or_default()
            ),
        )),
        PhaseRun::Completed => {}
    }
    for e in &phase.dbt_exceptions {
        problems.push((None, format!("dbt raised: {}", clip(e, 300))));
    }
    let nodes: Vec<_> = phase
        .results
        .iter()
        .filter(|r| !r.unique_id.starts_with("test.") && !r.unique_id.starts_with("unit_test."))
        .collect();
    if nodes.is_empty() && problems.is_empty() {
        let tail: String = log_excerpt(&phase.log_tail, 3).join(" / ");
        problems.push((
            None,
            format!("dbt built nothing; its log ends: {}", clip(&tail, 300)),
        ));
    }
    // dbt build skips what lies downstream of a failing test: that is the
    // project's own quality gate holding bad data back, not a model that does
    // not build. Skips count as build problems only beside a node that errored.
    let any_error = nodes
        .iter()
        .any(|r| !r.status.is_ok() && r.status != NodeStatus::Skipped);
    for r in nodes {
        if r.status.is_ok() || (r.status == NodeStatus::Skipped && !any_error) {
            continue;
        }
        let file = phase
            .manifest
            .as_ref()
            .and_then(|m| m.nodes.get(&r.unique_id))
            .and_then(|n| n.original_file_path.clone());
        let msg = r.message.as_deref().unwrap_or("");
        problems.push((
            file,
            format!(
                "`{}` ended {:?}{}",
                r.unique_id,
                r.status,
                if msg.is_empty() {
                    String::new()
                } else {
                    format!(": {}", clip(msg, 300))
                }
            ),
        ));
    }
    Some(Ok(problems))
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}
