//! The review checks on the fixtures under `fixtures/review/`, scored with
//! the fixture rubric: `good/` passes each check, `poor/` fails each, a
//! submission that changed nothing has not attempted the review, and an
//! exercise without a review leaves the checks not applicable.

use std::path::{Path, PathBuf};

use super::{CriticalIssuesFound, FalseAlarms, IssuesFound};
use crate::acquire::SourceKind;
use crate::analyse::review::{self, Review};
use crate::checks::{Check, CheckContext, CheckResult, Outcome, Params};
use crate::facts::{Facts, SubmissionFacts};
use crate::inventory::Inventory;
use crate::rubric::Rubric;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/review")
}

fn rubric() -> Rubric {
    Rubric::load(&root().join("rubric.toml"), &|id| {
        crate::checks::find(id).is_some()
    })
    .expect("the fixture rubric loads")
}

/// Facts of the candidate in `dir`, reviewed against the fixture pack; no
/// review at all when `with_review` is false.
fn facts(dir: &Path, with_review: bool) -> Facts {
    let starter = Inventory::build(&root().join("pack/starter")).unwrap();
    let mut inventory = Inventory::build(dir).unwrap();
    inventory.compare_with_starter(&starter);
    let review = with_review.then(|| {
        let r = Review::load(&root().join("pack"), rubric().review.as_ref())
            .unwrap()
            .expect("the fixture pack has a review");
        review::analyse(&inventory, Some(&starter), &r)
    });
    Facts {
        submission: SubmissionFacts {
            name: "t".into(),
            kind: SourceKind::Folder,
            commit: None,
            starter_compared: true,
        },
        inventory,
        history: None,
        docs: Default::default(),
        dag: Default::default(),
        code: Default::default(),
        dbt: Default::default(),
        review,
        execution: None,
    }
}

fn run(check: &dyn Check, facts: &Facts) -> CheckResult {
    let rubric = rubric();
    let params = rubric
        .dimensions
        .iter()
        .flat_map(|d| d.criteria.iter())
        .find(|c| c.check == check.meta().id)
        .map(|c| c.params.clone())
        .unwrap_or_else(Params::default);
    check.run(&CheckContext {
        facts,
        params: &params,
    })
}

fn checks() -> [&'static dyn Check; 3] {
    [&CriticalIssuesFound, &IssuesFound, &FalseAlarms]
}

#[test]
fn a_review_beside_the_code_passes_each_check() {
    let f = facts(&root().join("good"), true);
    for check in checks() {
        let r = run(check, &f);
        assert_eq!(r.outcome, Outcome::Pass, "{}: {}", r.check, r.summary);
    }
    let r = run(&CriticalIssuesFound, &f);
    assert!(r.summary.starts_with("all 3 critical"), "{}", r.summary);
    // Evidence points at the comment that names each critical issue.
    let injection = r
        .evidence
        .iter()
        .find(|e| e.note.starts_with("db.sql-injection"))
        .unwrap();
    assert_eq!(injection.file.as_deref(), Some("src/db.py"));
    assert_eq!(injection.lines.map(|l| l.start), Some(24));
    assert!(injection
        .snippet
        .as_deref()
        .unwrap()
        .contains("open to injection"));
    let measured = injection.measured.as_ref().unwrap();
    assert_eq!(
        measured["anchor_present"], false,
        "the candidate rewrote that line"
    );
    let r = run(&IssuesFound, &f);
    assert!(r.summary.starts_with("5 of 6"), "{}", r.summary);
    let missed = r
        .evidence
        .iter()
        .find(|e| e.note.starts_with("db.select-star"))
        .unwrap();
    assert!(
        missed.note.contains("Reason to flag: Counts the load"),
        "{}",
        missed.note
    );
    assert!(
        missed.note.contains("How to remediate: SELECT COUNT(*)"),
        "{}",
        missed.note
    );
    assert!(missed.snippet.as_deref().unwrap().contains("SELECT * FROM"));
}

#[test]
fn keyword_lists_far_summaries_and_false_alarms_fail_each_check() {
    let f = facts(&root().join("poor"), true);
    let got: Vec<(String, Outcome)> = checks()
        .iter()
        .map(|c| {
            let r = run(*c, &f);
            (r.check, r.outcome)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("review.critical_issues_found".to_string(), Outcome::Fail),
            ("review.issues_found".to_string(), Outcome::Fail),
            ("review.false_alarms".to_string(), Outcome::Fail),
        ]
    );
    let review = f.review.as_ref().unwrap();
    assert_eq!(review.false_alarms.len(), 2, "{:?}", review.false_alarms);
    assert_eq!(review.missed_critical.len(), 3);
}

#[test]
fn the_starter_as_submitted_has_not_attempted_the_review() {
    let f = facts(&root().join("pack/starter"), true);
    for check in checks() {
        let r = run(check, &f);
        assert_eq!(
            r.outcome,
            Outcome::NotAttempted,
            "{}: {}",
            r.check,
            r.summary
        );
        assert!(
            r.summary.contains("hold no comment the starter"),
            "{}",
            r.summary
        );
    }
}

#[test]
fn without_a_review_in_the_exercise_the_checks_do_not_apply() {
    let f = facts(&root().join("good"), false);
    for check in checks() {
        assert_eq!(run(check, &f).outcome, Outcome::NotApplicable);
    }
}

#[test]
fn an_analyser_failure_is_an_error_not_a_fail() {
    let mut f = facts(&root().join("good"), false);
    f.review = Some(review::ReviewFacts::failed("boom"));
    for check in checks() {
        assert_eq!(run(check, &f).outcome, Outcome::Error);
    }
}

#[test]
fn a_wrong_parameter_is_the_rubrics_error() {
    let f = facts(&root().join("good"), true);
    let r = IssuesFound.run(&CheckContext {
        facts: &f,
        params: &Params::default(),
    });
    assert_eq!(r.outcome, Outcome::Error);
    assert!(r.summary.contains("pass_share"), "{}", r.summary);
}

/// What an interviewer reads for the poor review, as the report shows it.
#[test]
fn poor_review_findings_as_users_see_them() {
    let f = facts(&root().join("poor"), true);
    let out: Vec<serde_json::Value> = checks()
        .iter()
        .map(|c| {
            let r = run(*c, &f);
            serde_json::json!({
                "check": r.check,
                "outcome": r.outcome.label(),
                "summary": r.summary,
                "evidence": r.evidence,
            })
        })
        .collect();
    insta::assert_json_snapshot!(out);
}
