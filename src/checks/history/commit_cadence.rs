use serde_json::json;

use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// How many commits the candidate made after the starter's own commit, against
    /// the number the rubric sets as a working rhythm (`min_commits`). The span
    /// between the first and the last of them is shown as evidence.
    ///
    /// ## Why it matters
    /// Small commits show a candidate working in steps they could explain, test and
    /// roll back. One commit holding the whole exercise hides the path they took and
    /// is hard to review. This is a heuristic: commit habits vary, so it weighs little.
    ///
    /// ## How to pass
    /// Commit as you reach working steps (staging models, then tests, then marts, then
    /// the DAG) with messages that say what changed. Submissions without history (an
    /// archive, one squashed commit) are not scored on this.
    pub struct CommitCadence {
        id: "history.commit_cadence",
        title: "Work committed in steps",
        confidence: Heuristic,
    }
}

impl Check for CommitCadence {
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
        let min_commits = match cx.params.int("min_commits") {
            Ok(n) if n > 0 => n as f64,
            Ok(_) => {
                return CheckResult::new(
                    id,
                    Outcome::Error,
                    Self::META.confidence,
                    "the rubric's `min_commits` must be positive",
                )
            }
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let own = &history.commits[1..];
        let first = own.first().map(|c| c.time).unwrap_or(0);
        let last = own.last().map(|c| c.time).unwrap_or(0);
        let span_minutes = (last - first).max(0) / 60;
        let fraction = (own.len() as f64 / min_commits).min(1.0);
        let evidence = Evidence::note(format!(
            "{} commits after the starter, spanning {span_minutes} minutes",
            own.len()
        ))
        .with_measured(json!({ "commits": own.len(), "span_minutes": span_minutes }))
        .with_expected(json!({ "commits": min_commits as i64 }));
        let mut result = CheckResult::new(
            id,
            Outcome::from_fraction(fraction),
            Self::META.confidence,
            format!("{} commits after the starter", own.len()),
        )
        .with_evidence(evidence);
        for commit in own.iter().take(10) {
            result.evidence.push(Evidence::note(format!(
                "{} {}",
                &commit.id[..commit.id.len().min(8)],
                commit.summary
            )));
        }
        result
    }
}
