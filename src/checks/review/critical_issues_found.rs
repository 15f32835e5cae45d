use super::{issue_evidence, review_of};
use crate::analyse::review::Severity;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Every issue the exercise plants as critical in the reviewed files (the
    /// pack's `review.toml`: hard-coded credentials, values formatted into
    /// SQL, a load that duplicates on rerun) is named by one of the
    /// candidate's own comments near its code: within the rubric's
    /// `[review] window` lines of where the issue is now (its anchor's line,
    /// or the starter's lines followed through the candidate's edits), in a
    /// sentence of at least `min_words` words that uses one of the issue's
    /// terms. A comma-separated list of keywords, a sentence naming more than
    /// `max_issues_per_statement` issues at once, a comment far from the
    /// code, and comments the starter already had name nothing. Credit is the
    /// share of critical issues named. Whether a fix works is proven by the
    /// hidden tests, never here.
    ///
    /// ## Why it matters
    /// The review part of the exercise asks a senior engineer to spot what
    /// would hurt in production and to say which problems come first. Missing
    /// an injection or a leaked password is the failure the review exists to
    /// catch.
    ///
    /// ## Example
    /// Above `sql = f"INSERT INTO {table} VALUES ('{record['flight_date']}'…"`:
    /// `# CRITICAL: values are formatted into the SQL, so a quote in the data
    /// breaks it and allows injection; bind them as parameters.` names the
    /// issue. `# injection, idempotency, credentials` at the top of the file
    /// names none.
    ///
    /// ## How to pass
    /// Put a comment next to each critical problem saying what is wrong and
    /// why it matters, in a sentence, and fix at least one of them.
    pub struct CriticalIssuesFound {
        id: "review.critical_issues_found",
        title: "Every critical planted issue is named by a nearby review comment",
        confidence: Static,
    }
}

impl Check for CriticalIssuesFound {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = &Self::META;
        let review = match review_of(meta, cx) {
            Ok(r) => r,
            Err(r) => return r,
        };
        let critical: Vec<_> = review
            .issues
            .iter()
            .filter(|i| i.severity == Severity::Critical)
            .collect();
        if critical.is_empty() {
            return CheckResult::new(
                meta.id,
                Outcome::NotApplicable,
                meta.confidence,
                "the exercise plants no critical review issue",
            );
        }
        let found = critical
            .iter()
            .filter(|i| !i.matched_comments.is_empty())
            .count();
        let summary = if review.missed_critical.is_empty() {
            format!(
                "all {} critical issue(s) named by a nearby review comment",
                critical.len()
            )
        } else {
            format!(
                "{found} of {} critical issue(s) named by a nearby review comment; not named: {}",
                critical.len(),
                review.missed_critical.join(", ")
            )
        };
        CheckResult::new(
            meta.id,
            Outcome::from_fraction(found as f64 / critical.len() as f64),
            meta.confidence,
            summary,
        )
        .with_evidence(
            Evidence::note("critical issues named by a nearby comment")
                .with_measured(serde_json::json!(found))
                .with_expected(serde_json::json!(critical.len())),
        )
        .with_all_evidence(issue_evidence(critical.into_iter(), review.window))
    }
}
