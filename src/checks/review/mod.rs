//! Code-review checks: whether the candidate's comments in the files the
//! exercise plants issues in (the pack's `review.toml`) name those issues
//! near their code. They read [`crate::analyse::review::ReviewFacts`]; an
//! exercise without a review leaves them not applicable.

mod critical_issues_found;
mod false_alarms;
mod issues_found;

#[cfg(test)]
mod tests;

pub use critical_issues_found::CriticalIssuesFound;
pub use false_alarms::FalseAlarms;
pub use issues_found::IssuesFound;

use serde_json::json;

use crate::analyse::review::{IssueFacts, ReviewFacts};
use crate::checks::{CheckContext, CheckMeta, CheckResult, Evidence, LineSpan, Outcome};

/// Issues listed one by one in a result's evidence.
const MAX_ISSUE_EVIDENCE: usize = 24;

/// The review facts, or the result that says why there is nothing to judge:
/// no review in the exercise (not applicable), an analyser failure (error),
/// or no review comment of the candidate's own (not attempted).
pub(crate) fn review_of<'a>(
    meta: &CheckMeta,
    cx: &'a CheckContext,
) -> Result<&'a ReviewFacts, CheckResult> {
    let result =
        |outcome, summary: String| CheckResult::new(meta.id, outcome, meta.confidence, summary);
    let Some(review) = cx.facts.review.as_ref() else {
        return Err(result(
            Outcome::NotApplicable,
            "the exercise has no code review (its pack plants no review issues)".into(),
        ));
    };
    if let Some(e) = &review.error {
        return Err(result(
            Outcome::Error,
            format!("the review could not be read: {e}"),
        ));
    }
    let files: Vec<&str> = review.files.iter().map(|f| f.path.as_str()).collect();
    if review.comments.is_empty() {
        let absent: Vec<&str> = review
            .files
            .iter()
            .filter(|f| !f.present)
            .map(|f| f.path.as_str())
            .collect();
        let why = if absent.len() == files.len() {
            format!(
                "no review: the reviewed files ({}) are not in the submission",
                files.join(", ")
            )
        } else {
            format!(
                "no review: the reviewed files ({}) hold no comment the starter does not already have",
                files.join(", ")
            )
        };
        return Err(result(Outcome::NotAttempted, why).with_all_evidence(
            review.files.iter().filter_map(|f| {
                f.skipped
                    .as_ref()
                    .map(|s| Evidence::note(format!("{} not read: {s}", f.path)))
            }),
        ));
    }
    Ok(review)
}

/// An issue a comment names: the comment, at its line.
pub(crate) fn found_evidence(issue: &IssueFacts) -> Option<Evidence> {
    let c = issue.matched_comments.first()?;
    Some(
        Evidence::at(
            &c.file,
            Some(LineSpan::line(c.line)),
            format!(
                "{} ({}) named at line {}: {}",
                issue.id,
                issue.severity.as_str(),
                c.line,
                issue.title
            ),
        )
        .with_snippet(c.text.clone())
        .with_measured(measured(issue)),
    )
}

/// An issue no nearby comment names: where it is, why to flag it and how to
/// fix it.
pub(crate) fn missed_evidence(issue: &IssueFacts, window: u32) -> Evidence {
    let changed = if issue.located_at.is_some() && !issue.anchor_present {
        " The code there changed (its anchor is gone); whether that fixes it is for execution to show."
    } else {
        ""
    };
    let where_ = match issue.located_at {
        Some(_) => format!("no comment within {window} lines names it"),
        None => format!("{} is not in the submission", issue.file),
    };
    let note = format!(
        "{} ({}): {where_}. Reason to flag: {}. How to remediate: {}{changed}",
        issue.id,
        issue.severity.as_str(),
        issue.title,
        issue.fix
    );
    let ev = match issue.located_at {
        Some(span) => Evidence::at(&issue.file, Some(span), note),
        None => Evidence::note(note),
    };
    let ev = ev.with_measured(measured(issue));
    if issue.code.is_empty() {
        ev
    } else {
        ev.with_snippet(issue.code.clone())
    }
}

fn measured(issue: &IssueFacts) -> serde_json::Value {
    json!({
        "issue": issue.id,
        "severity": issue.severity.as_str(),
        "named": !issue.matched_comments.is_empty(),
        "starter_lines": [issue.starter_lines.start, issue.starter_lines.end],
        "located_at": issue.located_at.map(|s| [s.start, s.end]),
        "anchor_present": issue.anchor_present,
    })
}

/// Evidence for a list of issues: the missed ones first, then the found.
pub(crate) fn issue_evidence<'a>(
    issues: impl Iterator<Item = &'a IssueFacts>,
    window: u32,
) -> Vec<Evidence> {
    let (found, missed): (Vec<&IssueFacts>, Vec<&IssueFacts>) =
        issues.partition(|i| !i.matched_comments.is_empty());
    missed
        .into_iter()
        .map(|i| missed_evidence(i, window))
        .chain(found.into_iter().filter_map(found_evidence))
        .take(MAX_ISSUE_EVIDENCE)
        .collect()
}
