use serde_json::json;

use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};
use crate::history::{ChangeStatus, CommitFact};

crate::declare_check! {
    /// ## What it checks
    /// For every commit that adds a dbt model, whether tests for the models (a
    /// properties YAML under the model paths, or a singular test under `tests/`)
    /// arrive in the same commit or within the next few commits (`window_commits` in
    /// the rubric), rather than all at the end.
    ///
    /// ## Why it matters
    /// Tests written beside the models are how a senior engineer pins down what they
    /// just learned about the data. Tests bolted on in a final commit usually restate
    /// the code instead of guarding against the data's traps.
    ///
    /// ## How to pass
    /// Add `unique`/`not_null`/`relationships` tests and singular tests in the same
    /// commit as the model they cover, or right after it.
    pub struct TestsWithModels {
        id: "history.tests_with_models",
        title: "Tests arrive with the models they test",
        confidence: Static,
    }
}

impl Check for TestsWithModels {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let id = self.meta().id;
        let Some(history) = cx.facts.usable_history() else {
            return CheckResult::new(
                id,
                Outcome::NotApplicable,
                Self::META.confidence,
                "no usable commit history (an archive, a folder, or a single commit)",
            );
        };
        let window = match cx.params.int("window_commits") {
            Ok(n) if n >= 0 => n as usize,
            Ok(_) => {
                return CheckResult::new(
                    id,
                    Outcome::Error,
                    Self::META.confidence,
                    "the rubric's `window_commits` must not be negative",
                )
            }
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let own = &history.commits[1..];
        let mut with_model = 0usize;
        let mut accompanied = 0usize;
        let mut evidence = Vec::new();
        for (i, commit) in own.iter().enumerate() {
            if !adds_model(commit) {
                continue;
            }
            with_model += 1;
            let end = (i + window + 1).min(own.len());
            let tested = own[i..end].iter().any(touches_tests);
            if tested {
                accompanied += 1;
            }
            evidence.push(Evidence::note(format!(
                "{} {}: models added, tests {}",
                &commit.id[..commit.id.len().min(8)],
                commit.summary,
                if tested { "alongside" } else { "not alongside" }
            )));
        }
        if with_model == 0 {
            return CheckResult::new(
                id,
                Outcome::NotAttempted,
                Self::META.confidence,
                "no commit adds a dbt model",
            );
        }
        let fraction = accompanied as f64 / with_model as f64;
        evidence.insert(
            0,
            Evidence::note("commits adding models whose tests came within the window")
                .with_measured(json!(accompanied))
                .with_expected(json!(with_model)),
        );
        CheckResult::new(
            id,
            Outcome::from_fraction(fraction),
            Self::META.confidence,
            format!("{accompanied} of {with_model} model commits came with tests"),
        )
        .with_all_evidence(evidence)
    }
}

fn in_models(path: &str) -> bool {
    !path.contains("dbt_packages/") && (path.starts_with("models/") || path.contains("/models/"))
}

fn adds_model(commit: &CommitFact) -> bool {
    commit
        .changes
        .iter()
        .any(|c| c.status == ChangeStatus::Added && in_models(&c.path) && c.path.ends_with(".sql"))
}

fn touches_tests(commit: &CommitFact) -> bool {
    commit.changes.iter().any(|c| {
        c.status != ChangeStatus::Deleted
            && ((in_models(&c.path) && (c.path.ends_with(".yml") || c.path.ends_with(".yaml")))
                || ((c.path.starts_with("tests/") || c.path.contains("/tests/"))
                    && c.path.ends_with(".sql")))
    })
}
