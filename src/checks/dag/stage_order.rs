use std::collections::BTreeSet;

use super::{candidate_dags, capped, result, task_evidence};
use crate::analyse::dag::{Dag, Stage};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, LineSpan, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// The DAG runs the exercise's stages in order — extract → transform → test →
    /// publish (the rubric's `required_stages`) — reading each task's stage from
    /// what it runs (see `assay::analyse::dag` for the rules) and the order from
    /// the dependency graph Airflow would build (`>>`, lists, chain,
    /// chain_linear, cross_downstream, Labels, `.output` and TaskFlow arguments).
    /// Credit is the share of required stages present, less a quarter for each
    /// task that bypasses its stage: a task with no upstream task of the stage
    /// before it runs in parallel with that stage, and a task that runs before an
    /// earlier stage is out of order. A cycle fails (Airflow refuses the DAG).
    ///
    /// ## Why it matters
    /// Building on a sync that has not finished, or publishing marts whose tests
    /// have not run, shows wrong numbers to the business. A classic trap:
    /// `chain(extract, transform, refresh(quality()))` leaves `quality` with no
    /// upstream, so it checks yesterday's tables while today's are built.
    ///
    /// ## How to pass
    /// Trigger the Airbyte sync and wait for it, then freshness, then dbt
    /// run/build, then dbt test and other checks, then publish:
    /// `extract >> freshness >> transform >> quality >> publish`.
    pub struct StageOrder {
        id: "dag.stage_order",
        title: "Stages run in order: extract, transform, test, publish",
        confidence: Static,
    }
}

fn parse_stage(name: &str) -> Option<Stage> {
    Stage::ORDER.into_iter().find(|s| s.name() == name)
}

/// (fraction, bad evidence, good evidence) for one DAG.
fn judge(d: &Dag, required: &[Stage]) -> (f64, Vec<Evidence>, Vec<Evidence>) {
    let mut bad = Vec::new();
    let mut good = Vec::new();
    if let Some(cycle) = &d.cycle {
        bad.push(
            Evidence::at(
                d.file.as_str(),
                Some(LineSpan::line(d.span.start)),
                format!(
                    "DAG `{}` has a cycle ({}): Airflow refuses to load it",
                    d.dag_id,
                    cycle.join(" → ")
                ),
            )
            .with_snippet(d.snippet.lines().next().unwrap_or("").to_string()),
        );
        return (0.0, bad, good);
    }
    let present: Vec<Stage> = required
        .iter()
        .copied()
        .filter(|s| d.tasks.iter().any(|t| t.has_stage(*s)))
        .collect();
    for s in required {
        if !present.contains(s) {
            bad.push(Evidence::note(format!(
                "DAG `{}` has no {} stage",
                d.dag_id,
                s.name()
            )));
        }
    }
    let mut violations: BTreeSet<String> = BTreeSet::new();
    for t in &d.tasks {
        let ancestors = d.ancestors(&t.task_id);
        for s in &t.stages {
            let Some(k) = present.iter().position(|p| p == s) else {
                continue;
            };
            if k == 0 {
                continue;
            }
            let prev = present[k - 1];
            let fed = t.has_stage(prev)
                || ancestors
                    .iter()
                    .any(|a| d.task(a).is_some_and(|u| u.has_stage(prev)));
            if fed {
                good.push(task_evidence(
                    t,
                    format!("{} runs after the {} stage", s.name(), prev.name()),
                ));
            } else if violations.insert(t.task_id.clone()) {
                bad.push(task_evidence(
                    t,
                    format!(
                        "{} step with no upstream {} task: it runs in parallel with, or bypasses, that stage",
                        s.name(),
                        prev.name()
                    ),
                ));
            }
        }
        // a later stage upstream of an earlier one is out of order
        if let Some(min_stage) = t.stages.iter().min() {
            for a in &ancestors {
                if let Some(u) = d.task(a) {
                    if u.stages.iter().min().is_some_and(|m| m > min_stage)
                        && !u.stages.contains(min_stage)
                        && violations.insert(format!("{}<{}", t.task_id, u.task_id))
                    {
                        bad.push(task_evidence(
                            t,
                            format!(
                                "{} step runs after `{}`, a later stage",
                                min_stage.name(),
                                u.task_id
                            ),
                        ));
                    }
                }
            }
        }
    }
    let fraction =
        present.len() as f64 / required.len() as f64 - 0.25 * violations.len().min(4) as f64;
    (fraction.max(0.0), bad, good)
}

impl Check for StageOrder {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let names = match cx.params.string_list("required_stages") {
            Ok(v) => v,
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let required: Vec<Stage> = names.iter().filter_map(|n| parse_stage(n)).collect();
        if required.len() != names.len() || required.is_empty() {
            return CheckResult::new(
                Self::META.id,
                Outcome::Error,
                Self::META.confidence,
                "the rubric's required_stages must name extract, transform, test or publish",
            );
        }
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        // the DAG that carries the pipeline: the best judged one
        let mut best: Option<(f64, Vec<Evidence>, Vec<Evidence>, &str)> = None;
        for d in &dags {
            let (f, bad, good) = judge(d, &required);
            if best.as_ref().is_none_or(|b| f > b.0) {
                best = Some((f, bad, good, d.dag_id.as_str()));
            }
        }
        let (fraction, bad, good, dag_id) = best.expect("at least one DAG");
        let summary = if bad.is_empty() {
            format!("DAG `{dag_id}` runs every required stage in order")
        } else {
            format!(
                "DAG `{dag_id}`: {} problem(s) with its stages or their order",
                bad.len()
            )
        };
        result(&Self::META, fraction, summary, capped(bad, good), cx)
    }
}
